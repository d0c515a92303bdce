"""Matte refinement: invariants, exact geometry, ROI equivalence, error messages."""

from __future__ import annotations

import numpy as np
import pytest

from sam3roto.post import matte as M


def _disc(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


@pytest.fixture
def blob() -> np.ndarray:
    m = _disc((120, 160), 60, 80, 30)
    m[55:60, 75:80] = False  # a 25 px hole
    m[10:12, 10:12] = True  # a 4 px dot
    return m


def test_zero_parameters_are_the_identity(blob: np.ndarray) -> None:
    for out in (
        M.grow_shrink(blob, radius_px=0), M.fill_holes(blob, max_area_px=0), M.remove_dots(blob, max_area_px=0),
        M.border_fix(blob, width_px=0),
    ):
        assert out.dtype == np.bool_ and out.shape == blob.shape and (out == blob).all()
    matte = blob.astype(np.float32)
    assert (M.feather(matte, radius_px=0) == matte).all()
    assert (M.refine_edges(blob, np.zeros((*blob.shape, 3), np.float32), band_px=0) == matte).all()


@pytest.mark.parametrize("r", [1, 3, 7, 40])
def test_grow_is_an_exact_disc(r: int) -> None:
    point = np.zeros((101, 101), bool)
    point[50, 50] = True
    assert (M.grow_shrink(point, radius_px=r) == _disc((101, 101), 50, 50, r)).all()


def test_shrink_is_the_erosion_by_a_disc_and_ignores_the_frame_edge() -> None:
    big = _disc((101, 101), 50, 50, 30)
    assert (M.grow_shrink(big, radius_px=-10) == _disc((101, 101), 50, 50, 20)).all() or (
        # the exact erosion of a digital disc by a disc can differ from the smaller disc on its rim
        np.count_nonzero(M.grow_shrink(big, radius_px=-10) ^ _disc((101, 101), 50, 50, 20)) < 12
    )
    full = np.ones((40, 40), bool)
    assert M.grow_shrink(full, radius_px=-5).all()  # the frame edge is not background
    edge = np.zeros((40, 40), bool)
    edge[:, :20] = True
    shrunk = M.grow_shrink(edge, radius_px=-5)
    assert shrunk[:, :15].all() and not shrunk[:, 15:].any()


def test_fill_holes_by_area_and_never_the_outside(blob: np.ndarray) -> None:
    filled = M.fill_holes(blob, max_area_px=25)
    assert filled[55:60, 75:80].all() and (filled & ~blob).sum() == 25
    assert (M.fill_holes(blob, max_area_px=24) == blob).all()  # hole larger than the limit stays
    # a U open to the bottom frame edge is not a hole
    u = np.zeros((30, 30), bool)
    u[5:, 5:10] = True
    u[5:, 20:25] = True
    u[5:10, 5:25] = True
    assert (M.fill_holes(u, max_area_px=10_000) == u).all()


def test_remove_dots_by_area(blob: np.ndarray) -> None:
    cleaned = M.remove_dots(blob, max_area_px=4)
    assert not cleaned[10:12, 10:12].any() and (cleaned == (blob & ~_small(blob))).all()
    assert (M.remove_dots(blob, max_area_px=3) == blob).all()


def _small(blob: np.ndarray) -> np.ndarray:
    out = np.zeros_like(blob)
    out[10:12, 10:12] = True
    return out


def test_border_fix_closes_the_gap_to_the_frame_edge() -> None:
    m = np.zeros((50, 60), bool)
    m[10:40, 3:30] = True  # 3 px short of the left edge
    m[20:25, 3:9] = False  # a dip along the edge, deeper than the band
    fixed = M.border_fix(m, width_px=5)
    assert fixed[10:40, :5].all() and fixed[10:20, :30].all() and fixed[25:40, :30].all()
    assert not fixed[20:25, 5:9].any()  # outside the band nothing changes
    assert not fixed[:10].any() and not fixed[40:].any()
    far = np.zeros((50, 60), bool)
    far[10:40, 10:30] = True  # farther than the width: untouched
    assert (M.border_fix(far, width_px=5) == far).all()


def test_feather_is_symmetric_and_keeps_range() -> None:
    m = np.zeros((64, 64), np.float32)
    m[:, 32:] = 1
    out = M.feather(m, radius_px=6)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    assert out[:, 31].mean() == pytest.approx(1 - out[:, 32].mean(), abs=1e-5)
    assert out[:, 10].max() == 0 and out[:, 60].min() == pytest.approx(1)
    assert (M.feather(m > 0.5, radius_px=6) == out).all()  # a bool mask is accepted


def test_trimap_band_width() -> None:
    half = np.zeros((40, 80), bool)
    half[:, 40:] = True
    tri = M.trimap(half, band_px=10)
    row = tri[20]
    assert set(np.unique(tri)) == {0, 128, 255}
    unknown = np.nonzero(row == 128)[0]
    assert 9 <= len(unknown) <= 12 and unknown.min() >= 34 and unknown.max() <= 45
    assert (row[:30] == 0).all() and (row[50:] == 255).all()


def test_refine_edges_snaps_a_blocky_mask_to_the_image_edge() -> None:
    truth = _disc((96, 96), 48, 48, 25)
    image = np.where(truth[..., None], np.float32([0.9, 0.6, 0.3]), np.float32([0.1, 0.2, 0.6])).astype(np.float32)
    blocky = np.kron(truth[::8, ::8], np.ones((8, 8), bool))  # what a low-res model gives
    err_before = np.abs(blocky.astype(np.float32) - truth).sum()
    # On a flat two-colour image the colour and closed-form methods find the edge exactly;
    # the guided filter (the default, better on texture) only moves towards it.
    for method, limit in (("colour", 0.05), ("closed_form", 0.05), ("guided", 0.9)):
        refined = M.refine_edges(blocky, image, band_px=12, method=method, softness=0.0)
        assert refined.dtype == np.float32 and refined.min() >= 0 and refined.max() <= 1
        assert np.abs(refined - truth).sum() < limit * err_before, method


def test_guided_filter_at_equals_the_full_filter() -> None:
    rng = np.random.default_rng(1)
    guide = rng.random((70, 90, 3), dtype=np.float32)
    src = (rng.random((70, 90)) > 0.5).astype(np.float32)
    where = rng.random((70, 90)) > 0.6
    for sub in (1, 3):
        full = M.guided_filter(guide, src, radius_px=6, eps=1e-3, subsample=sub)
        at = M.guided_filter_at(guide, src, where, radius_px=6, eps=1e-3, subsample=sub)
        np.testing.assert_allclose(at, full[where], atol=1e-5)


def test_region_of_interest_gives_the_same_result_as_the_whole_frame() -> None:
    """The ROI shortcut must not change any pixel: compare with a frame where the object
    fills the frame (no ROI saving possible) by padding."""
    m = _disc((60, 60), 30, 30, 12)
    padded = np.zeros((260, 300), bool)
    padded[100:160, 120:180] = m
    for fn in (lambda x: M.grow_shrink(x, radius_px=9), lambda x: M.grow_shrink(x, radius_px=-4),
               lambda x: M.fill_holes(x, max_area_px=50), lambda x: M.trimap(x, band_px=8) > 0):
        small, big = fn(m), fn(padded)
        assert (big[100:160, 120:180] == small).all() and big.sum() == small.sum()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: M.grow_shrink(np.zeros((4, 4), np.uint8), radius_px=1), "mask must be bool"),
        (lambda: M.grow_shrink(np.zeros((4, 4, 1), bool), radius_px=1), "must be 2-D"),
        (lambda: M.grow_shrink(np.zeros((4, 4), bool), radius_px=2000), r"radius_px must be in \[-1000, 1000\]"),
        (lambda: M.grow_shrink(np.zeros((4, 4), bool), radius_px=1.5), "whole number"),
        (lambda: M.fill_holes(np.zeros((4, 4), bool), max_area_px=-1), "max_area_px must be in"),
        (lambda: M.feather(np.zeros((4, 4), np.float64), radius_px=1), "matte must be float32"),
        (lambda: M.feather(np.zeros((4, 4), np.float32), radius_px=float("nan")), "radius_px must be in"),
        (lambda: M.refine_edges(np.zeros((4, 4), bool), np.zeros((5, 4, 3), np.float32), band_px=2),
         "mask is 4x4 but image is 4x5"),
        (lambda: M.refine_edges(np.zeros((4, 4), bool), np.zeros((4, 4, 3), np.float32), band_px=2, method="x"),
         "method must be one of colour, guided, closed_form"),
    ],
)
def test_bad_input_is_a_clear_error(call, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_empty_and_full_masks() -> None:
    empty = np.zeros((30, 30), bool)
    full = np.ones((30, 30), bool)
    image = np.full((30, 30, 3), 0.5, np.float32)
    for m in (empty, full):
        assert (M.grow_shrink(m, radius_px=3) == m).all() or m is empty
        assert (M.fill_holes(m, max_area_px=10) == m).all()
        assert (M.remove_dots(m, max_area_px=10) == m).all() or m is full
        assert (M.refine_edges(m, image, band_px=6) == m).all()
    assert M.grow_shrink(full, radius_px=3).all() and not M.grow_shrink(empty, radius_px=3).any()
    assert not M.remove_dots(empty, max_area_px=10).any()

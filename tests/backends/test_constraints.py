"""Prompts as constraints (backends/constraints.py): the pure function on its own."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sam3roto.backends.constraints import click_radius_px, obey_prompts, obeys, point_pixels
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt, TextPrompt

H, W = 120, 160


def blob(*rects: tuple[int, int, int, int]) -> np.ndarray:
    m = np.zeros((H, W), bool)
    for x0, y0, x1, y1 in rects:
        m[y0:y1, x0:x1] = True
    return m


def test_no_prompts_and_text_leave_the_mask_as_it_is():
    m = blob((10, 10, 40, 40), (100, 60, 130, 90))
    for prompts in ([], [TextPrompt("dog")]):
        out = obey_prompts(m, prompts)
        assert out is not m and np.array_equal(out, m)


def test_only_the_components_a_positive_point_holds_are_kept():
    m = blob((10, 10, 40, 40), (100, 60, 130, 90), (60, 10, 70, 20))
    out = obey_prompts(m, [PointPrompt(20, 20, True)])
    assert np.array_equal(out, blob((10, 10, 40, 40)))
    out = obey_prompts(m, [PointPrompt(20, 20, True), PointPrompt(110, 70, True)])
    assert np.array_equal(out, blob((10, 10, 40, 40), (100, 60, 130, 90)))


def test_a_positive_point_off_the_mask_gets_a_disc_joined_to_what_it_reaches():
    r = click_radius_px((H, W))
    m = blob((10, 10, 40, 40), (100, 60, 130, 90))
    # 2 px right of the first square: that square is kept, the disc joins it, the far one goes.
    out = obey_prompts(m, [PointPrompt(41, 25, True)])
    assert out[25, 41] and out[10:40, 10:40].all() and not out[60:90, 100:130].any()
    assert np.count_nonzero(out & ~m) <= np.pi * (r + 1) ** 2
    # Far from everything: the mask is only the disc.
    out = obey_prompts(m, [PointPrompt(80, 100, True)])
    assert out[100, 80] and not (out & m).any()
    assert abs(np.count_nonzero(out) - np.pi * r * r) < 2 * np.pi * r
    # An empty mask gets the disc too.
    assert obey_prompts(np.zeros((H, W), bool), [PointPrompt(5, 5, True)])[5, 5]


def test_a_negative_point_drops_its_component_or_cuts_a_disc_short_of_the_positive_one():
    m = blob((10, 10, 60, 60), (100, 60, 130, 90))
    # Only negative points: the component holding one goes, the rest stays.
    out = obey_prompts(m, [PointPrompt(110, 70, False)])
    assert np.array_equal(out, blob((10, 10, 60, 60)))
    # Positive and negative on the same component, 6 px apart: a disc of at most 3 px is cut.
    out = obey_prompts(m, [PointPrompt(30, 30, True), PointPrompt(36, 30, False)])
    assert out[30, 30] and not out[30, 36]
    cut = m & ~out
    ys, xs = np.nonzero(cut[:70, :70])
    assert np.hypot(xs - 36, ys - 30).max() <= 3.0
    assert not out[60:90, 100:130].any()  # not held by the positive point
    # Far apart: the cut is a click's disc, no more.
    out = obey_prompts(m, [PointPrompt(15, 15, True), PointPrompt(50, 50, False)])
    r = click_radius_px((H, W))
    ys, xs = np.nonzero(m[:70, :70] & ~out[:70, :70])
    assert not out[50, 50] and np.hypot(xs - 50, ys - 50).max() <= r


def test_a_cut_that_severs_a_piece_from_every_positive_point_drops_the_piece():
    # A dumbbell: two squares joined by a 3 px bridge; a negative click on the bridge.
    m = blob((10, 40, 40, 70), (40, 54, 60, 57), (60, 40, 90, 70))
    out = obey_prompts(m, [PointPrompt(20, 55, True), PointPrompt(50, 55, False)], radius=4)
    assert out[55, 20] and not out[55, 50]
    assert not out[40:70, 60:90].any()


def test_nothing_survives_outside_the_box():
    m = blob((10, 10, 100, 100))
    box = BoxPrompt(30.5, 20, 80, 90.2)
    out = obey_prompts(m, [box])
    assert np.array_equal(out, m & blob((30, 20, 80, 91)))
    # A box and a positive point inside it: the disc stays in the box.
    out = obey_prompts(np.zeros((H, W), bool), [box, PointPrompt(31, 50, True)])
    assert out[50, 31] and not out[:, :30].any()
    # A positive point outside every box is still on the mask (a click is more precise).
    out = obey_prompts(m, [box, PointPrompt(120, 110, True)])
    assert out[110, 120] and not out[20:91, 30:80].any()


def test_a_component_reaching_into_the_box_is_kept_without_positive_points():
    m = blob((0, 0, 50, 50), (100, 100, 150, 110))
    out = obey_prompts(m, [BoxPrompt(40, 40, 90, 90)])
    assert np.array_equal(out, blob((40, 40, 50, 50)))


def test_points_on_one_pixel_keep_the_later_one():
    assert point_pixels([PointPrompt(5.2, 6.9, True), PointPrompt(5.7, 6.1, False)], W, H) == ([], [(5, 6)])
    m = blob((0, 0, 20, 20))
    out = obey_prompts(m, [PointPrompt(5, 6, True), PointPrompt(5, 6, False), PointPrompt(15, 15, True)])
    assert not out[6, 5] and out[15, 15]


def random_prompts(rng: np.random.Generator, h: int, w: int, box: bool) -> list[Prompt]:
    out: list[Prompt] = []
    if box:
        x0, y0 = rng.uniform(0, w - 20), rng.uniform(0, h - 20)
        out.append(BoxPrompt(x0, y0, min(w, x0 + rng.uniform(10, w)), min(h, y0 + rng.uniform(10, h))))
    for _ in range(rng.integers(1, 8)):
        out.append(PointPrompt(rng.uniform(0, w), rng.uniform(0, h), bool(rng.random() < 0.6)))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_random_masks_and_prompts_always_obey_and_never_invert(seed):
    rng = np.random.default_rng(seed)
    noise = rng.random((H // 8, W // 8)) > 0.55
    m = np.kron(noise, np.ones((8, 8), bool))
    prompts = random_prompts(rng, H, W, box=seed % 2 == 0)
    out = obey_prompts(m, prompts)
    assert obeys(out, prompts)
    # Only pieces of the mask are kept; all it adds is the positive points' discs.
    r = click_radius_px((H, W))
    added = out & ~m
    if added.any():
        ys, xs = np.nonzero(added)
        pos = np.array([(p.x, p.y) for p in prompts if isinstance(p, PointPrompt) and p.positive])
        d = np.hypot(xs[:, None] - pos[None, :, 0].astype(int), ys[:, None] - pos[None, :, 1].astype(int)).min(1)
        assert d.max() <= r
    assert obeys(obey_prompts(out, prompts), prompts)


def test_large_frames_are_quick():
    m = np.zeros((2160, 3840), bool)
    m[400:1800, 900:3000] = True
    m[1000:1100, 100:300] = True
    prompts: list[Prompt] = [PointPrompt(1500, 900, True), PointPrompt(1600, 950, False), PointPrompt(3500, 200, True)]
    obey_prompts(m, prompts)
    t0 = time.perf_counter()
    out = obey_prompts(m, prompts)
    took = time.perf_counter() - t0
    assert obeys(out, prompts) and not out[1000:1100, 100:300].any()
    assert took < 0.5, f"{took:.3f} s for a 4K mask"

"""The compiled per-pixel loops against the plain numpy/OpenCV they replace, and the
single-crop ``refine`` against the chain of full-frame operations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sam3roto.post import PostSettings, apply, refine
from sam3roto.post import kernels as K
from sam3roto.post import matte as M
from sam3roto.post import rgb as R
from sam3roto.post.checks import to_float_rgb


def _blobs(rng: np.random.Generator, h: int, w: int, sigma: float = 3.0) -> np.ndarray:
    return cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), sigma) > 0.5


def test_block_mean_is_the_mean_of_each_block() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 50, 3), dtype=np.uint8)
    for s in (1, 2, 4, 8):
        h, w = 37 // s, 50 // s
        want = image[: h * s, : w * s].astype(np.float64).reshape(h, s, w, s, 3).mean(axis=(1, 3)) / 255
        np.testing.assert_allclose(K.block_mean(image, s), want, atol=1e-6)
    plane = rng.random((37, 50), dtype=np.float32)
    np.testing.assert_allclose(K.block_mean(plane, 4), plane[:36, :48].reshape(9, 4, 12, 4).mean(axis=(1, 3)),
                               atol=1e-6)
    # A crop of a bigger frame (rows not contiguous with each other), 16-bit.
    frame = rng.integers(0, 65536, (60, 90, 3), dtype=np.uint16)
    crop = frame[5:45, 11:75]
    want = crop.astype(np.float64).reshape(5, 8, 8, 8, 3).mean(axis=(1, 3)) / 65535
    np.testing.assert_allclose(K.block_mean(crop, 8), want, atol=1e-6)


def test_edge_band_is_the_exact_distance_to_the_edge() -> None:
    rng = np.random.default_rng(1)
    for _ in range(25):
        h, w = (int(v) for v in rng.integers(4, 90, 2))
        mask = _blobs(rng, h, w)
        half = float(rng.uniform(0.5, 12))
        edge = (mask ^ cv2.erode(mask.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)) | (
            ~mask & cv2.dilate(mask.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool))
        assert (K.off_edge(mask) == ~edge).all()
        if edge.any():
            want = cv2.distanceTransform((~edge).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= half
        else:
            want = np.zeros_like(mask)
        assert (K.edge_band(mask, half) == want).all()


def test_label_counts_relabel_and_snap() -> None:
    rng = np.random.default_rng(2)
    count, labels = cv2.connectedComponents(_blobs(rng, 60, 70).view(np.uint8))
    assert (K.count_labels(labels, count) == np.bincount(labels.ravel(), minlength=count)).all()
    table = rng.random(count) > 0.5
    assert (K.relabel(labels, table) == table[labels]).all()
    matte = np.float32([[0.0, 5e-7, 0.3], [1 - 5e-7, 1.0, 0.99]])
    K.snap(matte, 1e-6)
    assert matte.tolist() == [[0.0, 0.0, np.float32(0.3)], [1.0, 1.0, np.float32(0.99)]]


def test_dots_and_holes_from_contours_equal_labelling_every_pixel() -> None:
    """The contour path decides most islands and holes from their boxes and areas; it must
    agree with labelling and counting the pixels, on masks with noise, thin diagonal lines
    (8-connected islands, 4-connected holes) and regions touching the crop's edge."""
    rng = np.random.default_rng(12)
    decided = [0, 0]
    for n in range(400):
        h, w = (int(v) for v in rng.integers(12, 90, 2))
        mask = _blobs(rng, h, w, float(rng.uniform(1, 5)))
        mask ^= rng.random((h, w)) < rng.uniform(0, 0.06)
        if n % 3 == 0:
            y, x = (int(v) for v in rng.integers(0, min(h, w) - 10, 2))
            mask[y + np.arange(10), x + np.arange(10)] = True
        if n % 2:
            mask = np.pad(mask, 1)
        area = int(rng.integers(0, 200))
        assert (M.remove_dots_crop(mask, area) == M._remove_dots_labelled(mask, area)).all(), n
        assert (M.fill_holes_crop(mask, area) == M._fill_holes_labelled(mask, area)).all(), n
        decided[0] += M._by_contours(mask, area, holes=False) is not None
        decided[1] += M._by_contours(mask, area, holes=True) is not None
    assert min(decided) > 100, decided  # the contour path itself was exercised


def _guided_models_numpy(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """He et al.'s guided filter coefficients, written plainly: per window, a = (cov(I) +
    eps)^-1 cov(I, p), b = mean(p) - a . mean(I), both box-averaged."""
    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)

    g = guide.astype(np.float64)
    p = src.astype(np.float64)
    mean_i, mean_p = box(g), box(p)
    cov_ip = box(g * p[..., None]) - mean_i * mean_p[..., None]
    var = np.empty((*p.shape, 3, 3))
    for i in range(3):
        for j in range(3):
            var[..., i, j] = box(g[..., i] * g[..., j]) - mean_i[..., i] * mean_i[..., j] + (eps if i == j else 0)
    a = np.linalg.solve(var, cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(-1)
    return box(a), box(b)


def test_guided_models_are_the_guided_filter_coefficients() -> None:
    rng = np.random.default_rng(13)
    for r, eps in ((1, 1e-1), (3, 1e-3), (5, 1e-4)):
        guide = rng.random((41, 57, 3), dtype=np.float32)
        src = _blobs(rng, 41, 57).astype(np.float32)
        a, b = M._guided_models(guide, src, r, eps)
        want_a, want_b = _guided_models_numpy(guide, src, r, eps)
        np.testing.assert_allclose(a, want_a, atol=2e-4 / eps ** 0.25)
        np.testing.assert_allclose(b, want_b, atol=2e-4 / eps ** 0.25)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize(("mode", "strength", "amount", "screen"),
                         [("green", 1.0, 1.0, None), ("blue", 0.6, 0.5, None), ("green", 0.5, 0.0, None),
                          ("physical", 1.0, 1.0, (0.15, 0.75, 0.2)), ("physical", 0.3, 0.0, (0.15, 0.75, 0.2)),
                          ("physical", 1.0, 0.5, (0.2, 0.25, 0.8)), ("physical", 0.8, 1.0, (0.7, 0.2, 0.3)),
                          ("off", 1.0, 1.0, None)])
def test_rgb_finish_is_despill_then_luminance_restore(dtype, mode: str, strength: float, amount: float,
                                                     screen: tuple[float, float, float] | None) -> None:
    rng = np.random.default_rng(3)
    top = 255 if dtype == np.uint8 else 65535 if dtype == np.uint16 else 1.0
    image = (rng.random((40, 50, 3)) * top).astype(dtype)
    key = int(np.argmax(screen)) if screen else 2 if mode == "blue" else 1
    image[..., key] = np.maximum(image[..., key], image[..., 0 if key else 1])  # some spill everywhere
    colour = None if screen is None else np.float32(screen)
    roi = (5, 31, 7, 44)
    out = np.full((40, 50, 3), -1, np.float32)
    K.rgb_finish(image, out, roi, whole=True, mode=mode, strength=strength, screen=colour, amount=amount,
                 luma=R.LUMA_709)
    plain = to_float_rgb(image)
    want = plain.copy()
    crop = plain[5:31, 7:44]
    if mode != "off":
        d = R.despill(crop, mode=mode, strength=strength, screen_colour=colour)
        want[5:31, 7:44] = R.luminance_restore(crop, d, amount=amount) if amount else d
    np.testing.assert_allclose(out, want, atol=2e-6)
    # Not whole: only the region is written.
    part = np.full((40, 50, 3), -1, np.float32)
    K.rgb_finish(image, part, roi, whole=False, mode=mode, strength=strength, screen=colour, amount=amount,
                 luma=R.LUMA_709)
    assert (part[:5] == -1).all() and (part[:, 44:] == -1).all()
    np.testing.assert_allclose(part[5:31, 7:44], want[5:31, 7:44], atol=2e-6)


def _model_mask(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    truth = (yy - h * 0.55) ** 2 / (h * 0.3) ** 2 + (xx - w * 0.45) ** 2 / (w * 0.25) ** 2 <= 1
    image = np.where(truth[..., None], np.uint8([200, 120, 70]), np.uint8([40, 170, 60]))
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    mask = cv2.resize(cv2.resize(truth.view(np.uint8), (w // 6, h // 6), interpolation=cv2.INTER_AREA),
                      (w, h), interpolation=cv2.INTER_NEAREST).view(bool)
    mask[int(h * 0.5) : int(h * 0.5) + 4, int(w * 0.45) : int(w * 0.45) + 4] = False  # a hole
    mask[3:6, 3:6] = True  # a dot
    return image, mask


@pytest.mark.parametrize("band", [0, 10, 24])
def test_refine_on_one_crop_equals_the_chain_of_full_frame_steps(band: int) -> None:
    rng = np.random.default_rng(4)
    image, mask = _model_mask(rng, (180, 260))
    s = PostSettings(remove_dots_px=40, fill_holes_px=40, grow_px=2, refine_band_px=band, feather_px=2.0)
    chain = M.grow_shrink(M.fill_holes(M.remove_dots(mask, max_area_px=40), max_area_px=40), radius_px=2)
    matte = M.refine_edges(chain, to_float_rgb(image), band_px=band) if band else chain.astype(np.float32)
    want = M.feather(matte, radius_px=2.0)
    got = refine(image, mask, s)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # The same frame inside bigger ones, away from their edges and on the 8 px block grid:
    # the region of interest changes nothing.
    placed = []
    for (h, w), (y, x) in (((300, 420), (64, 96)), ((420, 520), (120, 200))):
        big_image = np.zeros((h, w, 3), np.uint8)
        big_mask = np.zeros((h, w), bool)
        big_image[y : y + 180, x : x + 260] = image
        big_mask[y : y + 180, x : x + 260] = mask
        placed.append(refine(big_image, big_mask, s)[y : y + 180, x : x + 260])
    np.testing.assert_allclose(placed[0], placed[1], atol=1e-6)


def test_apply_rgb_matches_the_steps() -> None:
    rng = np.random.default_rng(5)
    image, mask = _model_mask(rng, (120, 160))
    s = PostSettings(refine_band_px=8, despill="green", luminance_restore=0.7)
    result = apply(image, mask, s)
    assert result.rgb is not None and result.rgb.dtype == np.float32
    plain = to_float_rgb(image)
    ys, xs = np.nonzero(result.matte > 0)
    y0, y1 = max(0, ys.min() - 32), min(120, ys.max() + 33)
    x0, x1 = max(0, xs.min() - 32), min(160, xs.max() + 33)
    want = plain.copy()
    crop = plain[y0:y1, x0:x1]
    want[y0:y1, x0:x1] = R.luminance_restore(crop, R.despill(crop, mode="green"), amount=0.7)
    np.testing.assert_allclose(result.rgb, want, atol=2e-6)


def test_warm_up_runs_every_source_type() -> None:
    from sam3roto.post.stack import warm_up

    warm_up()  # compiles or loads the loops for uint8, uint16 and float32 frames
    for loop in (K._RGB_FINISH[1, 0], K._guided_band, K._block_mean3, K._edge_band, K._guided_terms, K._guided_solve,
                 K._snap):
        assert len(loop.signatures) >= 1, loop
    for mode in (0, 1):  # the plain conversion and green despill, one per source sample type
        assert len(K._RGB_FINISH[mode, 0].signatures) >= 3


def test_apply_refuses_a_screen_colour_without_a_dominant_channel() -> None:
    image, mask = _model_mask(np.random.default_rng(6), (60, 80))
    s = PostSettings(despill="physical")
    with pytest.raises(ValueError, match="no dominant channel"):
        apply(image, mask, s, screen_colour=np.float32([0.5, 0.5, 0.2]))
    with pytest.raises(ValueError, match="finite non-negative"):
        apply(image, mask, s, screen_colour=np.float32([0.1, np.nan, 0.2]))
    result = apply(image, mask, s, screen_colour=np.float32([0.15, 0.7, 0.2]))
    assert result.rgb is not None and np.isfinite(result.rgb).all()

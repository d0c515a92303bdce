"""RGB cleanup: despill invariants, luminance restore, edge extend, premultiply round trip."""

from __future__ import annotations

import numpy as np
import pytest

from sam3roto.post import rgb as R


@pytest.fixture
def spilled() -> tuple[np.ndarray, np.ndarray]:
    """An orange object with green spill on its edge, over a green screen."""
    rng = np.random.default_rng(3)
    image = np.empty((60, 80, 3), np.float32)
    image[:] = [0.15, 0.75, 0.2]  # screen
    image += rng.normal(0, 0.01, image.shape).astype(np.float32)
    alpha = np.zeros((60, 80), np.float32)
    alpha[15:45, 20:60] = 1.0
    alpha[15:45, 18:20] = 0.5
    image[15:45, 20:60] = [0.8, 0.5, 0.3]
    image[15:45, 20:26] = [0.6, 0.7, 0.3]  # spill on the object's left edge
    image[15:45, 18:20] = 0.5 * np.float32([0.8, 0.5, 0.3]) + 0.5 * np.float32([0.15, 0.75, 0.2])
    return np.clip(image, 0, 1), alpha


@pytest.mark.parametrize("mode", ["green", "blue", "physical"])
def test_despill_never_leaves_the_spill_channel_above_the_others(spilled, mode: str) -> None:
    image, alpha = spilled
    if mode == "blue":
        image = image[..., [0, 2, 1]].copy()  # the same scene on a blue screen
    screen = R.estimate_screen_colour(image, alpha) if mode == "physical" else None
    out = R.despill(image, mode=mode, screen_colour=screen)
    key = 2 if mode == "blue" else 1
    others = [c for c in range(3) if c != key]
    assert out.dtype == np.float32 and out.shape == image.shape
    assert (out[..., key] <= np.maximum(out[..., others[0]], out[..., others[1]]) + 1e-6).all()
    assert (out >= 0).all()
    # the object's own colour (no spill) is left alone
    np.testing.assert_allclose(out[30, 40], image[30, 40], atol=1e-6)


def test_despill_strength_blends_and_zero_is_identity(spilled) -> None:
    image, _ = spilled
    full = R.despill(image, mode="green")
    half = R.despill(image, mode="green", strength=0.5)
    np.testing.assert_allclose(half, 0.5 * (image + full), atol=1e-6)
    assert (R.despill(image, mode="green", strength=0.0) == image).all()


def test_estimate_screen_colour_finds_the_green_screen(spilled) -> None:
    image, alpha = spilled
    colour = R.estimate_screen_colour(image, alpha)
    np.testing.assert_allclose(colour, [0.15, 0.75, 0.2], atol=0.02)
    grey = np.full((20, 20, 3), 0.5, np.float32)
    with pytest.raises(ValueError, match="no green or blue screen"):
        R.estimate_screen_colour(grey)


def test_luminance_restore_gives_back_luma_and_not_spill(spilled) -> None:
    image, _ = spilled
    despilled = R.despill(image, mode="green")
    restored = R.luminance_restore(image, despilled, amount=1.0)
    luma = lambda x: x @ R.LUMA_709  # noqa: E731
    np.testing.assert_allclose(luma(restored), luma(image), atol=1e-5)
    assert (restored[..., 1] <= np.maximum(restored[..., 0], restored[..., 2]) + 1e-6).all()
    assert (R.luminance_restore(image, despilled, amount=0.0) == despilled).all()


@pytest.mark.parametrize("method", ["ml", "push"])
def test_edge_extend_removes_the_background_from_soft_edges(spilled, method: str) -> None:
    image, alpha = spilled
    out = R.edge_extend(image, alpha, method=method)
    object_colour = np.float32([0.8, 0.5, 0.3])
    screen = np.float32([0.15, 0.75, 0.2])
    # the half-transparent edge mixed 50/50 with the screen now carries the object's colour
    # (push-pull takes the colour of the nearest solid pixels, which carry some spill here)
    edge = out[30, 18]
    limit = 0.5 if method == "ml" else 0.6
    assert np.abs(edge - object_colour).sum() < limit * np.abs(image[30, 18] - object_colour).sum()
    assert np.abs(edge - screen).sum() > np.abs(image[30, 18] - screen).sum()
    # solid pixels keep their colour; far pixels are untouched
    np.testing.assert_allclose(out[30, 40], image[30, 40])
    near = R.edge_extend(image, alpha, method=method, margin_px=4)
    assert (near[:, :14] == image[:, :14]).all() and (near[:, 14:18] != image[:, 14:18]).any()


def test_premultiply_round_trip_where_alpha_is_positive() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((30, 30, 3), dtype=np.float32)
    alpha = rng.random((30, 30), dtype=np.float32)
    alpha[:5] = 0
    pre = R.premultiply(image, alpha)
    assert (pre <= image + 1e-7).all() and (pre[:5] == 0).all()
    back = R.unpremultiply(pre, alpha)
    np.testing.assert_allclose(back[5:], image[5:], rtol=1e-5, atol=1e-6)
    assert (back[:5] == 0).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: R.despill(np.zeros((4, 4, 3), np.float32), mode="red"), "mode must be one of green, blue, physical"),
        (lambda: R.despill(np.zeros((4, 4, 3), np.float32), mode="green", strength=2),
         r"strength must be in \[0, 1\]"),
        (lambda: R.despill(np.zeros((4, 4, 3), np.float32), mode="physical"), "needs screen_colour"),
        (lambda: R.despill(np.zeros((4, 4, 3), np.uint8), mode="green"), "image must be float32"),
        (lambda: R.premultiply(np.zeros((4, 4, 3), np.float32), np.zeros((4, 5), np.float32)),
         "image is 4x4 but alpha is 5x4"),
        (lambda: R.edge_extend(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.float32), method="blur"),
         "method must be one of ml, push"),
    ],
)
def test_bad_input_is_a_clear_error(call, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        call()

"""Temporal smoothing with motion compensation, motion blur along motion, flicker."""

from __future__ import annotations

import numpy as np
import pytest

from sam3roto.post.temporal import motion_blur, temporal_smooth, unexplained_change

H, W = 120, 160


def _scene(cx: float) -> tuple[np.ndarray, np.ndarray]:
    """A textured disc at ``cx`` over a checkerboard: (image, matte)."""
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    image = np.empty((H, W, 3), np.float32)
    image[:] = (((xx // 10 + yy // 10) % 2) * 0.3 + 0.2)[..., None]
    disc = (xx - cx) ** 2 + (yy - 60) ** 2 < 30**2
    texture = np.stack([0.7 + 0.1 * np.sin((xx - cx) / 3), 0.3 + 0.1 * np.cos(yy / 4), 0.2 + 0 * xx], -1)
    image[disc] = texture[disc]
    return image, disc.astype(np.float32)


def test_strength_zero_and_no_neighbours_are_the_identity() -> None:
    image, matte = _scene(60)
    other = _scene(66)
    assert (temporal_smooth(matte, image, [other[::-1]], strength=0.0) == matte).all()
    assert (temporal_smooth(matte, image, [], strength=1.0) == matte).all()


def test_a_moving_edge_does_not_ghost() -> None:
    """Without motion compensation, averaging with the neighbours would leave a half-alpha
    ghost 8 px each side; with it, the smoothed matte stays on this frame's disc."""
    (im0, m0), (im1, m1), (im2, m2) = _scene(52), _scene(60), _scene(68)
    out = temporal_smooth(m1, im1, [(m0, im0), (m2, im2)], strength=1.0)
    naive = (m0 + m1 + m2) / 3
    assert np.abs(out - m1).mean() < 0.25 * np.abs(naive - m1).mean()


def test_smoothing_reduces_flicker_of_noisy_mattes() -> None:
    rng = np.random.default_rng(0)
    frames = [_scene(50 + 5 * i) for i in range(4)]
    noisy = []
    for _, m in frames:
        flip = rng.random(m.shape) < 0.15
        edge = np.abs(np.gradient(m)[1]) > 0  # jitter the edge only
        noisy.append(np.where(flip & (edge | np.roll(edge, 1, 1)), 1 - m, m).astype(np.float32))
    smoothed = [
        temporal_smooth(noisy[i], frames[i][0], [(noisy[j], frames[j][0]) for j in (i - 1, i + 1) if 0 <= j < 4],
                        strength=1.0)
        for i in range(4)
    ]
    before = np.mean([unexplained_change(noisy[i], frames[i][0], noisy[i - 1], frames[i - 1][0]) for i in (1, 2, 3)])
    after = np.mean([unexplained_change(smoothed[i], frames[i][0], smoothed[i - 1], frames[i - 1][0])
                     for i in (1, 2, 3)])
    assert after < 0.85 * before


def test_unexplained_change_is_small_for_pure_motion() -> None:
    (im0, m0), (im1, m1) = _scene(52), _scene(60)
    moving = unexplained_change(m1, im1, m0, im0)
    popping = unexplained_change(m1 * np.float32(0.5), im1, m0, im0)  # alpha halves: not motion
    assert moving < 0.1 and popping > 3 * moving


def test_motion_blur_is_along_the_motion_vector() -> None:
    _, matte = _scene(80)
    horizontal = np.zeros((H, W, 2), np.float32)
    horizontal[..., 0] = 16.0
    out = motion_blur(matte, horizontal, shutter=1.0)
    row = out[60]
    ramp = np.nonzero((row > 0.01) & (row < 0.99))[0]
    assert 12 <= len(ramp) // 2 <= 18  # a 16 px ramp on each side of the disc
    # no vertical blur: the disc's centre column is unchanged away from its top and bottom rows
    np.testing.assert_allclose(out[35:86, 80], matte[35:86, 80], atol=1e-6)
    assert (motion_blur(matte, horizontal, shutter=0.0) == matte).all()
    assert (motion_blur(matte, np.zeros_like(horizontal), shutter=1.0) == matte).all()
    np.testing.assert_allclose(out.sum(), matte.sum(), rtol=0.01)  # blur moves alpha, does not add it


def test_bad_input() -> None:
    image, matte = _scene(60)
    with pytest.raises(ValueError, match=r"strength must be in \[0, 1\]"):
        temporal_smooth(matte, image, [], strength=1.5)
    with pytest.raises(ValueError, match="matte is 160x120 but neighbours\\[0\\] matte is 10x10"):
        temporal_smooth(matte, image, [(np.zeros((10, 10), np.float32), image)], strength=0.5)
    with pytest.raises(ValueError, match="velocity must be \\(H, W, 2\\)"):
        motion_blur(matte, np.zeros((H, W), np.float32))

"""The composed post stack: settings validation and round trip, apply on a synthetic frame
with a known answer, apply_sequence ordering and neighbours, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sam3roto.post import PostSettings, apply, apply_sequence, refine
from sam3roto.post.settings import parse_assignment
from sam3roto.post.sources import ThresholdStage


def _frame(shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 frame: an orange square with a spilled green rim on a green screen, and a model-ish
    mask of it with a hole, a dot and an edge 3 px too small."""
    image = np.zeros((90, 120, 3), np.uint8)
    image[:] = (40, 190, 50)
    image[20:70, 30 + shift : 90 + shift] = (200, 130, 80)
    image[20:70, 30 + shift : 33 + shift] = (150, 180, 80)
    mask = np.zeros((90, 120), bool)
    mask[23:67, 33 + shift : 87 + shift] = True
    mask[40:43, 50 + shift : 53 + shift] = False
    mask[5, 5] = True
    return image, mask


def test_defaults_leave_the_mask_alone() -> None:
    image, mask = _frame()
    result = apply(image, mask, PostSettings())
    assert result.matte.dtype == np.float32 and (result.matte == mask).all()
    assert result.rgb is None and not result.premultiplied


def test_settings_round_trip_and_validation() -> None:
    s = PostSettings(grow_px=-2, thresholds=(ThresholdStage("luma", 0.1, 0.9),), despill="physical", premultiply=True)
    data = json.loads(json.dumps(s.to_dict()))
    assert PostSettings.from_dict(data) == s
    with pytest.raises(ValueError, match="unknown post settings: grow"):
        PostSettings.from_dict({"grow": 3})
    with pytest.raises(ValueError, match=r"temporal_pct must be in \[0, 100\]"):
        PostSettings(temporal_pct=150)
    with pytest.raises(ValueError, match="despill must be one of off, green, blue, physical"):
        PostSettings(despill="yes")
    with pytest.raises(TypeError, match="premultiply must be true or false"):
        PostSettings(premultiply=1)  # type: ignore[arg-type]
    assert parse_assignment("grow_px=3") == ("grow_px", 3)
    assert parse_assignment("despill=green") == ("despill", "green")
    assert parse_assignment("premultiply=true") == ("premultiply", True)


def test_the_whole_stack_on_a_known_frame() -> None:
    image, mask = _frame()
    settings = PostSettings(remove_dots_px=4, fill_holes_px=20, grow_px=3, refine_band_px=4, refine_method="colour",
                            despill="green", luminance_restore=0.5, edge_extend="push", premultiply=True)
    result = apply(image, mask, settings)
    truth = np.zeros((90, 120), bool)
    truth[20:70, 30:90] = True
    assert result.matte[5, 5] == 0 and result.matte[41, 51] == 1  # dot removed, hole filled
    assert np.abs((result.matte > 0.5) ^ truth).sum() <= 8  # grown back onto the square's edge
    assert result.premultiplied and result.rgb is not None and result.rgb.dtype == np.float32
    assert (result.rgb[~(result.matte > 0)] == 0).all()  # premultiplied: nothing outside the matte
    rim = result.rgb[40, 31]
    assert rim[1] <= max(rim[0], rim[2]) + 1e-6  # the green rim is despilled
    inside = result.rgb[45, 60]
    np.testing.assert_allclose(inside, np.float32([200, 130, 80]) / 255, atol=1e-6)


def test_thresholds_apply_inside_the_mask_only() -> None:
    image, mask = _frame()
    bright_orange = PostSettings(thresholds=(ThresholdStage("red", 0.7, 1.0),))
    matte = refine(image, mask, bright_orange)
    assert matte[45, 60] == 1  # orange is red enough
    assert matte[5, 5] == 0  # the dot is on the green screen: removed by the threshold
    assert not matte[~mask].any()
    green = refine(image, mask, PostSettings(thresholds=(ThresholdStage("green", 0.6, 1.0),)))
    assert green[5, 5] == 1 and green.sum() == 1  # only the dot on the screen is that green


def test_depth_mode_needs_depth_and_uses_it() -> None:
    image, mask = _frame()
    depth = np.full(mask.shape, 10.0, np.float32)
    depth[:, :60] = 2.0  # the left half is near
    s = PostSettings(depth_mode="intersect")
    matte = refine(image, mask, s, depth=depth)
    assert matte[45, 40] == 1 and matte[45, 70] == 0
    with pytest.raises(ValueError, match="depth_mode 'intersect' needs a depth map"):
        refine(image, mask, s)


def test_sequence_yields_every_frame_in_order_with_neighbours() -> None:
    frames = [_frame(2 * i) for i in range(5)]
    plain = PostSettings(grow_px=1)
    temporal = PostSettings(grow_px=1, temporal_pct=100.0)
    out_plain = list(apply_sequence(((im, m, None) for im, m in frames), plain))
    out_temp = list(apply_sequence(((im, m, None) for im, m in frames), temporal))
    assert len(out_plain) == len(out_temp) == 5
    for i, (im, m) in enumerate(frames):
        # each result belongs to its own frame: the square's left edge moves 2 px a frame
        assert out_temp[i].matte[45, 33 + 2 * i] > 0.5 and out_temp[i].matte[45, 30 + 2 * i] < 0.5
        np.testing.assert_array_equal(out_plain[i].matte, refine(im, m, plain))
    single = list(apply_sequence(((im, m, None) for im, m in frames[:1]), temporal))
    assert len(single) == 1
    blurred = list(apply_sequence(((im, m, None) for im, m in frames), PostSettings(motion_blur_shutter=1.0)))
    row = blurred[2].matte[45]
    assert len(blurred) == 5 and ((row > 0.05) & (row < 0.95)).sum() >= 2  # the moving edge is blurred
    still = blurred[2].matte[:, 60]
    assert ((still > 0.05) & (still < 0.95)).sum() <= 2  # edges moving along themselves are not


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.zeros((90, 120), np.uint8), "mask must be bool"),
        (np.zeros((80, 120), bool), "mask is 120x80 but image is 120x90"),
    ],
)
def test_bad_masks(mask: np.ndarray, message: str) -> None:
    image, _ = _frame()
    with pytest.raises((ValueError, TypeError), match=message):
        apply(image, mask, PostSettings(grow_px=1))


def test_empty_and_full_masks_go_through_everything() -> None:
    image, _ = _frame()
    everything = PostSettings(remove_dots_px=10, fill_holes_px=10, border_fix_px=3, grow_px=2, refine_band_px=6,
                              feather_px=2, despill="green", luminance_restore=1.0, edge_extend="ml", premultiply=False)
    empty = apply(image, np.zeros((90, 120), bool), everything)
    assert not empty.matte.any() and empty.rgb is not None
    np.testing.assert_allclose(empty.rgb, image / np.float32(255), atol=1e-6)  # nothing to clean
    full = apply(image, np.ones((90, 120), bool), everything)
    assert (full.matte == 1).all()

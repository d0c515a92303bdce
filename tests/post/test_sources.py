"""Mask sources: staged thresholds inside regions, depth foreground, combining masks."""

from __future__ import annotations

import numpy as np
import pytest

from sam3roto.post.sources import (
    ThresholdStage,
    channel,
    combine,
    depth_foreground,
    threshold_stages,
    thresholds_in_regions,
)


@pytest.fixture
def ramp() -> np.ndarray:
    """Luma rises left to right; the top half is red, the bottom half grey."""
    x = np.linspace(0, 1, 100, dtype=np.float32)
    image = np.repeat(np.repeat(x[None, :, None], 3, axis=2), 40, axis=0)
    image[:20, :, 1:] *= 0.2
    return np.ascontiguousarray(image)


def test_channels(ramp: np.ndarray) -> None:
    assert channel(ramp, "red")[30, 99] == pytest.approx(1.0)
    assert channel(ramp, "luma")[30, 50] == pytest.approx(ramp[30, 50, 0], abs=1e-6)
    assert channel(ramp, "hue")[10, 80] == pytest.approx(0.0, abs=1e-3)  # red
    assert channel(ramp, "saturation")[30, 80] == pytest.approx(0.0, abs=1e-6)  # grey


def test_stages_threshold_the_thresholded_result(ramp: np.ndarray) -> None:
    bright = ThresholdStage("value", 0.5, 1.0)
    reddish = ThresholdStage("saturation", 0.5, 1.0)
    first = threshold_stages(ramp, [bright])
    both = threshold_stages(ramp, [bright, reddish])
    assert (both <= first).all() and both[:20].any() and not both[20:].any()
    removed = threshold_stages(ramp, [bright, ThresholdStage("saturation", 0.5, 1.0, op="remove")])
    assert (removed == (first & ~both)).all()
    region = np.zeros(ramp.shape[:2], bool)
    region[:, :30] = True
    added = threshold_stages(ramp, [bright, ThresholdStage("value", 0.0, 0.1, op="add")], region)
    assert added[:, :10].all() and not added[:, 11:].any()  # value 0.1 is column 9.9  # nothing outside the region
    inverted = threshold_stages(ramp, [ThresholdStage("value", 0.5, 1.0, invert=True)])
    assert (inverted == ~first).all()


def test_a_different_threshold_inside_each_region(ramp: np.ndarray) -> None:
    left = np.zeros(ramp.shape[:2], bool)
    left[:, :50] = True
    right = ~left
    out = thresholds_in_regions(ramp, [(left, [ThresholdStage("luma", 0.2, 1.0)]),
                                       (right, [ThresholdStage("luma", 0.8, 1.0)])])
    cols = np.nonzero(out[30])[0]
    assert set(cols) == set(range(20, 50)) | set(range(80, 100))


def test_depth_foreground_picks_the_near_side() -> None:
    depth = np.full((50, 50), 8.0, np.float32)
    depth[10:30, 10:30] = 2.0
    near = depth_foreground(depth)
    assert near.sum() == 400 and near[20, 20]
    disparity = 1.0 / depth
    assert (depth_foreground(disparity, near_is_large=True) == near).all()
    region = np.zeros((50, 50), bool)
    region[:, :20] = True
    assert (depth_foreground(depth, region=region) == (near & region)).all()
    assert not depth_foreground(np.ones((5, 5), np.float32)).any()  # flat: no foreground
    bad = depth.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="depth has 1 NaN or infinite"):
        depth_foreground(bad)
    with pytest.raises(TypeError, match="depth must be float"):
        depth_foreground(np.zeros((5, 5), np.uint8))


def test_combine() -> None:
    a = np.zeros((4, 4), bool)
    a[:, :2] = True
    b = np.zeros((4, 4), bool)
    b[:2, :] = True
    assert combine([a, b], "union").sum() == 12
    assert combine([a, b], "intersection").sum() == 4
    assert combine([a, b], "difference").sum() == 4
    assert combine([a, b], "xor").sum() == 8
    with pytest.raises(ValueError, match="op must be one of"):
        combine([a], "add")
    with pytest.raises(ValueError, match="at least one mask"):
        combine([], "union")


def test_stage_validation_names_the_parameter() -> None:
    with pytest.raises(ValueError, match="channel must be one of"):
        ThresholdStage("alpha")
    with pytest.raises(ValueError, match=r"low must be in \[0, 1\]"):
        ThresholdStage("luma", -0.1, 1.0)
    with pytest.raises(ValueError, match="must not exceed high"):
        ThresholdStage("luma", 0.8, 0.2)
    with pytest.raises(ValueError, match="unknown threshold stage keys: level"):
        ThresholdStage.from_dict({"level": 3})

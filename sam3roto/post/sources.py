"""Masks made from the image: thresholds inside regions and in stages, depth foreground,
and combining masks across objects (seeds 000 and 001)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from sam3roto.core.pixels import combine_masks
from sam3roto.post.checks import check_choice, check_mask, check_range, check_rgb, check_same_size

#: Channels a threshold can read. Hue is in turns ([0, 1) = 0-360 degrees); the others in [0, 1].
CHANNELS = ("luma", "red", "green", "blue", "hue", "saturation", "value")
#: How a threshold stage combines with the result so far.
STAGE_OPS = ("keep", "add", "remove")


def channel(image: np.ndarray, name: str) -> np.ndarray:
    """``float32 (H, W)``: one channel of ``image`` (``float32 (H, W, 3)``), see ``CHANNELS``.
    Luma uses the Rec. 709 weights."""
    check_rgb(image)
    check_choice("channel", name, CHANNELS)
    if name == "luma":
        return (0.2126 * image[..., 0] + 0.7152 * image[..., 1] + 0.0722 * image[..., 2]).astype(np.float32)
    if name in ("red", "green", "blue"):
        return np.ascontiguousarray(image[..., ("red", "green", "blue").index(name)])
    hsv = cv2.cvtColor(np.clip(image, 0.0, 1.0), cv2.COLOR_RGB2HSV)
    if name == "hue":
        return hsv[..., 0] / np.float32(360.0)
    return np.ascontiguousarray(hsv[..., 1 if name == "saturation" else 2])


@dataclass(frozen=True)
class ThresholdStage:
    """Pixels whose ``channel`` lies in ``[low, high]`` (outside it when ``invert``).

    ``op`` says what the stage does to the result of the stages before it: ``keep`` the
    pixels that also pass (threshold the thresholded result), ``add`` the passing pixels of
    the region, or ``remove`` the passing pixels.
    """

    channel: str = "luma"
    low: float = 0.5
    high: float = 1.0
    invert: bool = False
    op: str = "keep"

    def __post_init__(self) -> None:
        check_choice("channel", self.channel, CHANNELS)
        check_choice("op", self.op, STAGE_OPS)
        check_range("low", self.low, 0.0, 1.0)
        check_range("high", self.high, 0.0, 1.0)
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")

    def passes(self, image: np.ndarray) -> np.ndarray:
        values = channel(image, self.channel)
        inside = (values >= self.low) & (values <= self.high)
        return ~inside if self.invert else inside

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "low": self.low, "high": self.high, "invert": self.invert, "op": self.op}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThresholdStage:
        unknown = set(data) - {"channel", "low", "high", "invert", "op"}
        if unknown:
            raise ValueError(f"unknown threshold stage keys: {', '.join(sorted(unknown))}")
        return cls(**data)


def threshold_stages(
    image: np.ndarray, stages: Sequence[ThresholdStage], region: np.ndarray | None = None
) -> np.ndarray:
    """``bool (H, W)``: ``stages`` applied in order inside ``region`` (the whole frame when
    None). The first ``keep`` stage thresholds the region; each later stage works on the
    result so far. No stages returns the region."""
    check_rgb(image)
    if region is None:
        region = np.ones(image.shape[:2], bool)
    check_mask(region, "region")
    check_same_size(image, "image", region, "region")
    result = region.copy()
    for stage in stages:
        if not isinstance(stage, ThresholdStage):
            raise TypeError(f"stages must be ThresholdStage, got {type(stage).__name__}")
        passing = stage.passes(image)
        if stage.op == "keep":
            result &= passing
        elif stage.op == "add":
            result |= passing & region
        else:
            result &= ~passing
    return result


def thresholds_in_regions(
    image: np.ndarray, rules: Sequence[tuple[np.ndarray, Sequence[ThresholdStage]]]
) -> np.ndarray:
    """``bool (H, W)``: the union over ``rules`` of each region's own staged thresholds, so a
    different threshold applies inside each object's mask (seed 001's teeth and glasses)."""
    check_rgb(image)
    out = np.zeros(image.shape[:2], bool)
    for region, stages in rules:
        out |= threshold_stages(image, stages, region)
    return out


def depth_foreground(depth: np.ndarray, *, near_is_large: bool = False, region: np.ndarray | None = None) -> np.ndarray:
    """``bool (H, W)``: the near side of an Otsu threshold of ``depth`` (seed 000).

    ``depth`` (``float32 (H, W)``) is normalised to 0-255 over ``region`` (the whole frame
    when None), then Otsu picks the split. ``near_is_large`` is True for inverse depth or
    disparity (Depth Anything V2's relative output), False for depth (larger is farther).
    The mask is limited to ``region``.
    """
    if not isinstance(depth, np.ndarray) or depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) array, got shape {getattr(depth, 'shape', None)}")
    if depth.dtype not in (np.float16, np.float32, np.float64):
        raise TypeError(f"depth must be float (H, W), got dtype {depth.dtype}")
    if region is None:
        region = np.ones(depth.shape, bool)
    check_mask(region, "region")
    check_same_size(depth, "depth", region, "region")
    values = depth[region]
    if values.size == 0:
        return np.zeros(depth.shape, bool)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise ValueError(f"depth has {bad} NaN or infinite values inside the region; fill or mask them first")
    lo, hi = float(values.min()), float(values.max())
    if hi - lo <= 1e-12:
        return np.zeros(depth.shape, bool)  # a flat depth has no foreground to separate
    scaled = np.clip((depth.astype(np.float32) - lo) * np.float32(255.0 / (hi - lo)), 0.0, 255.0).astype(np.uint8)
    level, _ = cv2.threshold(scaled[region].reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    near = scaled > level if near_is_large else scaled <= level
    return near & region


def combine(masks: Sequence[np.ndarray], op: str) -> np.ndarray:
    """``bool (H, W)``: ``union``, ``intersection``, ``difference`` (the first minus all the
    others) or ``xor`` of ``masks`` (at least one, all one size)."""
    for i, m in enumerate(masks):  # the operation and the count are checked by combine_masks
        check_mask(m, f"masks[{i}]")
        check_same_size(masks[0], "masks[0]", m, f"masks[{i}]")
    return combine_masks(list(masks), op)

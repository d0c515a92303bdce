"""Pixel conversions every layer needs (one place for each)."""

from __future__ import annotations

import numpy as np


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Any delivered frame (uint8, uint16, float in [0, 1]) as ``uint8``, same shape:
    uint8 unchanged, uint16 shifted, float clipped and rounded (NaN becomes 0)."""
    if rgb.dtype == np.uint8:
        return rgb
    if rgb.dtype == np.uint16:
        return (rgb >> 8).astype(np.uint8)
    return (np.clip(np.nan_to_num(rgb), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def to_float(rgb: np.ndarray) -> np.ndarray:
    """Any delivered frame as C-contiguous ``float32``, same shape: integers scaled to
    [0, 1] (uint8 by 255, uint16 by 65535), floats as they are (float32 input may come back
    as the same array)."""
    if rgb.dtype == np.uint8:
        return np.multiply(rgb, np.float32(1.0 / 255.0), dtype=np.float32)
    if rgb.dtype == np.uint16:
        return np.multiply(rgb, np.float32(1.0 / 65535.0), dtype=np.float32)
    return np.ascontiguousarray(rgb, dtype=np.float32)


#: How masks of several objects combine into one.
COMBINE_OPS = ("union", "intersection", "difference", "xor")


def combine_masks(masks: list[np.ndarray], op: str) -> np.ndarray:
    """``bool (H, W)``: the ``union``, ``intersection``, ``difference`` (the first minus all
    the others) or ``xor`` of ``masks`` (at least one ``bool (H, W)``, all one size)."""
    if op not in COMBINE_OPS:
        raise ValueError(f"op must be one of {', '.join(COMBINE_OPS)}; got {op!r}")
    if not masks:
        raise ValueError("combine needs at least one mask")
    out = masks[0].copy()
    for m in masks[1:]:
        if op == "union":
            out |= m
        elif op == "intersection":
            out &= m
        elif op == "difference":
            out &= ~m
        else:
            out ^= m
    return out

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

"""Regions of interest: post work runs on the object's bounding box plus a margin, never on
the whole 4K frame when the result outside is known (zero matte, untouched pixels)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Roi:
    """Rows ``y0:y1`` and columns ``x0:x1`` of a frame."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def union(self, other: Roi | None) -> Roi:
        if other is None:
            return self
        return Roi(min(self.y0, other.y0), max(self.y1, other.y1), min(self.x0, other.x0), max(self.x1, other.x1))

    def aligned(self, step: int) -> Roi:
        """The region with its top-left corner moved up and left to multiples of ``step``, so
        that block grids laid from the corner line up with the frame's."""
        return Roi(self.y0 - self.y0 % step, self.y1, self.x0 - self.x0 % step, self.x1)

    def grown(self, margin_px: int, shape: tuple[int, ...]) -> Roi:
        h, w = shape[:2]
        m = max(0, int(margin_px))
        return Roi(max(0, self.y0 - m), min(h, self.y1 + m), max(0, self.x0 - m), min(w, self.x1 + m))


def bbox(mask: np.ndarray) -> Roi | None:
    """Bounding box of the non-zero pixels of a ``bool`` or ``uint8 (H, W)`` array; None when empty."""
    data = mask.view(np.uint8) if mask.dtype == np.bool_ else mask
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(data))
    if w == 0 or h == 0:
        return None
    return Roi(y, y + h, x, x + w)


def roi_around(mask: np.ndarray, margin_px: int) -> Roi | None:
    """Bounding box of ``mask`` (``bool (H, W)``) grown by ``margin_px``, clipped to the frame."""
    box = bbox(mask)
    return None if box is None else box.grown(margin_px, mask.shape)


def matte_roi(matte: np.ndarray, margin_px: int) -> Roi | None:
    """Bounding box of ``matte > 0`` (``float32 (H, W)``) grown by ``margin_px``."""
    return roi_around(matte > 0, margin_px)

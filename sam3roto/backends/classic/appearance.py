"""A colour appearance model of an object, learned on keyframes, to find it again.

Tracking by flow alone loses an object under fast motion or occlusion and never recovers.
The model here (foreground vs nearby-background colour histograms) gives a per-pixel
foreground probability; when the tracked mask collapses or drifts onto background, the
engine looks for the region that best matches the model near where the object was.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BINS = 16


def _hist(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    h = cv2.calcHist([rgb], [0, 1, 2], mask.view(np.uint8), [BINS] * 3, [0, 256] * 3)
    return h / max(float(h.sum()), 1.0)


@dataclass
class Appearance:
    """Foreground and surrounding-background colour histograms (``float32 (16, 16, 16)``),
    the keyframe area and how well the keyframe mask itself matches the model (``support0``)."""

    fg: np.ndarray
    bg: np.ndarray
    area: int
    support0: float = 1.0

    @classmethod
    def learn(cls, rgb: np.ndarray, mask: np.ndarray) -> Appearance | None:
        """Model the object ``mask`` (``bool (h, w)``) on ``rgb`` (``uint8 (h, w, 3)``)."""
        area = int(np.count_nonzero(mask))
        if area < 16:
            return None
        r = int(np.clip(0.5 * np.sqrt(area), 8, 80))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        ring = cv2.dilate(mask.view(np.uint8), disc).astype(bool)
        ring &= ~mask
        if not ring.any():
            ring = ~mask
        model = cls(_hist(rgb, mask), _hist(rgb, ring), area)
        model.support0 = model.support(rgb, mask)
        return model

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """``float32 (h, w)`` in [0, 1]: how much each pixel's colour looks like the object."""
        ratio = self.fg / (self.fg + self.bg + 1e-6)
        idx = (rgb // (256 // BINS)).astype(np.intp)
        p = ratio[idx[..., 0], idx[..., 1], idx[..., 2]].astype(np.float32)
        return cv2.GaussianBlur(p, (0, 0), 2.0)

    def support(self, rgb: np.ndarray, mask: np.ndarray, probability: np.ndarray | None = None) -> float:
        """Mean object probability inside ``mask`` (0 when empty); pass ``probability``
        when it was computed for ``rgb`` already."""
        if not mask.any():
            return 0.0
        p = self.probability(rgb) if probability is None else probability
        return float(p[mask].mean())

    def find(
        self, rgb: np.ndarray, near_xy: tuple[float, float], search_px: float, area: float | None = None,
        probability: np.ndarray | None = None,
    ) -> tuple[int, int, int, int] | None:
        """Box (x0, y0, x1, y1) of the region that best matches the object within
        ``search_px`` of ``near_xy`` and of about ``area`` pixels (default: the keyframe
        area), or None when nothing looks like it."""
        expected = float(self.area if area is None else area)
        p = self.probability(rgb) if probability is None else probability
        h, w = p.shape
        cand = cv2.morphologyEx((p > 0.6).view(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, _, stats, cents = cv2.connectedComponentsWithStats(cand, connectivity=8)
        best, best_score = None, 0.0
        for i in range(1, n):
            a = stats[i, cv2.CC_STAT_AREA]
            if a < 0.15 * expected or a > 4 * expected:
                continue
            d = float(np.hypot(cents[i][0] - near_xy[0], cents[i][1] - near_xy[1]))
            if d > search_px:
                continue
            score = a * (1.0 - 0.5 * d / search_px)
            if score > best_score:
                best, best_score = i, score
        if best is None:
            return None
        x, y, bw, bh = (int(v) for v in stats[best, :4])
        gx, gy = max(2, bw // 10), max(2, bh // 10)
        return max(0, x - gx), max(0, y - gy), min(w, x + bw + gx), min(h, y + bh + gy)

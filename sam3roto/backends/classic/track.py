"""One tracking step of the classical engine: warp the mask along dense optical flow,
then re-fit it to the image so it does not drift.

Works on ``uint8`` RGB and ``bool`` masks at the engine's working resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from sam3roto.backends.classic.segment import grabcut, warp_by_flow


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the set pixels, or None for an empty mask."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def warp_mask(mask: np.ndarray, flow_to_prev: np.ndarray) -> np.ndarray:
    """``mask`` of the previous frame carried onto the current one; ``flow_to_prev`` maps
    each current pixel to its position in the previous frame."""
    return warp_by_flow(mask.astype(np.float32), flow_to_prev) > 0.5


def refit(rgb: np.ndarray, warped: np.ndarray, *, iterations: int = 2) -> np.ndarray:
    """Snap the ``warped`` mask to the edges of ``rgb`` with GrabCut in a band around it.

    The core of the warped mask is kept as certain foreground and everything beyond a
    margin as certain background, so the re-fit can only move the outline within the band
    (it corrects flow smear without being able to run off). Falls back to ``warped`` when
    the re-fit changes the area implausibly.
    """
    box = bbox(warped)
    if box is None:
        return warped
    h, w = warped.shape
    area = int(np.count_nonzero(warped))
    band = int(np.clip(0.12 * np.sqrt(area), 3, 40))
    x0, y0, x1, y1 = box
    m = 3 * band
    cx0, cy0, cx1, cy1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
    crop = warped[cy0:cy1, cx0:cx1].view(np.uint8)
    core = cv2.erode(crop, _disc(band)).astype(bool)
    grown = cv2.dilate(crop, _disc(band)).astype(bool)
    outer = cv2.dilate(crop, _disc(2 * band)).astype(bool)
    labels = np.full(crop.shape, cv2.GC_BGD, np.uint8)
    labels[outer] = cv2.GC_PR_BGD
    labels[grown] = cv2.GC_PR_BGD
    labels[crop.astype(bool)] = cv2.GC_PR_FGD
    labels[core] = cv2.GC_FGD
    fg = grabcut(rgb[cy0:cy1, cx0:cx1], labels, iterations)
    out = np.zeros_like(warped)
    out[cy0:cy1, cx0:cx1] = fg
    ratio = np.count_nonzero(out) / max(area, 1)
    if not 0.8 < ratio < 1.25:
        return warped
    return out

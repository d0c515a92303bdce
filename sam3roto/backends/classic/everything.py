"""Segment everything on one frame (seed 001): the frame cut into candidate regions that
the artist picks by click (several picks add up, as in "glasses mask + mouth mask").

Mean-shift filtering flattens colour and texture inside regions while keeping their edges;
k-means in Lab quantises the flattened colours; connected components of each colour are
the regions. Specks are merged into the nearest region, so every pixel belongs to one
region of a pickable size. No weights, CPU only, about a second for a 480p frame here.
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_SIDE_PX = 512


def region_labels(rgb: np.ndarray, *, colours: int = 12, min_area_frac: float = 0.002) -> np.ndarray:
    """``int32 (h, w)`` region labels 0..n-1 at the working size (long side 512 px)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE_PX / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    flat = cv2.pyrMeanShiftFiltering(np.ascontiguousarray(small[..., ::-1]), sp=9, sr=22, maxLevel=1)
    lab = cv2.cvtColor(flat, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    if len(lab) < 2:  # one pixel is one region (k-means would read its three channels as three samples)
        return np.zeros(flat.shape[:2], np.int32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(0)  # repeatable regions
    _, quant, _ = cv2.kmeans(lab, min(colours, len(lab)), None, criteria, 2,  # type: ignore[call-overload]
                             cv2.KMEANS_PP_CENTERS)
    quant = quant.reshape(flat.shape[:2])
    labels = np.full(quant.shape, -1, np.int32)
    n = 0
    for c in range(int(quant.max()) + 1):
        count, comp = cv2.connectedComponents((quant == c).astype(np.uint8), connectivity=8)
        inside = comp > 0
        labels[inside] = comp[inside] + n - 1
        n += count - 1
    # specks join the nearest region large enough to pick
    areas = np.bincount(labels.ravel(), minlength=n)
    large = areas >= max(1.0, min_area_frac * labels.size)
    if not large.any():
        return np.zeros(labels.shape, np.int32)
    keep = large[labels]
    _, nearest = cv2.distanceTransformWithLabels((~keep).astype(np.uint8), cv2.DIST_L2, 3,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(keep)
    source = np.zeros(int(nearest.max()) + 1, np.int32)
    source[nearest[ys, xs]] = labels[ys, xs]
    labels = np.where(keep, labels, source[nearest])
    _, dense = np.unique(labels, return_inverse=True)
    return dense.reshape(labels.shape).astype(np.int32)


def candidate_labels(rgb: np.ndarray) -> np.ndarray:
    """``int32 (H, W)``: the candidate region of every pixel of ``rgb`` (``uint8 (H, W, 3)``),
    numbered 0..n-1 largest first (a label image, not n masks: a 4K frame stays 33 MB)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    labels = region_labels(rgb)
    order = np.argsort(np.bincount(labels.ravel()))[::-1]
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return cv2.resize(rank[labels].astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)

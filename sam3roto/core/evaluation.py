"""Segmentation quality measures (DAVIS J and F) and a simulated artist.

J is the region similarity (intersection over union) and F the boundary F-measure with a
tolerance of ``ceil(0.008 * image diagonal)`` pixels, as in the DAVIS benchmark. The
simulated artist derives prompts from a ground-truth mask the way a roto artist places
them: a box around the object, positive clicks spread through its interior (most interior
first) and negative clicks on the background close to it.
"""

from __future__ import annotations

import math

import numpy as np

from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt


def jaccard(mask: np.ndarray, truth: np.ndarray) -> float:
    """IoU of two ``bool (H, W)`` masks; 1.0 when both are empty."""
    m = np.asarray(mask, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    if m.shape != t.shape:
        raise ValueError(f"mask shape {m.shape} differs from the ground truth's {t.shape}")
    union = np.count_nonzero(m | t)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(m & t)) / union


def _boundary(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary of a ``bool`` mask (pixels whose 4-neighbourhood leaves the mask)."""
    m = mask.astype(bool)
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def boundary_tolerance_px(shape: tuple[int, ...]) -> int:
    """DAVIS boundary tolerance for a frame of ``shape`` (H, W): ``ceil(0.008 * diagonal)``."""
    return max(1, math.ceil(0.008 * math.hypot(shape[0], shape[1])))


def boundary_f(mask: np.ndarray, truth: np.ndarray) -> float:
    """DAVIS boundary F-measure of two ``bool (H, W)`` masks; 1.0 when both are empty."""
    import cv2

    m = np.asarray(mask, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    if m.shape != t.shape:
        raise ValueError(f"mask shape {m.shape} differs from the ground truth's {t.shape}")
    bm, bt = _boundary(m), _boundary(t)
    nm, nt = np.count_nonzero(bm), np.count_nonzero(bt)
    if nm == 0 and nt == 0:
        return 1.0
    if nm == 0 or nt == 0:
        return 0.0
    r = boundary_tolerance_px(m.shape)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    near_t = cv2.dilate(bt.view(np.uint8), disc).astype(bool)
    near_m = cv2.dilate(bm.view(np.uint8), disc).astype(bool)
    precision = np.count_nonzero(bm & near_t) / nm
    recall = np.count_nonzero(bt & near_m) / nt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _farthest_points(allowed: np.ndarray, count: int) -> list[tuple[int, int]]:
    """Up to ``count`` (x, y) points inside ``allowed``: the most interior first, then each
    one as far as possible from the border and from the points already chosen."""
    import cv2

    if not allowed.any():
        return []
    dist = cv2.distanceTransform(np.pad(allowed, 1).view(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    ys, xs = np.nonzero(allowed)
    interior = dist[ys, xs]
    points: list[tuple[int, int]] = []
    score = interior.astype(np.float64)
    for _ in range(count):
        i = int(np.argmax(score))
        if score[i] <= 0:
            break
        px, py = int(xs[i]), int(ys[i])
        points.append((px, py))
        # A candidate's score is the smaller of its depth inside the region and its
        # distance to the chosen points, so points spread out but stay off thin edges.
        score = np.minimum(score, np.hypot(xs - px, ys - py))
    return points


def prompts_from_mask(
    truth: np.ndarray, *, positives: int = 3, negatives: int = 3, margin_frac: float = 0.1
) -> list[Prompt]:
    """Prompts a careful artist would place for the object in ``truth`` (``bool (H, W)``).

    Returns a :class:`BoxPrompt` around the object, ``positives`` positive points spread
    through its interior (most interior first) and ``negatives`` negative points in the
    background within the box grown by ``margin_frac`` of its size. Empty truth gives ``[]``.
    """
    t = np.asarray(truth, dtype=bool)
    if not t.any():
        return []
    ys, xs = np.nonzero(t)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    prompts: list[Prompt] = [BoxPrompt(float(x0), float(y0), float(x1), float(y1))]
    prompts += [PointPrompt(float(x), float(y), True) for x, y in _farthest_points(t, positives)]
    mx, my = round((x1 - x0) * margin_frac), round((y1 - y0) * margin_frac)
    near = np.zeros_like(t)
    near[max(0, y0 - my) : y1 + my, max(0, x0 - mx) : x1 + mx] = True
    prompts += [PointPrompt(float(x), float(y), False) for x, y in _farthest_points(near & ~t, negatives)]
    return prompts

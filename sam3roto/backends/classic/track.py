"""One tracking step of the classical engine: move the mask with the object's motion,
then re-fit it to the image so it does not drift.

The motion is a similarity transform (translation, rotation, scale) fitted with RANSAC to
the dense optical flow inside the mask. Moving the whole outline rigidly keeps the object
together when a thin occluder (a pole, a branch) crosses it, where a per-pixel flow warp
cuts it apart and loses the part beyond; the re-fit then follows articulation (legs, arms).

Works on ``uint8`` RGB and ``bool`` masks at the engine's working resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from sam3roto.backends.classic.segment import bbox, grabcut
from sam3roto.post.flow import warp_by_flow


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def warp_mask(mask: np.ndarray, flow_to_prev: np.ndarray) -> np.ndarray:
    """``mask`` of the previous frame carried onto the current one; ``flow_to_prev`` maps
    each current pixel to its position in the previous frame."""
    return warp_by_flow(mask.astype(np.float32), flow_to_prev) > 0.5


def _fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    if len(src) < 8:
        return None, np.zeros(len(src), bool)
    fit, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0)
    if fit is None:
        return None, np.zeros(len(src), bool)
    return np.asarray(fit), inliers.ravel().astype(bool)


def object_motion(
    mask: np.ndarray, flow: np.ndarray, previous: np.ndarray | None = None, samples: int = 4000
) -> np.ndarray | None:
    """``float64 (2, 3)`` similarity transform taking ``mask`` (previous frame) to the current
    frame, fitted with RANSAC to ``flow`` (previous -> current displacements) on the mask's
    interior; None when the mask is too small or no fit exists.

    An occluder crossing the object (a tree trunk passing in front of it) brings a second
    motion into the mask, and once it covers most of the object, RANSAC follows the occluder.
    So a second motion is fitted to the outliers, and of the two, the one whose displacement
    of the mask centre is closer to the ``previous`` step's is kept. When even that one is a
    minority motion far from the ``previous`` step, the object is taken as hidden and the
    ``previous`` motion carries on (it keeps its momentum). A single motion shared by the
    whole mask is always followed: flow cannot tell an object that stops from one hidden
    behind a static occluder, and stopping is the commoner case.
    """
    area = int(np.count_nonzero(mask))
    if area < 16:
        return None
    r = int(np.clip(0.05 * np.sqrt(area), 1, 6))
    interior = cv2.erode(mask.view(np.uint8), _disc(r)).astype(bool)
    if np.count_nonzero(interior) < 16:
        interior = mask
    ys, xs = np.nonzero(interior)
    # An even subsample (deterministic), enough for a stable fit at any resolution.
    pick = np.linspace(0, xs.size - 1, min(samples, xs.size)).astype(np.intp)
    xs, ys = xs[pick], ys[pick]
    src = np.stack([xs, ys], 1).astype(np.float32)
    dst = src + flow[ys, xs]
    first, inliers = _fit(src, dst)
    if first is None or previous is None:
        return first
    centre = np.array([xs.mean(), ys.mean(), 1.0])

    def shift(t: np.ndarray) -> np.ndarray:
        return np.asarray(t @ centre - centre[:2])

    expected = shift(previous)
    candidates = [(first, float(inliers.mean()))]
    second, inliers2 = _fit(src[~inliers], dst[~inliers])
    if second is not None and inliers2.sum() >= 0.15 * len(src):
        candidates.append((second, float(inliers2.sum()) / len(src)))
    best, support = min(candidates, key=lambda c: float(np.linalg.norm(shift(c[0]) - expected)))
    tolerance = max(3.0, 0.5 * float(np.linalg.norm(expected)))
    if support < 0.5 and float(np.linalg.norm(shift(best) - expected)) > tolerance:
        return previous
    return best


def move_mask(mask: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """``mask`` moved by a ``(2, 3)`` transform (pixels outside the frame are dropped)."""
    h, w = mask.shape
    out = cv2.warpAffine(mask.view(np.uint8), transform, (w, h), flags=cv2.INTER_NEAREST)
    return np.asarray(out, dtype=bool)


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

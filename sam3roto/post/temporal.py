"""Temporal matte work with optical flow: motion-compensated smoothing, motion blur along
the motion vector, and a flicker measure.

Mattes are ``float32 (H, W)`` in [0, 1]; images ``float32 (H, W, 3)``; flows
``float32 (H, W, 2)`` in pixels. A flow "from A to B" gives, for each pixel of A, its
displacement into B.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from sam3roto.post.checks import check_matte, check_range, check_rgb, check_same_size, to_float_rgb
from sam3roto.post.flow import flow_between, warp_by_flow
from sam3roto.post.roi import Roi, matte_roi

#: Flow for mattes runs on the object's region scaled to at most this many pixels a side.
FLOW_MAX_SIDE_PX = 640
#: Colour difference (mean over RGB, [0, 1] units) at which a warped neighbour is trusted
#: e^-1 as much as a perfect match: larger differences mean occlusion or a bad flow.
CONSISTENCY_SIGMA = 0.05


def _union_roi(mattes: Sequence[np.ndarray], margin_px: int) -> Roi | None:
    roi: Roi | None = None
    for m in mattes:
        box = matte_roi(m, margin_px)
        if box is not None:
            roi = box.union(roi)
    return roi


def _consistency(image: np.ndarray, warped: np.ndarray) -> np.ndarray:
    diff = np.abs(image - warped).mean(axis=2)
    return np.exp(-((diff / np.float32(CONSISTENCY_SIGMA)) ** 2)).astype(np.float32)


def temporal_smooth(
    matte: np.ndarray,
    image: np.ndarray,
    neighbours: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    strength: float,
    flows: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Average ``matte`` with its neighbouring frames' mattes, each first moved onto this
    frame by optical flow, so a moving edge does not ghost.

    ``neighbours`` are ``(matte, image)`` pairs of nearby frames (usually the previous and
    the next). Images are ``(H, W, 3)`` of any dtype :func:`to_float_rgb` takes; only the
    objects' region is converted. Each warped neighbour is weighted by ``strength`` (0 = off, 1 = as much as
    this frame) times how well its warped image matches this one, so occlusions and flow
    failures fall back to this frame's own matte. ``flows`` (this frame to each neighbour)
    may be given; otherwise DIS flow is computed on the objects' region.
    """
    check_matte(matte)
    check_same_size(matte, "matte", image, "image")
    check_range("strength", strength, 0.0, 1.0)
    if flows is not None and len(flows) != len(neighbours):
        raise ValueError(f"flows has {len(flows)} entries for {len(neighbours)} neighbours")
    for i, (m, img) in enumerate(neighbours):
        check_matte(m, f"neighbours[{i}] matte")
        check_same_size(matte, "matte", m, f"neighbours[{i}] matte")
        check_same_size(matte, "matte", img, f"neighbours[{i}] image")
    if strength == 0 or not neighbours:
        return matte.copy()
    margin = max(16, round(0.03 * max(matte.shape)))
    roi = _union_roi([matte, *(m for m, _ in neighbours)], margin)
    if roi is None:
        return matte.copy()
    cur = matte[roi.slices]
    img = to_float_rgb(np.ascontiguousarray(image[roi.slices]), "image")
    total = cur.copy()
    weight = np.ones_like(cur)
    for i, (m, n_image) in enumerate(neighbours):
        n_img = to_float_rgb(np.ascontiguousarray(n_image[roi.slices]), f"neighbours[{i}] image")
        if flows is not None:
            flow = flows[i][roi.slices]
        else:
            flow = flow_between(img, n_img, max_side_px=FLOW_MAX_SIDE_PX)
        warped = warp_by_flow(np.ascontiguousarray(m[roi.slices]), flow)
        conf = np.float32(strength) * _consistency(img, warp_by_flow(n_img, flow))
        total += conf * warped
        weight += conf
    out = matte.copy()
    out[roi.slices] = np.clip(total / weight, 0.0, 1.0)
    return out


def motion_blur(matte: np.ndarray, velocity: np.ndarray, *, shutter: float = 0.5, max_samples: int = 32) -> np.ndarray:
    """Blur ``matte`` along each pixel's motion, as a camera with an open shutter would.

    ``velocity`` (``float32 (H, W, 2)``) is the motion in px per frame at each pixel (for
    example minus the flow from this frame to the previous one). ``shutter`` is the open
    fraction of a frame (0.5 = a 180 degree shutter), centred on the frame. The matte is
    sampled along the segment ``p + t * velocity``, ``t`` in ``[-shutter/2, shutter/2]``,
    with one sample per pixel of travel (at most ``max_samples``).
    """
    check_matte(matte)
    if not isinstance(velocity, np.ndarray) or velocity.shape != (*matte.shape, 2):
        got = getattr(velocity, "shape", None)
        raise ValueError(f"velocity must be (H, W, 2) matching the matte {matte.shape}, got {got}")
    check_range("shutter", shutter, 0.0, 2.0)
    check_range("max_samples", max_samples, 2, 256, integer=True)
    if shutter == 0:
        return matte.copy()
    vel = velocity.astype(np.float32, copy=False)
    reach = float(np.abs(vel).max()) * shutter / 2.0 if vel.size else 0.0
    if reach < 0.25:
        return matte.copy()
    roi = matte_roi(matte, math.ceil(reach) + 2)
    if roi is None:
        return matte.copy()
    crop = np.ascontiguousarray(matte[roi.slices])
    v = vel[roi.slices]
    n = int(min(max_samples, max(2, math.ceil(2 * reach) + 1)))
    h, w = crop.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    acc = np.zeros_like(crop)
    for t in np.linspace(-shutter / 2.0, shutter / 2.0, n, dtype=np.float32):
        acc += cv2.remap(crop, gx + t * v[..., 0], gy + t * v[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    out = matte.copy()
    out[roi.slices] = acc / np.float32(n)
    return out


def unexplained_change(
    matte: np.ndarray, image: np.ndarray, prev_matte: np.ndarray, prev_image: np.ndarray
) -> float:
    """Flicker between two frames: the change of the matte that motion does not explain.

    The previous matte is warped onto this frame with optical flow; the absolute
    difference is counted where the warped previous image matches this one (so occlusions
    and flow failures do not count), and divided by the matte's area. 0 for a matte that
    only moves with the image.
    """
    check_matte(matte)
    check_matte(prev_matte, "prev_matte")
    check_rgb(image)
    check_rgb(prev_image, "prev_image")
    margin = max(16, round(0.03 * max(matte.shape)))
    roi = _union_roi([matte, prev_matte], margin)
    if roi is None:
        return 0.0
    img = image[roi.slices]
    flow = flow_between(img, prev_image[roi.slices], max_side_px=FLOW_MAX_SIDE_PX)
    warped = warp_by_flow(np.ascontiguousarray(prev_matte[roi.slices]), flow)
    conf = _consistency(img, warp_by_flow(np.ascontiguousarray(prev_image[roi.slices]), flow))
    area = max(1.0, float(matte.sum()))
    return float((np.abs(matte[roi.slices] - warped) * conf).sum()) / area

"""Dense optical flow and flow warping, shared by tracking and temporal matte work.

Flow fields are ``float32 (h, w, 2)`` in pixels, ``(dx, dy)``.
"""

from __future__ import annotations

import cv2
import numpy as np


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """``uint8 (h, w)`` luma of an RGB image (``uint8``, or float in [0, 1])."""
    if rgb.dtype != np.uint8:
        rgb = (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def dense_flow(dis: cv2.DISOpticalFlow, gray_from: np.ndarray, gray_to: np.ndarray) -> np.ndarray:
    """``float32 (h, w, 2)``: for each pixel of ``gray_from``, its displacement into ``gray_to``."""
    return np.asarray(dis.calc(gray_from, gray_to, None))  # type: ignore[call-overload]


def warp_by_flow(values: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Pull ``values`` (``float32 (h, w)`` or ``(h, w, c)``) along ``flow`` (target -> source
    displacements): ``out[p] = values[p + flow[p]]``, zero outside the frame."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(values, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def flow_between(image_from: np.ndarray, image_to: np.ndarray, *, max_side_px: int = 960) -> np.ndarray:
    """``float32 (h, w, 2)`` flow from ``image_from`` to ``image_to`` (RGB, same size).

    DIS runs on a copy scaled so its longer side is at most ``max_side_px`` (flow at 4K costs
    16x more and mattes do not need sub-pixel motion of fine texture); the field is scaled
    back to full size.
    """
    if image_from.shape[:2] != image_to.shape[:2]:
        raise ValueError(f"flow needs images of one size, got {image_from.shape[:2]} and {image_to.shape[:2]}")
    h, w = image_from.shape[:2]
    scale = min(1.0, max_side_px / max(h, w))
    a, b = to_gray(image_from), to_gray(image_to)
    if scale < 1.0:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dense_flow(dis, a, b)
    if scale < 1.0:
        sx, sy = w / flow.shape[1], h / flow.shape[0]
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= sx
        flow[..., 1] *= sy
    return flow.astype(np.float32, copy=False)

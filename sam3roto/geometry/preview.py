"""False-colour previews of depth and normals for the viewer (display only, 8-bit RGB)."""

from __future__ import annotations

import cv2
import numpy as np

from sam3roto.geometry.normals import encode_normals


def depth_range(depth: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """Robust ``(near, far)`` of the valid depth: the given percentiles (outliers such as
    sky or flying pixels do not squash the rest). ``(0, 1)`` when nothing is valid."""
    valid = depth[np.isfinite(depth) & (depth > 0)]
    if valid.size == 0:
        return 0.0, 1.0
    near, far = np.percentile(valid, [low, high])
    return float(near), float(max(far, near + 1e-6))


def depth_preview(depth: np.ndarray, near: float | None = None, far: float | None = None) -> np.ndarray:
    """``uint8 (H, W, 3)`` RGB: inverse depth between ``near`` and ``far`` (auto when None)
    in the Turbo colour map, near warm, far cool; unknown depth black."""
    if near is None or far is None:
        near, far = depth_range(depth)
    valid = np.isfinite(depth) & (depth > 0)
    inv = np.zeros(depth.shape, np.float32)
    np.divide(1.0, depth, out=inv, where=valid)
    lo, hi = 1.0 / max(far, 1e-12), 1.0 / max(near, 1e-12)
    t = np.clip((inv - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    bgr = cv2.applyColorMap((t * 255.0 + 0.5).astype(np.uint8), cv2.COLORMAP_TURBO)
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    rgb[~valid] = 0
    return rgb


def normals_preview(normals_gl: np.ndarray) -> np.ndarray:
    """``uint8 (H, W, 3)`` RGB of GL-frame normals as ``0.5 + 0.5 n`` (the usual lilac)."""
    return (encode_normals(normals_gl) * 255.0 + 0.5).astype(np.uint8)

"""Surface normals from a depth map and the camera intrinsics.

Normals are unit vectors in camera space and face the camera. :func:`normals_from_depth`
returns them in the OpenCV camera frame (+X right, +Y down, +Z forward, so a wall facing
the camera is ``(0, 0, -1)``); :func:`to_gl` turns them into the GL camera frame (+X
right, +Y up, +Z toward the viewer, a right-handed frame: the wall is ``(0, 0, 1)``), the
convention of Blender's and Nuke's camera-space normal passes and of the exports.
Pixels without valid depth, or on a depth edge steeper than ``max_slope``, get ``(0, 0, 0)``.
"""

from __future__ import annotations

import numpy as np

from sam3roto.geometry.pointcloud import backproject


def normals_from_depth(depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """``float32 (H, W, 3)`` unit normals, OpenCV camera frame, facing the camera.

    ``depth``: ``float32 (H, W)`` distance along the optical axis (0 or non-finite =
    unknown). ``intrinsics``: ``(3, 3)`` in pixels of this image. Central differences of
    the back-projected points; one-sided at the borders.
    """
    points = backproject(depth, intrinsics)
    du = np.gradient(points, axis=1)
    dv = np.gradient(points, axis=0)
    n = np.cross(du, dv)
    # cross(du, dv) points away from the camera for a surface seen from the front
    n = -n
    norm = np.linalg.norm(n, axis=2, keepdims=True)
    valid = np.isfinite(depth) & (depth > 0)
    # a neighbour without depth spoils the differences: mark those pixels unknown too
    ok = valid.copy()
    ok[1:, :] &= valid[:-1, :]
    ok[:-1, :] &= valid[1:, :]
    ok[:, 1:] &= valid[:, :-1]
    ok[:, :-1] &= valid[:, 1:]
    ok &= (norm[..., 0] > 0) & np.isfinite(norm[..., 0])
    out = np.zeros_like(n, dtype=np.float32)
    np.divide(n, norm, out=out, where=ok[..., None])
    # a surface seen edge-on can flip under noise; keep every normal on the camera side
    flip = np.einsum("hwc,hwc->hw", out, points) > 0
    out[flip] *= -1.0
    return out


def to_gl(normals: np.ndarray) -> np.ndarray:
    """OpenCV camera-frame normals ``(..., 3)`` in the GL camera frame (Y and Z negated)."""
    return normals * np.array([1.0, -1.0, -1.0], dtype=normals.dtype)


def encode_normals(normals: np.ndarray) -> np.ndarray:
    """``float32 (H, W, 3)`` in [0, 1]: ``0.5 + 0.5 * n`` (unknown pixels become 0.5 grey)."""
    return np.clip(0.5 + 0.5 * normals, 0.0, 1.0).astype(np.float32)

"""Camera conventions: OpenCV world-to-camera (DA3) to the Y-up, -Z-looking cameras of
Nuke and Blender, Euler angles for Nuke's ``.chan``, and field of view.

The "GL" world used for every 3-D export (``.chan``, PLY, Blender) is the OpenCV world
turned upside right: ``X_gl = (x, -y, -z)`` of the OpenCV world, so the first frame's
camera sits at the origin looking down ``-Z`` with ``+Y`` up, as Nuke and Blender expect
(Blender's script adds the Y-up to Z-up turn itself).
"""

from __future__ import annotations

import math

import numpy as np

#: Flips Y and Z: OpenCV camera/world axes <-> GL camera/world axes.
FLIP_YZ = np.diag([1.0, -1.0, -1.0])

#: Nuke's default camera rotation order; the matrix is ``Ry @ Rx @ Rz`` (Z applied first).
CHAN_ROTATION_ORDER = "ZXY"


def check_extrinsics(w2c: np.ndarray) -> np.ndarray:
    """``w2c`` as ``float64 (..., 4, 4)`` after checking shape and finiteness."""
    m = np.asarray(w2c, dtype=np.float64)
    if m.shape[-2:] != (4, 4):
        raise ValueError(f"extrinsics must be 4x4 matrices, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("extrinsics hold NaN or infinite values")
    return m


def invert_rigid(m: np.ndarray) -> np.ndarray:
    """The inverse of rigid (or similarity-free) ``4x4`` transforms ``(..., 4, 4)``."""
    r = m[..., :3, :3]
    t = m[..., :3, 3]
    out = np.zeros_like(m)
    rt = np.swapaxes(r, -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rt, t)
    out[..., 3, 3] = 1.0
    return out


def camera_to_world_gl(w2c: np.ndarray) -> np.ndarray:
    """OpenCV world-to-camera ``(..., 4, 4)`` -> camera-to-world ``(..., 4, 4)`` of a
    Y-up camera looking down -Z, in the GL world (see the module docstring)."""
    c2w = invert_rigid(check_extrinsics(w2c))
    out = c2w.copy()
    out[..., :3, :3] = FLIP_YZ @ c2w[..., :3, :3] @ FLIP_YZ
    out[..., :3, 3] = c2w[..., :3, 3] @ FLIP_YZ
    return out


def points_to_gl(xyz: np.ndarray) -> np.ndarray:
    """OpenCV-world points ``(N, 3)`` in the GL world (Y and Z negated)."""
    return np.asarray(xyz) * np.array([1.0, -1.0, -1.0], dtype=np.asarray(xyz).dtype)


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def euler_zxy_degrees(r: np.ndarray) -> tuple[float, float, float]:
    """``(rx, ry, rz)`` in degrees with ``r == Ry @ Rx @ Rz`` (Nuke's ZXY order)."""
    sx = float(np.clip(-r[1, 2], -1.0, 1.0))
    rx = math.asin(sx)
    if abs(sx) < 1.0 - 1e-9:
        ry = math.atan2(r[0, 2], r[2, 2])
        rz = math.atan2(r[1, 0], r[1, 1])
    else:  # gimbal lock: only ry +- rz is defined; put it all in ry
        ry = math.atan2(-r[2, 0], r[0, 0])
        rz = 0.0
    return math.degrees(rx), math.degrees(ry), math.degrees(rz)


def rotation_zxy(rx: float, ry: float, rz: float) -> np.ndarray:
    """The rotation matrix of Nuke ZXY Euler angles in degrees (inverse of
    :func:`euler_zxy_degrees`)."""
    return _rot_y(math.radians(ry)) @ _rot_x(math.radians(rx)) @ _rot_z(math.radians(rz))


def vertical_fov_degrees(intrinsics: np.ndarray, height: int) -> float:
    """Vertical field of view of a pinhole with ``intrinsics`` (pixels) and image ``height``."""
    fy = float(intrinsics[1, 1])
    if not math.isfinite(fy) or fy <= 0:
        raise ValueError(f"the focal length fy must be a positive number, got {fy}")
    return math.degrees(2.0 * math.atan(height / (2.0 * fy)))


def chan_line(number: int, w2c: np.ndarray, intrinsics: np.ndarray, height: int) -> str:
    """One ``.chan`` line: ``frame tx ty tz rx ry rz vfov`` (degrees, ZXY, GL world)."""
    c2w = camera_to_world_gl(w2c)
    rx, ry, rz = euler_zxy_degrees(c2w[:3, :3])
    tx, ty, tz = c2w[:3, 3]
    vfov = vertical_fov_degrees(intrinsics, height)
    return f"{number} {tx:.6f} {ty:.6f} {tz:.6f} {rx:.6f} {ry:.6f} {rz:.6f} {vfov:.6f}"

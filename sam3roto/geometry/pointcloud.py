"""Point clouds from depth, intrinsics and extrinsics.

Points are in the OpenCV world of the extrinsics (the depth run's world, the first frame's
camera at the origin); :func:`sam3roto.geometry.camera.points_to_gl` turns them into the
Y-up world of the 3-D exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Keep = Literal["all", "object", "background"]
KEEP_CHOICES: tuple[Keep, ...] = ("all", "object", "background")


def backproject(depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """``float32 (H, W, 3)`` camera-space points (OpenCV frame) of every pixel centre:
    ``depth * K^-1 [u + 0.5, v + 0.5, 1]`` (the continuous pixel convention)."""
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {depth.shape}")
    k = np.asarray(intrinsics, dtype=np.float64)
    if k.shape != (3, 3) or not np.isfinite(k).all() or k[0, 0] <= 0 or k[1, 1] <= 0:
        raise ValueError(f"intrinsics must be a finite 3x3 matrix with positive focal lengths, got {k.tolist()}")
    h, w = depth.shape
    fx, fy, cx, cy, skew = k[0, 0], k[1, 1], k[0, 2], k[1, 2], k[0, 1]
    v = (np.arange(h, dtype=np.float64) + 0.5 - cy) / fy
    u = (np.arange(w, dtype=np.float64)[None, :] + 0.5 - cx - skew * v[:, None]) / fx
    z = depth.astype(np.float32)
    out = np.empty((h, w, 3), dtype=np.float32)
    out[..., 0] = z * u.astype(np.float32)
    out[..., 1] = z * v.astype(np.float32)[:, None]
    out[..., 2] = z
    return out


@dataclass
class PointSet:
    """Points with colours and confidence: ``xyz float32 (N, 3)``, ``rgb uint8 (N, 3)``,
    ``confidence float32 (N,)``."""

    xyz: np.ndarray
    rgb: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    @staticmethod
    def empty() -> PointSet:
        return PointSet(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8), np.zeros((0,), np.float32))

    @staticmethod
    def concatenate(parts: list[PointSet]) -> PointSet:
        if not parts:
            return PointSet.empty()
        return PointSet(np.concatenate([p.xyz for p in parts]), np.concatenate([p.rgb for p in parts]),
                        np.concatenate([p.confidence for p in parts]))

    def limit(self, max_points: int, seed: int = 0) -> PointSet:
        """At most ``max_points`` points, an evenly random (seeded, repeatable) subset."""
        if len(self) <= max_points:
            return self
        keep = np.sort(np.random.default_rng(seed).choice(len(self), size=max_points, replace=False))
        return PointSet(self.xyz[keep], self.rgb[keep], self.confidence[keep])


def frame_points(
    depth: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    *,
    rgb: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    min_confidence: float = 0.0,
    stride: int = 1,
    matte: np.ndarray | None = None,
    keep: Keep = "all",
) -> PointSet:
    """The world points of one frame.

    ``depth`` ``float32 (H, W)``; ``intrinsics`` ``(3, 3)``; ``extrinsics`` world-to-camera
    ``(4, 4)``; ``rgb`` ``uint8 (H, W, 3)`` (grey when absent); ``confidence`` ``(H, W)``,
    pixels below ``min_confidence`` dropped; every ``stride``-th pixel in x and y;
    ``matte`` ``(H, W)`` in [0, 1] with ``keep="object"`` (matte > 0.5) or
    ``"background"`` (matte <= 0.5). Pixels without valid depth are always dropped.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if keep not in KEEP_CHOICES:
        raise ValueError(f"keep must be one of {', '.join(KEEP_CHOICES)}, got {keep!r}")
    if keep != "all" and matte is None:
        raise ValueError(f"keep={keep!r} needs an object matte")
    h, w = depth.shape
    for name, arr in (("rgb", rgb), ("confidence", confidence), ("matte", matte)):
        if arr is not None and arr.shape[:2] != (h, w):
            raise ValueError(f"{name} is {arr.shape[1]}x{arr.shape[0]} but the depth is {w}x{h}")
    sl = (slice(None, None, stride), slice(None, None, stride))
    d = depth[sl]
    ok = np.isfinite(d) & (d > 0)
    conf = confidence[sl] if confidence is not None else np.ones_like(d, dtype=np.float32)
    ok &= conf >= min_confidence
    if matte is not None and keep != "all":
        inside = matte[sl] > 0.5
        ok &= inside if keep == "object" else ~inside
    cam = backproject(depth, intrinsics)[sl][ok].astype(np.float64)
    w2c = np.asarray(extrinsics, dtype=np.float64)
    r, t = w2c[:3, :3], w2c[:3, 3]
    world = (cam - t) @ r  # R^T (x - t) for row vectors
    colours = rgb[sl][ok] if rgb is not None else np.full((int(ok.sum()), 3), 128, np.uint8)
    return PointSet(world.astype(np.float32), np.ascontiguousarray(colours, dtype=np.uint8),
                    conf[ok].astype(np.float32))

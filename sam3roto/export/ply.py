"""``ply``: one global point cloud for the render, ``pointcloud/NAME_points.ply``.

Binary little-endian PLY written with plyfile: ``x y z`` float32 in the Y-up GL world of
the other 3-D outputs (:mod:`sam3roto.geometry.camera`), ``red green blue`` uchar from the
plate, ``confidence`` float32. Every ``ply_stride``-th pixel of every frame whose
confidence is at least ``ply_min_confidence``; with ``ply_keep`` ``object`` or
``background`` only pixels inside (or outside) the combined matte of the chosen objects.
Each frame contributes at most ``ply_max_points / frames`` points (a seeded random subset),
so memory stays bounded and the file is repeatable.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from sam3roto.core.pixels import to_uint8
from sam3roto.errors import Hint, Sam3RotoError
from sam3roto.export.base import DepthPlan, Exporter, ExporterInfo, FrameOutput, RenderPlan, write_atomic
from sam3roto.geometry.camera import points_to_gl
from sam3roto.geometry.pointcloud import PointSet, frame_points


def write_ply(path: Path, points: PointSet) -> None:
    """Write ``points`` as binary PLY (``x y z red green blue confidence``) atomically."""
    from plyfile import PlyData, PlyElement

    vertex = np.empty(len(points), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"),
                                          ("green", "u1"), ("blue", "u1"), ("confidence", "<f4")])
    for i, axis in enumerate("xyz"):
        vertex[axis] = points.xyz[:, i]
    for i, channel in enumerate(("red", "green", "blue")):
        vertex[channel] = points.rgb[:, i]
    vertex["confidence"] = points.confidence
    buf = io.BytesIO()
    PlyData([PlyElement.describe(vertex, "vertex")], text=False, byte_order="<",
            comments=["sam3roto point cloud: Y-up GL world (first frame's camera at the origin, looking down -Z)"]
            ).write(buf)
    write_atomic(path, buf.getvalue())


class PointCloud(Exporter):
    info = ExporterInfo("ply", ".ply", "one point cloud for the shot (binary PLY: xyz, colour, confidence)",
                        alpha=False, bit_depths=(), kind="archive", per_object=False, parallel=False, depth=True)

    def __init__(self, folder: Path, plan: RenderPlan) -> None:
        super().__init__(folder, plan)
        if plan.depth is None:
            raise ValueError("the ply output needs the render's depth plan")
        self.settings: DepthPlan = plan.depth
        self.quota = max(1, math.ceil(self.settings.ply_max_points / max(1, len(plan.numbers))))
        self.parts: list[PointSet] = []

    def write(self, frame: FrameOutput) -> None:
        s = self.settings
        d = frame.depth_frame()
        matte = self.combined(frame).astype(np.float32) if s.ply_keep != "all" else None
        pts = frame_points(d.depth, d.intrinsics, d.extrinsics, rgb=to_uint8(frame.image),
                           confidence=d.confidence, min_confidence=s.ply_min_confidence, stride=s.ply_stride,
                           matte=matte, keep=s.ply_keep)  # type: ignore[arg-type]  # checked by RenderOptions
        pts = pts.limit(self.quota, seed=frame.index)
        self.parts.append(PointSet(points_to_gl(pts.xyz), pts.rgb, pts.confidence))

    def finish(self) -> None:
        cloud = PointSet.concatenate(self.parts)
        self.parts = []
        if len(cloud) == 0:
            s = self.settings
            raise Sam3RotoError(
                f"the point cloud is empty: no pixel has valid depth with confidence >= {s.ply_min_confidence}"
                + (f" {'inside' if s.ply_keep == 'object' else 'outside'} the objects' matte"
                   if s.ply_keep != "all" else ""),
                hint=Hint(cli="lower --ply-min-confidence, or use --ply-keep all",
                          window='lower the Export tab\'s "Minimum confidence", or choose all in its "Point cloud '
                          'keeps"'))
        path = self.folder / "pointcloud" / f"{self.plan.name}_points.ply"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_ply(path, cloud)
        self.files.append(path)

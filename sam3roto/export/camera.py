"""Camera outputs, one file each for the whole render (frames arrive in order).

* ``camera-npz``: ``camera/NAME_camera.npz`` with ``intrinsics (N, 3, 3)`` (pixels of the
  source size), ``extrinsics (N, 4, 4)`` world-to-camera in OpenCV axes, ``image_size``
  ``(width, height)``, ``frame_numbers``, ``frame_indices``, ``is_metric`` and a
  ``convention`` string saying all that.
* ``chan``: ``camera/NAME_camera_ZXY.chan`` for Nuke (and Blender's chan importer): one
  line per frame ``frame tx ty tz rx ry rz vfov``; camera-to-world in the Y-up GL world
  (see :mod:`sam3roto.geometry.camera`), Euler degrees in rotation order ZXY (Nuke's
  default; the order is in the file name), vertical field of view in degrees.
* ``blender``: ``camera/NAME_blender.py``, see :mod:`sam3roto.export.blender`.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sam3roto.export.base import Exporter, ExporterInfo, FrameOutput, RenderPlan, write_atomic
from sam3roto.export.maskzip import add_member
from sam3roto.geometry.camera import CHAN_ROTATION_ORDER, chan_line

CONVENTION = ("extrinsics: world-to-camera 4x4, OpenCV axes (+X right, +Y down, +Z forward), world = the first "
              "frame's camera; intrinsics: pixels of image_size, principal point in continuous coordinates "
              "(image centre = size / 2)")


@dataclass
class CameraSample:
    number: int
    index: int
    intrinsics: np.ndarray
    extrinsics: np.ndarray


class _CameraPath(Exporter):
    """Collects every frame's camera; subclasses write them in :meth:`finish`."""

    def __init__(self, folder: Path, plan: RenderPlan) -> None:
        super().__init__(folder, plan)
        self.samples: list[CameraSample] = []

    def write(self, frame: FrameOutput) -> None:
        d = frame.depth_frame()
        self.samples.append(CameraSample(frame.number, frame.index, d.intrinsics, d.extrinsics))

    def target(self, file_name: str) -> Path:
        where = self.folder / "camera"
        where.mkdir(parents=True, exist_ok=True)
        return where / file_name


class CameraNpz(_CameraPath):
    info = ExporterInfo("camera-npz", ".npz", "camera path as NumPy NPZ (intrinsics, world-to-camera extrinsics)",
                        alpha=False, bit_depths=(), kind="archive", per_object=False, parallel=False,
                        depth=True, camera=True)

    def finish(self) -> None:
        d = self.plan.depth
        arrays = dict(
            intrinsics=np.array([s.intrinsics for s in self.samples], dtype=np.float64).reshape(-1, 3, 3),
            extrinsics=np.array([s.extrinsics for s in self.samples], dtype=np.float64).reshape(-1, 4, 4),
            image_size=np.array([self.plan.width, self.plan.height], dtype=np.int64),
            frame_numbers=np.array([s.number for s in self.samples], dtype=np.int64),
            frame_indices=np.array([s.index for s in self.samples], dtype=np.int64),
            is_metric=np.array(bool(d and d.is_metric)),
            convention=np.array(CONVENTION),
        )
        buf = io.BytesIO()
        # an .npz is a ZIP of .npy files; written with fixed member times so renders repeat exactly
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
            for key, value in arrays.items():
                member = io.BytesIO()
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
                add_member(archive, f"{key}.npy", member.getvalue())
        path = self.target(f"{self.plan.name}_camera.npz")
        write_atomic(path, buf.getvalue())
        self.files.append(path)


class Chan(_CameraPath):
    info = ExporterInfo("chan", ".chan", "camera path for Nuke (.chan: frame tx ty tz rx ry rz vfov, ZXY degrees)",
                        alpha=False, bit_depths=(), kind="archive", per_object=False, parallel=False,
                        depth=True, camera=True)

    def finish(self) -> None:
        lines = [chan_line(s.number, s.extrinsics, s.intrinsics, self.plan.height) for s in self.samples]
        path = self.target(f"{self.plan.name}_camera_{CHAN_ROTATION_ORDER}.chan")
        write_atomic(path, ("\n".join(lines) + "\n").encode())
        self.files.append(path)

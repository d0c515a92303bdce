"""Depth and normals sequences.

* ``depth-png16``: ``depth/NAME_depth.####.png``, 16-bit grey, linear code values (no
  gamma). ``inverse`` encoding (the default, what ZDefocus-style tools read as ``1/z``):
  ``v = (1/d - 1/far) / (1/near - 1/far)``; ``depth`` encoding: ``v = (d - near) / (far -
  near)``; ``v`` in [0, 1] maps to 0..65535, values outside the range are clipped, unknown
  depth is 0. The shot-wide ``near``/``far`` and the formula are in the sidecar
  ``depth/NAME_depth.json``.
* ``depth-exr``: ``depth/NAME_depth.####.exr``, float32 ``Z`` (depth along the optical
  axis, 0 = unknown) and half ``confidence``: lossless.
* ``normals-png``: ``normals/NAME_normals.####.png``, 16-bit RGB ``0.5 + 0.5 n``.
* ``normals-exr``: ``normals/NAME_normals.####.exr``, half ``N.R N.G N.B`` = ``n``.
Normals are unit vectors in the GL camera frame (+X right, +Y up, +Z toward the viewer);
unknown pixels are ``(0, 0, 0)`` (grey in the PNG).
"""

from __future__ import annotations

import json

import numpy as np

from sam3roto.export.base import DepthPlan, Exporter, ExporterInfo, FrameOutput, to_uint, write_atomic
from sam3roto.export.exr import write_exr
from sam3roto.export.png import encode_png
from sam3roto.geometry.normals import encode_normals

DEPTH_ENCODINGS = ("inverse", "depth")
NORMALS_FRAME = "camera space, GL axes: +X right, +Y up, +Z toward the viewer (right-handed); unit vectors"


def encode_depth(depth: np.ndarray, near: float, far: float, encoding: str) -> np.ndarray:
    """``float32 (H, W)`` in [0, 1] from depth (see the module docstring); unknown -> 0."""
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth encoding must be one of {', '.join(DEPTH_ENCODINGS)}, got {encoding!r}")
    if not (0 < near < far) or not np.isfinite(far):
        raise ValueError(f"the depth range must satisfy 0 < near < far, got near={near}, far={far}")
    valid = np.isfinite(depth) & (depth > 0)
    out = np.zeros(depth.shape, dtype=np.float32)
    if encoding == "inverse":
        inv = np.zeros(depth.shape, dtype=np.float64)
        np.divide(1.0, depth, out=inv, where=valid)
        v = (inv - 1.0 / far) / (1.0 / near - 1.0 / far)
    else:
        v = (depth.astype(np.float64) - near) / (far - near)
    out[valid] = np.clip(v[valid], 0.0, 1.0)
    return out


def decode_depth(values: np.ndarray, near: float, far: float, encoding: str) -> np.ndarray:
    """Depth from 16-bit code values written by ``depth-png16`` (0 -> unknown, as 0)."""
    v = values.astype(np.float64) / 65535.0
    out = np.zeros(values.shape, dtype=np.float64)
    known = values > 0
    if encoding == "inverse":
        inv = v * (1.0 / near - 1.0 / far) + 1.0 / far
        out[known] = 1.0 / inv[known]
    else:
        out[known] = near + v[known] * (far - near)
    return out


def _depth_plan(exporter: Exporter) -> DepthPlan:
    if exporter.plan.depth is None:
        raise ValueError(f"output {exporter.info.id} needs the render's depth plan")
    return exporter.plan.depth


class DepthPng16(Exporter):
    info = ExporterInfo("depth-png16", ".png", "depth as 16-bit PNG (linear, inverse or plain) + JSON range sidecar",
                        alpha=False, bit_depths=(16,), kind="sequence", per_object=False, parallel=True, depth=True)

    def write(self, frame: FrameOutput) -> None:
        d = _depth_plan(self)
        values = encode_depth(frame.depth_frame().depth, d.near, d.far, d.encoding)
        path = self.frame_path("depth", f"{self.plan.name}_depth", frame.number)
        encode_png(path, to_uint(values, 16))
        self.files.append(path)

    def finish(self) -> None:
        d = _depth_plan(self)
        formula = ("v = (1/d - 1/far) / (1/near - 1/far)" if d.encoding == "inverse"
                   else "v = (d - near) / (far - near)")
        sidecar = {
            "values": "inverse_depth" if d.encoding == "inverse" else "depth",
            "near": d.near, "far": d.far,
            "units": "metres" if d.is_metric else "relative (one scale for the whole shot)",
            "formula": formula + "; code = round(v * 65535), clipped to [0, 65535]",
            "unknown": "code 0",
            "transfer": "linear code values, no gamma",
            "depth": "distance along the optical axis (z), not along the ray",
            "preset": d.preset,
        }
        path = self.folder / "depth" / f"{self.plan.name}_depth.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, (json.dumps(sidecar, indent=1) + "\n").encode())
        self.files.append(path)


class DepthExr(Exporter):
    info = ExporterInfo("depth-exr", ".exr", "depth as float32 EXR (Z) with half confidence, lossless",
                        alpha=False, bit_depths=(32,), kind="sequence", per_object=False, parallel=True, depth=True)

    def write(self, frame: FrameOutput) -> None:
        d = _depth_plan(self)
        f = frame.depth_frame()
        channels: dict[str, np.ndarray] = {"Z": f.depth.astype(np.float32),
                                           "confidence": f.confidence.astype(np.float16)}
        attributes = {"sam3roto_depth": "Z = distance along the optical axis, 0 = unknown; "
                      + ("metres" if d.is_metric else "relative units (one scale for the whole shot)")}
        path = self.frame_path("depth", f"{self.plan.name}_depth", frame.number)
        write_exr(path, channels, self.plan.exr_compression, attributes)
        self.files.append(path)


class NormalsPng(Exporter):
    info = ExporterInfo("normals-png", ".png", "camera-space normals as 16-bit PNG (0.5 + 0.5 n, GL axes)",
                        alpha=False, bit_depths=(16,), kind="sequence", per_object=False, parallel=True, depth=True)

    def write(self, frame: FrameOutput) -> None:
        path = self.frame_path("normals", f"{self.plan.name}_normals", frame.number)
        encode_png(path, to_uint(encode_normals(frame.normals_gl), 16))
        self.files.append(path)


class NormalsExr(Exporter):
    info = ExporterInfo("normals-exr", ".exr", "camera-space normals as half EXR (N.R N.G N.B, GL axes)",
                        alpha=False, bit_depths=(16,), kind="sequence", per_object=False, parallel=True, depth=True)

    def write(self, frame: FrameOutput) -> None:
        n = frame.normals_gl.astype(np.float16)
        channels = {f"N.{c}": np.ascontiguousarray(n[..., i]) for i, c in enumerate("RGB")}
        path = self.frame_path("normals", f"{self.plan.name}_normals", frame.number)
        write_exr(path, channels, self.plan.exr_compression, {"sam3roto_normals": NORMALS_FRAME})
        self.files.append(path)

"""The on-disk depth cache of a project: depth, confidence and camera of every frame that
has been through the depth job, at source resolution.

Layout (``NAME.depth/`` beside the project)::

    meta.json            preset, processing resolution, chunking, metric or relative, size
    frames/000042.npz    depth float32 (H, W), confidence float16 (H, W)
    cameras.npz          indices (N,), intrinsics (N, 3, 3), extrinsics (N, 4, 4) world-to-camera
                         (OpenCV), near/far (N,) robust depth range of each frame

Every file is written atomically (temp file + ``os.replace``), so a cancelled run keeps
the frames it finished and nothing half-written; temporary files of a killed run are
removed when the cache is next opened. Only the frame being used is in RAM.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sam3roto.core.atomic import disk_full, os_reason, remove_stale_temps, temp_for
from sam3roto.errors import RUN_DEPTH_HINT, ProjectError

_FRAME_RE = re.compile(r"^(\d{6,})\.npz$")


@dataclass(frozen=True)
class DepthFrame:
    """One frame from the cache. ``depth`` ``float32 (H, W)`` along the optical axis (0 =
    unknown), metres when ``is_metric`` else relative units; ``confidence`` ``float32 (H, W)``;
    ``intrinsics`` ``float64 (3, 3)`` pixels; ``extrinsics`` ``float64 (4, 4)`` OpenCV
    world-to-camera; ``has_camera`` false when the preset estimates no camera."""

    index: int
    depth: np.ndarray
    confidence: np.ndarray
    intrinsics: np.ndarray
    extrinsics: np.ndarray
    is_metric: bool
    has_camera: bool


def known_depth(depth: np.ndarray, near_is_large: bool = False) -> np.ndarray:
    """A copy of ``depth`` with unknown pixels (0, NaN) set to the far end (the largest
    depth, or 0 for inverse depth), so an Otsu foreground never picks them as near."""
    out = np.array(depth, dtype=np.float32, copy=True)
    unknown = ~(out > 0)
    out[unknown] = 0.0 if near_is_large else float(np.nanmax(out, initial=1.0))
    return out


def _atomic(target: Path, write: Any) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_for(target)
    except OSError as exc:
        raise _write_failed(target, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _write_failed(target, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_failed(target: Path, exc: OSError) -> ProjectError:
    return ProjectError(f"the depth cache cannot be written: {os_reason(exc)}", path=target,
                        hint="free space on that disk, then run depth again" if disk_full(exc) else None)


class DepthCache:
    """Per-frame depth and cameras under ``root`` (created on first write)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._cameras: dict[str, np.ndarray] | None = None
        self._meta: dict[str, Any] | None = None
        # the last frames read: a render reads each frame for post and for its outputs
        self._recent: OrderedDict[int, DepthFrame] = OrderedDict()
        for folder in (self.root, self.root / "frames"):  # what a killed depth run left
            remove_stale_temps(folder)

    # -- run description ------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """``meta.json`` as a dict (empty when the cache is empty)."""
        if self._meta is not None:
            return dict(self._meta)
        path = self.root / "meta.json"
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProjectError(f"depth cache description cannot be read ({exc})", path=path,
                               hint="delete the folder and run depth again") from None
        if not isinstance(data, dict):
            raise ProjectError("depth cache description is not a JSON object", path=path)
        self._meta = data
        return dict(data)

    def start(self, meta: dict[str, Any]) -> None:
        """Begin a run described by ``meta``: the cache is cleared first, because each run
        has its own world frame and scale and frames of two runs must never be mixed."""
        self.clear()
        payload = json.dumps(meta, indent=1).encode()
        _atomic(self.root / "meta.json", lambda fh: fh.write(payload))
        self._meta = dict(meta)

    def update_meta(self, **values: Any) -> None:
        """Add ``values`` to ``meta.json`` (what a run learns as it goes: metric, cameras)."""
        meta = self.meta()
        meta.update(values)
        payload = json.dumps(meta, indent=1).encode()
        _atomic(self.root / "meta.json", lambda fh: fh.write(payload))
        self._meta = meta

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self._cameras = None
        self._meta = None
        self._recent.clear()

    # -- frames ---------------------------------------------------------------------------
    def path(self, index: int) -> Path:
        if index < 0:
            raise ValueError(f"frame index must be >= 0, got {index}")
        return self.root / "frames" / f"{index:06d}.npz"

    def put(self, index: int, depth: np.ndarray, confidence: np.ndarray) -> None:
        """Store one frame's ``depth`` and ``confidence`` (``(H, W)`` each)."""
        if depth.ndim != 2 or confidence.shape != depth.shape:
            raise ValueError(f"depth and confidence must be (H, W) of one size, got {depth.shape} and "
                             f"{confidence.shape}")
        d = depth.astype(np.float32, copy=False)
        c = np.clip(confidence, 0.0, 65504.0).astype(np.float16)
        _atomic(self.path(index), lambda fh: np.savez(fh, depth=d, confidence=c))
        self._recent.pop(index, None)

    def frames(self) -> list[int]:
        """Frame indices with depth stored, ascending."""
        folder = self.root / "frames"
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _FRAME_RE.match(p.name)))

    # -- cameras --------------------------------------------------------------------------
    def put_cameras(self, indices: list[int], intrinsics: np.ndarray, extrinsics: np.ndarray,
                    near: np.ndarray, far: np.ndarray) -> None:
        """Add or replace the cameras and depth ranges of ``indices``."""
        table = {int(i): (intrinsics[k], extrinsics[k], near[k], far[k]) for k, i in enumerate(indices)}
        for i in table:
            self._recent.pop(i, None)
        old = self.cameras()
        for k, i in enumerate(old["indices"]):
            table.setdefault(int(i), (old["intrinsics"][k], old["extrinsics"][k], old["near"][k], old["far"][k]))
        order = sorted(table)
        data: dict[str, np.ndarray] = {
            "indices": np.array(order, dtype=np.int64),
            "intrinsics": np.array([table[i][0] for i in order], dtype=np.float64).reshape(-1, 3, 3),
            "extrinsics": np.array([table[i][1] for i in order], dtype=np.float64).reshape(-1, 4, 4),
            "near": np.array([table[i][2] for i in order], dtype=np.float64),
            "far": np.array([table[i][3] for i in order], dtype=np.float64),
        }
        _atomic(self.root / "cameras.npz", lambda fh: np.savez(fh, **data))  # type: ignore[arg-type]
        self._cameras = data

    def cameras(self) -> dict[str, np.ndarray]:
        """``indices``, ``intrinsics``, ``extrinsics``, ``near``, ``far`` of every stored frame."""
        if self._cameras is not None:
            return self._cameras
        path = self.root / "cameras.npz"
        if not path.is_file():
            return {"indices": np.zeros(0, np.int64), "intrinsics": np.zeros((0, 3, 3)),
                    "extrinsics": np.zeros((0, 4, 4)), "near": np.zeros(0), "far": np.zeros(0)}
        try:
            with np.load(path) as z:
                self._cameras = {k: z[k] for k in ("indices", "intrinsics", "extrinsics", "near", "far")}
        except (OSError, ValueError, KeyError) as exc:
            raise ProjectError(f"depth cache cameras cannot be read ({exc})", path=path,
                               hint="delete the folder and run depth again") from None
        return self._cameras

    def missing(self, indices: list[int]) -> list[int]:
        """The frame indices among ``indices`` that have no depth or no camera stored."""
        have = set(self.frames()) & {int(i) for i in self.cameras()["indices"]}
        return [i for i in indices if i not in have]

    def get(self, index: int) -> DepthFrame:
        """One frame (treat its arrays as read-only); :class:`ProjectError` naming the file
        when it is missing or damaged."""
        if index in self._recent:
            self._recent.move_to_end(index)
            return self._recent[index]
        meta = self.meta()
        path = self.path(index)
        cams = self.cameras()
        where = np.flatnonzero(cams["indices"] == index)
        if not path.is_file() or where.size == 0:
            raise ProjectError(f"no depth for frame index {index} in the depth cache", path=self.root,
                               hint=RUN_DEPTH_HINT)
        try:
            with np.load(path) as z:
                depth, conf = z["depth"], z["confidence"].astype(np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise ProjectError(f"stored depth is damaged ({exc})", path=path,
                               hint="run depth again for that frame") from None
        k = int(where[0])
        frame = DepthFrame(index, depth, conf, cams["intrinsics"][k], cams["extrinsics"][k],
                           bool(meta.get("is_metric", False)), bool(meta.get("has_camera", True)))
        self._recent[index] = frame
        while len(self._recent) > 4:
            self._recent.popitem(last=False)
        return frame

    def depth_range(self, indices: list[int]) -> tuple[float, float]:
        """The ``(near, far)`` covering ``indices`` (from each frame's robust range)."""
        cams = self.cameras()
        sel = np.isin(cams["indices"], indices)
        if not sel.any():
            raise ProjectError("no depth range stored for the chosen frames", path=self.root)
        near, far = float(cams["near"][sel].min()), float(cams["far"][sel].max())
        return near, max(far, near + 1e-6)

"""The exporter protocol: what a render hands every exporter for one frame, and what an
exporter declares about itself.

An exporter is created for one render with the staging folder and the :class:`RenderPlan`,
gets :meth:`Exporter.write` once per frame and :meth:`Exporter.finish` at the end. When
``info.parallel`` is true, ``write`` may run on several frames at once from worker
threads (each frame writes its own files); otherwise frames arrive one by one, in order
(movies, archives). :meth:`Exporter.abort` releases what is open (an encoder process, an
archive); the render removes the staging folder.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import cv2
import numpy as np

from sam3roto.core.depthcache import DepthFrame
from sam3roto.core.pixels import combine_masks
from sam3roto.errors import Sam3RotoError
from sam3roto.export.naming import frame_file, write_error
from sam3roto.geometry.normals import normals_from_depth, to_gl

Kind = Literal["sequence", "movie", "archive"]


@dataclass(frozen=True)
class ExporterInfo:
    """What an exporter writes: ``id`` (``png-alpha``), file ``suffix``, whether it carries
    alpha, its bit depths, ``kind`` (a file per frame, one movie, one archive), whether it
    writes a folder per object, whether frames may be written in parallel, whether it
    needs the depth cache and whether it needs estimated cameras."""

    id: str
    suffix: str
    description: str
    alpha: bool
    bit_depths: tuple[int, ...]
    kind: Kind
    per_object: bool
    parallel: bool
    depth: bool = False
    camera: bool = False


@dataclass(frozen=True)
class DepthPlan:
    """The depth run a render reads: the shot's ``(near, far)`` depth range (the same for
    every frame and every farm chunk), the 16-bit PNG ``encoding`` (``inverse``: 1/depth,
    or ``depth``), metric or relative units, whether cameras were estimated, the preset,
    and the point cloud settings (``ply_keep``: all/object/background by the combined
    matte; every ``ply_stride``-th pixel; confidence at least ``ply_min_confidence``; at
    most ``ply_max_points`` over the whole render)."""

    near: float
    far: float
    encoding: str = "inverse"
    is_metric: bool = False
    has_camera: bool = True
    preset: str = ""
    ply_keep: str = "all"
    ply_stride: int = 4
    ply_min_confidence: float = 0.0
    ply_max_points: int = 2_000_000


@dataclass(frozen=True)
class ObjectOut:
    """One object in a render: project id, display ``name``, a file-safe ``token`` and a
    Nuke-safe EXR ``layer`` name (both unique within the render)."""

    id: int
    name: str
    token: str
    layer: str


@dataclass(frozen=True)
class RenderPlan:
    """Everything an exporter needs to know before the first frame.

    ``numbers``: output frame numbers in render order. ``fps`` as ``(num, den)``.
    ``source_dtype``: dtype name of the media's frames (``uint8``, ``uint16``, ``float32``).
    ``combine``: ids of the objects merged into combined mattes (seed 003), by
    ``combine_op`` (``core.pixels.COMBINE_OPS``).
    ``timecode``: the SMPTE label of the first rendered frame (``HH:MM:SS:FF``, ``;``
    before the frames for drop-frame), for movie outputs' timecode tracks.
    ``colorspaces``: output id -> the OpenColorIO colour space its RGB is written in
    (outputs without RGB are absent: mattes and depth are raw data).
    """

    name: str
    width: int
    height: int
    fps: tuple[int, int]
    numbers: tuple[int, ...]
    padding: int
    objects: tuple[ObjectOut, ...]
    combine: tuple[int, ...]
    source_dtype: str
    combine_op: str = "union"
    bit_depth: int = 16
    exr_compression: str = "zip"
    exr_rgb: bool = False
    zip_mode: str = "single"
    options: dict[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    depth: DepthPlan | None = None
    timecode: str | None = None
    colorspaces: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FrameOutput:
    """One rendered frame as every exporter sees it.

    ``image``: the source frame, RGB ``(H, W, 3)`` in its own dtype, untouched.
    ``mattes``: object id -> ``float32 (H, W)`` in [0, 1] after post.
    ``rgb``: object id -> ``(H, W, 3)`` for RGBA outputs: ``float32`` in [0, 1] after the
    RGB cleanup, premultiplied by the matte when ``premultiplied[id]``; or ``image`` itself
    when the object's settings change no RGB (no float round trip).
    ``depth``: the frame's depth, confidence and camera when an output needs them.
    """

    index: int
    number: int
    image: np.ndarray
    mattes: dict[int, np.ndarray]
    rgb: dict[int, np.ndarray]
    premultiplied: dict[int, bool]
    depth: DepthFrame | None = None

    def depth_frame(self) -> DepthFrame:
        """The frame's depth; an error when the render was planned without it."""
        if self.depth is None:
            raise Sam3RotoError(f"frame {self.number} has no depth (the render did not read the depth cache)")
        return self.depth

    @cached_property
    def normals_gl(self) -> np.ndarray:
        """``float32 (H, W, 3)`` unit normals in the GL camera frame (computed once per
        frame, shared by the normals outputs; unknown pixels ``(0, 0, 0)``)."""
        d = self.depth_frame()
        return to_gl(normals_from_depth(d.depth, d.intrinsics))

    def combined(self, ids: tuple[int, ...], op: str = "union") -> np.ndarray:
        """``bool (H, W)``: the chosen objects' mattes, each above one half, combined by
        ``op`` in the order of ``ids`` (difference: the first minus the others)."""
        masks = [self.mattes[obj_id] > 0.5 for obj_id in ids if obj_id in self.mattes]
        if not masks:
            return np.zeros(self.image.shape[:2], dtype=bool)
        return combine_masks(masks, op)


class Exporter(ABC):
    """One output format of one render. Subclasses set :attr:`info`."""

    info: ClassVar[ExporterInfo]

    def __init__(self, folder: Path, plan: RenderPlan) -> None:
        self.folder = folder
        self.plan = plan
        self.files: list[Path] = []

    def combined(self, frame: FrameOutput) -> np.ndarray:
        """``bool (H, W)``: the frame's combined matte of the plan's objects (seed 003)."""
        return frame.combined(self.plan.combine, self.plan.combine_op)

    def frame_path(self, subfolder: str, stem: str, number: int, suffix: str | None = None) -> Path:
        """``folder/subfolder/stem.####.suffix``, creating ``subfolder``."""
        where = self.folder / subfolder if subfolder else self.folder
        try:
            where.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(where, exc, "the folder", verb="create") from None
        return where / frame_file(stem, number, self.plan.padding, suffix or self.info.suffix)

    @abstractmethod
    def write(self, frame: FrameOutput) -> None:
        """Write ``frame``'s files (thread-safe when ``info.parallel``)."""

    def finish(self) -> None:  # noqa: B027 - sequences have nothing to close
        """Close the movie or archive after the last frame."""

    def abort(self) -> None:  # noqa: B027 - sequences have nothing to release
        """Release open files and processes after a cancel or an error."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name, so ``path`` is whole or absent.
    A failed write is reported naming the file and the reason in words
    (``could not write the file: disk full (No space left on device)``)."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


def to_uint(values: np.ndarray, bits: int) -> np.ndarray:
    """Data to ``uint8`` or ``uint16``: floats in [0, 1] scaled, rounded and clipped (NaN
    becomes 0); ``uint8``/``uint16`` rescaled exactly from their own range."""
    if bits not in (8, 16):
        raise ValueError(f"bit depth must be 8 or 16, got {bits}")
    dtype = np.uint8 if bits == 8 else np.uint16
    if values.dtype == dtype:
        return values
    if values.dtype == np.uint8:  # 8 -> 16 bit: exact, 255 -> 65535
        return values.astype(np.uint16) * np.uint16(257)
    if values.dtype == np.uint16:  # 16 -> 8 bit, rounded
        return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)
    flat = np.ascontiguousarray(values, dtype=np.float32).reshape(values.shape[0], -1)
    # OpenCV's saturating conversion: one pass, rounds and clips (numpy needs four passes)
    out = cv2.multiply(flat, 255.0 if bits == 8 else 65535.0,  # type: ignore[call-overload]  # scalar src2
                       dtype=cv2.CV_8U if bits == 8 else cv2.CV_16U)
    return np.asarray(out).reshape(values.shape)


def rgba_uint(rgb: np.ndarray, matte: np.ndarray, bits: int, *, bgra: bool = False) -> np.ndarray:
    """``(H, W, 4)`` ``uint8``/``uint16`` from RGB (``(H, W, 3)``, float in [0, 1] or a plate
    in its own dtype) and a matte (``float32 (H, W)``), in RGBA or (for OpenCV) BGRA order."""
    r, g, b = cv2.split(to_uint(rgb, bits))
    alpha = to_uint(matte, bits)
    return np.asarray(cv2.merge([b, g, r, alpha] if bgra else [r, g, b, alpha]))

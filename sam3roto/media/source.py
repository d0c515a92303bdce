"""The FrameSource protocol and :func:`open_media`, which picks the right reader.

A FrameSource is indexed by *frame index* ``0 .. frame_count-1``; ``info.frame_numbers``
maps an index to the source's own frame number (the number in ``name.1001.exr``, or the
index itself for a movie). Readers are registered by kind and imported on first use.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Self

import numpy as np

from sam3roto.errors import MediaNotFoundError, UnsupportedMediaError

#: Frame rate assumed for image sequences, which carry none.
DEFAULT_SEQUENCE_FPS = Fraction(24)

VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".mxf"})


@dataclass(frozen=True)
class MediaInfo:
    """What a source holds. ``fps`` is exact (``Fraction(30000, 1001)``), never a float."""

    path: Path
    kind: str  # "video", "sequence", "stills", "image" or "archive"
    frame_count: int
    fps: Fraction
    width: int
    height: int
    channels: int  # in the source; frames are always delivered as RGB
    dtype: str  # numpy dtype name of delivered frames: uint8, uint16, float16, float32
    frame_numbers: tuple[int, ...]
    gaps: tuple[int, ...] = ()
    codec: str = ""
    rotation: int = 0  # degrees applied to decoded video frames
    fps_is_default: bool = False
    variable_frame_rate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bit_depth(self) -> int:
        """Bits per channel of the delivered frames."""
        return {"uint8": 8, "uint16": 16, "float16": 16, "float32": 32}.get(self.dtype, 0)

    @property
    def frame_bytes(self) -> int:
        """Size of one delivered RGB frame in bytes."""
        return self.width * self.height * 3 * np.dtype(self.dtype).itemsize

    @property
    def truncated(self) -> bool:
        """The file ends before all the frames it declares: only those there are counted."""
        return bool(self.extra.get("truncated"))

    @property
    def start_timecode(self) -> str | None:
        """The SMPTE timecode of frame index 0 the source declares (``HH:MM:SS:FF``), or None."""
        value = self.extra.get("timecode")
        return value if isinstance(value, str) and value else None

    def truncation_note(self) -> str | None:
        """A sentence saying the file is truncated and how many frames it has, else None."""
        if not self.truncated:
            return None
        declared = self.extra.get("frames_declared")
        of = f" of the {declared} it declares" if declared else ""
        return f"yes: the file is cut short; only its first {self.frame_count} frames{of} are there and counted"

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``run.py info --json`` prints)."""
        return {
            "path": str(self.path),
            "kind": self.kind,
            "frames": self.frame_count,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
            "fps_float": round(float(self.fps), 6),
            "fps_is_default": self.fps_is_default,
            "variable_frame_rate": self.variable_frame_rate,
            "width": self.width,
            "height": self.height,
            "channels": self.channels,
            "dtype": self.dtype,
            "bit_depth": self.bit_depth,
            "first_frame": self.frame_numbers[0] if self.frame_numbers else None,
            "last_frame": self.frame_numbers[-1] if self.frame_numbers else None,
            "gaps": list(self.gaps),
            "codec": self.codec,
            "rotation": self.rotation,
            "truncated": self.truncated,
            "frames_declared": self.extra.get("frames_declared"),
            "timecode": self.start_timecode,
        }


class FrameSource(abc.ABC):
    """Random access to the frames of one shot. Not thread-safe: one reader per thread
    (use :meth:`clone` for another thread)."""

    info: MediaInfo

    @abc.abstractmethod
    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as RGB ``(H, W, 3)`` of dtype ``info.dtype``."""

    def read_span(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        """Frames ``start .. stop-1`` in order, as ``(index, frame)``; decodes sequentially."""
        for index in range(start, stop):
            yield index, self.read(index)

    def keyframe_before(self, index: int) -> int:
        """The nearest index <= ``index`` that decodes without earlier frames."""
        self.check_index(index)
        return index

    def clone(self) -> FrameSource:
        """An independent reader of the same media (for another thread)."""
        return open_media(self.info.path)

    def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release files and decoders."""

    def check_index(self, index: int) -> int:
        """Return ``index`` or raise ``IndexError`` naming the valid range."""
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"frame index must be an int, got {type(index).__name__}")
        if not 0 <= index < self.info.frame_count:
            raise IndexError(
                f"{self.info.path}: frame index {index} is outside 0..{self.info.frame_count - 1}"
            )
        return int(index)

    def __len__(self) -> int:
        return self.info.frame_count

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: kind -> "module:function" opening that kind; imported on first use.
_OPENERS: dict[str, str] = {
    "video": "sam3roto.media.video:open_video",
    "sequence": "sam3roto.media.sequence:open_sequence",
    "image": "sam3roto.media.sequence:open_still",
    "archive": "sam3roto.media.archive:open_zip",
}


def _is_pattern(text: str) -> bool:
    import re

    return "#" in text or "@" in text or re.search(r"%0?\d*d", text) is not None


def media_kind(path: str | Path) -> str:
    """Which reader ``path`` needs: ``video``, ``sequence``, ``image`` or ``archive``."""
    path = Path(path)
    from sam3roto.media.image_io import is_image_file

    if _is_pattern(path.name):
        return "sequence"
    if not path.exists():
        raise MediaNotFoundError("does not exist", path=path)
    if path.is_dir():
        return "sequence"
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix == ".zip":
        return "archive"
    if is_image_file(path):
        return "image"
    raise UnsupportedMediaError(
        f"'{suffix or path.name}' is not a media type sam3roto opens", path=path,
        hint="open a movie (.mov/.mp4/.mkv/.avi), an image sequence (folder or name.####.ext), "
        "a still, or a .zip of frames")


def open_media(path: str | Path) -> FrameSource:
    """Open a movie, an image sequence (folder, ``name.####.ext`` or ``name.%04d.ext``), a
    still, or a ZIP of frames. Errors name the file and the problem."""
    kind = media_kind(path)
    module_name, func_name = _OPENERS[kind].split(":")
    opener = getattr(importlib.import_module(module_name), func_name)
    source: FrameSource = opener(Path(path))
    return source

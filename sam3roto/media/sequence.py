"""Image sequences (``name.####.ext``, ``name.%04d.ext``, a folder) and single stills.

Sequences are found with ``fileseq`` (``#`` = one digit, the VFX convention). Every file's
header is checked when the sequence opens, so mixed sizes or channel counts, or a size
over the limits, fail at once with the offending file named; gaps are reported, not fatal.
A frame whose data is damaged, truncated or forged is reported when it is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sam3roto.errors import MediaError, MediaNotFoundError, MixedFramesError, UnsupportedMediaError
from sam3roto.media.image_io import Checked, ImageHeader, is_image_file, read_header, read_image
from sam3roto.media.source import DEFAULT_SEQUENCE_FPS, FrameSource, MediaInfo

if TYPE_CHECKING:
    import fileseq


class ImageListSource(FrameSource):
    """Frames that are each one encoded image: sequences, stills, ZIP members."""

    def __init__(
        self,
        info: MediaInfo,
        names: Sequence[str],
        load: Callable[[str], np.ndarray],
    ) -> None:
        self.info = info
        self._names = list(names)
        self._load = load

    def clone(self) -> ImageListSource:
        """Another reader of the same frames (no new scan: the loader reads one file or
        archive member per call, archives under their own lock)."""
        return ImageListSource(self.info, self._names, self._load)

    def frame_path(self, index: int) -> str:
        """The file (or archive member) holding frame ``index``."""
        return self._names[self.check_index(index)]

    def read(self, index: int) -> np.ndarray:
        name = self.frame_path(index)
        frame = self._load(name)
        expected = (self.info.height, self.info.width, 3)
        if frame.shape != expected:
            raise MixedFramesError("frame size differs from the sequence", path=name,
                                   expected=f"{self.info.width}x{self.info.height}",
                                   found=f"{frame.shape[1]}x{frame.shape[0]}")
        if frame.dtype.name != self.info.dtype:
            raise MixedFramesError("frame bit depth differs from the sequence", path=name,
                                   expected=self.info.dtype, found=frame.dtype.name)
        return frame


def check_headers(names: Sequence[str], headers: Sequence[ImageHeader]) -> None:
    """Raise :class:`MixedFramesError` naming the first file whose size or channels differ
    from the first file's."""
    first = headers[0]
    for name, header in zip(names, headers, strict=True):
        if header.size != first.size:
            raise MixedFramesError("mixed resolutions in one sequence", path=name,
                                   expected=f"{first.width}x{first.height} (as {Path(names[0]).name})",
                                   found=f"{header.width}x{header.height}")
        if header.channels != first.channels:
            raise MixedFramesError("mixed channel counts in one sequence", path=name,
                                   expected=f"{first.channels} (as {Path(names[0]).name})", found=header.channels)
        if header.dtype and first.dtype and header.dtype != first.dtype:
            raise MixedFramesError("mixed bit depths in one sequence", path=name,
                                   expected=f"{first.dtype} (as {Path(names[0]).name})", found=header.dtype)


def build_image_list(
    path: Path,
    kind: str,
    names: Sequence[str],
    numbers: Sequence[int],
    headers: Sequence[ImageHeader],
    load: Callable[[str], np.ndarray],
    gaps: Sequence[int] = (),
    fps: Fraction | None = None,
) -> ImageListSource:
    """Validate headers, decode the first frame for its dtype, and make the source."""
    if not names:
        raise MediaError("holds no image frames", path=path)
    check_headers(names, headers)
    first = load(names[0])
    info = MediaInfo(
        path=path, kind=kind, frame_count=len(names), fps=fps or DEFAULT_SEQUENCE_FPS,
        width=first.shape[1], height=first.shape[0], channels=headers[0].channels,
        dtype=first.dtype.name, frame_numbers=tuple(numbers), gaps=tuple(gaps),
        codec=Path(names[0]).suffix.lower().lstrip("."), fps_is_default=fps is None,
    )
    if (info.width, info.height) != headers[0].size:
        raise MediaError(f"decoded size {info.width}x{info.height} disagrees with the header "
                         f"{headers[0].width}x{headers[0].height}", path=names[0])
    return ImageListSource(info, names, load)


def gaps_in(numbers: Sequence[int]) -> list[int]:
    """Numbers missing between the smallest and largest of ``numbers``."""
    present = set(numbers)
    return [n for n in range(min(numbers), max(numbers) + 1) if n not in present] if numbers else []


def _natural_key(name: str) -> list[object]:
    # isdecimal, not isdigit: "²" is a digit that int() refuses
    return [int(t) if t.isdecimal() else t.lower() for t in re.split(r"(\d+)", name)]


def _sequence_files(seq: fileseq.FileSequence) -> tuple[list[str], list[int]]:
    frames = seq.frameSet()
    numbers = [int(n) for n in frames] if frames else []
    names = [seq.frame(n) for n in numbers] if numbers else [str(seq)]
    return names, numbers


def _pattern_for_fileseq(pattern: str) -> str:
    # name.%04d.ext -> name.####.ext ; fileseq reads '#' as one digit with PAD_STYLE_HASH1.
    return re.sub(r"%0?(\d*)d", lambda m: "#" * max(1, int(m.group(1) or 1)), pattern)


def open_sequence(path: Path) -> ImageListSource:
    """Open a folder of frames or a ``name.####.ext`` / ``name.%04d.ext`` pattern.

    A folder whose images form one numbered sequence opens as that sequence; a folder of
    images that do not (several sequences, unnumbered names) opens as an ordered list of
    stills numbered from 1, sorted by natural name order.
    """
    import fileseq

    if path.is_dir():
        images = sorted((p for p in path.iterdir() if p.is_file() and is_image_file(p) and not p.name.startswith(".")),
                        key=lambda p: _natural_key(p.name))
        if not images:
            raise MediaNotFoundError("folder holds no images", path=path,
                                     hint="PNG, JPEG, TIFF, EXR, BMP or WebP frames")
        seqs = [s for s in fileseq.findSequencesOnDisk(str(path), pad_style=fileseq.PAD_STYLE_HASH1)
                if is_image_file("x" + s.extension()) and s.frameSet() is not None]
        if len(seqs) == 1 and len(seqs[0].frameSet() or ()) == len(images):
            names, numbers = _sequence_files(seqs[0])
            kind = "sequence"
        else:
            names, numbers, kind = [str(p) for p in images], list(range(1, len(images) + 1)), "stills"
    else:
        pattern = _pattern_for_fileseq(str(path))
        try:
            seq = fileseq.findSequenceOnDisk(pattern, pad_style=fileseq.PAD_STYLE_HASH1)
        except fileseq.FileSeqException:
            raise MediaNotFoundError("no files match this sequence pattern", path=path) from None
        if not is_image_file("x" + seq.extension()):
            raise UnsupportedMediaError(f"'{seq.extension()}' is not an image type sam3roto reads", path=path)
        names, numbers = _sequence_files(seq)
        kind = "sequence"
    checked: Checked = set()
    headers = [read_header(n, checked) for n in names]
    return build_image_list(path, kind, names, numbers, headers, read_image, gaps=gaps_in(numbers))


def open_still(path: Path) -> ImageListSource:
    """Open one image file as a one-frame shot (frame number 1)."""
    return build_image_list(path, "image", [str(path)], [1], [read_header(path)], read_image)

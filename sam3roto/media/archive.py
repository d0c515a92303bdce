"""A ZIP of frames (``00000001.png`` ...), read member by member in memory.

Nothing is extracted to disk, so no member can be written outside a folder; an archive
that *tries* (absolute paths, ``..``), holds links, or claims to expand beyond the limits
is refused whole with :class:`UnsafeArchiveError` before any pixel is decoded. Sizes are
enforced on the bytes actually inflated, not only on what the headers claim. Each image
member's header is checked against the frame limits when the archive opens, and its data
before it is decoded (:mod:`sam3roto.media.image_io`).
"""

from __future__ import annotations

import re
import stat
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sam3roto.errors import CorruptMediaError, MediaError, MediaNotFoundError, UnsafeArchiveError
from sam3roto.media.image_io import IMAGE_SUFFIXES, Checked, ImageHeader, decode_image_bytes, header_from_stream
from sam3roto.media.sequence import ImageListSource, _natural_key, build_image_list, gaps_in

#: What reading a damaged member raises: zipfile's own errors, inflate errors, an
#: unsupported compression method or an encrypted member.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError, ValueError)

#: Members up to this size are read whole for their header; larger ones are streamed and
#: inflated only as far as the header check needs.
_HEADER_READ_WHOLE = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """Decompression-bomb limits. Defaults fit a 4K EXR shot of a few thousand frames."""

    max_members: int = 100_000
    max_member_bytes: int = 512 * 1024**2
    max_total_bytes: int = 64 * 1024**3
    max_ratio: float = 200.0  # uncompressed / compressed, per member above 1 MiB


DEFAULT_LIMITS = ArchiveLimits()


def _is_link(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return stat.S_ISLNK(mode)


def _parts(name: str) -> list[str]:
    """The folders and file name of a member, ``\\`` read as ``/`` (string work only: an
    archive may list 100,000 members)."""
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def check_member_name(name: str, archive: Path) -> None:
    """Raise :class:`UnsafeArchiveError` for a member that would land outside its folder."""
    parts = _parts(name)
    if name.replace("\\", "/").startswith("/") or (parts and ":" in parts[0]) or ".." in parts:
        raise UnsafeArchiveError("path escapes the archive folder (zip slip)", path=archive, member=name)


def _is_frame(name: str) -> bool:
    """An image member sam3roto reads from a ZIP (not EXR, not hidden, not macOS metadata)."""
    parts = _parts(name)
    if not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    stem, dot, suffix = parts[-1].rpartition(".")
    return bool(stem and dot) and "." + suffix.lower() in IMAGE_SUFFIXES and suffix.lower() != "exr"


def validate_archive(
    zf: zipfile.ZipFile, archive: Path, limits: ArchiveLimits = DEFAULT_LIMITS
) -> list[zipfile.ZipInfo]:
    """Check every member against ``limits``; return the image members in natural order."""
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise UnsafeArchiveError(f"holds {len(infos)} members, over the limit of {limits.max_members}", path=archive)
    total = 0
    images: list[zipfile.ZipInfo] = []
    for info in infos:
        check_member_name(info.filename, archive)
        if _is_link(info):
            raise UnsafeArchiveError("is a symbolic link; links are refused", path=archive, member=info.filename)
        if info.is_dir():
            continue
        if info.file_size > limits.max_member_bytes:
            raise UnsafeArchiveError(f"expands to {info.file_size} bytes, over the per-file limit of "
                                     f"{limits.max_member_bytes}", path=archive, member=info.filename)
        if info.file_size > 1024**2 and info.file_size > limits.max_ratio * max(1, info.compress_size):
            raise UnsafeArchiveError(f"compression ratio {info.file_size / max(1, info.compress_size):.0f}:1 "
                                     f"looks like a decompression bomb (limit {limits.max_ratio:.0f}:1)",
                                     path=archive, member=info.filename)
        total += info.file_size
        if total > limits.max_total_bytes:
            raise UnsafeArchiveError(f"expands to over {limits.max_total_bytes} bytes in all", path=archive)
        if _is_frame(info.filename):
            images.append(info)
    images.sort(key=lambda i: _natural_key(i.filename))
    return images


class _ZipReader:
    """Thread-safe member reads that stop inflating past the member's declared size."""

    def __init__(self, path: Path, limits: ArchiveLimits) -> None:
        self.path = path
        self.limits = limits
        self._lock = threading.Lock()
        try:
            self._zf = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise MediaNotFoundError("file does not exist", path=path) from None
        except (*_READ_ERRORS, struct.error, UnicodeDecodeError) as exc:
            raise CorruptMediaError(f"not a readable ZIP archive ({exc})", path=path) from None
        self.infos = {i.filename: i for i in self._zf.infolist()}

    def member_path(self, name: str) -> str:
        """How errors name member ``name``: ``archive.zip!name``."""
        return f"{self.path}!{name}"

    def read_bytes(self, name: str) -> bytes:
        info = self.infos[name]
        cap = min(info.file_size, self.limits.max_member_bytes)
        with self._lock:
            try:
                with self._zf.open(info) as fh:
                    data = fh.read(cap + 1)
            except _READ_ERRORS as exc:
                raise CorruptMediaError(f"member {name!r} is damaged ({exc})", path=self.path) from None
        if len(data) > cap:
            raise UnsafeArchiveError("inflates past its declared size", path=self.path, member=name)
        return data

    def load(self, name: str) -> np.ndarray:
        """Decode member ``name``; its header is checked against the limits first."""
        return decode_image_bytes(self.read_bytes(name), self.member_path(name))

    def header(self, name: str, checked: Checked | None = None) -> ImageHeader:
        """The member's checked header (size, channels, limits, PNG data bound; see
        :func:`sam3roto.media.image_io.header_from_stream`), inflating only what that needs."""
        from io import BytesIO

        info = self.infos[name]
        if info.file_size <= _HEADER_READ_WHOLE:
            data = self.read_bytes(name)
            return header_from_stream(BytesIO(data), len(data), self.member_path(name), checked)
        with self._lock:
            try:
                with self._zf.open(info) as fh:
                    return header_from_stream(fh, info.file_size, self.member_path(name), checked)
            except _READ_ERRORS as exc:
                raise CorruptMediaError(f"member {name!r} is damaged ({exc})", path=self.path) from None

    def close(self) -> None:
        self._zf.close()


_DIGITS = re.compile(r"(\d+)")


class ZipSource(ImageListSource):
    """An :class:`ImageListSource` whose frames are members of one ZIP file."""

    def __init__(self, base: ImageListSource, reader: _ZipReader) -> None:
        super().__init__(base.info, base._names, base._load)
        self._reader = reader

    def close(self) -> None:
        self._reader.close()


def open_zip(path: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> ZipSource:
    """Open a ZIP of frames. Frame numbers come from the member names when they are
    numbered (``00000001.png`` -> 1), else 1..N in natural order."""
    reader = _ZipReader(path, limits)
    try:
        images = validate_archive(reader._zf, path, limits)
        if not images:
            raise MediaError("ZIP holds no image frames", path=path, hint="PNG, JPEG, TIFF, BMP or WebP members")
        names = [i.filename for i in images]
        found = [_DIGITS.findall(_parts(n)[-1].rpartition(".")[0]) for n in names]
        numbers = [int(f[-1]) for f in found] if all(found) else []
        if len(set(numbers)) != len(names):
            numbers = list(range(1, len(names) + 1))
        checked: Checked = set()
        headers = [reader.header(n, checked) for n in names]
        base = build_image_list(path, "archive", names, numbers, headers, reader.load, gaps=gaps_in(numbers))
        return ZipSource(base, reader)
    except BaseException:
        reader.close()
        raise

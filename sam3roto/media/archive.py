"""A ZIP of frames (``00000001.png`` ...), read member by member in memory.

Nothing is extracted to disk, so no member can be written outside a folder; an archive
that *tries* (absolute paths, ``..``), holds links, or claims to expand beyond the limits
is refused whole with :class:`UnsafeArchiveError` before any pixel is decoded. Sizes are
enforced on the bytes actually inflated, not only on what the headers claim.
"""

from __future__ import annotations

import stat
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from sam3roto.errors import CorruptMediaError, MediaError, UnsafeArchiveError
from sam3roto.media.image_io import ImageHeader, decode_image_bytes, is_image_file
from sam3roto.media.sequence import ImageListSource, build_image_list, gaps_in


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


def check_member_name(name: str, archive: Path) -> None:
    """Raise :class:`UnsafeArchiveError` for a member that would land outside its folder."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or (posix.parts and ":" in posix.parts[0]) or ".." in posix.parts:
        raise UnsafeArchiveError("path escapes the archive folder (zip slip)", path=archive, member=name)


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
        parts = PurePosixPath(info.filename).parts
        hidden = any(p.startswith(".") or p == "__MACOSX" for p in parts)
        if is_image_file(info.filename) and not info.filename.lower().endswith(".exr") and not hidden:
            images.append(info)
    from sam3roto.media.sequence import _natural_key

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
        except zipfile.BadZipFile as exc:
            raise CorruptMediaError(f"not a readable ZIP archive ({exc})", path=path) from None
        self.infos = {i.filename: i for i in self._zf.infolist()}

    def read_bytes(self, name: str) -> bytes:
        info = self.infos[name]
        cap = min(info.file_size, self.limits.max_member_bytes)
        with self._lock:
            try:
                with self._zf.open(info) as fh:
                    data = fh.read(cap + 1)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise CorruptMediaError(f"member {name!r} is damaged ({exc})", path=self.path) from None
        if len(data) > cap:
            raise UnsafeArchiveError("inflates past its declared size", path=self.path, member=name)
        return data

    def load(self, name: str) -> np.ndarray:
        return decode_image_bytes(self.read_bytes(name), f"{self.path}!{name}")

    def header(self, name: str) -> ImageHeader:
        """Size and channels from the member's header (first bytes only)."""
        from io import BytesIO

        from PIL import Image, UnidentifiedImageError

        from sam3roto.media.image_io import _PNG_SIG, _png_header

        head = self.read_bytes(name)
        if head.startswith(_PNG_SIG):
            return _png_header(head[:64], Path(f"{self.path}!{name}"))
        try:
            with Image.open(BytesIO(head)) as im:
                width, height, mode = im.size[0], im.size[1], im.mode
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise CorruptMediaError(f"member {name!r} is not a readable image ({exc})", path=self.path) from None
        channels = {"1": 1, "L": 1, "P": 3, "LA": 2, "RGB": 3, "RGBA": 4}.get(mode, 1)
        return ImageHeader(width, height, channels, "")

    def close(self) -> None:
        self._zf.close()


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
    import re

    reader = _ZipReader(path, limits)
    try:
        images = validate_archive(reader._zf, path, limits)
        if not images:
            raise MediaError("ZIP holds no image frames", path=path, hint="PNG, JPEG, TIFF, BMP or WebP members")
        names = [i.filename for i in images]
        found = [re.findall(r"(\d+)", PurePosixPath(n).stem) for n in names]
        numbers = [int(f[-1]) for f in found] if all(found) else []
        if len(set(numbers)) != len(names):
            numbers = list(range(1, len(names) + 1))
        headers = [reader.header(n) for n in names]
        base = build_image_list(path, "archive", names, numbers, headers, reader.load, gaps=gaps_in(numbers))
        return ZipSource(base, reader)
    except BaseException:
        reader.close()
        raise

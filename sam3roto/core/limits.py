"""Resource limits: how much a file a user gives may make sam3roto allocate.

Every reader checks what a file *declares* (an image header's size, a JSON file's length,
a polygon's point count, a brush mask's size) against these limits before it does the
work, so a hostile or damaged file ends in a clear error naming it instead of a process
that swaps, hangs or is killed. The defaults admit real work: a 6000x9000 RGBA still in
16-bit or float, 8K EXR plates, Label Studio exports of a few hundred thousand tasks.

Each limit is a setting read from the environment when it is used (so a studio sets it
once in its launcher, the farm in its job environment), e.g.
``SAM3ROTO_MAX_FRAME_BYTES=4G``. Sizes take ``K``/``M``/``G`` suffixes (powers of 1024).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sam3roto.errors import LimitError

#: The environment variable of each limit (the field names of :class:`Limits`).
ENV: dict[str, str] = {
    "frame_bytes": "SAM3ROTO_MAX_FRAME_BYTES",
    "frame_pixels": "SAM3ROTO_MAX_FRAME_PIXELS",
    "json_bytes": "SAM3ROTO_MAX_JSON_BYTES",
    "json_depth": "SAM3ROTO_MAX_JSON_DEPTH",
    "polygon_points": "SAM3ROTO_MAX_POLYGON_POINTS",
    "mask_pixels": "SAM3ROTO_MAX_MASK_PIXELS",
}


@dataclass(frozen=True)
class Limits:
    """The limits in force. See the module docstring; :func:`current` reads them."""

    #: Bytes one decoded frame may take as the file holds it (width x height x channels x
    #: bytes per sample, alpha included): 1 GiB admits a 6000x9000 RGBA float32 still.
    frame_bytes: int = 1 << 30
    #: Pixels of one frame (width x height), whatever the depth: 2^28 is 16384 x 16384.
    frame_pixels: int = 1 << 28
    #: Bytes of a JSON file a user gives (Label Studio export, prompts, project).
    json_bytes: int = 256 * 1024**2
    #: Nesting depth of such a JSON file (a real Label Studio export nests about 8 deep).
    json_depth: int = 64
    #: Points of one polygon prompt or Label Studio polygon.
    polygon_points: int = 100_000
    #: Pixels of one mask a file describes (a brush RLE's declared size): 2^28.
    mask_pixels: int = 1 << 28


_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str, name: str) -> int:
    """``"512M"`` -> 536870912; a :class:`LimitError` naming the variable for anything else."""
    match = _SIZE_RE.match(text)
    if match is None or int(match.group(1)) <= 0:
        raise LimitError(f"{name}={text!r} is not a positive size",
                         hint="give a whole number, optionally with K, M or G (e.g. 2G)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


_override: Limits | None = None


def current() -> Limits:
    """The limits in force: the defaults, each replaced by its environment variable when set
    (and by :func:`override` inside its ``with`` block)."""
    if _override is not None:
        return _override
    values = {}
    for field, var in ENV.items():
        text = os.environ.get(var)
        if text:
            values[field] = parse_size(text, var)
    return dataclasses.replace(Limits(), **values) if values else Limits()


@contextlib.contextmanager
def override(**values: int) -> Iterator[Limits]:
    """Run a block with some limits changed (tests, an embedding application)."""
    global _override
    before = _override
    _override = dataclasses.replace(current(), **values)
    try:
        yield _override
    finally:
        _override = before


def human_bytes(count: int) -> str:
    """``1073741824`` -> ``"1.0 GiB"``."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


#: What each limit bounds, in words (the Settings dialog, the README's table).
DESCRIPTIONS: dict[str, str] = {
    "frame_bytes": "one decoded frame",
    "frame_pixels": "pixels of one frame",
    "json_bytes": "a JSON file (Label Studio export, prompts, project)",
    "json_depth": "nesting depth of a JSON file",
    "polygon_points": "points of one polygon",
    "mask_pixels": "a mask a file describes (a brush's size)",
}


def summary() -> list[tuple[str, str, str]]:
    """``(setting, value in words, what it bounds)`` for every limit in force."""
    now = current()
    out = []
    for field, var in ENV.items():
        value = getattr(now, field)
        out.append((var, human_bytes(value) if field.endswith("_bytes") else f"{value:,}", DESCRIPTIONS[field]))
    return out


def raise_hint(field: str) -> str:
    """How to raise limit ``field`` when the file is genuine."""
    value = getattr(current(), field)
    shown = human_bytes(value) if field.endswith("_bytes") else str(value)
    return f"if the file is genuine, set {ENV[field]} above its current {shown} before starting sam3roto"


def check_frame(width: int, height: int, channels: int, bytes_per_sample: int, path: str | Path,
                what: str = "frame") -> None:
    """Refuse a frame whose declared size cannot be real or would exceed the limits,
    before any pixel is decoded. ``what`` names it in the message ("frame", "image")."""
    limits = current()
    if width <= 0 or height <= 0:
        raise LimitError(f"the {what} declares a size of {width}x{height}, which holds no pixels", path=path)
    pixels = width * height
    if pixels > limits.frame_pixels:
        raise LimitError(f"the {what} declares {width}x{height} = {pixels} pixels, over the limit of "
                         f"{limits.frame_pixels}", path=path, hint=raise_hint("frame_pixels"))
    size = pixels * max(1, channels) * max(1, bytes_per_sample)
    if size > limits.frame_bytes:
        raise LimitError(f"the {what} declares {width}x{height}x{channels} at {8 * bytes_per_sample} bits, "
                         f"{human_bytes(size)} decoded, over the limit of {human_bytes(limits.frame_bytes)}",
                         path=path, hint=raise_hint("frame_bytes"))


def check_file_bytes(path: str | Path, field: str, what: str) -> None:
    """Refuse a file whose size on disk exceeds limit ``field`` (a byte count), before reading it."""
    limit = getattr(current(), field)
    try:
        size = Path(path).stat().st_size
    except OSError:
        return  # the reader reports the missing or unreadable file in its own words
    if size > limit:
        raise LimitError(f"{what} is {human_bytes(size)}, over the limit of {human_bytes(limit)}",
                         path=path, hint=raise_hint(field))

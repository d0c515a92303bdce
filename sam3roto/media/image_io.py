"""Reading single image files: PNG/JPEG/TIFF (8/16 bit, float TIFF) and OpenEXR.

Frames come back as RGB ``(H, W, 3)`` in the file's own dtype (``uint8``, ``uint16``,
``float16`` or ``float32``): no float64 copies, so a 6000x9000 still costs what it costs
on disk uncompressed. Greyscale is promoted to RGB; a plate's alpha channel is dropped
(``ImageHeader.channels`` still reports it).

Every header read holds the size a file declares against the limits of
:mod:`sam3roto.core.limits` (:class:`MediaTooLargeError`), and every decode first checks
that the file's data can hold that size (a PNG's chunks and image data, a JPEG's coded
data; else :class:`CorruptMediaError`, truncated or forged), so a decompression bomb costs
a header read, never its decoded size. Decoder failures (``cv2.error``, ``MemoryError``)
become errors naming the file.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from sam3roto.core import limits
from sam3roto.errors import (
    CorruptMediaError,
    LimitError,
    MediaNotFoundError,
    MediaTooLargeError,
    UnsupportedMediaError,
)

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".webp"})

#: OpenCV refuses images above this many pixels by default (2**30), whatever the limits say.
MAX_IMAGE_PIXELS = 1 << 30

#: Deflate (PNG's image data is a zlib stream) expands data at most about 1032:1, so a PNG
#: declaring more raw image data than this many times its compressed image data is
#: truncated or forged.
PNG_MAX_INFLATE_RATIO = 1100

#: Chunks a PNG may hold before it is called damaged. The data check walks every chunk up
#: to IEND (each must fit in the file), and libpng, as OpenCV calls it, writes one IDAT
#: chunk per 8 KB of compressed data: a 50 MB PNG holds about 6,000 chunks. This bound
#: admits about 8 GB of such data while capping the walk of a file of empty chunks (12
#: bytes each, 12 MB) at about a second.
PNG_MAX_CHUNKS = 1_000_000


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says, read without decoding the pixels."""

    width: int
    height: int
    channels: int
    dtype: str  # numpy dtype name of the decoded pixels, "" when the header cannot tell
    #: Bytes of one sample as the file holds it (2 for 16-bit and half, 4 for float); what
    #: the frame-size limit is checked with.
    sample_bytes: int = 1

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


def is_image_file(path: str | Path) -> bool:
    """True for a suffix sam3roto can read as a still."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


#: What to do when a frame the limits admit does not fit in memory.
MEMORY_HINT = (f"free memory, or lower {limits.ENV['frame_bytes']} so that such files are refused before they "
               "are decoded")


#: Sizes already checked while opening one source (frames of a shot share one size, and
#: reading the limits costs more than a small frame's header).
Checked = set[tuple[int, int, int, int]]


def check_image_size(width: int, height: int, channels: int, sample_bytes: int, path: str | Path,
                     what: str = "image", checked: Checked | None = None) -> None:
    """Refuse a declared size that holds no pixels (:class:`CorruptMediaError`) or that would
    decode to more than the limits admit (:class:`MediaTooLargeError`, whose hint names the
    setting to raise), before any pixel is decoded. Sizes in ``checked`` pass at once; a
    size that passes is added to it."""
    key = (width, height, channels, sample_bytes)
    if checked is not None and key in checked:
        return
    if width <= 0 or height <= 0:
        raise CorruptMediaError(f"the {what} declares a size of {width}x{height}, which holds no pixels; "
                                "the header is damaged", path=path)
    try:
        limits.check_frame(width, height, channels, sample_bytes, path, what)
    except LimitError as exc:
        raise MediaTooLargeError(exc.message, path=path, hint=exc.hint) from None
    if checked is not None:
        checked.add(key)


def check_header(header: ImageHeader, path: str | Path, what: str = "image",
                 checked: Checked | None = None) -> ImageHeader:
    """:func:`check_image_size` for a parsed header; returns the header."""
    check_image_size(header.width, header.height, header.channels, header.sample_bytes, path, what, checked)
    return header


# -- headers -----------------------------------------------------------------------------

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # as decoded (a palette becomes RGB)
_PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # as stored
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_CHUNK_HEAD = struct.Struct(">I4s")  # a chunk's data length and type
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_raw_bytes(width: int, height: int, bits_per_pixel: int, interlaced: bool) -> int:
    """Bytes of filtered image data a PNG of this size holds once inflated (its IDAT stream)."""
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        w = (width - x0 + dx - 1) // dx if width > x0 else 0
        h = (height - y0 + dy - 1) // dy if height > y0 else 0
        if w and h:
            total += h * (1 + (w * bits_per_pixel + 7) // 8)
    return total


def _reader_at(fh: IO[bytes]) -> Callable[[int, int], bytes]:
    """``read_at(pos, size)``: ``size`` bytes of ``fh`` from ``pos`` (fewer at its end), read
    past any buffer. Walking a PNG's chunk headers through a buffered file would refill its
    8 KB buffer after each seek and so read the whole file once more before it is decoded;
    a file's descriptor is read with ``os.pread`` (one system call a chunk) or, where there is
    none (Windows), through the unbuffered raw file. Other streams seek and read. ``fh``'s
    own position is left undefined."""
    raw = fh.raw if isinstance(fh, io.BufferedReader) else fh
    pread = getattr(os, "pread", None)
    if isinstance(raw, io.FileIO) and pread is not None:
        fd = raw.fileno()
        return lambda pos, size: pread(fd, size, pos)

    def read_at(pos: int, size: int) -> bytes:
        raw.seek(pos)
        return raw.read(size) or b""

    return read_at


def _png_header(fh: IO[bytes], total: int, path: str | Path, checked: Checked | None = None,
                data: bool = False) -> ImageHeader:
    """Parse a PNG's IHDR from ``fh`` (at the signature; ``total`` bytes long) and check the
    size against the limits. With ``data`` (before decoding) walk the chunks too: each must
    fit in the file (a decoder allocates what a chunk declares), and the file must hold
    enough compressed image data for the size it declares (:data:`PNG_MAX_INFLATE_RATIO`).
    The walk reads only the 8-byte chunk headers (see :func:`_reader_at`)."""
    head = fh.read(33)
    if len(head) < 33 or head[12:16] != b"IHDR" or head[8:12] != b"\x00\x00\x00\x0d":
        raise CorruptMediaError("PNG header is damaged (no IHDR chunk)", path=path)
    width, height, depth, color_type, compression, filtering, interlace = struct.unpack(">IIBBBBB", head[16:29])
    if color_type not in _PNG_CHANNELS:
        raise CorruptMediaError(f"PNG colour type {color_type} is invalid", path=path)
    if depth not in _PNG_DEPTHS[color_type] or compression or filtering or interlace > 1:
        raise CorruptMediaError(f"PNG header is damaged (bit depth {depth} with colour type {color_type}, "
                                f"compression {compression}, filter {filtering}, interlace {interlace})", path=path)
    if width >= 1 << 31 or height >= 1 << 31:
        raise CorruptMediaError(f"PNG header is damaged (it declares {width}x{height}; PNG allows at most "
                                f"{(1 << 31) - 1} a side)", path=path)
    header = ImageHeader(width, height, _PNG_CHANNELS[color_type], "uint16" if depth == 16 else "uint8",
                         2 if depth == 16 else 1)
    check_header(header, path, checked=checked)
    if not data:
        return header
    raw = png_raw_bytes(width, height, depth * _PNG_SAMPLES[color_type], bool(interlace))
    need = -(-raw // PNG_MAX_INFLATE_RATIO)  # compressed bytes that can inflate to ``raw`` at best
    read_at = _reader_at(fh)
    pos, idat, chunks = 33, 0, 0
    overrun: tuple[bytes, int] | None = None  # a chunk that runs past the end of the file
    while True:
        chunk = read_at(pos, 8)
        if len(chunk) < 8:
            break
        length, kind = _PNG_CHUNK_HEAD.unpack(chunk)
        pos += 8
        if pos + length + 4 > total:
            overrun = (kind, length)
            idat += max(0, total - pos) if kind == b"IDAT" else 0
            break
        if kind == b"IDAT":
            idat += length
        elif kind == b"IEND":
            break
        chunks += 1
        if chunks > PNG_MAX_CHUNKS:
            raise CorruptMediaError(f"PNG holds over {PNG_MAX_CHUNKS} chunks; the file is damaged or forged",
                                    path=path)
        pos += length + 4
    if idat < need:
        raise CorruptMediaError(
            f"the PNG declares {width}x{height}, {limits.human_bytes(raw)} of image data, but holds only {idat} "
            f"bytes of compressed image data where at least {need} are needed (deflate expands at most about "
            "1032:1): the file is truncated or forged", path=path)
    if overrun is not None:
        kind, length = overrun
        name = kind.decode("latin-1")
        raise CorruptMediaError(f"PNG chunk {name!r} declares {length} bytes but the file ends {max(0, total - pos)} "
                                "bytes after it starts: the file is truncated or damaged", path=path)
    return header


_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # SHORT, LONG, LONG8


def _tiff_header(fh: IO[bytes], total: int, path: str | Path, checked: Checked | None = None) -> ImageHeader:
    """Size, samples and sample format from a TIFF's (or BigTIFF's) first directory."""
    head = fh.read(16)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8:
        raise CorruptMediaError("TIFF header is damaged", path=path)
    version = struct.unpack(order + "H", head[2:4])[0]
    if version == 42:
        offset, count_fmt, entry_size, inline = struct.unpack(order + "I", head[4:8])[0], "H", 12, 4
    elif version == 43 and len(head) >= 16:
        offset, count_fmt, entry_size, inline = struct.unpack(order + "Q", head[8:16])[0], "Q", 20, 8
    else:
        raise CorruptMediaError(f"TIFF header is damaged (version {version})", path=path)
    count_size = struct.calcsize(count_fmt)
    if offset + count_size > total:
        raise CorruptMediaError("TIFF directory lies past the end of the file; the file is truncated", path=path)
    fh.seek(offset)
    (count,) = struct.unpack(order + count_fmt, fh.read(count_size))
    count = min(count, 4096, max(0, (total - offset - count_size) // entry_size))
    table = fh.read(count * entry_size)
    tags: dict[int, tuple[int, ...]] = {}
    for i in range(count):
        entry = table[i * entry_size:(i + 1) * entry_size]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag not in (256, 257, 258, 262, 277, 339) or kind not in _TIFF_TYPES:
            continue
        n = struct.unpack(order + ("I" if inline == 4 else "Q"), entry[4:4 + inline])[0]
        code, size = _TIFF_TYPES[kind]
        n = min(n, 64)
        data = entry[4 + inline:]
        if n * size > inline:
            where = struct.unpack(order + ("I" if inline == 4 else "Q"), data)[0]
            if where + n * size > total:
                raise CorruptMediaError(f"TIFF tag {tag} points past the end of the file; the file is truncated",
                                        path=path)
            fh.seek(where)
            data = fh.read(n * size)
        tags[tag] = struct.unpack(order + code * n, data[:n * size])
    if not tags.get(256) or not tags.get(257):
        raise CorruptMediaError("TIFF header is damaged (no image width or height)", path=path)
    width, height = tags[256][0], tags[257][0]
    samples = (tags.get(277) or (1,))[0]
    bits = max(tags.get(258) or (1,))
    fmt = (tags.get(339) or (1,))[0]
    photometric = (tags.get(262) or (1,))[0]
    channels = 3 if photometric in (3, 5) else max(1, samples)
    sample_bytes = max(1, (bits + 7) // 8)
    if fmt == 3:
        dtype = {16: "float16", 32: "float32", 64: "float32"}.get(bits, "")
    else:
        dtype = "uint8" if bits <= 8 else "uint16" if bits <= 16 else ""
    header = ImageHeader(width, height, channels, dtype, sample_bytes)
    check_image_size(width, height, max(samples, channels), sample_bytes, path, checked=checked)
    return header


_PIL_CHANNELS = {"1": 1, "L": 1, "P": 3, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 3, "YCbCr": 3}
_PIL_DTYPES = {"I;16": "uint16", "I;16B": "uint16", "I;16L": "uint16", "F": "float32", "I": "uint16"}


def _pil() -> Any:
    """PIL's Image module with its own decompression-bomb guard off: sam3roto checks every
    header against :mod:`sam3roto.core.limits` itself, and PIL's fixed guard (an error above
    179 megapixels) would refuse stills the limits admit and ignore the settings."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    return Image


def _pil_header(fh: IO[bytes], suffix: str, path: str | Path, checked: Checked | None = None) -> ImageHeader:
    """Size and mode of a JPEG/BMP/WebP (or any image PIL identifies) from its header."""
    image = _pil()
    try:
        with image.open(fh) as im:
            width, height = im.size
            mode = im.mode
            if im.format == "JPEG" and im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                width, height = height, width  # EXIF says the picture is displayed rotated by 90
    except image.DecompressionBombError as exc:  # only if a host application turned PIL's guard back on
        raise MediaTooLargeError(f"PIL refuses the image as too large ({exc})", path=path) from None
    except MemoryError:
        raise MediaTooLargeError("the image header asks for more memory than there is", path=path) from None
    except Exception as exc:  # PIL's parsers raise anything from OSError to struct.error on damaged files
        raise CorruptMediaError(f"not a readable image ({type(exc).__name__}: {exc})", path=path) from None
    channels = _PIL_CHANNELS.get(mode, 1)
    dtype = _PIL_DTYPES.get(mode, "uint8")
    sample_bytes = {"uint16": 2, "float32": 4}.get(dtype, 1)
    header = ImageHeader(width, height, channels, dtype, sample_bytes)
    return check_header(header, path, checked=checked)


#: JPEG frame markers: SOF0-3 and 5-7 are Huffman coded, 9-11 and 13-15 arithmetic coded.
_JPEG_HUFFMAN_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7})
_JPEG_ARITHMETIC_SOF = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


#: How far into a JPEG its markers are looked for; a file whose scan starts later is at
#: least this long, which bounds what it can claim.
_JPEG_HEADER_BYTES = 1 << 20


def _jpeg_data_check(fh: IO[bytes], total: int, path: str | Path) -> None:
    """Refuse a Huffman-coded JPEG whose coded data is too short for the size it declares:
    every 8x8 block of every component costs at least one bit (its DC code), so a 3 KB file
    cannot hold a 100-megapixel picture, and a decoder given one would fill it in for
    seconds. (Arithmetic coding has no such floor; those files get the limits alone.)
    Markers are found as a decoder finds them, stepping over stray bytes between them."""
    fh.seek(0)
    buf = fh.read(_JPEG_HEADER_BYTES)
    pos, frame = 2, None
    while True:
        pos = buf.find(b"\xff", pos)
        while 0 <= pos < len(buf) - 1 and buf[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos < 0 or pos + 4 > len(buf):
            return  # no scan in the first bytes: the decoder reports what is wrong
        kind = buf[pos + 1]
        if kind == 0x00 or kind == 0x01 or 0xD0 <= kind <= 0xD8:  # stuffed byte, or a marker without a length
            pos += 2
            continue
        length = struct.unpack(">H", buf[pos + 2:pos + 4])[0]
        if kind in _JPEG_HUFFMAN_SOF or kind in _JPEG_ARITHMETIC_SOF:
            body = buf[pos + 4:pos + 2 + length]
            if len(body) >= 6:
                _, height, width, count = struct.unpack(">BHHB", body[:6])
                comps = [struct.unpack(">BBB", body[6 + 3 * i:9 + 3 * i]) for i in range(count)
                         if 9 + 3 * i <= len(body)]
                frame = (kind, width, height, comps)
        elif kind == 0xDA:  # start of scan: the coded data follows
            break
        pos += 2 + max(2, length)
    if frame is None or frame[0] not in _JPEG_HUFFMAN_SOF or not frame[3]:
        return
    _, width, height, comps = frame
    hmax = max(c[1] >> 4 for c in comps) or 1
    vmax = max(c[1] & 15 for c in comps) or 1
    blocks = 0
    for _, sampling, _ in comps:
        w = -(-width * (sampling >> 4) // hmax)
        h = -(-height * (sampling & 15) // vmax)
        blocks += -(-w // 8) * -(-h // 8)
    coded, need = total - pos, blocks // 8
    if coded < need:
        raise CorruptMediaError(
            f"the JPEG declares {width}x{height} ({blocks} blocks of 8x8, at least one bit each) but holds only "
            f"{coded} bytes of coded data where at least {need} are needed: the file is truncated or forged",
            path=path)


def _exr_bytes_per_sample(head: bytes) -> tuple[int, int]:
    """(channel count, largest sample in bytes) from the first ``chlist`` in an EXR header;
    (4, 4) when it cannot be found in ``head``."""
    at = head.find(b"channels\x00chlist\x00")
    if at < 0:
        return 4, 4
    pos = at + len(b"channels\x00chlist\x00") + 4
    count, widest = 0, 1
    while pos < len(head) and head[pos] != 0 and count < 1024:
        end = head.find(b"\x00", pos)
        if end < 0 or end + 5 > len(head):
            break
        pixel_type = struct.unpack("<i", head[end + 1:end + 5])[0]
        widest = max(widest, {0: 4, 1: 2, 2: 4}.get(pixel_type, 4))
        count += 1
        pos = end + 1 + 16
    return max(1, count), widest


def _exr_header(path: Path) -> ImageHeader:
    """Size and channels of an EXR's display window; both the display window and the data
    window (each decodes to an array of its own) are checked against the limits."""
    import OpenEXR

    try:
        with OpenEXR.File(str(path), header_only=True) as exr:
            header = dict(exr.header())  # the bindings empty the live header on close
    except Exception as exc:  # the bindings raise plain RuntimeError/Exception
        raise CorruptMediaError(f"not a readable OpenEXR file ({exc})", path=path) from None
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
        (x0, y0), (x1, y1) = (tuple(int(v) for v in w) for w in header["displayWindow"])
        (dx0, dy0), (dx1, dy1) = (tuple(int(v) for v in w) for w in header["dataWindow"])
        names = [c.name for c in header.get("channels", [])]
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise CorruptMediaError(f"OpenEXR header is damaged ({exc})", path=path) from None
    count, sample_bytes = _exr_bytes_per_sample(head)
    count = max(count, len(names))
    check_image_size(x1 - x0 + 1, y1 - y0 + 1, count, sample_bytes, path, "EXR display window")
    check_image_size(dx1 - dx0 + 1, dy1 - dy0 + 1, count, sample_bytes, path, "EXR data window")
    channels = 4 if "A" in names else 3
    return ImageHeader(x1 - x0 + 1, y1 - y0 + 1, channels, "", sample_bytes)


def _unsupported(suffix: str, path: str | Path) -> UnsupportedMediaError:
    return UnsupportedMediaError(f"'{suffix}' is not an image type sam3roto reads", path=path,
                                 hint="PNG, JPEG, TIFF, EXR, BMP or WebP")


def header_from_stream(fh: IO[bytes], total: int, path: str | Path, checked: Checked | None = None,
                       data: bool = False) -> ImageHeader:
    """The checked header of the encoded PNG/JPEG/TIFF/BMP/WebP image in seekable ``fh``
    (``total`` bytes long; ``path`` names it in errors). See :func:`read_header`;
    ``checked`` as in :func:`check_image_size`."""
    suffix = os.path.splitext(str(path))[1].lower()
    head = fh.read(8)
    fh.seek(0)
    if not head:
        raise CorruptMediaError("file is empty", path=path)
    try:
        if head.startswith(_PNG_SIG):
            return _png_header(fh, total, path, checked, data)
        if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _tiff_header(fh, total, path, checked)
    except (struct.error, OSError, EOFError) as exc:
        raise CorruptMediaError(f"image header is damaged or truncated ({exc})", path=path) from None
    if head.startswith(b"\x76\x2f\x31\x01"):  # OpenEXR magic
        raise CorruptMediaError("is an OpenEXR file; EXR frames are read from files, not from memory", path=path)
    header = _pil_header(fh, suffix, path, checked)
    if data and head.startswith(b"\xff\xd8"):
        try:
            _jpeg_data_check(fh, total, path)
        except (struct.error, OSError, ValueError) as exc:
            raise CorruptMediaError(f"JPEG header is damaged or truncated ({exc})", path=path) from None
    return header


def header_from_bytes(encoded: bytes, path: str | Path, data: bool = False) -> ImageHeader:
    """:func:`header_from_stream` for an encoded image held in memory."""
    return header_from_stream(io.BytesIO(encoded), len(encoded), path, data=data)


def read_header(path: str | Path, checked: Checked | None = None, data: bool = False) -> ImageHeader:
    """Read size, channel count and pixel dtype from ``path`` without decoding it, and check
    the declared size against the limits. With ``data`` (what decoding asks for) check too
    that the file's data can hold that size: a PNG's chunks must fit in the file and its
    image data inflate to the size at most 1032:1, a JPEG's coded data must hold a bit per
    block; else it is truncated or forged (:class:`CorruptMediaError`). Opening a sequence
    reads only the headers, so one damaged frame does not keep the others from opening.

    Raises :class:`MediaNotFoundError`, :class:`UnsupportedMediaError`,
    :class:`CorruptMediaError` or :class:`MediaTooLargeError` naming the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise _unsupported(suffix, path)
    try:
        with open(path, "rb") as fh:
            total = fh.seek(0, io.SEEK_END)
            fh.seek(0)
            if suffix != ".exr":
                return header_from_stream(fh, total, path, checked, data)
        return _exr_header(path)
    except FileNotFoundError:
        raise MediaNotFoundError("file does not exist", path=path) from None
    except IsADirectoryError:
        raise UnsupportedMediaError("is a folder, not an image file", path=path) from None
    except OSError as exc:
        raise CorruptMediaError(f"cannot be read: {exc.strerror or exc}", path=path) from None


# -- pixels ------------------------------------------------------------------------------

def _to_rgb(img: np.ndarray, path: Path) -> np.ndarray:
    """OpenCV's BGR / BGRA / grey layout to RGB, in place of a copy where possible."""
    import cv2

    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    channels = img.shape[2]
    if channels == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    raise UnsupportedMediaError(f"{channels}-channel images are not supported", path=path)


def _check_dtype(img: np.ndarray, path: Path) -> np.ndarray:
    if img.dtype in (np.uint8, np.uint16, np.float16, np.float32):
        return img
    if img.dtype == np.float64:
        return img.astype(np.float32)
    if img.dtype in (np.int8, np.int16, np.int32, np.uint32):
        raise UnsupportedMediaError(f"{img.dtype} pixels are not supported", path=path,
                                    hint="use 8/16-bit unsigned or float images")
    return img


def _decode(decode: Callable[[], np.ndarray | None], header: ImageHeader, path: str | Path) -> np.ndarray:
    """Run an OpenCV decoder on an image whose header passed the checks; its failures
    become errors naming the file."""
    import cv2

    try:
        img = decode()
    except MemoryError:
        size = limits.human_bytes(header.width * header.height * max(1, header.channels) * header.sample_bytes)
        raise MediaTooLargeError(f"there is not enough memory to decode the {header.width}x{header.height} image "
                                 f"({size})", path=path, hint=MEMORY_HINT) from None
    except cv2.error as exc:
        text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        if "MAX_IMAGE_PIXELS" in text:
            raise MediaTooLargeError(f"OpenCV refuses images over {MAX_IMAGE_PIXELS} pixels and this one declares "
                                     f"{header.width}x{header.height}", path=path,
                                     hint="raise OPENCV_IO_MAX_IMAGE_PIXELS as well as the sam3roto limit") from None
        raise CorruptMediaError(f"image data is damaged and cannot be decoded ({text})", path=path) from None
    if img is None:
        raise CorruptMediaError("image data is damaged or truncated and cannot be decoded", path=path)
    if img.shape[:2] != (header.height, header.width) and img.shape[:2] != (header.width, header.height):
        raise CorruptMediaError(f"decoded size {img.shape[1]}x{img.shape[0]} disagrees with the header's "
                                f"{header.width}x{header.height}", path=path)
    return _to_rgb(_check_dtype(img, Path(path)), Path(path))


def decode_image_bytes(data: bytes, path: str | Path) -> np.ndarray:
    """Decode an encoded PNG/JPEG/TIFF/BMP/WebP image held in memory (``path`` names it in
    errors). The header is checked first, as in :func:`read_header`."""
    import cv2

    header = header_from_bytes(data, path, data=True)
    buf = np.frombuffer(data, dtype=np.uint8)
    flags = cv2.IMREAD_COLOR if os.path.splitext(str(path))[1].lower() in (".jpg", ".jpeg") else cv2.IMREAD_UNCHANGED
    return _decode(lambda: cv2.imdecode(buf, flags), header, path)


def read_image(path: str | Path) -> np.ndarray:
    """Decode ``path`` to RGB ``(H, W, 3)`` in the file's dtype (see module docstring).

    JPEG EXIF orientation is applied. The header is checked first (:func:`read_header`).
    Raises :class:`MediaNotFoundError`, :class:`UnsupportedMediaError`,
    :class:`CorruptMediaError` or :class:`MediaTooLargeError` naming the file.
    """
    import cv2

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".exr":
        return read_exr_rgb(path)
    header = read_header(path, data=True)
    flags = cv2.IMREAD_COLOR if suffix in (".jpg", ".jpeg") else cv2.IMREAD_UNCHANGED
    return _decode(lambda: cv2.imread(str(path), flags), header, path)


def read_exr_rgb(path: str | Path) -> np.ndarray:
    """Read the RGB (or Y) channels of an OpenEXR file's first part as ``(H, W, 3)``.

    Half channels stay ``float16``, float channels are ``float32``. The result covers the
    display window; pixels outside the data window are 0.
    """
    import OpenEXR

    path = Path(path)
    read_header(path)  # the windows against the limits, before the bindings allocate them
    try:
        with OpenEXR.File(str(path), separate_channels=True) as exr:
            header = dict(exr.header())  # the bindings empty the live header on close
            channels = {name: ch.pixels for name, ch in exr.channels().items()}
    except MemoryError:
        raise MediaTooLargeError("there is not enough memory to decode the EXR", path=path,
                                 hint=MEMORY_HINT) from None
    except Exception as exc:
        raise CorruptMediaError(f"OpenEXR cannot decode it ({exc})", path=path) from None
    if all(k in channels for k in ("R", "G", "B")):
        planes = [channels["R"], channels["G"], channels["B"]]
    elif "Y" in channels:
        planes = [channels["Y"]] * 3
    else:
        raise UnsupportedMediaError(
            f"no R/G/B or Y channels (found {', '.join(sorted(channels)) or 'none'})", path=path,
            hint="write the plate's colour into the default layer")
    dtype = np.result_type(*[p.dtype for p in planes])
    if dtype not in (np.float16, np.float32):
        dtype = np.dtype(np.float32)
    (dx0, dy0), (dx1, dy1) = (tuple(int(v) for v in w) for w in header["dataWindow"])
    (wx0, wy0), (wx1, wy1) = (tuple(int(v) for v in w) for w in header["displayWindow"])
    if (dx0, dy0, dx1, dy1) == (wx0, wy0, wx1, wy1):
        return np.stack(planes, axis=-1).astype(dtype, copy=False)
    out = np.zeros((wy1 - wy0 + 1, wx1 - wx0 + 1, 3), dtype=dtype)
    # Paste the overlap of the data window into the display window (overscan is cropped).
    ox0, oy0, ox1, oy1 = max(dx0, wx0), max(dy0, wy0), min(dx1, wx1), min(dy1, wy1)
    if ox0 <= ox1 and oy0 <= oy1:
        for c, plane in enumerate(planes):
            src = plane[oy0 - dy0:oy1 - dy0 + 1, ox0 - dx0:ox1 - dx0 + 1]
            out[oy0 - wy0:oy1 - wy0 + 1, ox0 - wx0:ox1 - wx0 + 1, c] = src
    return out

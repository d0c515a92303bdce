"""Reading single image files: PNG/JPEG/TIFF (8/16 bit, float TIFF) and OpenEXR.

Frames come back as RGB ``(H, W, 3)`` in the file's own dtype (``uint8``, ``uint16``,
``float16`` or ``float32``): no float64 copies, so a 6000x9000 still costs what it costs
on disk uncompressed. Greyscale is promoted to RGB; a plate's alpha channel is dropped
(``ImageHeader.channels`` still reports it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sam3roto.errors import CorruptMediaError, MediaNotFoundError, UnsupportedMediaError

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".webp"})

#: OpenCV refuses images above this many pixels by default (2**30); we allow the same.
MAX_IMAGE_PIXELS = 1 << 30


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says, read without decoding the pixels."""

    width: int
    height: int
    channels: int
    dtype: str  # numpy dtype name of the decoded pixels, "" when the header cannot tell

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


def is_image_file(path: str | Path) -> bool:
    """True for a suffix sam3roto can read as a still."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


# -- headers -----------------------------------------------------------------------------

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def _png_header(head: bytes, path: Path) -> ImageHeader:
    if len(head) < 29 or head[12:16] != b"IHDR":
        raise CorruptMediaError("PNG header is damaged (no IHDR chunk)", path=path)
    width, height, bit_depth, color_type = struct.unpack(">IIBB", head[16:26])
    if color_type not in _PNG_CHANNELS:
        raise CorruptMediaError(f"PNG colour type {color_type} is invalid", path=path)
    dtype = "uint16" if bit_depth == 16 and color_type != 3 else "uint8"
    return ImageHeader(width, height, _PNG_CHANNELS[color_type], dtype)


def read_header(path: str | Path) -> ImageHeader:
    """Read size, channel count and pixel dtype from ``path`` without decoding it.

    Raises :class:`MediaNotFoundError`, :class:`UnsupportedMediaError` or
    :class:`CorruptMediaError` naming the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UnsupportedMediaError(f"'{suffix}' is not an image type sam3roto reads", path=path,
                                    hint="PNG, JPEG, TIFF, EXR, BMP or WebP")
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except FileNotFoundError:
        raise MediaNotFoundError("file does not exist", path=path) from None
    except OSError as exc:
        raise CorruptMediaError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    if not head:
        raise CorruptMediaError("file is empty", path=path)
    if head.startswith(_PNG_SIG):
        return _png_header(head, path)
    if suffix == ".exr":
        return _exr_header(path)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
            mode = im.mode
            if suffix in (".jpg", ".jpeg") and im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                width, height = height, width  # EXIF says the picture is displayed rotated by 90
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptMediaError(f"not a readable image ({exc})", path=path) from None
    channels = {"1": 1, "L": 1, "P": 3, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 3, "YCbCr": 3}.get(mode, 1)
    dtype = {"I;16": "uint16", "I;16B": "uint16", "I;16L": "uint16", "F": "float32", "I": "uint16"}.get(mode, "uint8")
    if suffix in (".tif", ".tiff") and mode not in ("1", "L", "P", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L"):
        dtype = ""  # PIL cannot describe 16-bit or float RGB TIFF; the decoder will tell
    return ImageHeader(width, height, channels, dtype)


def _exr_header(path: Path) -> ImageHeader:
    import OpenEXR

    try:
        with OpenEXR.File(str(path), header_only=True) as exr:
            header = dict(exr.header())  # the bindings empty the live header on close
    except Exception as exc:  # the bindings raise plain RuntimeError/Exception
        raise CorruptMediaError(f"not a readable OpenEXR file ({exc})", path=path) from None
    (x0, y0), (x1, y1) = header["displayWindow"]
    names = [c.name for c in header.get("channels", [])]
    channels = 4 if "A" in names else 3
    return ImageHeader(int(x1 - x0 + 1), int(y1 - y0 + 1), channels, "")


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


def decode_image_bytes(data: bytes, path: str | Path) -> np.ndarray:
    """Decode an encoded PNG/JPEG/TIFF/BMP/WebP image held in memory (``path`` names it in errors)."""
    import cv2

    path = Path(path)
    buf = np.frombuffer(data, dtype=np.uint8)
    flags = cv2.IMREAD_COLOR if path.suffix.lower() in (".jpg", ".jpeg") else cv2.IMREAD_UNCHANGED
    img = cv2.imdecode(buf, flags) if buf.size else None
    if img is None:
        raise CorruptMediaError("image data is damaged or truncated and cannot be decoded", path=path)
    return _to_rgb(_check_dtype(img, path), path)


def read_image(path: str | Path) -> np.ndarray:
    """Decode ``path`` to RGB ``(H, W, 3)`` in the file's dtype (see module docstring).

    JPEG EXIF orientation is applied. Raises :class:`MediaNotFoundError`,
    :class:`UnsupportedMediaError` or :class:`CorruptMediaError` naming the file.
    """
    import cv2

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".exr":
        return read_exr_rgb(path)
    if suffix not in IMAGE_SUFFIXES:
        raise UnsupportedMediaError(f"'{suffix}' is not an image type sam3roto reads", path=path)
    if not path.is_file():
        raise MediaNotFoundError("file does not exist", path=path)
    flags = cv2.IMREAD_COLOR if suffix in (".jpg", ".jpeg") else cv2.IMREAD_UNCHANGED
    img = cv2.imread(str(path), flags)
    if img is None:
        raise CorruptMediaError("image is damaged or truncated and cannot be decoded", path=path)
    return _to_rgb(_check_dtype(img, path), path)


def read_exr_rgb(path: str | Path) -> np.ndarray:
    """Read the RGB (or Y) channels of an OpenEXR file's first part as ``(H, W, 3)``.

    Half channels stay ``float16``, float channels are ``float32``. The result covers the
    display window; pixels outside the data window are 0.
    """
    import OpenEXR

    path = Path(path)
    if not path.is_file():
        raise MediaNotFoundError("file does not exist", path=path)
    try:
        with OpenEXR.File(str(path), separate_channels=True) as exr:
            header = dict(exr.header())  # the bindings empty the live header on close
            channels = {name: ch.pixels for name, ch in exr.channels().items()}
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

"""Seeded fuzzing of image headers and ZIP listings: byte mutations of small valid PNG,
JPEG, TIFF, BMP, WebP, EXR and ZIP files (bytes flipped, sizes in the header made huge,
truncation, slices repeated, a ZIP's directory sizes and offsets changed) fed to
``read_header``, ``read_image``, ``decode_image_bytes`` and ``open_media``, where only
sam3roto's own errors may come out, each case in bounded time.

``SAM3ROTO_FUZZ_CASES=10000 python -m pytest -m fuzz tests/media/test_fuzz_media.py`` for
the full run.
"""

from __future__ import annotations

import random
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.errors import MediaTooLargeError, Sam3RotoError
from sam3roto.media import open_media
from sam3roto.media.image_io import decode_image_bytes, read_header, read_image
from tests.fuzz import FUZZ_CASES, check_parser
from tests.media.test_hostile_media import jpeg_bytes, png_bytes, tiny_exr

pytestmark = pytest.mark.fuzz

#: Values a hostile header puts where a size or an offset belongs.
HUGE = [0, 1, 2, 255, 256, 65535, 65536, 99999, 1 << 24, (1 << 31) - 1, 1 << 31, (1 << 32) - 1]


def _encoded(suffix: str, img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(suffix, img)
    assert ok
    return buf.tobytes()


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    from io import BytesIO

    out = BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def seeds(tmp: Path) -> dict[str, bytes]:
    """One small valid file per format (the key is its suffix)."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    return {
        ".png": png_bytes(9, 7, channels=4, depth=16),
        ".jpg": jpeg_bytes(),
        ".tif": _encoded(".tif", rng.integers(0, 65536, (6, 10, 3), dtype=np.uint16)),
        ".bmp": _encoded(".bmp", noise),
        ".webp": _encoded(".webp", noise),
        ".exr": tiny_exr(tmp / "seed.exr").read_bytes(),
        ".zip": _zip({f"clip/{i:08d}.png": _encoded(".png", noise + i) for i in range(1, 4)}),
    }


# -- the mutator -------------------------------------------------------------------------------

def _put(data: bytearray, at: int, fmt: str, value: int) -> None:
    size = struct.calcsize(fmt)
    if at >= 0 and at + size <= len(data):
        data[at:at + size] = (value % (1 << (8 * size))).to_bytes(size, "big" if fmt[0] == ">" else "little")


def _size_fields(data: bytes, suffix: str) -> list[tuple[int, str]]:
    """(offset, struct format) of the fields that hold sizes, counts and offsets."""
    fields: list[tuple[int, str]] = []
    if suffix == ".png":
        fields += [(16, ">I"), (20, ">I"), (8, ">I")]
    elif suffix == ".jpg":
        at = data.find(b"\xff\xc0")
        fields += [(at + 5, ">H"), (at + 7, ">H"), (at + 2, ">H")] if at > 0 else []
    elif suffix == ".tif" and len(data) >= 8:
        ifd = struct.unpack("<I", data[4:8])[0]
        fields += [(4, "<I"), (ifd, "<H")] + [(ifd + 2 + 12 * i + k, "<I") for i in range(12) for k in (4, 8)]
    elif suffix == ".bmp":
        fields += [(2, "<I"), (10, "<I"), (18, "<i"), (22, "<i"), (28, "<H"), (34, "<I")]
    elif suffix == ".webp":
        fields += [(4, "<I"), (16, "<I"), (26, "<H"), (28, "<H")]
    elif suffix == ".exr":
        for name in (b"displayWindow", b"dataWindow"):
            at = data.find(name + b"\x00box2i\x00")
            if at > 0:
                at += len(name) + 7 + 4
                fields += [(at + 4 * k, "<i") for k in range(4)]
        at = data.find(b"channels\x00chlist\x00")
        fields += [(at + 18, "<i"), (at + 30, "<i")] if at > 0 else []
    elif suffix == ".zip":
        at = data.find(b"PK\x01\x02")
        while at >= 0:  # central directory: sizes, name/extra lengths, local header offset
            fields += [(at + 20, "<I"), (at + 24, "<I"), (at + 28, "<H"), (at + 30, "<H"), (at + 42, "<I")]
            at = data.find(b"PK\x01\x02", at + 4)
        at = data.find(b"PK\x03\x04")
        while at >= 0:  # local headers
            fields += [(at + 18, "<I"), (at + 22, "<I"), (at + 26, "<H"), (at + 28, "<H")]
            at = data.find(b"PK\x03\x04", at + 4)
        end = data.rfind(b"PK\x05\x06")
        fields += [(end + 8, "<H"), (end + 10, "<H"), (end + 12, "<I"), (end + 16, "<I")] if end >= 0 else []
    return fields


def _fix_png_crc(data: bytearray) -> None:
    if data[12:16] == b"IHDR" and len(data) >= 33:
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))


def mutate(seed: bytes, suffix: str, rng: random.Random) -> bytes:
    """One to three edits of ``seed``."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        fields = _size_fields(bytes(data), suffix)
        if roll < 0.4 and fields:
            at, fmt = rng.choice(fields)
            _put(data, at, fmt, rng.choice([*HUGE, rng.randrange(1 << 32), -rng.randrange(1 << 16)]))
            if suffix == ".png" and rng.random() < 0.8:
                _fix_png_crc(data)  # a forged size, not a damaged header
        elif roll < 0.65 and data:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif roll < 0.8:
            del data[rng.randint(0, max(0, len(data) - 1)):]
        elif roll < 0.9 and data:
            start = rng.randrange(len(data))
            piece = data[start:start + rng.randint(1, 64)]
            at = rng.randrange(len(data))
            data[at:at] = piece * rng.choice([1, 2, 50])
        elif data:
            start = rng.randrange(len(data))
            data[start:start + rng.randint(1, 32)] = bytes(rng.randint(1, 32))
    return bytes(data)


def cases(seed: bytes, suffix: str, n: int = FUZZ_CASES) -> Iterator[str]:
    """``n`` mutated files as latin-1 text (check_parser takes text), the same on every run."""
    rng = random.Random(f"{suffix}-0")
    for _ in range(n):
        yield mutate(seed, suffix, rng).decode("latin-1")


# -- the targets -----------------------------------------------------------------------------

Outcome = dict[str, int]


def _reader(folder: Path, suffix: str, outcome: Outcome) -> Callable[[str, int], None]:
    """Write each case to a file and read it every way sam3roto reads that format; count
    how far each got (so a mutator that never reached the decoder would be seen)."""

    def attempt(name: str, step: Callable[[], object]) -> None:
        try:
            step()
            outcome[name + " ok"] = outcome.get(name + " ok", 0) + 1
        except MediaTooLargeError:
            outcome["too large"] = outcome.get("too large", 0) + 1
        except Sam3RotoError:
            outcome[name + " refused"] = outcome.get(name + " refused", 0) + 1

    def parse(text: str, case: int) -> None:
        data = text.encode("latin-1")
        path = folder / f"case{suffix}"
        path.write_bytes(data)
        if suffix == ".zip":
            attempt("open", lambda: _read_all(path))
            return
        attempt("header", lambda: read_header(path))
        attempt("decode", lambda: read_image(path))
        if suffix != ".exr":
            attempt("bytes", lambda: decode_image_bytes(data, f"case{case}{suffix}"))
        attempt("open", lambda: _read_all(path))

    return parse


def _read_all(path: Path) -> None:
    with open_media(path) as source:
        for index in range(source.info.frame_count):
            source.read(index)


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return seeds(tmp_path_factory.mktemp("media-seeds"))


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".bmp", ".webp", ".exr", ".zip"])
def test_mutated_files_end_in_sam3roto_errors(seed_files: dict[str, bytes], suffix: str, tmp_path: Path) -> None:
    seed = seed_files[suffix]
    outcome: Outcome = {}
    parse = _reader(tmp_path, suffix, outcome)
    parse(seed.decode("latin-1"), -1)
    assert outcome.get("open ok") == 1, f"the seed itself does not read: {outcome}"
    outcome.clear()
    count = check_parser(parse, cases(seed, suffix), Sam3RotoError, per_case_s=10.0)
    assert count == FUZZ_CASES
    # The cases reach both ends: some still read, some are refused.
    assert outcome.get("open ok", 0) > 0 and sum(v for k, v in outcome.items() if "refused" in k) > 0, outcome
    if suffix in (".png", ".jpg", ".tif", ".exr") and FUZZ_CASES >= 100:
        assert outcome.get("too large", 0) > 0, outcome  # the header sizes were made huge

"""Conversions every exporter shares, and atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sam3roto.errors import Sam3RotoError
from sam3roto.export.base import rgba_uint, to_uint, write_atomic


def test_to_uint_rounds_clips_and_rescales_exactly() -> None:
    v = np.array([[-1.0, 0.0, 0.25, 1.0, 2.0, np.nan]], np.float32)
    np.testing.assert_array_equal(to_uint(v, 16), [[0, 0, 16384, 65535, 65535, 0]])
    np.testing.assert_array_equal(to_uint(v, 8), [[0, 0, 64, 255, 255, 0]])
    eight = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(to_uint(to_uint(eight, 16), 8), eight)  # 8 -> 16 -> 8 is lossless
    assert to_uint(eight, 16).max() == 65535
    with pytest.raises(ValueError, match="bit depth must be 8 or 16"):
        to_uint(v, 10)


def test_rgba_uint_orders_channels() -> None:
    rgb = np.zeros((2, 3, 3), np.float32)
    rgb[..., 0] = 1.0  # red
    matte = np.full((2, 3), 0.5, np.float32)
    np.testing.assert_array_equal(rgba_uint(rgb, matte, 8)[0, 0], [255, 0, 0, 128])
    np.testing.assert_array_equal(rgba_uint(rgb, matte, 8, bgra=True)[0, 0], [0, 0, 255, 128])
    plate = np.full((2, 3, 3), 255, np.uint8)
    np.testing.assert_array_equal(rgba_uint(plate, matte, 16)[1, 2], [65535, 65535, 65535, 32768])


def test_write_atomic_names_the_file_it_could_not_write(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "a.png"
    with pytest.raises(Sam3RotoError, match="could not write the file") as err:
        write_atomic(target, b"x")
    assert str(target) in str(err.value)
    write_atomic(tmp_path / "b.png", b"data")
    assert (tmp_path / "b.png").read_bytes() == b"data" and list(tmp_path.glob(".*")) == []

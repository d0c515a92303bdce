"""Scrub cache: byte budget, prefetch in the direction of travel, GOP fill going back."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from sam3roto.core.lru import ArrayLRU
from sam3roto.media import open_media
from sam3roto.media.cache import CachedReader
from tests.conftest import sequential_decode


def test_lru_budget_and_order() -> None:
    lru = ArrayLRU(budget_bytes=3 * 100)
    for i in range(3):
        lru.put(i, np.zeros(100, np.uint8))
    lru.get(0)  # 0 becomes most recent; 1 is now the oldest
    lru.put(3, np.zeros(100, np.uint8))
    assert 1 not in lru and all(i in lru for i in (0, 2, 3))
    assert lru.nbytes == 300
    frame = lru.get(0)
    assert frame is not None and not frame.flags.writeable
    lru.discard(0)
    assert 0 not in lru and lru.nbytes == 200
    with pytest.raises(ValueError, match="budget_bytes"):
        ArrayLRU(0)


def _wait_cached(reader: CachedReader, indices: range, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(i in reader.cache for i in indices):
            return
        time.sleep(0.01)
    raise AssertionError(f"prefetch did not cache {list(indices)} in {timeout} s")


def test_frames_equal_the_source_in_any_order(synthetic_mp4: Path) -> None:
    reference = sequential_decode(synthetic_mp4)
    with open_media(synthetic_mp4) as source, CachedReader(source) as reader:
        for index in [5, 6, 7, 30, 29, 28, 0, 47, 46, 12, 13, 11]:
            np.testing.assert_array_equal(reader.get(index), reference[index], err_msg=f"frame {index}")


def test_prefetch_forward_makes_next_steps_hits(synthetic_mp4: Path) -> None:
    with open_media(synthetic_mp4) as source, CachedReader(source, ahead=6) as reader:
        reader.get(3)
        _wait_cached(reader, range(4, 10))
        misses = reader.misses
        for index in range(4, 10):
            reader.get(index)
        assert reader.misses == misses


def test_stepping_back_fills_the_gop(synthetic_mp4: Path) -> None:
    # GOP 12: frames 36..47 share a keyframe. One step back into it decodes them all once.
    with open_media(synthetic_mp4) as source, CachedReader(source, behind=12) as reader:
        reader.get(47)
        reader.get(46)
        assert all(i in reader.cache for i in range(36, 47))
        _wait_cached(reader, range(34, 46))  # the prefetcher went on into the previous GOP
        misses = reader.misses
        for index in range(45, 33, -1):
            reader.get(index)
        assert reader.misses == misses


def test_budget_is_respected(synthetic_mp4: Path) -> None:
    with open_media(synthetic_mp4) as source:
        frame_bytes = source.info.frame_bytes
        with CachedReader(source, budget_bytes=5 * frame_bytes, ahead=20) as reader:
            for index in range(0, 30):
                reader.get(index)
            time.sleep(0.2)
            assert reader.cache.nbytes <= 5 * frame_bytes


def test_without_prefetch(synthetic_mp4: Path) -> None:
    reference = sequential_decode(synthetic_mp4)
    with open_media(synthetic_mp4) as source, CachedReader(source, prefetch=False) as reader:
        np.testing.assert_array_equal(reader.get(20), reference[20])
        np.testing.assert_array_equal(reader.get(20), reference[20])
        assert (reader.hits, reader.misses) == (1, 1)
        with pytest.raises(IndexError):
            reader.get(99)


def test_sequence_source_prefetch(tmp_path: Path) -> None:
    import cv2

    for n in range(10):
        cv2.imwrite(str(tmp_path / f"f.{n:04d}.png"), np.full((8, 8, 3), n, np.uint8))
    with open_media(tmp_path) as source, CachedReader(source, ahead=4) as reader:
        assert reader.get(2)[0, 0, 0] == 2
        _wait_cached(reader, range(3, 7))
        assert reader.get(6)[0, 0, 0] == 6

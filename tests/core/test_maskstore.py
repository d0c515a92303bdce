"""Mask store: lossless round trip, atomic writes, bounded cache, listing and deletion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sam3roto.core.maskstore import MaskStore
from sam3roto.errors import ProjectError


@pytest.mark.parametrize("shape", [(1, 1), (37, 53), (480, 854), (2160, 3840)])
def test_round_trip_is_identity(tmp_path: Path, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    mask = rng.random(shape) > 0.5
    store = MaskStore(tmp_path / "masks")
    store.put(1, 7, mask)
    fresh = MaskStore(tmp_path / "masks")  # no cache: read from disk
    got = fresh.get(1, 7)
    assert got is not None and got.dtype == np.bool_
    np.testing.assert_array_equal(got, mask)
    assert (tmp_path / "masks" / "obj_0001" / "000007.png").is_file()


def test_listing_and_deleting(tmp_path: Path) -> None:
    store = MaskStore(tmp_path)
    empty = np.zeros((4, 4), bool)
    for obj, frame in [(1, 3), (1, 0), (2, 5), (1, 10)]:
        store.put(obj, frame, empty)
    assert store.objects() == [1, 2]
    assert store.frames(1) == [0, 3, 10]
    assert store.get(3, 0) is None and not store.has(3, 0)
    store.delete(1, 3)
    assert store.frames(1) == [0, 10] and store.get(1, 3) is None
    store.delete_object(1)
    assert store.objects() == [2] and store.get(1, 0) is None
    assert not list(tmp_path.rglob("*.tmp"))


def test_overwrite_replaces(tmp_path: Path) -> None:
    store = MaskStore(tmp_path)
    store.put(1, 0, np.zeros((5, 5), bool))
    store.put(1, 0, np.ones((5, 5), bool))
    got = MaskStore(tmp_path).get(1, 0)
    assert got is not None and got.all()


def test_cache_is_bounded(tmp_path: Path) -> None:
    store = MaskStore(tmp_path, cache_bytes=3 * 100 * 100)
    for frame in range(10):
        store.put(1, frame, np.ones((100, 100), bool))
    assert store._cache.nbytes <= 3 * 100 * 100
    got = store.get(1, 0)  # evicted from RAM, still on disk
    assert got is not None and got.all()


def test_failed_write_leaves_the_old_mask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MaskStore(tmp_path)
    store.put(1, 0, np.zeros((6, 6), bool))

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("sam3roto.core.maskstore.os.replace", broken_replace)
    with pytest.raises(ProjectError, match=r"000000.png: the mask cannot be written: disk full \(No space left on "
                       r"device\) \(free space on that disk; the masks already written are kept\)"):
        store.put(1, 0, np.ones((6, 6), bool))
    monkeypatch.undo()
    got = MaskStore(tmp_path).get(1, 0)
    assert got is not None and not got.any()
    assert not list(tmp_path.rglob("*.tmp"))


def test_bad_input(tmp_path: Path) -> None:
    store = MaskStore(tmp_path)
    with pytest.raises(TypeError, match="dtype bool"):
        store.put(1, 0, np.zeros((4, 4), np.float32))
    with pytest.raises(TypeError, match="2-D"):
        store.put(1, 0, np.zeros((4, 4, 3), bool))
    with pytest.raises(ValueError, match="frame index"):
        store.put(1, -1, np.zeros((4, 4), bool))
    damaged = store.path(1, 2)
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_bytes(b"junk")
    with pytest.raises(ProjectError, match=r"000002\.png"):
        store.get(1, 2)

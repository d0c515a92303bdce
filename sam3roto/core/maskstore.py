"""The on-disk mask store: one lossless 1-bit PNG per object per frame.

Layout: ``ROOT/obj_0001/000042.png`` for object 1, frame index 42. A 1-bit PNG is
lossless, small (a 4K mask is tens of KB) and opens in any image tool. Every write is
atomic (temp file + ``os.replace``), so a crash or a cancelled job leaves each frame
either as it was or fully written. Decoded masks are kept in a byte-bounded LRU, so a
long shot never sits in RAM whole.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from sam3roto.core.lru import ArrayLRU
from sam3roto.errors import ProjectError

_FRAME_RE = re.compile(r"^(\d{6,})\.png$")
_OBJ_RE = re.compile(r"^obj_(\d{4,})$")


def _check_mask(mask: np.ndarray) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise TypeError(f"a mask must be a 2-D numpy array (H, W), got {getattr(mask, 'shape', type(mask).__name__)}")
    if mask.dtype != np.bool_:
        raise TypeError(f"a mask must be dtype bool, got {mask.dtype}; threshold mattes before storing them")
    return mask


class MaskStore:
    """Per-object, per-frame boolean masks under ``root`` (created on first write)."""

    def __init__(self, root: str | Path, cache_bytes: int = 256 * 1024**2) -> None:
        self.root = Path(root)
        self._cache = ArrayLRU(cache_bytes)

    def _obj_dir(self, obj_id: int) -> Path:
        if obj_id < 0:
            raise ValueError(f"object id must be >= 0, got {obj_id}")
        return self.root / f"obj_{obj_id:04d}"

    def path(self, obj_id: int, frame: int) -> Path:
        """Where the mask of ``obj_id`` on frame index ``frame`` lives."""
        if frame < 0:
            raise ValueError(f"frame index must be >= 0, got {frame}")
        return self._obj_dir(obj_id) / f"{frame:06d}.png"

    def put(self, obj_id: int, frame: int, mask: np.ndarray) -> None:
        """Store ``mask`` (bool (H, W)) atomically, replacing any earlier one."""
        import cv2

        mask = _check_mask(mask)
        target = self.path(obj_id, frame)
        target.parent.mkdir(parents=True, exist_ok=True)
        ok, encoded = cv2.imencode(".png", mask.view(np.uint8) * np.uint8(255),
                                   [cv2.IMWRITE_PNG_BILEVEL, 1, cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise ProjectError("mask could not be encoded as PNG", path=target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(encoded.tobytes())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._cache.put((obj_id, frame), mask.copy())

    def get(self, obj_id: int, frame: int) -> np.ndarray | None:
        """The mask (bool (H, W), read-only) or None when none is stored."""
        import cv2

        cached = self._cache.get((obj_id, frame))
        if cached is not None:
            return cached
        path = self.path(obj_id, frame)
        if not path.is_file():
            return None
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ProjectError("stored mask is damaged and cannot be decoded", path=path,
                               hint="delete it and track that frame again")
        mask = img > 127
        self._cache.put((obj_id, frame), mask)
        return mask

    def has(self, obj_id: int, frame: int) -> bool:
        return (obj_id, frame) in self._cache or self.path(obj_id, frame).is_file()

    def frames(self, obj_id: int) -> list[int]:
        """Frame indices holding a mask of ``obj_id``, ascending."""
        folder = self._obj_dir(obj_id)
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _FRAME_RE.match(p.name)))

    def objects(self) -> list[int]:
        """Object ids with a folder in the store, ascending."""
        if not self.root.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.root.iterdir() if p.is_dir() and (m := _OBJ_RE.match(p.name)))

    def delete(self, obj_id: int, frame: int) -> None:
        """Forget one mask (no error when absent)."""
        self._cache.discard((obj_id, frame))
        self.path(obj_id, frame).unlink(missing_ok=True)

    def key_masks(self) -> MaskStore:
        """The store of key masks (masks given as keyframes: painted, imported), kept apart
        from tracking results in ``ROOT/keys`` so re-tracking never overwrites them."""
        return MaskStore(self.root / "keys", cache_bytes=32 * 1024**2)

    def delete_object(self, obj_id: int) -> None:
        """Forget every mask of ``obj_id``."""
        for frame in self.frames(obj_id):
            self._cache.discard((obj_id, frame))
        shutil.rmtree(self._obj_dir(obj_id), ignore_errors=True)

    def snapshot(self, obj_ids: list[int], target: Path) -> None:
        """Copy the masks of ``obj_ids`` into ``target`` (for undo of a tracking run)."""
        target.mkdir(parents=True, exist_ok=True)
        for obj_id in obj_ids:
            src = self._obj_dir(obj_id)
            if src.is_dir():
                shutil.copytree(src, target / src.name, dirs_exist_ok=True)

    def restore(self, obj_ids: list[int], source: Path) -> None:
        """Make the masks of ``obj_ids`` exactly those saved by :meth:`snapshot` in ``source``
        (objects absent there end with no masks)."""
        for obj_id in obj_ids:
            self.delete_object(obj_id)
            saved = source / self._obj_dir(obj_id).name
            if saved.is_dir():
                shutil.copytree(saved, self._obj_dir(obj_id))

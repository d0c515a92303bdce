"""The on-disk mask store: one lossless 1-bit PNG per object per frame.

Layout: ``ROOT/obj_0001/000042.png`` for object 1, frame index 42. A 1-bit PNG is
lossless, small (a 4K mask is tens of KB) and opens in any image tool. Every write is
atomic (temp file + ``os.replace``), so a crash or a cancelled job leaves each frame
either as it was or fully written; the temporary files of a writer that was killed are
removed when the store is opened (:meth:`MaskStore.remove_leftovers`). Decoded masks are
kept in a byte-bounded LRU, so a long shot never sits in RAM whole.

Identity: a store bound to a project (:meth:`MaskStore.bind`) records the project's uid
in ``ROOT/store.json`` and each object's uid in ``ROOT/obj_0001/object.json``, written
before the object's first mask. Masks whose folder records another uid (an object made
in a session that was discarded, whose id a new object now has) are never returned, and
the first write of the new object replaces them. Stores written before identities
existed (no ``store.json``) are adopted as they are.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sam3roto.core.atomic import atomic_write_text, disk_full, os_reason, remove_stale_temps, temp_for
from sam3roto.core.lru import ArrayLRU
from sam3roto.errors import ProjectError

_FRAME_RE = re.compile(r"^(\d{6,})\.png$")
_OBJ_RE = re.compile(r"^obj_(\d{4,})$")
STORE_FILE = "store.json"
OBJECT_FILE = "object.json"
TRACK_FILE = "track.json"
STORE_FORMAT = 1


#: What to do when the store cannot be written because the disk is full.
FREE_SPACE_HINT = "free space on that disk; the masks already written are kept"


def write_failed(path: Path, exc: OSError, what: str = "the mask") -> ProjectError:
    """The error for a store file that could not be written, naming it and the reason
    (``disk full (No space left on device)``)."""
    return ProjectError(f"{what} cannot be written: {os_reason(exc)}", path=path,
                        hint=FREE_SPACE_HINT if disk_full(exc) else None)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    try:
        atomic_write_text(path, json.dumps(data))
    except OSError as exc:
        raise write_failed(path, exc, "the mask store record") from None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store_identity(root: str | Path) -> dict[str, Any] | None:
    """What ``ROOT/store.json`` records (``{"project": uid, "token": ...}``), or None when
    the store has none (not created yet, or written before identities existed)."""
    data = _read_json(Path(root) / STORE_FILE)
    return data if data is not None and isinstance(data.get("project"), str) else None


def write_store_identity(root: str | Path, project_uid: str, token: str | None) -> None:
    """Record (atomically) that the store at ``root`` belongs to project ``project_uid``,
    saved with ``token``."""
    _write_json(Path(root) / STORE_FILE, {"format": STORE_FORMAT, "project": project_uid, "token": token})


def _check_mask(mask: np.ndarray) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise TypeError(f"a mask must be a 2-D numpy array (H, W), got {getattr(mask, 'shape', type(mask).__name__)}")
    if mask.dtype != np.bool_:
        raise TypeError(f"a mask must be dtype bool, got {mask.dtype}; threshold mattes before storing them")
    return mask


def write_object_identity(folder: str | Path, obj_id: int, uid: str) -> None:
    """Record (atomically) that the masks in ``folder`` are those of object ``uid``."""
    _write_json(Path(folder) / OBJECT_FILE, {"id": obj_id, "uid": uid})


#: How a tracked frame was made: (confidence 0..1 or None, basis); see ``track_records``.
TrackRecord = tuple[float | None, str]


class MaskStore:
    """Per-object, per-frame boolean masks under ``root`` (created on first write)."""

    def __init__(self, root: str | Path, cache_bytes: int = 256 * 1024**2) -> None:
        self.root = Path(root)
        self._cache = ArrayLRU(cache_bytes)
        self._uid_of: Callable[[int], str | None] | None = None  # None: unbound, no identity checks
        self._project: tuple[str, str | None] | None = None
        self._uids: dict[int, str] = {}  # ids are never reused within a project: safe to keep
        self._owned: dict[int, bool] = {}
        # held by every write and by a save that moves the store, so that no mask is written
        # to the old place while the store moves (jobs keep writing through this object)
        self.write_lock = threading.RLock()
        self._home = self.root  # where store.json lives (the key masks' store: its parent's)
        self._tracks: dict[int, dict[int, TrackRecord]] = {}

    # -- identity ---------------------------------------------------------------------------
    def bind(self, project_uid: str, uid_of: Callable[[int], str | None], token: str | None = None) -> MaskStore:
        """Bind the store to a project: ``uid_of(obj_id)`` gives an object's uid (None for
        an id the project does not have). Returns the store."""
        self._project, self._uid_of = (project_uid, token), uid_of
        self._owned.clear()
        return self

    def expect(self, obj_id: int, uid: str) -> None:
        """``obj_id`` (uid ``uid``) is an object a job made on a copy of the project, which
        joins the project when the job ends: its masks may be written before that."""
        if self._uid_of is not None and self._uid_of(obj_id) is None:
            self._uids.setdefault(obj_id, uid)

    def _uid(self, obj_id: int) -> str | None:
        """The uid of ``obj_id`` in the project now (remembered once seen, for an object a
        job still writes after it was removed); a new uid for the id forgets what was
        decided about its folder."""
        live = self._uid_of(obj_id) if self._uid_of is not None else None
        if live is None:
            return self._uids.get(obj_id)
        if self._uids.get(obj_id) != live:
            if obj_id in self._uids:  # the id now names another object: forget the old one's masks
                self._drop_cached(obj_id)
            self._uids[obj_id] = live
            self._owned.pop(obj_id, None)
        return live

    def _legacy(self) -> bool:
        """A store written before identities existed: adopted as it is."""
        return self.root.is_dir() and not (self._home / STORE_FILE).is_file()

    def owns(self, obj_id: int) -> bool:
        """Whether the masks in the folder of ``obj_id`` are this project's object's (always
        True for an unbound store)."""
        if self._uid_of is None:
            return True
        uid = self._uid(obj_id)
        known = self._owned.get(obj_id)
        if known is not None:
            return known
        folder = self._obj_dir(obj_id)
        if not folder.is_dir():
            return True  # nothing there yet: the first write records the identity
        recorded = _read_json(folder / OBJECT_FILE)
        if recorded is None:
            owned = uid is not None and self._legacy()
        else:
            owned = uid is not None and recorded.get("uid") == uid
        self._owned[obj_id] = owned
        return owned

    def _claim(self, obj_id: int, folder: Path) -> None:
        """Before the first mask of ``obj_id``: record the store's and the object's identity,
        replacing a folder of another object's masks."""
        if self._uid_of is None or (self._uid(obj_id) is not None and self._owned.get(obj_id)):
            folder.mkdir(parents=True, exist_ok=True)
            return
        with self.write_lock:
            uid = self._uid(obj_id)
            if uid is None:
                raise ValueError(f"object {obj_id} is not an object of the project this mask store ({self.root}) "
                                 "belongs to")
            if self._project is not None and not self._home.is_dir():
                write_store_identity(self._home, *self._project)  # a new store: say whose it is
            elif self._legacy():
                # a store from before identities stays as it is until a save claims it
                # whole (its project's uids are derived from the file's path until then)
                folder.mkdir(parents=True, exist_ok=True)
                self._owned[obj_id] = True
                return
            if folder.is_dir() and not self.owns(obj_id):
                self._drop_cached(obj_id)
                shutil.rmtree(folder, ignore_errors=True)
            recorded = _read_json(folder / OBJECT_FILE)
            if recorded is None or recorded.get("uid") != uid:
                write_object_identity(folder, obj_id, uid)
            self._owned[obj_id] = True

    def relocate(self, root: str | Path, token: str | None) -> None:
        """The store now lives at ``root`` (a save moved it there, holding
        :attr:`write_lock`); the masks it caches are the same."""
        with self.write_lock:
            self.root = self._home = Path(root)
            self._tracks.clear()
            if self._project is not None:
                self._project = (self._project[0], token)
            self._owned.clear()

    def unclaimed(self) -> list[Path]:
        """Object folders (key masks' too) that record no object: written before stores
        recorded identities."""
        found = []
        for root in (self.root, self.root / "keys"):
            if root.is_dir():
                found += [p for p in root.iterdir()
                          if p.is_dir() and _OBJ_RE.match(p.name) and not (p / OBJECT_FILE).is_file()]
        return sorted(found)

    def _drop_cached(self, obj_id: int) -> None:
        self._tracks.pop(obj_id, None)
        for key in [k for k in self._cache.keys() if isinstance(k, tuple) and k[0] == obj_id]:  # noqa: SIM118
            self._cache.discard(key)

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
        mask = _check_mask(mask)
        with self.write_lock:
            self._put(obj_id, frame, mask)

    def _put(self, obj_id: int, frame: int, mask: np.ndarray) -> None:
        import cv2

        target = self.path(obj_id, frame)
        try:
            self._claim(obj_id, target.parent)
        except OSError as exc:
            raise write_failed(target.parent, exc, "the mask folder") from None
        ok, encoded = cv2.imencode(".png", mask.view(np.uint8) * np.uint8(255),
                                   [cv2.IMWRITE_PNG_BILEVEL, 1, cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise ProjectError("mask could not be encoded as PNG", path=target)
        try:
            fd, tmp = temp_for(target)
        except OSError as exc:
            raise write_failed(target, exc) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(encoded.tobytes())
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise write_failed(target, exc) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._cache.put((obj_id, frame), mask.copy())

    def get(self, obj_id: int, frame: int) -> np.ndarray | None:
        """The mask (bool (H, W), read-only) or None when none is stored."""
        import cv2

        if not self.owns(obj_id):
            return None
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
        return self.owns(obj_id) and ((obj_id, frame) in self._cache or self.path(obj_id, frame).is_file())

    def frames(self, obj_id: int) -> list[int]:
        """Frame indices holding a mask of ``obj_id``, ascending."""
        folder = self._obj_dir(obj_id)
        if not folder.is_dir() or not self.owns(obj_id):
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _FRAME_RE.match(p.name)))

    def objects(self) -> list[int]:
        """Object ids with a folder in the store, ascending."""
        if not self.root.is_dir():
            return []
        found = (int(m.group(1)) for p in self.root.iterdir() if p.is_dir() and (m := _OBJ_RE.match(p.name)))
        return sorted(i for i in found if self.owns(i))

    def delete(self, obj_id: int, frame: int) -> None:
        """Forget one mask (no error when absent)."""
        with self.write_lock:
            self._cache.discard((obj_id, frame))
            if self.owns(obj_id):
                self.path(obj_id, frame).unlink(missing_ok=True)

    # -- tracking records -------------------------------------------------------------------
    def track_records(self, obj_id: int) -> dict[int, TrackRecord]:
        """How each tracked frame of ``obj_id`` was made: frame index -> (confidence 0..1 or
        None, basis). The basis names the keyframes the mask came from
        (:mod:`sam3roto.core.tracking` tells from it which frames are out of date). Kept in
        ``obj_NNNN/track.json`` beside the masks, so undoing a tracking run restores them."""
        if obj_id in self._tracks:
            return self._tracks[obj_id]
        records: dict[int, TrackRecord] = {}
        data = _read_json(self._obj_dir(obj_id) / TRACK_FILE) if self.owns(obj_id) else None
        frames = data.get("frames") if data is not None else None
        for key, value in (frames.items() if isinstance(frames, dict) else ()):
            if key.isdigit() and isinstance(value, list) and len(value) == 2 and isinstance(value[1], str):
                score = value[0]
                ok = isinstance(score, int | float) and np.isfinite(score)
                records[int(key)] = (float(score) if ok else None, value[1])
        self._tracks[obj_id] = records
        return records

    def record_track(self, obj_id: int, records: dict[int, TrackRecord]) -> None:
        """Merge ``records`` (frame -> (confidence or None, basis)) into ``obj_id``'s
        tracking records and write them atomically."""
        if not records:
            return
        with self.write_lock:
            merged = dict(self.track_records(obj_id))
            merged.update(records)
            folder = self._obj_dir(obj_id)
            try:
                self._claim(obj_id, folder)
            except OSError as exc:
                raise write_failed(folder, exc, "the mask folder") from None
            frames = {str(f): [None if s is None else round(s, 4), b] for f, (s, b) in sorted(merged.items())}
            _write_json(folder / TRACK_FILE, {"format": 1, "frames": frames})
            self._tracks[obj_id] = merged

    def key_masks(self) -> MaskStore:
        """The store of key masks (masks given as keyframes: painted, imported), kept apart
        from tracking results in ``ROOT/keys`` so re-tracking never overwrites them. It
        shares this store's binding and write lock; its identity lives in ``ROOT``."""
        keys = MaskStore(self.root / "keys", cache_bytes=32 * 1024**2)
        keys._home, keys.write_lock = self._home, self.write_lock
        if self._uid_of is not None:
            keys._uid_of, keys._uids, keys._project = self._uid_of, self._uids, self._project
        return keys

    def delete_object(self, obj_id: int) -> None:
        """Forget every mask of ``obj_id``."""
        with self.write_lock:
            self._drop_cached(obj_id)
            shutil.rmtree(self._obj_dir(obj_id), ignore_errors=True)
            self._owned.pop(obj_id, None)

    def snapshot(self, obj_ids: list[int], target: Path) -> None:
        """Copy the masks of ``obj_ids`` into ``target`` (for undo of a tracking run)."""
        target.mkdir(parents=True, exist_ok=True)
        with self.write_lock:  # not while a save moves the store
            for obj_id in obj_ids:
                src = self._obj_dir(obj_id)
                if src.is_dir():
                    shutil.copytree(src, target / src.name, dirs_exist_ok=True)

    def restore(self, obj_ids: list[int], source: Path) -> None:
        """Make the masks of ``obj_ids`` exactly those saved by :meth:`snapshot` in ``source``
        (objects absent there end with no masks)."""
        with self.write_lock:
            for obj_id in obj_ids:
                self.delete_object(obj_id)
                self._tracks.pop(obj_id, None)
                saved = source / self._obj_dir(obj_id).name
                if saved.is_dir():
                    shutil.copytree(saved, self._obj_dir(obj_id))
                self._owned.pop(obj_id, None)

    def remove_leftovers(self) -> list[Path]:
        """Remove the temporary files that writers killed mid-write left in the store (its
        own folder, its object folders and the key masks'): those of processes that are
        gone, and those no process has touched for long
        (:func:`sam3roto.core.atomic.remove_stale_temps`). A live writer's are kept.
        Returns the removed files."""
        removed: list[Path] = []
        for root in (self.root, self.root / "keys"):
            try:
                entries = list(os.scandir(root))
            except OSError:  # no store yet (or unreadable: the next read says so)
                continue
            removed += remove_stale_temps(root)
            for entry in entries:
                if _OBJ_RE.match(entry.name) and entry.is_dir(follow_symlinks=False):
                    removed += remove_stale_temps(Path(entry.path))
        return removed

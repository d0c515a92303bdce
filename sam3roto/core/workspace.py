"""Where a project's files live.

A saved project keeps its mask store (``NAME.masks``), depth cache and autosave beside
its file. Before the first save nothing is written beside the media: the mask store and
the autosave of an unsaved project live in the user's data folder, one folder per project
(``unsaved/<project uid>/``), and the first save moves them beside the project file.

Opening a project's store and saving remove what killed writers left: temporary files of
the project file, its autosave and the mask store whose writer is gone
(:func:`sam3roto.core.atomic.remove_stale_temps`), and the staging folders of an
interrupted save (:func:`settle_store`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sam3roto.core.atomic import os_reason, remove_stale_temps
from sam3roto.core.maskstore import OBJECT_FILE, MaskStore, store_identity, write_object_identity, write_store_identity
from sam3roto.core.project import Project, derived_uid, new_uid
from sam3roto.core.project_io import (
    atomic_write_text,
    autosave_path,
    depth_cache_dir,
    load_project,
    mask_store_dir,
    project_file,
    project_to_json,
    save_project,
)
from sam3roto.errors import ProjectError

#: Overrides the per-platform data folder (tests, studio setups with roaming home folders).
DATA_DIR_ENV = "SAM3ROTO_DATA_DIR"


def data_dir() -> Path:
    """The user's sam3roto data folder: ``$SAM3ROTO_DATA_DIR`` when set, else the platform's
    (``~/.local/share/sam3roto`` on Linux, ``~/Library/Application Support/sam3roto`` on
    macOS, ``%LOCALAPPDATA%\\sam3roto`` on Windows). Not created here."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("sam3roto", appauthor=False))


def unsaved_root() -> Path:
    """The folder holding the mask stores and autosaves of projects not saved yet."""
    return data_dir() / "unsaved"


# -- saved projects: the store beside the file, moved there by a save ---------------------------

def _incoming(root: Path) -> Path:
    return root.with_name(f".{root.name}.incoming")


def _old(root: Path) -> Path:
    return root.with_name(f".{root.name}.old")


def _belongs(root: Path, project_uid: str, token: str | None) -> bool:
    ident = store_identity(root)
    return ident is not None and ident["project"] == project_uid and ident.get("token") == token


def settle_store(root: Path, project_uid: str, token: str | None) -> None:
    """Finish a save of the store at ``root`` that a crash interrupted.

    A save that moves a store copies it to ``.NAME.masks.incoming`` with a new token,
    writes the project file with that token (the commit), then swaps the folders. So the
    project file's token tells which folder is its store: when it is the incoming one,
    the swap is done now; leftovers of a save that never committed are removed."""
    incoming, old = _incoming(root), _old(root)
    if token is not None and not _belongs(root, project_uid, token) and _belongs(incoming, project_uid, token):
        if root.is_dir():
            shutil.rmtree(old, ignore_errors=True)
            os.rename(root, old)
        os.rename(incoming, root)
    for leftover in (incoming, old):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


def claim_store(root: Path, project: Project) -> None:
    """Record in the store at ``root`` that it and its object folders belong to ``project``
    (a store written before identities: its folders of the project's objects are adopted)."""
    legacy = store_identity(root) is None
    if legacy:
        for obj in project.objects:
            for folder in (root / f"obj_{obj.id:04d}", root / "keys" / f"obj_{obj.id:04d}"):
                if folder.is_dir() and not (folder / OBJECT_FILE).is_file():
                    write_object_identity(folder, obj.id, obj.uid)
    ident = store_identity(root)
    if ident is None or ident.get("token") != project.store_token:
        write_store_identity(root, project.uid, project.store_token)


def open_project_store(project: Project, project_path: str | Path, cache_bytes: int = 256 * 1024**2) -> MaskStore:
    """The mask store of ``project`` saved at ``project_path``, bound to it (an
    interrupted save is finished first; a store recorded as another project's is refused;
    temporary files that killed writers left in the store and beside the project file are
    removed)."""
    root = mask_store_dir(project_path)
    settle_store(root, project.uid, project.store_token)
    remove_project_leftovers(project_path)
    ident = store_identity(root)
    if ident is not None and ident["project"] != project.uid:
        raise ProjectError(f"the mask store {root.name} beside it belongs to another project", path=project_path,
                           hint=f"move {root.name} away to open this project without masks")
    store = MaskStore(root, cache_bytes=cache_bytes).bind(project.uid, project.object_uid, project.store_token)
    # A store from before identities is adopted only by the file it was made with (whose
    # identity is derived from its path); a new project never inherits its masks.
    legacy_project = project.uid == derived_uid(str(Path(project_path).resolve()), "project")
    if ident is None and not legacy_project and store.unclaimed():
        raise ProjectError(f"the mask store {root.name} beside it holds masks of an earlier project", path=project_path,
                           hint=f"move {root.name} away (or open the project file it belongs to)")
    store.remove_leftovers()
    return store


def remove_project_leftovers(project_path: str | Path) -> list[Path]:
    """Remove the temporary files of ``project_path`` and of its autosave that killed saves
    left beside it (``.NAME.sam3roto.<space>-<pid>.<random>.tmp``, and the names older
    versions used), when their writer is gone (:func:`sam3roto.core.atomic.remove_stale_temps`).
    Returns the removed files."""
    path = project_file(project_path)
    return remove_stale_temps(path.parent, [path.name, autosave_path(path).name])


def _link_or_copy(src: str, dst: str) -> None:
    # hard links make staging a large store instant; every store write replaces its file
    # (a new inode), so the two trees never share a later change
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _saved_identity(path: Path) -> tuple[str, str | None] | None:
    """The uid and store token recorded in the project file at ``path`` (None if unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), str):
        return None
    token = data.get("store_token")
    return data["uid"], token if isinstance(token, str) else None


def save_with_store(project: Project, store: MaskStore, target: str | Path, current: str | Path | None) -> Path:
    """Save ``project`` as ``target`` with its masks; returns the project file's path.

    ``current`` is the file the project was saved as (None: never saved, its store in the
    unsaved folder). Saving to the same file writes the project file (atomically). Saving
    elsewhere stages the store beside ``target`` (hard links where the file system allows,
    else copies), commits by writing the project file, then swaps the store folders in;
    a kill at any point leaves the old project with its store, or the new one with its
    store (:func:`settle_store` finishes the swap when the project is opened). ``store``
    is relocated there (jobs writing through it follow; writes wait for the move). An
    unsaved project's folder is removed once the save has committed. ``target``'s
    existing project, if any, is replaced with its masks (the caller asked the user); a
    store beside ``target`` that belongs to no project file there is refused."""
    target = project_file(target)
    with store.write_lock:
        store.remove_leftovers()  # what killed writers left is neither kept nor carried along
        if current is not None and _same_file(Path(current), target):
            claim_store(store.root, project)
            return save_project(project, target)
        root = mask_store_dir(target)
        saved = _saved_identity(target) if target.is_file() else None
        if saved is not None:
            settle_store(root, *saved)
        ident = store_identity(root)
        if root.exists() and not target.is_file() and (ident is None or ident["project"] != project.uid):
            raise ProjectError(f"{root.name} beside it holds the masks of another project", path=target,
                               hint="save under another name, or move that folder away")
        incoming = _incoming(root)
        shutil.rmtree(incoming, ignore_errors=True)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if store.root.is_dir():
                shutil.copytree(store.root, incoming, copy_function=_link_or_copy)
            else:
                incoming.mkdir()
        except OSError as exc:
            shutil.rmtree(incoming, ignore_errors=True)
            raise ProjectError(f"the masks cannot be written beside it: {os_reason(exc)}", path=target) from None
        old_token, token = project.store_token, new_uid()
        project.store_token = token
        unsaved = store.root.parent if current is None and store.root.parent.parent == unsaved_root() else None
        try:
            claim_store(incoming, project)  # written last: marks the staged copy complete
            if unsaved is not None:  # before the commit: it names the file and token that commit it
                _write_marker(unsaved / SAVED_MARKER, target, token)
            save_project(project, target)  # the commit
        except BaseException:
            project.store_token = old_token
            shutil.rmtree(incoming, ignore_errors=True)
            if unsaved is not None:
                (unsaved / SAVED_MARKER).unlink(missing_ok=True)
            raise
        with contextlib.suppress(OSError):  # committed: until an open finishes the swap, the staged folder serves
            settle_store(root, project.uid, token)
        store.relocate(root if _belongs(root, project.uid, token) else incoming, token)
    if current is not None and depth_cache_dir(current).is_dir():
        _replace_depth_cache(depth_cache_dir(current), depth_cache_dir(target))
    if unsaved is not None:
        _remove_folder(unsaved)
    return target


def _replace_depth_cache(source: Path, target: Path) -> None:
    """The depth cache goes along with Save As: staged beside the target, then put in the
    place of the target's own (a replaced project's cache is not merged with this one)."""
    staged = target.with_name(f".{target.name}.incoming")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(source, staged, copy_function=_link_or_copy)
    if target.exists():
        _remove_folder(target)
    os.rename(staged, target)


# -- unsaved projects: store and autosave in the data folder ------------------------------------

UNSAVED_AUTOSAVE = "autosave.sam3roto"
SAVED_MARKER = "saved.json"


def _write_marker(path: Path, target: Path, token: str) -> None:
    atomic_write_text(path, json.dumps({"saved_as": str(target.resolve()), "token": token}))


def _save_committed(folder: Path) -> bool:
    """Whether the save that wrote ``folder``'s marker committed: the file it names holds
    this project with the marker's store token (a kill before the commit leaves the marker
    of a save that did not happen)."""
    try:
        marker = json.loads((folder / SAVED_MARKER).read_text(encoding="utf-8"))
        target, token = Path(marker["saved_as"]), marker.get("token")
    except (OSError, ValueError, KeyError, TypeError):
        return False
    saved = _saved_identity(target) if target.is_file() else None
    return saved is not None and saved[0] == folder.name and (token is None or saved[1] == token)


def _remove_folder(folder: Path) -> None:
    """Remove an unsaved folder as one step (renamed out of sight, then deleted): a kill
    inside the deletion never leaves a half-deleted folder that looks unsaved."""
    gone = folder.with_name(f".{folder.name}.removed")
    shutil.rmtree(gone, ignore_errors=True)
    try:
        os.rename(folder, gone)
    except OSError:
        return
    shutil.rmtree(gone, ignore_errors=True)


def unsaved_folder(project_uid: str) -> Path:
    return unsaved_root() / project_uid


def new_unsaved(project: Project, cache_bytes: int = 256 * 1024**2) -> MaskStore:
    """Start ``project``'s unsaved folder (autosave written at once, so it can be recovered)
    and return its mask store, bound to it."""
    folder = unsaved_folder(project.uid)
    autosave_unsaved(project)
    return MaskStore(folder / "masks", cache_bytes=cache_bytes).bind(project.uid, project.object_uid,
                                                                     project.store_token)


def autosave_unsaved(project: Project) -> Path:
    """Write the recovery copy of an unsaved project (absolute paths) into its folder."""
    target = unsaved_folder(project.uid) / UNSAVED_AUTOSAVE
    atomic_write_text(target, project_to_json(project, None))
    return target


def discard_unsaved(project_uid: str) -> None:
    """Forget an unsaved project: its folder (masks and autosave) is removed."""
    folder = unsaved_folder(project_uid)
    if folder.parent == unsaved_root() and folder.is_dir():
        _remove_folder(folder)


@dataclass(frozen=True)
class UnsavedProject:
    """An unsaved project found in the data folder (a session that ended before a save)."""

    uid: str
    folder: Path
    autosave: Path
    modified: float  # seconds since the epoch
    media: str
    objects: tuple[str, ...]
    masks: int

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.modified))
        names = ", ".join(self.objects) if self.objects else "no objects"
        return f"{Path(self.media).name}, {when}: {names}; {self.masks} masks"


def _same_media(a: str | Path, b: str | Path) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def list_unsaved(media: str | Path | None = None) -> list[UnsavedProject]:
    """Unsaved projects that can be recovered (on ``media`` when given), newest first.
    Folders of projects whose first save committed are removed on the way."""
    root = unsaved_root()
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        if folder.name.startswith("."):  # a folder whose removal a kill interrupted
            shutil.rmtree(folder, ignore_errors=True)
            continue
        if (folder / SAVED_MARKER).is_file():
            if _save_committed(folder):  # saved; the save ended before tidying up
                _remove_folder(folder)
                continue
            (folder / SAVED_MARKER).unlink(missing_ok=True)  # that save never committed
        auto = folder / UNSAVED_AUTOSAVE
        try:
            data = json.loads(auto.read_text(encoding="utf-8"))
            shot_media = str(data["shot"]["media"])
            names = tuple(str(o["name"]) for o in data.get("objects", []))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if media is not None and not _same_media(media, shot_media):
            continue
        masks_dir = folder / "masks"
        count = sum(1 for _ in masks_dir.glob("obj_*/*.png")) if masks_dir.is_dir() else 0
        found.append(UnsavedProject(folder.name, folder, auto, auto.stat().st_mtime, shot_media, names, count))
    return sorted(found, key=lambda u: -u.modified)


def recover_unsaved(unsaved: UnsavedProject, cache_bytes: int = 256 * 1024**2) -> tuple[Project, MaskStore]:
    """The project of an unsaved folder (from its autosave) and its mask store."""
    project = load_project(unsaved.autosave)
    store = MaskStore(unsaved.folder / "masks", cache_bytes=cache_bytes)
    store.remove_leftovers()
    return project, store.bind(project.uid, project.object_uid, project.store_token)

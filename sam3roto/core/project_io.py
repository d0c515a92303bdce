"""Reading and writing ``.sam3roto`` project files.

* Writes are atomic: JSON goes to a temp file in the same folder, is flushed to disk,
  then ``os.replace``-d over the old file, so an interrupted save leaves the old project.
* Paths are stored relative to the project file when they can be, so a project folder
  can move as a whole.
* Files carry ``schema_version``; older ones are upgraded step by step through
  :data:`UPGRADES`, newer ones are refused without touching the file.
* An autosave sits beside the project (``NAME.sam3roto.autosave``); when it is newer than
  the project, :func:`recovery_path` offers it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sam3roto.core import safejson
from sam3roto.core.atomic import atomic_write_text
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import SCHEMA_VERSION, Project, derived_uid
from sam3roto.errors import MediaMovedError, ProjectError, ProjectVersionError

PROJECT_SUFFIX = ".sam3roto"
AUTOSAVE_SUFFIX = ".autosave"


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Version 2 adds identities (the project's and each object's ``uid``) and the mask
    # store's ``store_token``; a file without them gets identities derived from its path
    # when it is loaded (:func:`load_project`), the same on every load until it is saved.
    return {**data, "schema_version": 2}


#: from-version -> function turning a dict of that version into the next version.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def mask_store_dir(project_path: str | Path) -> Path:
    """The mask store folder of a project: ``NAME.masks`` beside ``NAME.sam3roto``."""
    path = Path(project_path)
    return path.with_name(path.stem + ".masks")


def depth_cache_dir(project_path: str | Path) -> Path:
    """The depth cache folder of a project: ``NAME.depth`` beside ``NAME.sam3roto``."""
    path = Path(project_path)
    return path.with_name(path.stem + ".depth")


def renders_dir(project_path: str | Path) -> Path:
    """Where a project's render versions go by default: ``renders/`` beside the project."""
    return Path(project_path).resolve().parent / "renders"


def open_mask_store(project_path: str | Path, project: Project | None = None,
                    cache_bytes: int = 256 * 1024**2) -> MaskStore:
    """The :class:`MaskStore` belonging to the project at ``project_path``.

    With ``project`` (the loaded project), the store is bound to it: a save that a crash
    interrupted is finished first, a store recorded as another project's is refused, and
    masks recorded for another object are never returned or added to
    (:func:`sam3roto.core.workspace.open_project_store`)."""
    if project is None:
        return MaskStore(mask_store_dir(project_path), cache_bytes=cache_bytes)
    from sam3roto.core.workspace import open_project_store

    return open_project_store(project, project_path, cache_bytes=cache_bytes)


def autosave_path(project_path: str | Path) -> Path:
    path = Path(project_path)
    return path.with_name(path.name + AUTOSAVE_SUFFIX)


def _relative(target: str, base: Path) -> str:
    p = Path(target)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return Path(os.path.relpath(p, base)).as_posix()
    except ValueError:  # another drive on Windows
        return p.as_posix()


def project_to_json(project: Project, project_path: Path | None) -> str:
    """The JSON text of ``project`` with paths relative to ``project_path``'s folder
    (absolute when ``project_path`` is None: the autosave of an unsaved project)."""
    data = project.to_dict()
    for key in ("media", "depth_cache"):
        holder = data["shot"] if key == "media" else data
        if holder is None or not holder[key]:
            continue
        target = str(Path(holder[key]).absolute())
        holder[key] = Path(target).as_posix() if project_path is None else \
            _relative(target, project_path.resolve().parent)
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def project_file(path: str | Path) -> Path:
    """``path`` with the ``.sam3roto`` suffix added when missing."""
    path = Path(path)
    return path if path.suffix == PROJECT_SUFFIX else path.with_name(path.name + PROJECT_SUFFIX)


def save_project(project: Project, path: str | Path) -> Path:
    """Save atomically to ``path`` (``.sam3roto`` added when missing); drop its autosave."""
    path = project_file(path)
    try:
        atomic_write_text(path, project_to_json(project, path), sweep=True)
    except OSError as exc:
        raise ProjectError(f"cannot be written: {exc.strerror or exc}", path=path) from None
    autosave_path(path).unlink(missing_ok=True)
    return path


def autosave(project: Project, project_path: str | Path) -> Path:
    """Write the recovery copy beside ``project_path`` (atomically; the project is untouched)."""
    target = autosave_path(project_path)
    atomic_write_text(target, project_to_json(project, Path(project_path)))
    return target


def recovery_path(project_path: str | Path) -> Path | None:
    """The autosave of ``project_path`` when it is newer than the project, else None."""
    auto = autosave_path(project_path)
    if not auto.is_file():
        return None
    project = Path(project_path)
    if project.is_file() and project.stat().st_mtime_ns >= auto.stat().st_mtime_ns:
        return None
    return auto


def upgrade(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """Bring a project dict to :data:`SCHEMA_VERSION` through :data:`UPGRADES`."""
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        shown = repr(version) if isinstance(version, int | float | None) else f"a {type(version).__name__}"
        raise ProjectError(f"schema_version is {shown[:40]}, not a version number", path=path)
    if version > SCHEMA_VERSION:
        raise ProjectVersionError(path=path, found=version, supported=SCHEMA_VERSION)
    while version < SCHEMA_VERSION:
        step = UPGRADES.get(version)
        if step is None:
            raise ProjectError(f"no upgrade from schema version {version}", path=path)
        try:
            data = step(dict(data))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ProjectError(f"cannot be upgraded from schema version {version} ({type(exc).__name__}: "
                               f"{str(exc)[:200]})", path=path) from None
        version = int(data["schema_version"])
    return data


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; False for a path the system cannot even look up (too long)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


#: How safejson words a syntax error: "not valid JSON (Expecting value: line 1 column 35 (char 34))".
_SYNTAX = re.compile(r"not valid JSON \((?P<msg>.*): line (?P<line>\d+) column (?P<col>\d+) \(char \d+\)\)")


def read_project_data(source: Path) -> dict[str, Any]:
    """The JSON object of the project file ``source``, parsed strictly
    (:mod:`sam3roto.core.safejson`: no ``Infinity``/``NaN``, numbers in range, size and depth
    within the limits); :class:`ProjectError` naming the file otherwise."""
    try:
        data = safejson.read(source, "the project file", ProjectError)
    except ProjectError as exc:
        if not exc.message.startswith("not valid JSON"):
            raise
        syntax = _SYNTAX.fullmatch(exc.message)
        message = exc.message if syntax is None else \
            f"is not valid JSON (line {syntax['line']}, column {syntax['col']}: {syntax['msg']})"
        raise ProjectError(message, path=source, hint=exc.hint or "the file is damaged; an autosave may hold a recent "
                           "copy") from None
    if not isinstance(data, dict):
        raise ProjectError("is not a sam3roto project (top level is not an object)", path=source)
    return data


def load_project(path: str | Path, *, relink: str | Path | None = None, from_autosave: bool = False) -> Project:
    """Read a project. Relative paths are resolved against its folder.

    When the shot's media is missing, raise :class:`MediaMovedError` unless ``relink``
    gives the new media path (the masks are kept: they are addressed by frame index).
    ``from_autosave`` reads the recovery copy instead of the project file.

    Whatever the file holds, what goes wrong is a :class:`ProjectError` naming the file
    and, for an entry that cannot be right, where in the file it is
    (:meth:`Project.from_dict`).
    """
    path = Path(path)
    source = autosave_path(path) if from_autosave else path
    data = upgrade(read_project_data(source), source)
    if not data.get("uid"):  # written before identities: derive them from where the file is
        data["uid"] = derived_uid(str(path.resolve()), "project")
    project = Project.from_dict(data, source)
    base = path.resolve().parent
    if project.depth_cache:
        project.depth_cache = str(base / project.depth_cache)
    if project.shot is not None:
        media = Path(project.shot.media)
        media = media if media.is_absolute() else base / media
        if relink is not None:
            if not _exists(Path(relink)) and not any(c in str(relink) for c in "#@%"):
                raise ProjectError(f"relink target {relink} does not exist", path=path)
            media = Path(relink).absolute()
        elif not _exists(media) and not any(c in media.name for c in "#@%"):
            raise MediaMovedError(path=path, media=media)
        project.shot.media = str(media)
    return project

"""Names on disk: versioned render folders, ``name.####.ext`` frame files, file-safe and
Nuke-safe object names, and the JSON manifest of a render.

A render writes into a hidden staging folder ``.v003.partial`` and renames it to
``v003`` only when every file is complete, so a version folder is always whole: a
cancelled, failed or killed render leaves no ``v003`` behind, and no earlier version is
ever touched.

Leftovers of killed renders. A staging folder is born whole (made under a private name,
then renamed) with an owner record, ``.sam3roto-owner.json`` (host, process space, pid
and the process's start time; see :class:`sam3roto.core.atomic.Writer`), on which the
render holds an exclusive ``flock`` for its life. Before a render picks its number,
:func:`remove_stale` removes the staging folders that are leftovers, so a render killed
with ``kill -9`` costs neither disk space nor a version number (the next render takes the
number after the last finished or live version). A staging folder is a leftover when:

* its owner ran in this process space (:func:`sam3roto.core.atomic.process_space`: this
  machine, this process namespace) and is gone (no such pid, a zombie, or the pid now
  belongs to a process started at another time) and nothing holds the lock: removed at once;
* its owner is on another machine (a render folder on a shared disk): only when nothing
  holds the lock on its record (on file systems that share locks, NFSv4, SMB, Lustre...,
  that proves the owner gone) and nothing in it changed for :data:`ABANDONED_AFTER` (file
  systems that do not share locks; a live render writes files all the time);
* it has no owner record (written by an older sam3roto, or a kill in the instant between a
  publication's removal of the record and its rename): when nothing in it changed for
  :data:`ORPHAN_AFTER`;
* it is a farm folder (``.sam3roto-farm.json``: parts of one version written by several
  tasks, see :func:`reserve_part`): only when nothing in it changed for
  :data:`FARM_ABANDONED_AFTER` and no task in it is provably alive (its owner running in
  this process space, or its lock held). Farm tasks wait in queues; finished parts are
  kept for that long. A retried task replaces the folder of its killed attempt at once.

A folder owned by a live process is never removed. Per-file temporaries a killed writer
leaves (``.NAME.partial.exr``, ``.png``, ``.mov``, ``.zip``) live inside the staging
folder and go with it.
"""

from __future__ import annotations

import contextlib
import errno
import filecmp
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sam3roto.core.atomic import Writer, os_reason, process_alive, process_space, read_writer
from sam3roto.errors import Sam3RotoError

try:
    import fcntl
except ImportError:  # Windows: no flock; the owner's pid and the folder's age decide
    fcntl = None  # type: ignore[assignment]

_FINAL_RE = re.compile(r"^v(\d{3,})$")
_STAGING_RE = re.compile(r"^\.v(\d{3,})\.partial$")
#: a staging folder being born, renamed to ``.v003.partial`` once whole:
#: ``.v003.new-<space>-<pid>-<hex>`` (its maker, for the instant before its owner record exists)
_NEWBORN_RE = re.compile(r"^\.v(\d{3,})\.new-(?P<space>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]+$")
#: a leftover renamed out of the way before it is deleted: ``.v003.partial.stale-<hex>``
_TRASH_RE = re.compile(r"^\.(?:v\d{3,}\.[^/]+|part-\d{6,}-\d{6,})\.stale-[0-9a-f]{8}$")
_PART_DIR_RE = re.compile(r"^\.part-(\d{6,})-(\d{6,})$")
_UNSAFE_FILE = re.compile(r"[^A-Za-z0-9_-]+")
_UNSAFE_LAYER = re.compile(r"[^A-Za-z0-9_]+")

#: The owner record in a staging folder (or a farm task's folder); never published.
OWNER_FILE = ".sam3roto-owner.json"
#: Marks a farm version's shared staging folder; never published.
FARM_FILE = ".sam3roto-farm.json"
#: Seconds without a change after which a staging folder with no owner record is a leftover.
ORPHAN_AFTER = 3600.0
#: Seconds without a change after which another machine's staging folder whose lock
#: nobody holds is a leftover.
ABANDONED_AFTER = 24 * 3600.0
#: Seconds without a change after which a farm folder with no live task is a leftover.
FARM_ABANDONED_AFTER = 7 * 24 * 3600.0

#: Frame numbers are padded to at least this many digits (``name.1001.png``).
MIN_PADDING = 4


def frame_padding(numbers: Iterable[int]) -> int:
    """Digits for frame numbers: at least :data:`MIN_PADDING`, more when a number needs it."""
    return max([MIN_PADDING, *(len(str(abs(n))) for n in numbers)])


def frame_file(stem: str, number: int, padding: int, suffix: str) -> str:
    """``stem.0042.png``: dot before the number, padding kept (negative numbers keep a sign)."""
    sign = "-" if number < 0 else ""
    return f"{stem}.{sign}{abs(number):0{padding}d}{suffix}"


def file_token(name: str) -> str:
    """``name`` with anything but letters, digits, ``_`` and ``-`` turned into ``_``."""
    token = _UNSAFE_FILE.sub("_", name.strip()).strip("_")
    return token or "object"


def layer_name(name: str) -> str:
    """A layer name Nuke keeps intact: letters, digits and ``_`` only, not starting with a
    digit (Nuke strips leading digits and punctuation from channel layer names)."""
    token = _UNSAFE_LAYER.sub("_", name.strip()).strip("_") or "object"
    return f"obj_{token}" if token[0].isdigit() else token


def unique(names: Iterable[str]) -> list[str]:
    """The names with repeats made distinct by ``_2``, ``_3``... in order."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate.lower() in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def version_name(version: int) -> str:
    return f"v{version:03d}"


#: What to do about a render that stopped on a full disk (the same on every face).
FREE_SPACE_HINT = "free space on that disk or render to another folder; no version was published"


def write_error(path: Path, exc: BaseException, what: str | None = "the file", verb: str = "write") -> Sam3RotoError:
    """The error for an output that could not be written: names ``path`` and says why in
    words (``PATH: could not write the EXR: disk full (No space left on device)``; with
    ``what`` None, ``PATH: cannot be written: ...``)."""
    from sam3roto.core.atomic import disk_full

    said = f"could not {verb} {what}" if what else "cannot be written"
    return Sam3RotoError(f"{said}: {os_reason(exc)}", path=path, hint=FREE_SPACE_HINT if disk_full(exc) else None)


# -- owners of staging folders ----------------------------------------------------------------
_held: dict[str, int] = {}  # staging folder -> open, locked owner record of this process
_held_guard = threading.Lock()


def _claim(folder: Path) -> None:
    """Write this process's owner record into ``folder`` and hold a lock on it until
    :func:`_release` (or the process ends: the system drops the lock with the process)."""
    record = (json.dumps(Writer.current().to_dict()) + "\n").encode("utf-8")
    fd = os.open(folder / OWNER_FILE, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if fcntl is not None:
            with contextlib.suppress(OSError):  # no locks on this file system: the record still tells
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, record)
    except BaseException:
        os.close(fd)
        raise
    with _held_guard:
        _held[str(folder)] = fd


def _moved(old: Path, new: Path) -> None:
    with _held_guard:
        if str(old) in _held:
            _held[str(new)] = _held.pop(str(old))


def _release(folder: Path) -> None:
    """Drop the lock this process holds on ``folder``'s owner record (if any)."""
    with _held_guard:
        fd = _held.pop(str(folder), None)
    if fd is not None:
        os.close(fd)


def _locked(record: Path) -> bool:
    """Whether some process holds the lock on the owner record ``record``. Never asked of
    this process's own records (on NFS, closing any descriptor of a file drops the
    process's locks on it)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(record, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot even open it: treat it as someone else's, in use
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False  # no locks here: the owner's pid or the folder's age decides
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _idle(folder: Path, now: float, limit: float) -> bool:
    """Whether nothing in ``folder`` (itself included) changed in the last ``limit`` seconds.
    Stops at the first recent change (the folder and its task folders are looked at first),
    so a live farm version of thousands of files costs a few ``lstat`` calls."""
    since = now - limit
    for where, dirs, files in os.walk(folder):
        dirs.sort(key=lambda d: not _PART_DIR_RE.match(d))  # task folders first
        for name in (where, *(os.path.join(where, n) for n in dirs + files)):
            with contextlib.suppress(OSError):
                if os.lstat(name).st_mtime > since:
                    return False
    return True


def _ours(writer: Writer) -> bool:
    """Whether ``writer`` is this process (not an earlier one that had its pid)."""
    return writer.here and writer.pid == os.getpid() and writer.alive() is True


def _provably_live(folder: Path) -> bool:
    """Whether the owner of ``folder`` is known to run: it ran in this process space and
    runs, or something holds the lock on its record."""
    record = folder / OWNER_FILE
    writer = read_writer(record)
    if writer is not None and (_ours(writer) or writer.alive()):
        return True
    return _locked(record)


def _owned_stale(folder: Path, now: float, abandoned_after: float) -> bool:
    """Whether a folder with (or meant to have) an owner record is a leftover (module rules)."""
    record = folder / OWNER_FILE
    writer = read_writer(record)
    if writer is None:  # no record: an older sam3roto's, or one being written this instant
        return _idle(folder, now, ORPHAN_AFTER)
    if _ours(writer):
        return False
    alive = writer.alive()
    if alive:
        return False
    if _locked(record):
        return False
    return alive is False or _idle(folder, now, abandoned_after)


def _farm(folder: Path) -> bool:
    """Whether ``folder`` is a farm version's shared staging folder (also those made
    before farm folders were marked: they hold task folders or task manifests)."""
    if (folder / FARM_FILE).is_file():
        return True
    if (folder / OWNER_FILE).exists():
        return False
    with contextlib.suppress(OSError):
        return any(_PART_DIR_RE.match(p.name) or _PART_MANIFEST_RE.match(p.name) for p in folder.iterdir())
    return False


def _parts(shared: Path) -> list[Path]:
    with contextlib.suppress(OSError):
        return sorted(p for p in shared.iterdir() if _PART_DIR_RE.match(p.name) and p.is_dir())
    return []


def is_stale(folder: Path, *, now: float | None = None) -> bool:
    """Whether the staging folder ``folder`` (``.v003.partial``, or one being born) is a
    leftover of a render that will never finish (the module's rules)."""
    now = time.time() if now is None else now
    newborn = _NEWBORN_RE.match(folder.name)
    if newborn and newborn["space"] == process_space():  # its maker's pid is in its name
        pid, writer = int(newborn["pid"]), read_writer(folder / OWNER_FILE)
        started = writer.started if writer is not None and writer.pid == pid else None
        return pid != os.getpid() and not process_alive(pid, started)
    if _farm(folder):
        if not _idle(folder, now, FARM_ABANDONED_AFTER):
            return False
        return not any(_provably_live(part) for part in _parts(folder))
    return _owned_stale(folder, now, ABANDONED_AFTER)


def _discard(folder: Path) -> None:
    """Remove ``folder`` as one step: renamed out of sight first, so a kill during the
    deletion leaves a ``.stale-`` folder (removed by the next render), never a half-deleted
    staging folder."""
    trash = folder.with_name(f"{folder.name}.stale-{secrets.token_hex(4)}")  # names here start with a dot
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return
    except OSError:
        trash = folder
    shutil.rmtree(trash, ignore_errors=True)


def discard_staging(staging: Path) -> None:
    """Remove a staging folder this process made (a cancelled or failed render) and drop
    its lock."""
    try:
        _discard(staging)
    finally:
        _release(staging)


def remove_stale(root: Path, *, keep: Iterable[int] = ()) -> list[Path]:
    """Remove the staging folders under ``root`` that are leftovers (:func:`is_stale`),
    except those of the versions in ``keep``, and what interrupted removals left. Returns
    the removed folders; a folder that cannot be read or removed is left as it is."""
    kept = set(keep)
    now = time.time()
    removed: list[Path] = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if _TRASH_RE.match(entry.name) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            continue
        match = _STAGING_RE.match(entry.name) or _NEWBORN_RE.match(entry.name)
        if match is None or int(match.group(1)) in kept or not entry.is_dir():
            continue
        if is_stale(entry, now=now):
            _discard(entry)
            removed.append(entry)
    return removed


def existing_versions(root: Path) -> list[int]:
    """Version numbers in use under ``root``: finished (``v003``), or being written by a
    render that may still finish (``.v003.partial`` that is not a leftover, see
    :func:`is_stale`). The next render takes the number after the highest."""
    if not root.is_dir():
        return []
    used = set()
    now = time.time()
    for p in root.iterdir():
        m = _FINAL_RE.match(p.name) or _STAGING_RE.match(p.name)
        if m is None or (p.name.startswith(".") and (not p.is_dir() or is_stale(p, now=now))):
            continue
        used.add(int(m.group(1)))
    return sorted(used)


def _bear(root: Path, version: int, *, farm: bool = False) -> Path | None:
    """Make ``.vNNN.partial`` under ``root`` whole: built under a private name with its
    owner record (this process, locked) or, for ``farm``, its farm marker, then renamed into
    place. None when that name is taken (a live render, or another task of the farm job)."""
    name = version_name(version)
    Writer.current()  # what the owner record says, known before the folder exists (first use imports psutil)
    private = root / f".{name}.new-{process_space()}-{os.getpid()}-{secrets.token_hex(4)}"
    staging = root / f".{name}.partial"
    private.mkdir()
    try:
        if farm:
            created = datetime.now(UTC).isoformat(timespec="seconds")
            (private / FARM_FILE).write_text(json.dumps({"version": version, "created": created}) + "\n",
                                             encoding="utf-8")
        else:
            _claim(private)
        try:
            os.rename(private, staging)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            discard_staging(private)
            return None
    except BaseException:
        discard_staging(private)
        raise
    _moved(private, staging)
    return staging


def reserve_version(root: Path, version: int | None = None) -> tuple[int, Path]:
    """Create the staging folder of the next version under ``root`` (or of ``version``,
    refused when it exists) and return ``(version, staging folder)``. Leftovers of killed
    renders are removed first (:func:`remove_stale`), so the next version is the one after
    the last finished (or still running) render. The folder carries this process's owner
    record until :func:`publish_version` or :func:`discard_staging`."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Sam3RotoError(f"cannot create the output folder: {os_reason(exc)}", path=root) from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise Sam3RotoError("the output folder is not writable", path=root)
    if version is not None and version < 1:
        raise ValueError(f"version must be >= 1, got {version}")
    remove_stale(root)
    used = set(existing_versions(root))
    if version is not None and version in used:
        if (root / version_name(version)).exists():
            raise Sam3RotoError(f"{version_name(version)} already exists; versions are never overwritten", path=root)
        raise Sam3RotoError(f"{version_name(version)} is being written by another render", path=root)
    number = version if version is not None else max(used, default=0) + 1
    while True:
        try:
            staging = _bear(root, number)
        except OSError as exc:
            raise Sam3RotoError(f"cannot create the staging folder of {version_name(number)}: {os_reason(exc)}",
                                path=root) from None
        if staging is not None and (root / version_name(number)).exists():
            discard_staging(staging)  # published by another render between the scan and here
            staging = None
        if staging is not None:
            return number, staging
        if version is not None:
            raise Sam3RotoError(f"{version_name(version)} is being written by another render", path=root)
        number += 1


def publish_version(staging: Path, version: int) -> Path:
    """Rename the finished staging folder to ``vNNN`` (its owner record or farm marker
    removed first); refuse to replace anything."""
    final = staging.parent / version_name(version)
    if final.exists():
        raise Sam3RotoError(f"{final.name} appeared while rendering (made outside sam3roto?); it was left alone "
                            "and this render discarded", path=staging.parent)
    try:
        for marker in (OWNER_FILE, FARM_FILE):
            (staging / marker).unlink(missing_ok=True)
        os.rename(staging, final)
    except OSError as exc:
        raise Sam3RotoError(f"cannot publish {final.name}: {os_reason(exc)}", path=staging) from None
    finally:
        _release(staging)
    return final


def write_manifest(folder: Path, data: dict[str, Any]) -> Path:
    """Write ``manifest.json`` (pretty, UTF-8) into ``folder``."""
    path = folder / "manifest.json"
    try:
        path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise write_error(path, exc, "the manifest") from None
    return path


# -- farm renders: one version written by several processes ---------------------------------
PART_MANIFEST = "manifest.part-{first:06d}-{last:06d}.json"
_PART_MANIFEST_RE = re.compile(r"^manifest\.part-(\d{6,})-(\d{6,})\.json$")


def _task(part: Path) -> str:
    m = _PART_DIR_RE.match(part.name)
    what = f"frame indices {int(m.group(1))}-{int(m.group(2))}" if m else part.name
    writer = read_writer(part / OWNER_FILE)
    return f"{what} ({writer.describe()})" if writer is not None else what


def reserve_part(root: Path, version: int, first: int, last: int) -> tuple[Path, Path]:
    """For one farm task: the shared staging folder of ``version`` (created by whichever
    task comes first, marked as a farm folder) and this task's own folder inside it, for
    frame indices ``first..last``, holding this process's owner record. Refused when the
    version is already published, when a render outside the farm job writes it, and when
    another task is provably still writing these frames (a retried task replaces the
    folder of its killed attempt). Leftovers of other versions are removed first
    (:func:`remove_stale`)."""
    if version < 1:
        raise ValueError(f"version must be >= 1, got {version}")
    final = root / version_name(version)
    if final.exists():
        raise Sam3RotoError(f"{final.name} is already published; versions are never overwritten", path=root)
    shared = root / f".{version_name(version)}.partial"
    part = shared / f".part-{first:06d}-{last:06d}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        remove_stale(root, keep=[version])
        if not shared.is_dir():
            _bear(root, version, farm=True)  # None: another task made it first
        writer = read_writer(shared / OWNER_FILE)
        if writer is not None and not _farm(shared) and is_stale(shared):
            # a killed render's leftover of this very version (the farm job was given the
            # number it freed): replaced by the farm's folder
            _discard(shared)
            if not shared.is_dir():
                _bear(root, version, farm=True)
            writer = read_writer(shared / OWNER_FILE)
        if writer is not None:
            raise Sam3RotoError(f"{version_name(version)} is being written by a render outside the farm job "
                                f"({writer.describe()}); give the farm job another version", path=root)
        if part.exists():
            if _provably_live(part):
                raise Sam3RotoError(f"{_task(part)} of {version_name(version)} are being rendered by another task",
                                    path=shared)
            _discard(part)  # left by a task that was killed outright; retried now
        part.mkdir()
        _claim(part)
    except OSError as exc:
        raise Sam3RotoError(f"cannot create the staging folder: {os_reason(exc)}", path=shared) from None
    return shared, part


def merge_part(part: Path, shared: Path) -> list[Path]:
    """Move every file of a finished task folder into the shared staging folder, never
    replacing a different file another task wrote (a retried task finds its own identical
    files and its own manifest, which it replaces); remove the task folder and drop its
    lock. Returns the moved files."""
    moved = []
    for src in sorted(p for p in part.rglob("*") if p.is_file()):
        if src.parent == part and src.name == OWNER_FILE:
            continue
        dst = shared / src.relative_to(part)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if _PART_MANIFEST_RE.match(src.name) and src.parent == part:
            os.replace(src, dst)  # the task's own record: a retry rewrites it
        else:
            try:
                os.link(src, dst)  # fails when dst exists
            except FileExistsError:
                if not filecmp.cmp(src, dst, shallow=False):
                    raise Sam3RotoError(f"{dst.relative_to(shared)} was already written, differently, by another "
                                        "task (overlapping --frames?)", path=shared) from None
            src.unlink()
        moved.append(dst)
    discard_staging(part)
    return moved


def settle_parts(shared: Path) -> list[str]:
    """Before a farm version is published: remove the task folders in ``shared`` that
    killed tasks left (their frames came from a retry, or are missing and reported as
    such) and what interrupted removals left; return a description of each task that is
    provably still writing (its owner runs here, or holds its lock), which must finish
    first."""
    running = []
    with contextlib.suppress(OSError):
        for entry in sorted(shared.iterdir()):
            if _TRASH_RE.match(entry.name) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
    for part in _parts(shared):
        if _provably_live(part):
            running.append(_task(part))
        else:
            _discard(part)
    return running


def part_manifests(shared: Path) -> list[Path]:
    """The task manifests in a shared staging folder, in frame order."""
    if not shared.is_dir():
        return []
    return sorted(p for p in shared.iterdir() if _PART_MANIFEST_RE.match(p.name))

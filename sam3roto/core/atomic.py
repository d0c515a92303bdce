"""Atomic file writes, and the leftovers of writers that died.

Every file is written under a temporary name in its own folder and ``os.replace``-d over
the target when complete, so readers see the old file or the new one, never a mix.

A writer killed outright (``kill -9``, power loss) cannot remove its temporary file. So
temporary names say who wrote them: ``.NAME.<space>-<pid>.<random>.tmp``, where
``space`` (:func:`process_space`) names the machine and process namespace in which the
pid means something. :func:`remove_stale_temps` removes such files when they are
leftovers:

* written in this process space by a process that is gone: removed at once;
* written on another machine (a project on a shared disk), or by an older sam3roto whose
  names carry no pid (``.NAME.<random>.tmp``): removed once not modified for
  :data:`TEMP_ABANDONED_AFTER`. A temporary file is written, flushed and renamed in one
  call, and its modification time moves while it is written, so one left unmodified for
  that long belongs to no running write (and removing a live writer's temporary file
  could only make that write fail with an error: the target keeps its old content).

Owner records (:class:`Writer`) say which process works in a folder (a render's staging
folder), for the same decisions about folders.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

#: Seconds after which a temporary file whose writer cannot be checked (another machine, a
#: name without a pid) is a leftover when nothing has modified it.
TEMP_ABANDONED_AFTER = 3600.0

#: ``.NAME.<space>-<pid>.<random>.tmp`` (``tempfile.mkstemp``'s random part: 8 of a-z0-9_).
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<space>[0-9a-f]{8})-(?P<pid>\d+)\.[a-z0-9_]{8}\.tmp$")
#: Names of temporary files written before they carried their writer: ``.NAME.<random>.tmp``.
_LEGACY_TEMP_RE = re.compile(r"^(?P<dot>\.?)(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


# -- who writes -------------------------------------------------------------------------------

@cache
def process_space() -> str:
    """8 hex digits naming where a pid identifies a process: this machine (host name and
    boot) and this process namespace (containers on one machine have their own)."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip())
    with contextlib.suppress(OSError):
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    return hashlib.sha1("\0".join(parts).encode("utf-8")).hexdigest()[:8]


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), None when there is none."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def process_alive(pid: int, started: float | None = None) -> bool:
    """Whether process ``pid`` of this process space runs (a zombie, killed and not yet
    reaped, does not); with ``started``, whether it is that same process (the pid was not
    reused by a process started at another time)."""
    import psutil

    if pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # exists, owned by someone else: cannot say it is gone
        return True


@dataclass(frozen=True)
class Writer:
    """A process that writes somewhere: ``host`` (for people), ``space``
    (:func:`process_space`), ``pid`` and its start time ``started``."""

    host: str
    space: str
    pid: int
    started: float

    @classmethod
    def current(cls) -> Writer:
        pid = os.getpid()
        return cls(socket.gethostname(), process_space(), pid, process_started(pid) or 0.0)

    @classmethod
    def from_dict(cls, data: Any) -> Writer | None:
        """The writer an owner record describes; None when it is not one."""
        if not isinstance(data, dict):
            return None
        try:
            host, space, pid, started = data["host"], data["space"], data["pid"], data["started"]
        except KeyError:
            return None
        if not (isinstance(host, str) and isinstance(space, str) and isinstance(pid, int)
                and isinstance(started, int | float)):
            return None
        return cls(host, space, pid, float(started))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def here(self) -> bool:
        """Whether its pid can be checked from this process (same process space)."""
        return self.space == process_space()

    def alive(self) -> bool | None:
        """True when it runs, False when it is gone, None when this process cannot tell
        (another machine or process namespace)."""
        if not self.here:
            return None
        return process_alive(self.pid, self.started)

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"


def read_writer(path: Path) -> Writer | None:
    """The writer recorded in the JSON owner record ``path``; None when missing or unreadable."""
    try:
        return Writer.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


# -- temporary files --------------------------------------------------------------------------

def temp_for(target: Path) -> tuple[int, str]:
    """Create the temporary file for writing ``target`` (in its folder, named after it and
    this process: ``.NAME.<space>-<pid>.<random>.tmp``); returns ``(fd, path)``."""
    prefix = f".{target.name}.{process_space()}-{os.getpid()}."
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    # mkstemp makes the file private (0600); the published file gets what any new file would
    # (0666 less the umask), so a project saved by one artist opens for the rest of the team.
    with contextlib.suppress(AttributeError, OSError):  # no fchmod (Windows): the file keeps its mode
        os.fchmod(fd, 0o666 & ~_umask())
    return fd, path


def _read_umask() -> int:
    """The process's umask, read once when the module loads (from ``/proc`` on Linux, else
    by setting it and putting it back, which is only safe before threads write files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _umask() -> int:
    return _UMASK


def _stale_temp(entry: os.DirEntry[str], names: set[str] | None, now: float) -> bool:
    match = _TEMP_RE.match(entry.name)
    if match is not None:
        if names is not None and match["name"] not in names:
            return False
        if match["space"] == process_space():
            pid = int(match["pid"])
            return pid != os.getpid() and not process_alive(pid)
    else:
        legacy = _LEGACY_TEMP_RE.match(entry.name)
        if legacy is None:
            return False
        if names is None:
            if not legacy["dot"]:
                return False  # undotted names only where the caller names the files
        elif legacy["name"] not in names:
            return False
    try:
        return now - entry.stat(follow_symlinks=False).st_mtime > TEMP_ABANDONED_AFTER
    except OSError:
        return False


def remove_stale_temps(folder: Path, names: Iterable[str] | None = None, *, now: float | None = None) -> list[Path]:
    """Remove the temporary files writers that died left in ``folder`` (not in its
    subfolders): those of ``names`` (targets' file names), or every one when None (a
    folder only sam3roto writes, such as a mask store's). See the module's rules. Returns
    the removed files; a folder that cannot be read is left as it is."""
    wanted = set(names) if names is not None else None
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.endswith(".tmp") or not entry.is_file(follow_symlinks=False):
            continue
        if _stale_temp(entry, wanted, now):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue  # another process removed it first
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


# -- errors -----------------------------------------------------------------------------------

#: errno -> what it means for a person, said before the system's own words.
_PLAIN_REASONS = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only disk"}
#: The system's words for a full disk, as libraries that report it in text say it.
_DISK_FULL_TEXT = os.strerror(errno.ENOSPC)


def disk_full(exc: BaseException | str) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full, as an ``OSError`` or in
    the text of another error or of a tool's output (image libraries report I/O failures
    as ``RuntimeError``, ffmpeg on its stderr)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return _DISK_FULL_TEXT in text or f"[Errno {errno.ENOSPC}]" in text


def os_reason(exc: BaseException) -> str:
    """Why a file operation failed, in words: ``disk full (No space left on device)``,
    ``disk quota exceeded (...)``, ``read-only disk (...)``, else the system's message."""
    if isinstance(exc, OSError):
        words = exc.strerror or (os.strerror(exc.errno) if exc.errno else "") or str(exc) or type(exc).__name__
        plain = _PLAIN_REASONS.get(exc.errno or 0)
        if plain and not words.startswith(plain):  # already said in words (atomic_write_text's errors)
            return f"{plain} ({words})"
        return words
    text = str(exc).strip() or type(exc).__name__
    if disk_full(exc):
        return f"disk full ({_DISK_FULL_TEXT})"
    return text


def atomic_write_text(path: Path, text: str, *, sweep: bool = False) -> None:
    """Write ``text`` to ``path`` (temp file in the same folder, flushed to disk, then
    ``os.replace``); an interrupted write leaves the old file and removes the temp file.
    With ``sweep`` (a save, not the frequent writes of records and autosaves: it lists the
    folder), temporary files of ``path`` that killed writers left are removed after the
    write (:func:`remove_stale_temps`). A failure is an ``OSError`` whose ``strerror`` says
    why in words (:func:`os_reason`: ``disk full (No space left on device)``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_for(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, os_reason(exc), str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sweep:
        remove_stale_temps(path.parent, [path.name])

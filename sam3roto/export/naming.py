"""Names on disk: versioned render folders, ``name.####.ext`` frame files, file-safe and
Nuke-safe object names, and the JSON manifest of a render.

A render writes into a hidden staging folder ``.v003.partial`` and renames it to
``v003`` only when every file is complete, so a version folder is always whole: a
cancelled, failed or killed render leaves no ``v003`` behind, and no earlier version is
ever touched.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sam3roto.errors import Sam3RotoError

_VERSION_RE = re.compile(r"^\.?v(\d{3,})(?:\.partial)?$")
_UNSAFE_FILE = re.compile(r"[^A-Za-z0-9_-]+")
_UNSAFE_LAYER = re.compile(r"[^A-Za-z0-9_]+")

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


def existing_versions(root: Path) -> list[int]:
    """Version numbers used under ``root``, finished (``v003``) or being written (``.v003.partial``)."""
    if not root.is_dir():
        return []
    return sorted(int(m.group(1)) for p in root.iterdir() if (m := _VERSION_RE.match(p.name)))


def version_name(version: int) -> str:
    return f"v{version:03d}"


def reserve_version(root: Path, version: int | None = None) -> tuple[int, Path]:
    """Create the staging folder of the next free version under ``root`` (or of ``version``,
    refused when it exists) and return ``(version, staging folder)``."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Sam3RotoError(f"cannot create the output folder ({exc.strerror})", path=root) from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise Sam3RotoError("the output folder is not writable", path=root)
    used = set(existing_versions(root))
    if version is not None:
        if version < 1:
            raise ValueError(f"version must be >= 1, got {version}")
        if version in used:
            raise Sam3RotoError(f"{version_name(version)} already exists; versions are never overwritten", path=root)
    number = version if version is not None else max(used, default=0) + 1
    while True:
        staging = root / f".{version_name(number)}.partial"
        try:
            staging.mkdir()
            return number, staging
        except FileExistsError:  # another render took it between the scan and here
            if version is not None:
                raise Sam3RotoError(f"{version_name(version)} is being written by another render", path=root) from None
            number += 1
        except OSError as exc:
            raise Sam3RotoError(f"cannot create {staging.name} ({exc.strerror})", path=root) from None


def publish_version(staging: Path, version: int) -> Path:
    """Rename the finished staging folder to ``vNNN``; refuse to replace anything."""
    final = staging.parent / version_name(version)
    if final.exists():
        raise Sam3RotoError(f"{final.name} appeared while rendering (made outside sam3roto?); it was left alone "
                            "and this render discarded", path=staging.parent)
    os.rename(staging, final)
    return final


def write_manifest(folder: Path, data: dict[str, Any]) -> Path:
    """Write ``manifest.json`` (pretty, UTF-8) into ``folder``."""
    path = folder / "manifest.json"
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return path


# -- farm renders: one version written by several processes ---------------------------------
PART_MANIFEST = "manifest.part-{first:06d}-{last:06d}.json"
_PART_MANIFEST_RE = re.compile(r"^manifest\.part-(\d{6,})-(\d{6,})\.json$")


def reserve_part(root: Path, version: int, first: int, last: int) -> tuple[Path, Path]:
    """For one farm task: the shared staging folder of ``version`` (created by whichever
    task comes first) and this task's own folder inside it, for frame indices
    ``first..last``. Refused when the version is already published."""
    if version < 1:
        raise ValueError(f"version must be >= 1, got {version}")
    final = root / version_name(version)
    if final.exists():
        raise Sam3RotoError(f"{final.name} is already published; versions are never overwritten", path=root)
    shared = root / f".{version_name(version)}.partial"
    try:
        shared.mkdir(parents=True, exist_ok=True)
        part = shared / f".part-{first:06d}-{last:06d}"
        shutil.rmtree(part, ignore_errors=True)  # left by a task that was killed outright; retried now
        part.mkdir()
    except OSError as exc:
        raise Sam3RotoError(f"cannot create the staging folder ({exc.strerror})", path=shared) from None
    return shared, part


def merge_part(part: Path, shared: Path) -> list[Path]:
    """Move every file of a finished task folder into the shared staging folder, never
    replacing a different file another task wrote (a retried task finds its own identical
    files and its own manifest, which it replaces); remove the task folder. Returns the
    moved files."""
    moved = []
    for src in sorted(p for p in part.rglob("*") if p.is_file()):
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
    shutil.rmtree(part, ignore_errors=True)
    return moved


def part_manifests(shared: Path) -> list[Path]:
    """The task manifests in a shared staging folder, in frame order."""
    if not shared.is_dir():
        return []
    return sorted(p for p in shared.iterdir() if _PART_MANIFEST_RE.match(p.name))

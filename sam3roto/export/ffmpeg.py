"""Finding ffmpeg: ``$SAM3ROTO_FFMPEG``, then ``ffmpeg`` on the PATH, then the binary the
``imageio-ffmpeg`` package ships; and checking that it is new enough.

The exporters write one command line for every ffmpeg they may meet, so a movie does not
depend on which one was found. That holds from ffmpeg 4.4 on (:data:`MIN_FFMPEG`): an
exporter refuses an older one with :func:`check_ffmpeg` before any encoding, naming the
version found.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sam3roto.errors import Hint, Sam3RotoError

#: The oldest ffmpeg release the exporters' commands are written for (Ubuntu 22.04 ships it).
MIN_FFMPEG: tuple[int, int] = (4, 4)

#: libavformat's ``(major, minor)`` in ffmpeg 4.4, for a build whose banner has no release
#: number (a git build: ``ffmpeg version N-110000-g...``); from 5.0 on the major is the
#: release plus 54 (ffmpeg 5.1 has libavformat 59, 9.0 has 63).
_LAVF_OF_4_4: tuple[int, int] = (58, 76)

#: How long ``ffmpeg -version`` may take (a network file system on a cold cache is slow).
_VERSION_TIMEOUT_S = 60.0

_RELEASE = re.compile(r"^ffmpeg version n?(\d+)\.(\d+)")
_LAVF = re.compile(r"^libavformat\s+(\d+)\.\s*(\d+)", re.MULTILINE)
_HOW_TO_GET = "install it (apt install ffmpeg) or pip install imageio-ffmpeg, or set SAM3ROTO_FFMPEG to its path"


class FfmpegError(Sam3RotoError):
    """ffmpeg is missing, too old or failed; ``stderr`` holds what it said."""

    def __init__(self, message: str, *, path: str | Path | None = None, stderr: str = "",
                 hint: str | Hint | None = None) -> None:
        self.stderr = stderr.strip()
        if self.stderr:
            message += "; ffmpeg said: " + self.stderr[-1500:]
        super().__init__(message, path=path, hint=hint)


@dataclass(frozen=True)
class FfmpegVersion:
    """What ``ffmpeg -version`` says: ``release`` as ``(major, minor)`` (for a git build,
    read from libavformat's version: the major release, minor 0, or ``(4, 4)`` from 4.4's
    libavformat on) and ``label``, the version as the banner writes it (``5.1.9-0+deb12u1``)."""

    release: tuple[int, int]
    label: str

    def at_least(self, release: tuple[int, int]) -> bool:
        """Whether this ffmpeg is ``release`` or newer."""
        return self.release >= release


def parse_ffmpeg_version(banner: str) -> FfmpegVersion | None:
    """The version in the text ``ffmpeg -version`` printed, or None when it names none."""
    first = banner.strip().splitlines()[0] if banner.strip() else ""
    words = first.split()
    label = words[2] if len(words) > 2 and words[:2] == ["ffmpeg", "version"] else ""
    match = _RELEASE.match(first)
    if match and label:
        return FfmpegVersion((int(match.group(1)), int(match.group(2))), label)
    lavf = _LAVF.search(banner)
    if not (lavf and label):
        return None
    major, minor = int(lavf.group(1)), int(lavf.group(2))
    if (major, minor) >= (59, 0):
        return FfmpegVersion((major - 54, 0), label)
    if (major, minor) >= _LAVF_OF_4_4:
        return FfmpegVersion(MIN_FFMPEG, label)
    return FfmpegVersion((max(0, major - 54), 0), label)


def ffmpeg_version(ffmpeg: str) -> FfmpegVersion:
    """The version of the executable ``ffmpeg`` (run once per file: cached by path, size and
    modification time), or :class:`FfmpegError` when it does not run or names no version."""
    try:
        stat = os.stat(ffmpeg)
    except OSError as exc:
        raise FfmpegError(f"could not read ffmpeg ({exc.strerror or exc})", path=ffmpeg) from None
    return _version_of(ffmpeg, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _version_of(ffmpeg: str, size: int, mtime_ns: int) -> FfmpegVersion:
    """``size`` and ``mtime_ns`` key the cache only: a replaced binary is asked again."""
    try:
        done = subprocess.run([ffmpeg, "-version"], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=_VERSION_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise FfmpegError(f"ffmpeg -version did not answer within {_VERSION_TIMEOUT_S:g} s", path=ffmpeg) from None
    except OSError as exc:
        raise FfmpegError(f"could not start ffmpeg ({exc.strerror or exc})", path=ffmpeg) from None
    said = (done.stdout + done.stderr).decode("utf-8", "replace")
    if done.returncode != 0:
        raise FfmpegError(f"ffmpeg -version failed with exit code {done.returncode}", path=ffmpeg, stderr=said)
    version = parse_ffmpeg_version(said)
    if version is None:
        raise FfmpegError("ffmpeg -version names no ffmpeg version: is it ffmpeg?", path=ffmpeg, stderr=said)
    return version


def check_ffmpeg(ffmpeg: str) -> FfmpegVersion:
    """The version of ``ffmpeg``; :class:`FfmpegError` naming it when it is older than
    :data:`MIN_FFMPEG` (the exporters' flags and tags are checked from that release on)."""
    version = ffmpeg_version(ffmpeg)
    if not version.at_least(MIN_FFMPEG):
        need = ".".join(map(str, MIN_FFMPEG))
        raise FfmpegError(f"ffmpeg {version.label} is too old: sam3roto needs ffmpeg {need} or newer", path=ffmpeg,
                          hint="install a newer ffmpeg, pip install imageio-ffmpeg (it ships one), or set "
                               "SAM3ROTO_FFMPEG to a newer ffmpeg's path")
    return version


def find_ffmpeg() -> str:
    """The ffmpeg executable to use, or :class:`FfmpegError` saying how to get one. Its
    version is not checked here (that runs it): see :func:`check_ffmpeg`."""
    override = os.environ.get("SAM3ROTO_FFMPEG")
    if override:
        if not (Path(override).is_file() and os.access(override, os.X_OK)):
            raise FfmpegError("SAM3ROTO_FFMPEG does not name an executable file", path=override)
        return override
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        pass
    raise FfmpegError(f"ffmpeg was not found: {_HOW_TO_GET}")

"""Finding ffmpeg: ``$SAM3ROTO_FFMPEG``, then ``ffmpeg`` on the PATH, then the binary the
``imageio-ffmpeg`` package ships."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sam3roto.errors import Sam3RotoError


class FfmpegError(Sam3RotoError):
    """ffmpeg is missing or failed; ``stderr`` holds what it said."""

    def __init__(self, message: str, *, path: str | Path | None = None, stderr: str = "") -> None:
        self.stderr = stderr.strip()
        if self.stderr:
            message += "; ffmpeg said: " + self.stderr[-1500:]
        super().__init__(message, path=path)


def find_ffmpeg() -> str:
    """The ffmpeg executable to use, or :class:`FfmpegError` saying how to get one."""
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
    raise FfmpegError("ffmpeg was not found: install it (apt install ffmpeg) or "
                      "pip install imageio-ffmpeg, or set SAM3ROTO_FFMPEG to its path")

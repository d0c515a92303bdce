"""ProRes 4444 with alpha in a ``.mov`` per object: ffmpeg ``prores_ks``, profile 4
(4444), ``yuva444p10le``, Rec.709 matrix and colour tags.

Frames go to ffmpeg as raw 16-bit RGBA through a pipe (no temporary images); the movie
is written under a temporary name and renamed when ffmpeg has finished cleanly. Alpha is
straight unless the object's post settings premultiply, and the file name says which.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import tempfile
from pathlib import Path
from typing import IO

import numpy as np

from sam3roto.core.atomic import disk_full
from sam3roto.export.base import Exporter, ExporterInfo, FrameOutput, RenderPlan, rgba_uint
from sam3roto.export.ffmpeg import FfmpegError, find_ffmpeg


def prores_command(ffmpeg: str, width: int, height: int, fps: tuple[int, int], out: Path) -> list[str]:
    """The ffmpeg command that reads raw ``rgba64le`` frames on stdin and writes ProRes 4444."""
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-n",
        "-f", "rawvideo", "-pix_fmt", "rgba64le", "-s", f"{width}x{height}", "-r", f"{fps[0]}/{fps[1]}",
        "-i", "pipe:0",
        "-vf", "scale=out_color_matrix=bt709:out_range=tv",
        "-c:v", "prores_ks", "-profile:v", "4", "-pix_fmt", "yuva444p10le", "-alpha_bits", "16",
        "-vendor", "apl0",
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv",
        "-f", "mov", str(out),
    ]


def _disk_full(said: str) -> str:
    """``: disk full (No space left on device)`` when ffmpeg said so, else nothing."""
    return f": disk full ({os.strerror(errno.ENOSPC)})" if disk_full(said) else ""


class _Movie:
    """One ffmpeg process writing one movie."""

    def __init__(self, final: Path, plan: RenderPlan) -> None:
        self.final = final
        self.partial = final.with_name(f".{final.stem}.partial.mov")
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        cmd = prores_command(find_ffmpeg(), plan.width, plan.height, plan.fps, self.partial)
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.stderr)
        except OSError as exc:
            self.stderr.close()
            raise FfmpegError(f"could not start ffmpeg ({exc.strerror or exc})", path=cmd[0]) from None

    def said(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def write(self, rgba16: np.ndarray) -> None:
        if self.proc.stdin is None:
            raise RuntimeError("ffmpeg was started without a stdin pipe")
        try:
            self.proc.stdin.write(np.ascontiguousarray(rgba16, dtype="<u2").tobytes())
        except (BrokenPipeError, OSError):
            self.proc.wait()
            said = self.said()
            raise FfmpegError(f"ffmpeg stopped while encoding{_disk_full(said)}", path=self.final,
                              stderr=said) from None

    def finish(self) -> None:
        if self.proc.stdin is None:
            raise RuntimeError("ffmpeg was started without a stdin pipe")
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        code = self.proc.wait()
        said = self.said()
        self.stderr.close()
        if code != 0:
            self.partial.unlink(missing_ok=True)
            raise FfmpegError(f"ffmpeg failed with exit code {code}{_disk_full(said)}", path=self.final, stderr=said)
        self.partial.rename(self.final)

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self.stderr.close()
        self.partial.unlink(missing_ok=True)


class ProRes4444(Exporter):
    """``OBJECT/NAME_OBJECT_straight.mov`` (or ``_premult``) per object: the cleaned RGB with
    the matte as the alpha plane."""

    info = ExporterInfo("prores", ".mov", "ProRes 4444 with alpha (.mov) per object, 10-bit, Rec.709 tags",
                        alpha=True, bit_depths=(10,), kind="movie", per_object=True, parallel=False)

    def __init__(self, folder: Path, plan: RenderPlan) -> None:
        super().__init__(folder, plan)
        self._movies: dict[int, _Movie] = {}

    def write(self, frame: FrameOutput) -> None:
        for obj in self.plan.objects:
            if obj.id not in frame.mattes:
                continue
            movie = self._movies.get(obj.id)
            if movie is None:
                kind = "premult" if frame.premultiplied.get(obj.id, False) else "straight"
                where = self.folder / obj.token
                where.mkdir(parents=True, exist_ok=True)
                movie = self._movies[obj.id] = _Movie(where / f"{self.plan.name}_{obj.token}_{kind}.mov", self.plan)
            movie.write(rgba_uint(frame.rgb[obj.id], frame.mattes[obj.id], 16))

    def finish(self) -> None:
        movies, self._movies = self._movies, {}
        try:
            while movies:
                _, movie = movies.popitem()
                movie.finish()
                self.files.append(movie.final)
        finally:
            for movie in movies.values():
                movie.abort()

    def abort(self) -> None:
        for movie in self._movies.values():
            movie.abort()
        self._movies.clear()

"""ProRes 4444 with alpha in a ``.mov`` per object: ffmpeg ``prores_ks``, profile 4
(4444), ``yuva444p10le``, Rec.709 primaries, transfer and matrix tags (video range), and a
timecode track when the render has a timecode.

Frames go to ffmpeg as raw 16-bit RGBA through a pipe (no temporary images); the movie
is written under a temporary name and renamed when ffmpeg has finished cleanly. Alpha is
straight unless the object's post settings premultiply, and the file name says which.

The command is the same for every ffmpeg from 4.4 on, and so are the tags it writes
(checked with ffmpeg 5.1 and 9.0, and the older 4.2): ``prores_ks`` writes each frame's
own colour tags into the frame header, not the encoder's ``-color_*`` options, and the
``scale`` filter leaves primaries and transfer unset (5.1 leaves the matrix unset too),
so ``setparams`` tags the frames themselves. ``-color_*`` put the same values in the
container's ``colr`` atom, and ``write_colr`` asks for that atom whatever the release's
default (9.0 writes it only for a fully tagged stream, 5.1 always).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np

from sam3roto.core.atomic import disk_full
from sam3roto.core.timecode import fps_label, frames_to_timecode, label_drop_frame, nominal_rate, timecode_to_frames
from sam3roto.errors import Sam3RotoError
from sam3roto.export.base import Exporter, ExporterInfo, FrameOutput, RenderPlan, rgba_uint
from sam3roto.export.ffmpeg import FfmpegError, check_ffmpeg, ffmpeg_version, find_ffmpeg

#: Tags the frames leaving ``scale`` (which converts with the Rec.709 matrix to video range)
#: carry into ``prores_ks``'s frame headers.
_TAG_FRAMES = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"

#: ffmpeg 4.2's mov muxer writes drop-frame timecode only at 29.97 and 59.94 (nominal 30
#: and 60); 5.1 and 9.0 write it at any multiple of 29.97 (119.88). Below this release
#: (4.4 itself was not at hand to check) a drop-frame label at such a rate is refused,
#: because ffmpeg would only warn and write the movie without a timecode track.
_DROP_FRAME_ANY_MULTIPLE = (5, 0)


class TimecodeError(Sam3RotoError, ValueError):
    """A timecode label a movie cannot carry (not ``HH:MM:SS:FF``, or no such label at the
    movie's rate). A ValueError too, like :func:`sam3roto.core.timecode.timecode_to_frames`'s."""


def movie_timecode(label: str, fps: tuple[int, int]) -> str:
    """``label`` as the mov muxer's ``-timecode`` takes it (``HH:MM:SS:FF``, ``;`` before the
    frames for drop-frame), or :class:`TimecodeError` saying what is wrong: ffmpeg itself
    would only warn and write a movie without a timecode track."""
    if not isinstance(label, str):
        raise TimecodeError(f"a timecode is HH:MM:SS:FF (e.g. 01:00:00:00), got {label!r}")
    rate = Fraction(*fps)
    drop = label_drop_frame(label, rate)
    separator = label.strip().rstrip("0123456789")[-1:]  # the one before the frames
    if separator in (";", ".", ",") and not drop:
        raise TimecodeError(f"timecode {label!r} is drop-frame ({separator!r} before the frames), which exists at "
                            f"29.97 and 59.94 fps (multiples of 30000/1001), not at {fps_label(rate)} fps; use ':'")
    try:
        frames = timecode_to_frames(label, rate, drop)
    except ValueError as exc:
        raise TimecodeError(str(exc)) from None
    return frames_to_timecode(frames, rate, drop)


def _timecode_args(ffmpeg: str, fps: tuple[int, int], timecode: str | None) -> list[str]:
    """``["-timecode", LABEL]`` for the first frame's label, nothing without one; a bad
    label is a :class:`TimecodeError`, a drop-frame one this ffmpeg cannot write an
    :class:`FfmpegError`."""
    if timecode is None:
        return []
    label = movie_timecode(timecode, fps)
    if ";" in label and nominal_rate(Fraction(*fps)) not in (30, 60):
        found = ffmpeg_version(ffmpeg)
        if not found.at_least(_DROP_FRAME_ANY_MULTIPLE):
            need = ".".join(map(str, _DROP_FRAME_ANY_MULTIPLE))
            raise FfmpegError(f"ffmpeg {found.label} writes drop-frame timecode only at 29.97 and 59.94 fps, not "
                              f"{fps_label(Fraction(*fps))}: it needs ffmpeg {need} or newer", path=ffmpeg)
    return ["-timecode", label]


def prores_command(ffmpeg: str, width: int, height: int, fps: tuple[int, int], out: Path,
                   timecode: str | None = None) -> list[str]:
    """The ffmpeg command that reads raw ``rgba64le`` frames on stdin and writes ProRes 4444
    with Rec.709 tags and, when ``timecode`` (the first frame's label) is given, a timecode
    track. A bad label is a :class:`TimecodeError` before anything runs (and a drop-frame
    label this ffmpeg would leave out an :class:`FfmpegError`)."""
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-n",
        "-f", "rawvideo", "-pix_fmt", "rgba64le", "-s", f"{width}x{height}", "-r", f"{fps[0]}/{fps[1]}",
        "-i", "pipe:0",
        "-vf", f"scale=out_color_matrix=bt709:out_range=tv,{_TAG_FRAMES}",
        "-c:v", "prores_ks", "-profile:v", "4", "-pix_fmt", "yuva444p10le", "-alpha_bits", "16",
        "-vendor", "apl0",
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv",
        "-movflags", "+write_colr",
        *_timecode_args(ffmpeg, fps, timecode),
        "-f", "mov", str(out),
    ]


def _disk_full(said: str) -> str:
    """``: disk full (No space left on device)`` when ffmpeg said so, else nothing."""
    return f": disk full ({os.strerror(errno.ENOSPC)})" if disk_full(said) else ""


class _Movie:
    """One ffmpeg process writing one movie."""

    def __init__(self, final: Path, plan: RenderPlan, ffmpeg: str) -> None:
        self.final = final
        self.partial = final.with_name(f".{final.stem}.partial.mov")
        cmd = prores_command(ffmpeg, plan.width, plan.height, plan.fps, self.partial, plan.timecode)
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
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
        # ffmpeg found and its version checked, and the timecode checked, once before any movie starts
        self._ffmpeg = find_ffmpeg()
        check_ffmpeg(self._ffmpeg)
        _timecode_args(self._ffmpeg, plan.fps, plan.timecode)

    def write(self, frame: FrameOutput) -> None:
        for obj in self.plan.objects:
            if obj.id not in frame.mattes:
                continue
            movie = self._movies.get(obj.id)
            if movie is None:
                kind = "premult" if frame.premultiplied.get(obj.id, False) else "straight"
                where = self.folder / obj.token
                where.mkdir(parents=True, exist_ok=True)
                movie = self._movies[obj.id] = _Movie(where / f"{self.plan.name}_{obj.token}_{kind}.mov", self.plan,
                                                     self._ffmpeg)
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

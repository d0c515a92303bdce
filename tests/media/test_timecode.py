"""A movie's start timecode, as ffmpeg writes it (``-timecode``), read into
``MediaInfo.extra["timecode"]``: a MOV/MP4 timecode track, an MKV container tag, drop-frame
at 29.97; none when the movie has none or the tag is no timecode."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from sam3roto.core.timecode import timecode_at
from sam3roto.media.source import open_media

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="imageio-ffmpeg is not installed (requirements-dev.txt)")


def encode(path: Path, rate: str, *args: str, frames: int = 6) -> Path:
    """A small testsrc movie at ``rate`` with extra ffmpeg output ``args``."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi",
               "-i", f"testsrc=size=64x48:rate={rate}", "-frames:v", str(frames),
               "-c:v", "libx264", "-pix_fmt", "yuv420p", *args, str(path)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return path


@pytest.mark.parametrize("suffix", [".mov", ".mp4", ".mkv"])
def test_the_start_timecode_ffmpeg_writes_is_read(tmp_path: Path, suffix: str) -> None:
    movie = encode(tmp_path / f"tc{suffix}", "24", "-timecode", "01:00:00:00")
    with open_media(movie) as source:
        info = source.info
        assert info.extra["timecode"] == "01:00:00:00"
        assert info.start_timecode == "01:00:00:00"
        assert info.describe()["timecode"] == "01:00:00:00"
        assert timecode_at(info.frame_count - 1, info.fps, info.start_timecode) == "01:00:00:05"
        with source.clone() as other:  # a reader for another thread says the same
            assert other.info.start_timecode == "01:00:00:00"


def test_drop_frame_timecode_at_29_97(tmp_path: Path) -> None:
    movie = encode(tmp_path / "df.mov", "30000/1001", "-timecode", "00:59:59;28")
    with open_media(movie) as source:
        info = source.info
        assert info.fps == Fraction(30000, 1001)
        assert info.start_timecode == "00:59:59;28"
        # across the hour: labels ;00 and ;01 are not skipped at a tenth minute
        assert [timecode_at(i, info.fps, info.start_timecode) for i in range(4)] == \
            ["00:59:59;28", "00:59:59;29", "01:00:00;00", "01:00:00;01"]


def test_no_timecode_or_a_tag_that_is_none(tmp_path: Path) -> None:
    with open_media(encode(tmp_path / "plain.mov", "25")) as source:
        assert "timecode" not in source.info.extra and source.info.start_timecode is None
        assert source.info.describe()["timecode"] is None
        assert timecode_at(30, source.info.fps, source.info.start_timecode) == "00:00:01:05"
    with open_media(encode(tmp_path / "junk.mkv", "25", "-metadata", "TIMECODE=not a timecode")) as source:
        assert source.info.start_timecode is None  # ignored: the frames still open
        assert source.info.frame_count == 6

"""ProRes 4444 carries the same tags whichever ffmpeg is found: Rec.709 primaries, transfer
and matrix, video range, alpha, and the render's timecode track. Each ffmpeg found (the one
``imageio-ffmpeg`` ships, always; the PATH's when it is another) writes a movie through the
real exporter, read back with PyAV and, where it is installed, ffprobe."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sam3roto.core.jobs import run_sync
from sam3roto.core.timecode import frames_to_timecode
from sam3roto.errors import Sam3RotoError
from sam3roto.export.base import FrameOutput, ObjectOut, RenderPlan
from sam3roto.export.ffmpeg import FfmpegError, check_ffmpeg, ffmpeg_version, parse_ffmpeg_version
from sam3roto.export.prores import ProRes4444, TimecodeError, movie_timecode, prores_command
from sam3roto.pipeline.render import RenderOptions, render_job
from tests.export.conftest import RenderShot


def _ffmpegs() -> list[Any]:
    """The bundled ffmpeg, and the PATH's when it is another binary (else a skip naming it)."""
    try:
        import imageio_ffmpeg

        bundled = str(imageio_ffmpeg.get_ffmpeg_exe())
    except ImportError:  # it is in requirements.txt: a broken install, said as a failure
        bundled = "imageio-ffmpeg is not installed (requirements.txt)"
    on_path = shutil.which("ffmpeg")
    params = [pytest.param(bundled, id="bundled")]
    if on_path is None:
        params.append(pytest.param("", id="path", marks=pytest.mark.skip(
            reason="no ffmpeg on the PATH (apt install ffmpeg): only the bundled one is checked")))
    elif os.path.realpath(on_path) == os.path.realpath(bundled):
        params.append(pytest.param("", id="path", marks=pytest.mark.skip(
            reason=f"the PATH's ffmpeg {on_path} is the bundled one")))
    else:
        params.append(pytest.param(on_path, id="path"))
    return params


FFMPEGS = _ffmpegs()

#: (fps, first frame's timecode): non-drop at 24, drop-frame at 29.97 across a minute that
#: drops labels (;00 and ;01 of 00:01:00 do not exist) and one that does not (01:00:00;00).
CASES = [
    pytest.param((24, 1), "01:00:00:00", id="24-ndf"),
    pytest.param((30000, 1001), "00:00:59;28", id="2997-df"),
    pytest.param((30000, 1001), "00:59:59;28", id="2997-df-hour"),
]

W, H, N = 64, 48, 4
OBJ = ObjectOut(1, "person", "person", "person")


def _plan(fps: tuple[int, int], timecode: str | None) -> RenderPlan:
    return RenderPlan(name="plate", width=W, height=H, fps=fps, numbers=tuple(range(1001, 1001 + N)), padding=4,
                      objects=(OBJ,), combine=(OBJ.id,), source_dtype="float32", timecode=timecode)


def _frames() -> list[FrameOutput]:
    """Float RGB ramps and a matte that is 0 at the left, 1 at the right, a ramp between."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for i in range(N):
        rgb = np.dstack([xx / (W - 1), yy / (H - 1), np.full_like(xx, (i + 1) / (N + 1))]).astype(np.float32)
        matte = np.clip((xx - 16 - i) / 24, 0.0, 1.0).astype(np.float32)
        out.append(FrameOutput(index=i, number=1001 + i, image=rgb, mattes={OBJ.id: matte}, rgb={OBJ.id: rgb},
                               premultiplied={OBJ.id: False}))
    return out


def _write(folder: Path, plan: RenderPlan, frames: list[FrameOutput]) -> Path:
    exporter = ProRes4444(folder, plan)
    try:
        for frame in frames:
            exporter.write(frame)
        exporter.finish()
    except BaseException:
        exporter.abort()
        raise
    assert exporter.files == [folder / "person" / "plate_person_straight.mov"]
    return exporter.files[0]


@pytest.fixture(params=FFMPEGS)
def ffmpeg(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each ffmpeg found, chosen as a user would: ``SAM3ROTO_FFMPEG``."""
    monkeypatch.setenv("SAM3ROTO_FFMPEG", request.param)
    return str(request.param)


def _header(packet: bytes) -> dict[str, int | bytes]:
    """The ProRes frame header fields that carry the tags (what ``prores_ks`` wrote, read
    without any decoder): vendor, colour primaries / transfer / matrix codes, alpha bits."""
    assert packet[4:8] == b"icpf", packet[:16]
    return {"vendor": packet[12:16], "primaries": packet[22], "transfer": packet[23], "matrix": packet[24],
            "alpha": packet[25] & 0x0F}


def _check_with_pyav(movie: Path, frames: list[FrameOutput], fps: tuple[int, int], timecode: str | None) -> None:
    import av

    with av.open(str(movie)) as container:
        video = container.streams.video[0]
        cc = video.codec_context
        assert (cc.name, cc.profile, cc.codec_tag) == ("prores", "4444", "ap4h")
        assert video.average_rate == Fraction(*fps)
        # 1 = BT.709 (primaries, transfer, matrix); colour range 1 = MPEG (video, "tv")
        assert (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == (1, 1, 1, 1)
        headers = [_header(bytes(p)) for p in container.demux(video=0) if p.size]
        data = container.streams.data
        if timecode is None:
            assert len(data) == 0 and "timecode" not in video.metadata
        else:
            assert len(data) == 1 and data[0].metadata["timecode"] == timecode
            assert video.metadata["timecode"] == timecode
    assert len(headers) == N
    assert all(h == {"vendor": b"apl0", "primaries": 1, "transfer": 1, "matrix": 1, "alpha": 2} for h in headers)
    with av.open(str(movie)) as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == N
    for frame, sent in zip(decoded, frames, strict=True):
        # the ProRes decoder gives 4444 as 12-bit; alpha is a plane of its own
        assert frame.format.name == "yuva444p12le"
        assert (frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range) == (1, 1, 1, 1)
        ten = frame.reformat(format="yuva444p10le")
        alpha = np.frombuffer(ten.planes[3], np.uint16).reshape(ten.height, -1)[:, : ten.width]
        assert np.abs(alpha.astype(np.int64) - np.round(sent.mattes[OBJ.id] * 1023)).max() <= 1
        rgb = frame.to_ndarray(format="rgb48le").astype(np.float64) / 65535.0
        assert np.abs(rgb - sent.rgb[OBJ.id]).max() < 0.02  # decoded with the Rec.709 matrix it was written with


@pytest.mark.parametrize(("fps", "timecode"), CASES)
def test_tags_and_timecode_read_back_with_pyav(ffmpeg: str, tmp_path: Path, fps: tuple[int, int],
                                               timecode: str) -> None:
    frames = _frames()
    movie = _write(tmp_path / "out", _plan(fps, timecode), frames)
    _check_with_pyav(movie, frames, fps, timecode)
    assert sorted(p.name for p in movie.parent.iterdir()) == [movie.name]  # the partial name is gone


def test_no_timecode_writes_no_timecode_track(ffmpeg: str, tmp_path: Path) -> None:
    frames = _frames()
    movie = _write(tmp_path / "out", _plan((25, 1), None), frames)
    _check_with_pyav(movie, frames, (25, 1), None)


@pytest.mark.parametrize(("fps", "timecode"), CASES)
def test_tags_and_timecode_read_back_with_ffprobe(ffmpeg: str, tmp_path: Path, fps: tuple[int, int],
                                                  timecode: str) -> None:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        pytest.skip("no ffprobe on the PATH (apt install ffmpeg); the movie is read back with PyAV only")
    movie = _write(tmp_path / "out", _plan(fps, timecode), _frames())
    said = subprocess.run([ffprobe, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(movie)],
                          capture_output=True, text=True, check=True, timeout=60).stdout
    streams = json.loads(said)["streams"]
    video = [s for s in streams if s["codec_type"] == "video"]
    data = [s for s in streams if s["codec_type"] == "data"]
    assert len(video) == 1 and len(data) == 1
    v = video[0]
    assert (v["codec_name"], v["profile"], v["codec_tag_string"]) == ("prores", "4444", "ap4h")
    assert v["pix_fmt"] == "yuva444p12le"  # how the decoder presents 4444 with alpha
    assert (v["color_primaries"], v["color_transfer"], v["color_space"], v["color_range"]) == (
        "bt709", "bt709", "bt709", "tv")
    assert Fraction(v["r_frame_rate"]) == Fraction(*fps)
    assert v["tags"]["timecode"] == timecode
    assert data[0]["codec_tag_string"] == "tmcd" and data[0]["tags"]["timecode"] == timecode


def test_a_render_writes_its_first_frames_timecode(ffmpeg: str, render_shot: RenderShot, tmp_path: Path) -> None:
    import av

    result = run_sync(render_job(render_shot.project, render_shot.source, render_shot.store, tmp_path / "out",
                                 RenderOptions(outputs=("prores",), indices=(2, 3, 4))))
    shot = render_shot.project.shot
    assert shot is not None and shot.fps == 24
    expected = frames_to_timecode(1003, shot.fps)  # frame numbers from the plate: 1003 is 00:00:41:19
    assert expected == "00:00:41:19"
    for movie in result.files["prores"]:
        with av.open(str(movie)) as container:
            assert container.streams.data[0].metadata["timecode"] == expected
            cc = container.streams.video[0].codec_context  # the container's colr atom
            assert (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == (1, 1, 1, 1)
            headers = [_header(bytes(p)) for p in container.demux(video=0) if p.size]  # each frame's own tags
        assert len(headers) == 3
        assert all((h["primaries"], h["transfer"], h["matrix"], h["alpha"]) == (1, 1, 1, 2) for h in headers)


def test_the_command_keeps_the_encoding_settings(tmp_path: Path) -> None:
    cmd = prores_command("ffmpeg", W, H, (30000, 1001), tmp_path / ".x.partial.mov", "00:59:59;28")
    text = " ".join(cmd)
    for part in ("-f rawvideo -pix_fmt rgba64le", "-c:v prores_ks -profile:v 4 -pix_fmt yuva444p10le -alpha_bits 16",
                 "-vendor apl0", "-timecode 00:59:59;28", "-r 30000/1001", "-i pipe:0",
                 "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"):
        assert part in text
    assert cmd[-1] == str(tmp_path / ".x.partial.mov")
    assert "-timecode" not in prores_command("ffmpeg", W, H, (24, 1), tmp_path / "y.mov")


@pytest.mark.parametrize(("timecode", "fps", "message"), [
    ("01:00:00", (24, 1), "a timecode is HH:MM:SS:FF"),
    ("25:00:00:00", (24, 1), "hours go to 23"),
    ("01:00:00:24", (24, 1), "frames to 23"),
    ("01:00:00;00", (24, 1), "drop-frame .* not at 24 fps"),
    ("00:01:00;00", (30000, 1001), "does not exist in drop-frame timecode"),
])
def test_a_bad_timecode_is_refused_before_ffmpeg_starts(ffmpeg: str, tmp_path: Path, timecode: str,
                                                        fps: tuple[int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prores_command(ffmpeg, W, H, fps, tmp_path / "x.mov", timecode)
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(TimecodeError, match=message) as err:
        _write(folder, _plan(fps, timecode), _frames())
    assert isinstance(err.value, Sam3RotoError) and isinstance(err.value, ValueError)
    assert list(folder.iterdir()) == []


def test_a_bad_timecode_leaves_no_render_behind(render_shot: RenderShot, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sam3roto.pipeline.render._first_timecode", lambda *args: "24:00:00:00")
    root = tmp_path / "out"
    with pytest.raises(TimecodeError, match="hours go to 23"):
        run_sync(render_job(render_shot.project, render_shot.source, render_shot.store, root,
                            RenderOptions(outputs=("png-alpha", "prores"))))
    assert not root.exists() or list(root.iterdir()) == []


def test_movie_timecode_spells_labels_as_ffmpeg_reads_them() -> None:
    assert movie_timecode("01:00:00:00", (24, 1)) == "01:00:00:00"
    assert movie_timecode(" 00.59.59.28 ", (30000, 1001)) == "00:59:59;28"  # '.' before the frames: drop-frame
    assert movie_timecode("00:59:59:28", (30000, 1001)) == "00:59:59:28"  # a 29.97 label may be non-drop
    assert movie_timecode("01:00:00;00", (60000, 1001)) == "01:00:00;00"


def _fake_ffmpeg(tmp_path: Path, banner: str, name: str = "ffmpeg") -> Path:
    """A script that answers ``-version`` with ``banner`` and counts its runs in ``runs``."""
    script = tmp_path / name
    runs = tmp_path / f"{name}.runs"
    script.write_text(f"#!/bin/sh\necho run >> '{runs}'\ncat <<'EOF'\n{banner}\nEOF\n")
    script.chmod(0o755)
    return script


def test_an_ffmpeg_older_than_4_4_is_refused_naming_its_version(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    old = _fake_ffmpeg(tmp_path, "ffmpeg version 4.3.6-0+deb11u1 Copyright (c) 2000-2023 the FFmpeg developers\n"
                                 "libavformat    58. 45.100 / 58. 45.100")
    monkeypatch.setenv("SAM3ROTO_FFMPEG", str(old))
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(FfmpegError, match=r"ffmpeg 4\.3\.6-0\+deb11u1 is too old: sam3roto needs ffmpeg 4\.4 or newer"):
        ProRes4444(folder, _plan((24, 1), "01:00:00:00"))
    assert list(folder.iterdir()) == []


def test_the_version_is_asked_once_per_binary(tmp_path: Path) -> None:
    fake = _fake_ffmpeg(tmp_path, "ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021\n"
                                  "libavformat    58. 76.100 / 58. 76.100", name="ffmpeg44")
    assert check_ffmpeg(str(fake)).release == (4, 4)
    assert ffmpeg_version(str(fake)).label == "4.4.2-0ubuntu0.22.04.1"
    assert (tmp_path / "ffmpeg44.runs").read_text().count("run") == 1


def test_drop_frame_beyond_5994_needs_an_ffmpeg_that_writes_it(tmp_path: Path) -> None:
    """4.2's mov muxer writes drop-frame only at 29.97 and 59.94 and else just warns: refused."""
    fourfour = _fake_ffmpeg(tmp_path, "ffmpeg version 4.4.2\nlibavformat    58. 76.100 / 58. 76.100", name="a")
    six = _fake_ffmpeg(tmp_path, "ffmpeg version 6.1.1\nlibavformat    60. 16.100 / 60. 16.100", name="b")
    with pytest.raises(FfmpegError, match=r"needs ffmpeg 5\.0 or newer"):
        prores_command(str(fourfour), W, H, (120000, 1001), tmp_path / "x.mov", "01:00:00;00")
    assert "01:00:00;00" in prores_command(str(six), W, H, (120000, 1001), tmp_path / "x.mov", "01:00:00;00")
    # nominal 30 and 60 need no version check (every ffmpeg from 4.2 writes them)
    assert "00:59:59;56" in prores_command(str(fourfour), W, H, (60000, 1001), tmp_path / "x.mov", "00:59:59;56")


@pytest.mark.parametrize(("banner", "release", "label"), [
    ("ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026", (5, 1), "5.1.9-0+deb12u1"),
    ("ffmpeg version n9.0.2-17-g2a571b6068-20260930 Copyright", (9, 0), "n9.0.2-17-g2a571b6068-20260930"),
    ("ffmpeg version 4.2.2-static https://johnvansickle.com/ffmpeg/", (4, 2), "4.2.2-static"),
    ("ffmpeg version 7.1 Copyright", (7, 1), "7.1"),
    ("ffmpeg version N-113000-gabcdef Copyright\nlibavutil      58. 36.101\nlibavformat    60. 20.100 / 60. 20.100",
     (6, 0), "N-113000-gabcdef"),
    ("ffmpeg version 2023-03-05-git-912ac82a3c-essentials\nlibavformat    58. 76.100 / 58. 76.100", (4, 4),
     "2023-03-05-git-912ac82a3c-essentials"),
    ("ffmpeg version git-2020-06-01\nlibavformat    58. 45.100 / 58. 45.100", (4, 0), "git-2020-06-01"),
])
def test_versions_are_read_from_every_kind_of_banner(banner: str, release: tuple[int, int], label: str) -> None:
    version = parse_ffmpeg_version(banner)
    assert version is not None and (version.release, version.label) == (release, label)


def test_a_banner_without_a_version_is_refused(tmp_path: Path) -> None:
    assert parse_ffmpeg_version("") is None
    assert parse_ffmpeg_version("avconv version 12") is None
    liar = _fake_ffmpeg(tmp_path, "hello", name="liar")
    with pytest.raises(FfmpegError, match="names no ffmpeg version"):
        check_ffmpeg(str(liar))

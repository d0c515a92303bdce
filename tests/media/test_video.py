"""Movies through PyAV: counts, rates, frame-exact random access, rotation, bad files."""

from __future__ import annotations

import random
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from sam3roto.errors import CorruptMediaError, MediaError, MediaNotFoundError, UnsupportedMediaError
from sam3roto.media import open_media
from tests.conftest import SyntheticClip, encode_video, sequential_decode


def _assert_random_access_exact(path: Path, count: int, seed: int = 3) -> None:
    reference = sequential_decode(path)
    with open_media(path) as source:
        assert source.info.frame_count == len(reference)
        order = list(range(len(reference)))
        random.Random(seed).shuffle(order)
        # random jumps, then a backward walk (each step back is a seek in a long-GOP file)
        last = len(reference) - 1
        for index in [*order[:count], last, last - 1, last - 2, 2, 1, 0]:
            np.testing.assert_array_equal(source.read(index), reference[index], err_msg=f"frame {index}")


def test_synthetic_counts_rate_and_content(synthetic_mp4: Path, synthetic: SyntheticClip) -> None:
    with open_media(synthetic_mp4) as source:
        info = source.info
        assert (info.kind, info.frame_count, info.fps) == ("video", 48, Fraction(24))
        assert (info.width, info.height, info.dtype, info.bit_depth) == (320, 240, "uint8", 8)
        assert info.frame_numbers == tuple(range(48))
        assert not info.variable_frame_rate
        frame = source.read(10)
        assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
        # lossy (4:2:0 chroma on noise), but nearer its own source frame than its neighbours
        errors = [np.abs(frame.astype(int) - synthetic.frames[i]).mean() for i in (9, 10, 11)]
        assert errors[1] < 12 and errors[1] < min(errors[0], errors[2])


def test_synthetic_random_access_equals_sequential(synthetic_mp4: Path) -> None:
    _assert_random_access_exact(synthetic_mp4, 20)


def test_time_and_index(synthetic_mp4: Path) -> None:
    with open_media(synthetic_mp4) as source:
        assert source.frame_time(0) == 0
        assert source.frame_time(24) == 1
        assert source.index_at_time(Fraction(1)) == 24
        assert source.index_at_time(1.02) == 24
        assert source.index_at_time(99) == 47
        assert source.keyframe_before(13) == 12


def test_variable_frame_rate(tmp_path: Path, synthetic: SyntheticClip) -> None:
    pts = [0, 1, 2, 4, 5, 8, 9, 10, 14, 15, 16, 17]
    path = encode_video(tmp_path / "vfr.mov", synthetic.frames[:12], pts=pts)
    with open_media(path) as source:
        assert source.info.frame_count == 12
        assert source.info.variable_frame_rate
        assert source.frame_time(3) == Fraction(4, 24)
        assert source.index_at_time(Fraction(6, 24)) == 4  # 6/24 s shows the frame at 5/24 s
    _assert_random_access_exact(path, 8)


def _edit_list_copy(src: Path, dst: Path, start: int) -> Path:
    """``src``'s packets (no re-encoding) remuxed with PyAV into a faststart MP4 whose edit
    list starts the shot at frame ``start``: every timestamp moves back by ``start`` frames,
    and the MP4 muxer writes the negative start as an edit list over all the samples."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "+faststart"}) as out:
        video = inp.streams.video[0]
        stream = out.add_stream_from_template(video)
        packets = [p for p in inp.demux(video) if p.dts is not None]
        shift = sorted(int(p.pts) for p in packets)[start]
        for packet in packets:
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = stream
            out.mux(packet)
    return dst


def test_edit_list_mp4_keeps_every_shown_frame(tmp_path: Path, synthetic: SyntheticClip) -> None:
    """A valid faststart MP4 whose edit list starts at frame 14 of 30 (GOP 12, 2 B-frames):
    it declares 30 samples, the demuxer gives the 18 from keyframe 12 on, 16 of them shown.
    Fewer packets than declared with the data running to the last byte is no truncation,
    and the B-frames shown after the last packet's decode time are kept."""
    import av

    src = encode_video(tmp_path / "src.mp4", synthetic.frames[:30])
    path = _edit_list_copy(src, tmp_path / "edit_list.mp4", 14)
    with av.open(str(path)) as container:  # what makes the case: an edit list over a faststart file
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        assert (stream.frames, len(packets), sum(not p.is_discard for p in packets)) == (30, 18, 16)
        assert packets[-1].pos + packets[-1].size == path.stat().st_size
    reference = sequential_decode(path)
    assert len(reference) == 16
    with open_media(path) as source:
        info = source.info
        assert info.frame_count == 16 and not info.truncated and info.truncation_note() is None
        assert "truncated" not in info.extra and not info.variable_frame_rate and info.fps == Fraction(24)
        # the shot starts at source frame 14 and ends at its last frame
        for index, source_index in ((0, 14), (15, 29)):
            errors = [np.abs(source.read(index).astype(int) - synthetic.frames[i]).mean()
                      for i in (source_index - 1, source_index, min(source_index + 1, 29))]
            assert errors[1] == min(errors)
    _assert_random_access_exact(path, 10)


def test_audio_is_ignored(tmp_path: Path, synthetic: SyntheticClip) -> None:
    path = encode_video(tmp_path / "with_audio.mov", synthetic.frames[:20], audio=True)
    with open_media(path) as source:
        assert source.info.frame_count == 20
    _assert_random_access_exact(path, 6)


def test_rotation_metadata_is_applied(tmp_path: Path, synthetic: SyntheticClip) -> None:
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    plain = encode_video(tmp_path / "plain.mp4", synthetic.frames[:6])
    rotated = tmp_path / "rot90.mp4"
    subprocess.run([exe, "-y", "-loglevel", "error", "-display_rotation", "90", "-i", str(plain), "-c", "copy",
                    str(rotated)], check=True)
    shown = tmp_path / "shown.png"  # ffmpeg's own autorotated rendering is the reference
    subprocess.run([exe, "-y", "-loglevel", "error", "-i", str(rotated), "-frames:v", "1", str(shown)], check=True)
    import cv2

    reference = cv2.cvtColor(cv2.imread(str(shown)), cv2.COLOR_BGR2RGB)
    with open_media(rotated) as source:
        assert source.info.rotation == 90
        assert (source.info.width, source.info.height) == (240, 320)
        frame = source.read(0)
    assert frame.shape == reference.shape
    assert np.abs(frame.astype(int) - reference).mean() < 3


def test_real_bedroom(shared_data: Path) -> None:
    path = shared_data / "sam2_bedroom" / "bedroom.mp4"
    with open_media(path) as source:
        assert (source.info.frame_count, source.info.fps) == (200, Fraction(30))
        assert (source.info.width, source.info.height) == (960, 540)
    _assert_random_access_exact(path, 10)


def test_real_odd_rate(shared_data: Path) -> None:
    path = shared_data / "track_anything" / "test-sample2.mp4"  # 29.56 fps, has audio
    with open_media(path) as source:
        assert source.info.frame_count == 149
        assert abs(float(source.info.fps) - 29.56) < 0.01
        # time -> frame maths stays exact across the odd rate
        for index in (0, 1, 57, 148):
            assert source.index_at_time(source.frame_time(index)) == index
    _assert_random_access_exact(path, 12)


# -- bad input ------------------------------------------------------------------------------

def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError, match=r"missing\.mp4"):
        open_media(tmp_path / "missing.mp4")


def test_not_a_video(tmp_path: Path) -> None:
    bad = tmp_path / "noise.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(CorruptMediaError, match=r"noise\.mp4"):
        open_media(bad)


def test_zero_frame_video(tmp_path: Path) -> None:
    import av

    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()  # header and index written, no frame
    with pytest.raises(MediaError, match=r"empty\.mp4: holds no video"):
        open_media(path)


def test_audio_only(tmp_path: Path) -> None:
    import av

    path = tmp_path / "audio.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 48000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(UnsupportedMediaError, match="no video stream"):
        open_media(path)


def test_unsupported_codec(tmp_path: Path, synthetic: SyntheticClip) -> None:
    path = encode_video(tmp_path / "clip.avi", synthetic.frames[:4], codec="mpeg4")
    data = path.read_bytes()
    for tag in (b"FMP4", b"fmp4", b"XVID", b"xvid", b"DIVX", b"divx"):
        data = data.replace(tag, b"ZZZZ")
    path.write_bytes(data)
    with pytest.raises(MediaError, match=r"clip\.avi") as info:
        open_media(path)
    assert "codec" in str(info.value) or "decod" in str(info.value)


def test_truncated_video(tmp_path: Path, shared_data: Path) -> None:
    data = (shared_data / "sam2_bedroom" / "bedroom.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 5])
    try:
        source = open_media(cut)
    except MediaError as exc:
        assert "cut.mp4" in str(exc)
        return
    with source:  # it opened: every frame either decodes or names itself as damaged
        assert 0 < source.info.frame_count <= 200
        for index in range(source.info.frame_count):
            try:
                source.read(index)
            except CorruptMediaError as exc:
                assert exc.frame == index and "cut.mp4" in str(exc)


def test_index_out_of_range(synthetic_mp4: Path) -> None:
    with open_media(synthetic_mp4) as source, pytest.raises(IndexError, match=r"0\.\.47"):
        source.read(48)


def test_clone_reads_independently(synthetic_mp4: Path) -> None:
    with open_media(synthetic_mp4) as a:
        b = a.clone()
        try:
            np.testing.assert_array_equal(a.read(30), b.read(30))
            assert b.info == a.info
        finally:
            b.close()


def test_unknown_suffix(tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("x")
    with pytest.raises(UnsupportedMediaError, match=r"notes\.txt"):
        open_media(odd)


def test_copy_of_real_clip_in_odd_container(tmp_path: Path, shared_data: Path) -> None:
    """Remuxing to .mkv must not change the frames."""
    from tests.media.test_hostile_media import remux

    src = shared_data / "track_anything" / "test-sample4.mp4"
    dst = remux(src, tmp_path / "remux.mkv")
    with open_media(dst) as source:
        assert source.info.frame_count == 227
    _assert_random_access_exact(dst, 6)
    shutil.rmtree(tmp_path, ignore_errors=True)

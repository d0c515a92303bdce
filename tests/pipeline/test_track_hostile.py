"""Tracking on hostile media: a frame that cannot be decoded stops its run there and the
job ends with an error naming the frame, every finished mask kept and recorded (both ways
too: provisional masks kept, marked out of date), at the cost of one failing read per run;
tiny frames track (upsampled) or are refused cleanly."""

from __future__ import annotations

import json
import time
import zipfile
from collections import Counter
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.core.evaluation import jaccard, prompts_from_mask
from sam3roto.core.jobs import run_sync
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project
from sam3roto.core.project_io import load_project, open_mask_store
from sam3roto.core.tracking import stale_frames
from sam3roto.core.types import BoxPrompt, PointPrompt
from sam3roto.errors import CorruptMediaError, EngineError
from sam3roto.media.memory import ArraySource
from sam3roto.media.source import FrameSource, MediaInfo
from sam3roto.pipeline.shot import shot_from_info
from sam3roto.pipeline.track import PROVISIONAL, track_job
from tests.backends.test_classic import moving_object_clip
from tests.conftest import SyntheticClip, encode_video
from tests.hostile import assert_clean_error, run_cli
from tests.media.test_hostile_media import faststart_copy

FIRST = 1001


class DamagedPlate(FrameSource):
    """``plate.1001.png``... in memory, where the ``damaged`` frames fail to decode with
    the error a sequence reader gives: it names the file, not the frame index. Counts the
    reads of every frame."""

    def __init__(self, frames: np.ndarray, damaged: set[int]) -> None:
        n, h, w, _ = frames.shape
        self.frames, self.damaged, self.reads = frames, damaged, Counter[int]()
        self.info = MediaInfo(path=Path("plate"), kind="sequence", frame_count=n, fps=Fraction(24), width=w,
                              height=h, channels=3, dtype="uint8", frame_numbers=tuple(range(FIRST, FIRST + n)))

    def frame_path(self, index: int) -> str:
        return f"plate/plate.{self.info.frame_numbers[index]}.png"

    def clone(self) -> DamagedPlate:
        twin = DamagedPlate(self.frames, self.damaged)
        twin.reads = self.reads
        return twin

    def read(self, index: int) -> np.ndarray:
        self.reads[index] += 1
        if index in self.damaged:
            raise CorruptMediaError("image data is damaged or truncated and cannot be decoded",
                                    path=self.frame_path(index))
        frame: np.ndarray = self.frames[index]
        return frame


def _project(source: FrameSource, clip: SyntheticClip, keys: list[int], names: tuple[str, ...] = ("disc",)) -> Project:
    project = Project(shot=shot_from_info(source.info))
    for name in names:
        obj = project.add_object(name)
        for k in keys:
            project.set_prompts(obj.id, k, prompts_from_mask(clip.masks[k]))
    return project


def _fails(job: object) -> CorruptMediaError:
    with pytest.raises(CorruptMediaError) as info:
        run_sync(job)  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize(("direction", "keys", "kept"), [
    ("forward", [0], range(0, 6)),
    ("backward", [11], range(7, 12)),
    ("both", [0], range(0, 6)),  # one keyframe first: the forward pass is final all the way
])
def test_a_damaged_frame_keeps_every_finished_mask_and_names_the_frame(tmp_path, clip, direction, keys, kept):
    source = DamagedPlate(clip.frames, {6})
    project = _project(source, clip, keys)
    store = MaskStore(tmp_path / "masks")
    err = _fails(track_job(project, source, store, direction=direction))
    assert err.frame == 6 and err.path == Path("plate/plate.1007.png")
    assert "frame 1007 cannot be decoded: image data is damaged or truncated" in str(err)
    assert f"{len(kept)} of 12 frames were tracked and kept" in str(err)
    assert "--changed" in str(err)  # what to do next
    assert store.frames(1) == sorted(kept)
    records = store.track_records(1)
    assert sorted(records) == sorted(kept) and not any(b.startswith(PROVISIONAL) for _, b in records.values())
    assert stale_frames(project, store, 1) == []
    assert np.mean([jaccard(store.get(1, f), clip.masks[f]) for f in kept]) > 0.8
    # one failing read (two when a lost track looked 3 frames ahead for a motion cue): no
    # retries, no grinding on past it
    assert 1 <= source.reads[6] <= 2


def test_sam3_reading_ahead_names_the_damaged_frame_and_keeps_the_frames_before(tmp_path, clip, monkeypatch):
    """Frames read on the engine's read-ahead thread: the error still names the frame."""
    import torch

    from sam3roto.backends.sam3 import Sam3Engine
    from tests.backends.sam3_tiny import build_tiny_models

    torch.set_num_threads(1)
    monkeypatch.setenv("SAM3ROTO_DTYPE", "float32")
    engine = Sam3Engine(models=build_tiny_models(text=False), device="cpu", read_ahead=2)
    source = DamagedPlate(clip.frames, {6})
    project = _project(source, clip, [0])
    store = MaskStore(tmp_path / "masks")
    err = _fails(track_job(project, source, store, direction="forward", engine_instance=engine))
    assert err.frame == 6 and "frame 1007 cannot be decoded" in str(err)
    assert store.frames(1) == list(range(6))


def test_both_ways_a_later_forward_frame_failing_keeps_the_provisional_masks_marked_out_of_date(tmp_path, clip):
    source = DamagedPlate(clip.frames, {6})
    project = _project(source, clip, [0, 11])
    store = MaskStore(tmp_path / "masks")
    err = _fails(track_job(project, source, store, direction="both"))
    assert err.frame == 6
    assert ("1 of 12 frames were tracked and kept; 5 more keep the forward pass's provisional masks, marked out of "
            "date") in str(err)
    assert store.frames(1) == [0, 1, 2, 3, 4, 5]
    records = store.track_records(1)
    assert all(records[f][1].startswith(PROVISIONAL) for f in range(1, 6))
    assert np.mean([jaccard(store.get(1, f), clip.masks[f]) for f in range(1, 6)]) > 0.8
    assert stale_frames(project, store, 1) == [1, 2, 3, 4, 5]  # the window shows them out of date
    # once the frame is repaired, re-tracking what is out of date finishes the shot
    repaired = DamagedPlate(clip.frames, set())
    run_sync(track_job(project, repaired, store, direction="both", mode="changed"))
    assert store.frames(1) == list(range(12)) and stale_frames(project, store, 1) == []
    assert not any(b.startswith(PROVISIONAL) for _, b in store.track_records(1).values())


def test_both_ways_the_backward_pass_failing_keeps_what_the_forward_pass_finished(tmp_path, clip):
    # keyframes 5 and 11: the forward pass reads 5..11 only (6-10 provisional, 11 final);
    # the backward pass makes 6-10 final, then 4 and 3, and stops at the damaged frame 2
    # (also a neighbour the keyframe on 5 would take a motion cue from: it goes without)
    source = DamagedPlate(clip.frames, {2})
    project = _project(source, clip, [5, 11])
    store = MaskStore(tmp_path / "masks")
    err = _fails(track_job(project, source, store, direction="both"))
    assert err.frame == 2 and "frame 1003 cannot be decoded" in str(err)
    assert "9 of 12 frames were tracked and kept" in str(err) and "provisional" not in str(err)
    assert store.frames(1) == list(range(3, 12))
    assert not any(b.startswith(PROVISIONAL) for _, b in store.track_records(1).values())
    assert stale_frames(project, store, 1) == []
    assert np.mean([jaccard(store.get(1, f), clip.masks[f]) for f in range(3, 12)]) > 0.8
    assert source.reads[2] <= 2  # the keyframe's motion cue, then the backward pass: once each


def test_a_run_that_stops_does_not_stop_the_others(tmp_path, clip):
    # object 'b' is out of shot from 1007: its run (1001-1006) is separate and finishes
    source = DamagedPlate(clip.frames, {6})
    project = _project(source, clip, [0], names=("a", "b"))
    project.set_absent(2, 6, 11)
    store = MaskStore(tmp_path / "masks")
    err = _fails(track_job(project, source, store, direction="forward"))
    assert "'a' 6 of 12 frames, 'b' 6 of 6 frames were tracked and kept" in str(err)
    assert store.frames(1) == list(range(6)) and store.frames(2) == list(range(12))  # 6-11 empty: out of shot
    assert not any(store.get(2, f).any() for f in range(6, 12))


def test_a_keyframe_on_a_damaged_frame_fails_at_once_with_nothing_tracked(tmp_path, clip):
    source = DamagedPlate(clip.frames, {0})
    project = _project(source, clip, [0])
    store = MaskStore(tmp_path / "masks")
    err = _fails(track_job(project, source, store, direction="forward"))
    assert err.frame == 0 and "frame 1001 cannot be decoded" in str(err)
    assert "0 of 12 frames were tracked and kept" in str(err)
    assert store.frames(1) == [] and store.track_records(1) == {}
    assert sum(source.reads.values()) == 1


def _write_prompts(path: Path, clip: SyntheticClip, keys: list[int], first: int = FIRST) -> Path:
    objects = [{"name": "disc", "keyframes": [{
        "frame": first + k,
        "points": [[p.x, p.y, p.positive] for p in ps if isinstance(p, PointPrompt)],
        "boxes": [list(p.xyxy_px) for p in ps if isinstance(p, BoxPrompt)],
    } for k in keys for ps in [prompts_from_mask(clip.masks[k])]]}]
    path.write_text(json.dumps({"objects": objects}))
    return path


def _damage(path: Path, size: int, seed: int) -> None:
    """Overwrite ``size`` bytes in the middle of ``path`` with seeded random bytes."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + size] = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def test_cli_both_ways_on_a_damaged_png_exits_1_naming_the_frame_and_keeps_the_masks(plate, tmp_path, clip):
    _damage(plate / "plate.1007.png", 2000, seed=7)  # the IDAT data: the header still reads
    prompts = _write_prompts(tmp_path / "prompts.json", clip, [0])
    project = tmp_path / "shot.sam3roto"
    proc = run_cli("track", plate, "--project", project, "--prompts", prompts, "--quiet")
    text = assert_clean_error(proc, "plate.1007.png", "frame 1007 cannot be decoded",
                              "6 of 12 frames were tracked and kept")
    assert "--changed" in text
    loaded = load_project(project)  # saved, with its keyframe
    assert loaded.keyframe(1, 0) is not None
    store = open_mask_store(project, loaded)
    assert store.frames(1) == list(range(6)) and sorted(store.track_records(1)) == list(range(6))


@pytest.fixture(scope="module")
def movie_clip() -> SyntheticClip:
    return moving_object_clip(n=36)


@pytest.fixture(scope="module")
def faststart_mp4(tmp_path_factory, movie_clip) -> Path:
    folder = tmp_path_factory.mktemp("movie")
    return faststart_copy(encode_video(folder / "plain.mp4", movie_clip.frames), folder / "clip.mp4")


def test_cli_a_damaged_block_in_a_faststart_mp4_stops_at_once_naming_the_frame(faststart_mp4, tmp_path, movie_clip):
    from sam3roto.media.source import open_media

    movie = tmp_path / "block.mp4"
    movie.write_bytes(faststart_mp4.read_bytes())
    _damage(movie, 8192, seed=20)
    with open_media(movie) as source:  # where sequential decoding first fails
        bad = []
        for i in range(source.info.frame_count):
            try:
                source.read(i)
            except CorruptMediaError:
                bad.append(i)
    assert bad, "the damaged block must make a frame undecodable"
    prompts = _write_prompts(tmp_path / "prompts.json", movie_clip, [0], first=0)
    project = tmp_path / "shot.sam3roto"
    started = time.monotonic()
    proc = run_cli("track", movie, "--project", project, "--prompts", prompts, "--quiet", timeout=60)
    took = time.monotonic() - started
    assert_clean_error(proc, "block.mp4", f"frame {bad[0]} cannot be decoded",
                       f"{bad[0]} of {movie_clip.frames.shape[0]} frames were tracked and kept")
    store = open_mask_store(project, load_project(project))
    assert store.frames(1) == list(range(bad[0])) and sorted(store.track_records(1)) == list(range(bad[0]))
    assert took < 45, f"{took:.0f} s: a damaged block must not cost a decode per frame after it"


def test_cli_a_truncated_faststart_mp4_tracks_what_it_holds_or_stops_cleanly(faststart_mp4, tmp_path, movie_clip):
    movie = tmp_path / "cut.mp4"
    data = faststart_mp4.read_bytes()
    movie.write_bytes(data[: int(len(data) * 0.6)])
    prompts = _write_prompts(tmp_path / "prompts.json", movie_clip, [0], first=0)
    project = tmp_path / "shot.sam3roto"
    proc = run_cli("track", movie, "--project", project, "--prompts", prompts, "--direction", "forward", "--quiet",
                   timeout=60)
    loaded = load_project(project)
    assert loaded.shot is not None
    store = open_mask_store(project, loaded)
    if proc.returncode == 0:  # the reader reports only the frames it can decode
        kept = loaded.shot.frame_count
        assert kept < movie_clip.frames.shape[0]
    else:
        text = assert_clean_error(proc, "cut.mp4", "cannot be decoded", "frames were tracked and kept")
        kept = int(text.split(" cannot be decoded")[0].rsplit("frame ", 1)[1])
    assert kept > 0 and store.frames(1) == list(range(kept)) and sorted(store.track_records(1)) == list(range(kept))


# -- tiny frames ---------------------------------------------------------------------------


def _tiny_clip(n: int, size: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """A 3x3 red square moving one pixel right every ``step`` frames over noise."""
    rng = np.random.default_rng(1)
    background = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
    frames, masks = [], []
    for t in range(n):
        mask = np.zeros((size, size), bool)
        x = min(t // step, size - 3)
        mask[2:5, x:x + 3] = True
        frame = background.copy()
        frame[mask] = (220, 80, 40)
        frames.append(frame)
        masks.append(mask)
    return np.stack(frames), np.stack(masks)


@pytest.mark.parametrize("direction", ["forward", "both"])
def test_8x8_frames_track(tmp_path, direction):
    frames, masks = _tiny_clip(12, 8, 3)
    source = ArraySource(frames)
    project = Project(shot=shot_from_info(source.info))
    obj = project.add_object("square")
    project.set_prompts(obj.id, 0, [BoxPrompt(0, 2, 3, 5)])
    if direction == "both":
        project.set_prompts(obj.id, 11, [BoxPrompt(3, 2, 6, 5)])
    store = MaskStore(tmp_path / "masks")
    result = run_sync(track_job(project, source, store, direction=direction))
    assert sorted(result.frames[obj.id]) == list(range(12))
    assert min(jaccard(store.get(obj.id, f), masks[f]) for f in range(12)) > 0.85


@pytest.mark.parametrize(("height", "width"), [(1, 1), (2, 2), (1, 40)])
def test_frames_down_to_one_pixel_track(tmp_path, height, width):
    frames = np.random.default_rng(0).integers(0, 255, (4, height, width, 3)).astype(np.uint8)
    source = ArraySource(frames)
    project = Project(shot=shot_from_info(source.info))
    obj = project.add_object("o")
    project.set_prompts(obj.id, 0, [BoxPrompt(0, 0, width, height)])
    store = MaskStore(tmp_path / "masks")
    result = run_sync(track_job(project, source, store, direction="forward"))
    assert result.frames[obj.id] == [0, 1, 2, 3]
    assert store.get(obj.id, 0).all()  # the whole frame boxed: the whole frame in the mask
    assert all(store.get(obj.id, f).shape == (height, width) for f in range(4))


def test_segment_everything_on_a_one_pixel_frame_is_one_region():
    from sam3roto.backends.registry import create_engine

    with create_engine("classic").open_session(ArraySource(np.full((1, 1, 1, 3), 90, np.uint8))) as session:
        assert session.segment_everything(0).tolist() == [[0]]


def test_frames_too_thin_for_the_classical_engine_are_refused_naming_size_and_minimum(tmp_path):
    from sam3roto.backends.classic import MAX_ASPECT

    frames = np.zeros((3, 1, MAX_ASPECT + 1, 3), np.uint8)
    source = ArraySource(frames, name="thin")
    project = Project(shot=shot_from_info(source.info))
    obj = project.add_object("o")
    project.set_prompts(obj.id, 0, [PointPrompt(0.5, 0.5)])
    with pytest.raises(EngineError) as info:
        run_sync(track_job(project, source, MaskStore(tmp_path / "masks")))
    text = str(info.value)
    assert info.value.path == Path("thin")
    assert f"frames of {MAX_ASPECT + 1}x1 are too thin" in text and f"at most {MAX_ASPECT} times" in text


def test_cli_a_zip_of_4x4_frames_tracks_every_frame(tmp_path):
    n = 300
    square = np.zeros((4, 4), bool)
    square[1:3, 1:3] = True
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(n):
            frame = np.full((4, 4, 3), 40, np.uint8)
            frame[square] = (30, 60, 200 - i % 50)
            z.writestr(f"f.{i + 1:05d}.png", cv2.imencode(".png", frame)[1].tobytes())
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"objects": [{"name": "dot", "keyframes": [
        {"frame": 1, "points": [[1.5, 1.5]], "boxes": [[1, 1, 3, 3]]}]}]}))
    project = tmp_path / "tiny.sam3roto"
    proc = run_cli("track", archive, "--project", project, "--prompts", prompts, "--quiet", timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"object 1 'dot': frames 1-{n}" in proc.stdout
    store = open_mask_store(project, load_project(project))
    assert store.frames(1) == list(range(n))
    assert all(np.array_equal(store.get(1, f), square) for f in range(0, n, 7))


def test_cli_8x8_sequence_tracks(tmp_path):
    frames, masks = _tiny_clip(10, 8, 2)
    folder = tmp_path / "seq"
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"s.{FIRST + i}.png"), frame[..., ::-1])
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"objects": [{"name": "square", "keyframes": [
        {"frame": FIRST, "boxes": [[0, 2, 3, 5]]}]}]}))
    project = tmp_path / "seq.sam3roto"
    proc = run_cli("track", folder, "--project", project, "--prompts", prompts, "--quiet", timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    store = open_mask_store(project, load_project(project))
    assert min(jaccard(store.get(1, f), masks[f]) for f in range(10)) > 0.85

"""Concept tracking (every instance of a text over the shot, instances entering later
become objects): the pipeline on the classical tracker with a text detector that sees the
clip's true masks, and end to end on the tiny SAM3 models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sam3roto.backends.base import Capabilities
from sam3roto.backends.classic import ClassicEngine, ClassicSession
from sam3roto.core.evaluation import jaccard as iou
from sam3roto.core.jobs import run_sync
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project
from sam3roto.errors import EngineError
from sam3roto.media.memory import ArraySource
from sam3roto.media.source import FrameSource
from sam3roto.pipeline.concept import ConceptSearch, concept_job, is_new
from sam3roto.pipeline.shot import shot_from_info

N, H, W = 16, 96, 128
ENTERS = 6  # the second square comes in from the right edge on this frame


def two_squares() -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Frames of two textured squares over noise: A in shot throughout, B entering on
    :data:`ENTERS`; their true masks per frame."""
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 90, (N, H, W, 3)).astype(np.uint8)
    tex = rng.integers(160, 255, (28, 28, 3)).astype(np.uint8)
    a_masks, b_masks = [], []
    for i in range(N):
        a = np.zeros((H, W), bool)
        ax = 8 + 2 * i
        a[20:48, ax:ax + 28] = True
        frames[i][a] = tex.reshape(-1, 3)[: a.sum()]
        b = np.zeros((H, W), bool)
        if i >= ENTERS:
            bx = W - 4 * (i - ENTERS + 1) - 10
            b[56:84, bx:bx + 28] = True
            frames[i][b] = tex[::-1].reshape(-1, 3)[: b.sum()]
        a_masks.append(a)
        b_masks.append(b)
    return frames, a_masks, b_masks


FRAMES, A_MASKS, B_MASKS = two_squares()
SEARCHES: list[int] = []


class OracleSession(ClassicSession):
    """The classical tracker with a "detector" that finds the clip's true squares."""

    capabilities = Capabilities(text=True, points=True, boxes=True, video=True)

    def find_instances(self, frame: int, text: str) -> list[np.ndarray]:
        self.check_frame(frame)
        SEARCHES.append(frame)
        return [m.copy() for m in (A_MASKS[frame], B_MASKS[frame]) if m.any()]


class OracleEngine(ClassicEngine):
    name = "oracle"
    capabilities = OracleSession.capabilities

    def open_session(self, source: FrameSource) -> ClassicSession:
        return OracleSession(source)


def setup(tmp_path: Path) -> tuple[Project, ArraySource, MaskStore]:
    source = ArraySource(FRAMES, name="squares")
    return Project(shot=shot_from_info(source.info)), source, MaskStore(tmp_path / "masks")


def test_instances_entering_later_become_objects_tracked_over_the_shot(tmp_path):
    project, source, store = setup(tmp_path)
    SEARCHES.clear()
    result = run_sync(concept_job(project, source, store, ConceptSearch("square", every=4),
                                  engine_instance=OracleEngine()))
    assert SEARCHES[:4] == [0, 4, 8, 12]  # the detector ran on every 4th frame, then the back-fill
    a, b = result.new_objects
    assert [o.name for o in project.objects] == ["square 1", "square 2"]
    # A was found on the first frame, B on frame 8 (the first search after it entered)
    assert [k.frame for k in project.keyframes_of(a)] == [0] and [k.frame for k in project.keyframes_of(b)] == [8]
    assert all(k.mask for k in project.keyframes) and store.key_masks().frames(b) == [8]
    assert store.frames(a) == list(range(N))
    assert store.frames(b) == list(range(N))  # tracked back to the first frame as well
    for f in range(N):
        assert iou(store.get(a, f), A_MASKS[f]) > 0.8, f
    for f in range(ENTERS + 1, N):  # the frames before it was found were tracked back from frame 8
        assert iou(store.get(b, f), B_MASKS[f]) > 0.6, f
    assert sorted(result.frames[b]) == list(range(N))


def test_every_zero_searches_only_the_first_frame(tmp_path):
    project, source, store = setup(tmp_path)
    SEARCHES.clear()
    result = run_sync(concept_job(project, source, store, ConceptSearch("square", every=0),
                                  engine_instance=OracleEngine()))
    assert SEARCHES == [0] and len(result.new_objects) == 1 and len(project.objects) == 1


def test_a_second_run_tracks_what_it_found_as_ordinary_objects(tmp_path):
    """Objects found by a concept search are ordinary objects: nothing is stale after it."""
    from sam3roto.pipeline.track import track_job

    project, source, store = setup(tmp_path)
    run_sync(concept_job(project, source, store, ConceptSearch("square", every=4), engine_instance=OracleEngine()))
    again = run_sync(track_job(project, source, store, engine_instance=OracleEngine(), mode="changed"))
    assert not any(again.frames.values())


def test_an_engine_without_text_is_a_clear_error(tmp_path):
    project, source, store = setup(tmp_path)
    with pytest.raises(EngineError, match="does not take text"):
        run_sync(concept_job(project, source, store, ConceptSearch("square"), engine_instance=ClassicEngine()))
    assert not project.objects


@pytest.mark.parametrize(("text", "every", "message"), [("  ", 3, "empty"), ("cat", -1, "interval")])
def test_bad_searches_say_what_is_wrong(text, every, message):
    with pytest.raises(ValueError, match=message):
        ConceptSearch(text, every)


def test_what_counts_as_a_new_instance():
    a = np.zeros((10, 10), bool)
    a[0:5, 0:5] = True
    b = np.zeros((10, 10), bool)
    b[5:10, 5:10] = True
    part = np.zeros((10, 10), bool)
    part[0:2, 0:5] = True  # a part of a: not new
    bigger = np.zeros((10, 10), bool)
    bigger[0:8, 0:8] = True  # holds all of a: the same object seen whole
    assert is_new(b, [a]) and not is_new(a, [a]) and not is_new(part, [a]) and not is_new(bigger, [a])
    assert not is_new(np.zeros((10, 10), bool), [])


def test_sam3_finds_and_tracks_instances_over_the_shot(tmp_path):
    """The tiny random SAM3 (any mask is as good as another) through the real adapter:
    objects, key masks and tracked frames are consistent."""
    import torch

    from sam3roto.backends.sam3 import Sam3Engine
    from tests.backends.sam3_tiny import build_tiny_models

    torch.set_num_threads(1)
    mp = pytest.MonkeyPatch()
    mp.setenv("SAM3ROTO_DTYPE", "float32")
    try:
        engine = Sam3Engine(models=build_tiny_models(), device="cpu", text_threshold=0.0)
    finally:
        mp.undo()
    project, source, store = setup(tmp_path)
    result = run_sync(concept_job(project, source, store, ConceptSearch("square", every=5), engine_instance=engine))
    assert result.new_objects, "the tiny detector with threshold 0 finds something"
    assert [o.id for o in project.objects] == result.new_objects
    for obj_id in result.new_objects:
        keys = project.keyframes_of(obj_id)
        assert len(keys) == 1 and keys[0].mask and keys[0].frame in (0, 5, 10, 15)
        assert store.frames(obj_id) == list(range(N))
        # the keyframe holds the mask found (the tracker's rendition of it, at its mask resolution)
        assert iou(store.get(obj_id, keys[0].frame), store.key_masks().get(obj_id, keys[0].frame)) > 0.9


def test_track_text_from_the_command_line_finds_later_instances(tmp_path, monkeypatch, capsys):
    import cv2

    from sam3roto.backends.registry import SEGMENTATION_ENGINES
    from sam3roto.cli import main
    from sam3roto.core.project_io import load_project

    monkeypatch.setitem(SEGMENTATION_ENGINES, "oracle", f"{__name__}:OracleEngine")
    for i, frame in enumerate(FRAMES):
        cv2.imwrite(str(tmp_path / f"plate.{1001 + i:04d}.png"), frame[..., ::-1])
    project = tmp_path / "shot.sam3roto"
    args = ["track", str(tmp_path / "plate.####.png"), "--project", str(project), "--text", "square",
            "--engine", "oracle", "--detect-every", "4", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "object 1 'square 1': frames 1001-1016" in out and "object 2 'square 2': frames 1001-1016" in out
    saved = load_project(project)
    assert [(k.object_id, k.frame, k.mask) for k in saved.keyframes] == [(1, 0, True), (2, 8, True)]
    with pytest.raises(SystemExit) as usage:
        main([*args[:-3], "--detect-every", "-2", "--quiet"])
    assert usage.value.code == 2 and "takes a number of frames" in capsys.readouterr().err
    assert main([*args[:-1], "--chunk", "5"]) == 1
    assert "leave out --chunk" in capsys.readouterr().err
    assert main(["track", str(project), "--detect-every", "3", "--quiet"]) == 2
    assert "--detect-every is for --text" in capsys.readouterr().err


def test_track_text_that_finds_nothing_says_so(tmp_path, monkeypatch, capsys):
    import cv2

    from sam3roto.backends.registry import SEGMENTATION_ENGINES
    from sam3roto.cli import main

    monkeypatch.setitem(SEGMENTATION_ENGINES, "oracle", f"{__name__}:OracleEngine")
    monkeypatch.setattr(OracleSession, "find_instances", lambda self, frame, text: [])
    for i, frame in enumerate(FRAMES[:4]):
        cv2.imwrite(str(tmp_path / f"plate.{1001 + i:04d}.png"), frame[..., ::-1])
    args = ["track", str(tmp_path / "plate.####.png"), "--project", str(tmp_path / "s.sam3roto"), "--text", "cat",
            "--engine", "oracle", "--quiet"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "no 'cat' found from frame 1001 on (the detector looked every 10 frames)" in err and "wording" in err


def test_a_range_is_kept_to_and_the_search_can_start_inside_it(tmp_path):
    project, source, store = setup(tmp_path)
    SEARCHES.clear()
    result = run_sync(concept_job(project, source, store, ConceptSearch("square", every=3), start=2, end=11,
                                  first=5, engine_instance=OracleEngine()))
    assert SEARCHES[0] == 5 and set(SEARCHES) <= {5, 8, 11}
    assert [k.frame for k in project.keyframes] == [5, 8]  # A on 5, B found on 8
    for obj_id in result.new_objects:  # tracked back to the start of the range, not beyond it
        assert store.frames(obj_id) == list(range(2, 12))
    with pytest.raises(ValueError, match="outside the range"):
        run_sync(concept_job(project, source, store, ConceptSearch("square"), start=2, end=11, first=12,
                             engine_instance=OracleEngine()))


def test_a_second_search_adds_only_what_is_new(tmp_path):
    project, source, store = setup(tmp_path)
    run_sync(concept_job(project, source, store, ConceptSearch("square", every=4), engine_instance=OracleEngine()))
    again = run_sync(concept_job(project, source, store, ConceptSearch("square", every=4),
                                 engine_instance=OracleEngine()))
    assert again.new_objects == [] and len(project.objects) == 2


def test_ids_come_from_the_allocator(tmp_path):
    project, source, store = setup(tmp_path)
    handed = iter([7, 9])
    result = run_sync(concept_job(project, source, store, ConceptSearch("square", every=4),
                                  engine_instance=OracleEngine(), new_id=lambda: next(handed)))
    assert result.new_objects == [7, 9] and [o.id for o in project.objects] == [7, 9]
    assert store.frames(9) == list(range(N))

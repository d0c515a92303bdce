"""The interactive session: clicks reuse one open shot and engine session, results depend
only on the prompts, stale requests are dropped, and changes of media, engine or device
reopen it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.backends.classic import ClassicEngine
from sam3roto.core.evaluation import jaccard, prompts_from_mask
from sam3roto.core.jobs import run_sync
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.types import PointPrompt
from sam3roto.pipeline.interactive import InteractiveSession, segment_job
from sam3roto.pipeline.shot import new_project, open_shot_media
from tests.backends.test_classic import moving_object_clip


@pytest.fixture(scope="module")
def clip():
    return moving_object_clip(n=8)


@pytest.fixture
def shot(tmp_path: Path, clip):
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(tmp_path / f"plate.{1001 + i}.png"), frame[..., ::-1])
    project, source = new_project(tmp_path / "plate.####.png")
    source.close()
    obj = project.add_object("disc")
    return project, obj.id


@pytest.fixture
def opened(monkeypatch):
    count: list[int] = []
    real = ClassicEngine.open_session
    monkeypatch.setattr(ClassicEngine, "open_session", lambda self, src: (count.append(1), real(self, src))[1])
    return count


def test_clicks_reuse_one_session_and_a_device_change_reopens_it(shot, clip, opened):
    project, obj_id = shot
    session = InteractiveSession()
    prompts = prompts_from_mask(clip.masks[0])
    for n in range(1, len(prompts) + 1):  # one click after another
        masks = session.segment(project, 0, obj_id, prompts[:n])
    assert len(opened) == 1 and session.opened == 1
    assert jaccard(masks[obj_id], clip.masks[0]) > 0.8
    session.segment(project, 0, obj_id, prompts, options={"device": "cpu"})
    assert len(opened) == 2  # another device: another engine, another session
    session.segment(project, 0, obj_id, prompts, engine="classic", options={"device": "cpu"})
    assert len(opened) == 2
    session.close()


def test_a_result_depends_only_on_the_prompts_on_its_frame(shot, clip):
    project, obj_id = shot
    prompts = prompts_from_mask(clip.masks[3])
    fresh = InteractiveSession().segment(project, 3, obj_id, prompts)[obj_id]
    session = InteractiveSession()
    session.segment(project, 0, obj_id, prompts_from_mask(clip.masks[0]))  # another keyframe first
    session.segment(project, 3, obj_id, prompts[:2])  # fewer clicks first
    again = session.segment(project, 3, obj_id, prompts)[obj_id]
    assert np.array_equal(again, fresh)
    session.close()


def test_positive_points_are_inside_and_negative_points_outside(shot, clip):
    project, obj_id = shot
    session = InteractiveSession()
    prompts = [p for p in prompts_from_mask(clip.masks[2]) if isinstance(p, PointPrompt)]
    mask = session.segment(project, 2, obj_id, prompts)[obj_id]
    for p in prompts:
        assert mask[int(p.y), int(p.x)] == p.positive
    session.close()


def test_an_overtaken_request_stores_nothing_and_no_prompts_forget_the_mask(shot, clip, tmp_path):
    project, obj_id = shot
    store = MaskStore(tmp_path / "masks")
    session = InteractiveSession()
    prompts = prompts_from_mask(clip.masks[0])
    assert run_sync(segment_job(session, project, store, 0, obj_id, prompts, current=lambda: False)) is None
    assert store.frames(obj_id) == []
    newest = iter([True, False])  # current when it starts, overtaken while it ran
    assert run_sync(segment_job(session, project, store, 0, obj_id, prompts, current=lambda: next(newest))) is None
    assert store.frames(obj_id) == []
    masks = run_sync(segment_job(session, project, store, 0, obj_id, prompts))
    assert store.frames(obj_id) == [0] and np.array_equal(store.get(obj_id, 0), masks[obj_id])
    run_sync(segment_job(session, project, store, 0, obj_id, []))  # every prompt deleted
    assert store.frames(obj_id) == []
    session.close()


def test_other_media_reopens_the_session(shot, clip, tmp_path, opened):
    project, obj_id = shot
    session = InteractiveSession()
    session.segment(project, 0, obj_id, prompts_from_mask(clip.masks[0]))
    other = tmp_path / "other"
    other.mkdir()
    for i, frame in enumerate(clip.frames[::-1]):
        cv2.imwrite(str(other / f"o.{i:04d}.png"), frame[..., ::-1])
    project2, source = new_project(other / "o.####.png")
    source.close()
    obj2 = project2.add_object("disc")
    session.segment(project2, 0, obj2.id, prompts_from_mask(clip.masks[-1]))
    assert len(opened) == 2
    session.close()


def test_tracking_anchors_on_the_mask_the_clicks_made_without_segmenting_again(shot, clip, tmp_path, monkeypatch):
    from sam3roto.backends.base import SegmentationSession
    from sam3roto.pipeline.track import track_job

    project, obj_id = shot
    store = MaskStore(tmp_path / "masks")
    prompts = prompts_from_mask(clip.masks[0])
    project.set_prompts(obj_id, 0, prompts)  # the window's project holds the prompts as the keyframe
    session = InteractiveSession()
    made = run_sync(segment_job(session, project, store, 0, obj_id, prompts))[obj_id]
    calls = []
    real = SegmentationSession.set_prompts
    monkeypatch.setattr(SegmentationSession, "set_prompts", lambda self, *a: (calls.append(a), real(self, *a))[1])
    project_source = open_shot_media(project)
    run_sync(track_job(project, project_source, store, direction="forward"))
    assert calls == []  # the keyframe was not segmented again
    assert np.array_equal(store.get(obj_id, 0), made)  # and its mask stayed what the artist saw
    assert np.mean([jaccard(store.get(obj_id, f), clip.masks[f]) for f in range(1, 8)]) > 0.75
    project.set_prompts(obj_id, 0, prompts[:-1])  # the keyframe changed: segmented again when tracked
    run_sync(track_job(project, project_source, store, direction="forward"))
    assert len(calls) == 1
    project_source.close()
    session.close()


def test_a_click_on_a_tracked_frame_corrects_the_tracked_mask_and_taking_it_back_restores_it(
        shot, clip, tmp_path, monkeypatch):
    from sam3roto.backends.classic import ClassicSession
    from sam3roto.pipeline.track import track_job

    project, obj_id = shot
    store = MaskStore(tmp_path / "masks")
    project.set_prompts(obj_id, 0, prompts_from_mask(clip.masks[0]))
    with open_shot_media(project) as source:
        run_sync(track_job(project, source, store, direction="forward"))
    tracked = store.get(obj_id, 5).copy()
    given = []
    real = ClassicSession.set_tracked
    monkeypatch.setattr(ClassicSession, "set_tracked",
                        lambda self, f, o, m: (given.append((f, o, m.copy())), real(self, f, o, m))[1])
    inside = next(p for p in prompts_from_mask(clip.masks[5]) if isinstance(p, PointPrompt) and p.positive)
    session = InteractiveSession()
    for clicks in ([inside], [inside, PointPrompt(inside.x + 3, inside.y, True)]):
        project.set_prompts(obj_id, 5, clicks)
        corrected = run_sync(segment_job(session, project, store, 5, obj_id, clicks))[obj_id]
        assert jaccard(corrected, tracked) > 0.8
    # both clicks corrected the mask tracking gave (not the first click's result)
    assert [(f, o) for f, o, _ in given] == [(5, obj_id), (5, obj_id)]
    assert all(np.array_equal(m, tracked) for _, _, m in given)
    given.clear()
    run_sync(segment_job(session, project, store, 0, obj_id, prompts_from_mask(clip.masks[0])))
    assert given == []  # a keyframe's own mask is no tracked mask
    project.set_prompts(obj_id, 5, [])
    run_sync(segment_job(session, project, store, 5, obj_id, []))
    assert np.array_equal(store.get(obj_id, 5), tracked)  # every click taken back: the tracked mask returns
    session.close()

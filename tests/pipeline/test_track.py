"""The tracking job: project keyframes in, masks in the store, cancel keeps finished frames."""

from __future__ import annotations

import numpy as np
import pytest

from sam3roto.core.evaluation import jaccard, prompts_from_mask
from sam3roto.core.jobs import CancelToken, run_sync
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project
from sam3roto.errors import Cancelled
from sam3roto.media.memory import ArraySource
from sam3roto.pipeline.shot import shot_from_info
from sam3roto.pipeline.track import track_job
from tests.backends.test_classic import moving_object_clip


@pytest.fixture(scope="module")
def clip():
    return moving_object_clip(n=16)


def _project(clip):
    source = ArraySource(clip.frames)
    project = Project(shot=shot_from_info(source.info))
    obj = project.add_object("disc")
    project.set_prompts(obj.id, 0, prompts_from_mask(clip.masks[0]))
    return project, source, obj.id


def test_track_job_writes_every_frame_to_the_store(tmp_path, clip):
    project, source, obj_id = _project(clip)
    store = MaskStore(tmp_path / "masks")
    seen = []
    result = run_sync(track_job(project, source, store, direction="forward"), seen.append)
    assert result.frames[obj_id] == list(range(16))
    assert store.frames(obj_id) == list(range(16))
    assert seen[-1].done == seen[-1].total == 16
    assert np.mean([jaccard(store.get(obj_id, f), clip.masks[f]) for f in range(1, 16)]) > 0.8


def test_cancel_mid_track_keeps_the_finished_frames(tmp_path, clip):
    project, source, obj_id = _project(clip)
    store = MaskStore(tmp_path / "masks")
    token = CancelToken()

    def on_progress(p):
        if p.done == 5:
            token.cancel()

    with pytest.raises(Cancelled):
        run_sync(track_job(project, source, store, direction="forward"), on_progress, token)
    assert store.frames(obj_id) == [0, 1, 2, 3, 4]
    assert all(store.get(obj_id, f) is not None for f in range(5))


def test_backward_from_the_out_point(tmp_path, clip):
    project, source, obj_id = _project(clip)
    project.set_prompts(obj_id, 0, [])
    project.set_prompts(obj_id, 15, prompts_from_mask(clip.masks[15]))
    store = MaskStore(tmp_path / "masks")
    result = run_sync(track_job(project, source, store, direction="backward"))
    assert result.frames[obj_id] == list(range(15, -1, -1))


@pytest.mark.parametrize("direction", ["forward", "backward", "both"])
def test_chunked_tracking_reseeds_at_seams_and_matches_one_session(tmp_path, direction, monkeypatch):
    from sam3roto.backends.classic import ClassicEngine

    clip = moving_object_clip(n=24)
    project, source, obj_id = _project(clip)
    key = 23 if direction == "backward" else 0
    if key:
        project.set_prompts(obj_id, key, prompts_from_mask(clip.masks[key]))
    opened = []
    real_open = ClassicEngine.open_session

    def counting_open(self, src):
        opened.append(1)
        return real_open(self, src)

    monkeypatch.setattr(ClassicEngine, "open_session", counting_open)
    whole, chunked = MaskStore(tmp_path / "whole"), MaskStore(tmp_path / "chunked")
    run_sync(track_job(project, source, whole, direction=direction))
    opened.clear()
    seen = []
    result = run_sync(track_job(project, source, chunked, direction=direction, chunk=6), seen.append)
    assert len(opened) == 5  # runs of 6 sharing seam frames: 0-5, 5-10, 10-15, 15-20, 20-23
    assert sorted(result.frames[obj_id]) == list(range(24)) and len(result.frames[obj_id]) == 24
    assert seen[-1].done == seen[-1].total == 24
    j_whole = np.mean([jaccard(whole.get(obj_id, f), clip.masks[f]) for f in range(24) if f != key])
    j_chunked = np.mean([jaccard(chunked.get(obj_id, f), clip.masks[f]) for f in range(24) if f != key])
    assert j_chunked > 0.75 and j_chunked > j_whole - 0.05

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
    assert seen[-1].done == seen[-1].total == 24 * (2 if direction == "both" else 1)  # both: two passes
    j_whole = np.mean([jaccard(whole.get(obj_id, f), clip.masks[f]) for f in range(24) if f != key])
    j_chunked = np.mean([jaccard(chunked.get(obj_id, f), clip.masks[f]) for f in range(24) if f != key])
    assert j_chunked > 0.75 and j_chunked > j_whole - 0.05


def walked_frames(monkeypatch):
    """Record the frames each classic propagation walks (a list per propagation)."""
    from sam3roto.backends.classic import ClassicSession

    walked: list[list[int]] = []
    real = ClassicSession.propagate

    def spy(self, start, direction="forward", end=None):
        frames: list[int] = []
        walked.append(frames)
        for fm in real(self, start, direction, end):
            frames.append(fm.frame)
            yield fm

    monkeypatch.setattr(ClassicSession, "propagate", spy)
    return walked


def test_a_correction_makes_only_its_stretch_stale_and_changed_retracks_only_it(tmp_path, clip, monkeypatch):
    from sam3roto.core.tracking import stale_frames, stale_stretches

    project, source, obj_id = _project(clip)
    project.set_prompts(obj_id, 10, prompts_from_mask(clip.masks[10]))
    store = MaskStore(tmp_path / "masks")
    run_sync(track_job(project, source, store, direction="both"))
    assert stale_frames(project, store, obj_id) == []
    assert set(store.track_records(obj_id)) == set(range(16))
    # a correction on frame 5: frames 1-4 and 6-9 (between keyframes 0 and 10) are stale, 11-15 are not
    project.set_prompts(obj_id, 5, prompts_from_mask(clip.masks[5]))
    assert stale_frames(project, store, obj_id) == [1, 2, 3, 4, 6, 7, 8, 9]
    assert stale_stretches(project, store, obj_id) == [(0, 5), (5, 10)]
    walked = walked_frames(monkeypatch)
    result = run_sync(track_job(project, source, store, direction="both", mode="changed"))
    assert sorted({f for run in walked for f in run}) == list(range(0, 11))
    assert sorted(result.frames[obj_id]) == list(range(0, 11))
    assert stale_frames(project, store, obj_id) == []
    # nothing changed: nothing to do
    walked.clear()
    result = run_sync(track_job(project, source, store, direction="both", mode="changed"))
    assert walked == [] and result.frames == {}


def test_absent_frames_are_empty_and_tracking_resumes_from_the_keyframes_either_side(tmp_path, clip, monkeypatch):
    project, source, obj_id = _project(clip)
    project.set_prompts(obj_id, 12, prompts_from_mask(clip.masks[12]))
    project.set_absent(obj_id, 5, 8)
    assert project.object(obj_id).absent == [(5, 8)]
    store = MaskStore(tmp_path / "masks")
    walked = walked_frames(monkeypatch)
    run_sync(track_job(project, source, store, direction="both"))
    assert sorted(sorted(set(w)) for w in walked) == [list(range(0, 5)), list(range(9, 16))]
    for f in range(5, 9):
        assert not store.get(obj_id, f).any()
    # frames 9-11 come from keyframe 12 alone (backward), not from a chain through the gap
    assert np.mean([jaccard(store.get(obj_id, f), clip.masks[f]) for f in (9, 10, 11)]) > 0.75
    # the range survives a save and is cleared in part
    again = Project.from_dict(project.to_dict())
    assert again.object(obj_id).absent == [(5, 8)]
    again.set_absent(obj_id, 6, 7, absent=False)
    assert again.object(obj_id).absent == [(5, 5), (8, 8)]


def test_confidence_is_recorded_and_a_track_can_stop_at_the_first_low_frame(tmp_path, clip, monkeypatch):
    from sam3roto.backends.classic import ClassicSession

    project, source, obj_id = _project(clip)
    real = ClassicSession.propagate

    def scored(self, start, direction="forward", end=None):
        for fm in real(self, start, direction, end):
            fm.scores = {o: (0.2 if fm.frame >= 9 else 0.9) for o in fm.masks}
            yield fm

    monkeypatch.setattr(ClassicSession, "propagate", scored)
    store = MaskStore(tmp_path / "masks")
    result = run_sync(track_job(project, source, store, direction="forward"))
    assert result.low[obj_id] == list(range(9, 16))
    assert store.track_records(obj_id)[3][0] == pytest.approx(0.9)
    stopped = MaskStore(tmp_path / "stopped")
    seen = []
    result = run_sync(track_job(project, source, stopped, direction="forward", stop_below=0.5), seen.append)
    assert result.stopped == {obj_id: 9}
    assert stopped.frames(obj_id) == list(range(9))
    assert max(p.frame for p in seen if p.frame is not None) == 8  # the playhead stays on the last kept frame
    # marked where it stopped
    assert result.low == {obj_id: [9]} and stopped.track_records(obj_id)[9][0] == pytest.approx(0.2)
    assert seen[-1].message != "frame 15"  # the walk ended there, not at the end of the shot
    both = MaskStore(tmp_path / "both")
    result = run_sync(track_job(project, source, both, direction="both", stop_below=0.5))
    assert result.stopped == {obj_id: 9} and max(both.frames(obj_id)) == 8  # no final pass past the stop either


def test_changed_also_tracks_frames_a_stopped_track_left_without_masks(tmp_path, clip):
    from sam3roto.pipeline.track import plan_runs

    project, source, obj_id = _project(clip)
    store = MaskStore(tmp_path / "masks")
    job = track_job(project, source, store, direction="forward")
    for n, _ in enumerate(job):
        if n == 6:  # cancelled after a few frames
            job.close()
            break
    have = store.frames(obj_id)
    assert 0 < len(have) < 16
    runs, _ = plan_runs(project, store, list(range(16)), "both", {obj_id}, "changed")
    assert [(r.frames[0], r.frames[-1], r.direction) for r in runs] == [(0, 15, "both")]
    run_sync(track_job(project, source, store, direction="both", mode="changed"))
    assert store.frames(obj_id) == list(range(16))


def test_an_absent_range_makes_stale_only_the_frames_it_cuts_off(tmp_path, clip):
    from sam3roto.core.tracking import stale_frames, stale_stretches

    project, source, obj_id = _project(clip)  # one keyframe, on frame 0
    store = MaskStore(tmp_path / "masks")
    run_sync(track_job(project, source, store, direction="both"))
    project.set_absent(obj_id, 10, 12)
    assert stale_frames(project, store, obj_id) == list(range(10, 16))  # 1-9 still come from frame 0
    assert stale_stretches(project, store, obj_id) == [(0, 15)]
    run_sync(track_job(project, source, store, direction="both", mode="changed"))
    assert all(not store.get(obj_id, f).any() for f in (10, 11, 12))
    assert stale_frames(project, store, obj_id) == [13, 14, 15]  # cut off from every keyframe: key them
    project.set_absent(obj_id, 10, 12, absent=False)
    assert stale_frames(project, store, obj_id) == [10, 11, 12]  # 13-15 are as they were tracked
    assert stale_stretches(project, store, obj_id) == [(0, 12)]  # no keyframe after: only as far as needed


def test_a_both_ways_track_stopped_in_its_final_pass_leaves_no_frame_out_of_date(tmp_path, clip, monkeypatch):
    """Both ways, the forward pass's masks are provisional; where the final (backward) pass
    stops at low confidence they stay as the result, recorded up to date (not orange for good)."""
    from sam3roto.backends.classic import ClassicSession
    from sam3roto.core.tracking import stale_frames

    project, source, obj_id = _project(clip)
    project.set_prompts(obj_id, 15, prompts_from_mask(clip.masks[15]))
    real = ClassicSession.propagate

    def scored(self, start, direction="forward", end=None):
        for fm in real(self, start, direction, end):
            final = getattr(fm, "final", True)
            fm.scores = {o: (0.2 if final and fm.frame == 10 else 0.9) for o in fm.masks}
            yield fm

    monkeypatch.setattr(ClassicSession, "propagate", scored)
    store = MaskStore(tmp_path / "masks")
    result = run_sync(track_job(project, source, store, direction="both", stop_below=0.5))
    assert result.stopped == {obj_id: 10}
    assert store.frames(obj_id) == list(range(16))  # 1-10 keep the forward pass's masks
    assert stale_frames(project, store, obj_id) == []

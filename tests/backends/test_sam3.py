"""SAM3 adapter on tiny randomly initialised models (CPU, no weights).

Random weights give meaningless masks, so these tests check structure and behaviour:
shapes, object ids, frame order, corrections surviving re-propagation, bounded memory,
cancel, and the weight-loading errors.
"""

from __future__ import annotations

import numpy as np
import pytest

# torch and transformers are test requirements (requirements-dev.txt): no skip, a missing
# install must fail loudly.
import torch

from sam3roto.backends.sam3 import Sam3Engine, resolve_model_dir
from sam3roto.core.jobs import CancelToken, run_sync
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project
from sam3roto.core.types import BoxPrompt, PointPrompt, TextPrompt
from sam3roto.errors import Cancelled, ModelNotInstalledError
from sam3roto.media.memory import ArraySource
from sam3roto.pipeline.shot import shot_from_info
from sam3roto.pipeline.track import track_job


@pytest.fixture(scope="module")
def engine():
    from tests.backends.sam3_tiny import build_tiny_models

    torch.set_num_threads(1)
    mp = pytest.MonkeyPatch()
    mp.setenv("SAM3ROTO_DTYPE", "float32")
    eng = Sam3Engine(models=build_tiny_models(), device="cpu", text_threshold=0.0)
    mp.undo()
    torch.set_num_threads(1)
    return eng


def frames(n: int = 10, h: int = 90, w: int = 120) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 255, (n, h, w, 3)).astype(np.uint8)


def test_points_and_box_give_a_source_sized_mask(engine):
    s = engine.open_session(ArraySource(frames()))
    out = s.set_prompts(0, 1, [BoxPrompt(10, 10, 60, 60), PointPrompt(30, 40, True), PointPrompt(5, 5, False)])
    assert set(out) == {1}
    assert out[1].dtype == bool and out[1].shape == (90, 120)


def test_text_makes_one_object_per_instance_and_they_are_tracked(engine):
    s = engine.open_session(ArraySource(frames()))
    found = s.add_prompt(0, TextPrompt("person"), 5)
    assert found, "threshold 0 must keep the detector's instances"
    assert sorted(found) == list(range(5, 5 + len(found)))
    assert all(m.shape == (90, 120) and m.dtype == bool for m in found.values())
    out = list(s.propagate(0, "forward", 3))
    assert [fm.frame for fm in out] == [0, 1, 2, 3]
    assert all(set(fm.masks) == set(found) for fm in out)


def test_forward_backward_both_and_multi_object(engine):
    s = engine.open_session(ArraySource(frames()))
    s.set_prompts(2, 1, [PointPrompt(30, 40, True)])
    s.set_prompts(2, 2, [BoxPrompt(60, 20, 110, 80)])
    assert [fm.frame for fm in s.propagate(2, "forward")] == list(range(2, 10))
    back = list(s.propagate(2, "backward"))
    assert [fm.frame for fm in back] == [2, 1, 0]
    assert all(set(fm.masks) == {1, 2} for fm in back)
    both = list(s.propagate(0, "both"))
    assert sorted(fm.frame for fm in both) == list(range(10))


def test_a_correction_sticks_through_repropagation(engine):
    s = engine.open_session(ArraySource(frames()))
    s.set_prompts(0, 1, [PointPrompt(30, 40, True)])
    first = {fm.frame: fm.masks[1] for fm in s.propagate(0, "forward")}
    corrected = s.set_prompts(6, 1, [PointPrompt(90, 60, True), PointPrompt(30, 40, False)])[1]
    again = {fm.frame: fm.masks[1] for fm in s.propagate(0, "forward")}
    # The corrected frame keeps the correction, and it now conditions its neighbours.
    assert np.array_equal(again[6], corrected)
    oi = s.state.obj_id_to_idx(1)
    assert 6 in s.state.output_dict_per_obj[oi]["cond_frame_outputs"]
    assert not np.array_equal(first[6], corrected) or any(not np.array_equal(first[f], again[f]) for f in range(7, 10))


def test_session_memory_does_not_grow_with_frame_count(engine):
    sizes = {}
    for n in (8, 24):
        s = engine.open_session(ArraySource(frames(n, 60, 80)))
        s.set_prompts(0, 1, [PointPrompt(30, 30, True)])
        peak = 0
        for _ in s.propagate(0, "forward"):
            peak = max(peak, s.memory_items())
        sizes[n] = peak
    assert sizes[24] == sizes[8]


def _oom_once(monkeypatch, tracker, on_call: int):
    """Make the tracking step raise a CUDA-style out-of-memory error once, on call
    ``on_call`` (whether the step runs the objects together or one at a time)."""
    from sam3roto.backends import sam3

    real_forward, real_step = tracker.forward, sam3.track_frame
    calls = {"n": 0}

    def count() -> None:
        calls["n"] += 1
        if calls["n"] == on_call:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def forward(*args, **kwargs):
        count()
        return real_forward(*args, **kwargs)

    def step(model, *args, **kwargs):
        count()
        model.forward = real_forward  # one step is one call, whichever way it runs
        try:
            return real_step(model, *args, **kwargs)
        finally:
            model.forward = forward

    monkeypatch.setattr(tracker, "forward", forward)
    monkeypatch.setattr(sam3, "track_frame", step)


def test_gpu_out_of_memory_falls_back_to_the_cpu_and_finishes(engine, tmp_path, monkeypatch):
    source = ArraySource(frames(8, 60, 80))
    project = Project(shot=shot_from_info(source.info))
    a, b = project.add_object("a"), project.add_object("b")
    session = engine.open_session(source)
    session.set_prompts(0, a.id, [PointPrompt(30, 30, True)])
    session.add_mask(0, b.id, np.pad(np.ones((20, 20), bool), ((10, 30), (40, 20))))
    # The session believes it runs on a GPU; the 4th forward of the propagation runs out of memory.
    session.device = "cuda"
    _oom_once(monkeypatch, engine.models.tracker, on_call=4)
    messages = []
    store = MaskStore(tmp_path / "m")
    job = track_job(project, source, store, direction="forward", session=session)
    run_sync(job, lambda p: messages.append(p.message))
    assert store.frames(a.id) == list(range(8)) and store.frames(b.id) == list(range(8))
    assert session.device == "cpu"
    assert any("out of memory on cuda at frame 3: continuing on the CPU" in m for m in messages)
    # Both keyframes survived the rebuild (the point prompt and the mask keyframe).
    assert set(session.state.obj_ids) == {a.id, b.id}


def test_cpu_out_of_memory_is_a_clear_error(engine, monkeypatch):
    from sam3roto.errors import DeviceMemoryError

    session = engine.open_session(ArraySource(frames(5, 60, 80)))
    session.set_prompts(0, 1, [PointPrompt(30, 30, True)])
    _oom_once(monkeypatch, engine.models.tracker, on_call=2)
    with pytest.raises(DeviceMemoryError, match="out of memory on the CPU at frame 1"):
        list(session.propagate(0, "forward"))


def test_cancel_mid_propagation_keeps_finished_frames(engine, tmp_path):
    source = ArraySource(frames(12, 60, 80))
    project = Project(shot=shot_from_info(source.info))
    obj = project.add_object("thing")
    project.set_prompts(obj.id, 0, [PointPrompt(30, 30, True)])
    store = MaskStore(tmp_path / "m")
    token = CancelToken()
    session = engine.open_session(source)
    session.set_prompts(0, obj.id, [PointPrompt(30, 30, True)])

    def stop_at_4(p):
        if p.done == 4:
            token.cancel()

    with pytest.raises(Cancelled):
        run_sync(track_job(project, source, store, direction="forward", session=session), stop_at_4, token)
    assert store.frames(obj.id) == [0, 1, 2, 3]


def test_missing_weights_name_the_place_and_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ModelNotInstalledError, match="not in the Hugging Face cache") as e:
        resolve_model_dir("facebook/sam3")
    assert "install_models.sh" in str(e.value)
    with pytest.raises(ModelNotInstalledError, match="does not exist"):
        resolve_model_dir(model_dir=tmp_path / "nowhere")
    (tmp_path / "w").mkdir()
    with pytest.raises(ModelNotInstalledError, match=r"no config\.json"):
        resolve_model_dir(model_dir=tmp_path / "w")


def test_corrupt_weights_are_a_clear_error(tmp_path):
    folder = tmp_path / "sam3"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "sam3_tracker_video"}')
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    assert resolve_model_dir(model_dir=folder) == folder
    with pytest.raises(ModelNotInstalledError, match="could not be read"):
        Sam3Engine(model_dir=folder, device="cpu", text=False)


def test_random_prompts_always_hold_although_the_raw_masks_are_random(engine):
    """The random model's masks ignore the clicks; what set_prompts returns obeys them, and
    the tracker is re-conditioned on that mask, so propagation shows it on the keyframe."""
    from sam3roto.backends.constraints import obeys

    rng = np.random.default_rng(4)
    s = engine.open_session(ArraySource(frames(6)))
    changed = 0
    for k in range(10):
        frame = int(rng.integers(6))
        prompts: list = []
        if k % 2:
            x0, y0 = rng.uniform(0, 80), rng.uniform(0, 60)
            prompts.append(BoxPrompt(x0, y0, x0 + rng.uniform(10, 40), y0 + rng.uniform(10, 30)))
        prompts += [PointPrompt(float(rng.uniform(0, 120)), float(rng.uniform(0, 90)), bool(rng.random() < 0.6))
                    for _ in range(rng.integers(1, 6))]
        raw = s._set_prompts(frame, 1, list(prompts))[1]
        mask = s.set_prompts(frame, 1, prompts)[1]
        assert obeys(mask, prompts), prompts
        if not obeys(raw, prompts):
            changed += 1
            oi = s.state.obj_id_to_idx(1)
            assert frame in s.state.mask_inputs_per_obj[oi] and frame not in s.state.point_inputs_per_obj[oi]
    assert changed >= 3  # the constraint was really exercised
    s.set_prompts(2, 1, [PointPrompt(30, 40, True), PointPrompt(33, 40, False), PointPrompt(100, 80, True)])
    key = {fm.frame: fm for fm in s.propagate(0, "forward")}[2]
    assert obeys(key.masks[1], [PointPrompt(30, 40, True), PointPrompt(33, 40, False), PointPrompt(100, 80, True)])


def test_scores_are_object_presence_and_one_on_keyframes(engine):
    s = engine.open_session(ArraySource(frames()))
    s.set_prompts(2, 1, [PointPrompt(30, 40, True)])
    s.set_prompts(5, 2, [BoxPrompt(60, 20, 110, 80)])
    for fm in s.propagate(0, "both"):
        assert fm.final
        assert set(fm.scores) == set(fm.masks) == {1, 2}
        assert all(0.0 <= v <= 1.0 for v in fm.scores.values())
        if fm.frame == 2:
            assert fm.scores[1] == 1.0
        if fm.frame == 5:
            assert fm.scores[2] == 1.0
    out = list(s.propagate(6, "forward"))
    assert any(v != 1.0 for fm in out for v in fm.scores.values())  # tracked frames: the model's own score


def test_both_yields_frame_by_frame(engine, monkeypatch):
    s = engine.open_session(ArraySource(frames(40, 60, 80)))
    s.set_prompts(10, 1, [PointPrompt(30, 30, True)])
    s.set_prompts(30, 1, [PointPrompt(40, 30, True)])
    calls = {"n": 0}
    real = engine.models.tracker.forward

    def forward(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.models.tracker, "forward", forward)
    gen = s.propagate(0, "both")
    seen = []
    for _ in range(3):
        fm = next(gen)
        seen.append((fm.frame, fm.final, calls["n"]))
    assert seen == [(10, True, 1), (11, True, 2), (12, True, 3)]
    gen.close()
    rest = list(s.propagate(0, "both"))
    assert sorted(fm.frame for fm in rest) == list(range(40)) and all(fm.final for fm in rest)


def test_segment_everything_gives_pickable_regions(engine):
    """SAM3's automatic masks through the session (the window's and the CLI's path): region
    numbers 0..n-1 over every pixel, largest first."""
    assert engine.capabilities.everything
    session = engine.open_session(ArraySource(frames(2, 90, 120)))
    labels = session.segment_everything(1)
    assert labels.shape == (90, 120) and labels.dtype == np.int32
    n = int(labels.max()) + 1
    areas = np.bincount(labels.ravel(), minlength=n)
    assert labels.min() == 0 and (areas > 0).all() and list(areas) == sorted(areas, reverse=True)

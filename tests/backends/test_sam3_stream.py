"""SAM3 read-ahead tracking (tiny random models, CPU): the same masks as the per-frame
path, bounded memory, the worker stopped on cancel and errors, bits packed as numpy does."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
import torch

from sam3roto.backends.base import PackedMask
from sam3roto.backends.sam3 import Sam3Engine, Sam3Session, default_read_ahead
from sam3roto.backends.sam3_stream import FeatureCache, ReadAhead, pack_on_device
from sam3roto.core.types import BoxPrompt, PointPrompt
from sam3roto.media.memory import ArraySource


@pytest.fixture(scope="module")
def models():
    from tests.backends.sam3_tiny import build_tiny_models

    torch.set_num_threads(1)
    return build_tiny_models(text=False)


def engine(models, read_ahead: int, batch_objects: bool | None = None) -> Sam3Engine:
    """``read_ahead`` 0 is the stock per-frame path (objects one at a time, unless asked)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SAM3ROTO_DTYPE", "float32")
    try:
        eng = Sam3Engine(models=models, device="cpu", read_ahead=read_ahead,
                         batch_objects=bool(read_ahead) if batch_objects is None else batch_objects)
    finally:
        mp.undo()
    torch.set_num_threads(1)
    return eng


def clip(n: int = 14, h: int = 90, w: int = 120) -> np.ndarray:
    """A bright square moving right over noise."""
    rng = np.random.default_rng(3)
    out = rng.integers(0, 120, (n, h, w, 3)).astype(np.uint8)
    for i in range(n):
        out[i, 30:60, 10 + 4 * i:40 + 4 * i] = 230
    return out


def track(models, read_ahead: int, frames: np.ndarray, direction: str = "both",
          keyframes: tuple[int, ...] = (0, 9)) -> list[tuple[int, bool, dict[int, np.ndarray]]]:
    source = ArraySource(frames, name="stream")
    with engine(models, read_ahead).open_session(source) as session:
        for k in keyframes:
            x = 10 + 4 * k
            session.set_prompts(k, 1, [BoxPrompt(x, 30, x + 30, 60)])
            session.set_prompts(k, 2, [PointPrompt(100, 80, True)])
        start = keyframes[0] if direction != "backward" else len(frames) - 1
        return [(fm.frame, fm.final, {o: m.copy() for o, m in fm.masks.items()})
                for fm in session.propagate(start, direction)]


@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("direction", ["forward", "backward", "both"])
def test_read_ahead_gives_the_masks_of_the_per_frame_path(models, batch, direction):
    frames = clip()
    reference = track(models, 0, frames, direction)
    fast = track(models, batch, frames, direction)
    assert [(f, final) for f, final, _ in fast] == [(f, final) for f, final, _ in reference]
    for (f, _, a), (_, _, b) in zip(fast, reference, strict=True):
        assert a.keys() == b.keys() == {1, 2}
        for o in a:
            assert np.array_equal(a[o], b[o]), f"frame {f} object {o}: {int((a[o] != b[o]).sum())} pixels differ"


def test_memory_stays_bounded_on_a_long_walk(models):
    frames = np.repeat(clip(6), 10, axis=0)  # 60 frames
    source = ArraySource(frames, name="long")
    with engine(models, 4).open_session(source) as session:
        session.set_prompts(0, 1, [BoxPrompt(10, 30, 40, 60)])
        held = []
        for _ in session.propagate(0, "forward"):
            held.append((session.memory_items(), len(session.state.cache)))
    items = [h for h, _ in held]
    assert max(items[30:]) <= max(items[:20]), items
    assert max(c for _, c in held) <= 3  # the frame being run + at most two the tracker encoded itself


def test_closing_the_walk_stops_the_worker(models):
    frames = clip(30)
    source = ArraySource(frames, name="cancel")
    before = set(threading.enumerate())
    with engine(models, 4).open_session(source) as session:
        session.set_prompts(0, 1, [BoxPrompt(10, 30, 40, 60)])
        walk = session.propagate(0, "forward")
        for _ in range(3):
            next(walk)
        assert any(t.name == "sam3-read-ahead" for t in threading.enumerate())
        walk.close()
    assert not [t for t in threading.enumerate() if t.name == "sam3-read-ahead" and t not in before]


def test_a_frame_that_cannot_be_read_is_raised_in_the_walk():
    def load(f: int) -> torch.Tensor:
        if f == 5:
            raise OSError("frame 5: corrupt data")
        return torch.full((3, 4, 4), float(f))

    def encode(px: torch.Tensor) -> list[dict]:
        return [{"v": p[0, 0, 0].item()} for p in px]

    with ReadAhead(list(range(8)), load, encode, batch=3) as ahead:
        assert [ahead.take(f)[1]["v"] for f in range(5)] == [0, 1, 2, 3, 4]
        with pytest.raises(OSError, match="corrupt"):
            ahead.take(5)


def test_read_ahead_batches_and_bounds_what_it_holds():
    import time

    batches: list[int] = []
    loaded: list[int] = []

    def load(f: int) -> torch.Tensor:
        loaded.append(f)
        return torch.full((3, 2, 2), float(f))

    def encode(px: torch.Tensor) -> list[dict]:
        batches.append(len(px))
        return [{"v": p[0, 0, 0].item()} for p in px]

    order = [9, 8, 7, 6, 5, 4, 3]
    with ReadAhead(order, load, encode, batch=3) as ahead:
        assert ahead.planned(9) and not ahead.planned(10)
        assert ahead.take(9)[1]["v"] == 9
        time.sleep(0.5)  # the worker runs ahead as far as it may
        assert len(loaded) <= 1 + 3 + 3  # taken, waiting in the queue, the batch being made
        with pytest.raises(RuntimeError, match="expected 8"):
            ahead.take(7)  # out of order
    assert batches[:1] == [3]

    batches.clear()
    with ReadAhead(order, load, encode, batch=3) as ahead:
        assert [ahead.take(f)[1]["v"] for f in order] == order
        assert not ahead.planned(3)
        with pytest.raises(RuntimeError, match="does not hold"):
            ahead.take(2)
    assert batches == [3, 3, 1]
    with pytest.raises(ValueError, match="at least 1"):
        ReadAhead([1], load, encode, batch=0)


def test_feature_cache_is_bounded_and_hands_out_the_next_frame_once():
    cache = FeatureCache(capacity=2)
    for f in range(5):
        cache.cache_vision_features(f, {"f": f})
    assert cache.get_vision_features(0) is None and cache.get_vision_features(4) == {"f": 4}
    assert len(cache) == 2
    cache.put_next(7, {"f": 7})
    assert cache.get_vision_features(7) == {"f": 7} and len(cache) == 3
    cache.done()  # the frame just run stays among the last two
    assert cache.get_vision_features(7) == {"f": 7} and len(cache) == 2
    assert cache.get_vision_features(3) is None


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (90, 120), (7, 13)])
def test_bits_packed_on_the_device_unpack_with_numpy(shape):
    rng = np.random.default_rng(0)
    masks = rng.random((3, *shape)) > 0.5
    bits = pack_on_device(torch.from_numpy(masks))
    for i in range(3):
        assert np.array_equal(bits[i], np.packbits(masks[i], axis=None))
        assert np.array_equal(PackedMask.from_bits(bits[i], shape).unpack(), masks[i])


def test_default_batch_is_eight_on_a_gpu_and_one_on_the_cpu():
    assert default_read_ahead("cuda") == 8 and default_read_ahead("cuda:1") == 8
    assert default_read_ahead("cpu") == 1
    with pytest.raises(ValueError, match="read_ahead"):
        Sam3Session(ArraySource(clip(2), name="x"), None, device="cpu", dtype=torch.float32,  # type: ignore[arg-type]
                    read_ahead=-1)


def test_objects_are_tracked_as_one_batch_and_give_the_per_object_masks(models, monkeypatch):
    """Three objects: two keyed on the same frames, one keyed elsewhere (batched with them
    only once its memory has the same shapes); every mask equals transformers' per-object
    step's."""
    from sam3roto.backends import sam3_batch

    frames = clip()
    source = ArraySource(frames, name="objects")

    def run(batch_objects: bool) -> list[dict[int, np.ndarray]]:
        with engine(models, 2, batch_objects).open_session(source) as session:
            for k in (0, 9):
                x = 10 + 4 * k
                session.set_prompts(k, 1, [BoxPrompt(x, 30, x + 30, 60)])
                session.set_prompts(k, 2, [PointPrompt(100, 80, True)])
            session.set_prompts(4, 3, [BoxPrompt(0, 0, 50, 20)])
            return [{o: m.copy() for o, m in fm.masks.items()} for fm in session.propagate(0, "both")]

    sizes: list[int] = []
    real = sam3_batch._track_group

    def spy(model, session, frame_idx, objects, reverse, memories):  # type: ignore[no-untyped-def]
        sizes.append(len(objects))
        return real(model, session, frame_idx, objects, reverse, memories)

    monkeypatch.setattr(sam3_batch, "_track_group", spy)
    batched = run(True)
    # 1 and 2 together while 3 (keyed later) has fewer memories; all three once they match
    assert set(sizes) == {2, 3}
    calls = len(sizes)
    per_object = run(False)
    assert len(sizes) == calls  # the per-object run batched nothing
    for a, b in zip(batched, per_object, strict=True):
        assert a.keys() == b.keys() == {1, 2, 3}
        assert all(np.array_equal(a[o], b[o]) for o in a)


def test_the_encoder_running_out_of_gpu_memory_falls_back_to_the_cpu(models, monkeypatch):
    frames = clip(8)
    with engine(models, 3).open_session(ArraySource(frames, name="oom")) as session:
        session.set_prompts(0, 1, [BoxPrompt(10, 30, 40, 60)])
        session.device = "cuda"  # the session believes it runs on a GPU
        real = session._encode

        def encode(pixels):  # type: ignore[no-untyped-def]
            monkeypatch.setattr(session, "_encode", real)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")

        monkeypatch.setattr(session, "_encode", encode)
        walked = [fm.frame for fm in session.propagate(0, "forward")]
        assert walked == list(range(8)) and session.device == "cpu"
        assert any("continuing on the CPU" in n for n in session.take_notices())


def test_the_encoder_running_out_of_cpu_memory_is_a_clear_error(models, monkeypatch):
    from sam3roto.errors import DeviceMemoryError

    with engine(models, 3).open_session(ArraySource(clip(8), name="oom")) as session:
        session.set_prompts(0, 1, [BoxPrompt(10, 30, 40, 60)])
        monkeypatch.setattr(session, "_encode", lambda px: (_ for _ in ()).throw(MemoryError("no memory")))
        with pytest.raises(DeviceMemoryError, match="out of memory on the CPU at frame 1"):
            list(session.propagate(0, "forward"))


def test_an_object_found_mid_walk_leaves_the_others_step_as_it_was(models):
    frames = clip(10)
    with engine(models, 2).open_session(ArraySource(frames, name="found")) as session:
        session.set_prompts(0, 1, [BoxPrompt(10, 30, 40, 60)])
        walk = session.propagate(0, "forward")
        for fm in walk:
            if fm.frame == 4:
                break
        out = session.state.output_dict_per_obj[0]["non_cond_frame_outputs"][4]
        before = out["maskmem_features"].clone(), out["pred_masks"].clone()
        found = np.zeros((90, 120), bool)
        found[60:85, 70:110] = True
        session.add_found(4, 2, found)
        after = session.state.output_dict_per_obj[0]["non_cond_frame_outputs"][4]
        assert torch.equal(after["maskmem_features"], before[0]) and torch.equal(after["pred_masks"], before[1])
        assert 4 in session.state.output_dict_per_obj[1]["cond_frame_outputs"]
        rest = {fm.frame: fm.masks for fm in walk}
        assert sorted(rest) == [5, 6, 7, 8, 9] and all(m.keys() == {1, 2} for m in rest.values())


@pytest.mark.skipif(not (shutil.which("g++") or shutil.which("c++")),
                    reason="torch.compile on the CPU needs a C++ compiler (g++) on PATH")
def test_the_compiled_encoder_gives_the_same_masks_and_compiles_one_shape(models):
    """torch.compile on the read-ahead's encoder (opt-in; here on the CPU, where its
    kernels round as the eager ones do closely enough for every mask to stay the same).
    The short last batch is padded, so one batch shape is compiled."""
    import torch._dynamo

    frames = clip(9)  # 8 tracked frames: batches of 3, 3 and a padded 2

    def run(compiled: bool) -> list[dict[int, np.ndarray]]:
        eng = engine(models, 3 if compiled else 0)
        eng.compile = compiled
        with eng.open_session(ArraySource(frames, name="compiled")) as session:
            session.set_prompts(0, 1, [BoxPrompt(10, 30, 40, 60)])
            session.set_prompts(0, 2, [PointPrompt(100, 80, True)])
            return [{o: m.copy() for o, m in fm.masks.items()} for fm in session.propagate(0, "forward")]

    torch._dynamo.reset()
    compiled = models.compiled_encoder()
    assert models.compiled_encoder() is compiled  # compiled once per model, kept
    shapes: list[tuple[int, ...]] = []

    def spy(pixels, **kwargs):  # type: ignore[no-untyped-def]
        shapes.append(tuple(pixels.shape))
        return compiled(pixels, **kwargs)

    models._compiled_encoder = spy
    try:
        fast = run(True)
    finally:
        models._compiled_encoder = compiled
    assert len(shapes) == 3 and len(set(shapes)) == 1 and shapes[0][0] == 3  # one shape: the last batch padded
    reference = run(False)
    for a, b in zip(fast, reference, strict=True):
        assert a.keys() == b.keys() == {1, 2}
        assert all(np.array_equal(a[o], b[o]) for o in a)

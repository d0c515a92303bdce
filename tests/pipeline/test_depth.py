"""The depth job: chunking, chunk alignment on a synthetic camera path (a stand-in model
that sees each chunk in its own world and scale), the real adapter on a random
``da3-small``, cancelling, and the cache."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sam3roto.backends.da3 import Prediction, default_intrinsics
from sam3roto.core.depthcache import DepthCache
from sam3roto.core.jobs import CancelToken, run_sync
from sam3roto.errors import Cancelled, Sam3RotoError
from sam3roto.media.memory import ArraySource
from sam3roto.pipeline.depth import DepthOptions, chunk_spans, depth_job
from tests.geometry.test_geometry import random_rotation, synthetic_path, to_chunk_world

W, H = 64, 48


def test_chunk_spans_cover_every_frame_with_the_overlap() -> None:
    assert chunk_spans(10, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert chunk_spans(11, 4, 1) == [(0, 4), (3, 7), (6, 10), (9, 11)]
    assert chunk_spans(3, 16, 4) == [(0, 3)]
    assert chunk_spans(3, 1, 0) == [(0, 1), (1, 2), (2, 3)]
    assert chunk_spans(0, 4, 2) == []
    with pytest.raises(ValueError, match="overlap"):
        DepthOptions(chunk=4, overlap=4)


class ChunkWorldModel:
    """Sees the true path and depth of the frames it is given, but reports them in a
    random world and scale of its own on every call (as a multi-view model does)."""

    name = "stand-in"
    process_res = 64

    def __init__(self, truth: np.ndarray, depth: np.ndarray, frames: np.ndarray) -> None:
        self.truth, self.depth, self.frames = truth, depth, frames
        self.rng = np.random.default_rng(7)
        self.calls = 0

    def predict(self, frames: list[np.ndarray]) -> Prediction:
        self.calls += 1
        idx = [int(np.flatnonzero((self.frames == f).all(axis=(1, 2, 3)))[0]) for f in frames]
        s, a, b = self.rng.uniform(0.5, 3), random_rotation(self.rng), self.rng.normal(size=3)
        w2c, depth = to_chunk_world(self.truth[idx], self.depth[idx], s, a, b)
        n = len(idx)
        return Prediction(depth.astype(np.float32), np.ones_like(depth, np.float32),
                          np.tile(default_intrinsics(W, H), (n, 1, 1)), w2c, is_metric=False, has_camera=True,
                          source_size=(W, H))


def unique_frames(n: int) -> np.ndarray:
    frames = np.zeros((n, H, W, 3), np.uint8)
    for i in range(n):
        frames[i, 0, :3, 0] = [i, i // 256, 1]
    return frames


def test_chunks_are_aligned_into_one_continuous_path_and_scale(tmp_path) -> None:
    n = 23
    rng = np.random.default_rng(3)
    truth = synthetic_path(n, rng)
    depth = rng.uniform(1, 4, (n, H, W)).astype(np.float32)
    frames = unique_frames(n)
    model = ChunkWorldModel(truth, depth, frames)
    cache = DepthCache(tmp_path / "shot.depth")
    result = run_sync(depth_job(ArraySource(frames), cache, list(range(n)), model, DepthOptions(chunk=8, overlap=3)))
    assert result.frames == list(range(n)) and model.calls == 4
    cams = cache.cameras()
    assert cams["indices"].tolist() == list(range(n))
    # the first camera is the origin, and the scale is the first chunk's; both fixed by frame 0
    first = cache.get(0)
    np.testing.assert_allclose(first.extrinsics, np.eye(4), atol=1e-9)
    scale = float(np.median(first.depth / depth[0]))
    for i in range(n):
        f = cache.get(i)
        np.testing.assert_allclose(f.depth, depth[i] * scale, rtol=1e-4)
        expected = truth[i] @ np.linalg.inv(truth[0])
        expected[:3, 3] *= scale
        np.testing.assert_allclose(f.extrinsics, expected, atol=1e-6)
    # a continuous path: no jump at chunk seams bigger than the true step
    centres = np.array([-(m[:3, :3].T @ m[:3, 3]) for m in cams["extrinsics"]])
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert steps.max() < 2 * np.median(steps)
    near, far = cache.depth_range(list(range(n)))
    assert 0 < near < far
    assert cache.meta()["has_camera"] is True


def test_cancel_keeps_the_finished_chunks(tmp_path) -> None:
    n = 12
    rng = np.random.default_rng(4)
    frames = unique_frames(n)
    model = ChunkWorldModel(synthetic_path(n, rng), rng.uniform(1, 4, (n, H, W)).astype(np.float32), frames)
    cache = DepthCache(tmp_path / "c.depth")
    token = CancelToken()

    def stop_after_first_chunk(p) -> None:
        if p.done >= 4:
            token.cancel()

    with pytest.raises(Cancelled):
        run_sync(depth_job(ArraySource(frames), cache, list(range(n)), model, DepthOptions(chunk=4, overlap=1)),
                 stop_after_first_chunk, token)
    # the chunk being written when the job stopped is finished too (the writer runs one
    # chunk behind the network): whole chunks, never a part of one
    kept = cache.frames()
    assert kept in ([0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6]) and cache.missing(list(range(n))) == list(range(len(kept), n))
    assert not [p for p in cache.root.rglob("*.tmp")]


class ZeroConfidence(ChunkWorldModel):
    def predict(self, frames: list[np.ndarray]) -> Prediction:
        pred = super().predict(frames)
        pred.confidence[:] = 0.0
        return pred


def test_single_frame_shot_and_zero_confidence_everywhere(tmp_path) -> None:
    rng = np.random.default_rng(5)
    truth, depth = synthetic_path(9, rng), rng.uniform(1, 4, (9, H, W)).astype(np.float32)
    frames = unique_frames(9)
    one = run_sync(depth_job(ArraySource(frames[:1]), DepthCache(tmp_path / "one"), [0],
                             ChunkWorldModel(truth, depth, frames), DepthOptions()))
    assert one.frames == [0]
    cache = DepthCache(tmp_path / "zero")
    run_sync(depth_job(ArraySource(frames), cache, list(range(9)), ZeroConfidence(truth, depth, frames),
                       DepthOptions(chunk=4, overlap=2)))
    # still aligned (on every pixel with depth), and the stored confidence says zero
    expected = truth[8] @ np.linalg.inv(truth[0])
    scale = float(np.median(cache.get(0).depth / depth[0]))
    expected[:3, 3] *= scale
    np.testing.assert_allclose(cache.get(8).extrinsics, expected, atol=1e-6)
    assert not cache.get(8).confidence.any()


def test_bad_frame_indices_are_refused(tmp_path) -> None:
    frames = unique_frames(3)
    model = ChunkWorldModel(np.tile(np.eye(4), (3, 1, 1)), np.ones((3, H, W), np.float32), frames)
    with pytest.raises(Sam3RotoError, match="outside the media"):
        run_sync(depth_job(ArraySource(frames), DepthCache(tmp_path / "d"), [0, 5], model, DepthOptions()))


def test_cache_reports_damage_and_missing_frames(tmp_path) -> None:
    cache = DepthCache(tmp_path / "x.depth")
    with pytest.raises(Sam3RotoError, match="no depth for frame index 3"):
        cache.get(3)
    cache.start({"preset": "small"})
    cache.put(0, np.ones((4, 4), np.float32), np.ones((4, 4), np.float32))
    cache.put_cameras([0], np.eye(3)[None], np.eye(4)[None], np.array([1.0]), np.array([2.0]))
    assert cache.get(0).depth.shape == (4, 4)
    cache.path(0).write_bytes(b"garbage")  # damaged outside sam3roto: a fresh reader sees it
    with pytest.raises(Sam3RotoError, match="damaged"):
        DepthCache(cache.root).get(0)
    cache.start({"preset": "base"})  # a new run replaces the old one
    assert cache.frames() == [] and cache.meta() == {"preset": "base"}


def test_real_adapter_on_random_da3_small_fills_the_cache_at_source_size(tmp_path) -> None:
    torch = pytest.importorskip("torch", reason="the ML stack (torch) is not installed")
    pytest.importorskip("depth_anything_3", reason="depth-anything-3 is not installed (see install_models.sh)")
    from sam3roto.backends.da3 import Da3Estimator, build_network

    torch.set_num_threads(1)
    torch.manual_seed(0)
    est = Da3Estimator("small", device="cpu", process_res=56, network=build_network("da3-small"))
    torch.set_num_threads(1)
    frames = np.random.default_rng(0).integers(0, 255, (7, 60, 100, 3)).astype(np.uint8)
    cache = DepthCache(tmp_path / "r.depth")
    result = run_sync(depth_job(ArraySource(frames), cache, list(range(7)), est, DepthOptions(chunk=4, overlap=2)))
    assert result.frames == list(range(7)) and result.has_camera
    f = cache.get(6)
    assert f.depth.shape == (60, 100) and f.depth.dtype == np.float32 and f.confidence.shape == (60, 100)
    assert f.intrinsics.shape == (3, 3) and f.extrinsics.shape == (4, 4)
    np.testing.assert_allclose(cache.get(0).extrinsics, np.eye(4), atol=1e-6)
    rot = f.extrinsics[:3, :3]
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-5)
    assert math.isfinite(cache.depth_range(list(range(7)))[1])


class PreparedModel(ChunkWorldModel):
    """A stand-in that, like the real estimator, takes frames prepared beforehand; it
    records on which thread frames were read, prepared and estimated."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.threads: dict[str, set[str]] = {"prepare": set(), "predict": set()}

    def prepare(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        import threading

        self.threads["prepare"].add(threading.current_thread().name)
        return frames

    def predict_prepared(self, frames: list[np.ndarray]) -> Prediction:
        import threading

        self.threads["predict"].add(threading.current_thread().name)
        return super().predict(frames)

    def predict(self, frames: list[np.ndarray]) -> Prediction:
        raise AssertionError("the job uses prepare + predict_prepared when the estimator has them")


def test_frames_are_read_and_written_off_the_networks_thread_with_the_same_result(tmp_path) -> None:
    import threading

    n = 11
    rng = np.random.default_rng(5)
    frames = unique_frames(n)
    truth, depth = synthetic_path(n, rng), rng.uniform(1, 4, (n, H, W)).astype(np.float32)
    model = PreparedModel(truth, depth, frames)
    writes: set[str] = set()
    cache = DepthCache(tmp_path / "a.depth")
    real_put = cache.put

    def put(index, d, c):  # type: ignore[no-untyped-def]
        writes.add(threading.current_thread().name)
        real_put(index, d, c)

    cache.put = put  # type: ignore[method-assign]
    seen = []
    run_sync(depth_job(ArraySource(frames), cache, list(range(n)), model, DepthOptions(chunk=4, overlap=1)),
             lambda p: seen.append(p.done))
    main = threading.current_thread().name
    assert all(t.startswith("depth-read") for t in model.threads["prepare"]) and model.threads["predict"] == {main}
    assert writes and all(t.startswith("depth-write") for t in writes)
    assert seen == sorted(seen) and seen[-1] == n and cache.frames() == list(range(n))
    # the same numbers as the one-thread stand-in gives (same seeds)
    plain = ChunkWorldModel(truth, depth, frames)
    other = DepthCache(tmp_path / "b.depth")
    run_sync(depth_job(ArraySource(frames), other, list(range(n)), plain, DepthOptions(chunk=4, overlap=1)))
    for i in range(n):
        assert np.array_equal(cache.get(i).depth, other.get(i).depth)
    assert np.array_equal(cache.cameras()["extrinsics"], other.cameras()["extrinsics"])


def test_a_write_that_fails_stops_the_job_with_its_error(tmp_path) -> None:
    n = 8
    frames = unique_frames(n)
    rng = np.random.default_rng(6)
    model = ChunkWorldModel(synthetic_path(n, rng), rng.uniform(1, 4, (n, H, W)).astype(np.float32), frames)
    cache = DepthCache(tmp_path / "c.depth")

    def full(index, d, c):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    cache.put = full  # type: ignore[method-assign]
    with pytest.raises(OSError, match="No space left"):
        run_sync(depth_job(ArraySource(frames), cache, list(range(n)), model, DepthOptions(chunk=4, overlap=1)))

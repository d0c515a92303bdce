"""The depth job: a shot's frames -> Depth Anything 3 in overlapping chunks -> one
continuous camera path and depth at source resolution in the project's depth cache.

* Frames are read from the media chunk by chunk, the next chunk while the network runs
  this one; at most three chunks are in RAM (at the processing resolution: being read,
  being estimated, being written), and each frame is resized to the source size and
  written to the cache by a writer thread as soon as its chunk is done, so a cancelled run
  keeps the finished frames.
* Consecutive chunks share ``overlap`` frames. The new chunk's depth scale and world frame
  are fitted to the already aligned overlap frames (:mod:`sam3roto.geometry.align`), so
  depth and camera stay continuous over any length of shot. The first rendered frame's
  camera is the world origin.
* A run replaces what the cache held (each run has its own world frame).
"""

from __future__ import annotations

from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from sam3roto.backends.da3 import DEFAULT_PRESET, Prediction
from sam3roto.core.depthcache import DepthCache
from sam3roto.core.jobs import CancelToken, Progress
from sam3roto.errors import Sam3RotoError
from sam3roto.geometry.align import align_chunk
from sam3roto.geometry.camera import invert_rigid
from sam3roto.geometry.preview import depth_range
from sam3roto.media.source import FrameSource


class Estimator(Protocol):
    """What the job needs from a depth model (:class:`sam3roto.backends.da3.Da3Estimator`)."""

    name: str
    process_res: int

    def predict(self, frames: list[np.ndarray]) -> Prediction: ...


@dataclass(frozen=True)
class DepthOptions:
    """``preset``: model preset; ``model_dir``: weights folder (None: Hugging Face cache);
    ``process_res``: longest side the network sees; ``chunk``: frames seen together;
    ``overlap``: frames shared by consecutive chunks; ``device``: auto/cpu/cuda/mps."""

    preset: str = DEFAULT_PRESET
    model_dir: str | None = None
    process_res: int = 504
    chunk: int = 16
    overlap: int = 4
    device: str | None = None

    def __post_init__(self) -> None:
        if self.chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {self.chunk}")
        if self.chunk > 1 and not 1 <= self.overlap < self.chunk:
            raise ValueError(f"overlap must be between 1 and chunk - 1 ({self.chunk - 1}), got {self.overlap}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DepthResult:
    """What a depth run stored: frame indices, whether depth is metric, whether cameras
    were estimated, and pixels whose depth came back invalid (NaN, inf, <= 0)."""

    frames: list[int]
    is_metric: bool
    has_camera: bool
    invalid_pixels: int


def chunk_spans(count: int, chunk: int, overlap: int) -> list[tuple[int, int]]:
    """``[start, stop)`` positions of chunks over ``count`` frames, each ``chunk`` long
    (the last may be shorter but keeps the overlap), consecutive ones sharing ``overlap``."""
    if count <= 0:
        return []
    if chunk >= count or chunk == 1:
        return [(0, count)] if chunk >= count else [(i, i + 1) for i in range(count)]
    spans, start = [], 0
    while True:
        stop = min(start + chunk, count)
        spans.append((start, stop))
        if stop == count:
            return spans
        start = stop - overlap


def depth_job(
    source: FrameSource,
    cache: DepthCache,
    indices: list[int],
    estimator: Estimator,
    options: DepthOptions,
    *,
    cancel: CancelToken | None = None,
) -> Generator[Progress, None, DepthResult]:
    """Estimate depth and cameras for frame ``indices`` of ``source`` into ``cache``.

    Three stages overlap so the network is not left waiting: a reader thread reads and
    prepares the next chunk (``estimator.prepare`` when it has one: resize and
    normalisation) while the network runs this one, and a writer thread resizes the
    finished frames to the source size and writes them (one chunk waits at most). The
    depth range of each frame comes from its depth at the processing resolution. Progress
    reports frames once they are in the cache; cancelling stops between chunks and keeps
    what was written."""
    indices = sorted(set(indices))
    bad = [i for i in indices if not 0 <= i < source.info.frame_count]
    if bad or not indices:
        raise Sam3RotoError(f"frame indices {bad[:5] or '(none)'} are outside the media "
                            f"0..{source.info.frame_count - 1}", path=source.info.path)
    overlap = options.overlap if options.chunk > 1 else 0
    spans = chunk_spans(len(indices), options.chunk, overlap)
    cache.start({
        "preset": estimator.name, "process_res": estimator.process_res, "chunk": options.chunk,
        "overlap": overlap, "width": source.info.width, "height": source.info.height,
        "media": str(source.info.path), "frames": [indices[0], indices[-1]],
    })
    prepare = getattr(estimator, "prepare", None)
    predict_prepared = getattr(estimator, "predict_prepared", None)
    split = callable(prepare) and callable(predict_prepared)
    done: list[int] = []
    invalid = 0
    is_metric = has_camera = False
    prev: tuple[np.ndarray, np.ndarray] | None = None  # aligned (extrinsics, depth) of the next overlap

    def load(span: tuple[int, int]) -> Any:  # reader thread (the only reader of ``source``)
        frames = [source.read(i) for i in indices[span[0]:span[1]]]
        return prepare(frames) if split else frames  # type: ignore[misc]

    def write(chunk: list[int], pred: Prediction, written: list[int], meta: dict[str, bool]) -> list[int]:
        near, far = [], []
        for k in written:
            d, c = pred.at_source(k)
            cache.put(chunk[k], d, c)
            lo, hi = depth_range(pred.depth[k])  # the processing resolution: the same range, far fewer pixels
            near.append(lo)
            far.append(hi)
        cache.put_cameras([chunk[k] for k in written], pred.intrinsics_at_source()[written],
                          pred.extrinsics[written], np.array(near), np.array(far))
        cache.update_meta(**meta)
        return [chunk[k] for k in written]

    yield Progress(0, len(indices), f"depth: {len(indices)} frames in {len(spans)} chunk(s)")
    with ThreadPoolExecutor(1, thread_name_prefix="depth-read") as reader, \
            ThreadPoolExecutor(1, thread_name_prefix="depth-write") as writer:
        pending = reader.submit(load, spans[0])
        writes: list[Future[list[int]]] = []
        try:
            for n, (start, stop) in enumerate(spans):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                chunk = indices[start:stop]
                got = pending.result()
                if n + 1 < len(spans):
                    pending = reader.submit(load, spans[n + 1])
                pred = predict_prepared(got) if split else estimator.predict(got)  # type: ignore[misc]
                invalid += pred.invalid_pixels
                is_metric, has_camera = pred.is_metric, pred.has_camera
                depth, extrinsics = pred.depth, pred.extrinsics
                shared = 0 if prev is None else overlap
                if prev is None:
                    # the first frame's camera becomes the world origin
                    extrinsics = extrinsics @ invert_rigid(extrinsics[0])[None]
                else:
                    confident = pred.confidence[:shared] > 0
                    # zero confidence everywhere: align on every pixel with depth instead
                    valid = confident if int(confident.sum()) >= 16 else None
                    extrinsics, scale = align_chunk(prev[0], prev[1], extrinsics, depth, shared, valid)
                    depth = depth * np.float32(scale)
                if stop < len(indices) and overlap:
                    prev = (extrinsics[-overlap:].copy(), depth[-overlap:].copy())
                pred.depth, pred.extrinsics = depth, extrinsics
                meta = {"is_metric": is_metric, "has_camera": has_camera}
                writes.append(writer.submit(write, chunk, pred, list(range(shared, len(chunk))), meta))
                while len(writes) > 1 or (writes and writes[0].done()):
                    done.extend(writes.pop(0).result())
                    yield Progress(len(done), len(indices), f"depth: frames {done[0]}..{done[-1]}")
            while writes:
                done.extend(writes.pop(0).result())
                yield Progress(len(done), len(indices), f"depth: frames {done[0]}..{done[-1]}")
        finally:
            pending.cancel()
            for w in writes:  # what was computed is written (or fails here) before the job ends
                w.exception()
    return DepthResult(done, is_metric, has_camera, invalid)

"""Read-ahead for SAM3 tracking: frames decoded and preprocessed on a worker thread, the
image encoder run on batches of frames ahead of the tracker's memory/decoder step, its
output held in a bounded cache the transformers session reads.

Per frame the tracker spends most of its time in the image encoder (measured on an H200
in bf16: 24.6 ms/frame at batch 1, 20.2 ms/frame at batch 8), and the encoder does not
depend on the masks: only the memory attention and mask decoder do. So the frames a walk
will visit are known in advance and encoded in batches; the walk itself then runs only
the per-object step. The cache replaces the session's (``inference_session.cache``,
whose stock size is one frame and which evicts the lowest frame number, the wrong one
when walking backward) and keeps at most one batch of features plus the frames the
tracker encoded itself (prompt frames).

Masks come back as bits: binarised and packed on the device, 1/8 of the bytes copied.

Heavy imports (torch) happen in the functions that need them.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: Frames encoded per batch on a GPU (the encoder's time per frame levels off about here).
GPU_BATCH = 8
#: Features kept for frames the tracker encoded itself (prompt frames, re-runs).
SIDE_CAPACITY = 2

Features = dict[str, Any]


class ReadAhead:
    """Pixels for ``frames`` (in the order a walk visits them) loaded by a worker thread
    with ``load(frame) -> tensor (3, S, S)``, and their image features computed
    ``batch`` frames at a time with ``encode(tensor (B, 3, S, S)) -> list of B feature
    dicts``.

    At most ``batch`` loaded frames wait in the queue and at most ``batch`` frames of
    features are held, so memory does not grow with the shot. Frames must be asked for
    in order (:meth:`take`); asking for one that is not next is a programming error.
    Call :meth:`close` (or use it as a context manager) to stop the worker.
    """

    def __init__(self, frames: Sequence[int], load: Callable[[int], Any],
                 encode: Callable[[Any], list[Features]], *, batch: int) -> None:
        if batch < 1:
            raise ValueError(f"read-ahead batch must be at least 1, not {batch}")
        self.frames = list(frames)
        self.batch = batch
        self._encode = encode
        self._load = load
        self._next = 0  # index into ``frames`` of the next frame to hand out
        self._ready: OrderedDict[int, tuple[Any, Features]] = OrderedDict()
        self._queue: queue.Queue[tuple[int, Any] | BaseException | None] = queue.Queue(maxsize=batch)
        self._stop = threading.Event()
        self._error: BaseException | None = None  # the worker's, raised when the walk reaches it
        self._thread = threading.Thread(target=self._work, name="sam3-read-ahead", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            for f in self.frames:
                if self._stop.is_set():
                    return
                item = (f, self._load(f))
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # handed to the walk, raised there
            self._put_final(exc)
            return
        self._put_final(None)

    def _put_final(self, item: BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def planned(self, frame: int) -> bool:
        """True when ``frame`` is still to come (or ready) in this read-ahead."""
        return frame in self._ready or frame in self.frames[self._next:]

    def _fill(self) -> None:
        import torch

        got: list[tuple[int, Any]] = []
        while self._error is None and len(got) < self.batch and self._next + len(got) < len(self.frames):
            item = self._queue.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                self._error = item  # the frames before it are still good
                break
            got.append(item)
        if not got:
            if self._error is not None:
                raise self._error
            return
        pixels = torch.stack([p for _, p in got])
        for (f, p), feats in zip(got, self._encode(pixels), strict=True):
            self._ready[f] = (p, feats)

    def take(self, frame: int) -> tuple[Any, Features]:
        """The pixels and image features of ``frame``, the next frame of the walk."""
        if frame not in self._ready:
            expected = self.frames[self._next] if self._next < len(self.frames) else None
            if frame != expected:
                raise RuntimeError(f"read-ahead asked for frame {frame}, expected {expected}")
            self._fill()
        out = self._ready.pop(frame)
        self._next = self.frames.index(frame, self._next) + 1
        return out

    def close(self) -> None:
        """Stop the worker and drop whatever was read ahead."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=5)
        self._ready.clear()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FeatureCache:
    """The tracker session's vision-feature cache (same two methods as transformers'
    ``Sam3TrackerVideoInferenceCache``), bounded: features the walk put there for the
    frame it is about to run (:meth:`put_next`, used once and dropped) plus the last
    :data:`SIDE_CAPACITY` frames the tracker encoded itself."""

    def __init__(self, capacity: int = SIDE_CAPACITY) -> None:
        self.capacity = capacity
        self._side: OrderedDict[int, Features] = OrderedDict()
        self._next: tuple[int, Features] | None = None

    def put_next(self, frame_idx: int, features: Features) -> None:
        """Features of the frame the tracker runs next (dropped after it has read them)."""
        self._next = (frame_idx, features)

    def get_vision_features(self, frame_idx: int) -> Features | None:
        if self._next is not None and self._next[0] == frame_idx:
            return self._next[1]
        feats = self._side.get(frame_idx)
        if feats is not None:
            self._side.move_to_end(frame_idx)
        return feats

    def cache_vision_features(self, frame_idx: int, features: Features) -> None:
        self._side[frame_idx] = features
        self._side.move_to_end(frame_idx)
        while len(self._side) > self.capacity:
            self._side.popitem(last=False)

    def done(self) -> None:
        """The tracker has run the frame given to :meth:`put_next`."""
        self._next = None

    def clear_all(self) -> None:
        self._side.clear()
        self._next = None

    def __len__(self) -> int:
        return len(self._side) + (self._next is not None)


def split_features(output: Any) -> list[Features]:
    """Per-frame feature dicts (as the tracker caches them) from one batched
    ``get_image_features`` output: levels are ``(HW, B, C)``."""
    feats, pos = output.fpn_hidden_states, output.fpn_position_encoding
    n = feats[0].shape[1]
    return [{"vision_feats": [f[:, i:i + 1].contiguous() for f in feats],
             "vision_pos_embeds": [p[:, i:i + 1].contiguous() for p in pos]} for i in range(n)]


_BIT_WEIGHTS: dict[Any, Any] = {}


def pack_on_device(masks: Any) -> np.ndarray:
    """``bool (N, H, W)`` torch masks packed to bits on their device (most significant
    bit first, as ``np.packbits``) and copied back: ``uint8 (N, ceil(H*W/8))``."""
    import torch

    n = masks.shape[0]
    flat = masks.reshape(n, -1)
    pad = (-flat.shape[1]) % 8
    if pad:
        flat = torch.nn.functional.pad(flat, (0, pad))
    weights = _BIT_WEIGHTS.get(flat.device)
    if weights is None:
        weights = _BIT_WEIGHTS[flat.device] = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8,
                                                           device=flat.device)
    packed = (flat.reshape(n, -1, 8).to(torch.uint8) * weights).sum(-1, dtype=torch.uint8)
    return packed.cpu().numpy()

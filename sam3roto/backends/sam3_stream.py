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
    """Pixels and image features of ``frames`` (in the order a walk visits them), made by a
    worker thread ahead of the walk: ``load(frame) -> tensor (3, S, S)`` per frame, then
    ``encode(tensor (B, 3, S, S)) -> list of B feature dicts`` per ``batch`` frames.

    The walk takes them in order (:meth:`take`); at most one batch waits for it while the
    worker makes the next, so memory does not grow with the shot. On a GPU (``device``
    ``cuda...``) the worker runs on a CUDA stream of its own, so the encoder overlaps the
    tracker instead of stalling the frame that would start a batch; the walk's stream waits
    for each batch's event before it reads the tensors. A frame that cannot be read is
    raised by :meth:`take` when the walk reaches it (the frames before it are delivered).
    Call :meth:`close` (or use it as a context manager) to stop the worker.
    """

    def __init__(self, frames: Sequence[int], load: Callable[[int], Any],
                 encode: Callable[[Any], list[Features]], *, batch: int, device: str = "cpu") -> None:
        if batch < 1:
            raise ValueError(f"read-ahead batch must be at least 1, not {batch}")
        self.frames = list(frames)
        self.batch = batch
        self._encode = encode
        self._load = load
        self._remaining = set(self.frames)
        self._queue: queue.Queue[tuple[int, Any, Features, Any] | BaseException | None] = queue.Queue(maxsize=batch)
        self._stop = threading.Event()
        self._device = device
        self._thread = threading.Thread(target=self._work, name="sam3-read-ahead", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        import contextlib

        import torch

        side = torch.cuda.Stream(device=self._device) if self._device.startswith("cuda") else None
        with torch.cuda.stream(side) if side is not None else contextlib.nullcontext():
            got: list[tuple[int, Any]] = []
            error: BaseException | None = None
            for i, f in enumerate(self.frames):
                if self._stop.is_set():
                    return
                try:
                    got.append((f, self._load(f)))
                    if len(got) == self.batch or i == len(self.frames) - 1:
                        batch, got = got, []
                        self._deliver(batch, side)
                except BaseException as exc:  # raised in the walk when it gets there
                    error = exc
                    break
            if error is not None and got:  # the frames read before the one that failed
                try:
                    self._deliver(got, side)
                except BaseException as exc:
                    error = exc
            self._put(error)

    def _deliver(self, got: list[tuple[int, Any]], side: Any) -> None:
        import torch

        feats = self._encode(torch.stack([p for _, p in got]))
        event = None
        if side is not None:
            event = torch.cuda.Event()
            event.record(side)
        for (f, p), ft in zip(got, feats, strict=True):
            self._put((f, p, ft, event))

    def _put(self, item: tuple[int, Any, Features, Any] | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def planned(self, frame: int) -> bool:
        """True when ``frame`` is still to come in this read-ahead."""
        return frame in self._remaining

    def take(self, frame: int) -> tuple[Any, Features]:
        """The pixels and image features of ``frame``, the next frame of the walk."""
        if frame not in self._remaining:
            raise RuntimeError(f"read-ahead asked for frame {frame}, which it does not hold")
        item = self._queue.get()
        if item is None:
            raise RuntimeError(f"read-ahead ended before frame {frame}")
        if isinstance(item, BaseException):
            self._remaining.clear()
            raise item
        f, pixels, feats, event = item
        if f != frame:
            raise RuntimeError(f"read-ahead asked for frame {frame}, expected {f}")
        self._remaining.discard(f)
        if event is not None:  # the walk's stream waits for the worker's, and keeps its tensors
            import torch

            current = torch.cuda.current_stream()
            current.wait_event(event)
            for t in (pixels, *_tensors(feats)):
                t.record_stream(current)
        return pixels, feats

    def close(self) -> None:
        """Stop the worker and drop whatever was read ahead."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=30)
        self._remaining.clear()

    @property
    def stopped(self) -> bool:
        """Whether the worker has ended (its reader may be closed)."""
        return not self._thread.is_alive()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tensors(feats: Features) -> list[Any]:
    out: list[Any] = []
    for value in feats.values():
        out.extend(value if isinstance(value, list | tuple) else [value])
    return out


class FeatureCache:
    """The tracker session's vision-feature cache (same two methods as transformers'
    ``Sam3TrackerVideoInferenceCache``), bounded: features the walk put there for the
    frame it is about to run (:meth:`put_next`) plus those of the last
    :data:`SIDE_CAPACITY` frames run or encoded by the tracker itself."""

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
        """The tracker has run the frame given to :meth:`put_next`; its features stay
        among the last few (a prompt or an object found there reuses them)."""
        if self._next is not None:
            self.cache_vision_features(*self._next)
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


def encode_compiled(models: Any, pixels: Any, batch: int) -> list[Features]:
    """:func:`split_features` of the tracker's ``get_image_features`` on ``pixels``
    (``(B, 3, S, S)`` on the model's device and dtype) through the compiled vision encoder
    (``models.compiled_encoder()``). A short last batch is padded to ``batch`` frames (its
    own shape would compile again) and the padding dropped."""
    import torch

    n = pixels.shape[0]
    if n < batch:
        pixels = torch.cat([pixels, pixels[-1:].expand(batch - n, -1, -1, -1)])
    tracker = models.tracker
    out = models.compiled_encoder()(pixels, return_dict=True)
    # what Sam3TrackerVideoModel.get_image_features does after its vision encoder
    maps = list(out.fpn_hidden_states[:-1])
    maps[0] = tracker.mask_decoder.conv_s0(maps[0])
    maps[1] = tracker.mask_decoder.conv_s1(maps[1])
    out.fpn_hidden_states = [m.flatten(2).permute(2, 0, 1) for m in maps]
    out.fpn_position_encoding = [p.flatten(2).permute(2, 0, 1) for p in out.fpn_position_encoding[:-1]]
    return split_features(out)[:n]


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

"""SAM3 through transformers: text finds every instance, clicks and boxes segment, video
tracking propagates both ways from keyframes.

* ``Sam3Model`` turns a text prompt on a frame into instance masks; each instance becomes an
  object, handed to the tracker as a mask prompt.
* ``Sam3TrackerVideoModel`` takes clicks/boxes (or masks) on keyframes and tracks. The session
  is driven frame by frame in streaming mode so the adapter controls memory: frames and
  per-frame outputs behind the memory window are dropped as tracking moves on (stock
  sessions keep every frame, ~18 GB for 1000 full-size frames).
* Corrections stick: a prompt on a frame that was already tracked is turned into a
  conditioning frame first (transformers would store it as an ordinary tracked frame and
  recompute it without the clicks on the next propagation).

Heavy imports (torch, transformers) happen in the functions that need them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sam3roto.backends.base import (
    Capabilities,
    Direction,
    Engine,
    FrameMasks,
    PackedMask,
    SegmentationSession,
    check_mask,
    frame_range,
)
from sam3roto.backends.device import pick_device, pick_dtype, set_threads
from sam3roto.backends.sam3_batch import condition_alone, track_frame
from sam3roto.backends.sam3_models import (  # noqa: F401 - re-exported: the engine's public names
    DEFAULT_MODEL_ID,
    INSTALL_HINT,
    WEIGHT_PATTERNS,
    Sam3Models,
    load_models,
    resolve_model_dir,
    share_backbone,
    weights_status,
)
from sam3roto.backends.sam3_stream import (
    GPU_BATCH,
    FeatureCache,
    ReadAhead,
    encode_compiled,
    pack_on_device,
    split_features,
)
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt, TextPrompt
from sam3roto.errors import DeviceMemoryError, ModelNotInstalledError
from sam3roto.media.source import FrameSource

CAPABILITIES = Capabilities(text=True, points=True, boxes=True, video=True, masks=True, everything=True)


def default_read_ahead(device: str) -> int:
    """Frames encoded per batch ahead of tracking: :data:`GPU_BATCH` on a GPU; on the CPU
    one (batches do not make the encoder faster there, the worker still overlaps reading
    and preprocessing with the tracker)."""
    return GPU_BATCH if device.startswith("cuda") else 1


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError | MemoryError) or "out of memory" in str(exc).lower()


class Sam3Session(SegmentationSession):
    """A SAM3 tracking session on one source (see the module docstring)."""

    capabilities = CAPABILITIES

    def __init__(self, source: FrameSource, models: Sam3Models, *, device: str, dtype: Any,
                 text_threshold: float = 0.5, read_ahead: int | None = None, batch_objects: bool = True,
                 compile_encoder: bool = False) -> None:
        super().__init__(source)
        self.models = models
        self.device, self.dtype = device, dtype
        self.text_threshold = text_threshold
        #: Frames encoded per batch ahead of the tracker during propagation (0: the
        #: per-frame path, each frame read and encoded when the tracker reaches it).
        self.read_ahead = default_read_ahead(device) if read_ahead is None else int(read_ahead)
        if self.read_ahead < 0:
            raise ValueError(f"read_ahead must be 0 (off) or a batch size, not {read_ahead}")
        #: Objects tracked together through the memory attention and mask decoder
        #: (:mod:`sam3roto.backends.sam3_batch`); False: transformers' per-object step.
        self.batch_objects = batch_objects
        #: The read-ahead's encoder under ``torch.compile`` (opt-in: minutes to compile
        #: at full size, then faster batches on a GPU; see :meth:`Sam3Models.compiled_encoder`).
        self.compile_encoder = compile_encoder
        cfg = models.tracker.config
        #: Non-conditioning frames kept behind the current one (memory window).
        self.window = max(int(getattr(cfg, "num_maskmem", 7)), int(getattr(cfg, "max_object_pointers_in_encoder", 16)))
        #: Mask keyframes (text instances, imported mattes), bit-packed, by (object, frame).
        self._key_masks: dict[tuple[int, int], PackedMask] = {}
        #: Keyframe masks edited to obey their prompts, as returned: the tracker holds them
        #: at its mask resolution only, propagation gives these back.
        self._shown: dict[tuple[int, int], PackedMask] = {}
        self._new_session()

    # -- session state -----------------------------------------------------------
    def _new_session(self) -> None:
        # Preprocessed frames stay on the inference device (a GPU resizes them where they
        # are used; the memory window bounds how many are held).
        self.state = self.models.tracker_processor.init_video_session(
            inference_device=self.device, video_storage_device=self.device, inference_state_device=self.device,
            dtype=self.dtype)
        self.state.cache = FeatureCache()

    def _pixels(self, index: int, source: FrameSource | None = None) -> Any:
        """Frame ``index`` preprocessed for the model on the inference device:
        ``float (3, S, S)``. ``source``: the reader to use (another thread's clone)."""
        from sam3roto.core.pixels import to_uint8

        rgb = to_uint8((source or self.source).read(index))
        vp = self.models.tracker_processor.video_processor
        device = self.state.video_storage_device  # where the session keeps its frames
        return vp(videos=rgb[None], return_tensors="pt", device=device).pixel_values_videos[0][0]

    def _encode(self, pixels: Any) -> list[dict[str, Any]]:
        """Image features of a batch of preprocessed frames ``(B, 3, S, S)``, one dict per
        frame as the tracker caches them."""
        import torch

        with torch.inference_mode():
            pixels = pixels.to(self.state.inference_device, dtype=self.dtype)
            if self.compile_encoder and self.device == str(self.state.inference_device):
                return encode_compiled(self.models, pixels, self.read_ahead)
            out = self.models.tracker.get_image_features(pixels, return_dict=True)
        return split_features(out)

    def _ensure_frame(self, index: int) -> None:
        frames = self.state.processed_frames
        if frames is None or index not in frames:
            self.state.add_new_frame(self._pixels(index), index)

    def _cond_frames(self) -> set[int]:
        out: set[int] = set()
        for d in self.state.output_dict_per_obj.values():
            out.update(d["cond_frame_outputs"])
        return out

    def prune(self, current: int, reverse: bool) -> None:
        """Drop frames and per-frame outputs that fell out of the memory window (keyframes'
        outputs stay; their pixels are read again if a prompt is added there)."""

        def stale(f: int) -> bool:
            return (f < current - self.window) if not reverse else (f > current + self.window)

        frames = self.state.processed_frames or {}
        for f in [f for f in frames if stale(f)]:
            del frames[f]
        for d in self.state.output_dict_per_obj.values():
            for f in [f for f in d["non_cond_frame_outputs"] if stale(f)]:
                del d["non_cond_frame_outputs"][f]
            for out in (*d["cond_frame_outputs"].values(), *d["non_cond_frame_outputs"].values()):
                if isinstance(out, dict):
                    out.pop("high_res_masks", None)  # 4 MB each at full size; not read again

    def memory_items(self) -> int:
        """How many frames and outputs the session holds (tests check it stays bounded)."""
        n = len(self.state.processed_frames or {})
        for d in self.state.output_dict_per_obj.values():
            n += len(d["cond_frame_outputs"]) + len(d["non_cond_frame_outputs"])
        return n

    def _masks(self, output: Any) -> tuple[dict[int, np.ndarray], dict[int, float]]:
        """Masks at source size and object scores (sigmoid of the object score logit: how
        sure the tracker is that the object is on the frame), by object id. Masks are
        resized and binarised on the device and copied back as bits."""
        proc = self.models.tracker_processor
        logits = output.pred_masks.float()
        masks = proc.post_process_masks([logits], original_sizes=[[self.height, self.width]], binarize=True)[0]
        ids = list(output.object_ids) if getattr(output, "object_ids", None) is not None else self.state.obj_ids
        present = output.object_score_logits
        scores = [1.0] * len(ids) if present is None else present.float().sigmoid().reshape(len(ids), -1)[:, 0].tolist()
        bits = pack_on_device(masks[:, 0])
        shape = (self.height, self.width)
        return ({int(o): PackedMask.from_bits(bits[i], shape).unpack() for i, o in enumerate(ids)},
                {int(o): float(scores[i]) for i, o in enumerate(ids)})

    def _run(self, index: int, reverse: bool = False) -> tuple[dict[int, np.ndarray], dict[int, float]]:
        import torch

        self._ensure_frame(index)
        try:
            with torch.inference_mode():
                pixels = self.state.processed_frames[index]
                if self.batch_objects:
                    out = track_frame(self.models.tracker, self.state, index, pixels, reverse)
                else:
                    out = self.models.tracker(inference_session=self.state, frame_idx=index, frame=pixels,
                                              reverse=reverse)
        except (RuntimeError, MemoryError) as exc:
            self._out_of_memory(exc, index)
            return self._run(index, reverse)
        return self._masks(out)

    def _out_of_memory(self, exc: BaseException, index: int, doing: str = "at frame") -> None:
        """``exc`` raised at frame ``index``: re-raise it unless it is running out of
        memory; out of GPU memory, carry on on the CPU (:meth:`_fall_back_to_cpu`); out of
        CPU memory, a :class:`DeviceMemoryError`."""
        import torch

        if not _is_oom(exc):
            raise exc
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if self.device == "cpu":
            raise DeviceMemoryError(
                f"out of memory on the CPU {doing} {index}",
                hint="track fewer objects at once, close other applications, or split the shot",
            ) from exc
        self._fall_back_to_cpu(index)

    def _fall_back_to_cpu(self, index: int) -> None:
        """Out of GPU memory: move the models to the CPU, rebuild the session from the
        keyframes there and carry on (slower, but the job finishes)."""
        previous = self.device
        self.device = "cpu"
        self.dtype = pick_dtype("cpu")
        self.models.to("cpu", self.dtype)
        self._replay()
        self.notices.append(f"out of memory on {previous} at frame {index}: continuing on the CPU (slower)")

    def _replay(self) -> None:
        """A fresh session holding every keyframe again (prompts and mask keyframes)."""
        self._new_session()
        for o in self.object_ids():
            for f, ps in sorted(self.prompts(o).items()):
                clicks: list[Prompt] = [p for p in ps if not isinstance(p, TextPrompt)]
                if clicks:
                    self.set_prompts(f, o, clicks)
                elif (o, f) in self._key_masks:
                    self.add_mask(f, o, self._key_masks[(o, f)].unpack())

    def _make_conditioning(self, obj_id: int, frame: int) -> None:
        """Forget ``obj_id``'s tracked output on ``frame`` so new prompts there become a
        conditioning frame (the stock session would keep them as a tracked frame)."""
        if obj_id not in self.state.obj_ids:
            return
        oi = self.state.obj_id_to_idx(obj_id)
        self.state.frames_tracked_per_obj[oi].pop(frame, None)
        self.state.output_dict_per_obj[oi]["non_cond_frame_outputs"].pop(frame, None)
        self.state.output_dict_per_obj[oi]["cond_frame_outputs"].pop(frame, None)

    # -- prompts -----------------------------------------------------------------
    def _set_prompts(self, frame: int, obj_id: int, prompts: list[Prompt]) -> dict[int, np.ndarray]:
        self._shown.pop((obj_id, frame), None)
        texts = [p for p in prompts if isinstance(p, TextPrompt)]
        clicks = [p for p in prompts if not isinstance(p, TextPrompt)]
        if texts:
            result = {}
            for t in texts:
                result.update(self._add_text(frame, t, obj_id))
            return result
        if not clicks:
            self._prompts.get(obj_id, {}).pop(frame, None)
            self._make_conditioning(obj_id, frame)
            return {}
        self._prompts.setdefault(obj_id, {})[frame] = list(clicks)
        self._ensure_frame(frame)
        self._make_conditioning(obj_id, frame)
        points = [[p.x, p.y] for p in clicks if isinstance(p, PointPrompt)]
        labels = [int(p.positive) for p in clicks if isinstance(p, PointPrompt)]
        boxes = [list(p.xyxy_px) for p in clicks if isinstance(p, BoxPrompt)]
        kwargs: dict[str, Any] = {}
        if points:
            kwargs.update(input_points=[[points]], input_labels=[[labels]])
        if boxes:
            kwargs["input_boxes"] = [[boxes[-1]]]
        self.models.tracker_processor.add_inputs_to_inference_session(
            self.state, frame_idx=frame, obj_ids=obj_id, original_size=(self.height, self.width), **kwargs)
        masks, _ = self._run(frame)
        return {obj_id: masks[obj_id]}

    def _constrained(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        # Re-condition the object on the mask the artist saw (it replaces the clicks as the
        # tracker's input there; the clicks stay the keyframe's prompts).
        self._shown[(obj_id, frame)] = PackedMask(mask)
        self._condition_on_mask(frame, obj_id, mask)

    def find_instances(self, frame: int, text: str) -> list[np.ndarray]:
        import torch

        self.check_frame(frame)
        if self.models.detector is None:
            raise ModelNotInstalledError("the SAM3 text model is not loaded", hint=INSTALL_HINT)
        from sam3roto.core.pixels import to_uint8

        rgb = to_uint8(self.source.read(frame))
        proc = self.models.detector_processor
        inputs = proc(images=rgb, text=text, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            out = self.models.detector(**inputs)
        res = proc.post_process_instance_segmentation(
            out, threshold=self.text_threshold, mask_threshold=0.5, target_sizes=[(self.height, self.width)])[0]
        scores = res["scores"].float().cpu().tolist()
        masks = [np.asarray(m.cpu().numpy(), dtype=bool) for m in res["masks"]]
        ranked = sorted(zip(scores, range(len(masks)), masks, strict=True), key=lambda t: (-t[0], t[1]))
        return [m for _, _, m in ranked if m.any()]

    def segment_everything(self, frame: int) -> np.ndarray:
        """SAM's automatic masks (a grid of points through the tracker's image path), as
        pickable regions; parts claim their pixels before the wholes that hold them, so
        picks can add up to a whole (see :mod:`sam3roto.backends.sam3_everything`)."""
        from sam3roto.backends.sam3_everything import segment_everything
        from sam3roto.core.pixels import to_uint8

        self.check_frame(frame)
        rgb = to_uint8(self.source.read(frame))
        try:
            return segment_everything(self.models, rgb, device=self.device, dtype=self.dtype, claim="parts")
        except (RuntimeError, MemoryError) as exc:
            self._out_of_memory(exc, frame, "segmenting everything on frame")
            return segment_everything(self.models, rgb, device=self.device, dtype=self.dtype, claim="parts")

    def _add_text(self, frame: int, prompt: TextPrompt, first_id: int) -> dict[int, np.ndarray]:
        found: dict[int, np.ndarray] = {}
        for mask in self.find_instances(frame, prompt.text):
            obj_id = first_id + len(found)
            self._prompts.setdefault(obj_id, {})[frame] = [prompt] if not found else []
            self.add_mask(frame, obj_id, mask)
            found[obj_id] = mask
        return found

    def add_mask(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        self.check_frame(frame)
        m = check_mask(mask, self.width, self.height)
        self._prompts.setdefault(obj_id, {}).setdefault(frame, [])
        self._key_masks[(obj_id, frame)] = PackedMask(m)  # to rebuild the session
        self._shown.pop((obj_id, frame), None)
        self._condition_on_mask(frame, obj_id, m)

    def add_found(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        import torch

        self.check_frame(frame)
        m = check_mask(mask, self.width, self.height)
        if obj_id in self.state.obj_ids or not self.state.obj_ids:
            self.add_mask(frame, obj_id, m)  # not a new object among tracked ones: the usual way
            return
        self._prompts.setdefault(obj_id, {}).setdefault(frame, [])
        self._key_masks[(obj_id, frame)] = PackedMask(m)  # to rebuild the session
        self._ensure_frame(frame)
        self.models.tracker_processor.add_inputs_to_inference_session(
            self.state, frame_idx=frame, obj_ids=obj_id, input_masks=m.astype(np.float32),
            original_size=(self.height, self.width))
        try:
            with torch.inference_mode():
                condition_alone(self.models.tracker, self.state, obj_id, frame)
        except (RuntimeError, MemoryError) as exc:
            self._out_of_memory(exc, frame)  # on the CPU now, rebuilt with this keyframe too

    def _condition_on_mask(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        self._ensure_frame(frame)
        self._make_conditioning(obj_id, frame)
        self.models.tracker_processor.add_inputs_to_inference_session(
            self.state, frame_idx=frame, obj_ids=obj_id, input_masks=mask.astype(np.float32),
            original_size=(self.height, self.width))
        self._run(frame)

    def remove_object(self, obj_id: int) -> None:
        self.check_object(obj_id)
        self._prompts.pop(obj_id, None)
        for table in (self._key_masks, self._shown):
            for key in [k for k in table if k[0] == obj_id]:
                del table[key]
        # transformers sessions cannot drop one object; rebuild from the remaining keyframes.
        self._replay()

    def close(self) -> None:
        self.state = None

    # -- tracking ------------------------------------------------------------------
    def _clear_tracked(self) -> None:
        for oi, d in self.state.output_dict_per_obj.items():
            d["non_cond_frame_outputs"].clear()
            self.state.frames_tracked_per_obj[oi].clear()

    def _needs_features(self, frame: int) -> bool:
        """Whether the tracker will run the image encoder on ``frame`` (not when every
        object has a keyframe output there: it is reused)."""
        return any(frame not in d["cond_frame_outputs"] for d in self.state.output_dict_per_obj.values())

    def _walk(self, frames: list[int], reverse: bool) -> Iterator[FrameMasks]:
        if not self.read_ahead:
            yield from self._walk_frames(frames, reverse, None)
            return
        reader = self.source.clone()  # the worker thread's own reader
        ahead = None
        try:
            plan = [f for f in frames if self._needs_features(f)]
            ahead = ReadAhead(plan, lambda f: self._pixels(f, reader), self._encode, batch=self.read_ahead,
                              device=str(self.state.inference_device))
            yield from self._walk_frames(frames, reverse, ahead)
        finally:
            if ahead is not None:
                ahead.close()
            if ahead is None or ahead.stopped:  # never under a worker still decoding
                reader.close()

    def _walk_frames(self, frames: list[int], reverse: bool, ahead: ReadAhead | None) -> Iterator[FrameMasks]:
        device = self.device
        for f in frames:
            if ahead is not None and self.device != device:  # fell back to the CPU (here or between
                ahead.close()  # steps): what was read ahead is on the GPU; the tracker encodes each
                ahead = None  # frame from here on
            if ahead is not None and ahead.planned(f):
                try:
                    pixels, features = ahead.take(f)
                except (RuntimeError, MemoryError) as exc:  # the batched encoder ran out of memory
                    ahead.close()
                    ahead = None
                    self._out_of_memory(exc, f)
                else:
                    self.state.add_new_frame(pixels, f)
                    self.state.cache.put_next(f, features)
            try:
                masks, scores = self._run(f, reverse=reverse)
            finally:
                self.state.cache.done()
            self.prune(f, reverse)
            for o in masks:
                if f in self.state.output_dict_per_obj[self.state.obj_id_to_idx(o)]["cond_frame_outputs"]:
                    scores[o] = 1.0  # a keyframe
                    shown = self._shown.get((o, f))
                    if shown is not None:
                        masks[o] = shown.unpack()
            yield FrameMasks(f, masks, scores)

    def propagate(self, start: int, direction: Direction = "forward", end: int | None = None) -> Iterator[FrameMasks]:
        frames = frame_range(start, direction, end, self.frame_count)
        if not self.state.obj_ids:
            for i, f in enumerate(frames):
                if self.state.obj_ids and direction != "both":
                    # objects added while the walk waited (concept tracking found some)
                    yield from self._walk(frames[i:], reverse=direction == "backward")
                    return
                yield FrameMasks(f)
            return
        self._clear_tracked()
        if direction == "forward":
            yield from self._walk(frames, reverse=False)
        elif direction == "backward":
            yield from self._walk(frames, reverse=True)
        else:
            # Conditioning frames steer both directions, so one pass forward from the first
            # keyframe and one backward from it cover every keyframe.
            lo, hi = frames[0], frames[-1]
            keys = sorted(k for k in self._cond_frames() if lo <= k <= hi)
            pivot = keys[0] if keys else lo
            yield from self._walk(list(range(pivot, hi + 1)), reverse=False)
            if pivot > lo:
                yield from self._walk(list(range(pivot - 1, lo - 1, -1)), reverse=True)


class Sam3Engine(Engine):
    """SAM3 (transformers). Pass ``models`` to use already-built models (tests); otherwise
    weights load from ``model_dir`` or the Hugging Face cache of ``model_id``."""

    name = "sam3"
    label = "SAM3 (text, points, boxes; weights required)"
    capabilities = CAPABILITIES

    def __init__(self, *, model_id: str = DEFAULT_MODEL_ID, model_dir: str | Path | None = None,
                 device: str | None = None, models: Sam3Models | None = None, text: bool = True,
                 text_threshold: float = 0.5, read_ahead: int | None = None, batch_objects: bool = True,
                 compile: bool = False) -> None:
        self.text_threshold = text_threshold
        self.compile = compile  # the read-ahead's encoder under torch.compile
        self.batch_objects = batch_objects
        self.read_ahead = read_ahead  # None: the device's default (see default_read_ahead)
        # missing weights are reported before torch is imported
        folder = resolve_model_dir(model_id, model_dir) if models is None else None
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device)
        set_threads(self.device)
        if models is None:
            models = load_models(folder or resolve_model_dir(model_id, model_dir), device=self.device,
                                 dtype=self.dtype, text=text)
        else:
            share_backbone(models)
            models.to(self.device, self.dtype)
        self.models = models

    def open_session(self, source: FrameSource) -> Sam3Session:
        # A session that ran out of GPU memory moved the shared models to the CPU.
        self.device = next(self.models.tracker.parameters()).device.type
        self.dtype = next(self.models.tracker.parameters()).dtype
        return Sam3Session(source, self.models, device=self.device, dtype=self.dtype,
                           text_threshold=self.text_threshold, read_ahead=self.read_ahead,
                           batch_objects=self.batch_objects, compile_encoder=self.compile)

    def close(self) -> None:
        self.models = None  # type: ignore[assignment]

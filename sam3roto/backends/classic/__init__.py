"""The classical engine: no weights, CPU only, OpenCV.

Prompt-to-mask is GrabCut seeded from the box and clicks, with the object's motion against
the camera as an extra cue. Tracking warps each mask along DIS optical flow and re-fits it to
the image; keyframes re-anchor, and ``both`` fuses the chains from the keyframes on either
side of every frame. Work happens at a working resolution (long side at most
``work_size``), masks come back at source resolution.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import replace

import cv2
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
from sam3roto.backends.classic.appearance import Appearance
from sam3roto.backends.classic.everything import candidate_labels
from sam3roto.backends.classic.segment import mask_from_prompts, motion_residual, prompt_box
from sam3roto.backends.classic.track import move_mask, object_motion, refit, warp_mask
from sam3roto.core.pixels import to_uint8
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt
from sam3roto.media.source import FrameSource
from sam3roto.post.flow import dense_flow, to_gray

CAPABILITIES = Capabilities(text=False, points=True, boxes=True, video=True, masks=True, everything=True)


class ClassicSession(SegmentationSession):
    """A classical-engine session on one source (see the module docstring)."""

    capabilities = CAPABILITIES

    def __init__(self, source: FrameSource, *, work_size: int = 1024, refit_iterations: int = 2) -> None:
        super().__init__(source)
        self.scale = min(1.0, work_size / max(self.width, self.height))
        self.work_shape = (max(1, round(self.height * self.scale)), max(1, round(self.width * self.scale)))
        self.refit_iterations = refit_iterations
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._key: dict[int, dict[int, PackedMask]] = {}
        self._results: dict[int, dict[int, PackedMask]] = {}

    # -- frames ----------------------------------------------------------------------
    def frame(self, index: int) -> np.ndarray:
        """``uint8 (h, w, 3)`` RGB of frame ``index`` at the working resolution (a few are cached)."""
        if index in self._frames:
            self._frames.move_to_end(index)
            return self._frames[index]
        rgb = to_uint8(self.source.read(index))
        if self.scale < 1.0:
            rgb = cv2.resize(rgb, self.work_shape[::-1], interpolation=cv2.INTER_AREA)
        self._frames[index] = rgb
        while len(self._frames) > 8:
            self._frames.popitem(last=False)
        return rgb

    def _flow(self, a: int, b: int) -> np.ndarray:
        return dense_flow(self._dis, to_gray(self.frame(a)), to_gray(self.frame(b)))

    def to_work(self, mask: np.ndarray) -> np.ndarray:
        if self.scale >= 1.0:
            return mask
        small = cv2.resize(mask.view(np.uint8) * np.uint8(255), self.work_shape[::-1], interpolation=cv2.INTER_AREA)
        return np.asarray(small > 127)

    def to_source(self, mask: np.ndarray) -> np.ndarray:
        if self.scale >= 1.0:
            return mask.copy()
        up = cv2.resize(mask.view(np.uint8) * np.uint8(255), (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return np.asarray(up > 127)

    def _scaled(self, prompts: list[Prompt]) -> list[Prompt]:
        s = self.scale
        out: list[Prompt] = []
        for p in prompts:
            if isinstance(p, PointPrompt):
                out.append(replace(p, x=p.x * s, y=p.y * s))
            elif isinstance(p, BoxPrompt):
                out.append(BoxPrompt(p.x0 * s, p.y0 * s, p.x1 * s, p.y1 * s))
        return out

    def _motion(self, index: int, prompts: list[Prompt]) -> np.ndarray | None:
        """Residual motion against the camera around ``index`` (min over a frame 3 ahead and 3 behind)."""
        h, w = self.work_shape
        x0, y0, x1, y1 = prompt_box(prompts, (h, w))
        background = np.ones((h, w), bool)
        background[y0:y1, x0:x1] = False
        residuals = []
        for other in (index + 3, index - 3):
            if 0 <= other < self.frame_count:
                r = motion_residual(self._flow(index, other), background)
                if r is not None:
                    residuals.append(r)
        if not residuals:
            return None
        return np.minimum.reduce(residuals)

    # -- prompts -------------------------------------------------------------------
    def set_prompts(self, frame: int, obj_id: int, prompts: list[Prompt]) -> dict[int, np.ndarray]:
        for p in prompts:
            self.check_prompt(frame, p)
        if not prompts:
            self._prompts.get(obj_id, {}).pop(frame, None)
            self._key.get(obj_id, {}).pop(frame, None)
            return {}
        self._prompts.setdefault(obj_id, {})[frame] = list(prompts)
        work = self._scaled(prompts)
        prior = tracked = None
        known = self._results.get(obj_id, {}).get(frame)
        if known is not None and not any(isinstance(p, BoxPrompt) for p in prompts):
            # Clicks on a tracked frame refine the tracked mask.
            prior = known.unpack()
        elif known is not None:
            # A box on a tracked frame restarts the object from the image, with the tracked
            # mask as one more start where it fits the new prompts (where tracking was
            # nearly right, a fresh start can be worse than what it replaces).
            tracked = known.unpack()
        motion = None if prior is not None else self._motion(frame, work)
        mask = mask_from_prompts(self.frame(frame), work, motion=motion, prior=prior, tracked=tracked)
        self._key.setdefault(obj_id, {})[frame] = PackedMask(mask)
        self._results.setdefault(obj_id, {})[frame] = PackedMask(mask)
        return {obj_id: self.to_source(mask)}

    def add_mask(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        self.check_frame(frame)
        m = self.to_work(check_mask(mask, self.width, self.height))
        self._prompts.setdefault(obj_id, {}).setdefault(frame, [])
        self._key.setdefault(obj_id, {})[frame] = PackedMask(m)
        self._results.setdefault(obj_id, {})[frame] = PackedMask(m)

    def remove_object(self, obj_id: int) -> None:
        self.check_object(obj_id)
        for table in (self._prompts, self._key, self._results):
            table.pop(obj_id, None)

    def mask(self, frame: int, obj_id: int) -> np.ndarray | None:
        """The latest mask of ``obj_id`` on ``frame`` at source resolution, if any."""
        packed = self._results.get(obj_id, {}).get(frame)
        return None if packed is None else self.to_source(packed.unpack())

    # -- tracking ------------------------------------------------------------------
    def step(
        self, mask: np.ndarray, prev: int, cur: int, previous: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Carry ``mask`` (working resolution) from frame ``prev`` to ``cur``: move it with
        the object's motion (per-pixel flow when no motion fits), then re-fit it. Returns the
        mask and the motion used; ``previous`` is the last step's motion (see
        :func:`object_motion`)."""
        motion = object_motion(mask, self._flow(prev, cur), previous)
        warped = warp_mask(mask, self._flow(cur, prev)) if motion is None else move_mask(mask, motion)
        if not warped.any():
            return warped, motion
        return refit(self.frame(cur), warped, iterations=self.refit_iterations), motion

    def recover(
        self, mask: np.ndarray, frame: int, model: Appearance, last_xy: tuple[float, float], expected: float
    ) -> np.ndarray:
        """Check ``mask`` against the object's ``model``; when it looks lost, look for the
        object again and segment it afresh. Lost means collapsed (below 40% of the
        ``expected`` area, the recent tracked area), searched for within half the frame of
        ``last_xy``; or drifted (its colours match the object less than half as well as on
        the keyframe), searched for within one object size. Returns ``mask`` itself when no
        search ran, a new array otherwise."""
        rgb = self.frame(frame)
        area = int(np.count_nonzero(mask))
        prob = model.probability(rgb)  # once per check: it is on the per-frame path
        held = model.support(rgb, mask, prob)
        collapsed = area < 0.4 * expected
        if not collapsed and held >= 0.5 * model.support0:
            return mask
        mask = mask.copy()  # a new object tells the caller a search ran
        reach = np.sqrt(expected) * (1.0 if not collapsed else 1.0 + 0.5 * max(self.work_shape) / np.sqrt(expected))
        box = model.find(rgb, last_xy, search_px=reach, area=expected, probability=prob)
        if box is None:
            return mask
        prompts: list[Prompt] = [BoxPrompt(*(float(v) for v in box))]
        found = mask_from_prompts(rgb, prompts, motion=self._motion(frame, prompts))
        a = int(np.count_nonzero(found))
        if not 0.4 * expected <= a <= 2.5 * expected or model.support(rgb, found, prob) < held + 0.1:
            return mask
        return found

    def _chain(
        self, obj_id: int, frames: list[int], seed: np.ndarray | None
    ) -> Iterator[tuple[int, np.ndarray | None]]:
        """Walk ``frames`` in order, re-anchoring on keyframes; yield (frame, mask or None)."""
        keys = self._key.get(obj_id, {})
        mask = seed
        model = None if seed is None else Appearance.learn(self.frame(frames[0]), seed)
        prev: int | None = None
        last_xy = (0.0, 0.0)
        expected = 0.0  # recent tracked area (a running mean), to tell a collapse from a scale change
        cooldown = 0
        motion: np.ndarray | None = None
        for f in frames:
            if f in keys:
                mask = keys[f].unpack()
                model = Appearance.learn(self.frame(f), mask) or model
                expected = float(np.count_nonzero(mask))
                motion = None
            elif mask is not None and prev is not None:
                mask, motion = self.step(mask, prev, f, motion)
                if model is not None and cooldown <= 0:
                    found = self.recover(mask, f, model, last_xy, expected or model.area)
                    # A search is costly (GrabCut + motion flows): wait a few frames before the next one.
                    cooldown = 5 if found is not mask else 0
                    if found is not mask:
                        motion = None
                    mask = found
                cooldown -= 1
            if mask is not None and mask.any():
                ys, xs = np.nonzero(mask)
                last_xy = (float(xs.mean()), float(ys.mean()))
                expected = xs.size if expected == 0.0 else 0.7 * expected + 0.3 * xs.size
            prev = f
            yield f, mask

    def segment_everything(self, frame: int) -> np.ndarray:
        """Candidate regions of the frame at source resolution (see ``everything.py``)."""
        self.check_frame(frame)
        return candidate_labels(to_uint8(self.source.read(frame)))

    def propagate(
        self, start: int, direction: Direction = "forward", end: int | None = None
    ) -> Iterator[FrameMasks]:
        frames = frame_range(start, direction, end, self.frame_count)
        objects = [o for o in self.object_ids() if self._key.get(o)]
        if direction == "both":
            yield from self._propagate_both(frames, objects)
            return
        chains = {}
        for o in objects:
            known = self._results.get(o, {}).get(frames[0])
            chains[o] = self._chain(o, frames, None if known is None else known.unpack())
        for f in frames:
            out = FrameMasks(f)
            for o, chain in chains.items():
                _, m = next(chain)
                if m is not None:
                    self._results[o][f] = PackedMask(m)
                    out.masks[o] = self.to_source(m)
            yield out

    def _propagate_both(self, frames: list[int], objects: list[int]) -> Iterator[FrameMasks]:
        lo, hi = frames[0], frames[-1]
        fused: dict[int, dict[int, PackedMask]] = {o: {} for o in objects}
        for o in objects:
            keys = sorted(self._key[o])
            # Forward chains from each keyframe, then backward chains, fused per frame by distance.
            fwd_packed = {f: PackedMask(m) for f, m in self._chain(o, list(range(lo, hi + 1)), None) if m is not None}
            for f, back in self._chain(o, list(range(hi, lo - 1, -1)), None):
                ahead = fwd_packed.pop(f, None)
                if back is None and ahead is None:
                    continue
                if ahead is None:
                    fused[o][f] = PackedMask(back)  # type: ignore[arg-type]
                    continue
                if back is None:
                    fused[o][f] = ahead
                    continue
                prev_k = max((k for k in keys if k <= f), default=None)
                next_k = min((k for k in keys if k >= f), default=None)
                d_prev = f - prev_k if prev_k is not None else 1 << 30
                d_next = next_k - f if next_k is not None else 1 << 30
                a = ahead.unpack()
                if d_prev == 0 or d_next == 0:
                    fused[o][f] = PackedMask(a if d_prev == 0 else back)
                    continue
                w_prev = d_next / (d_prev + d_next)
                mix = w_prev * a.astype(np.float32) + (1.0 - w_prev) * back.astype(np.float32)
                fused[o][f] = PackedMask(mix > 0.5 if w_prev != 0.5 else a | back)
        for f in frames:
            out = FrameMasks(f)
            for o in objects:
                packed = fused[o].pop(f, None)
                if packed is not None:
                    self._results[o][f] = packed
                    out.masks[o] = self.to_source(packed.unpack())
            yield out


class ClassicEngine(Engine):
    """Factory for :class:`ClassicSession`; needs no model."""

    name = "classic"
    label = "Classical (no weights, CPU)"
    capabilities = CAPABILITIES

    def __init__(self, *, work_size: int = 1024, refit_iterations: int = 2, device: str | None = None) -> None:
        self.work_size = work_size
        self.refit_iterations = refit_iterations

    def open_session(self, source: FrameSource) -> ClassicSession:
        return ClassicSession(source, work_size=self.work_size, refit_iterations=self.refit_iterations)

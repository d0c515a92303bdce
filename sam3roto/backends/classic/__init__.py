"""The classical engine: no weights, CPU only, OpenCV.

Prompt-to-mask is GrabCut seeded from the box and clicks, with the object's motion against
the camera as an extra cue. Tracking warps each mask along DIS optical flow and re-fits it to
the image; keyframes re-anchor, and ``both`` fuses the chains from the keyframes on either
side of every frame. Work happens at a working resolution (long side at most
``work_size``), masks come back at source resolution.

Tiny frames (an 8x8 sequence, the 4x4 members of a ZIP) are worked on upsampled, so that
the short side is at least :data:`MIN_WORK_SIDE` pixels: DIS optical flow refuses images
under 12 pixels a side, and GrabCut's bands and click discs need room. Any frame size
tracks, down to 1x1, as long as the long side is at most :data:`MAX_ASPECT` times the
short one; thinner frames are refused with an :class:`~sam3roto.errors.EngineError`
naming the size (the upsampled working frame would be too large).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

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
from sam3roto.backends.constraints import obey_prompts
from sam3roto.core.pixels import to_uint8
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt
from sam3roto.errors import EngineError, MediaError
from sam3roto.media.source import FrameSource
from sam3roto.post.flow import dense_flow, to_gray

#: GrabCut iterations of a refinement (one more click on a mask). On DAVIS frames (4
#: sequences x 3 frames at 1024 px, 8 alternating clicks from the ground truth) 1 gave J
#: 0.617 and 192 ms a click (p50), 2 gave 0.617 and 319 ms: the mask it starts from is
#: close already (5 iterations, before the region held the whole mask: 0.608, 573 ms).
REFINE_ITERATIONS = 1

CAPABILITIES = Capabilities(text=False, points=True, boxes=True, video=True, masks=True, everything=True)

#: The short side of the working resolution, at least (frames smaller are upsampled to it).
#: DIS optical flow needs 12 px a side; at 32 a click's disc (3 px), a re-fit band (3 px
#: and more) and GrabCut's crop margins (8 px) still leave the object room.
MIN_WORK_SIDE = 32
#: The long side of a frame may be at most this many times its short side: a thinner frame
#: upsampled to :data:`MIN_WORK_SIDE` would be longer than 4096 px.
MAX_ASPECT = 128


def work_scale(width: int, height: int, work_size: int, path: str | Path | None = None) -> float:
    """The factor from source to working resolution: the long side brought down to
    ``work_size``, or a small frame's short side up to :data:`MIN_WORK_SIDE`. Raises
    :class:`EngineError` (naming ``path``) for frames thinner than :data:`MAX_ASPECT` allows."""
    long, short = max(width, height), min(width, height)
    if short < 1:
        raise EngineError(f"frames of {width}x{height} hold no pixels to track", path=path)
    if long > MAX_ASPECT * short:
        raise EngineError(
            f"frames of {width}x{height} are too thin for the classical engine: it tracks frames whose long side "
            f"is at most {MAX_ASPECT} times the short side (here at least {-(-long // MAX_ASPECT)} px across)",
            path=path, hint="use another engine for this media")
    scale = min(1.0, work_size / long)
    if short * scale < MIN_WORK_SIDE:
        scale = MIN_WORK_SIDE / short
    return scale


class ClassicSession(SegmentationSession):
    """A classical-engine session on one source (see the module docstring)."""

    capabilities = CAPABILITIES

    def __init__(self, source: FrameSource, *, work_size: int = 1024, refit_iterations: int = 2) -> None:
        super().__init__(source)
        self.scale = work_scale(self.width, self.height, work_size, source.info.path)
        self.work_shape = (max(1, round(self.height * self.scale)), max(1, round(self.width * self.scale)))
        self.refit_iterations = refit_iterations
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._flows: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._key: dict[int, dict[int, PackedMask]] = {}
        self._results: dict[int, dict[int, PackedMask]] = {}
        self._scores: dict[int, dict[int, float]] = {}
        #: Frames whose result came from tracking, and the tracked masks that keyframes
        #: replaced since: the prior for prompts there.
        self._tracked: dict[int, set[int]] = {}
        self._prior: dict[int, dict[int, PackedMask]] = {}
        #: (object, frame) -> (the tracked mask they refined, [(click, mask so far)]).
        self._refined: OrderedDict[tuple[int, int], tuple[PackedMask | None, list[tuple[Prompt, PackedMask]]]] = \
            OrderedDict()

    # -- frames ----------------------------------------------------------------------
    def frame(self, index: int) -> np.ndarray:
        """``uint8 (h, w, 3)`` RGB of frame ``index`` at the working resolution (a few are cached)."""
        if index in self._frames:
            self._frames.move_to_end(index)
            return self._frames[index]
        rgb = to_uint8(self.source.read(index))
        if self.scale != 1.0:
            rgb = cv2.resize(rgb, self.work_shape[::-1],
                             interpolation=cv2.INTER_AREA if self.scale < 1.0 else cv2.INTER_LINEAR)
        self._frames[index] = rgb
        while len(self._frames) > 8:
            self._frames.popitem(last=False)
        return rgb

    def _flow(self, a: int, b: int) -> np.ndarray:
        """Optical flow from frame ``a`` to ``b``; the last few are kept (clicks on one frame
        ask for the same motion flows again, and so does a step that warps both ways)."""
        key = (a, b)
        if key in self._flows:
            self._flows.move_to_end(key)
            return self._flows[key]
        flow = dense_flow(self._dis, to_gray(self.frame(a)), to_gray(self.frame(b)))
        flow.setflags(write=False)  # shared by every caller
        self._flows[key] = flow
        while len(self._flows) > 4:
            self._flows.popitem(last=False)
        return flow

    def to_work(self, mask: np.ndarray) -> np.ndarray:
        """A source-resolution mask at the working resolution (a small frame's pixels become
        blocks)."""
        if self.scale == 1.0:
            return mask
        how = cv2.INTER_AREA if self.scale < 1.0 else cv2.INTER_NEAREST
        work = cv2.resize(mask.view(np.uint8) * np.uint8(255), self.work_shape[::-1], interpolation=how)
        return np.asarray(work > 127)

    def to_source(self, mask: np.ndarray) -> np.ndarray:
        """A working-resolution mask at source resolution (an upsampled frame's pixel is in
        the mask when most of its block is)."""
        if self.scale == 1.0:
            return mask.copy()
        how = cv2.INTER_LINEAR if self.scale < 1.0 else cv2.INTER_AREA
        out = cv2.resize(mask.view(np.uint8) * np.uint8(255), (self.width, self.height), interpolation=how)
        return np.asarray(out > 127)

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
        """Residual motion against the camera around ``index`` (min over a frame 3 ahead and 3
        behind). A neighbour that cannot be decoded only takes its cue away: the prompts on
        ``index`` still segment, and tracking reports the damaged frame when it gets there."""
        h, w = self.work_shape
        x0, y0, x1, y1 = prompt_box(prompts, (h, w))
        background = np.ones((h, w), bool)
        background[y0:y1, x0:x1] = False
        residuals = []
        for other in (index + 3, index - 3):
            if not 0 <= other < self.frame_count:
                continue
            try:
                self.frame(other)
            except MediaError:
                continue
            r = motion_residual(self._flow(index, other), background)
            if r is not None:
                residuals.append(r)
        if not residuals:
            return None
        return np.minimum.reduce(residuals)

    # -- prompts -------------------------------------------------------------------
    def _set_prompts(self, frame: int, obj_id: int, prompts: list[Prompt]) -> dict[int, np.ndarray]:
        if not prompts:
            self._prompts.get(obj_id, {}).pop(frame, None)
            self._key.get(obj_id, {}).pop(frame, None)
            return {}
        self._untrack(obj_id, frame)
        self._prompts.setdefault(obj_id, {})[frame] = list(prompts)
        # The result depends on the prompts (in order) and on the mask tracking gave this
        # frame (if any), never on what was asked here before.
        known = self._prior.get(obj_id, {}).get(frame)
        if any(isinstance(p, BoxPrompt) for p in prompts):
            # A box restarts the object from the image, with the tracked mask as one more
            # start where it fits the new prompts (where tracking was nearly right, a fresh
            # start can be worse than what it replaces).
            mask = self._segment(frame, prompts, tracked=None if known is None else known.unpack())
        else:
            mask = self._refine_in_order(obj_id, frame, prompts, known)
        self._set_key(obj_id, frame, mask)
        return {obj_id: self.to_source(mask)}

    def _segment(
        self, frame: int, prompts: list[Prompt], prior: np.ndarray | None = None, tracked: np.ndarray | None = None
    ) -> np.ndarray:
        work = self._scaled(prompts)
        if prior is not None:  # a refinement starts from a mask already close to the object
            return mask_from_prompts(self.frame(frame), work, prior=prior, iterations=REFINE_ITERATIONS)
        return mask_from_prompts(self.frame(frame), work, motion=self._motion(frame, work), tracked=tracked)

    def _refine_in_order(
        self, obj_id: int, frame: int, clicks: list[Prompt], tracked: PackedMask | None
    ) -> np.ndarray:
        """Clicks refine in order: the mask of clicks 1..n is the mask of clicks 1..n-1
        refined with all n and made to obey them; the first refines the tracked mask (if
        any). Clicking one more point refines what the artist sees, and taking it back gives
        that mask again. The masks of the last clicks are cached, so one more click costs
        one refinement."""
        key = (obj_id, frame)
        steps: list[tuple[Prompt, PackedMask]] = []
        cached = self._refined.pop(key, None)
        if cached is not None and cached[0] is tracked:
            for (p, m), q in zip(cached[1], clicks, strict=False):
                if p != q:
                    break
                steps.append((p, m))
        mask = steps[-1][1].unpack() if steps else None if tracked is None else tracked.unpack()
        for k in range(len(steps), len(clicks)):
            mask = obey_prompts(self._segment(frame, clicks[: k + 1], prior=mask), self._scaled(clicks[: k + 1]))
            steps.append((clicks[k], PackedMask(mask)))
        self._refined[key] = (tracked, steps)
        while len(self._refined) > 8:
            self._refined.popitem(last=False)
        assert mask is not None
        return mask

    def _constrained(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        self._set_key(obj_id, frame, self.to_work(mask))

    def add_mask(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        self.check_frame(frame)
        m = self.to_work(check_mask(mask, self.width, self.height))
        self._untrack(obj_id, frame)
        self._prompts.setdefault(obj_id, {}).setdefault(frame, [])
        self._set_key(obj_id, frame, m)

    def _set_key(self, obj_id: int, frame: int, mask: np.ndarray) -> None:
        packed = PackedMask(mask)
        self._key.setdefault(obj_id, {})[frame] = packed
        self._results.setdefault(obj_id, {})[frame] = packed
        self._scores.setdefault(obj_id, {})[frame] = 1.0

    def set_tracked(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        self.check_frame(frame)
        self._prior.setdefault(obj_id, {})[frame] = PackedMask(self.to_work(check_mask(mask, self.width, self.height)))

    def _untrack(self, obj_id: int, frame: int) -> None:
        """Keep the tracked mask on ``frame`` (if its result came from tracking) as the
        prior for prompts there, before a keyframe replaces the result."""
        tracked = self._tracked.get(obj_id, set())
        if frame in tracked:
            tracked.discard(frame)
            self._prior.setdefault(obj_id, {})[frame] = self._results[obj_id][frame]

    def _store(self, obj_id: int, frame: int, packed: PackedMask, score: float) -> None:
        """Record a propagation result."""
        self._results.setdefault(obj_id, {})[frame] = packed
        self._scores.setdefault(obj_id, {})[frame] = score
        tracked = self._tracked.setdefault(obj_id, set())
        if frame in self._key.get(obj_id, {}):
            tracked.discard(frame)
        else:
            tracked.add(frame)
            self._prior.get(obj_id, {}).pop(frame, None)

    def remove_object(self, obj_id: int) -> None:
        self.check_object(obj_id)
        for table in (self._prompts, self._key, self._results, self._scores, self._tracked, self._prior):
            table.pop(obj_id, None)
        for key in [k for k in self._refined if k[0] == obj_id]:
            del self._refined[key]

    def mask(self, frame: int, obj_id: int) -> np.ndarray | None:
        """The latest mask of ``obj_id`` on ``frame`` at source resolution, if any."""
        packed = self._results.get(obj_id, {}).get(frame)
        return None if packed is None else self.to_source(packed.unpack())

    def score(self, frame: int, obj_id: int) -> float | None:
        """The confidence of :meth:`mask` (see :meth:`confidence`), if any."""
        return self._scores.get(obj_id, {}).get(frame)

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
        self, mask: np.ndarray, frame: int, model: Appearance, last_xy: tuple[float, float], expected: float,
        probability: np.ndarray | None = None,
    ) -> np.ndarray:
        """Check ``mask`` against the object's ``model``; when it looks lost, look for the
        object again and segment it afresh. Lost means collapsed (below 40% of the
        ``expected`` area, the recent tracked area), searched for within half the frame of
        ``last_xy``; or drifted (its colours match the object less than half as well as on
        the keyframe), searched for within one object size. Returns ``mask`` itself when no
        search ran, a new array otherwise. Pass ``probability`` when the model's
        probability of this frame is at hand."""
        rgb = self.frame(frame)
        area = int(np.count_nonzero(mask))
        prob = model.probability(rgb) if probability is None else probability
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

    @staticmethod
    def confidence(colour: float, area: float) -> float:
        """How far to trust a tracked mask, in [0, 1]: the product of its agreements with
        the keyframe it was tracked from, each 1 when equal. ``colour``: the mask's colour
        support over the keyframe's (:meth:`Appearance.support`, capped at 1); ``area``:
        the smaller of area/keyframe area and its inverse.

        Measured on the four DAVIS sequences at hand (tracked from frame 0, 207 frames),
        the product ranks frames by J with Spearman 0.82 and flags (below
        :data:`LOW_CONFIDENCE`) 69% of the frames with J < 0.5 against 5% of those with
        J > 0.7. How well one motion fits the flow inside the mask is left out: it ranked
        frames the wrong way where the mask had slid onto the static background (flow there
        fits one motion perfectly), and lowered the ranking overall (0.81 with it).
        """
        return float(np.clip(min(colour, 1.0) * area, 0.0, 1.0))

    def _chain(
        self, obj_id: int, frames: list[int], seed: np.ndarray | None
    ) -> Iterator[tuple[int, np.ndarray | None, float]]:
        """Walk ``frames`` in order, re-anchoring on keyframes; yield (frame, mask or None,
        confidence)."""
        keys = self._key.get(obj_id, {})
        mask = seed
        model = None if seed is None else Appearance.learn(self.frame(frames[0]), seed)
        prev: int | None = None
        last_xy = (0.0, 0.0)
        expected = 0.0  # recent tracked area (a running mean), to tell a collapse from a scale change
        cooldown = 0
        motion: np.ndarray | None = None
        key_area = 0.0 if seed is None else float(np.count_nonzero(seed))
        score = 1.0 if seed is None else self._scores.get(obj_id, {}).get(frames[0], 1.0)
        for f in frames:
            if f in keys:
                mask = keys[f].unpack()
                model = Appearance.learn(self.frame(f), mask) or model
                expected = key_area = float(np.count_nonzero(mask))
                motion = None
                score = 1.0
            elif mask is not None and prev is not None:
                mask, motion = self.step(mask, prev, f, motion)
                prob = None if model is None else model.probability(self.frame(f))
                if model is not None and cooldown <= 0:
                    found = self.recover(mask, f, model, last_xy, expected or model.area, prob)
                    # A search is costly (GrabCut + motion flows): wait a few frames before the next one.
                    cooldown = 5 if found is not mask else 0
                    if found is not mask:
                        motion = None
                    mask = found
                cooldown -= 1
                area = float(np.count_nonzero(mask))
                colour = 1.0 if model is None else model.support(self.frame(f), mask, prob) / max(model.support0, 1e-6)
                score = self.confidence(colour, min(area / key_area, key_area / area) if area and key_area else 0.0)
            if mask is not None and mask.any():
                ys, xs = np.nonzero(mask)
                last_xy = (float(xs.mean()), float(ys.mean()))
                expected = xs.size if expected == 0.0 else 0.7 * expected + 0.3 * xs.size
            prev = f
            yield f, mask, score

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
            yield from self._propagate_both(frames[0], frames[-1], objects)
            return
        chains = {}
        for o in objects:
            known = self._results.get(o, {}).get(frames[0])
            chains[o] = self._chain(o, frames, None if known is None else known.unpack())
        for i, f in enumerate(frames):
            for o in self.object_ids():  # objects keyframed while the walk waited (concept tracking)
                if o not in chains and i and self._key.get(o, {}).get(frames[i - 1]) is not None:
                    chains[o] = self._chain(o, frames[i - 1:], None)
                    next(chains[o])  # their keyframe, already yielded
            out = FrameMasks(f)
            for o, chain in chains.items():
                _, m, score = next(chain)
                if m is not None:
                    self._store(o, f, PackedMask(m), score)
                    out.masks[o] = self.to_source(m)
                    out.scores[o] = score
            yield out

    def _propagate_both(self, lo: int, hi: int, objects: list[int]) -> Iterator[FrameMasks]:
        """Chains forward from every keyframe, then backward, fused per frame by distance to
        the keyframes. The forward pass yields each frame as it goes, final where no
        backward chain will reach it (at keyframes, after an object's last keyframe),
        provisional otherwise; the backward pass then yields the fused frames."""
        keys = {o: sorted(self._key[o]) for o in objects}
        last = {o: max((k for k in keys[o] if lo <= k <= hi), default=-1) for o in objects}

        def pending(o: int, f: int) -> bool:  # the backward pass brings a result for o on f
            return f < last[o] and f not in self._key[o]

        ahead: dict[int, dict[int, tuple[PackedMask, float]]] = {o: {} for o in objects}
        waiting: set[int] = set()
        forward = {o: self._chain(o, list(range(lo, hi + 1)), None) for o in objects}
        for f in range(lo, hi + 1):
            out = FrameMasks(f, final=not any(pending(o, f) for o in objects))
            for o in objects:
                _, m, score = next(forward[o])
                if m is None:
                    continue
                packed = PackedMask(m)
                self._store(o, f, packed, score)
                out.masks[o], out.scores[o] = self.to_source(m), score
                if not out.final:
                    ahead[o][f] = (packed, score)
            if not out.final:
                waiting.add(f)
            if out.final or out.masks:
                yield out
        forward.clear()
        backward = {o: self._chain(o, list(range(hi, lo - 1, -1)), None) for o in objects}
        for f in range(hi, lo - 1, -1):
            steps = {o: next(backward[o]) for o in objects}
            if f not in waiting:
                continue
            out = FrameMasks(f)
            for o in objects:
                a = ahead[o].pop(f, None)
                back, back_score = steps[o][1], steps[o][2]
                fused = self._fuse(keys[o], f, a, back, back_score) if pending(o, f) else a
                if fused is not None:
                    self._store(o, f, fused[0], fused[1])
                    out.masks[o], out.scores[o] = self.to_source(fused[0].unpack()), fused[1]
            yield out

    @staticmethod
    def _fuse(
        keys: list[int], f: int, ahead: tuple[PackedMask, float] | None, back: np.ndarray | None, back_score: float
    ) -> tuple[PackedMask, float] | None:
        """The forward (``ahead``) and backward results on ``f`` weighed by the distance to
        the keyframes they come from; the nearer one weighs more (a tie takes the union)."""
        if back is None:
            return ahead
        if ahead is None:
            return PackedMask(back), back_score
        prev_k = max((k for k in keys if k <= f), default=None)
        next_k = min((k for k in keys if k >= f), default=None)
        d_prev = f - prev_k if prev_k is not None else 1 << 30
        d_next = next_k - f if next_k is not None else 1 << 30
        a = ahead[0].unpack()
        if d_prev == 0 or d_next == 0:
            return (ahead if d_prev == 0 else (PackedMask(back), back_score))
        w_prev = d_next / (d_prev + d_next)
        mix = w_prev * a.astype(np.float32) + (1.0 - w_prev) * back.astype(np.float32)
        score = w_prev * ahead[1] + (1.0 - w_prev) * back_score
        return PackedMask(mix > 0.5 if w_prev != 0.5 else a | back), score


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

"""Concept tracking: every instance of a text prompt over a shot, including those that
enter later (seed 004's "PCS video: track all instances").

The shot is walked forward from the first frame searched. On that frame and on every
``every``-th frame after it the engine's text detector looks again
(:meth:`~sam3roto.backends.base.SegmentationSession.find_instances`); an instance that no
tracked object covers becomes a new object, keyframed there with its mask as a key mask
(like a text prompt's instances on one frame), and is tracked from there on in the same
walk (the other objects' step on that frame is left as it was). Running the detector on
every Nth frame bounds its cost (``every=1``: every frame). Objects found after the start
of the range are then tracked back to it (a stale-only re-track of those objects within
the range: they may have been in shot for up to ``every - 1`` frames before they were
found, or partly hidden earlier). Objects the project has already (an earlier search, other
prompts) count as found where their stored masks are, so a second search adds only what is
new.

The objects and keyframes go into the project, the masks into the store, exactly as a
text prompt followed by a track would put them: a later Ctrl+T / ``track --changed``
treats them like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from sam3roto.backends.base import Engine, FrameMasks, SegmentationSession
from sam3roto.backends.registry import DEFAULT_ENGINE, create_engine
from sam3roto.core.jobs import Progress
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project, object_name
from sam3roto.core.tracking import DEFAULT_EVERY
from sam3roto.errors import EngineError
from sam3roto.media.source import FrameSource
from sam3roto.pipeline.track import TrackResult, track_job

#: A detection whose area lies this much inside one tracked object's mask is that object.
SAME_OBJECT = 0.5


@dataclass(frozen=True)
class ConceptSearch:
    """What to look for and how often: ``text`` on the first frame searched and every
    ``every``-th frame after it (0: that frame only)."""

    text: str
    every: int = DEFAULT_EVERY

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("the text to look for is empty")
        if self.every < 0:
            raise ValueError(f"the detector interval must be 0 (first frame only) or a number of frames, "
                             f"not {self.every}")


def is_new(found: np.ndarray, tracked: list[np.ndarray]) -> bool:
    """Whether ``found`` (``bool (H, W)``) is an instance none of ``tracked`` is already:
    no tracked mask holds :data:`SAME_OBJECT` of its area, or half of its own area in it
    (a detection of a part of a tracked object, or one tracked object seen as two)."""
    area = int(found.sum())
    if area == 0:
        return False
    for mask in tracked:
        common = int(np.count_nonzero(found & mask))
        if common >= SAME_OBJECT * area or common >= SAME_OBJECT * max(1, int(mask.sum())):
            return False
    return True


class Discoverer:
    """The hook :func:`~sam3roto.pipeline.track.track_job` calls on every frame it walks:
    on search frames, instances of the text no object covers (those tracked in the walk,
    and the project's other objects as stored) become objects. ``new_id()`` hands out the
    new objects' ids (the window reserves them in its own project)."""

    def __init__(self, project: Project, store: MaskStore, search: ConceptSearch, first: int,
                 new_id: Callable[[], int] | None = None) -> None:
        self.project, self.store, self.search, self.first = project, store, search, first
        self.keys = store.key_masks()
        self.new_id = new_id or (lambda: project.next_object_id)
        self.others = [o.id for o in project.objects]  # objects the project had already
        self.found_on: dict[int, int] = {}  # new object -> the frame it was found on

    def due(self, frame: int) -> bool:
        step = frame - self.first
        if step < 0:
            return False
        return step == 0 if self.search.every == 0 else step % self.search.every == 0

    def __call__(self, session: SegmentationSession, fm: FrameMasks) -> dict[int, np.ndarray]:
        if not fm.final or not self.due(fm.frame):
            return {}
        tracked = [m for m in fm.masks.values() if m.any()]
        for obj_id in self.others:
            stored = self.store.get(obj_id, fm.frame) if obj_id not in fm.masks else None
            if stored is not None and stored.any():
                tracked.append(stored)
        made: dict[int, np.ndarray] = {}
        for mask in session.find_instances(fm.frame, self.search.text):
            if not is_new(mask, tracked):
                continue
            obj_id = self.new_id()
            session.add_found(fm.frame, obj_id, mask)  # first: nothing is recorded if it fails
            if obj_id < self.project.next_object_id:
                raise ValueError(f"object id {obj_id} is taken in the project (next free: "
                                 f"{self.project.next_object_id})")
            self.project.next_object_id = obj_id
            obj = self.project.add_object(object_name(self.search.text, f" {obj_id}"))
            self.store.expect(obj.id, obj.uid)  # the window's store belongs to the project, not this copy
            self.keys.put(obj.id, fm.frame, mask)
            self.project.set_key_mask(obj.id, fm.frame)
            self.found_on[obj.id] = fm.frame
            tracked.append(mask)
            made[obj.id] = mask
        return made


def concept_job(
    project: Project, source: FrameSource, store: MaskStore, search: ConceptSearch, *,
    start: int | None = None, end: int | None = None, engine: str = DEFAULT_ENGINE,
    engine_options: dict[str, Any] | None = None, engine_instance: Engine | None = None,
    first: int | None = None, new_id: Callable[[], int] | None = None,
) -> Generator[Progress, None, TrackResult]:
    """Find and track every instance of ``search.text`` over frames ``start..end`` (default
    the shot's in..out range), searching from ``first`` (default ``start``), see the module
    docstring. Objects found after ``start`` are tracked back to it, none beyond the range.
    Returns the tracking result; its ``new_objects`` are the objects made (in the order
    found). ``new_id()`` hands out their ids (default: the project's next ids)."""
    if project.shot is None:
        raise ValueError("the project has no shot")
    rng = project.shot.frame_range
    lo = rng.start if start is None else start
    hi = rng.stop - 1 if end is None else end
    begin = lo if first is None else first
    if not lo <= begin <= hi:
        raise ValueError(f"the search starts on frame index {begin}, outside the range {lo}-{hi}")
    eng = engine_instance if engine_instance is not None else create_engine(engine, **(engine_options or {}))
    try:
        if not eng.capabilities.text:
            raise EngineError(f"the {eng.name or engine} engine does not take text prompts",
                              hint="choose the sam3 engine to find every instance of a text")
        finder = Discoverer(project, store, search, begin, new_id)
        yield Progress(0, hi - lo + 1, f"looking for every {search.text!r} from frame "
                                       f"{project.shot.output_number(begin)}")
        result = yield from track_job(project, source, store, direction="forward", start=begin, end=hi,
                                      objects=set(), engine_instance=eng, discover=finder)
        earlier = {o for o, f in finder.found_on.items() if f > lo}
        if earlier:  # objects found later may have been in shot before: track them back
            more = yield from track_job(project, source, store, direction="both", mode="changed",
                                        start=lo, end=hi, objects=earlier, engine_instance=eng)
            for obj_id, frames in more.frames.items():
                have = result.frames.setdefault(obj_id, [])
                seen = set(have)
                have.extend(f for f in frames if f not in seen)
            for obj_id, scores in more.scores.items():
                result.scores.setdefault(obj_id, {}).update(scores)
            for obj_id, low in more.low.items():
                result.low.setdefault(obj_id, []).extend(low)
        return result
    finally:
        if engine_instance is None:
            eng.close()

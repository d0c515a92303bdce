"""The tracking job: project keyframes -> engine session -> masks in the mask store.

The same generator runs under the CLI (tqdm) and the GUI (a worker). Every frame's masks
are written to the store as soon as the engine yields them, so cancelling keeps the frames
already finished.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from sam3roto.backends.base import Direction, Engine, SegmentationSession, frame_range
from sam3roto.backends.registry import DEFAULT_ENGINE, create_engine
from sam3roto.core.jobs import Progress
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project
from sam3roto.core.types import Prompt, TextPrompt
from sam3roto.errors import ProjectError
from sam3roto.media.source import FrameSource


@dataclass
class TrackResult:
    """What a tracking run wrote: frames per object, and objects a text prompt created."""

    frames: dict[int, list[int]] = field(default_factory=dict)
    new_objects: list[int] = field(default_factory=list)


def load_keyframes(
    session: SegmentationSession, project: Project, result: TrackResult, keys: MaskStore | None = None,
    objects: set[int] | None = None, frames: set[int] | None = None,
) -> None:
    """Give ``session`` every keyframe of ``project`` (of ``objects`` only, on ``frames``
    only, when given): key masks (from ``keys``) first, then prompts. A text prompt that
    finds several instances creates one project object per extra instance."""
    for kf in sorted(project.keyframes, key=lambda k: (k.frame, k.object_id)):
        if objects is not None and kf.object_id not in objects:
            continue
        if frames is not None and kf.frame not in frames:
            continue
        if kf.mask:
            mask = keys.get(kf.object_id, kf.frame) if keys is not None else None
            if mask is None:
                raise ProjectError(f"object {kf.object_id} has a key mask on frame index {kf.frame} but it is "
                                   "missing from the mask store", path=keys.root if keys is not None else None)
            session.add_mask(kf.frame, kf.object_id, mask)
        if not kf.prompts:
            continue
        texts = [p for p in kf.prompts if isinstance(p, TextPrompt)]
        others = [p for p in kf.prompts if not isinstance(p, TextPrompt)]
        if others:
            session.set_prompts(kf.frame, kf.object_id, list[Prompt](others))
        for text in texts:
            first = project.next_object_id if others else kf.object_id
            masks = session.add_prompt(kf.frame, text, first)
            for obj_id in sorted(masks):
                if all(o.id != obj_id for o in project.objects):
                    project.next_object_id = max(project.next_object_id, obj_id)
                    obj = project.add_object(f"{text.text} {obj_id}")
                    result.new_objects.append(obj.id)


def track_job(
    project: Project,
    source: FrameSource,
    store: MaskStore,
    *,
    engine: str = DEFAULT_ENGINE,
    direction: Direction = "both",
    start: int | None = None,
    end: int | None = None,
    engine_options: dict[str, Any] | None = None,
    session: SegmentationSession | None = None,
    objects: set[int] | None = None,
    chunk: int = 0,
    engine_instance: Engine | None = None,
) -> Generator[Progress, None, TrackResult]:
    """Track every object of ``project`` over its shot range and store the masks.

    ``start``/``end`` default to the shot's in/out range (``start`` is where a forward or
    backward run begins). Pass an open ``session`` to reuse a loaded model (the GUI does);
    otherwise the engine is created and closed here (or ``engine_instance`` is used and left
    open: the window keeps its loaded models). ``objects`` limits tracking to those object
    ids (a farm tracks objects on separate machines).

    ``chunk`` (frames, 0 = off) bounds memory on long shots for any engine: the frames are
    tracked in runs of ``chunk``, each in a fresh session that gets the keyframes inside it
    and, at its first frame, the masks the previous run ended with (consecutive runs share
    that seam frame). Keyframes influence only their own run, and ``both`` fuses within a run.
    """
    if project.shot is None:
        raise ValueError("the project has no shot")
    shot_range = project.shot.frame_range
    lo, hi = shot_range.start, shot_range.stop - 1
    if direction == "backward":
        first, last = (hi if start is None else start), (lo if end is None else end)
    else:
        first, last = (lo if start is None else start), (hi if end is None else end)
    frames = frame_range(first, direction, last, source.info.frame_count)
    result = TrackResult()
    own = session is None
    if chunk and not own:
        raise ValueError("chunked tracking opens its own sessions; do not pass one")
    borrowed = engine_instance is not None
    eng = engine_instance if borrowed else create_engine(engine, **(engine_options or {})) if own else None
    spans = _chunks(frames, chunk) if chunk else [frames]
    done = 0
    try:
        yield Progress(0, len(frames), "loading keyframes")
        for n, run in enumerate(spans):
            sess = session if session is not None else eng.open_session(source)  # type: ignore[union-attr]
            try:
                if own:
                    window = set(run) if chunk else None
                    load_keyframes(sess, project, result, store.key_masks(), objects, window)
                if n:  # re-seed at the seam from the previous chunk's masks
                    _seed(sess, store, run[0], objects if objects is not None else {o.id for o in project.objects})
                for fm in sess.propagate(run[0], direction, run[-1]):
                    if n and fm.frame == run[0]:
                        continue  # the seam frame was stored by the previous chunk
                    for obj_id, mask in fm.masks.items():
                        store.put(obj_id, fm.frame, mask)
                        result.frames.setdefault(obj_id, []).append(fm.frame)
                    done += 1
                    message = f"frame {project.shot.output_number(fm.frame)}"
                    notices = sess.take_notices()
                    if notices:
                        message += ": " + "; ".join(notices)
                    yield Progress(done, len(frames), message)
            finally:
                if own:
                    sess.close()
    finally:
        if eng is not None and not borrowed:
            eng.close()
    return result


def _chunks(frames: list[int], chunk: int) -> list[list[int]]:
    """``frames`` (in propagation order) in runs of ``chunk``; consecutive runs share their
    seam frame (the last of one is the first of the next)."""
    if chunk < 2:
        raise ValueError(f"chunk must be at least 2 frames, got {chunk}")
    spans, start = [], 0
    while True:
        span = frames[start:start + chunk]
        spans.append(span)
        if start + chunk >= len(frames):
            return spans
        start += chunk - 1


def _seed(session: SegmentationSession, store: MaskStore, frame: int, objects: set[int]) -> None:
    for obj_id in sorted(objects):
        mask = store.get(obj_id, frame)
        if mask is not None and mask.any():
            session.add_mask(frame, obj_id, mask)

"""The tracking job: project keyframes -> engine session -> masks in the mask store.

The same generator runs under the CLI (tqdm) and the GUI (a worker). Every frame's masks
are written to the store as soon as the engine yields them, so cancelling keeps the frames
already finished.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from sam3roto.backends.base import Direction, SegmentationSession, frame_range
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
    objects: set[int] | None = None,
) -> None:
    """Give ``session`` every keyframe of ``project`` (of ``objects`` only, when given): key
    masks (from ``keys``) first, then prompts. A text prompt that finds several instances
    creates one project object per extra instance."""
    for kf in sorted(project.keyframes, key=lambda k: (k.frame, k.object_id)):
        if objects is not None and kf.object_id not in objects:
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
) -> Generator[Progress, None, TrackResult]:
    """Track every object of ``project`` over its shot range and store the masks.

    ``start``/``end`` default to the shot's in/out range (``start`` is where a forward or
    backward run begins). Pass an open ``session`` to reuse a loaded model (the GUI does);
    otherwise the engine is created and closed here. ``objects`` limits tracking to those
    object ids (a farm tracks objects on separate machines).
    """
    if project.shot is None:
        raise ValueError("the project has no shot")
    span = project.shot.frame_range
    lo, hi = span.start, span.stop - 1
    if direction == "backward":
        first, last = (hi if start is None else start), (lo if end is None else end)
    else:
        first, last = (lo if start is None else start), (hi if end is None else end)
    frames = frame_range(first, direction, last, source.info.frame_count)
    result = TrackResult()
    own = session is None
    eng = create_engine(engine, **(engine_options or {})) if own else None
    sess = session if session is not None else eng.open_session(source)  # type: ignore[union-attr]
    try:
        yield Progress(0, len(frames), "loading keyframes")
        if own:
            load_keyframes(sess, project, result, store.key_masks(), objects)
        for done, fm in enumerate(sess.propagate(first, direction, last), start=1):
            for obj_id, mask in fm.masks.items():
                store.put(obj_id, fm.frame, mask)
                result.frames.setdefault(obj_id, []).append(fm.frame)
            message = f"frame {project.shot.output_number(fm.frame)}"
            notices = sess.take_notices()
            if notices:
                message += ": " + "; ".join(notices)
            yield Progress(done, len(frames), message)
    finally:
        if own:
            sess.close()
            if eng is not None:
                eng.close()
    return result

"""Bringing outside work into a project: a decoded Label Studio task (prompts and key
masks, one object per label) and black-and-white mattes (an object's masks, frame by
frame)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sam3roto.core.jobs import CancelToken, Job, Progress
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project, RotoObject
from sam3roto.errors import Sam3RotoError
from sam3roto.interchange.jsonfile import show
from sam3roto.interchange.labelstudio import TaskImport
from sam3roto.media.source import FrameSource
from sam3roto.pipeline.post import mask_from_frame


@dataclass
class ImportSummary:
    """What an import changed: object name -> id, and the frame indices it touched."""

    objects: dict[str, int] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    prompt_frames: dict[int, list[int]] = field(default_factory=dict)
    mask_frames: dict[int, list[int]] = field(default_factory=dict)


def object_named(project: Project, name: str, summary: ImportSummary) -> RotoObject:
    """The project's object called ``name``, created when there is none."""
    for obj in project.objects:
        if obj.name == name:
            summary.objects[name] = obj.id
            return obj
    obj = project.add_object(name)
    summary.objects[name] = obj.id
    summary.created.append(name)
    return obj


def apply_labelstudio(project: Project, store: MaskStore, decoded: TaskImport) -> ImportSummary:
    """Put ``decoded``'s labels into ``project``: one object per label (reused when one has
    that name), prompts as keyframes (replacing that object's prompts on those frames),
    brush and polygon masks as key masks and as the frame's current mask. A mask that does
    not fit the shot, or is empty, is an error naming the export, task, label and frame, and
    nothing is changed."""
    export = decoded.task.path
    shot = project.shot
    if shot is None:
        raise Sam3RotoError("the project has no shot to import onto", path=export)
    for label in decoded.labels:  # every mask is checked before the project changes
        for frame, mask in sorted(label.masks.items()):
            where = f"task {show(decoded.task.id)}, label {show(label.label)!r}, frame index {frame}"
            if mask.shape != (shot.height, shot.width):
                raise Sam3RotoError(f"{where}: a mask of {mask.shape[1]}x{mask.shape[0]} does not fit the "
                                    f"{shot.width}x{shot.height} shot", path=export)
            if not 0 <= frame < shot.frame_count:
                raise Sam3RotoError(f"{where}: the shot has {shot.frame_count} frames", path=export)
            if not mask.any():
                raise Sam3RotoError(f"{where}: the mask is empty; no empty key mask was made", path=export)
    summary = ImportSummary()
    keys = store.key_masks()
    for label in decoded.labels:
        obj = object_named(project, label.label, summary)
        for frame, mask in sorted(label.masks.items()):
            keys.put(obj.id, frame, mask)
            store.put(obj.id, frame, mask)
            project.set_key_mask(obj.id, frame)
            summary.mask_frames.setdefault(obj.id, []).append(frame)
        for frame, prompts in sorted(label.prompts.items()):
            project.set_prompts(obj.id, frame, prompts)
            summary.prompt_frames.setdefault(obj.id, []).append(frame)
    return summary


def import_mattes_job(
    project: Project,
    store: MaskStore,
    obj_id: int,
    mattes: FrameSource,
    *,
    indices: Sequence[int] | None = None,
    cancel: CancelToken | None = None,
) -> Job[list[int]]:
    """Store black-and-white ``mattes`` (one frame per shot frame, same size; above half is
    inside) as ``obj_id``'s masks on ``indices`` (default: every frame). Returns the frame
    indices written; a cancel keeps the frames already stored."""
    shot = project.shot
    if shot is None:
        raise Sam3RotoError("the project has no shot to import onto")
    project.object(obj_id)
    info = mattes.info
    if (info.width, info.height) != (shot.width, shot.height):
        raise Sam3RotoError(f"the mattes are {info.width}x{info.height} but the shot is {shot.width}x{shot.height}",
                            path=info.path)
    if info.frame_count != shot.frame_count:
        raise Sam3RotoError(f"the mattes have {info.frame_count} frames but the shot has {shot.frame_count}",
                            path=info.path, hint="give one matte per frame of the shot")
    chosen = list(range(shot.frame_count) if indices is None else indices)
    for i in chosen:
        mattes.check_index(i)
    written: list[int] = []
    yield Progress(0, len(chosen), f"import {len(chosen)} mattes")
    for k, index in enumerate(chosen, start=1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        store.put(obj_id, index, mask_from_frame(mattes.read(index)))
        written.append(index)
        yield Progress(k, len(chosen), f"frame {shot.frame_numbers[index]}")
    return written

"""``segment MEDIA|PROJECT --frame N``: masks on one frame from prompts, without tracking.

The prompts are the keyframes on frame N of a prompts file (the one ``track`` reads) and/or
a text prompt; they go through the same interactive session and jobs as a click in the
window (:mod:`sam3roto.pipeline.interactive`). On a project the masks go to its mask store,
the prompts become keyframes and the project is saved; on media nothing is kept, so
``--out`` is required. ``--out`` writes one 8-bit PNG (0/255, source size) per object:

* ``mask.png``: one file, when one object is segmented;
* ``masks/`` (an existing folder, or a path ending in ``/``): ``masks/NAME.####.png``;
* a pattern with ``{name}``, ``{id}`` and/or ``{frame}``, e.g. ``mask.{name}.png``.

Files are never overwritten unless ``--force``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sam3roto.cli.common import (
    add_colour_argument,
    add_engine_arguments,
    apply_absent,
    apply_input_colorspace,
    drive,
    engine_options,
    format_numbers,
    shot_frame_index,
)
from sam3roto.errors import EngineError, Sam3RotoError

#: The placeholders an ``--out`` pattern may hold.
PLACEHOLDERS = "{name}, {id}, {frame}"


@dataclass
class Request:
    """One object to segment on the frame: its prompts there (empty when it is absent)."""

    obj_id: int
    prompts: list[Any] = field(default_factory=list)
    absent: bool = False
    strokes: list[Any] = field(default_factory=list)  # correction strokes on the frame


@dataclass
class Result:
    """One object's mask on the frame, and a note for the printout."""

    obj_id: int
    mask: np.ndarray
    note: str = ""


def _requests(project: Any, args: argparse.Namespace, index: int, *, keep: bool) -> list[Request]:
    """The objects to segment on frame ``index``, made or found in ``project`` with their
    prompts set as keyframes and their absent ranges marked. ``keep``: the project is
    saved afterwards, so only the objects segmented are added to it."""
    from sam3roto.core.types import TextPrompt
    from sam3roto.interchange.prompts import read_prompts
    from sam3roto.pipeline.interchange import ImportSummary, object_named

    number = args.frame
    summary = ImportSummary()
    out: list[Request] = []
    if args.object and not args.prompts:
        raise Sam3RotoError("--object picks an object of the prompts file: give --prompts FILE too")
    if args.prompts:
        shot = project.shot
        items = read_prompts(args.prompts, frame_numbers=shot.frame_numbers, size=(shot.width, shot.height))
        if not keep:  # media: ids follow the file's order whichever objects are picked ({id} in --out)
            for item in items:
                object_named(project, item.name, summary)
        if args.object:
            chosen = [item for item in items if item.name == args.object]
            if not chosen:
                names = ", ".join(repr(item.name) for item in items)
                raise Sam3RotoError(f"no object {args.object!r} in the prompts file (objects: {names})",
                                    path=args.prompts)
            items = chosen
        picked, skipped = [], []
        for item in items:
            if number in item.keyframes or any(a <= number <= b for a, b in item.absent):
                picked.append(item)
            else:
                skipped.append(f"object {item.name!r} has no keyframe on frame {number} (its keyframes: "
                               f"{format_numbers(sorted(item.keyframes)) or 'none'})")
        if skipped and (args.object or not (picked or args.text)):
            raise Sam3RotoError("; ".join(skipped), path=args.prompts,
                                hint="segment a frame that holds keyframes, or add keyframes on this one")
        for line in skipped:
            print(f"{line}: skipped", file=sys.stderr)
        for item in picked:
            obj = object_named(project, item.name, summary)
            apply_absent(project, obj.id, item, args.prompts)
            prompts = item.keyframes.get(number, [])
            strokes = item.strokes.get(number, [])
            existing = project.keyframe(obj.id, index)
            if strokes and not prompts and existing is not None and not existing.mask:
                # strokes alone paint over the keyframe's own prompts' mask, as `track` does
                prompts = [p for p in existing.prompts if not isinstance(p, TextPrompt)]
            if prompts:
                project.set_prompts(obj.id, index, prompts)
            if strokes or (number in item.keyframes and project.keyframe(obj.id, index) is not None):
                project.set_strokes(obj.id, index, strokes)  # the file's replace the keyframe's
            absent = obj.is_absent(index)  # the file's ranges, or the project's
            out.append(Request(obj.id, [] if absent else list(prompts), absent, [] if absent else list(strokes)))
    if args.text:
        obj = object_named(project, args.text, summary)
        project.set_prompts(obj.id, index, [TextPrompt(args.text)])
        out.append(Request(obj.id, [TextPrompt(args.text)], obj.is_absent(index)))
    return out


def _check_engine(engine: str, requests: list[Request]) -> None:
    """Refuse prompts the engine cannot take, before any model loads."""
    from sam3roto.backends.registry import SEGMENTATION_ENGINES, engine_class

    caps = engine_class(engine).capabilities
    for request in requests:
        for prompt in request.prompts:
            if not caps.accepts(prompt):
                kind = type(prompt).__name__.replace("Prompt", "").lower()
                others = [n for n in SEGMENTATION_ENGINES
                          if n != engine and engine_class(n).capabilities.accepts(prompt)]
                instead = f": use --engine {' or '.join(others)}" if others else ""
                raise EngineError(f"the {engine} engine does not take {kind} prompts{instead}")


def _segment(project: Any, store: Any, index: int, requests: list[Request], args: argparse.Namespace,
             options: dict[str, Any]) -> list[Result]:
    """Run the requests through one interactive session; store every mask in ``store``
    (text instances also as key masks, so a later ``track`` does not search again)."""
    from sam3roto.core.project import object_name
    from sam3roto.core.strokes import apply_to_mask
    from sam3roto.core.types import TextPrompt
    from sam3roto.pipeline.interactive import InteractiveSession, segment_job, text_job

    shot = project.shot
    empty = np.zeros((shot.height, shot.width), bool)
    results: list[Result] = []
    interactive = InteractiveSession()
    try:
        for request in requests:
            if request.absent:
                store.put(request.obj_id, index, empty)
                results.append(Result(request.obj_id, empty, "absent (out of shot): empty mask"))
                continue
            others = [p for p in request.prompts if not isinstance(p, TextPrompt)]
            texts = [p for p in request.prompts if isinstance(p, TextPrompt)]
            if others:
                job = segment_job(interactive, project, store, index, request.obj_id, others, engine=args.engine,
                                  options=options)
                masks = drive(job, 1, quiet=args.quiet, unit="object") or {}
                mask = masks.get(request.obj_id, empty)
                if request.strokes:  # the keyframe's corrections, painted over its prompts' mask
                    mask = apply_to_mask(mask, request.strokes, empty.shape)
                    store.put(request.obj_id, index, mask)
                results.append(Result(request.obj_id, mask, _corrected(request.strokes)))
            elif request.strokes:  # strokes paint over the keyframe's key mask, or draw the mask alone
                key = project.keyframe(request.obj_id, index)
                base = store.key_masks().get(request.obj_id, index) if key is not None and key.mask else None
                mask = apply_to_mask(base, request.strokes, empty.shape)
                store.put(request.obj_id, index, mask)
                results.append(Result(request.obj_id, mask, _corrected(request.strokes)))
            for text in texts:
                found = drive(text_job(interactive, project, index, text.text, project.next_object_id,
                                       engine=args.engine, options=options), 1, quiet=args.quiet, unit="search")
                if not found and not others:
                    results.append(Result(request.obj_id, empty, f"no {text.text!r} found"))
                for n, key in enumerate(sorted(found)):
                    # the first instance is the object itself unless points or boxes made it
                    obj_id = request.obj_id if n == 0 and not others else \
                        project.add_object(object_name(text.text, f" {project.next_object_id}")).id
                    store.put(obj_id, index, found[key])
                    store.key_masks().put(obj_id, index, found[key])
                    project.set_key_mask(obj_id, index)
                    results.append(Result(obj_id, found[key], f"found by text {text.text!r}"))
    finally:
        interactive.close()
    return results


def _corrected(strokes: list[Any]) -> str:
    """A result's note for a keyframe with correction strokes ("" without)."""
    return f"corrected by {len(strokes)} stroke{'s' if len(strokes) != 1 else ''}" if strokes else ""


def output_paths(out: str, number: int, objects: list[tuple[int, str]], *, force: bool) -> list[Path]:
    """The file for each ``(id, name)`` on frame ``number`` from ``--out`` (see the module
    docstring); refuses files that exist (unless ``force``) and two objects on one file."""
    from sam3roto.export.naming import file_token, frame_padding, unique

    pad = frame_padding([number])
    frame = f"{'-' if number < 0 else ''}{abs(number):0{pad}d}"
    tokens = unique(file_token(name) for _, name in objects)
    if out.endswith(("/", os.sep)) or Path(out).is_dir():
        paths = [Path(out) / f"{token}.{frame}.png" for token in tokens]
    elif not out.lower().endswith(".png"):
        raise Sam3RotoError(f"--out {out}: give a .png file, a pattern such as mask.{{name}}.png, or a folder "
                            "(end it with /)")
    elif "{" in out:
        try:
            paths = [Path(out.format(name=token, id=obj_id, frame=frame))
                     for (obj_id, _), token in zip(objects, tokens, strict=True)]
        except (KeyError, IndexError, ValueError) as exc:
            raise Sam3RotoError(f"--out {out}: cannot fill in the pattern ({exc}); it may hold {PLACEHOLDERS}") \
                from None
    else:
        if len(objects) > 1:
            names = ", ".join(repr(name) for _, name in objects)
            raise Sam3RotoError(f"--out {out} is one file, but {len(objects)} objects are segmented ({names}): "
                                "give a folder (--out masks/), a pattern (--out mask.{name}.png), or pick one "
                                "object with --object NAME")
        paths = [Path(out)]
    if len(set(paths)) < len(paths):
        raise Sam3RotoError(f"--out {out}: several objects would write the same file; put {{name}} or {{id}} in it")
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        raise Sam3RotoError("the file exists; segment never overwrites files: give another --out, or add --force "
                            "to replace it", path=existing[0])
    return paths


def _write_png(path: Path, mask: np.ndarray) -> None:
    """``mask`` (bool (H, W)) as an 8-bit grey PNG, 0 outside and 255 inside."""
    import cv2

    from sam3roto.export.base import write_atomic

    ok, data = cv2.imencode(".png", mask.astype(np.uint8) * np.uint8(255))
    if not ok:
        raise Sam3RotoError("could not encode the mask as PNG", path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data.tobytes())


def describe(mask: np.ndarray) -> str:
    """``area 4421 px, box x 120-193 y 80-153`` (inclusive pixel ranges), or an empty mask."""
    area = int(np.count_nonzero(mask))
    if not area:
        return "area 0 px (empty)"
    ys, xs = np.nonzero(mask)
    return f"area {area} px, box x {xs.min()}-{xs.max()} y {ys.min()}-{ys.max()}"


def cmd_segment(args: argparse.Namespace) -> int:
    from sam3roto.core.maskstore import MaskStore
    from sam3roto.core.project_io import load_project, open_mask_store, save_project
    from sam3roto.pipeline.shot import new_project

    options = engine_options(args)
    if not args.prompts and not args.text:
        raise Sam3RotoError("nothing to segment: give --prompts FILE (with keyframes on the frame) or --text TEXT")
    is_project = str(args.target).endswith(".sam3roto")
    if not is_project and not args.out:
        raise Sam3RotoError("nothing would be written: segmenting media keeps no project; add --out mask.png (or "
                            "--out masks/ for several objects), or segment a .sam3roto project to keep the masks in it",
                            path=args.target)
    temp: tempfile.TemporaryDirectory[str] | None = None
    if is_project:
        path = Path(args.target)
        if not path.exists():
            raise Sam3RotoError("the project does not exist", path=path,
                                hint="segment the media, or create the project with track")
        project = load_project(path)
        apply_input_colorspace(project, args)
        store = open_mask_store(path, project)
    else:
        project, source = new_project(args.target, args.input_colorspace)
        source.close()
        temp = tempfile.TemporaryDirectory(prefix="sam3roto-segment-")
        store = MaskStore(temp.name)
    try:
        shot = project.shot
        if shot is None:
            raise Sam3RotoError("the project has no shot", path=args.target)
        index = shot_frame_index(args.frame, shot.frame_numbers, args.target)
        requests = _requests(project, args, index, keep=is_project)
        _check_engine(args.engine, requests)
        if args.out and not any(_has_text(r) and not r.absent for r in requests):
            # names are known before segmenting: refuse a bad --out before any model loads
            output_paths(args.out, args.frame, [(r.obj_id, project.object(r.obj_id).name) for r in requests],
                         force=args.force)
        try:
            results = _segment(project, store, index, requests, args, options)
        finally:
            if is_project:
                save_project(project, args.target)  # keyframes and any objects a text prompt made
        paths = output_paths(args.out, args.frame, [(r.obj_id, project.object(r.obj_id).name) for r in results],
                             force=args.force) if args.out else []
        for n, result in enumerate(results):
            obj = project.object(result.obj_id)
            line = f"object {obj.id} {obj.name!r}, frame {args.frame}: {describe(result.mask)}"
            if result.note:
                line += f"; {result.note}"
            if paths:
                _write_png(paths[n], result.mask)
                line += f" -> {paths[n]}"
            print(line)
        if is_project:
            print(f"saved {args.target}")
    finally:
        if temp is not None:
            temp.cleanup()
    return 0


def _has_text(request: Request) -> bool:
    from sam3roto.core.types import TextPrompt

    return any(isinstance(p, TextPrompt) for p in request.prompts)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "segment", help="masks on one frame from prompts or text (no tracking)",
        description="Segment one frame: the keyframes on frame N of a prompts file (the file track reads) and/or "
        "a text prompt, through the engine's interactive session. On a .sam3roto project the masks go to its mask "
        "store and the prompts become keyframes; --out writes one 8-bit PNG mask (0/255, source size) per object: "
        "a file (one object), a folder (NAME.####.png inside) or a pattern holding {name}, {id} or {frame} (e.g. "
        "mask.{name}.png). Existing files are never overwritten unless --force.",
    )
    p.add_argument("target", metavar="MEDIA|PROJECT", help="media, or a .sam3roto project")
    add_colour_argument(p)
    p.add_argument("--frame", type=int, required=True, metavar="N",
                   help="the frame number to segment (as `info` lists them)")
    p.add_argument("--prompts", help="prompts JSON (see README): the keyframes on --frame are used")
    p.add_argument("--object", metavar="NAME", help="only this object of the prompts file")
    p.add_argument("--text", help="a text prompt: every instance found becomes an object")
    p.add_argument("--out", help="mask.png, a folder (masks/) or a pattern (mask.{name}.png); required on media")
    p.add_argument("--force", action="store_true", help="replace files --out names that exist")
    add_engine_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_segment)

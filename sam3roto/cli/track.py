"""``track MEDIA|PROJECT``: prompts (a prompts file, a Label Studio export, or text) into a
project, then every object tracked over the shot with the chosen engine. Masks are stored
frame by frame and the project is saved even when interrupted, so Ctrl-C keeps the
finished frames. Per object it reports the frames tracked, the frames of low confidence (to
check) and where a track stopped."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sam3roto.cli.common import (
    add_colour_argument,
    add_engine_arguments,
    apply_absent,
    apply_input_colorspace,
    apply_touchups,
    drive,
    engine_options,
    format_numbers,
    format_ranges,
    indices_of,
    object_ids,
)
from sam3roto.errors import Hint, Sam3RotoError

#: Frame ranges printed per object (low confidence, absent) before the rest is only counted.
RANGES_SHOWN = 20


def _project_path(args: argparse.Namespace) -> Path:
    if str(args.target).endswith(".sam3roto"):
        if args.project and Path(args.project) != Path(args.target):
            raise ValueError("give either a PROJECT or MEDIA with --project, not both")
        return Path(args.target)
    if args.project:
        return Path(args.project)
    return Path(Path(str(args.target).rstrip("/")).name.split(".")[0] + ".sam3roto")


def _add_prompts(project: Any, store: Any, args: argparse.Namespace) -> None:
    from sam3roto.core.types import TextPrompt
    from sam3roto.interchange.prompts import frame_index, read_prompts
    from sam3roto.pipeline.interchange import ImportSummary, object_named

    shot = project.shot
    summary = ImportSummary()
    if args.prompts:
        for item in read_prompts(args.prompts, frame_numbers=shot.frame_numbers, size=(shot.width, shot.height)):
            obj = object_named(project, item.name, summary)
            for number, prompts in sorted(item.keyframes.items()):
                try:
                    index = frame_index(number, shot.frame_numbers, f"object {item.name!r}")
                    if prompts or number not in item.strokes:  # a keyframe of strokes alone keeps its prompts
                        project.set_prompts(obj.id, index, prompts)
                    if number in item.strokes or project.keyframe(obj.id, index) is not None:
                        # the file's strokes replace the keyframe's (none in the file: none kept)
                        project.set_strokes(obj.id, index, item.strokes.get(number, []))
                except ValueError as exc:
                    raise Sam3RotoError(str(exc), path=args.prompts) from None
            apply_absent(project, obj.id, item, args.prompts)
            apply_touchups(project, obj.id, item, shot.frame_numbers)
    if args.labelstudio:
        from sam3roto.interchange.labelstudio import choose_task, decode_task, read_export
        from sam3roto.pipeline.interchange import apply_labelstudio

        task = choose_task(read_export(args.labelstudio), args.task)
        frame = indices_of(str(args.frame), shot.frame_numbers, args.labelstudio)[0] if args.frame is not None \
            else None
        decoded = decode_task(task, shot.width, shot.height, shot.frame_numbers, frame=frame)
        apply_labelstudio(project, store, decoded)
        if decoded.skipped:
            print("skipped: " + ", ".join(f"{n} {k}" for k, n in sorted(decoded.skipped.items())))
    if args.text:
        index = indices_of(str(args.frame), shot.frame_numbers, args.target)[0] if args.frame is not None \
            else shot.in_index
        obj = object_named(project, args.text, summary)
        project.set_prompts(obj.id, index, [TextPrompt(args.text)])


def cmd_track(args: argparse.Namespace) -> int:
    from sam3roto.core.project_io import load_project, open_mask_store, save_project
    from sam3roto.pipeline.shot import new_project, open_shot_media
    from sam3roto.pipeline.track import track_job

    options = engine_options(args)
    if args.stop_below is not None and not 0.0 <= args.stop_below <= 1.0:
        raise Sam3RotoError(f"--stop-at-low-confidence takes a confidence from 0 to 1, not {args.stop_below}")
    path = _project_path(args)
    if path.exists():
        project = load_project(path)
        given = str(args.target)
        if not given.endswith(".sam3roto") and project.shot is not None and \
                Path(given).absolute().resolve() != Path(project.shot.media).resolve():
            raise Sam3RotoError(f"the project is on {project.shot.media}, not on {given}; give another --project",
                                path=path)
    elif str(args.target).endswith(".sam3roto"):
        raise Sam3RotoError("the project does not exist", path=path)
    else:
        project, source = new_project(args.target, args.input_colorspace)
        source.close()
    apply_input_colorspace(project, args)
    store = open_mask_store(path, project)
    from sam3roto.core.tracking import DEFAULT_EVERY

    concept = None
    if args.detect_every is not None and not args.text:
        print("error: --detect-every is for --text (how often to look for new instances)", file=sys.stderr)
        return 2
    every = DEFAULT_EVERY if args.detect_every is None else args.detect_every
    if args.text and every:
        from sam3roto.pipeline.concept import ConceptSearch

        if args.chunk:
            raise Sam3RotoError("--text searches the shot in one session: leave out --chunk, or give "
                                "--detect-every 0 to find the instances on one frame and track them in chunks")
        concept = ConceptSearch(args.text, every)
        _add_prompts(project, store, argparse.Namespace(**{**vars(args), "text": None}))
    else:
        _add_prompts(project, store, args)
    if not project.keyframes and concept is None:
        raise Sam3RotoError("nothing to track: give --prompts, --labelstudio or --text (or add keyframes)",
                            path=path)
    save_project(project, path)
    shot = project.shot
    if shot is None:
        raise Sam3RotoError("the project has no shot", path=path)
    start = end = None
    if args.frames:
        chosen = indices_of(args.frames, shot.frame_numbers, path)
        start, end = (chosen[-1], chosen[0]) if args.direction == "backward" else (chosen[0], chosen[-1])
    ids = set(object_ids(project, args.objects, path)) if args.objects else None
    failed = False
    try:
        with open_shot_media(project) as source:
            if concept is not None:
                result = _track_concept(args, project, source, store, concept, start, end, ids, options)
            else:
                job = track_job(project, source, store, engine=args.engine, direction=args.direction, start=start,
                                end=end, engine_options=options, objects=ids, chunk=args.chunk,
                                mode="changed" if args.changed else "all", stop_below=args.stop_below)
                result = drive(job, len(shot.frame_range), quiet=args.quiet)
    except BaseException:
        failed = True
        raise
    finally:
        try:
            save_project(project, path)  # keyframes and objects a text prompt created; masks are already stored
        except Sam3RotoError:
            # After a failed track (a full disk names the mask file it could not write) that error is
            # the one to report; the save failing for the same reason would hide it.
            if not failed:
                raise
    tracked = {o: [f for f in frames if not project.object(o).is_absent(f)] for o, frames in result.frames.items()}
    if args.changed and not any(tracked.values()):
        print("nothing to re-track: every tracked frame is up to date")
    elif not result.frames:
        keys = format_numbers(sorted({shot.frame_numbers[k.frame] for k in project.keyframes}))
        raise Sam3RotoError(f"nothing was tracked: no keyframe lies in the tracked frames (keyframes: {keys}); "
                            "include one in --frames", path=path)
    for obj_id, frames in sorted(tracked.items()):
        if args.changed and not frames:
            continue  # only its absent frames were rewritten (empty): nothing was re-tracked
        name = project.object(obj_id).name
        line = f"object {obj_id} {name!r}: frames {format_numbers(sorted(shot.frame_numbers[i] for i in frames))}"
        gone = sorted(set(result.frames[obj_id]) - set(frames))
        if gone:
            line += f"; absent (empty masks): {format_ranges(gone, shot.frame_numbers, RANGES_SHOWN)}"
        print(line)
        if result.low.get(obj_id):
            print(f"  low confidence: {format_ranges(result.low[obj_id], shot.frame_numbers, RANGES_SHOWN)} "
                  "(check these)")
        if obj_id in result.stopped:
            print(f"  stopped at {shot.frame_numbers[result.stopped[obj_id]]}: confidence below {args.stop_below:g} "
                  "(the frames past it keep what they had)")
    print(f"saved {path}")
    if args.render:
        from sam3roto.cli.render import project_options, run_render
        from sam3roto.export.registry import parse_outputs

        changes: dict[str, Any] = {"outputs": parse_outputs(args.render)}
        if args.frames:
            changes["indices"] = tuple(sorted(indices_of(args.frames, shot.frame_numbers, path)))
        if args.start_frame is not None:
            changes["start_frame"] = args.start_frame
        if ids is not None:
            changes["objects"] = tuple(sorted(ids))
        run_render(path, project, store, project_options(project, path, changes), args.out,
                   quiet=args.quiet)
    return 0


def _frames_count(text: str) -> int:
    """``--detect-every``: a whole number of frames, 0 or more (a usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"takes a number of frames (0: only --frame), not {text!r}")
    return value


def _track_concept(args: argparse.Namespace, project: Any, source: Any, store: Any, concept: Any,
                   start: int | None, end: int | None, ids: set[int] | None, options: dict[str, Any]) -> Any:
    """``--text`` over the shot (concept tracking), then the objects of any other prompts."""
    from sam3roto.backends.registry import create_engine
    from sam3roto.pipeline.concept import concept_job
    from sam3roto.pipeline.track import track_job

    shot = project.shot
    first = indices_of(str(args.frame), shot.frame_numbers, args.target)[0] if args.frame is not None else start
    engine = create_engine(args.engine, **options)
    try:
        result = drive(concept_job(project, source, store, concept, start=start, end=end, first=first,
                                   engine_instance=engine), len(shot.frame_range), quiet=args.quiet)
        others = {k.object_id for k in project.keyframes} - set(result.new_objects)
        if ids is not None:
            others &= ids
        if others:  # objects of --prompts / --labelstudio given with the text
            more = drive(track_job(project, source, store, direction=args.direction, start=start, end=end,
                                   objects=others, mode="changed" if args.changed else "all",
                                   stop_below=args.stop_below, engine_instance=engine),
                         len(shot.frame_range), quiet=args.quiet)
            for table in ("frames", "low", "scores"):
                getattr(result, table).update(getattr(more, table))
            result.stopped.update(more.stopped)
    finally:
        engine.close()
    if not result.new_objects and not any(result.frames.values()):
        first_number = shot.frame_numbers[first if first is not None else shot.in_index]
        raise Sam3RotoError(f"no {concept.text!r} found from frame {first_number} on (the detector looked every "
                            f"{concept.every} frames); nothing was tracked",
                            hint=Hint(cli="try another wording (one noun phrase works best) or --detect-every 1",
                                      window="try another wording (one noun phrase works best)"))
    if not result.new_objects:
        print(f"no {concept.text!r} found")
    return result


def add_parser(sub: Any) -> None:
    from sam3roto.core.tracking import DEFAULT_EVERY, LOW_CONFIDENCE

    p = sub.add_parser(
        "track", help="track objects over a shot from prompts, a Label Studio export or text",
        description="Add prompts to a project (created from MEDIA when needed) and track every object over the "
        "shot. Masks go to the project's mask store frame by frame; Ctrl-C keeps the frames already done. With "
        "--render the result is rendered right after, so one command goes from media and prompts to files.",
    )
    p.add_argument("target", metavar="MEDIA|PROJECT", help="media to start a project on, or a .sam3roto project")
    add_colour_argument(p)
    p.add_argument("--project", help="project file to create or update (default: NAME.sam3roto here)")
    p.add_argument("--prompts", help="prompts JSON: points/boxes/text per object and frame number (see README)")
    p.add_argument("--labelstudio", help="a Label Studio JSON export (one object per label)")
    p.add_argument("--task", help="Label Studio task id, when the export holds several")
    p.add_argument("--text", help="a text prompt (SAM3): every instance in the shot becomes an object and is tracked; "
                   "the detector looks from the first frame (or --frame) on every --detect-every frames, so "
                   "instances that enter later are found too")
    p.add_argument("--detect-every", dest="detect_every", type=_frames_count, default=None, metavar="N",
                   help=f"with --text: look for new instances every N frames (default {DEFAULT_EVERY}; 1 every frame, "
                   "which costs "
                   "a detector pass per frame; 0 only on --frame, then track those both ways)")
    p.add_argument("--frame", type=int, help="frame number for --text (where the search starts), or for a Label "
                   "Studio image task")
    add_engine_arguments(p)
    p.add_argument("--compile", action="store_true",
                   help="with --engine sam3: run the image encoder under torch.compile (it compiles on the first "
                   "frames: about a minute on a GPU, more on a CPU; worth it for long shots on a GPU)")
    p.add_argument("--direction", choices=("forward", "backward", "both"), default="both")
    p.add_argument("--frames", help="frame numbers to track, e.g. 1001-1100 (default: the shot's in/out range)")
    p.add_argument("--changed", action="store_true",
                   help="re-track only what is out of date: the stretches whose keyframes or absent ranges changed "
                   "since they were tracked, and objects never tracked")
    p.add_argument("--stop-at-low-confidence", dest="stop_below", type=float, nargs="?", const=LOW_CONFIDENCE,
                   metavar="T", help=f"stop each object's track at its first frame whose confidence is below T "
                   f"(default {LOW_CONFIDENCE:g}) instead of letting it leak onto something else; the frames past it "
                   "keep what they had. Put it after MEDIA|PROJECT")
    p.add_argument("--chunk", type=int, default=0,
                   help="long shots: track in runs of N frames, each in a fresh session seeded from the previous "
                   "run's masks, so memory stays bounded (default: one session)")
    p.add_argument("--objects", help="track only these objects (names or ids, comma-separated; a farm splits "
                   "tracking this way)")
    p.add_argument("--render", metavar="OUTPUTS",
                   help="then render these outputs (e.g. mask-zip, postshot, png-alpha,exr) into a new version")
    p.add_argument("--out", help="with --render: folder holding the versions (default: renders/ beside the project)")
    p.add_argument("--start-frame", type=int, dest="start_frame", help="with --render: number the first frame")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_track)

"""``labelstudio`` and ``mattes``: annotations and mattes made elsewhere into a project
(created on the media when the project file does not exist yet)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sam3roto.cli.common import drive, format_numbers, indices_of
from sam3roto.errors import Sam3RotoError


def _open_or_create(project_path: str, media: str | None) -> Any:
    from sam3roto.core.project_io import load_project
    from sam3roto.pipeline.shot import new_project

    path = Path(project_path)
    if path.exists():
        return load_project(path)
    if not media:
        raise Sam3RotoError("the project does not exist yet; give --media to create it on that media", path=path)
    project, source = new_project(media)
    source.close()
    return project


def cmd_labelstudio(args: argparse.Namespace) -> int:
    from sam3roto.interchange.jsonfile import show
    from sam3roto.interchange.labelstudio import choose_task, decode_task, read_export

    tasks = read_export(args.export)
    if args.list:
        for task in tasks:
            print(task.describe())
        return 0
    if not args.project:
        print("error: labelstudio needs --project (or --list)", file=sys.stderr)
        return 2
    from sam3roto.core.project_io import open_mask_store, save_project
    from sam3roto.pipeline.interchange import apply_labelstudio

    task = choose_task(tasks, args.task)
    del tasks  # the chosen task holds its results: the export's text and the other tasks can go
    project = _open_or_create(args.project, args.media)
    shot = project.shot
    frame = indices_of(str(args.frame), shot.frame_numbers, args.project)[0] if args.frame is not None else None
    decoded = decode_task(task, shot.width, shot.height, shot.frame_numbers, frame=frame)
    if not decoded.labels:
        raise Sam3RotoError(f"task {show(task.id)} has no boxes, points, brush or polygon labels to import",
                            path=args.export)
    summary = apply_labelstudio(project, open_mask_store(args.project, project), decoded)
    save_project(project, args.project)
    for label in decoded.labels:
        obj_id = summary.objects[label.label]
        parts = []
        if label.prompts:
            parts.append(f"prompts on frames {format_numbers([shot.frame_numbers[i] for i in sorted(label.prompts)])}")
        if label.masks:
            parts.append(f"masks on frames {format_numbers([shot.frame_numbers[i] for i in sorted(label.masks)])}")
        new = " (new)" if label.label in summary.created else ""
        print(f"object {obj_id} {label.label!r}{new}: {'; '.join(parts)}")
    if decoded.skipped:
        print("skipped: " + ", ".join(f"{n} {k}" for k, n in sorted(decoded.skipped.items())))
    print(f"saved {args.project}")
    return 0


def cmd_mattes(args: argparse.Namespace) -> int:
    from sam3roto.core.project_io import open_mask_store, save_project
    from sam3roto.media.source import open_media
    from sam3roto.pipeline.interchange import ImportSummary, import_mattes_job, object_named

    project = _open_or_create(args.project, args.media)
    obj = object_named(project, args.object, ImportSummary())
    save_project(project, args.project)  # the object exists even if the import is interrupted
    with open_media(args.mattes) as mattes:
        written = drive(import_mattes_job(project, open_mask_store(args.project, project), obj.id, mattes),
                        project.shot.frame_count, quiet=args.quiet)
    numbers = [project.shot.frame_numbers[i] for i in written]
    print(f"object {obj.id} {obj.name!r}: masks on frames {format_numbers(numbers)}; saved {args.project}")
    return 0


def add_parsers(sub: Any) -> None:
    ls = sub.add_parser(
        "labelstudio", help="import a Label Studio JSON export: one object per label, prompts and key masks",
        description="Read a Label Studio JSON export (image or video tasks; rectangles, key points, brush and "
        "polygon labels) into a project: one object per label, boxes and points as prompts, brush and polygon "
        "masks as key masks. URLs in the file are never fetched; the media comes from --media or the project.",
    )
    ls.add_argument("export", help="the Label Studio JSON export")
    ls.add_argument("--project", help="the .sam3roto project (created on --media when it does not exist)")
    ls.add_argument("--media", help="the shot's media, to create the project")
    ls.add_argument("--task", help="task id, when the export holds several (see --list)")
    ls.add_argument("--frame", type=int, help="frame number an image task is on (default: from its file name)")
    ls.add_argument("--list", action="store_true", help="list the tasks and exit")
    ls.set_defaults(func=cmd_labelstudio)
    mt = sub.add_parser(
        "mattes", help="import black-and-white mattes as an object's masks",
        description="Store a black-and-white matte per frame (a PNG sequence, a movie...) as the masks of an "
        "object (created when the project has none of that name).",
    )
    mt.add_argument("mattes", help="the mattes: one frame per frame of the shot, same size")
    mt.add_argument("--project", required=True,
                    help="the .sam3roto project (created on --media when it does not exist)")
    mt.add_argument("--object", required=True, help="the object's name")
    mt.add_argument("--media", help="the shot's media, to create the project")
    mt.add_argument("--quiet", action="store_true", help="no progress bar")
    mt.set_defaults(func=cmd_mattes)

"""``render PROJECT --outputs ...``: the project's objects through their post settings
into every requested format, in a new version folder."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from sam3roto.cli.common import drive, format_numbers, indices_of, object_ids, project_and_store
from sam3roto.core.pixels import COMBINE_OPS
from sam3roto.core.project import ENTRY_HINT
from sam3roto.errors import Cancelled, MediaError, ProjectError, Sam3RotoError


def project_options(project: Any, path: str | Path, changes: dict[str, Any] | None = None) -> Any:
    """The project's saved render settings as ``RenderOptions`` (defaults for what is unset)
    with ``changes`` (the command line's) on top; :class:`ProjectError` naming the project
    file and the setting when one cannot be right. Saved object lists that name objects
    deleted since are used without them (said on stderr): deleting an object is normal work."""
    from sam3roto.pipeline.render import RenderOptions

    base = project.settings.get("render", {})
    try:
        options = RenderOptions.from_dict(base, "settings.render")
    except ValueError as exc:
        raise ProjectError(f"invalid entry: {exc}", path=path, hint=ENTRY_HINT) from None
    known = {o.id: f"{o.id} {o.name[:40]!r}" for o in project.objects}
    for name in ("objects", "combine"):
        ids = getattr(options, name)
        gone = [i for i in ids or () if i not in known]
        if gone and name not in (changes or {}):
            kept = tuple(i for i in ids if i in known)
            print(f"note: settings.render.{name} names object{'s' if len(gone) > 1 else ''} "
                  f"{', '.join(map(str, gone))}, which the project no longer has; "
                  f"{'rendering without' if kept else 'using every object instead of'} "
                  f"{'them' if len(gone) > 1 else 'it'}", file=sys.stderr)
            dropped: dict[str, Any] = {name: kept or None}
            options = replace(options, **dropped)
    options = replace(options, **(changes or {}))
    frame_count = project.shot.frame_count if project.shot is not None else 0
    outside = [i for i in options.indices or () if i >= frame_count]
    if outside:
        raise ProjectError(f"invalid entry: settings.render.indices holds frame index {outside[0]}, outside the shot "
                           f"0..{frame_count - 1}", path=path, hint=ENTRY_HINT)
    return options


def check_post_settings(project: Any, path: str | Path) -> None:
    """Every object's saved post settings (and those keyed over the shot) can be used
    (``PostSettings.from_dict``); :class:`ProjectError` naming the project file, the
    object and the setting otherwise."""
    from sam3roto.post.keyed import KeyedPost

    for obj in project.objects:
        try:
            KeyedPost.of(obj)
        except (ValueError, TypeError) as exc:
            problem = str(exc) if len(str(exc)) <= 300 else str(exc)[:297] + "..."
            raise ProjectError(f"invalid entry: object {obj.id} {obj.name[:40]!r}: post settings: {problem}",
                               path=path, hint=ENTRY_HINT) from None


def render_options(project: Any, path: str | Path, args: argparse.Namespace) -> Any:
    """The options of ``render``: the project's saved settings with the command line's on top."""
    from sam3roto.export.registry import parse_outputs

    shot = project.shot
    if shot is None:
        raise ProjectError("the project has no shot", path=path)
    check_post_settings(project, path)
    changes: dict[str, Any] = {}
    if args.outputs:
        changes["outputs"] = parse_outputs(args.outputs)
    if args.objects:
        changes["objects"] = object_ids(project, args.objects, path)
    if args.combine:
        changes["combine"] = object_ids(project, args.combine, path)
    if args.frames:
        changes["indices"] = tuple(indices_of(args.frames, shot.frame_numbers, path))
    for name in ("combine_op", "start_frame", "name", "bit_depth", "exr_compression", "zip_mode", "workers", "version",
                 "depth_encoding", "ply_keep", "ply_stride", "ply_min_confidence", "ply_max_points"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.exr_rgb:
        changes["exr_rgb"] = True
    if args.part:
        changes["part"] = True
    return project_options(project, path, changes)


def cmd_render(args: argparse.Namespace) -> int:
    from sam3roto.export.registry import EXPORTERS, exporter_class

    if args.list_outputs:
        for exporter_id in EXPORTERS:
            info = exporter_class(exporter_id).info
            print(f"{exporter_id:<13} {info.kind:<8} {info.description}{' [needs depth]' if info.depth else ''}")
        return 0
    if not args.project:
        print("error: render needs a PROJECT (or --list-outputs)", file=sys.stderr)
        return 2
    if (args.part or args.publish) and args.version is None:
        print("error: --part and --publish need --version N (the farm job's version)", file=sys.stderr)
        return 2
    try:
        return _render(args)
    except Cancelled:
        raise
    except Sam3RotoError as exc:
        if exc.path is not None:
            raise
        # what the render of a project refuses without naming a file is the project's doing
        # (its objects, frames, settings): name the project
        raise Sam3RotoError(exc.message, path=args.project, hint=exc.hint) from exc


def _render(args: argparse.Namespace) -> int:
    project, store = project_and_store(args.project)
    options = render_options(project, args.project, args)
    if args.publish:
        from sam3roto.core.project_io import renders_dir
        from sam3roto.pipeline.render import publish_parts

        root = Path(args.out) if args.out else renders_dir(args.project)
        expected = options.indices if args.frames else tuple(project.shot.frame_range)
        final = publish_parts(root, args.version, expected)
        print(f"published {final.name} ({len(expected)} frames) to {final}")
        return 0
    run_render(Path(args.project), project, store, options, args.out, quiet=args.quiet)
    return 0


def open_project_media(project: Any, project_path: str | Path) -> Any:
    """The project's media, checked against its shot; an error naming the project file and
    the media when it cannot be opened or does not match."""
    from sam3roto.pipeline.shot import open_shot_media

    try:
        return open_shot_media(project)
    except Sam3RotoError as exc:
        raise MediaError(f"the shot's media {exc.headline}", path=project_path, hint=exc.hint) from exc


def run_render(project_path: Path, project: Any, store: Any, options: Any, out: str | None, *, quiet: bool) -> Any:
    """Render ``options`` for the project at ``project_path`` (into ``out`` or ``renders/``
    beside the project) with a progress bar, and print what was written."""
    from sam3roto.core.depthcache import DepthCache
    from sam3roto.core.project_io import depth_cache_dir, renders_dir
    from sam3roto.pipeline.render import render_job

    root = Path(out) if out else renders_dir(project_path)
    with open_project_media(project, project_path) as source:
        total = len(options.indices) if options.indices is not None else len(project.shot.frame_range)
        job = render_job(project, source, store, root, options, project_path=project_path,
                         depth=DepthCache(depth_cache_dir(project_path)))
        result = drive(job, total, quiet=quiet)
    counts = ", ".join(f"{k} {len(v)}" for k, v in result.files.items())
    where = f"part of v{result.version:03d} (published by render --publish)" if options.part else result.folder.name
    print(f"wrote {where}: {result.file_count} files ({counts}) for frames "
          f"{format_numbers(result.numbers)} to {result.folder}")
    for name in result.untracked:
        print(f"note: object {name!r} has no masks on these frames (not tracked yet?); its mattes are empty")
    return result


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "render", help="render a project: mattes, RGBA, depth, normals, cameras, point cloud into a new version",
        description="Render the project's objects through their post settings into every requested output, in a "
        "new version folder (v001, v002...; earlier versions are never touched). Depth, normals, camera, PLY and "
        "Blender outputs read the project's depth cache (python run.py depth PROJECT). Options not given come from "
        "the project's 'render' settings, then the defaults. Ctrl-C removes the unfinished version.",
    )
    p.add_argument("project", nargs="?", help="the .sam3roto project")
    p.add_argument("--outputs", help="comma-separated output ids (see --list-outputs); default png-alpha")
    p.add_argument("--list-outputs", action="store_true", help="list the outputs and exit")
    p.add_argument("--out", help="folder holding the versions (default: renders/ beside the project)")
    p.add_argument("--objects", help="objects by name or id, comma-separated (default: every visible object)")
    p.add_argument("--combine", help="objects merged into combined/Postshot/ZIP mattes (default: --objects)")
    p.add_argument("--combine-op", dest="combine_op", choices=COMBINE_OPS,
                   help="how the --combine objects merge (default union; difference: the first minus the others)")
    p.add_argument("--frames", help="frame numbers, e.g. 1001-1100 (default: the shot's in/out range)")
    p.add_argument("--start-frame", type=int, dest="start_frame", help="number the first frame (e.g. 1001)")
    p.add_argument("--name", help="file name stem (default: the media's name)")
    p.add_argument("--bits", type=int, choices=(8, 16), dest="bit_depth", help="PNG bit depth (default 16)")
    p.add_argument("--exr-compression", dest="exr_compression", choices=("zip", "piz", "dwaa", "none"))
    p.add_argument("--exr-rgb", action="store_true", dest="exr_rgb", help="also write the plate's RGB into the EXRs")
    p.add_argument("--zip-mode", dest="zip_mode", choices=("single", "per_label"),
                   help="mask ZIP: one composited mask per frame, or a folder per object")
    p.add_argument("--depth-encoding", dest="depth_encoding", choices=("inverse", "depth"),
                   help="depth-png16 code values: inverse depth (default; near is bright) or depth")
    p.add_argument("--ply-keep", dest="ply_keep", choices=("all", "object", "background"),
                   help="point cloud: every pixel (default), or only inside / outside the --combine objects' matte")
    p.add_argument("--ply-stride", dest="ply_stride", type=int, help="point cloud: every Nth pixel (default 4)")
    p.add_argument("--ply-min-confidence", dest="ply_min_confidence", type=float,
                   help="point cloud: drop pixels whose depth confidence is lower (default 0)")
    p.add_argument("--ply-max-points", dest="ply_max_points", type=int, help="point cloud size cap (default 2000000)")
    p.add_argument("--workers", type=int, help="write threads (default: one per core)")
    p.add_argument("--version", type=int, help="write this version number (refused if it exists)")
    p.add_argument("--part", action="store_true",
                   help="farm task: add these --frames to --version's unpublished folder beside other tasks")
    p.add_argument("--publish", action="store_true",
                   help="farm: check every task's frames are there, then publish --version")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_render)

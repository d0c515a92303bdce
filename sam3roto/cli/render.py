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
from sam3roto.errors import Sam3RotoError


def project_options(project: Any, path: str | Path) -> Any:
    """The project's saved render settings as ``RenderOptions`` (defaults for what is unset)."""
    from sam3roto.pipeline.render import RenderOptions

    base = project.settings.get("render", {})
    if not isinstance(base, dict):
        raise Sam3RotoError("the project's render settings must be a JSON object", path=path)
    return RenderOptions.from_dict(base)


def cmd_render(args: argparse.Namespace) -> int:
    from sam3roto.export.registry import EXPORTERS, exporter_class, parse_outputs

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
    project, store = project_and_store(args.project)
    if project.shot is None:
        raise Sam3RotoError("the project has no shot", path=args.project)
    options = project_options(project, args.project)
    changes: dict[str, Any] = {}
    if args.outputs:
        changes["outputs"] = parse_outputs(args.outputs)
    if args.objects:
        changes["objects"] = object_ids(project, args.objects, args.project)
    if args.combine:
        changes["combine"] = object_ids(project, args.combine, args.project)
    if args.frames:
        changes["indices"] = tuple(indices_of(args.frames, project.shot.frame_numbers, args.project))
    for name in ("combine_op", "start_frame", "name", "bit_depth", "exr_compression", "zip_mode", "workers", "version",
                 "depth_encoding", "ply_keep", "ply_stride", "ply_min_confidence", "ply_max_points"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.exr_rgb:
        changes["exr_rgb"] = True
    if args.publish:
        from sam3roto.core.project_io import renders_dir
        from sam3roto.pipeline.render import publish_parts

        root = Path(args.out) if args.out else renders_dir(args.project)
        expected = changes.get("indices") or tuple(project.shot.frame_range)
        final = publish_parts(root, args.version, expected)
        print(f"published {final.name} ({len(expected)} frames) to {final}")
        return 0
    if args.part:
        changes["part"] = True
    options = replace(options, **changes)
    run_render(Path(args.project), project, store, options, args.out, quiet=args.quiet)
    return 0


def run_render(project_path: Path, project: Any, store: Any, options: Any, out: str | None, *, quiet: bool) -> Any:
    """Render ``options`` for the project at ``project_path`` (into ``out`` or ``renders/``
    beside the project) with a progress bar, and print what was written."""
    from sam3roto.core.depthcache import DepthCache
    from sam3roto.core.project_io import depth_cache_dir, renders_dir
    from sam3roto.pipeline.render import render_job
    from sam3roto.pipeline.shot import open_shot_media

    root = Path(out) if out else renders_dir(project_path)
    with open_shot_media(project) as source:
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

"""``render PROJECT --outputs ...``: the project's objects through their post settings
into every requested format, in a new version folder."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from sam3roto.cli.common import (
    add_colour_argument,
    apply_input_colorspace,
    drive,
    format_numbers,
    indices_of,
    object_ids,
    project_and_store,
)
from sam3roto.core.project import ENTRY_HINT
from sam3roto.errors import Cancelled, MediaError, ProjectError, Sam3RotoError

#: ``render --input-colorspace``: like the other commands' option, but for this render only.
RENDER_INPUT_COLORSPACE_HELP = (
    "the OpenColorIO colour space the plates are in, for this render only: the project file is not changed "
    "(default: the project's). python run.py colorspaces lists the names")


def project_options(project: Any, path: str | Path, changes: dict[str, Any] | None = None) -> Any:
    """The project's saved render settings as ``RenderOptions`` (defaults for what is unset)
    with ``changes`` (the command line's) on top; :class:`ProjectError` naming the project
    file and the setting when one cannot be right. Saved object lists that name objects
    deleted since are used without them (said on stderr): deleting an object is normal work.
    A saved version or farm part is ignored (one-shot choices, see
    :data:`~sam3roto.pipeline.render_table.ONE_SHOT`), and so are the saved frames when
    ``changes`` make a farm part: its frames are its command line's, else the whole shot."""
    from sam3roto.pipeline.render import RenderOptions
    from sam3roto.pipeline.render_table import saved_settings

    base = saved_settings(project.settings, part=bool((changes or {}).get("part")))
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
    """The options of ``render``: the project's saved settings with the command line's on
    top (every option of the table :data:`sam3roto.pipeline.render_table.RENDER_SETTINGS`
    that was given)."""
    from sam3roto.export.registry import parse_outputs
    from sam3roto.pipeline.render_table import RENDER_SETTINGS

    shot = project.shot
    if shot is None:
        raise ProjectError("the project has no shot", path=path)
    check_post_settings(project, path)
    changes: dict[str, Any] = {}
    for setting in RENDER_SETTINGS:
        value = getattr(args, setting.dest, None)
        if value is None:
            continue
        if setting.kind in ("outputs", "objects", "frames"):
            if not value:
                continue  # an empty list given: as if not given (the saved settings or the default)
            if setting.kind == "outputs":
                value = parse_outputs(value)
            elif setting.kind == "objects":
                value = object_ids(project, value, path)
            else:
                value = tuple(indices_of(value, shot.frame_numbers, path))
        changes[setting.name] = value
    return project_options(project, path, changes)


def render_folder(project: Any, path: str | Path, out: str | None) -> Path:
    """Where the versions go: ``out`` (``--out``), else the project's ``render_folder``
    setting (relative to the project file's folder), else ``renders/`` beside the project;
    :class:`ProjectError` naming the project file when the setting is not a folder path
    (:func:`sam3roto.pipeline.render_table.versions_folder`, which ``farm`` uses too)."""
    from sam3roto.pipeline.render_table import versions_folder

    return versions_folder(project.settings, path, out)


def check_colour_flags(args: argparse.Namespace) -> None:
    """``--input-colorspace`` and ``--output-colorspace``, when given, are colour spaces of
    the OpenColorIO config; otherwise a :class:`ColourError` naming the flag (not the
    project: the name came from the command line)."""
    flags = (("--input-colorspace", "input_colorspace", "input colour space"),
             ("--output-colorspace", "output_colorspace", "output colour space"))
    given: list[tuple[str, str, str]] = [(flag, what, str(getattr(args, dest))) for flag, dest, what in flags
                                         if getattr(args, dest, None)]
    if not given:
        return
    from sam3roto.media.colour import ColourError, load_config

    config = load_config()  # (a config that cannot load is an error naming it)
    for flag, what, name in given:
        try:
            config.resolve(name, what)
        except ColourError as exc:
            raise ColourError(f"{flag}: {exc.message}", hint=exc.hint) from None


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
    check_colour_flags(args)
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
    apply_input_colorspace(project, args)  # for this render: the project file is not saved
    options = render_options(project, args.project, args)
    if args.publish:
        from sam3roto.pipeline.render import publish_parts

        root = render_folder(project, args.project, args.out)
        expected = options.indices if args.frames else tuple(project.shot.frame_range)
        final = publish_parts(root, args.version, expected)
        print(f"published {final.name} ({len(expected)} frames) to {final}")
        return 0
    run_render(Path(args.project), project, store, options, args.out, quiet=args.quiet)
    return 0


def open_project_media(project: Any, project_path: str | Path) -> Any:
    """The project's media, checked against its shot; an error naming the project file and
    the media when it cannot be opened or does not match. The shot's input colour space
    missing from the OpenColorIO config is a :class:`ColourError` of its own, naming the
    project file (where the name is kept) and the config; a config that cannot load names
    the config's file."""
    from sam3roto.media.colour import ColourError
    from sam3roto.pipeline.shot import open_shot_media

    try:
        return open_shot_media(project)
    except ColourError as exc:
        if exc.path is not None:
            raise
        raise ColourError(exc.message, path=project_path, hint=exc.hint) from exc
    except Sam3RotoError as exc:
        raise MediaError(f"the shot's media {exc.headline}", path=project_path, hint=exc.hint) from exc


def run_render(project_path: Path, project: Any, store: Any, options: Any, out: str | None, *, quiet: bool) -> Any:
    """Render ``options`` for the project at ``project_path`` (into ``out``, else the
    project's render folder, see :func:`render_folder`) with a progress bar, and print
    what was written and which objects had no masks on some rendered frames."""
    from sam3roto.core.depthcache import DepthCache
    from sam3roto.core.project_io import depth_cache_dir
    from sam3roto.pipeline.render import render_job
    from sam3roto.pipeline.render_table import number_ranges_text

    root = render_folder(project, project_path, out)
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
    for name, numbers in result.untracked_frames.items():
        if name not in result.untracked:
            print(f"note: object {name!r} has no masks on frames {number_ranges_text(numbers, 20)} (not tracked "
                  "there?); its mattes there are empty")
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
    p.add_argument("--list-outputs", action="store_true", help="list the outputs and exit")
    p.add_argument("--out", help="folder holding the versions (default: the project's render folder, chosen in the "
                   "window's Export tab, else renders/ beside the project)")
    add_render_options(p)
    add_colour_argument(p, RENDER_INPUT_COLORSPACE_HELP)  # the render never saves the project
    p.add_argument("--publish", action="store_true",
                   help="farm: check every task's frames are there, then publish --version")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_render)


def add_render_options(parser: argparse.ArgumentParser) -> None:
    """One option per entry of the render table, its flag, dest, choices and help from the
    table; each defaults to None (not given: the project's saved settings, then the
    ``RenderOptions`` default)."""
    from sam3roto.pipeline.render_table import RENDER_SETTINGS

    for setting in RENDER_SETTINGS:
        common: dict[str, Any] = {"dest": setting.dest, "help": setting.help, "default": None}
        if setting.kind == "bool":
            # --exr-rgb / --no-exr-rgb: off wins over a saved setting; --part is only ever on
            action: Any = "store_true" if setting.name == "part" else argparse.BooleanOptionalAction
            parser.add_argument(setting.flag, action=action, **common)
        elif setting.kind == "choice":
            choices = setting.choices or ()  # (never empty: RenderSetting checks a choice has them)
            parser.add_argument(setting.flag, type=type(choices[0]), choices=choices, **common)
        elif setting.kind in ("int", "float"):
            parser.add_argument(setting.flag, type=int if setting.kind == "int" else float, metavar=setting.metavar,
                                **common)
        else:  # outputs, objects, frames, text, colorspace: a string, read by render_options
            parser.add_argument(setting.flag, metavar=setting.metavar, **common)

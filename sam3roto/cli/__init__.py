"""The headless command line: ``python run.py COMMAND ...``.

Exit codes: 0 success, 1 an error sam3roto reports (``error: ...``), 2 bad usage,
130 interrupted (Ctrl-C). ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sam3roto import __version__
from sam3roto.cli import depth, everything, farm, imports, render, segment, serve, track
from sam3roto.cli.common import INPUT_COLORSPACE_RUN_HELP, add_colour_argument, drive, format_numbers, indices_of
from sam3roto.errors import Sam3RotoError


def cmd_info(args: argparse.Namespace) -> int:
    from sam3roto.media.colour import load_config
    from sam3roto.media.source import open_media

    with open_media(args.media) as source:
        info = source.info
        config = load_config()
        guessed = config.guess(info)
        if args.json:
            data = info.describe()
            data["frame_numbers"] = format_numbers(info.frame_numbers)
            data["colorspace_guess"] = guessed
            data["ocio_config"] = config.name
            print(json.dumps(data, indent=1))
            return 0
        fps_note = " (default: sequences carry no rate)" if info.fps_is_default else ""
        if info.variable_frame_rate:
            fps_note += " (variable frame rate; average shown)"
        rows = [
            ("path", str(info.path)),
            ("kind", info.kind + (f" ({info.codec})" if info.codec else "")),
            ("frames", str(info.frame_count)),
            ("fps", f"{float(info.fps):.6g} = {info.fps.numerator}/{info.fps.denominator}{fps_note}"),
            ("size", f"{info.width}x{info.height}"),
            ("channels", f"{info.channels} in the source, delivered as RGB"),
            ("bit depth", f"{info.bit_depth} ({info.dtype})"),
            ("frame numbers", format_numbers(info.frame_numbers)),
            ("gaps", format_numbers(info.gaps) if info.gaps else "none"),
            ("colour space", f"{guessed} (guessed; OpenColorIO config {config.name})"),
        ]
        if info.rotation:
            rows.append(("rotation", f"{info.rotation} degrees (applied)"))
        if note := info.truncation_note():
            rows.append(("truncated", note))
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            print(f"{key:<{width}}  {value}")
    return 0


def cmd_colorspaces(args: argparse.Namespace) -> int:
    from sam3roto.media.colour import load_config

    config = load_config()
    spaces = [{"name": n, "encoding": config.encoding(n)} for n in config.names()]
    displays = {d: config.views(d) for d in config.displays()}
    if args.json:
        print(json.dumps({"config": config.name, "source": config.source, "models": config.model_space,
                          "scene_linear": config.linear_space, "colorspaces": spaces, "displays": displays},
                         indent=1))
        return 0
    print(f"config: {config.name} ({config.source})")
    print(f"the models see: {config.model_space}; scene-linear: {config.linear_space}")
    print("colour spaces:")
    for item in spaces:
        print(f"  {item['name']}" + (f"  [{item['encoding']}]" if item["encoding"] else ""))
    print("displays and views:")
    for display, views in displays.items():
        print(f"  {display}: {', '.join(views)}")
    return 0


def load_post_settings(settings_file: str | None, assignments: Sequence[str]) -> Any:
    """PostSettings from a JSON file (optional) with ``NAME=VALUE`` overrides on top (the
    file's ``"keys"``, settings keyed by frame number, are read by :func:`load_post_keys`)."""
    from sam3roto.post.settings import PostSettings

    data = _settings_data(settings_file, assignments)
    data.pop("keys", None)
    return PostSettings.from_dict(data)


def _settings_data(settings_file: str | None, assignments: Sequence[str]) -> dict[str, Any]:
    from sam3roto.interchange.jsonfile import read_json
    from sam3roto.post.settings import parse_assignment

    data: dict[str, Any] = read_json(settings_file, "the post settings file") if settings_file else {}
    if not isinstance(data, dict):
        raise Sam3RotoError("the post settings file must hold a JSON object", path=settings_file)
    for text in assignments:
        name, value = parse_assignment(text)
        data[name] = value
    return data


def load_post_keys(settings_file: str | None, assignments: Sequence[str], frame_numbers: Sequence[int]) -> Any:
    """The settings of ``post``: a PostSettings, or a :class:`KeyedPost` (by frame index)
    when the file has ``"keys": {"FRAME": {settings}, ...}`` (frame numbers of the shot;
    each key is the file's settings with its own on top, then the ``NAME=VALUE`` overrides)."""
    from sam3roto.post.keyed import KeyedPost

    data = _settings_data(settings_file, assignments)
    keys = data.pop("keys", None)
    if keys is None:
        return KeyedPost.from_dicts(data).base
    if not isinstance(keys, dict) or not keys:
        raise Sam3RotoError('"keys" must map frame numbers to settings, e.g. {"1001": {"grow_px": 2}}',
                            path=settings_file)
    index = {number: i for i, number in enumerate(frame_numbers)}
    overrides = dict(parse_assignment_list(assignments))
    by_index: dict[int, dict[str, Any]] = {}
    for text, values in keys.items():
        number = int(text) if re.fullmatch(r"-?[0-9]{1,18}", text) else None
        if number not in index:
            raise Sam3RotoError(f'"keys": {text[:20]!r} is not a frame number of the shot '
                                f"({frame_numbers[0]}..{frame_numbers[-1]})", path=settings_file)
        if not isinstance(values, dict):
            raise Sam3RotoError(f'"keys": frame {number}: settings must be a JSON object', path=settings_file)
        by_index[index[number]] = {**data, **values, **overrides}
    try:
        return KeyedPost.from_dicts(data, by_index)
    except (TypeError, ValueError) as exc:
        raise Sam3RotoError(str(exc), path=settings_file) from None


def parse_assignment_list(assignments: Sequence[str]) -> list[tuple[str, Any]]:
    from sam3roto.post.settings import parse_assignment

    return [parse_assignment(text) for text in assignments]


def cmd_post(args: argparse.Namespace) -> int:
    settings = load_post_settings(args.settings, args.set)
    if args.print_settings:
        print(json.dumps(settings.to_dict(), indent=1))
        return 0
    if not args.media or not args.masks or not args.out:
        print("error: post needs MEDIA, --masks and --out (or --print-settings)", file=sys.stderr)
        return 2
    from sam3roto.interchange.prompts import read_touchups
    from sam3roto.media.colour import colour_source
    from sam3roto.media.source import open_media
    from sam3roto.pipeline.post import post_job

    with colour_source(open_media(args.media), args.input_colorspace) as media, open_media(args.masks) as masks:
        info = media.info
        keyed = load_post_keys(args.settings, args.set, info.frame_numbers)
        touchups = read_touchups(args.touchups, frame_numbers=info.frame_numbers, size=(info.width, info.height)) \
            if args.touchups else []
        indices = indices_of(args.frames, info.frame_numbers, info.path) if args.frames else None
        job = post_job(media, masks, keyed, Path(args.out), name=args.name, rgba=args.rgba, indices=indices,
                       touchups=touchups)
        run = drive(job, len(indices) if indices is not None else info.frame_count, quiet=args.quiet)
    print(f"wrote {len(run.files)} files for frames {format_numbers(run.frames)} to {run.out_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="sam3roto: rotoscoping workstation. Without a command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"sam3roto {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser("info", help="describe media: frames, fps, size, bit depth, frame numbers, gaps",
                          description="Describe a movie, an image sequence (folder, name.####.ext, "
                          "name.%%04d.ext), a still, or a ZIP of frames.")
    info.add_argument("media", help="movie, sequence folder or pattern, image, or .zip")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=cmd_info)
    post = sub.add_parser(
        "post", help="matte and RGB post on black-and-white masks: refine, temporal, despill, edge extend",
        description="Run the post stack (every setting of the Matte and RGB/Comp tabs) over a shot and its "
        "masks (a black-and-white matte per frame, e.g. a PNG sequence), writing 16-bit PNG mattes and, with "
        "--rgba, RGBA. Settings come from --settings FILE.json and/or --set NAME=VALUE; "
        "--print-settings lists them all with their values.",
    )
    post.add_argument("media", nargs="?", help="the shot: movie, sequence folder or pattern, image, or .zip")
    post.add_argument("--masks", help="black-and-white mattes, one per frame of the media")
    post.add_argument("--out", help="output folder (new or empty; results are never overwritten)")
    post.add_argument("--settings", help='post settings JSON (see --print-settings); "keys": {"FRAME": {...}} keys '
                      "settings by frame number, interpolated linearly between keys")
    post.add_argument("--touchups", metavar="FILE", help='strokes painted over the final mattes: {"touchups": '
                      '[{"first": N, "last": N, "strokes": [...]}]} (frame numbers; see the prompts file schema)')
    post.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                      help="one setting, e.g. grow_px=2, refine_band_px=12, despill=green; repeatable")
    post.add_argument("--rgba", action="store_true", help="also write RGBA PNGs (straight unless premultiply=true)")
    post.add_argument("--frames", help="frame numbers to post, e.g. 1001-1050 (default: all)")
    post.add_argument("--name", default="matte", help="file name stem (default: matte)")
    post.add_argument("--print-settings", action="store_true", help="print the settings as JSON and exit")
    post.add_argument("--quiet", action="store_true", help="no progress bar")
    add_colour_argument(post, INPUT_COLORSPACE_RUN_HELP)
    post.set_defaults(func=cmd_post)
    spaces = sub.add_parser(
        "colorspaces", help="list the OpenColorIO config's colour spaces, displays and views",
        description="The colour config sam3roto uses ($OCIO, else the studio config built into OpenColorIO): its "
        "colour spaces (what --input-colorspace and --output-colorspace take), its displays and views (the "
        "viewer's), and the space the models see (sRGB).")
    spaces.add_argument("--json", action="store_true", help="print JSON instead of lists")
    spaces.set_defaults(func=cmd_colorspaces)
    segment.add_parser(sub)
    everything.add_parser(sub)
    track.add_parser(sub)
    depth.add_parser(sub)
    farm.add_parser(sub)
    render.add_parser(sub)
    serve.add_parser(sub)
    imports.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Sam3RotoError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {shorten(str(exc))}", file=sys.stderr)
        return 1
    except MemoryError:
        if args.debug:
            traceback.print_exc()
        print("error: ran out of memory (the input is larger than this machine can hold; the limits in "
              "SAM3ROTO_MAX_FRAME_BYTES and the other SAM3ROTO_MAX_* settings refuse such files up front)",
              file=sys.stderr)
        return 1
    except (ValueError, IndexError, TypeError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {shorten(str(exc))}", file=sys.stderr)
        return 1


#: The longest error line printed; a longer message is cut in the middle (its start names the
#: file and the problem, its end the hint).
MAX_ERROR_CHARS = 2000


def shorten(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]} [... {len(text) - 2 * keep} characters left out ...] {text[-keep:]}"

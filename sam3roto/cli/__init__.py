"""The headless command line: ``python run.py COMMAND ...``.

Exit codes: 0 success, 1 an error sam3roto reports (``error: ...``), 2 bad usage,
130 interrupted (Ctrl-C). ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence

from sam3roto import __version__
from sam3roto.errors import Sam3RotoError


def _format_numbers(numbers: Sequence[int]) -> str:
    """``1-3,5,7-9`` for a sorted list of ints."""
    parts: list[str] = []
    start = prev = None
    for n in numbers:
        if start is None:
            start = prev = n
        elif prev is not None and n == prev + 1:
            prev = n
        else:
            parts.append(f"{start}-{prev}" if start != prev else f"{start}")
            start = prev = n
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else f"{start}")
    return ",".join(parts)


def cmd_info(args: argparse.Namespace) -> int:
    from sam3roto.media.source import open_media

    with open_media(args.media) as source:
        info = source.info
        if args.json:
            data = info.describe()
            data["frame_numbers"] = _format_numbers(info.frame_numbers)
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
            ("frame numbers", _format_numbers(info.frame_numbers)),
            ("gaps", _format_numbers(info.gaps) if info.gaps else "none"),
        ]
        if info.rotation:
            rows.append(("rotation", f"{info.rotation} degrees (applied)"))
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            print(f"{key:<{width}}  {value}")
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
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, IndexError, TypeError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1

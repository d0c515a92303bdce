"""Entry point of ``python run.py``: the window without arguments, the CLI with them."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the GUI (no arguments) or the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        try:
            from sam3roto.ui.main_window import run_gui
        except ModuleNotFoundError as exc:
            if exc.name is not None and not exc.name.startswith("sam3roto.ui"):
                print(f"error: the window needs {exc.name}: pip install -r requirements.txt", file=sys.stderr)
                return 1
            print("The workstation window is not in this build yet; the command line is.\n", file=sys.stderr)
            from sam3roto.cli import build_parser

            build_parser().print_help()
            return 2
        return int(run_gui())
    from sam3roto.cli import main as cli_main

    return cli_main(args)

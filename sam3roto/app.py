"""Entry point of ``python run.py``: the window without arguments, the CLI with them."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence


def _gui() -> int:
    from sam3roto.ui import platform_check

    reason = platform_check.problem()
    if reason is not None:
        print(f"error: the window cannot start: {reason}", file=sys.stderr)
        return 1
    try:
        from sam3roto.ui.main_window import run_gui
    except ModuleNotFoundError as exc:
        if exc.name is not None and not exc.name.startswith("sam3roto.ui"):
            print(f"error: the window needs {exc.name}: pip install -r requirements.txt", file=sys.stderr)
            return 1
        raise
    except ImportError as exc:
        # Qt's own libraries load here; a missing system library is named by the loader.
        lib = re.match(r"^(\S+\.so[.\d]*): cannot open shared object file", str(exc))
        if lib is None:
            raise
        package = platform_check.debian_package(lib.group(1))
        print(f"error: the window cannot start: the system library {lib.group(1)} is missing; "
              f"on Debian/Ubuntu: sudo apt-get install {package}", file=sys.stderr)
        return 1
    return int(run_gui())


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the GUI (no arguments) or the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        return _gui()
    from sam3roto.cli import main as cli_main

    return cli_main(args)

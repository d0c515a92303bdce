"""Can Qt open a window here? Checked before a QApplication exists.

When Qt cannot load its platform plugin it prints a message and aborts the process, and the
message names the wrong package on Debian 12 (``libxcb-cursor0`` when ``libxcb-icccm4`` and
``libxcb-keysyms1`` are what is missing). So before the window starts, :func:`problem`
looks at the plugin Qt will load: is there a display for it, and does ``ldd`` find every
library it needs? Missing libraries are named with the Debian/Ubuntu package that holds
them (the package name follows from the library's soname by Debian policy).

Nothing here imports Qt.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships ``soname`` by naming policy:
    ``libxcb-icccm.so.4`` -> ``libxcb-icccm4``, ``libdbus-1.so.3`` -> ``libdbus-1-3``,
    ``libEGL.so.1`` -> ``libegl1``."""
    match = re.match(r"^(.+?)\.so\.(\d+)", soname)
    if match is None:
        return soname
    base, version = match.group(1).lower(), match.group(2)
    return f"{base}-{version}" if base[-1].isdigit() else f"{base}{version}"


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` reports as ``not found``, each once, in order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def _platform_names(env: dict[str, str]) -> list[str]:
    """The platforms Qt will try, in order (``QT_QPA_PLATFORM`` may list fallbacks:
    ``wayland;xcb``)."""
    requested = [part.split(":")[0].strip() for part in env.get("QT_QPA_PLATFORM", "").split(";")]
    names = [name for name in requested if name]
    if names:
        return names
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return ["wayland", "xcb"]
    return ["xcb"]


def _plugin(name: str) -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms"
    path = folder / f"libq{name}.so"
    return path if path.is_file() else None


def _ldd(path: Path) -> str:
    ldd = shutil.which("ldd")
    if ldd is None:
        return ""
    try:
        return subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def problem(env: dict[str, str] | None = None, platform: str = sys.platform) -> str | None:
    """Why the window cannot start here, as a sentence with the fix; None when it can (or
    when this cannot be told: not Linux, no ``ldd``, a plugin we do not know)."""
    if not platform.startswith("linux"):
        return None
    env = dict(os.environ if env is None else env)
    reasons = []
    for name in _platform_names(env):
        reason = _problem(name, env)
        if reason is None:
            return None  # Qt takes the first platform that loads
        reasons.append(reason)
    return "; ".join(reasons)


def _problem(name: str, env: dict[str, str]) -> str | None:
    """Why platform ``name`` cannot load here; None when it can (or this cannot be told)."""
    if name == "xcb" and not env.get("DISPLAY"):
        return ("there is no display to open the window on (DISPLAY is not set); run it on a desktop, "
                "under a virtual display (xvfb-run python run.py), or use the command line (python run.py --help)")
    if name == "wayland" and not env.get("WAYLAND_DISPLAY"):
        return "the wayland platform needs WAYLAND_DISPLAY, which is not set"
    plugin = _plugin(name)
    if plugin is None:
        return None
    missing = missing_libraries(_ldd(plugin))
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(debian_package(lib) for lib in missing))
    return (f"Qt's '{name}' platform plugin cannot load: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; on Debian/Ubuntu: sudo apt-get install {packages} "
            f"(other systems: the packages holding those libraries)")

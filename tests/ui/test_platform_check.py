"""The window's start-up check: a missing display or system library is named, with the
package to install, instead of Qt aborting the process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sam3roto.ui import platform_check

ROOT = Path(__file__).resolve().parents[2]

# What ldd printed for PySide6's libqxcb.so on a Debian 12 machine with only Xvfb installed.
LDD_DEBIAN12 = """\
\tlinux-vdso.so.1 (0x00007ffd7b5f4000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f2c1c000000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f2c1bfd0000)
\tlibxcb-icccm.so.4 => not found
"""


@pytest.mark.parametrize(("soname", "package"), [
    ("libxcb-icccm.so.4", "libxcb-icccm4"), ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-cursor.so.0", "libxcb-cursor0"), ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libdbus-1.so.3", "libdbus-1-3"), ("libEGL.so.1", "libegl1"), ("libGL.so.1", "libgl1"),
    ("libfontconfig.so.1", "libfontconfig1"),
])
def test_debian_package_follows_the_soname_policy(soname: str, package: str) -> None:
    assert platform_check.debian_package(soname) == package


def test_missing_libraries_are_named_with_their_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    assert platform_check.missing_libraries(LDD_DEBIAN12) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    monkeypatch.setattr(platform_check, "_ldd", lambda path: LDD_DEBIAN12)
    reason = platform_check.problem({"DISPLAY": ":99"}, platform="linux")
    assert reason is not None
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1 are missing" in reason
    assert "apt-get install libxcb-icccm4 libxcb-keysyms1" in reason
    assert "cursor" not in reason  # what Qt's own message wrongly points at


def test_no_display_is_said_before_qt_aborts() -> None:
    reason = platform_check.problem({}, platform="linux")
    assert reason is not None and "DISPLAY is not set" in reason and "xvfb-run" in reason
    assert platform_check.problem({"QT_QPA_PLATFORM": "offscreen"}, platform="linux") is None
    assert platform_check.problem({}, platform="darwin") is None


def test_this_machine_has_every_library_the_xcb_plugin_needs() -> None:
    """The README's package list is what the CI machine installs; with it, nothing is missing."""
    assert platform_check.problem({"DISPLAY": ":0"}, platform="linux") is None


def test_run_py_without_a_display_exits_with_the_reason_not_an_abort() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    run = subprocess.run([sys.executable, str(ROOT / "run.py")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 1, (run.returncode, run.stderr)
    assert "error: the window cannot start: there is no display" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_fallback_list_starts_when_any_platform_in_it_can() -> None:
    """``QT_QPA_PLATFORM=wayland;xcb`` over ssh -X (no Wayland, a DISPLAY): Qt falls back to xcb."""
    assert platform_check.problem({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, platform="linux") is None
    reason = platform_check.problem({"QT_QPA_PLATFORM": "wayland;xcb"}, platform="linux")
    assert reason is not None and "WAYLAND_DISPLAY" in reason and "DISPLAY is not set" in reason

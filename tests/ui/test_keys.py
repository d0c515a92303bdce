"""Help > Keys lists every key of the window, read from its actions and its shortcut table;
the view keys are the documented keymap, no key is bound twice, and the keys kept for the
painting tools are free."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed (requirements-dev.txt)")

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from sam3roto.ui.keys import KeysDialog, window_keys
from sam3roto.ui.main_window import MainWindow
from tests.ui.test_viewer_modes import _doc, make_synthetic

pytestmark = pytest.mark.gui

#: The View menu's keymap (docs: the issue "a viewer a compositor expects").
KEYMAP = {
    "view_image": "1", "view_overlay": "2", "view_matte": "3", "view_rgba": "4", "view_edge": "5",
    "view_depth": "6", "view_normals": "7", "overlay_style": "V", "matte_scope": "Shift+M", "wipe": "W",
    "onion": "N", "loop": "Ctrl+L",
}
#: The painting tools' keys (Brush, Shape, add/subtract, layer, size, softness).
PAINT_KEYS = ("P", "Shift+P", "R", "B", "G", "X", "T", "-", "=", "9", "0")


def _portable(keys: object) -> list[str]:
    return [QKeySequence(k).toString(QKeySequence.SequenceFormat.PortableText) for k in keys]  # type: ignore[attr-defined]


def _bound(window: MainWindow) -> list[str]:
    """Every key sequence the window binds, once per binding."""
    keys = [k.toString(QKeySequence.SequenceFormat.PortableText) for a in window.menu_actions.values()
            for k in a.shortcuts()]
    return keys + [k for entry in window.shortcut_table for k in _portable(entry[0])]


@pytest.fixture
def window(qtbot, tmp_path: Path):
    win = MainWindow(_doc(tmp_path, make_synthetic(n=3, width=64, height=48, radius=10, seed=1)))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(win.isActiveWindow)
    return win


def test_the_view_keymap_and_no_key_bound_twice(window) -> None:
    for name, key in KEYMAP.items():
        assert _portable(window.menu_actions[name].shortcuts()) == [key], name
    bound = _bound(window)
    assert len(bound) == len(set(bound)), sorted(k for k in bound if bound.count(k) > 1)
    # the painting tools' keys are the window's (once each, checked above)
    assert set(PAINT_KEYS) <= set(bound), sorted(set(PAINT_KEYS) - set(bound))
    # the keys the window had before stay where they were
    for key in ("[", "]", "Left", "Right", "Shift+Left", "Shift+Right", "Home", "End", "Space", "J", "K", "L",
                "F", "I", "O", "Ctrl+T", "Ctrl+Shift+T", "Ctrl+Return", "Del", "Esc", "Ctrl+Z", "Ctrl+S", "Ctrl+O"):
        assert key in bound, key


def test_help_keys_opens_a_dialog_listing_every_key(qtbot, window) -> None:
    qtbot.keyClick(window, Qt.Key.Key_F1)
    dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, KeysDialog) and w.isVisible()]
    assert len(dialogs) == 1
    dialog = dialogs[0]
    qtbot.addWidget(dialog)
    table = dialog.table
    listed = [(table.item(r, 0).text(), table.item(r, 1).text(), table.item(r, 2).text())
              for r in range(table.rowCount())]
    assert listed == window_keys(window)
    shown = {k.strip() for _where, keys, _what in listed for k in keys.split(",")}
    native = {QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in _bound(window)}
    assert native <= shown  # every bound key is in the dialog
    what = {keys: text for _where, keys, text in listed}
    assert what["W"].startswith("A/B wipe") and what["Ctrl+L"].startswith("Loop") and "Onion" in what["N"]
    assert what["5"] == "Matte edges over the plate" and what["Shift+M"] == "Matte of all visible objects"
    assert "Previous frame" in what["Left, ["] and any(w == "Viewer" for w, _k, _t in listed)
    dialog.close()
    # the action does the same as the key
    window.menu_actions["keys"].trigger()
    again = [w for w in QApplication.topLevelWidgets() if isinstance(w, KeysDialog) and w.isVisible()]
    assert len(again) == 1 and again[0].table.rowCount() == len(listed)
    again[0].close()


def test_view_actions_need_a_project(qtbot) -> None:
    win = MainWindow()
    qtbot.addWidget(win)
    assert not any(win.menu_actions[n].isEnabled() for n in KEYMAP)
    assert win.menu_actions["keys"].isEnabled()
    assert len(window_keys(win)) > len(KEYMAP)  # the dialog works without a project too

"""The window's keymap and Help > Keys.

The View menu's keys (display modes 1-7, view options), the keys a focused field keeps,
and the dialog listing every key of the window, read from the window itself (its menu
actions and its shortcut table) so the list cannot drift from what the keys do, plus the
mouse in the viewer, which no table holds. The painting tools keep P, Shift+P, R, B, G,
X, T, -, =, 9 and 0."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QKeyCombination, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

#: View menu: display mode -> (menu text, key).
VIEW_MODE_KEYS: dict[str, tuple[str, str]] = {
    "image": ("Image", "1"), "overlay": ("Overlay", "2"), "matte": ("Matte", "3"), "rgba": ("RGBA", "4"),
    "edge": ("Matte edges over the plate", "5"), "depth": ("Depth", "6"), "normals": ("Normals", "7"),
}
#: View menu: option -> (menu text, key). V cycles the overlay style; the others toggle.
VIEW_OPTION_KEYS: dict[str, tuple[str, str]] = {
    "overlay_style": ("Overlay style: fill, outline, both", "V"),
    "matte_scope": ("Matte of all visible objects", "Shift+M"),
    "wipe": ("A/B wipe (plate | view)", "W"),
    "onion": ("Onion skin (previous, next frame)", "N"),
    "hud": ("Heads-up display", "H"),
    "loop": ("Loop playback (in to out)", "Ctrl+L"),
}
#: The viewer's mouse and its own keys.
VIEWER_GESTURES: tuple[tuple[str, str], ...] = (
    ("Left click", "Positive point (the Point - tool: negative)"),
    ("Right click", "Negative point"),
    ("Left drag (Box tool)", "Box prompt"),
    ("Drag a prompt", "Move it (a box: its nearest corner)"),
    ("Drag the wipe line", "Move the A/B wipe (before the prompt tools while the wipe is on)"),
    ("Middle drag, Alt+left drag", "Pan"),
    ("Wheel", "Zoom at the pointer"),
    ("Backspace (viewer focused)", "Delete the selected prompt"),
)


def key_text(event: QKeyEvent) -> str:
    """A key event as a key sequence's portable text ("Shift+Left", "["), without the
    keypad flag (arrows carry it on some keyboards)."""
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    return QKeySequence(QKeyCombination(modifiers, Qt.Key(event.key()))).toString(
        QKeySequence.SequenceFormat.PortableText)


def _keys_text(keys: list[QKeySequence] | tuple[str, ...]) -> str:
    return ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) if isinstance(k, QKeySequence)
                     else QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in keys)


def window_keys(window: Any) -> list[tuple[str, str, str]]:
    """``(section, keys, what they do)`` for every key of ``window``: its menu actions that
    have keys (section: the menu), then its shortcut table (section "Frames and tools"),
    then the viewer's mouse ("Viewer")."""
    rows: list[tuple[str, str, str]] = []
    for action in window.menu_actions.values():
        shortcuts = action.shortcuts()
        if not shortcuts:
            continue
        menus = [w for w in action.associatedObjects() if hasattr(w, "title") and w.title()]
        section = menus[0].title().replace("&", "") if menus else "Window"
        rows.append((section, _keys_text(shortcuts), action.text().replace("&", "").removesuffix("...")))
    for keys, text, _slot in window.shortcut_table:
        rows.append(("Frames and tools", _keys_text(keys), text))
    rows.extend(("Viewer", gesture, text) for gesture, text in VIEWER_GESTURES)
    return rows


class KeysDialog(QDialog):
    """A table of :func:`window_keys`; ``table`` holds one row per entry."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.setWindowTitle("Keys")
        self.resize(620, 640)
        self.rows = window_keys(window)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The keys work wherever the focus is in the window, except that a focused slider, "
                                "number or text field keeps the arrows, Home/End, Space and brackets: Esc gives "
                                "the keys back to the viewer.", wordWrap=True))
        self.table = QTableWidget(len(self.rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "What"])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, values in enumerate(self.rows):
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

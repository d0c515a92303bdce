"""View > Colour: the shot's input colour space and the display and view the viewer shows
the plate through (OpenColorIO, ``sam3roto.media.colour``).

The input colour space belongs to the project (the models, analysis and renders convert
from it); the display and view are the artist's and are kept in the window's settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QCompleter, QDialog, QDialogButtonBox, QLabel, QMenu, QVBoxLayout, QWidget

from sam3roto.media.colour import ColourConfig, ColourError

#: Where the chosen display and view are kept (QSettings keys); empty: the defaults.
DISPLAY_KEY, VIEW_KEY = "viewer/display", "viewer/view"
AUTOMATIC_VIEW = "Automatic (by the input colour space)"


class InputColourDialog(QDialog):
    """Choose the plates' colour space from the config's (type to filter)."""

    def __init__(self, parent: QWidget | None, config: ColourConfig, current: str, guessed: str) -> None:
        super().__init__(parent)
        self.setWindowTitle("Input colour space")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"The colour space the plates are in (OpenColorIO config {config.name}).\n"
                                f"Guessed from the media: {guessed}. The models see the plates converted to "
                                f"{config.model_space}."))
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.addItems(config.names())
        completer = self.combo.completer()
        if completer is not None:
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.combo.setCurrentText(current)
        layout.addWidget(self.combo)
        self.problem = QLabel("")  # why OK did not take what was typed
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        self.config = config
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def chosen(self) -> str:
        """The colour space typed or picked: a name or alias of the config, or the one
        name that contains what was typed (case aside); as typed when none or several do."""
        text = self.combo.currentText().strip()
        if not text or self.config.has(text):
            return text
        matches = [n for n in self.config.names() if text.lower() in n.lower()]
        exact = [n for n in matches if n.lower() == text.lower()]
        return (exact or matches)[0] if len(exact or matches) == 1 else text

    def accept(self) -> None:
        """OK takes a name the config has (or the one that contains what was typed); else
        the dialog stays open and says why."""
        text = self.chosen()
        if self.config.has(text):
            super().accept()
            return
        typed = self.combo.currentText().strip()
        count = sum(typed.lower() in n.lower() for n in self.config.names()) if typed else 0
        self.problem.setText(f"{count} colour spaces contain {typed[:60]!r}: pick one from the list" if count > 1
                             else f"the config {self.config.name} has no colour space {typed[:60]!r}")


class ColourMenu:
    """The View > Colour submenu of a window: ``viewer()`` gives the open document's
    viewer (None without one); ``report(message)`` shows a status message."""

    def __init__(self, menu: QMenu, parent: QWidget, viewer: Callable[[], Any], report: Callable[[str], None]) -> None:
        self.parent, self.viewer, self.report = parent, viewer, report
        self.settings = QSettings("sam3roto", "sam3roto")
        self.menu = menu.addMenu("Colour")
        self.current_action = QAction("", parent)  # says the plates' colour space (not a command)
        self.current_action.setEnabled(False)
        self.menu.addAction(self.current_action)
        self.input_action = QAction("Input colour space...", parent)
        self.input_action.triggered.connect(lambda _checked=False: self.choose_input())
        self.menu.addAction(self.input_action)
        self.display_menu = self.menu.addMenu("Display")
        self.view_menu = self.menu.addMenu("View transform")
        self.menu.aboutToShow.connect(self.refresh)
        self.display_menu.aboutToShow.connect(self.refresh)
        self.view_menu.aboutToShow.connect(self.refresh)
        self._groups: list[QActionGroup] = []

    def config(self) -> ColourConfig | None:
        viewer = self.viewer()
        source = viewer.doc.colour_source() if viewer is not None and viewer.doc is not None else None
        return source.config if source is not None else None

    def saved(self) -> tuple[str | None, str | None]:
        display = self.settings.value(DISPLAY_KEY, "") or None
        view = self.settings.value(VIEW_KEY, "") or None
        return (str(display) if display else None, str(view) if view else None)

    def apply_saved(self) -> None:
        """Show a newly opened document through the display and view the artist chose."""
        viewer = self.viewer()
        if viewer is not None:
            viewer.set_display(*self.saved())

    def refresh(self) -> None:
        """Rebuild the menus from the config and the viewer's current choice."""
        viewer, config = self.viewer(), self.config()
        for group in self._groups:
            group.deleteLater()
        self._groups.clear()
        self.display_menu.clear()
        self.view_menu.clear()
        enabled = viewer is not None and config is not None
        for item in (self.input_action, self.display_menu.menuAction(), self.view_menu.menuAction()):
            item.setEnabled(enabled)
        if viewer is None or config is None:
            self.current_action.setText("No shot open")
            return
        space = viewer.doc.input_colorspace()
        self.current_action.setText(f"Plates in {space}; shown on {viewer.display_label().split(' -> ')[-1]}")
        display = viewer.display_name if viewer.display_name in config.displays() else config.default_display()
        displays = QActionGroup(self.display_menu)
        for name in config.displays():
            action = self.display_menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name == display)
            action.triggered.connect(lambda _checked=False, n=name: self.set_display(n, None))
            displays.addAction(action)
        views = QActionGroup(self.view_menu)
        automatic = viewer.view_name not in config.views(display)
        action = self.view_menu.addAction(f"{AUTOMATIC_VIEW}: {config.default_view(display, space)}")
        action.setCheckable(True)
        action.setChecked(automatic)
        action.triggered.connect(lambda _checked=False: self.set_display(viewer.display_name, None))
        views.addAction(action)
        for name in config.views(display):
            action = self.view_menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(not automatic and name == viewer.view_name)
            action.triggered.connect(lambda _checked=False, n=name: self.set_display(display, n))
            views.addAction(action)
        self._groups = [displays, views]

    def set_display(self, display: str | None, view: str | None) -> None:
        """Show the plate on ``display`` through ``view`` (None: automatic) and keep it."""
        viewer = self.viewer()
        if viewer is None:
            return
        viewer.set_display(display, view)
        self.settings.setValue(DISPLAY_KEY, display or "")
        self.settings.setValue(VIEW_KEY, view or "")
        self.report(f"viewer: {viewer.display_label()}")
        self.refresh()

    def choose_input(self) -> QDialog | None:
        """View > Colour > Input colour space...: a dialog; OK sets the shot's."""
        viewer, config = self.viewer(), self.config()
        if viewer is None or config is None or viewer.doc is None:
            return None
        doc = viewer.doc
        current = doc.input_colorspace() or config.model_space
        guessed = config.guess(doc.colour_source().plate.info)
        dialog = InputColourDialog(self.parent, config, current, guessed)

        def done() -> None:
            try:
                doc.set_input_colorspace(dialog.chosen())
            except ColourError as exc:
                self.report(exc.headline)
                return
            self.report(f"input colour space: {doc.input_colorspace()}; viewer: {viewer.display_label()}")
            self.refresh()

        dialog.accepted.connect(done)
        dialog.open()
        return dialog


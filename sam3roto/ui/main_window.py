"""The main window: composes the viewer, timeline, objects panel and tabs, owns the
keyboard shortcuts and runs long jobs through the workers. No roto logic lives here: the
jobs are the same pipeline generators the CLI runs."""

from __future__ import annotations

import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from sam3roto.core.depthcache import DepthCache
from sam3roto.core.jobs import CancelToken, Progress
from sam3roto.errors import Sam3RotoError
from sam3roto.pipeline.interactive import InteractiveSession
from sam3roto.ui.colour import ColourMenu
from sam3roto.ui.compose import MODES
from sam3roto.ui.document import Document
from sam3roto.ui.keys import VIEW_MODE_KEYS, VIEW_OPTION_KEYS, KeysDialog
from sam3roto.ui.paint import PaintBar
from sam3roto.ui.panels import MATTE_CONTROLS, RGB_CONTROLS, DepthTab, ExportTab, ObjectsPanel, PostTab, SegmentTab
from sam3roto.ui.timeline import Timeline
from sam3roto.ui.viewer import Viewer
from sam3roto.ui.workers import JobWorker, Pools

AUTOSAVE_MS = 60_000
#: Clicks closer together than this are segmented once, after the last.
LIVE_DELAY_MS = 60


class MainWindow(QMainWindow):
    def __init__(self, doc: Document | None = None) -> None:
        super().__init__()
        self.setWindowTitle("sam3roto")
        self.resize(1440, 900)
        self.pools = Pools()
        self.jobs: list[JobWorker] = []
        self.doc: Document | None = None
        self.shuttle = 0  # frames per tick: J/K/L and Space
        self.loop = False  # playback wraps from the out point to the in point (Ctrl+L)
        #: The viewer's options, kept for the next document's viewer.
        self._view_options: dict[str, Any] = {"overlay_style": "fill", "matte_scope": "active", "wipe": False,
                                              "wipe_x": 0.5, "onion": False, "hud": True}
        self.segment_seq = 0  # interactive requests carry a number; stale ones are dropped
        # The open shot's engine session and the loaded models, used only on the model
        # thread (one job at a time there): opened once, kept between clicks.
        self.interactive = InteractiveSession()
        self._estimators: dict[tuple[Any, ...], Any] = {}
        # Live feedback: every prompt edit re-segments once the clicks pause this long.
        self.live = QTimer(self)
        self.live.setSingleShot(True)
        self.live.setInterval(LIVE_DELAY_MS)
        self.live.timeout.connect(lambda: self.doc is not None and self.segment_frame(live=True))
        self._live_last: Any = None
        self.player = QTimer(self)
        self.player.timeout.connect(self._tick)
        self.autosaver = QTimer(self)
        self.autosaver.timeout.connect(self._autosave)
        self.autosaver.start(AUTOSAVE_MS)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(320)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_jobs)
        self.frame_label = QLabel()
        self.statusBar().addPermanentWidget(self.frame_label)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self._menus()
        self._shortcuts()
        if doc is not None:
            self.set_document(doc)
        else:
            self._start_page()

    # -- layout ---------------------------------------------------------------------------
    def set_document(self, doc: Document, *, discard_old: bool = False) -> None:
        """Show ``doc``, closing the open one (after its jobs stopped; ``discard_old``
        throws away its unsaved work: the caller asked the user)."""
        self._drop_document(discard_old)
        self.doc = doc
        self._live_last = None  # the last live request was another document's
        self.viewer = Viewer(doc)
        for name, value in self._view_options.items():  # the artist's view options stay from shot to shot
            setattr(self.viewer, name, value)
        self.viewer.set_looping(self.loop)
        self.colour_menu.apply_saved()  # the artist's display and view stay from shot to shot
        self.timeline = Timeline(doc)
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.mode.setCurrentText(self.viewer.mode)
        self.mode.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.mode.setToolTip("display mode (keys 1-7; View menu)")
        self.mode.currentTextChanged.connect(self.viewer.set_mode)
        self.viewer.viewChanged.connect(self._sync_view)
        self.paint_bar = PaintBar(doc)
        self.paint_bar.changed.connect(self.viewer.update)
        top = QHBoxLayout()
        top.addWidget(self.mode)
        top.addWidget(self.paint_bar)
        top.addStretch(1)
        centre = QWidget()
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.viewer, 1)
        layout.addWidget(self.timeline)
        self.setCentralWidget(centre)
        self.viewer.setFocus(Qt.FocusReason.OtherFocusReason)  # the frame keys start with the viewer
        self.objects = ObjectsPanel(doc)
        self._dock("Objects", self.objects, Qt.DockWidgetArea.LeftDockWidgetArea, 240)
        self.segment_tab, self.export_tab = SegmentTab(doc), ExportTab(doc)
        self.matte_tab, self.rgb_tab = PostTab(doc, MATTE_CONTROLS), PostTab(doc, RGB_CONTROLS)
        self.segment_tab.segment.connect(self.segment_frame)
        self.segment_tab.track.connect(self.track)
        self.segment_tab.text.connect(self.find_text)
        self.segment_tab.load.connect(self.load_model)
        self.segment_tab.everything.connect(self.segment_everything)
        self.segment_tab.use_regions.connect(self.use_regions)
        self.segment_tab.absent.connect(lambda a, b, out: doc.set_absent(a, b, out))
        self.segment_tab.engine.currentIndexChanged.connect(self._engine_switched)
        self.matte_tab.edited.connect(lambda: self._post_edited("matte"))
        self.rgb_tab.edited.connect(lambda: self._post_edited("rgba"))
        self.export_tab.requested.connect(self.render_outputs)
        self.depth_tab = DepthTab(doc)
        self.depth_tab.requested.connect(self.run_depth)
        tabs = QTabWidget()
        tabs.addTab(self.segment_tab, "Segment")
        tabs.addTab(self.matte_tab, "Matte")
        tabs.addTab(self.rgb_tab, "RGB / Comp")
        tabs.addTab(self.depth_tab, "Depth / Camera")
        tabs.addTab(self.export_tab, "Export")
        self.tabs = tabs
        self._dock("Tools", tabs, Qt.DockWidgetArea.RightDockWidgetArea, 430)
        doc.frameChanged.connect(self._frame_changed)
        doc.promptsChanged.connect(self._prompts_edited)
        doc.dirtyChanged.connect(self._title)
        doc.pathChanged.connect(self._title)
        doc.pathChanged.connect(self.export_tab.refresh)
        doc.pathChanged.connect(self.depth_tab.refresh)
        self._frame_changed(doc.frame)
        self._title()
        self._sync_actions()
        self._sync_view()

    def _start_page(self) -> None:
        """The window without a project: how to start, and unsaved work waiting, if any."""
        from sam3roto.core.workspace import list_unsaved

        text = "File > Open media... (Ctrl+O) or Open project... (Ctrl+Shift+O) to start"
        try:
            waiting = len(list_unsaved())
        except OSError:
            waiting = 0
        if waiting:
            text += (f"\n\n{waiting} unsaved project{'s' if waiting > 1 else ''} from an earlier session can be "
                     "recovered: File > Recover unsaved project...")
        self.start_label = QLabel(text, alignment=Qt.AlignmentFlag.AlignCenter)
        self.setCentralWidget(self.start_label)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, width: int) -> None:
        # a fixed width: panels whose contents change (labels, lists) never shift the viewer
        widget.setFixedWidth(width)
        dock = QDockWidget(title, self)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, dock)

    def _title(self, *args: object) -> None:
        """``NAME - sam3roto``, with `` *`` while there is work no project file holds."""
        if self.doc is None:
            self.setWindowTitle("sam3roto")
            return
        self.setWindowTitle(f"{self.doc.title}{' *' if self.doc.dirty else ''} - sam3roto")

    def _frame_changed(self, index: int) -> None:
        assert self.doc is not None
        self.frame_label.setText(f"frame {self.doc.frame_number(index)}  ({index + 1}/{self.doc.frame_count})")

    def _post_edited(self, view: str) -> None:
        if self.viewer.mode not in ("matte", "rgba"):
            self.mode.setCurrentText(view)
        self.viewer.update()

    # -- menus and keys ---------------------------------------------------------------------
    def _menus(self) -> None:
        """The menus. Every action calls its slot with no arguments: ``triggered(bool)``
        never reaches a slot that takes a path (Save once received ``False`` as one)."""
        self.menu_actions: dict[str, QAction] = {}
        file = self.menuBar().addMenu("&File")
        self._action(file, "open_media", "Open media...", ("Ctrl+O",), self.open_media_dialog)
        self._action(file, "open_folder", "Open sequence folder...", ("Ctrl+Alt+O",), self.open_folder_dialog)
        self._action(file, "open_project", "Open project...", ("Ctrl+Shift+O",), self.open_project_dialog)
        self.recent_menu = file.addMenu("Open recent")
        self._fill_recent()
        self._action(file, "recover", "Recover unsaved project...", (), self.recover_dialog)
        file.addSeparator()
        self._action(file, "save", "Save", ("Ctrl+S",), self.save)
        self._action(file, "save_as", "Save as...", ("Ctrl+Shift+S",), self.save_as)
        self._action(file, "close", "Close", ("Ctrl+W",), self.close_document)
        file.addSeparator()
        self._action(file, "quit", "Quit", ("Ctrl+Q",), self.close)
        edit = self.menuBar().addMenu("&Edit")
        self._action(edit, "undo", "Undo", ("Ctrl+Z",), self.undo)
        self._action(edit, "redo", "Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), self.redo)
        edit.addSeparator()
        self._action(edit, "settings", "Settings...", (), self.open_settings)
        self._view_menu()
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "keys", "Keys...", ("F1",), self.show_keys)
        self._sync_actions()

    def _view_menu(self) -> None:
        """View: a key for every display mode and view option; the checks follow the viewer."""
        view = self.menuBar().addMenu("&View")
        modes = QActionGroup(self)
        for mode in MODES:
            text, key = VIEW_MODE_KEYS[mode]
            action = self._action(view, f"view_{mode}", text, (key,), lambda m=mode: self.viewer.set_mode(m))
            action.setCheckable(True)
            modes.addAction(action)
        view.addSeparator()
        slots = {  # ``self.viewer`` is looked up when the key comes: the open document's viewer
            "overlay_style": lambda: self.viewer.cycle_overlay_style(),
            "matte_scope": lambda: self.viewer.set_matte_scope("active" if self.viewer.matte_scope == "all" else "all"),
            "wipe": lambda: self.viewer.set_wipe(not self.viewer.wipe),
            "onion": lambda: self.viewer.set_onion(not self.viewer.onion),
            "hud": lambda: self.viewer.set_hud(not self.viewer.hud),
            "loop": self.toggle_loop,
        }
        for name, (text, key) in VIEW_OPTION_KEYS.items():
            if name == "loop":
                view.addSeparator()
            action = self._action(view, name, text, (key,), slots[name])
            action.setCheckable(name != "overlay_style")
        self.view_actions = [f"view_{mode}" for mode in MODES] + list(VIEW_OPTION_KEYS)
        view.addSeparator()
        self.colour_menu = ColourMenu(view, self, lambda: self.viewer if self.doc is not None else None,
                                      lambda message: self.statusBar().showMessage(message, 8000))

    def _sync_view(self) -> None:
        """The mode box and the View menu's checks show the viewer's state (whichever of
        the keys, the menu or the box changed it)."""
        viewer = getattr(self, "viewer", None)
        if viewer is None or self.doc is None:
            return
        if self.mode.currentText() != viewer.mode:
            self.mode.setCurrentText(viewer.mode)
        self.menu_actions[f"view_{viewer.mode}"].setChecked(True)
        self.menu_actions["overlay_style"].setText(f"Overlay style: {viewer.overlay_style} (fill, outline, both)")
        self.menu_actions["matte_scope"].setChecked(viewer.matte_scope == "all")
        for name in ("wipe", "onion", "hud"):
            self.menu_actions[name].setChecked(bool(getattr(viewer, name)))
        self.menu_actions["loop"].setChecked(self.loop)
        self._view_options = {name: getattr(viewer, name) for name in self._view_options}

    def toggle_loop(self) -> None:
        """Ctrl+L: playback wraps between the in and out points instead of stopping."""
        self.loop = not self.loop
        if self.doc is not None:
            self.viewer.set_looping(self.loop)
        self.menu_actions["loop"].setChecked(self.loop)
        self.statusBar().showMessage("looped playback between in and out" if self.loop else "playback stops at the "
                                     "ends of the clip", 4000)

    def show_keys(self) -> Any:
        """Help > Keys...: every key of the window, from its actions and shortcuts."""
        dialog = KeysDialog(self)
        dialog.show()
        return dialog

    def _action(self, menu: Any, name: str, text: str, keys: tuple[str, ...], slot: Any) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(lambda _checked=False, s=slot: s())
        menu.addAction(action)
        self.menu_actions[name] = action
        return action

    def _sync_actions(self) -> None:
        """Actions that need an open project are disabled without one."""
        for name in ("save", "save_as", "close", "undo", "redo", *self.view_actions):
            self.menu_actions[name].setEnabled(self.doc is not None)

    def loaded_engine(self, name: str, options: dict[str, Any]) -> Any:
        """The segmentation engine ``name``, loaded on first use and kept (model thread only)."""
        return self.interactive.engines.get(name, options)

    def loaded_estimator(self, options: Any) -> Any:
        """The Depth Anything 3 estimator for ``options``, loaded once and kept (model thread only)."""
        from sam3roto.backends.da3 import Da3Estimator

        key = (options.preset, options.model_dir, options.device, options.process_res)
        if key not in self._estimators:
            self._estimators[key] = Da3Estimator(options.preset, model_dir=options.model_dir, device=options.device,
                                                 process_res=options.process_res)
        return self._estimators[key]

    def load_model(self) -> None:
        """Load the chosen engine's model now (on the model thread), not on the first click."""
        engine, options = self.segment_tab.engine_name, self.engine_options()

        def job(token: CancelToken) -> Any:
            yield Progress(0, 1, f"loading the {engine} engine")
            self.loaded_engine(engine, options)
            yield Progress(1, 1, f"{engine} engine loaded")

        self._start(f"load {engine}", job, self.pools.model)

    def engine_options(self) -> dict[str, Any]:
        """The device chosen in Settings (``auto`` passes nothing: the engines pick)."""
        device = str(QSettings("sam3roto", "sam3roto").value("device", "auto"))
        return {} if device == "auto" else {"device": device}

    def open_settings(self) -> Any:
        from sam3roto.ui.settings import SettingsDialog

        dialog = SettingsDialog(self)
        dialog.show()
        return dialog

    def undo(self) -> None:
        if self.doc is not None:
            self.doc.undo.undo()

    def redo(self) -> None:
        if self.doc is not None:
            self.doc.undo.redo()

    def _shortcuts(self) -> None:
        """The window's keys that are not menu actions, as ``(keys, description, slot)``
        in :attr:`shortcut_table` (Help > Keys lists them with the menus' actions)."""
        doc = self._require_doc
        self.shortcut_table: list[tuple[tuple[str, ...], str, Any]] = [
            (("Left", "["), "Previous frame", lambda: self.step(-1)),
            (("Right", "]"), "Next frame", lambda: self.step(1)),
            (("Shift+Left",), "10 frames back", lambda: self.step(-10)),
            (("Shift+Right",), "10 frames on", lambda: self.step(10)),
            (("Home",), "First frame", lambda: self.go(0)),
            (("End",), "Last frame", lambda: self.go(-1)),
            (("Space",), "Play / stop", self.play_pause),
            (("J",), "Play backward (faster on each press)", lambda: self.shuttle_to(-1)),
            (("K",), "Stop", lambda: self.shuttle_to(0)),
            (("L",), "Play forward (faster on each press)", lambda: self.shuttle_to(1)),
            (("I",), "In point at this frame", lambda: doc().set_in_out(in_index=doc().frame)),
            (("O",), "Out point at this frame", lambda: doc().set_in_out(out_index=doc().frame)),
            (("F",), "Fit the frame in the viewer", lambda: self.viewer.fit()),
            (("Ctrl+Return", "Ctrl+Enter"), "Segment this frame (the active object's prompts)", self.segment_frame),
            (("Ctrl+T",), "Track what is out of date", lambda: self.track("both")),
            (("Ctrl+Shift+T",), "Track every object over the whole in/out range", lambda: self.track("both", "all")),
            (("Delete",), "Delete the selected prompt", lambda: self.viewer.delete_selected()),
            (("Escape",), "Stop tracking, drop picked regions or an open polygon, back to the viewer", self.escape),
            (("P",), "Tool: point +", lambda: self.pick_tool("point+")),
            (("Shift+P",), "Tool: point -", lambda: self.pick_tool("point-")),
            (("R",), "Tool: box", lambda: self.pick_tool("box")),
            (("B",), "Tool: brush (left paints, right does the opposite; a pen's pressure sizes it)",
             lambda: self.pick_tool("brush")),
            (("G",), "Tool: shape (drag a lasso, or click polygon corners and close with Return or a double-click)",
             lambda: self.pick_tool("shape")),
            (("X",), "Brush and shape: swap add and subtract", lambda: self.paint_bar.swap_mode()),
            (("T",), "Brush and shape: swap correction (tracks) and touch-up (over the final matte)",
             lambda: self.paint_bar.swap_layer()),
            (("=", "+"), "Brush size up", lambda: self.paint_bar.grow(1)),
            (("-",), "Brush size down", lambda: self.paint_bar.grow(-1)),
            (("0",), "Brush softer", lambda: self.paint_bar.soften(0.1)),
            (("9",), "Brush harder", lambda: self.paint_bar.soften(-0.1)),
            (("Shift+Delete",), "Remove the active object's strokes on this frame and the touch-ups covering it",
             lambda: doc().clear_paint()),
        ]
        self.shortcuts: list[QShortcut] = []
        for keys, _text, slot in self.shortcut_table:
            for key in keys:
                shortcut = QShortcut(QKeySequence(key), self)
                shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
                shortcut.activated.connect(lambda s=slot: self.doc is not None and s())
                self.shortcuts.append(shortcut)

    def _require_doc(self) -> Document:
        """The open document (the keys that need one run only while one is open)."""
        if self.doc is None:
            raise RuntimeError("no project is open")
        return self.doc

    def escape(self) -> None:
        """Esc: stop a running track or search (what they finished stays), drop picked regions, and
        give the keyboard back to the viewer (from a slider or field)."""
        for worker in list(self.jobs):
            if (worker.label or "").startswith(("track", "find")):
                worker.cancel()
        self.viewer.set_regions(None)
        if self.viewer.paint.busy:
            self.viewer.paint.cancel()
        self.viewer.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def pick_tool(self, tool: str) -> None:
        """Make ``tool`` (``document.TOOLS``) the viewer's tool, shown in the Segment tab."""
        assert self.doc is not None
        if self.viewer.paint.busy:
            self.viewer.paint.cancel()
        self.doc.tool = tool
        self.segment_tab.show_tool(tool)
        self.viewer.update()

    # -- frames -----------------------------------------------------------------------------
    def step(self, delta: int) -> None:
        assert self.doc is not None
        self.doc.set_frame(self.doc.frame + delta)

    def go(self, index: int) -> None:
        assert self.doc is not None
        self.doc.set_frame(index if index >= 0 else self.doc.frame_count - 1)

    def play_pause(self) -> None:
        self.shuttle_to(0 if self.shuttle else 1)

    def shuttle_to(self, direction: int) -> None:
        """K stops; J/L play backward/forward, faster on each press (1x, 2x, 4x, 8x)."""
        assert self.doc is not None
        if direction == 0:
            self.shuttle = 0
            self.player.stop()
            return
        same = self.shuttle != 0 and (self.shuttle > 0) == (direction > 0)
        self.shuttle = max(-8, min(8, self.shuttle * 2)) if same else direction
        self.player.start(max(1, int(1000 / float(self.doc.source.info.fps))))

    def _tick(self) -> None:
        """One playback step. Looping, playback stays within in..out and wraps at either
        end; otherwise it stops at the clip's ends."""
        assert self.doc is not None
        nxt = self.doc.frame + self.shuttle
        if self.loop:
            shot = self.doc.project.shot
            span = shot.frame_range if shot is not None else range(self.doc.frame_count)
            if span.start <= self.doc.frame < span.stop:
                nxt = span.start + (nxt - span.start) % len(span)
            else:  # the playhead was outside: start at the end playback comes from
                nxt = span.start if self.shuttle > 0 else span.stop - 1
        elif not 0 <= nxt < self.doc.frame_count:
            self.shuttle_to(0)
            return
        self.doc.set_frame(nxt)

    # -- files ------------------------------------------------------------------------------
    #: Ask Save / Discard / Cancel before closing the window with unsaved work.
    prompt_on_close = True

    def open_media_dialog(self) -> None:
        path = QFileDialog.getOpenFileName(
            self, "Open media", "", "Media (*.mov *.mp4 *.mkv *.avi *.png *.jpg *.jpeg *.tif *.tiff *.exr *.zip)")[0]
        if path:
            self.open_media(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open an image sequence folder")
        if path:
            self.open_media(path)

    def open_project_dialog(self) -> None:
        path = QFileDialog.getOpenFileName(self, "Open project", "", "sam3roto project (*.sam3roto)")[0]
        if path:
            self.open_project(path)

    def open_media(self, path: str | Path) -> bool:
        """A new project on ``path`` (or an unsaved one on it, recovered, when the user
        says so). Asks first about unsaved work in the open project."""
        from sam3roto.core.workspace import discard_unsaved, list_unsaved

        decision = self.maybe_save("opening other media")
        if decision is None:
            return False
        current = self.doc.project.uid if self.doc is not None else None
        try:
            found = [u for u in list_unsaved(path) if u.uid != current]
        except OSError as exc:  # an unreadable data folder must not stop media from opening
            self.statusBar().showMessage(f"unsaved projects could not be looked for: {exc}", 10000)
            found = []
        if found:
            answer = self._ask(
                "Recover unsaved work", f"An unsaved project on this media was found:\n{found[0].describe()}",
                "Recover it, start a new project (it stays in File > Recover unsaved project), "
                "or delete it?", [("Recover", QMessageBox.ButtonRole.AcceptRole),
                                  ("New project", QMessageBox.ButtonRole.RejectRole),
                                  ("Delete it", QMessageBox.ButtonRole.DestructiveRole)])
            if answer == "Recover":
                return self._open(lambda: Document.open_unsaved(found[0]), decision, None)
            if answer == "Delete it":
                try:
                    discard_unsaved(found[0].uid)
                except OSError as exc:
                    self.show_error(exc, "Cannot delete the unsaved project")
        return self._open(lambda: Document.open_media(path), decision, None)

    def open_project(self, path: str | Path) -> bool:
        """Open a saved project, offering its autosave when that is newer."""
        from sam3roto.core.project_io import recovery_path

        decision = self.maybe_save("opening another project")
        if decision is None:
            return False
        recovered = recovery_path(path)
        from_autosave = recovered is not None and self._ask(
            "Recover", f"An autosave newer than the project exists ({recovered.name}).",
            "Recover it (the project file stays as it is until you save)?",
            [("Recover", QMessageBox.ButtonRole.AcceptRole),
             ("Open the saved project", QMessageBox.ButtonRole.RejectRole)],
        ) == "Recover"
        return self._open(lambda: Document.open_project(path, from_autosave=from_autosave), decision, path)

    def recover_dialog(self) -> None:
        """File > Recover unsaved project: every unsaved project in the data folder."""
        from PySide6.QtWidgets import QInputDialog

        from sam3roto.core.workspace import list_unsaved, unsaved_root

        current = self.doc.project.uid if self.doc is not None else None
        try:
            found = [u for u in list_unsaved() if u.uid != current]
        except OSError as exc:
            self.show_error(exc, "Cannot look for unsaved projects")
            return
        if not found:
            self.statusBar().showMessage(f"no unsaved projects in {unsaved_root()}", 8000)
            return
        labels = [u.describe() for u in found]
        choice, ok = QInputDialog.getItem(self, "Recover unsaved project", "Unsaved projects (newest first):",
                                          labels, 0, False)
        if not ok or choice not in labels:
            return
        decision = self.maybe_save("recovering another project")
        if decision is not None:
            self._open(lambda: Document.open_unsaved(found[labels.index(choice)]), decision, None)

    def _open(self, make: Any, decision: str, remember: str | Path | None) -> bool:
        try:
            doc = make()
        except (Sam3RotoError, OSError, ValueError) as exc:
            self.show_error(exc, "Cannot open")
            return False
        self.set_document(doc, discard_old=decision == "discard")
        if doc.colour_note:
            self.statusBar().showMessage(doc.colour_note, 30000)
        if remember is not None:
            self._remember(remember)
        self._autosave()
        return True

    def _ask(self, title: str, text: str, informative: str, buttons: list[tuple[str, Any]]) -> str | None:
        """A question with named buttons (window-modal); the chosen button's text."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, self)
        box.setInformativeText(informative)
        made = [box.addButton(label, role) for label, role in buttons]
        box.setDefaultButton(made[0])
        box.exec()
        self.activateWindow()  # the keys go back to the window, not nowhere
        clicked = box.clickedButton()
        return clicked.text() if clicked in made else None

    def maybe_save(self, action: str = "closing") -> str | None:
        """Before ``action`` closes the open project: "keep" (nothing unsaved, or saved now),
        "discard" (the user threw the changes away) or None (cancelled: do nothing)."""
        doc = self.doc
        if doc is None or not doc.dirty:
            return "keep"
        if doc.path is not None:
            question = f"Save the changes to {doc.title} before {action}?"
            informative = ("Discard loses the changes to objects, prompts and settings since the last save; "
                           "masks already made stay in the project's masks folder.")
        else:
            question = f"Save this project before {action}? It has never been saved."
            informative = "Discard deletes its objects and masks."
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes", question,
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText(informative)
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        self.activateWindow()
        if answer == QMessageBox.StandardButton.Save:
            return "keep" if self.save() else None
        if answer == QMessageBox.StandardButton.Discard:
            return "discard"
        return None

    def save(self, path: str | Path | None = None) -> bool:
        """Save (Save as... when the project has no file yet); False when nothing was saved."""
        doc = self.doc
        if doc is None:
            return False
        if path is None and doc.path is None:
            return self.save_as()
        moving = path is not None and (doc.path is None or Path(path).resolve() != doc.path.resolve())
        if moving and any(w.label == "depth" for w in self.jobs):
            self.statusBar().showMessage("depth is running into this project's depth cache: wait for it or cancel "
                                         "it, then save as", 10000)
            return False
        try:
            saved = doc.save(path)
        except (Sam3RotoError, OSError, ValueError) as exc:
            self.show_error(exc, "Save failed")
            return False
        self._remember(saved)
        self._title()
        self.statusBar().showMessage(f"saved {saved}", 6000)
        return True

    def save_as(self) -> bool:
        doc = self.doc
        if doc is None:
            return False
        if doc.path is not None:
            start = str(doc.path)
        else:  # the media's name, in the folder of the last project (footage folders are often shared)
            media = Path(doc.project.shot.media) if doc.project.shot is not None else Path("untitled")
            stem = media.name.split(".")[0] or media.name
            recent = _recent(QSettings("sam3roto", "sam3roto"))
            folder = Path(recent[0]).parent if recent else media.parent
            start = str(folder / f"{stem}.sam3roto")
        path = QFileDialog.getSaveFileName(self, "Save project as", start, "sam3roto project (*.sam3roto)")[0]
        self.activateWindow()
        return self.save(path) if path else False

    def close_document(self) -> bool:
        """File > Close: the open project, after asking about unsaved work."""
        decision = self.maybe_save("closing it")
        if decision is None:
            return False
        self._drop_document(decision == "discard")
        return True

    def _drop_document(self, discard: bool) -> None:
        """Stop the jobs and close the open project (throwing away its unsaved work with
        ``discard``); the window shows the start page until another is opened."""
        doc = self.doc
        if doc is None:
            return
        self.live.stop()
        self.cancel_jobs()
        stopped = self.pools.wait()
        if stopped:  # the model thread is idle: the shot's engine session can go
            self.interactive.invalidate()
        for dock in self.findChildren(QDockWidget):
            self.removeDockWidget(dock)
            dock.deleteLater()
        self.doc = None
        doc.close()
        if discard and stopped:  # a job still writing there would recreate the folder half-empty
            doc.discard()
        self._start_page()
        self._title()
        self._sync_actions()

    def _autosave(self) -> None:
        if self.doc is not None and self.doc.dirty:
            try:
                self.doc.autosave()
            except (OSError, Sam3RotoError) as exc:
                self.statusBar().showMessage(f"autosave failed: {exc}", 8000)

    def _remember(self, path: Any) -> None:
        settings = QSettings("sam3roto", "sam3roto")
        known = _recent(settings)
        recent = [str(Path(path).resolve())] + [p for p in known if p != str(Path(path).resolve())]
        settings.setValue("recent", recent[:10])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in _recent(QSettings("sam3roto", "sam3roto")):
            action = self.recent_menu.addAction(p)
            action.triggered.connect(lambda _=False, q=p: self.open_project(q))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    def show_error(self, error: BaseException, title: str = "sam3roto") -> Any:
        """The window's one error dialog: message and hint, the traceback under Details."""
        from sam3roto.ui.errors import report_from_exception, show_error

        return show_error(self, report_from_exception(error, title=title))

    # -- jobs -------------------------------------------------------------------------------
    def _start(self, label: str, make_job: Any, pool: Any, done: Any = None, quiet: bool = False) -> JobWorker:
        """Run ``make_job`` on ``pool``; ``quiet`` jobs (live segmentation) show no progress
        bar or Cancel button: they take a moment and the next click overtakes them."""
        worker = JobWorker(make_job, label=label)
        worker.document = self.doc  # results reach only the document that asked for them
        worker.label = label
        worker.signals.progress.connect(self._progress)
        worker.signals.finished.connect(lambda result: self._finished(worker, label, result, done))
        worker.signals.failed.connect(lambda report: self._failed(worker, label, report))
        worker.signals.cancelled.connect(lambda: self._finished(
            worker, label, None, None, "stopped; the frames it finished are kept" if label.startswith("track")
            else "stopped; the objects found so far are kept" if label.startswith("find") else "cancelled"))
        self.jobs.append(worker)
        if not quiet:
            self.progress.setRange(0, 0)
            self.progress.show()
            self.cancel_button.show()
            self.statusBar().showMessage(label)
        pool.start(worker)
        return worker

    def _progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.statusBar().showMessage(message)
        if self.doc is not None:
            self.doc.masks_stored()  # results appear frame by frame

    def _finished(self, worker: JobWorker, label: str, result: Any, done: Any, outcome: str = "done") -> None:
        if worker in self.jobs:
            self.jobs.remove(worker)
        if not self.jobs or all(w.label == "segment" for w in self.jobs):
            self.progress.hide()
            self.cancel_button.hide()
        if worker.document is not self.doc:
            return  # its document was closed (a result queued before the close): nothing to show it on
        self.statusBar().showMessage(f"{label}: {outcome}", 6000)
        if done is not None:
            try:
                done(result)
            except (Sam3RotoError, OSError, ValueError) as exc:
                self.show_error(exc, f"{label} failed")
        if self.doc is not None:
            self.doc.masks_stored()
            self._autosave()  # masks a job made are recoverable with the project that names them

    def _failed(self, worker: JobWorker, label: str, report: Any) -> None:
        from sam3roto.ui.errors import show_error

        self._finished(worker, label, None, None, "failed")
        show_error(self, report)  # titled "LABEL failed" by the worker

    def cancel_jobs(self) -> None:
        for worker in list(self.jobs):
            worker.cancel()

    def _prompts_edited(self) -> None:
        """A click, box, drag, delete or undo changed prompts: segment again shortly (the
        timer restarts on every edit, so a burst of clicks is one request)."""
        if self.segment_tab.live.isChecked():
            self.live.start()

    def _engine_switched(self) -> None:
        """Another engine: the frame's prompts are segmented again with it (live)."""
        self._live_last = None
        self._prompts_edited()

    def segment_frame(self, live: bool = False) -> None:
        """The active object's prompts on this frame -> its mask (a job on the model
        thread). ``live`` requests come from prompt edits: they are skipped when nothing
        changed since the last one, and a newer request makes an older one's result stale."""
        from sam3roto.pipeline.interactive import segment_job

        doc = self.doc
        assert doc is not None
        obj = doc.active()
        prompts = doc.prompts()
        key = doc.project.keyframe(obj.id, doc.frame) if obj is not None else None
        if obj is None or (not prompts and (not live or (key is not None and key.mask))):
            if not live:
                self.statusBar().showMessage("place points or a box on the active object first", 6000)
            return
        request = (obj.id, doc.frame, [p.to_dict() for p in prompts], self.segment_tab.engine_name)
        if live and request == self._live_last:
            return
        self._live_last = request
        snapshot, engine, frame, store = doc.snapshot(), self.segment_tab.engine_name, doc.frame, doc.store
        options = self.engine_options()
        self.segment_seq += 1
        seq = self.segment_seq

        def job(token: CancelToken) -> Any:
            return (yield from segment_job(self.interactive, snapshot, store, frame, obj.id, prompts, engine=engine,
                                           options=options, current=lambda: seq == self.segment_seq))

        def done(masks: Any) -> None:
            if masks is not None and doc.strokes(obj.id, frame):
                # the job painted the strokes it knew of over the new base; strokes painted
                # while it ran are painted too
                doc.refresh_corrected(obj.id, frame)
            if masks is not None and not live:
                self.statusBar().showMessage(f"segmented frame {doc.frame_number(frame)}", 4000)

        self._start("segment", job, self.pools.model, done, quiet=True)

    def segment_everything(self) -> None:
        """Cut this frame into candidate regions (model thread); the viewer shows them and
        clicks pick them."""
        from sam3roto.pipeline.interactive import everything_job

        doc = self.doc
        assert doc is not None
        snapshot, engine, frame, options = doc.snapshot(), self.segment_tab.engine_name, doc.frame, \
            self.engine_options()

        def job(token: CancelToken) -> Any:
            return (yield from everything_job(self.interactive, snapshot, frame, engine=engine, options=options))

        def done(labels: Any) -> None:
            self.viewer.set_regions(labels, frame)
            self.statusBar().showMessage(f"{int(labels.max()) + 1} regions: click regions to pick them, then "
                                         "'Use picked regions'", 10000)

        self._start("segment everything", job, self.pools.model, done)

    def use_regions(self) -> None:
        mask = self.viewer.picked_mask()
        if mask is None or self.doc is None:
            self.statusBar().showMessage("pick regions first (Segment everything, then click them)", 6000)
            return
        self.doc.use_key_mask(mask)
        self.viewer.set_regions(None)

    def find_text(self, text: str) -> None:
        """A text prompt on this frame: every instance the engine finds becomes an object
        (or, with "whole shot" chosen, over the shot: :meth:`find_in_shot`)."""
        from sam3roto.pipeline.interactive import text_job

        doc = self.doc
        assert doc is not None
        if self.segment_tab.find_scope.currentData() == "shot":
            self.find_in_shot(text)
            return
        snapshot, engine, frame, store = doc.snapshot(), self.segment_tab.engine_name, doc.frame, doc.store
        options = self.engine_options()
        first = snapshot.next_object_id

        def job(token: CancelToken) -> Any:
            return (yield from text_job(self.interactive, snapshot, frame, text, first, engine=engine,
                                        options=options))

        def done(masks: Any) -> None:
            # the objects first: the store records each mask's object, so they must exist
            doc.adopt_objects(sorted(masks), text)
            for obj_id, mask in masks.items():
                store.put(obj_id, frame, mask)
            self.statusBar().showMessage(f"{text!r}: {len(masks)} found", 8000)

        self._start("text prompt", job, self.pools.model, done)

    def find_in_shot(self, text: str) -> None:
        """Concept tracking: every instance of ``text`` over the in..out range, the detector
        looking again every N frames (the panel's setting), each instance an object tracked
        as it is found. The objects join the project when the search ends or is stopped
        (Esc keeps what it found); one undo step takes them out again."""
        doc = self.doc
        assert doc is not None
        if any((w.label or "").startswith(("track", "find")) for w in self.jobs):
            self.statusBar().showMessage("a track is running: wait for it or cancel it (Esc)", 6000)
            return
        from sam3roto.pipeline.concept import ConceptSearch

        search = ConceptSearch(text, self.segment_tab.detect_every.value())
        snapshot, engine, store = doc.snapshot(), self.segment_tab.engine_name, doc.store
        options = self.engine_options()
        first = snapshot.next_object_id

        def job(token: CancelToken) -> Any:
            from sam3roto.pipeline.concept import concept_job
            from sam3roto.pipeline.shot import open_shot_media

            with open_shot_media(snapshot) as source:
                return (yield from concept_job(snapshot, source, store, search, new_id=doc.reserve_object_id,
                                               engine_instance=self.loaded_engine(engine, options)))

        def adopt() -> list[int]:
            """The objects found so far join the project (also when the search was stopped)."""
            if self.doc is not doc:
                return []
            ids = [o.id for o in snapshot.objects if o.id >= first]
            adopted = doc.adopt_found(snapshot, ids)
            if adopted:
                doc.masks_stored()
            return adopted

        def done(result: Any) -> None:
            adopted = adopt()
            frames = len({f for v in result.frames.values() for f in v})
            self.statusBar().showMessage(
                f"{text!r}: {len(adopted)} found and tracked over {frames} frames" if adopted else
                f"no {text!r} found in the shot", 12000)

        worker = self._start(f"find {text!r} in the shot", job, self.pools.model, done)
        worker.signals.frame.connect(self._tracked_frame)
        worker.signals.cancelled.connect(adopt)
        worker.signals.failed.connect(lambda _report: adopt())

    def track(self, direction: str, mode: str = "changed") -> None:
        """Track on the model thread. ``both`` with ``changed`` (Ctrl+T) re-tracks only what
        is out of date: stale stretches, objects never tracked; ``all`` (Ctrl+Shift+T) the
        whole in/out range; ``forward``/``backward`` run from this frame. Frames are
        stored and shown as they come (the playhead follows when asked)."""
        doc = self.doc
        assert doc is not None
        if not doc.project.keyframes:
            self.statusBar().showMessage("nothing to track: segment a frame first", 6000)
            return
        if any((w.label or "").startswith("track") for w in self.jobs):
            self.statusBar().showMessage("a track is running: wait for it or cancel it (Esc)", 6000)
            return
        from sam3roto.core.tracking import LOW_CONFIDENCE

        snapshot, engine, store = doc.snapshot(), self.segment_tab.engine_name, doc.store
        start = None if direction == "both" else doc.frame
        ids = [o.id for o in snapshot.objects]
        options = self.engine_options()
        stop = LOW_CONFIDENCE if self.segment_tab.stop_low.isChecked() else None
        step = self._undo_dir() / f"track{len(list(self._undo_dir().iterdir()))}"
        store.snapshot(ids, step / "before")  # for undo: the masks as they are now

        def job(token: CancelToken) -> Any:
            from sam3roto.pipeline.shot import open_shot_media
            from sam3roto.pipeline.track import track_job

            with open_shot_media(snapshot) as source:
                return (yield from track_job(snapshot, source, store, direction=direction,  # type: ignore[arg-type]
                                             start=start, engine_instance=self.loaded_engine(engine, options),
                                             mode="all" if direction != "both" else mode,  # type: ignore[arg-type]
                                             stop_below=stop))

        def keep_undo() -> None:
            """The run's masks as one undo step (also when it was stopped or failed midway:
            the frames it finished stay, and Ctrl+Z takes them back)."""
            if self.doc is doc and not (step / "after").exists():
                store.snapshot(ids, step / "after")
                doc.tracked(ids, step / "before", step / "after")

        def done(result: Any) -> None:
            tracked = len({f for v in result.frames.values() for f in v})
            if tracked:
                keep_undo()
            low = sorted({f for v in result.low.values() for f in v})
            count = len(result.frames)
            text = f"tracked {tracked} frames of {count} object{'s' if count > 1 else ''}" if tracked else \
                "nothing to re-track: no frame is out of date (Ctrl+Shift+T re-tracks the whole shot)"
            if low:
                text += f"; low confidence on {len(low)} frames (red on the timeline)"
            if result.stopped:
                text += "; stopped at frame " + ", ".join(
                    str(doc.frame_number(f)) for f in sorted(result.stopped.values()))
            self.statusBar().showMessage(text, 12000)

        worker = self._start(f"track {direction}", job, self.pools.model, done)
        worker.signals.frame.connect(self._tracked_frame)
        worker.signals.cancelled.connect(keep_undo)
        worker.signals.failed.connect(lambda _report: keep_undo())

    def _tracked_frame(self, index: int) -> None:
        """A tracking job stored frame ``index``: the playhead follows it when asked."""
        if self.doc is not None and self.segment_tab.follow.isChecked():
            self.doc.set_frame(index)

    def _undo_dir(self) -> Path:
        """Mask snapshots of tracking runs, for undo; removed when the window closes."""
        if getattr(self, "_undo_tmp", None) is None:
            import tempfile

            self._undo_tmp = tempfile.TemporaryDirectory(prefix="sam3roto-undo-")
        return Path(self._undo_tmp.name)

    def render_outputs(self) -> None:
        doc = self.doc
        assert doc is not None
        outputs = self.export_tab.outputs()
        if not outputs:
            self.statusBar().showMessage("choose at least one output", 6000)
            return
        if doc.path is None:
            self.statusBar().showMessage("save the project first (File > Save): renders go beside it", 6000)
            return
        from sam3roto.pipeline.render import RenderOptions, untracked_frames
        from sam3roto.pipeline.render_table import RENDER_SETTINGS

        problem = self.export_tab.problem()
        if problem is not None:
            self.statusBar().showMessage(problem, 10000)
            return
        # The tab's choices (a control for every option of the render table) over the
        # project's render settings (saved values a control cannot show), as a command-line
        # render of the saved project would use them; the choices are kept in the project.
        # Options the tab has no control for (a farm part) are never taken from the settings.
        chosen = self.export_tab.choices()
        saved = doc.project.settings.get("render")
        hidden = {s.name for s in RENDER_SETTINGS if not s.window}
        base = {k: v for k, v in (saved if isinstance(saved, dict) else {}).items() if k not in hidden}
        try:
            options = RenderOptions.from_dict({**base, **chosen})
        except ValueError as exc:
            self.statusBar().showMessage(f"the project's render settings: {exc}", 10000)
            return
        if self.export_tab.root() is None:
            self.statusBar().showMessage("the project's render folder setting is not a folder: choose one in the "
                                         "Export tab", 10000)
            return
        from sam3roto.export.registry import exporter_class

        # depth, normals and camera outputs write no mattes: objects without masks do not matter
        mattes = any(not exporter_class(o).info.depth for o in options.outputs) or options.ply_keep != "all"
        try:
            missing = untracked_frames(doc.project, doc.store, options) if mattes else {}
        except Sam3RotoError as exc:  # an object the options name is gone: the render says so
            self.show_error(exc, "Cannot render")
            return
        if not self.export_tab.confirm_untracked(missing):
            return
        doc.remember_render(self.export_tab.kept())  # the version is for this render only
        # jobs get their own depth-cache reader: the window's is read on the GUI thread
        snapshot, store, root, path = doc.snapshot(), doc.store, self.export_tab.root(), doc.path
        shown = doc.depth_cache()
        cache = DepthCache(shown.root) if shown is not None else None

        def job(token: CancelToken) -> Any:
            from sam3roto.pipeline.render import render_job
            from sam3roto.pipeline.shot import open_shot_media

            with open_shot_media(snapshot) as source:
                return (yield from render_job(snapshot, source, store, root, options, project_path=path,
                                              cancel=token, depth=cache))

        def done(result: Any) -> None:
            self.export_tab.refresh()
            self.statusBar().showMessage(f"wrote {result.folder}", 10000)

        self._start("render", job, self.pools.render, done)

    def run_depth(self) -> None:
        doc = self.doc
        assert doc is not None
        shown = doc.depth_cache()
        if shown is None:
            self.statusBar().showMessage("save the project first (File > Save): the depth cache goes beside it", 6000)
            return
        cache = DepthCache(shown.root)  # the job's own writer; the window's reader is reset when it is done
        options = replace(self.depth_tab.options(), **self.engine_options())
        doc.remember_depth(options.to_dict())
        snapshot = doc.snapshot()
        indices = list(snapshot.shot.frame_range) if snapshot.shot is not None else []

        def job(token: CancelToken) -> Any:
            from sam3roto.pipeline.depth import depth_job
            from sam3roto.pipeline.shot import open_shot_media

            yield Progress(0, 0, f"loading Depth Anything 3 {options.preset}")
            estimator = self.loaded_estimator(options)
            with open_shot_media(snapshot) as source:
                return (yield from depth_job(source, cache, indices, estimator, options, cancel=token))

        def done(result: Any) -> None:
            doc.depth_rewritten()
            self.depth_tab.refresh()
            self.viewer.depth_changed()
            self.mode.setCurrentText("depth")

        self._start("depth", job, self.pools.model, done)

    def closeEvent(self, event: Any) -> None:
        """Quit and the window's close button: ask about unsaved work first."""
        decision = self.maybe_save("quitting") if self.prompt_on_close else "keep"
        if decision is None:
            event.ignore()
            return
        self._drop_document(decision == "discard")
        super().closeEvent(event)


def _recent(settings: QSettings) -> list[str]:
    value: Any = settings.value("recent", [])
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def run_gui(argv: list[str] | None = None) -> int:
    """Open the window (with a media or project path as the first argument, if given)."""
    app = QApplication.instance() or QApplication(sys.argv if argv is None else argv)
    # The post stack's compiled loops: built (first run after an install) or loaded from
    # numba's cache in the background, so the first matte preview does not wait for them.
    from sam3roto.post.stack import warm_up

    threading.Thread(target=warm_up, name="post-warm-up", daemon=True).start()
    window = MainWindow()
    args = (sys.argv if argv is None else argv)[1:]
    if args:
        target = args[0]
        if target.endswith(".sam3roto"):
            window.open_project(target)
        else:
            window.open_media(target)
    window.show()
    return int(app.exec())

"""Side panels: the objects list (a model/view adapter over the project's objects) and the
Segment, Matte and Export tabs. They send intents to the window's controller methods."""

from __future__ import annotations

from typing import Any, cast

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from sam3roto.core.tracking import DEFAULT_EVERY
from sam3roto.errors import Sam3RotoError
from sam3roto.post.matte import REFINE_METHODS
from sam3roto.post.rgb import DESPILL_MODES, EDGE_EXTEND_METHODS
from sam3roto.post.settings import DEPTH_MODES
from sam3roto.post.sources import CHANNELS, STAGE_OPS
from sam3roto.ui.controls import CheckBox, ComboBox, DoubleSpinBox, SliderField, SpinBox
from sam3roto.ui.document import Document

Index = QModelIndex | QPersistentModelIndex


class ObjectsModel(QAbstractListModel):
    """The project's objects: name (editable), colour, visibility (check box)."""

    def __init__(self, doc: Document) -> None:
        super().__init__()
        self.doc = doc
        doc.projectChanged.connect(self._reset)

    def _reset(self) -> None:
        self.beginResetModel()
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.doc.project.objects)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        obj = self.doc.project.objects[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return obj.name
        if role == Qt.ItemDataRole.DecorationRole:
            return QColor(*obj.color)
        if role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if obj.visible else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.UserRole:
            return obj.id
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEditable
                | Qt.ItemFlag.ItemIsUserCheckable)

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        obj = self.doc.project.objects[index.row()]
        if role == Qt.ItemDataRole.EditRole and str(value).strip() and str(value) != obj.name:
            self.doc.rename_object(obj.id, str(value).strip())
            return True
        if role == Qt.ItemDataRole.CheckStateRole:
            self.doc.set_visible(obj.id, Qt.CheckState(value) == Qt.CheckState.Checked)
            return True
        return False


class ObjectsPanel(QWidget):
    def __init__(self, doc: Document) -> None:
        super().__init__()
        self.doc = doc
        self.model = ObjectsModel(doc)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.view.clicked.connect(lambda idx: doc.set_active(self.model.data(idx, Qt.ItemDataRole.UserRole)))
        add, remove, colour = QPushButton("Add"), QPushButton("Remove"), QPushButton("Colour...")
        add.clicked.connect(lambda: doc.add_object())
        remove.clicked.connect(self._remove)
        colour.clicked.connect(self.pick_colour)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addWidget(colour)
        layout = QVBoxLayout(self)
        hint = QLabel("Tick to show, double-click to rename, click to make active.")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        layout.addWidget(self.view)
        layout.addLayout(buttons)
        doc.projectChanged.connect(self._select_active)
        doc.activeChanged.connect(self._select_active)

    def _remove(self) -> None:
        obj = self.doc.active()
        if obj is not None:
            self.doc.remove_object(obj.id)

    def pick_colour(self) -> None:
        from PySide6.QtWidgets import QColorDialog

        obj = self.doc.active()
        if obj is None:
            return
        chosen = QColorDialog.getColor(QColor(*obj.color), self, f"Colour of {obj.name}")
        if chosen.isValid():
            self.doc.set_colour(obj.id, (chosen.red(), chosen.green(), chosen.blue()))

    def _select_active(self) -> None:
        ids = [o.id for o in self.doc.project.objects]
        if self.doc.project.active_object in ids:
            self.view.setCurrentIndex(self.model.index(ids.index(self.doc.project.active_object)))


class SegmentTab(QWidget):
    """Engine choice, prompt tools (clicks segment live), tracking, out-of-shot ranges."""

    segment = Signal()
    track = Signal(str, str)  # direction, mode ("changed" or "all")
    text = Signal(str)
    load = Signal()
    everything = Signal()
    use_regions = Signal()
    absent = Signal(int, int, bool)  # first and last frame index, out of shot (or not)

    def __init__(self, doc: Document) -> None:
        from sam3roto.backends.registry import engine_choices

        super().__init__()
        self.doc = doc
        self.engine = ComboBox()
        for name, label in engine_choices():
            self.engine.addItem(label, name)
        self.engine.currentIndexChanged.connect(self._engine_changed)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.tools = ComboBox()
        for label, tool in (("Point +", "point+"), ("Point -", "point-"), ("Box", "box"), ("Brush", "brush"),
                            ("Shape (lasso / polygon)", "shape")):
            self.tools.addItem(label, tool)
        self.tools.currentIndexChanged.connect(lambda _: setattr(doc, "tool", self.tools.currentData()))
        self.tools.setToolTip("P point +, Shift+P point -, R box, B brush, G shape; X swaps add and subtract, "
                              "T correction and touch-up, - = brush size, 9 0 softness")
        self.live = CheckBox("Live: every click segments")
        self.live.setChecked(True)
        self.live.setToolTip("clicks, boxes, drags and deletes update the mask at once; Ctrl+Enter re-runs it")
        self.text_prompt = QLineEdit()
        self.text_prompt.setPlaceholderText("text prompt, e.g. person: every instance becomes an object")
        self.find_button = QPushButton("Find all")
        self.find_button.clicked.connect(self._find)
        self.text_prompt.returnPressed.connect(self._find)
        self.find_scope = ComboBox()
        self.find_scope.addItem("this frame", "frame")
        self.find_scope.addItem("whole shot", "shot")
        self.find_scope.setToolTip("this frame: every instance here becomes an object; whole shot: instances are "
                                   "found and tracked over the in..out range, including those that enter later")
        self.detect_every = SpinBox()
        self.detect_every.setRange(1, 1000)
        self.detect_every.setValue(DEFAULT_EVERY)
        self.detect_every.setPrefix("every ")
        self.detect_every.setSuffix(" fr")
        self.detect_every.setToolTip("whole shot: the detector looks for new instances every N frames "
                                     "(1: every frame, slower)")
        self.detect_every.setEnabled(False)
        self.find_scope.currentIndexChanged.connect(lambda _: self._scope_changed())
        text_row = QHBoxLayout()
        text_row.addWidget(self.text_prompt, 1)
        text_row.addWidget(self.find_button)
        find_row = QHBoxLayout()
        find_row.addWidget(self.find_scope, 1)
        find_row.addWidget(self.detect_every, 1)
        seg = QPushButton("Segment frame  (Ctrl+Enter)")
        seg.clicked.connect(self.segment.emit)
        row = QHBoxLayout()
        self.track_buttons: dict[str, QPushButton] = {}
        for label, direction, mode, tip in (
            ("◀ from here", "backward", "all", "track backward from this frame"),
            ("◀▶ changes  (Ctrl+T)", "both", "changed",
             "re-track only what is out of date: the stretches around edited keyframes, new objects"),
            ("from here ▶", "forward", "all", "track forward from this frame"),
        ):
            b = QPushButton(label)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, d=direction, m=mode: self.track.emit(d, m))
            self.track_buttons[f"{direction}:{mode}"] = b
            row.addWidget(b)
        everything_track = QPushButton("Re-track the whole shot  (Ctrl+Shift+T)")
        everything_track.clicked.connect(lambda: self.track.emit("both", "all"))
        self.track_buttons["both:all"] = everything_track
        self.follow = CheckBox("Playhead follows")
        self.follow.setChecked(True)
        self.follow.setToolTip("show each frame as it is tracked")
        self.stop_low = CheckBox("Stop at low confidence")
        self.stop_low.setToolTip("an object's track stops at its first doubtful frame (red on the timeline) "
                                 "instead of sliding onto something else; add a keyframe there and track on")
        checks = QHBoxLayout()
        checks.addWidget(self.follow)
        checks.addWidget(self.stop_low)
        load = QPushButton("Load model")
        load.setToolTip("load the engine's weights now (otherwise on the first Segment frame)")
        load.clicked.connect(self.load.emit)
        engine_row = QHBoxLayout()
        engine_row.addWidget(self.engine, 1)
        engine_row.addWidget(load)
        form = QFormLayout(self)
        form.addRow("Engine", engine_row)
        form.addRow(self.note)
        form.addRow("Tool", self.tools)
        form.addRow(self.live)
        form.addRow("Text", text_row)
        form.addRow("Find in", find_row)
        form.addRow(seg)
        form.addRow(row)
        form.addRow(everything_track)
        form.addRow(checks)
        self.absent_from, self.absent_to = SpinBox(), SpinBox()
        numbers = doc.source.info.frame_numbers
        for spin in (self.absent_from, self.absent_to):
            spin.setRange(numbers[0], numbers[-1])
            spin.setValue(numbers[doc.frame])
            spin.setKeyboardTracking(False)
        here_from, here_to = QPushButton("here"), QPushButton("here")
        here_from.clicked.connect(lambda: self.absent_from.setValue(doc.frame_number()))
        here_to.clicked.connect(lambda: self.absent_to.setValue(doc.frame_number()))
        mark, clear = QPushButton("Out of shot"), QPushButton("In shot")
        mark.setToolTip("the active object is out of shot on these frames: its masks there are empty and "
                        "tracking resumes from the keyframes on either side")
        mark.clicked.connect(lambda: self._absent(True))
        clear.clicked.connect(lambda: self._absent(False))
        absent_row = QHBoxLayout()
        for w in (self.absent_from, here_from, QLabel("to"), self.absent_to, here_to):
            absent_row.addWidget(w)
        absent_buttons = QHBoxLayout()
        absent_buttons.addWidget(mark)
        absent_buttons.addWidget(clear)
        form.addRow("Absent", absent_row)
        form.addRow(absent_buttons)
        self.everything_button = QPushButton("Segment everything")
        self.everything_button.setToolTip("cut the frame into regions; click regions to pick them (again to drop)")
        self.everything_button.clicked.connect(self.everything.emit)
        self.use_button = QPushButton("Use picked regions as the key mask")
        self.use_button.clicked.connect(self.use_regions.emit)
        regions = QHBoxLayout()
        regions.addWidget(self.everything_button)
        regions.addWidget(self.use_button)
        form.addRow(regions)
        self._engine_changed()

    def _absent(self, out: bool) -> None:
        numbers = list(self.doc.source.info.frame_numbers)
        first = self._index(self.absent_from.value(), numbers)
        last = self._index(self.absent_to.value(), numbers)
        self.absent.emit(min(first, last), max(first, last), out)

    @staticmethod
    def _index(number: int, numbers: list[int]) -> int:
        """The index of frame ``number``, or of the nearest frame (sequences may have gaps)."""
        return min(range(len(numbers)), key=lambda i: abs(numbers[i] - number))

    def show_tool(self, tool: str) -> None:
        """Show ``tool`` as chosen (the window's tool keys set it)."""
        index = self.tools.findData(tool)
        if index >= 0 and index != self.tools.currentIndex():
            self.tools.setCurrentIndex(index)

    @property
    def engine_name(self) -> str:
        return str(self.engine.currentData())

    def _scope_changed(self) -> None:
        """The detector interval matters for the whole shot only."""
        self.detect_every.setEnabled(self.find_scope.isEnabled() and self.find_scope.currentData() == "shot")

    def _find(self) -> None:
        text = self.text_prompt.text().strip()
        if text and self.find_button.isEnabled():
            self.text.emit(text)

    def _engine_changed(self) -> None:
        from sam3roto.backends.registry import engine_class

        caps = engine_class(self.engine_name).capabilities
        text = caps.text
        if hasattr(self, "everything_button"):
            self.everything_button.setEnabled(caps.everything)
        self.text_prompt.setEnabled(text)
        self.find_button.setEnabled(text)
        self.find_scope.setEnabled(text)
        self._scope_changed()
        if not text:
            self.note.setText("Points and boxes. This engine takes no text prompts (choose SAM3 for text).")
        else:
            self.note.setText("Text, points, boxes. Needs the SAM3 weights: Edit > Settings... shows whether they "
                              'are present; "Install / Reinstall ML tools" fetches them.')


# Controls of the post settings, by tab: ("slider", name, label, min, max, integer?),
# ("choice", name, label, choices), ("text", name, label, tooltip) or ("check", name, label).
MATTE_CONTROLS: tuple[tuple[Any, ...], ...] = (
    ("stages", "thresholds", "Thresholds in the mask"),
    ("choice", "depth_mode", "Depth foreground", DEPTH_MODES),
    ("slider", "remove_dots_px", "Remove dots (px²)", 0, 5000, True),
    ("slider", "fill_holes_px", "Fill holes (px²)", 0, 5000, True),
    ("slider", "border_fix_px", "Border fix (px)", 0, 50, True),
    ("slider", "grow_px", "Grow / shrink (px)", -50, 50, True),
    ("slider", "refine_band_px", "Edge refine band (px)", 0, 60, True),
    ("choice", "refine_method", "Refine method", REFINE_METHODS),
    ("text", "refine_model", "ViTMatte model", "a Hugging Face model id or a folder (for the vitmatte method)"),
    ("slider", "refine_softness", "Refine softness", 0, 1, False),
    ("slider", "feather_px", "Feather (px)", 0, 30, False),
    ("slider", "temporal_pct", "Temporal smoothing (%)", 0, 100, False),
    ("slider", "motion_blur_shutter", "Motion blur (shutter)", 0, 1, False),
)
RGB_CONTROLS: tuple[tuple[Any, ...], ...] = (
    ("choice", "despill", "Despill", ("off", *DESPILL_MODES)),
    ("slider", "despill_strength", "Despill strength", 0, 1, False),
    ("slider", "luminance_restore", "Luminance restore", 0, 1, False),
    ("choice", "edge_extend", "Edge extend", ("off", *EDGE_EXTEND_METHODS)),
    ("check", "premultiply", "Premultiply (otherwise straight)"),
)


class StagesEditor(QWidget):
    """Threshold stages inside the object's mask, applied in order (seed 001): channel,
    low/high in [0, 1], invert, and what the stage does to the result so far."""

    changed = Signal()
    COLUMNS = ("channel", "low", "high", "invert", "op")

    def __init__(self) -> None:
        super().__init__()
        from PySide6.QtWidgets import QTableWidget

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setMaximumHeight(130)
        add, remove = QPushButton("Add stage"), QPushButton("Remove last")
        add.clicked.connect(self._add_stage)
        remove.clicked.connect(self._remove_last)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(row)

    def _add_row(self, stage: dict[str, Any]) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        channel, op = ComboBox(), ComboBox()
        channel.addItems(list(CHANNELS))
        channel.setCurrentText(str(stage.get("channel", "luma")))
        op.addItems(list(STAGE_OPS))
        op.setCurrentText(str(stage.get("op", "keep")))
        low, high = DoubleSpinBox(), DoubleSpinBox()
        for spin, value in ((low, stage.get("low", 0.5)), (high, stage.get("high", 1.0))):
            spin.setRange(0.0, 1.0)
            spin.setSingleStep(0.02)
            spin.setDecimals(3)
            spin.setValue(float(value))
            spin.valueChanged.connect(self._emit)
        invert = CheckBox()
        invert.setChecked(bool(stage.get("invert", False)))
        channel.currentIndexChanged.connect(self._emit)
        op.currentIndexChanged.connect(self._emit)
        invert.toggled.connect(self._emit)
        for c, widget in enumerate((channel, low, high, invert, op)):
            self.table.setCellWidget(r, c, widget)

    def _add_stage(self) -> None:
        self._add_row({})
        self.changed.emit()

    def _emit(self, *args: object) -> None:
        self.changed.emit()

    def _remove_last(self) -> None:
        if self.table.rowCount():
            self.table.removeRow(self.table.rowCount() - 1)
            self.changed.emit()

    def set_stages(self, stages: list[dict[str, Any]]) -> None:
        """Show ``stages``; rows that are there are updated in place (a field being edited
        keeps its focus while keyed stages change from frame to frame)."""
        if self.table.rowCount() != len(stages):
            self.table.setRowCount(0)
            for stage in stages:
                self._add_row(stage)
            return
        for r, stage in enumerate(stages):
            cells: list[Any] = [self.table.cellWidget(r, c) for c in range(len(self.COLUMNS))]
            channel, low, high, invert, op = cells
            for cell in cells:
                cell.blockSignals(True)
            try:
                channel.setCurrentText(str(stage.get("channel", "luma")))
                low.setValue(float(stage.get("low", 0.5)))
                high.setValue(float(stage.get("high", 1.0)))
                invert.setChecked(bool(stage.get("invert", False)))
                op.setCurrentText(str(stage.get("op", "keep")))
            finally:
                for cell in cells:
                    cell.blockSignals(False)

    def stages(self) -> list[dict[str, Any]]:
        out = []
        for r in range(self.table.rowCount()):
            cells: list[Any] = [self.table.cellWidget(r, c) for c in range(len(self.COLUMNS))]
            channel, low, high, invert, op = cells
            lo, hi = sorted((low.value(), high.value()))
            out.append({"channel": channel.currentText(), "low": lo, "high": hi, "invert": invert.isChecked(),
                        "op": op.currentText()})
        return out


class PostTab(QWidget):
    """Post settings of the active object (the Matte tab or the RGB/Comp tab), previewed
    live on the frame (the viewer switches to the matte or RGBA view while one changes).
    Every change is one undo step per object (consecutive slider moves merge).

    Keyed over the shot (``RotoObject.post_keys``, :mod:`sam3roto.post.keyed`): the Key
    button keys this frame's settings (unticked, it removes the key), the arrows beside it
    jump to the previous and next keys, and the controls show each frame's settings,
    interpolated between keys. Once an object has keys, an edit keys the frame it is made
    on (as a compositor's auto-key), so values in between interpolate; without keys edits
    change the settings of the whole shot. Both tabs key the same settings: a key holds
    every setting of its frame, whichever tab made it."""

    edited = Signal()

    def __init__(self, doc: Document, controls: tuple[tuple[Any, ...], ...]) -> None:
        super().__init__()
        self.doc = doc
        self.widgets: dict[str, Any] = {}
        outer = QVBoxLayout(self)
        form = QFormLayout()
        outer.addLayout(form)
        outer.addStretch(1)  # spare height below the controls, not between them
        self.prev_key, self.key_button, self.next_key = QPushButton("◀"), QPushButton("◇ Key"), QPushButton("▶")
        self.key_button.setCheckable(True)
        self.key_button.setMinimumWidth(self.key_button.fontMetrics().horizontalAdvance("◆ Keyed") + 24)
        self.key_button.setToolTip("key these settings on this frame (untick: remove this frame's key); once "
                                   "keyed, every edit keys the frame you are on and settings between keys "
                                   "interpolate")
        self.prev_key.setToolTip("previous key")
        self.next_key.setToolTip("next key")
        for button in (self.prev_key, self.next_key):
            button.setFixedWidth(button.fontMetrics().horizontalAdvance("◀") + 24)
        self.key_button.clicked.connect(self._key_clicked)
        self.prev_key.clicked.connect(lambda: self._jump(-1))
        self.next_key.clicked.connect(lambda: self._jump(1))
        self.keys_label = QLabel()
        self.keys_label.setWordWrap(True)
        keys_row = QHBoxLayout()
        keys_row.addWidget(self.prev_key)
        keys_row.addWidget(self.key_button)
        keys_row.addWidget(self.next_key)
        keys_row.addWidget(self.keys_label, 1)
        form.addRow(keys_row)
        for kind, name, label, *rest in controls:
            widget: Any
            if kind == "slider":
                lo, hi, integer = rest
                widget = SliderField(lo, hi, integer=integer)
                widget.valueChanged.connect(lambda _v, n=name: self._changed(n))
            elif kind == "stages":
                widget = StagesEditor()
                widget.changed.connect(lambda n=name: self._changed(n))
            elif kind == "choice":
                widget = ComboBox()
                widget.addItems(list(rest[0]))
                widget.currentIndexChanged.connect(lambda _i, n=name: self._changed(n))
            elif kind == "text":
                widget = QLineEdit()
                widget.setToolTip(rest[0])
                widget.editingFinished.connect(lambda n=name: self._changed(n))
            else:
                widget = CheckBox(label)
                widget.toggled.connect(lambda _on, n=name: self._changed(n))
            self.widgets[name] = widget
            if kind in ("check", "stages"):
                if kind == "stages":
                    form.addRow(QLabel(label))
                form.addRow(widget)
            else:
                form.addRow(label, widget)
        self._loading = False
        doc.activeChanged.connect(self.load)
        doc.projectChanged.connect(self.load)
        doc.frameChanged.connect(self.load)
        self.load()

    def settings_here(self) -> dict[str, Any]:
        """The active object's settings on the current frame (interpolated between keys),
        as a ``PostSettings.to_dict``; the defaults where the object's are not readable
        (a hand-edited project: the file's values are kept, the render reports them)."""
        from sam3roto.post import PostSettings
        from sam3roto.post.keyed import KeyedPost

        obj = self.doc.active()
        if obj is not None:
            try:
                return KeyedPost.of(obj).at(self.doc.frame).to_dict()
            except (TypeError, ValueError):
                try:
                    return PostSettings.from_dict(obj.post).to_dict()
                except (TypeError, ValueError):
                    pass
        return PostSettings().to_dict()

    def load(self, *args: object) -> None:
        """Show the active object's settings on the current frame, and its keys."""
        obj = self.doc.active()
        self.setEnabled(obj is not None)
        values = self.settings_here()
        self._loading = True
        try:
            for name, widget in self.widgets.items():
                if isinstance(widget, StagesEditor):
                    if widget.stages() != values[name]:  # rows are updated in place, never rebuilt under an edit
                        widget.set_stages(values[name])
                elif isinstance(widget, QComboBox):
                    widget.setCurrentText(str(values[name]))
                elif isinstance(widget, QCheckBox):
                    widget.setChecked(bool(values[name]))
                elif isinstance(widget, QLineEdit):
                    if widget.text() != str(values[name]):
                        widget.setText(str(values[name]))
                elif widget.value() != values[name]:
                    widget.setValue(values[name])
        finally:
            self._loading = False
        self._show_keys()

    def _keys(self) -> list[int]:
        obj = self.doc.active()
        return sorted(obj.post_keys) if obj is not None else []

    def _show_keys(self) -> None:
        keys, frame = self._keys(), self.doc.frame
        self.key_button.setChecked(frame in keys)
        self.key_button.setText("◆ Keyed" if frame in keys else "◇ Key")  # filled: a key on this frame
        self.prev_key.setEnabled(any(k < frame for k in keys))
        self.next_key.setEnabled(any(k > frame for k in keys))
        if not keys:
            self.keys_label.setText("not keyed")
            return
        count = self.doc.frame_count
        numbers = [str(self.doc.frame_number(k)) if 0 <= k < count else f"#{k}" for k in keys]
        shown = ", ".join(numbers) if len(numbers) <= 6 else f"{', '.join(numbers[:5])}, … ({len(numbers)})"
        if frame in keys:
            here = "keyed here"
        elif keys[0] < frame < keys[-1]:
            here = "interpolated here"
        else:
            here = "held here"  # before the first key or after the last: that key's values
        self.keys_label.setText(f"keys: {shown} ({here})")

    def _key_clicked(self, checked: bool) -> None:
        obj = self.doc.active()
        if obj is None:
            return
        if checked:
            self.doc.set_post_key(obj.id, self.doc.frame, self.settings_here())
        else:
            self.doc.remove_post_key(obj.id, self.doc.frame)
        self._show_keys()  # also when nothing changed (no signal came)

    def _jump(self, direction: int) -> None:
        frame = self.doc.frame
        keys = [k for k in self._keys() if (k - frame) * direction > 0]
        if keys:
            self.doc.set_frame(min(keys) if direction > 0 else max(keys))

    def values(self) -> dict[str, Any]:
        """The values the controls show, by setting name."""
        return {name: self._value(name) for name in self.widgets}

    def _value(self, name: str) -> Any:
        widget = self.widgets[name]
        if isinstance(widget, StagesEditor):
            return widget.stages()
        if isinstance(widget, QComboBox):
            return widget.currentText()
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QLineEdit):
            from sam3roto.post.vitmatte import DEFAULT_MODEL_ID

            return widget.text().strip() or DEFAULT_MODEL_ID  # emptied: back to the default
        return widget.value()

    def _changed(self, name: str) -> None:
        obj = self.doc.active()
        if self._loading or obj is None:
            return
        value = self._value(name)
        if value == self.settings_here().get(name):
            return  # a field left without a change (editingFinished) is no edit
        if obj.post_keys:  # auto-key: the whole settings of this frame, with the edit
            self.doc.set_post_key(obj.id, self.doc.frame, {**self.settings_here(), name: value})
        else:
            self.doc.set_post(obj.id, {**obj.post, name: value})
        self.edited.emit()


class ExportTab(QWidget):
    """Every render option, built from the table the command line's ``render`` options come
    from (:data:`sam3roto.pipeline.render_table.RENDER_SETTINGS`), in one group box per
    table group inside a scroll area (the side panel is narrow), plus the output folder and
    the version the next render will write. Opens with the project's saved render settings
    (what the last render from the window chose, or what was set for command-line
    renders); every change goes into those settings at once, so a save keeps it. A saved
    value a control cannot show (an output id this version lacks, a number past a field's
    range) is kept as saved until that control is changed. The version is a choice for the
    next render only (``render_table.ONE_SHOT``): never kept in the settings, never read
    from them."""

    requested = Signal()

    #: The output colour space menu's first item (``output_colorspace`` None).
    AUTOMATIC_SPACE = "Automatic (EXR as the input; PNG/ProRes display-referred)"
    #: Number fields hold 32-bit values: ``RenderOptions`` ranges are clipped to these.
    INT_LIMITS = (-(2**31) + 1, 2**31 - 1)
    FLOAT_LIMITS = (-1e9, 1e9)

    class OptionalSpin(SpinBox):
        """A whole-number field whose lowest value means unset (shown as its special text);
        a step up from it goes to ``jump`` rather than to the next number."""

        jump: int | None = None

        def stepBy(self, steps: int) -> None:
            if self.jump is not None and steps > 0 and self.value() == self.minimum():
                self.setValue(min(max(self.jump, self.minimum() + 1), self.maximum()))
                return
            super().stepBy(steps)

    def __init__(self, doc: Document) -> None:
        super().__init__()
        from sam3roto.pipeline.render_table import GROUPS, window_settings

        self.doc = doc
        self.widgets: dict[str, QWidget] = {}
        self.checks: dict[str, QCheckBox] = {}
        self._unshown: set[str] = set()
        self._loading = True
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        body = QWidget()
        column = QVBoxLayout(body)
        # where the versions go
        where = QGroupBox("Output folder")
        where_form = QFormLayout(where)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("renders/ beside the project")
        self.folder.setToolTip("the folder holding the render versions (v001, v002...); empty: renders/ beside "
                               "the project. Kept relative to the project when inside its folder")
        self.choose_folder = QPushButton("Choose...")
        self.choose_folder.setToolTip("choose the folder holding the render versions")
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(self.choose_folder)
        self.version = QLabel()
        self.version.setWordWrap(True)
        where_form.addRow("Folder", folder_row)
        where_form.addRow("Next version", self.version)
        column.addWidget(where)
        for group in GROUPS:
            settings = [s for s in window_settings() if s.group == group]
            if not settings:
                continue
            box = QGroupBox(group.replace("&", "&&"))  # a single & would make a mnemonic
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            for setting in settings:
                widget = self._control(setting)
                if not widget.toolTip():  # (the colour menu may say its config cannot be read)
                    widget.setToolTip(setting.tooltip)
                self.widgets[setting.name] = widget
                if setting.kind in ("outputs", "objects"):
                    if setting.kind == "objects":
                        note = QLabel(setting.tooltip[0].upper() + setting.tooltip[1:])
                        note.setWordWrap(True)
                        form.addRow(note)
                    form.addRow(widget)
                elif setting.kind == "bool":
                    form.addRow(widget)
                else:
                    label = QLabel(setting.label)
                    label.setToolTip(setting.tooltip)
                    form.addRow(label, widget)
                if setting.kind == "frames":
                    self.frames_error = QLabel()
                    self.frames_error.setWordWrap(True)
                    self.frames_error.setStyleSheet("color: #d04040")
                    self.frames_error.hide()
                    form.addRow(self.frames_error)
            column.addWidget(box)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        self.render_button = QPushButton("Render")
        self.render_button.clicked.connect(self._request)
        outer.addWidget(self.render_button)
        # the names the window's code and tests use
        self.start = cast(SpinBox, self.widgets["start_frame"])
        self.bits = cast(ComboBox, self.widgets["bit_depth"])
        self.name = cast(QLineEdit, self.widgets["name"])
        self.frames = cast(QLineEdit, self.widgets["indices"])
        self.combine_op = cast(ComboBox, self.widgets["combine_op"])
        self.objects_list = cast(QListWidget, self.widgets["objects"])
        self.combine_list = cast(QListWidget, self.widgets["combine"])
        doc.projectChanged.connect(self.sync_objects)
        try:
            self.load_saved()
        finally:
            self._loading = False
        for setting in window_settings():
            self._connect(setting)
        self.folder.editingFinished.connect(lambda: self.set_folder(self.folder.text()))
        self.choose_folder.clicked.connect(self.pick_folder)
        self.refresh()

    # -- building ----------------------------------------------------------------------
    def _control(self, setting: Any) -> Any:
        """The widget of one table entry (see ``render_table.KINDS``)."""
        kind = setting.kind
        if kind == "outputs":
            from sam3roto.export.registry import exporter_class

            holder = QWidget()
            grid = QGridLayout(holder)
            grid.setContentsMargins(0, 0, 0, 0)
            grid.setColumnStretch(1, 1)
            for row, exporter_id in enumerate(setting.choices):
                description = exporter_class(exporter_id).info.description
                box: QCheckBox = CheckBox(exporter_id)
                box.setToolTip(description)
                text = QLabel(description)
                text.setWordWrap(True)
                self.checks[exporter_id] = box
                grid.addWidget(box, row, 0, Qt.AlignmentFlag.AlignTop)
                grid.addWidget(text, row, 1)
            return holder
        if kind == "objects":
            listed = QListWidget()
            listed.setMaximumHeight(110)
            if setting.name == "combine":  # its order is the combine order (difference: the first minus the rest)
                listed.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
            return listed
        if kind in ("choice", "colorspace"):
            combo = ComboBox()
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
            if kind == "choice":
                for choice in setting.choices:
                    combo.addItem(str(choice), choice)
            else:
                combo.addItem(self.AUTOMATIC_SPACE)
                try:
                    from sam3roto.media.colour import load_config

                    combo.addItems(load_config().names())
                except (Sam3RotoError, ImportError, OSError) as exc:  # the render reports a bad config again
                    combo.setToolTip(f"{setting.tooltip}\n(the OpenColorIO config cannot be read: {exc})")
            return combo
        if kind == "int":
            low = max(int(setting.minimum), self.INT_LIMITS[0])
            high = min(int(setting.maximum), self.INT_LIMITS[1])
            spin: Any = self.OptionalSpin() if setting.optional else SpinBox()
            spin.setRange(low - 1 if setting.optional else low, high)
            if setting.special:
                spin.setSpecialValueText(setting.special)
            if setting.name == "start_frame":
                spin.jump = 1001  # the VFX convention, rather than -2147483647
            return spin
        if kind == "float":
            number = DoubleSpinBox()
            number.setDecimals(3)
            number.setSingleStep(0.05)
            number.setRange(*self.FLOAT_LIMITS)
            return number
        if kind == "bool":
            return CheckBox(setting.label)
        line = QLineEdit()  # text, frames
        line.setPlaceholderText(setting.help if kind == "text" else "the shot's in/out range (e.g. 1001-1100, 1120)")
        return line

    def _connect(self, setting: Any) -> None:
        widget: Any = self.widgets[setting.name]

        def changed(*args: object) -> None:
            self._changed(setting.name)

        if setting.kind == "outputs":
            for box in self.checks.values():
                box.toggled.connect(changed)
        elif setting.kind == "objects":
            widget.itemChanged.connect(changed)
            widget.model().rowsMoved.connect(changed)
        elif setting.kind in ("choice", "colorspace"):
            widget.currentIndexChanged.connect(changed)
        elif setting.kind in ("int", "float"):
            widget.valueChanged.connect(changed)
        elif setting.kind == "bool":
            widget.toggled.connect(changed)
        else:
            widget.editingFinished.connect(changed)

    # -- the settings ------------------------------------------------------------------
    def _changed(self, name: str) -> None:
        if self._loading:
            return
        if name == "indices" and not self._check_frames():
            return  # not a frame list: said under the field, nothing kept
        self._unshown.discard(name)
        self.remember()
        if name == "version":
            self.refresh()

    def kept(self) -> dict[str, Any]:
        """:meth:`choices` without the one-shot ones (the version): what the project keeps."""
        from sam3roto.pipeline.render_table import ONE_SHOT

        return {k: v for k, v in self.choices().items() if k not in ONE_SHOT}

    def remember(self) -> None:
        """Keep the choices in the project's render settings, without the one-shot ones."""
        self.doc.remember_render(self.kept())
        self._forget_one_shot()

    def _forget_one_shot(self) -> None:
        """Take the one-shot choices the tab has controls for (the version) out of the
        project's render settings: put there by a render just started (the window keeps the
        choices it renders with) or by an older version of sam3roto."""
        from sam3roto.pipeline.render_table import ONE_SHOT, window_settings

        saved = self.doc.project.settings.get("render")
        shown = [s.name for s in window_settings() if s.name in ONE_SHOT]
        if isinstance(saved, dict) and any(name in saved for name in shown):
            self.doc.project.settings["render"] = {k: v for k, v in saved.items() if k not in shown}
            self.doc.mark_modified()

    def _request(self) -> None:
        """Render pressed: ask for a render of :meth:`choices` (the version included), then
        take the version back out of what the project keeps."""
        self.requested.emit()
        self._forget_one_shot()

    def load_saved(self) -> None:
        """Set the controls from the project's ``render`` settings and its render folder.
        A saved value that does not fit its control leaves the control at its default and
        stays in the settings (the render uses it, and reports it when it is wrong)."""
        from sam3roto.pipeline.render_table import ONE_SHOT, RENDER_FOLDER, window_settings

        saved = self.doc.project.settings.get("render")
        saved = saved if isinstance(saved, dict) else {}
        self._unshown = set()
        for setting in window_settings():
            # a saved version (older files) is not a choice for this render: the next free one
            value = setting.default if setting.name in ONE_SHOT else saved.get(setting.name, setting.default)
            if not self._show(setting, value):
                self._show(setting, setting.default)
                self._unshown.add(setting.name)
        folder = self.doc.project.settings.get(RENDER_FOLDER)
        self.folder.setText(folder if isinstance(folder, str) else "")

    def _show(self, setting: Any, value: Any) -> bool:
        """Set ``setting``'s control to ``value``; whether it can show it."""
        import math

        widget: Any = self.widgets[setting.name]
        kind = setting.kind
        if kind == "outputs":
            if isinstance(value, str):
                value = [o.strip() for o in value.split(",") if o.strip()]
            if not isinstance(value, list | tuple) or not value or any(o not in self.checks for o in value):
                return False
            for exporter_id, box in self.checks.items():
                box.setChecked(exporter_id in value)
            return True
        if kind == "objects":
            if value is not None and (not isinstance(value, list | tuple)
                                      or any(isinstance(i, bool) or not isinstance(i, int) for i in value)):
                return False
            # ids of objects deleted since are dropped, as the command line drops them
            self._sync_list(widget, list(value or []), rebuild=True)
            return True
        if kind == "frames":
            shot = self.doc.project.shot
            if value is None:
                widget.setText("")
                return True
            numbers = shot.frame_numbers if shot is not None else []
            if (not isinstance(value, list | tuple) or not value
                    or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(numbers) for i in value)):
                return False
            from sam3roto.pipeline.render_table import frames_text

            widget.setText(frames_text(sorted(set(value)), numbers))
            return True
        if kind == "choice":
            matches = [n for n, c in enumerate(setting.choices) if c == value and type(c) is type(value)]
            if not matches:
                return False
            widget.setCurrentIndex(matches[0])
            return True
        if kind == "colorspace":
            if value is None:
                widget.setCurrentIndex(0)
                return True
            if not isinstance(value, str) or not value.strip():
                return False
            if widget.findText(value) < 0:  # a name this config lacks: listed, so the render names the problem
                widget.addItem(value)
            widget.setCurrentIndex(widget.findText(value))
            return True
        if kind == "int":
            if value is None and setting.optional:
                widget.setValue(widget.minimum())
                return True
            low = widget.minimum() + (1 if setting.optional else 0)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= widget.maximum():
                return False
            widget.setValue(value)
            return True
        if kind == "float":
            if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
                    or not widget.minimum() <= value <= widget.maximum()):
                return False
            widget.setValue(float(value))
            return True
        if kind == "bool":
            if not isinstance(value, bool):
                return False
            widget.setChecked(value)
            return True
        if value is not None and not isinstance(value, str):  # text
            return False
        widget.setText(value or "")
        return True

    def _value(self, setting: Any) -> Any:
        """``setting``'s control as a ``RenderOptions`` field value (lists for tuples)."""
        widget: Any = self.widgets[setting.name]
        kind = setting.kind
        if kind == "outputs":
            return list(self.outputs())
        if kind == "objects":
            ids = self._checked(widget)
            return list(ids) if ids else None
        if kind == "frames":
            from sam3roto.pipeline.render_table import frame_indices

            shot = self.doc.project.shot
            indices = frame_indices(widget.text(), shot.frame_numbers if shot is not None else [])
            return None if indices is None else list(indices)
        if kind == "choice":
            return setting.choices[widget.currentIndex()]
        if kind == "colorspace":
            return None if widget.currentIndex() <= 0 else widget.currentText()
        if kind == "int":
            value = widget.value()
            return None if setting.optional and value == widget.minimum() else int(value)
        if kind == "float":
            return float(widget.value())
        if kind == "bool":
            return widget.isChecked()
        return widget.text().strip() or None

    def choices(self) -> dict[str, Any]:
        """The controls as ``RenderOptions`` fields (what a render from the window uses; the
        project keeps them but the version, :meth:`kept`): every control's value but those
        still showing a default in place of a saved value they cannot show, and the frames
        while they cannot be read."""
        from sam3roto.pipeline.render_table import window_settings

        out: dict[str, Any] = {}
        for setting in window_settings():
            if setting.name in self._unshown:
                continue
            try:
                out[setting.name] = self._value(setting)
            except ValueError:  # the frames field: problem() says why
                continue
        return out

    def _check_frames(self) -> bool:
        """Read the frames field: its text tidied when it can be read, else the reason shown
        under it; whether it could."""
        from sam3roto.pipeline.render_table import BY_NAME, frames_text

        shot = self.doc.project.shot
        numbers = shot.frame_numbers if shot is not None else []
        problem = self.problem()
        self.frames_error.setText(problem or "")
        self.frames_error.setVisible(problem is not None)
        if problem is None:
            indices = self._value(BY_NAME["indices"])
            self.frames.setText(frames_text(indices, numbers) if indices else "")
        return problem is None

    def problem(self) -> str | None:
        """Why the tab's choices cannot be rendered as shown (frames that cannot be read), or None."""
        from sam3roto.pipeline.render_table import frame_indices

        shot = self.doc.project.shot
        try:
            frame_indices(self.frames.text(), shot.frame_numbers if shot is not None else [])
        except ValueError as exc:
            return f"Frames: {exc}"
        return None

    def outputs(self) -> tuple[str, ...]:
        return tuple(k for k, box in self.checks.items() if box.isChecked())

    # -- the object lists --------------------------------------------------------------
    def sync_objects(self) -> None:
        """The objects and combine lists follow the project's objects (names, additions,
        removals), keeping the artist's order and check marks."""
        self._sync_list(self.objects_list, [])
        self._sync_list(self.combine_list, [])

    def _sync_list(self, listed: QListWidget, checked: list[int], rebuild: bool = False) -> None:
        """Rebuild ``listed`` from the project's objects, keeping its order and check marks;
        ``checked``: ids to check, first and in that order (saved settings)."""
        objects = {o.id: o.name for o in self.doc.project.objects}
        items = [listed.item(i) for i in range(listed.count())]
        shown = {item.data(Qt.ItemDataRole.UserRole): item.text() for item in items}
        if not checked and not rebuild and shown == {i: f"{i}: {name}" for i, name in objects.items()}:
            return  # a settings change (a slider drag): the list stands as it is
        kept = {} if rebuild else {item.data(Qt.ItemDataRole.UserRole): item.checkState() for item in items}
        for obj_id in checked:
            kept.pop(obj_id, None)
        kept = {**{i: Qt.CheckState.Checked for i in checked if i in objects}, **kept}
        order = [obj_id for obj_id in kept if obj_id in objects] + [i for i in objects if i not in kept]
        if listed is self.objects_list:
            order = list(objects)  # rendered in the project's order; only the check marks are a choice
        listed.blockSignals(True)  # rebuilding the list is not an edit of the choices
        listed.clear()
        for obj_id in order:
            item = QListWidgetItem(f"{obj_id}: {objects[obj_id]}")
            item.setData(Qt.ItemDataRole.UserRole, obj_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsDragEnabled)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsDropEnabled)
            item.setCheckState(kept.get(obj_id, Qt.CheckState.Unchecked))
            listed.addItem(item)
        listed.blockSignals(False)

    @staticmethod
    def _checked(listed: QListWidget) -> tuple[int, ...]:
        items = [listed.item(i) for i in range(listed.count())]
        return tuple(int(i.data(Qt.ItemDataRole.UserRole)) for i in items if i.checkState() == Qt.CheckState.Checked)

    def combine(self) -> tuple[int, ...] | None:
        """The checked objects' ids in list order, or None when none is checked."""
        return self._checked(self.combine_list) or None

    def objects(self) -> tuple[int, ...] | None:
        """The objects chosen for rendering, or None (none checked: every visible object)."""
        return self._checked(self.objects_list) or None

    # -- where the versions go -----------------------------------------------------------
    def set_folder(self, text: str) -> None:
        """Keep ``text`` as the project's render folder (empty: ``renders/`` beside the
        project), relative to the project's folder when inside it."""
        from sam3roto.pipeline.render_table import RENDER_FOLDER, folder_setting

        text = text.strip()
        value = folder_setting(text, self.doc.path) if text else None
        settings = self.doc.project.settings
        if settings.get(RENDER_FOLDER) != value:
            if value is None:
                settings.pop(RENDER_FOLDER, None)
            else:
                settings[RENDER_FOLDER] = value
            self.doc.mark_modified()
        self.folder.setText(value or "")
        self.refresh()

    def pick_folder(self) -> None:
        """Choose the render folder in a folder dialog (starting at the current one)."""
        start = self.root()
        chosen = QFileDialog.getExistingDirectory(self, "Render folder", str(start) if start is not None else "")
        if chosen:
            self.set_folder(chosen)

    def root(self) -> Any:
        """The folder the versions go to (the chosen one, else ``renders/`` beside the
        project), or None while it cannot be known (an unsaved project, a bad setting)."""
        from sam3roto.pipeline.render_table import render_root

        try:
            return render_root(self.doc.project.settings, self.doc.path)
        except ValueError:
            return None

    def refresh(self) -> None:
        from sam3roto.export.naming import existing_versions, version_name
        from sam3roto.pipeline.render_table import BY_NAME, saved_render_folder

        try:
            saved_render_folder(self.doc.project.settings)
        except ValueError as exc:
            self.version.setText(f"the project's {exc}: choose a folder")
            return
        root = self.root()
        if root is None:
            self.version.setText("save the project first")
            return
        have = existing_versions(root)
        chosen = self._value(BY_NAME["version"])
        if chosen is None:
            self.version.setText(f"{version_name(max(have, default=0) + 1)} in {root}")
        else:
            taken = " (exists: the render will be refused)" if chosen in have else ""
            self.version.setText(f"{version_name(chosen)} in {root}{taken}")

    # -- before a render ---------------------------------------------------------------
    def untracked_warning(self, untracked: dict[str, list[int]]) -> QMessageBox:
        """The question asked before rendering objects without masks on some frames
        (``untracked``: object name -> frame numbers): "Render anyway" or "Cancel"."""
        from sam3roto.pipeline.render_table import number_ranges_text

        names = list(untracked)
        lines = [f"{name}: {number_ranges_text(untracked[name], 8)}" for name in names[:12]]
        if len(names) > 12:
            lines.append(f"... and {len(names) - 12} more objects")
        box = QMessageBox(QMessageBox.Icon.Warning, "Frames without masks",
                          f"{len(names)} object{'s have' if len(names) > 1 else ' has'} no masks on frames this "
                          "render writes (not tracked there?); the mattes there will be empty.",
                          QMessageBox.StandardButton.NoButton, self)
        box.setInformativeText("\n".join(lines))
        box.addButton("Render anyway", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole))
        return box

    def confirm_untracked(self, untracked: dict[str, list[int]]) -> bool:
        """Ask with :meth:`untracked_warning` (nothing to ask: True); whether to render."""
        if not untracked:
            return True
        box = self.untracked_warning(untracked)
        box.exec()
        clicked = box.clickedButton()
        return clicked is not None and box.buttonRole(clicked) == QMessageBox.ButtonRole.AcceptRole


class DepthTab(QWidget):
    """Depth Anything 3: preset, weights folder, processing resolution and chunking; Run
    writes the project's depth cache (the viewer's depth and normals views show it, the
    Export tab renders depth, normals, cameras and point clouds from it)."""

    requested = Signal()

    def __init__(self, doc: Document) -> None:
        super().__init__()
        from sam3roto.backends.da3 import PRESETS
        from sam3roto.pipeline.depth import DepthOptions

        self.doc = doc
        try:
            saved = DepthOptions(**doc.project.settings.get("depth", {}))
        except (TypeError, ValueError):  # settings from another version: start from the defaults
            saved = DepthOptions()
        self.preset = ComboBox()
        self.preset.addItems(list(PRESETS))
        self.preset.setCurrentText(saved.preset)
        self.model_dir = QLineEdit(saved.model_dir or "")
        self.model_dir.setPlaceholderText("weights folder (empty: the Hugging Face cache)")
        self.process_res = SpinBox()
        self.process_res.setRange(14, 2016)
        self.process_res.setSingleStep(14)
        self.process_res.setValue(saved.process_res)
        self.chunk = SpinBox()
        self.chunk.setRange(1, 256)
        self.chunk.setValue(saved.chunk)
        self.overlap = SpinBox()
        self.overlap.setRange(1, 255)
        self.overlap.setValue(saved.overlap)
        self.status = QLabel()
        self.status.setWordWrap(True)
        run = QPushButton("Run depth over the shot")
        run.clicked.connect(self.requested.emit)
        form = QFormLayout(self)
        form.addRow("Preset", self.preset)
        form.addRow("Weights", self.model_dir)
        form.addRow("Process resolution", self.process_res)
        form.addRow("Chunk (frames)", self.chunk)
        form.addRow("Overlap (frames)", self.overlap)
        form.addRow(run)
        form.addRow(self.status)
        self.refresh()

    def options(self) -> Any:
        from sam3roto.pipeline.depth import DepthOptions

        return DepthOptions(preset=self.preset.currentText(), model_dir=self.model_dir.text().strip() or None,
                            process_res=self.process_res.value(), chunk=self.chunk.value(),
                            overlap=min(self.overlap.value(), max(1, self.chunk.value() - 1)))

    def refresh(self) -> None:
        cache = self.doc.depth_cache()
        frames = cache.frames() if cache is not None else []
        if not frames:
            self.status.setText("No depth yet. After a run, choose the depth or normals view above the frame.")
            return
        meta = cache.meta() if cache is not None else {}
        self.status.setText(f"Depth for {len(frames)} frames ({meta.get('preset')}, "
                            f"{'metric' if meta.get('is_metric') else 'relative'}, "
                            f"{'cameras' if meta.get('has_camera', True) else 'no cameras'}).")

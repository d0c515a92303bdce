"""Side panels: the objects list (a model/view adapter over the project's objects) and the
Segment, Matte and Export tabs. They send intents to the window's controller methods."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sam3roto.core.pixels import COMBINE_OPS
from sam3roto.core.project_io import renders_dir
from sam3roto.core.tracking import DEFAULT_EVERY
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
    """Every output, naming, start frame, the combined matte, and the version the next
    render will write. Opens with the project's saved render settings (what the last
    render from the window chose, or what was set for command-line renders); every change
    goes into those settings at once, so a save keeps it."""

    requested = Signal()

    def __init__(self, doc: Document) -> None:
        super().__init__()
        from sam3roto.export.registry import EXPORTERS, exporter_class

        self.doc = doc
        self.checks: dict[str, QCheckBox] = {}
        layout = QVBoxLayout(self)
        for exporter_id in EXPORTERS:
            info = exporter_class(exporter_id).info
            box: QCheckBox = CheckBox(f"{exporter_id}: {info.description}")
            box.setChecked(exporter_id == "png-alpha")
            self.checks[exporter_id] = box
            layout.addWidget(box)
        form = QFormLayout()
        self.start = SpinBox()
        self.start.setRange(-1, 10_000_000)
        self.start.setSpecialValueText("source numbers")
        self.start.setValue(-1)
        self.bits = ComboBox()
        self.bits.addItems(["16", "8"])
        self.name = QLineEdit()
        self.name.setPlaceholderText("file name stem (default: the media's name)")
        self.version = QLabel()
        form.addRow("Start frame", self.start)
        form.addRow("PNG bits", self.bits)
        form.addRow("Name", self.name)
        form.addRow("Next version", self.version)
        layout.addLayout(form)
        # The combined matte (png-combined, Postshot alpha, mask ZIP, point cloud cut): which
        # objects, in which order (drag to reorder), merged how.
        layout.addWidget(QLabel("Combined matte: the checked objects, in this order (none: the rendered ones)"))
        self.combine_list = QListWidget()
        self.combine_list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.combine_list.setMaximumHeight(110)
        layout.addWidget(self.combine_list)
        self.combine_op = ComboBox()
        self.combine_op.addItems(list(COMBINE_OPS))
        self.combine_op.setToolTip("difference: the first checked object minus the others")
        ops = QFormLayout()
        ops.addRow("Combine by", self.combine_op)
        layout.addLayout(ops)
        go = QPushButton("Render")
        go.clicked.connect(self.requested.emit)
        layout.addWidget(go)
        layout.addStretch(1)
        doc.projectChanged.connect(self.sync_objects)
        self._loading = True
        try:
            self.load_saved()
        finally:
            self._loading = False
        for box in self.checks.values():
            box.toggled.connect(self._changed)
        self.start.valueChanged.connect(self._changed)
        self.bits.currentIndexChanged.connect(self._changed)
        self.name.editingFinished.connect(self._changed)
        self.combine_op.currentIndexChanged.connect(self._changed)
        self.combine_list.itemChanged.connect(self._changed)
        self.combine_list.model().rowsMoved.connect(self._changed)
        self.refresh()

    def _changed(self, *args: object) -> None:
        if not self._loading:
            self.doc.remember_render(self.choices())

    def load_saved(self) -> None:
        """Set the controls from the project's ``render`` settings; values that do not
        fit a control are left at its default (the render itself reports bad settings)."""
        saved = self.doc.project.settings.get("render")
        saved = saved if isinstance(saved, dict) else {}
        outputs = saved.get("outputs")
        if isinstance(outputs, str):
            outputs = [o.strip() for o in outputs.split(",")]
        if isinstance(outputs, list) and any(o in self.checks for o in outputs):
            for exporter_id, box in self.checks.items():
                box.setChecked(exporter_id in outputs)
        if saved.get("bit_depth") in (8, 16):
            self.bits.setCurrentText(str(saved["bit_depth"]))
        if isinstance(saved.get("start_frame"), int):
            self.start.setValue(saved["start_frame"])
        if isinstance(saved.get("name"), str):
            self.name.setText(saved["name"])
        if saved.get("combine_op") in COMBINE_OPS:
            self.combine_op.setCurrentText(saved["combine_op"])
        combine = saved.get("combine")
        chosen = [i for i in combine if isinstance(i, int)] if isinstance(combine, list) else []
        self.sync_objects(chosen)

    def choices(self) -> dict[str, Any]:
        """The controls as ``RenderOptions`` fields (what a render from the window uses and
        keeps in the project)."""
        start = self.start.value()
        combine = self.combine()
        return {"outputs": list(self.outputs()), "bit_depth": int(self.bits.currentText()),
                "start_frame": None if start < 0 else start, "name": self.name.text().strip() or None,
                "combine": None if combine is None else list(combine), "combine_op": self.combine_op.currentText()}

    def outputs(self) -> tuple[str, ...]:
        return tuple(k for k, box in self.checks.items() if box.isChecked())

    def sync_objects(self, checked: list[int] | None = None) -> None:
        """The combine list follows the project's objects (names, additions, removals),
        keeping the artist's order and check marks; ``checked``: ids to check, first and
        in that order (the saved settings)."""
        objects = {o.id: o.name for o in self.doc.project.objects}
        items = [self.combine_list.item(i) for i in range(self.combine_list.count())]
        listed = {item.data(Qt.ItemDataRole.UserRole): item.text() for item in items}
        if not checked and listed == {i: f"{i}: {name}" for i, name in objects.items()}:
            return  # a settings change (a slider drag): the list stands as it is
        kept = {item.data(Qt.ItemDataRole.UserRole): item.checkState() for item in items}
        for obj_id in checked or []:
            kept.pop(obj_id, None)
        kept = {**{i: Qt.CheckState.Checked for i in checked or [] if i in objects}, **kept}
        order = [obj_id for obj_id in kept if obj_id in objects] + [i for i in objects if i not in kept]
        self.combine_list.blockSignals(True)  # rebuilding the list is not an edit of the choices
        self.combine_list.clear()
        for obj_id in order:
            item = QListWidgetItem(f"{obj_id}: {objects[obj_id]}")
            item.setData(Qt.ItemDataRole.UserRole, obj_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsDragEnabled)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsDropEnabled)
            item.setCheckState(kept.get(obj_id, Qt.CheckState.Unchecked))
            self.combine_list.addItem(item)
        self.combine_list.blockSignals(False)

    def combine(self) -> tuple[int, ...] | None:
        """The checked objects' ids in list order, or None when none is checked."""
        items = [self.combine_list.item(i) for i in range(self.combine_list.count())]
        ids = tuple(int(i.data(Qt.ItemDataRole.UserRole)) for i in items if i.checkState() == Qt.CheckState.Checked)
        return ids or None

    def root(self) -> Any:
        return renders_dir(self.doc.path) if self.doc.path is not None else None

    def refresh(self) -> None:
        from sam3roto.export.naming import existing_versions, version_name

        root = self.root()
        nxt = max(existing_versions(root), default=0) + 1 if root is not None else 1
        self.version.setText(f"{version_name(nxt)} in {root}" if root is not None else "save the project first")


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

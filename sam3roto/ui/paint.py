"""The brush and shape tools on the viewer, and the paint bar that sets them up.

:class:`PaintTool` turns mouse and tablet input on the viewer into
:class:`~sam3roto.core.strokes.Stroke` s in source pixels and hands each finished one to
``Document.paint`` (one undo step). While a stroke is being drawn it is drawn by QPainter
over the composed frame (a path, no recompose), so it appears on the next paint even on a
4K frame; the mask is updated once, when the stroke ends.

* **brush**: press, drag, release. Left paints with the bar's mode (add or subtract),
  the right button with the other one. A tablet's pressure scales the radius per point.
* **shape**: drag a lasso (closed on release), or click polygon corners and close with a
  double-click, Return, or a click on the first corner; Escape drops an open polygon.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QToolButton, QWidget

from sam3roto.core.strokes import MAX_RADIUS_PX, MIN_RADIUS_PX, Stroke
from sam3roto.ui.controls import DoubleSpinBox

PAINT_TOOLS = ("brush", "shape")
#: Polygon corners closer than this (display px) to the first one close the shape.
CLOSE_PX = 10.0
#: Brush size keys step the radius by this factor.
SIZE_STEP = 1.25
#: Points of a drag closer than this (display px) to the previous one are dropped.
MIN_STEP_PX = 1.5


def _other(mode: str) -> str:
    return "subtract" if mode == "add" else "add"


class PaintTool:
    """The stroke being drawn on a viewer (see the module docstring)."""

    def __init__(self, viewer: Any) -> None:
        self.viewer = viewer
        self.points: list[tuple[float, float]] = []  # source pixels
        self.pressure: list[float] = []
        self.mode = "add"
        self.dragging = False
        self.polygon = False  # clicking corners of a shape
        self.hover: QPointF | None = None  # widget position of the cursor (brush outline)
        self.tablet = False  # the stroke comes from a tablet (pressure is real)

    @property
    def doc(self) -> Any:
        return self.viewer.doc

    @property
    def active(self) -> bool:
        return self.doc is not None and self.doc.tool in PAINT_TOOLS

    @property
    def busy(self) -> bool:
        return bool(self.points)

    # -- input ----------------------------------------------------------------------------
    def press(self, pos: QPointF, button: Qt.MouseButton, pressure: float = 1.0, double: bool = False) -> bool:
        """A press on the viewer at widget position ``pos``; True when the tool took it."""
        if not self.active or button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        doc = self.doc
        src = self.viewer.to_source(pos)
        if doc.tool == "shape" and self.polygon:
            if double or self._near_first(pos):
                self.finish()
            else:
                self._add(src, pressure)
            return True
        self.mode = doc.paint_mode if button == Qt.MouseButton.LeftButton else _other(doc.paint_mode)
        self.points, self.pressure = [], []
        self._add(src, pressure)
        self.dragging = True
        self.viewer.update()
        return True

    def move(self, pos: QPointF, pressure: float = 1.0) -> bool:
        """The cursor moved; True when the tool used it (a stroke is being drawn)."""
        if not self.active:
            self.hover = None
            return False
        self.hover = pos
        if self.dragging:
            last = self.viewer.to_widget(*self.points[-1])
            if math.hypot(pos.x() - last.x(), pos.y() - last.y()) >= MIN_STEP_PX:
                self._add(self.viewer.to_source(pos), pressure)
        self.viewer.update()
        return self.dragging or self.polygon

    def release(self, pos: QPointF) -> bool:
        """The button went up: a brush stroke or a lasso ends; a click starts or extends a
        polygon."""
        if not self.active or not self.dragging:
            return False
        self.dragging = False
        if self.doc.tool == "brush":
            self.finish()
            return True
        start = self.viewer.to_widget(*self.points[0])
        reach = max(math.hypot(p.x() - start.x(), p.y() - start.y())
                    for p in (self.viewer.to_widget(x, y) for x, y in self.points))
        if len(self.points) >= 3 and reach > CLOSE_PX:
            self.finish()  # a lasso: the drag went round somewhere (closed on release)
        else:
            self.points = self.points[:1]  # a click: the first corner of a polygon
            self.pressure = self.pressure[:1]
            self.polygon = True
        self.viewer.update()
        return True

    def key(self, key: int) -> bool:
        """Return/Enter closes an open polygon, Escape drops it."""
        if not self.polygon:
            return False
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish()
            return True
        if key == Qt.Key.Key_Escape:
            self.cancel()
            return True
        return False

    def cancel(self) -> None:
        self.points, self.pressure = [], []
        self.dragging = self.polygon = False
        self.viewer.update()

    def _add(self, src: QPointF, pressure: float) -> None:
        self.points.append((src.x(), src.y()))
        self.pressure.append(min(1.0, max(0.05, pressure)))

    def _near_first(self, pos: QPointF) -> bool:
        if len(self.points) < 3:
            return False
        first = self.viewer.to_widget(*self.points[0])
        return math.hypot(pos.x() - first.x(), pos.y() - first.y()) <= CLOSE_PX

    def finish(self) -> None:
        """The stroke or shape is done: paint it (one undo step)."""
        points, pressure = self.points, self.pressure
        doc = self.doc
        self.points, self.pressure = [], []
        self.dragging = self.polygon = False
        if doc is None or not points:
            return
        if doc.paint_layer == "touch-up" and self.viewer.mode in ("image", "overlay"):
            self.viewer.set_mode("matte")  # touch-ups paint the final matte: show it
        if doc.tool == "shape":
            if len(points) >= 3:
                doc.paint(Stroke("shape", self.mode, tuple(points), radius=doc.brush_radius,
                                 softness=doc.brush_softness))
        else:
            varied = self.tablet and any(p < 0.999 for p in pressure)
            doc.paint(Stroke("brush", self.mode, tuple(points), radius=doc.brush_radius,
                             softness=doc.brush_softness, pressure=tuple(pressure) if varied else ()))
        self.tablet = False
        self.viewer.update()

    # -- drawing --------------------------------------------------------------------------
    def draw(self, painter: QPainter) -> None:
        """The stroke being drawn and the brush outline, over the composed frame."""
        if not self.active:
            return
        doc = self.doc
        scale = self.viewer.scale
        add = (self.mode if self.points else doc.paint_mode) == "add"
        colour = QColor(80, 230, 120) if add else QColor(240, 80, 80)
        if doc.paint_layer == "touch-up":
            colour = QColor(255, 200, 60) if add else QColor(200, 120, 255)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.points:
            path = QPainterPath(self.viewer.to_widget(*self.points[0]))
            for x, y in self.points[1:]:
                path.lineTo(self.viewer.to_widget(x, y))
            if doc.tool == "brush":
                width = 2 * doc.brush_radius * scale * (max(self.pressure) if self.tablet else 1.0)
                fill = QColor(colour)
                fill.setAlpha(110)
                pen = QPen(fill, max(1.0, width), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                           Qt.PenJoinStyle.RoundJoin)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawPath(path)
            else:
                if self.hover is not None and self.polygon:
                    path.lineTo(self.hover)
                fill = QColor(colour)
                fill.setAlpha(70)
                painter.setPen(QPen(colour, 1.5))
                painter.setBrush(fill)
                painter.drawPath(path)
                painter.setBrush(colour)
                for x, y in self.points:
                    painter.drawEllipse(self.viewer.to_widget(x, y), 3, 3)
        if self.hover is not None and doc.tool == "brush":
            painter.setBrush(Qt.BrushStyle.NoBrush)
            radius = doc.brush_radius * scale
            painter.setPen(QPen(QColor(0, 0, 0), 3))
            painter.drawEllipse(self.hover, radius, radius)
            painter.setPen(QPen(colour, 1.5))
            painter.drawEllipse(self.hover, radius, radius)
            if doc.brush_softness > 0:
                painter.setPen(QPen(colour, 1, Qt.PenStyle.DotLine))
                inner = radius * (1 - doc.brush_softness / 2)
                painter.drawEllipse(self.hover, inner, inner)


class PaintBar(QWidget):
    """The brush and shape tools' settings: add or subtract, the layer painted (correction
    or touch-up), the touch-up range, brush size (source px) and softness."""

    changed = Signal()

    def __init__(self, doc: Any = None) -> None:
        super().__init__()
        self.doc = doc
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.buttons: dict[str, QToolButton] = {}
        self._groups: list[QButtonGroup] = []
        for group in (("add", "Add", "subtract", "Subtract"), ("correction", "Correct", "touch-up", "Touch-up"),
                      ("frame", "This frame", "in-out", "In-out")):
            buttons = QButtonGroup(self)
            buttons.setExclusive(True)
            for value, text in ((group[0], group[1]), (group[2], group[3])):
                button = QToolButton()
                button.setText(text)
                button.setCheckable(True)
                button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
                button.clicked.connect(lambda _checked=False, v=value: self._pick(v))
                buttons.addButton(button)
                layout.addWidget(button)
                self.buttons[value] = button
            self._groups.append(buttons)
        self.buttons["add"].setToolTip("brush and shape add to the mask (X swaps; the right button does the other)")
        self.buttons["touch-up"].setToolTip("paint over the final matte after post, without re-tracking (T swaps)")
        self.buttons["in-out"].setToolTip("touch-ups apply to the in..out range instead of this frame only")
        layout.addWidget(QLabel("Size"))
        self.radius_box = DoubleSpinBox()
        self.radius_box.setRange(MIN_RADIUS_PX, MAX_RADIUS_PX)
        self.radius_box.setDecimals(1)
        self.radius_box.setSuffix(" px")
        self.radius_box.setToolTip("brush radius in source pixels (- and = change it)")
        self.radius_box.valueChanged.connect(lambda v: self._set("brush_radius", float(v)))
        layout.addWidget(self.radius_box)
        layout.addWidget(QLabel("Soft"))
        self.softness_box = DoubleSpinBox()
        self.softness_box.setRange(0.0, 1.0)
        self.softness_box.setSingleStep(0.1)
        self.softness_box.setToolTip("touch-ups: share of the radius that fades out (9 and 0 change it); "
                                     "corrections edit the mask, which is hard")
        self.softness_box.valueChanged.connect(lambda v: self._set("brush_softness", float(v)))
        layout.addWidget(self.softness_box)
        for box in (self.radius_box, self.softness_box):
            box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # Tab and a new window start in the viewer
        self.sync()

    def set_document(self, doc: Any) -> None:
        self.doc = doc
        self.sync()

    def sync(self) -> None:
        """Show the document's paint settings."""
        doc = self.doc
        self.setEnabled(doc is not None)
        if doc is None:
            return
        for value in (doc.paint_mode, doc.paint_layer, doc.touch_range):
            self.buttons[value].setChecked(True)
        touch = doc.paint_layer == "touch-up"
        for name in ("frame", "in-out"):
            self.buttons[name].setEnabled(touch)
        self.softness_box.setEnabled(touch)  # corrections edit masks, which are hard
        for spin, value in ((self.radius_box, doc.brush_radius), (self.softness_box, doc.brush_softness)):
            if abs(spin.value() - value) > 1e-9:
                spin.blockSignals(True)
                spin.setValue(value)
                spin.blockSignals(False)

    def _pick(self, value: str) -> None:
        if self.doc is None:
            return
        name = "paint_mode" if value in ("add", "subtract") else \
            "paint_layer" if value in ("correction", "touch-up") else "touch_range"
        self._set(name, value)

    def _set(self, name: str, value: Any) -> None:
        if self.doc is None:
            return
        setattr(self.doc, name, value)
        self.sync()
        self.changed.emit()

    # -- keys (the window's shortcuts call these) -------------------------------------------
    def swap_mode(self) -> None:
        if self.doc is not None:
            self._set("paint_mode", _other(self.doc.paint_mode))

    def swap_layer(self) -> None:
        if self.doc is not None:
            self._set("paint_layer", "touch-up" if self.doc.paint_layer == "correction" else "correction")

    def grow(self, steps: int) -> None:
        """Brush radius up (``steps`` > 0) or down by :data:`SIZE_STEP` per step."""
        if self.doc is not None:
            radius = self.doc.brush_radius * SIZE_STEP ** steps
            self._set("brush_radius", float(min(MAX_RADIUS_PX, max(MIN_RADIUS_PX, radius))))

    def soften(self, delta: float) -> None:
        if self.doc is not None:
            self._set("brush_softness", float(min(1.0, max(0.0, round(self.doc.brush_softness + delta, 2)))))

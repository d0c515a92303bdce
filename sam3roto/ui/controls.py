"""Panel controls that behave as a compositor expects: every slider has a number field,
and a control only reacts to the keyboard and the mouse wheel when it has focus.

Focus rules (the same for every control in the side panels):

- A control takes focus by a click or by Tab (``Qt.StrongFocus``), never by the wheel.
- While it has focus, the keys it uses are its own: the window's frame keys (Left/Right
  step, Home/End first/last, ...) do not fire. Each control claims them by accepting
  ``QEvent.ShortcutOverride``; Escape is never claimed, so the window's Escape (which
  gives focus back to the viewer) always works. Escape in a number field also abandons
  a half-typed number.
- The wheel changes a control only while it has focus, by exactly one step a notch
  (Ctrl: ten); over a control without focus the wheel goes on to what holds it (a panel
  or table scrolls), so scrolling never changes a value by accident. Click, then wheel,
  as in Nuke's and Blender's panels.
- A number field commits what is typed on Enter (or when it loses focus), not on every
  keystroke: typing "12" is one edit, not "1" then "12".
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QStyle,
    QStyleOptionSlider,
    QWidget,
)

_K = Qt.Key
#: Keys a focused slider or number field uses (arrows, PageUp/PageDown, Home/End).
NAVIGATION_KEYS = frozenset({_K.Key_Left, _K.Key_Right, _K.Key_Up, _K.Key_Down, _K.Key_PageUp, _K.Key_PageDown,
                             _K.Key_Home, _K.Key_End})
#: Keys a focused choice uses (Left/Right do nothing in a closed combo box: not claimed).
CHOICE_KEYS = frozenset({_K.Key_Up, _K.Key_Down, _K.Key_PageUp, _K.Key_PageDown, _K.Key_Home, _K.Key_End})
_PLAIN = (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier)
_NOTCH = 120  # angleDelta of one wheel notch (eighths of a degree)


def claims(widget: QWidget, event: QEvent, keys: frozenset[Qt.Key]) -> bool:
    """Accept a ``ShortcutOverride`` for one of ``keys`` (plain or with Shift) sent to
    ``widget``, so that the key goes to the control instead of a window shortcut. True
    when claimed; a disabled control claims nothing."""
    if (event.type() != QEvent.Type.ShortcutOverride or not isinstance(event, QKeyEvent)
            or not widget.isEnabled()):
        return False
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    if event.key() in keys and modifiers in _PLAIN:
        event.accept()
        return True
    return False


def owns_focus(widget: QWidget) -> bool:
    """Whether ``widget`` or a widget inside it has keyboard focus."""
    focused = QApplication.focusWidget()
    return focused is not None and (focused is widget or widget.isAncestorOf(focused))


class _Notches:
    """Whole wheel notches from angle deltas (high-resolution wheels and trackpads send
    fractions of a notch; they add up)."""

    def __init__(self) -> None:
        self.remainder = 0

    def take(self, event: QWheelEvent) -> int:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if event.inverted():
            delta = -delta
        self.remainder += delta
        notches = int(self.remainder / _NOTCH)  # towards zero, the rest waits
        self.remainder -= notches * _NOTCH
        return notches


def _tens(event: QWheelEvent) -> int:
    """Ten steps a notch with Ctrl, else one."""
    return 10 if event.modifiers() & Qt.KeyboardModifier.ControlModifier else 1


def _revert_text(spin: Any) -> None:
    """Show the field's value again, dropping a half-typed number (Escape); ``spin``: a
    ``QSpinBox`` or ``QDoubleSpinBox``."""
    if spin.specialValueText() and spin.value() == spin.minimum():
        text = spin.specialValueText()
    else:
        text = spin.prefix() + spin.textFromValue(spin.value()) + spin.suffix()
    if spin.lineEdit().text() != text:
        spin.lineEdit().setText(text)


class _NumberBehaviour:
    """What :class:`SpinBox` and :class:`DoubleSpinBox` share (a plain mixin: the Qt class
    comes after it). ``focus_owner``: the widget whose focus lets the wheel in (the field
    itself, or the :class:`SliderField` that holds it)."""

    focus_owner: QWidget | None = None

    def _setup(self) -> None:
        spin: Any = self
        spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        spin.setKeyboardTracking(False)  # Enter (or leaving the field) commits what is typed
        self._notches = _Notches()

    def event(self, event: QEvent) -> bool:
        if claims(self, event, NAVIGATION_KEYS):  # type: ignore[arg-type]
            return True
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent)
                and event.key() == Qt.Key.Key_Escape):
            _revert_text(self)
            # not accepted: the window's Escape still gives focus back to the viewer
        return super().event(event)  # type: ignore[misc]

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)  # type: ignore[misc]
        # the whole number is selected however the field got focus (a click too, once the
        # click has placed the cursor): typing replaces it
        if event.reason() != Qt.FocusReason.PopupFocusReason:
            QTimer.singleShot(0, self, self.selectAll)  # type: ignore[call-overload,attr-defined]

    def wheelEvent(self, event: QWheelEvent) -> None:
        owner = self.focus_owner if self.focus_owner is not None else self
        if not owns_focus(owner):  # type: ignore[arg-type]
            event.ignore()  # the panel scrolls; the value stays
            return
        notches = self._notches.take(event)
        if notches:
            self.stepBy(notches * _tens(event))  # type: ignore[attr-defined]
        event.accept()


class SpinBox(_NumberBehaviour, QSpinBox):
    """A whole-number field that honours focus (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._setup()


class DoubleSpinBox(_NumberBehaviour, QDoubleSpinBox):
    """A decimal number field that honours focus (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._setup()


class ComboBox(QComboBox):
    """A choice that honours focus: Up/Down/PageUp/PageDown/Home/End change it while it has
    focus; the wheel changes it only while it has focus."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def event(self, event: QEvent) -> bool:
        if claims(self, event, CHOICE_KEYS):
            return True
        return super().event(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if not self.hasFocus():
            event.ignore()
            return
        super().wheelEvent(event)


class CheckBox(QCheckBox):
    """A switch that takes focus by click or Tab. It claims no keys: Space stays the
    window's play/stop and the arrows its frame steps (a click toggles it)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


class _Slider(QSlider):
    """The slider half of a :class:`SliderField`: its keys and wheel step the field."""

    def __init__(self, field: SliderField) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.field = field
        # a click focuses the slider (its keys then move it); Tab stops at the number field only
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    def event(self, event: QEvent) -> bool:
        if claims(self, event, NAVIGATION_KEYS):
            return True
        return super().event(event)

    _STEPS: ClassVar[dict[int, int]] = {_K.Key_Left: -1, _K.Key_Down: -1, _K.Key_Right: 1, _K.Key_Up: 1,
                                        _K.Key_PageDown: -10, _K.Key_PageUp: 10}

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # one step an arrow (ten with Shift), ten PageUp/PageDown, Home/End the ends: in the
        # field's steps, so the slider and the field always agree
        key = event.key()
        if key in self._STEPS:
            steps = self._STEPS[key]
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.field.step(steps * 10 if shift and abs(steps) == 1 else steps)
        elif key == _K.Key_Home:
            self.field.setValue(self.field.minimum())
        elif key == _K.Key_End:
            self.field.setValue(self.field.maximum())
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        # a click on the groove puts the handle there (and drags on), as a compositor's
        # sliders do, rather than paging towards the click
        if event.button() == Qt.MouseButton.LeftButton:
            option = QStyleOptionSlider()
            self.initStyleOption(option)
            style = self.style()
            handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                          QStyle.SubControl.SC_SliderHandle, self)
            where = event.position().toPoint()
            if not handle.contains(where):
                groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                              QStyle.SubControl.SC_SliderGroove, self)
                span = max(1, groove.width() - handle.width())
                x = where.x() - groove.x() - handle.width() // 2
                self.setValue(QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), x, span,
                                                             option.upsideDown))
        super().mousePressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.field.wheel(event)


class SliderField(QWidget):
    """A slider with an editable number field beside it, always in agreement.

    ``integer``: whole numbers, one a step; otherwise decimals with ``step`` (default: a
    round hundredth of the range, e.g. 0.01 for 0-1, 0.1 for 0-30) shown to ``decimals``
    places (default: as many as the step has). Type a value and press Enter, drag the
    slider, or, with focus, use the arrows (Shift: ten steps), PageUp/PageDown (ten
    steps), Home/End (the ends) or the wheel (one step a notch).

    ``valueChanged`` carries the new value (``int`` when ``integer``, else ``float``).
    """

    valueChanged = Signal(object)

    def __init__(self, minimum: float = 0, maximum: float = 100, *, integer: bool = True,
                 step: float | None = None, decimals: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.integer = integer
        if integer:
            step = 1 if step is None else max(1, round(step))
            decimals = 0
        else:
            if step is None:
                span = abs(maximum - minimum) or 1.0
                step = 10.0 ** math.floor(math.log10(span / 100))
            if decimals is None:
                decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        self._scale = 10 ** decimals  # slider units per value unit
        self.spin: SpinBox | DoubleSpinBox = SpinBox() if integer else DoubleSpinBox()
        if isinstance(self.spin, DoubleSpinBox):
            self.spin.setDecimals(decimals)
        self.spin.focus_owner = self
        self.spin.setSingleStep(step)  # type: ignore[arg-type]
        self.spin.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)  # the slider is beside it
        self.spin.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.spin.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.slider = _Slider(self)
        self._notches = _Notches()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        # focus (Tab, setFocus) lands on the number field
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFocusProxy(self.spin)
        self.setRange(minimum, maximum)
        # one width for every field (the sliders line up), wide enough for its numbers
        digits = self.spin.fontMetrics().horizontalAdvance("-00000.00")
        self.spin.setFixedWidth(max(self.spin.sizeHint().width(), digits + 10))
        self.spin.valueChanged.connect(self._field_changed)
        self.slider.valueChanged.connect(self._slider_moved)

    # -- the API the panels use ---------------------------------------------------------------
    def value(self) -> Any:
        value = self.spin.value()
        return int(value) if self.integer else float(value)

    def setValue(self, value: float) -> None:
        self.spin.setValue(round(value) if self.integer else float(value))  # type: ignore[arg-type]

    def setRange(self, minimum: float, maximum: float) -> None:
        if self.integer:
            self.spin.setRange(round(minimum), round(maximum))
        else:
            self.spin.setRange(float(minimum), float(maximum))  # type: ignore[arg-type]
        self.slider.blockSignals(True)
        try:
            self.slider.setRange(self._units(self.spin.minimum()), self._units(self.spin.maximum()))
            self.slider.setSingleStep(max(1, self._units(self.spin.singleStep())))
            self.slider.setPageStep(10 * self.slider.singleStep())
            self.slider.setValue(self._units(self.spin.value()))
        finally:
            self.slider.blockSignals(False)

    def minimum(self) -> Any:
        return self.spin.minimum()

    def maximum(self) -> Any:
        return self.spin.maximum()

    def singleStep(self) -> Any:
        return self.spin.singleStep()

    def step(self, steps: int) -> None:
        """Move ``steps`` steps (negative: down), stopping at the ends."""
        self.spin.stepBy(steps)

    def wheel(self, event: QWheelEvent) -> None:
        """One step a notch while the control has focus; otherwise the event goes on to
        what holds the control (a panel scrolls)."""
        if not owns_focus(self):
            event.ignore()
            return
        notches = self._notches.take(event)
        if notches:
            self.step(notches * _tens(event))
        event.accept()

    # -- keeping the halves in agreement -------------------------------------------------------
    def _units(self, value: float) -> int:
        return round(value * self._scale)

    def _field_changed(self, value: float) -> None:
        self.slider.blockSignals(True)
        try:
            self.slider.setValue(self._units(value))
        finally:
            self.slider.blockSignals(False)
        self.valueChanged.emit(self.value())

    def _slider_moved(self, units: int) -> None:
        self.setValue(units / self._scale)  # the field emits valueChanged

    def event(self, event: QEvent) -> bool:
        # keys sent to the control itself (its focus is in the field) are claimed too
        if claims(self, event, NAVIGATION_KEYS):
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self.slider.keyPressEvent(event)  # the slider's steps; other keys go on to the parent

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.wheel(event)

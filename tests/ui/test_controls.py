"""Panel controls (ui/controls.py) and keyed matte settings in the Matte and RGB tabs,
driven by real key, mouse and wheel events: a number field beside every slider, one step
a wheel notch and only with focus, a focused control keeps its keys (the frame does not
move), Escape is always the window's; keys on two frames interpolate in between, undo
removes a key, and the tabs show what a render uses (``KeyedPost.at``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed (requirements-dev.txt)")

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QLineEdit,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from sam3roto.post.keyed import KeyedPost
from sam3roto.ui.controls import CheckBox, ComboBox, DoubleSpinBox, SliderField, SpinBox
from sam3roto.ui.panels import PostTab
from tests.ui.test_window import clip, window  # noqa: F401  (fixtures: a window on a 12-frame clip)

pytestmark = pytest.mark.gui
K, M = Qt.Key, Qt.KeyboardModifier


def wheel(widget: QWidget, notches: float = 1.0, modifiers: Qt.KeyboardModifier = M.NoModifier) -> bool:
    """One wheel event of ``notches`` (120 = one notch) over ``widget``; whether accepted."""
    event = QWheelEvent(QPointF(4, 4), QPointF(widget.mapToGlobal(QPoint(4, 4))), QPoint(0, 0),
                        QPoint(0, round(120 * notches)), Qt.MouseButton.NoButton, modifiers,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def overridden(widget: QWidget | None, key: Qt.Key, modifiers: Qt.KeyboardModifier = M.NoModifier) -> bool:
    """Whether ``widget`` claims ``key`` over the window's shortcuts."""
    assert widget is not None
    event = QKeyEvent(QEvent.Type.ShortcutOverride, key, modifiers)
    event.ignore()
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def press(qtbot, key: Qt.Key, modifiers: Qt.KeyboardModifier = M.NoModifier) -> None:
    """A key press where a real one goes: to the widget with focus."""
    focused = QApplication.focusWidget()
    assert focused is not None
    qtbot.keyClick(focused, key, modifiers)


def focus(qtbot, widget: QWidget) -> None:
    widget.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: widget.hasFocus())
    qtbot.wait(10)  # the field selects its text once focus has settled


@pytest.fixture
def panel(qtbot):
    host = QWidget()
    layout = QVBoxLayout(host)
    widgets: dict[str, Any] = {
        "line": QLineEdit(), "whole": SliderField(-50, 50), "soft": SliderField(0, 1, integer=False),
        "pct": SliderField(0, 100, integer=False), "spin": SpinBox(), "combo": ComboBox(), "check": CheckBox("x")}
    widgets["combo"].addItems(["a", "b", "c"])
    for w in widgets.values():
        layout.addWidget(w)
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    host.activateWindow()
    qtbot.waitUntil(host.isActiveWindow)
    return {**widgets, "host": host}  # the host stays alive as long as the test


# -- the controls on their own -------------------------------------------------------------------
def test_a_slider_field_has_a_number_field_in_step(qtbot, panel) -> None:
    soft = panel["soft"]
    assert isinstance(soft.spin, DoubleSpinBox) and isinstance(soft.slider, QSlider)
    assert (soft.minimum(), soft.maximum(), soft.singleStep(), soft.spin.decimals()) == (0.0, 1.0, 0.01, 2)
    assert panel["pct"].singleStep() == 1.0 and panel["whole"].singleStep() == 1
    assert panel["soft"].spin.width() >= soft.spin.fontMetrics().horizontalAdvance("-0000.00")  # not squeezed
    soft.setValue(0.25)
    assert soft.value() == 0.25 and soft.slider.value() == 25 and soft.spin.text() == "0.25"
    seen: list[object] = []
    soft.valueChanged.connect(seen.append)
    soft.slider.setValue(60)  # a drag: the field follows
    assert soft.value() == pytest.approx(0.6) and soft.spin.text() == "0.60" and seen == [pytest.approx(0.6)]
    assert isinstance(panel["whole"].value(), int) and isinstance(soft.value(), float)


def test_typing_a_number_and_enter_sets_it_once(qtbot, panel) -> None:
    whole = panel["whole"]
    seen: list[object] = []
    whole.valueChanged.connect(seen.append)
    focus(qtbot, whole)
    assert whole.spin.hasFocus()
    QTest.keyClicks(whole.spin, "-12")
    assert seen == []  # typing is not yet an edit
    press(qtbot, K.Key_Return)
    assert whole.value() == -12 and whole.slider.value() == -12 and seen == [-12]
    focus(qtbot, panel["soft"])
    QTest.keyClicks(panel["soft"].spin, "0.37")
    press(qtbot, K.Key_Enter)
    assert panel["soft"].value() == pytest.approx(0.37) and panel["soft"].slider.value() == 37


def test_escape_abandons_a_half_typed_number_and_is_left_to_the_window(qtbot, panel) -> None:
    whole = panel["whole"]
    whole.setValue(5)
    focus(qtbot, whole)
    QTest.keyClicks(whole.spin, "42")
    assert whole.spin.text() == "42"
    assert not overridden(whole.spin, K.Key_Escape)  # the window's Escape still runs
    assert whole.spin.text() == "5" and whole.value() == 5
    panel["line"].setFocus()  # leaving the field does not commit the abandoned text
    qtbot.waitUntil(lambda: panel["line"].hasFocus())
    assert whole.value() == 5


def test_one_wheel_notch_is_one_step_and_only_with_focus(qtbot, panel) -> None:
    whole, soft, spin = panel["whole"], panel["soft"], panel["spin"]
    focus(qtbot, panel["line"])
    for widget in (whole.slider, whole.spin, whole, soft.slider, spin, panel["combo"]):
        assert not wheel(widget)  # not focused: left to what holds it (a panel scrolls)
    assert (whole.value(), soft.value(), spin.value(), panel["combo"].currentIndex()) == (0, 0.0, 0, 0)
    focus(qtbot, whole)
    assert wheel(whole.slider) and whole.value() == 1  # over the slider
    assert wheel(whole.spin) and whole.value() == 2  # over the field
    assert wheel(whole.slider, -1) and whole.value() == 1
    assert wheel(whole.slider, 0.5) and whole.value() == 1  # half a notch (a fine wheel) ...
    assert wheel(whole.slider, 0.5) and whole.value() == 2  # ... and the other half
    assert wheel(whole.slider, 1, M.ControlModifier) and whole.value() == 12
    focus(qtbot, soft)
    assert wheel(soft.spin, 3) and soft.value() == pytest.approx(0.03)
    whole.slider.setFocus(Qt.FocusReason.MouseFocusReason)  # focus in the slider half: the same
    qtbot.waitUntil(whole.slider.hasFocus)
    assert wheel(whole.spin) and whole.value() == 13
    focus(qtbot, spin)
    assert wheel(spin) and spin.value() == 1
    focus(qtbot, panel["combo"])
    assert wheel(panel["combo"], -1) and panel["combo"].currentIndex() == 1


def test_focused_controls_claim_their_keys_but_never_escape(qtbot, panel) -> None:
    whole, combo, check = panel["whole"], panel["combo"], panel["check"]
    nav = (K.Key_Left, K.Key_Right, K.Key_Up, K.Key_Down, K.Key_PageUp, K.Key_PageDown, K.Key_Home, K.Key_End)
    for widget in (whole, whole.slider, whole.spin, panel["spin"]):
        assert all(overridden(widget, key) for key in nav)
        assert overridden(widget, K.Key_Left, M.ShiftModifier)
        assert not overridden(widget, K.Key_Escape)
    assert all(overridden(combo, key) for key in (K.Key_Up, K.Key_Down, K.Key_PageUp, K.Key_PageDown))
    assert not overridden(combo, K.Key_Left) and not overridden(combo, K.Key_Right)  # unused: frame steps
    assert not overridden(combo, K.Key_Escape)
    assert not any(overridden(check, key) for key in (*nav, K.Key_Space, K.Key_Escape))
    whole.setEnabled(False)
    assert not overridden(whole.slider, K.Key_Left)  # a disabled control claims nothing
    for widget in (whole, combo, check, panel["spin"]):
        assert widget.focusPolicy() == Qt.FocusPolicy.StrongFocus


def test_slider_keys_step_in_the_fields_steps(qtbot, panel) -> None:
    whole, soft = panel["whole"], panel["soft"]
    whole.slider.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(whole.slider.hasFocus)
    press(qtbot, K.Key_Right)
    press(qtbot, K.Key_Up)
    assert whole.value() == 2
    press(qtbot, K.Key_Left, M.ShiftModifier)
    assert whole.value() == -8
    press(qtbot, K.Key_PageUp)
    assert whole.value() == 2
    press(qtbot, K.Key_End)
    assert whole.value() == 50 and whole.spin.text() == "50"
    press(qtbot, K.Key_Home)
    assert whole.value() == -50
    soft.slider.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(soft.slider.hasFocus)
    press(qtbot, K.Key_Right)
    assert soft.value() == pytest.approx(0.01)
    focus(qtbot, whole)  # in the number field: Up/Down step, PageUp/PageDown ten
    press(qtbot, K.Key_Up)
    assert whole.value() == -49
    press(qtbot, K.Key_PageUp)
    assert whole.value() == -39


def test_a_click_takes_focus_and_puts_the_handle_there(qtbot, panel) -> None:
    whole = panel["whole"]
    focus(qtbot, panel["line"])
    slider = whole.slider
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() - 2, slider.height() // 2))
    assert slider.hasFocus() and whole.value() > 40  # near the right end, not one page step
    qtbot.mouseClick(whole.spin, Qt.MouseButton.LeftButton)
    assert whole.spin.hasFocus()


def test_tab_stops_once_per_control(qtbot, panel) -> None:
    focus(qtbot, panel["line"])
    order = []
    for _ in range(5):
        press(qtbot, K.Key_Tab)
        order.append(QApplication.focusWidget())
    assert order == [panel["whole"].spin, panel["soft"].spin, panel["pct"].spin, panel["spin"], panel["combo"]]


# -- in the window --------------------------------------------------------------------------------
@pytest.fixture
def matte(qtbot, window):  # noqa: F811 - the window fixture
    window.doc.add_object("disc")
    window.tabs.setCurrentWidget(window.matte_tab)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    return window.matte_tab


def test_every_panel_control_honours_focus(qtbot, window, matte) -> None:  # noqa: F811
    """Each slider of the side panels has a number field; each number field, choice and
    switch there is one of the focus-honouring controls (the stage rows included)."""
    qtbot.mouseClick(matte.widgets["thresholds"].findChildren(QPushButton)[0], Qt.MouseButton.LeftButton)
    tabs = window.tabs
    sliders = tabs.findChildren(QSlider)
    assert len(sliders) == 9 + 2 and all(isinstance(s.parent(), SliderField) for s in sliders)
    assert all(f.spin.isVisibleTo(f) for f in tabs.findChildren(SliderField))
    spins = tabs.findChildren(QAbstractSpinBox)
    assert len(spins) >= 18 and all(isinstance(s, SpinBox | DoubleSpinBox) for s in spins)
    combos, checks = tabs.findChildren(QComboBox), tabs.findChildren(QCheckBox)
    assert all(isinstance(c, ComboBox) for c in combos) and all(isinstance(c, CheckBox) for c in checks)
    for widget in (*spins, *combos, *checks):
        assert widget.focusPolicy() == Qt.FocusPolicy.StrongFocus, widget


def test_arrows_on_a_focused_control_change_it_not_the_frame(qtbot, window, matte) -> None:  # noqa: F811
    doc = window.doc
    grow = matte.widgets["grow_px"]
    slider = grow.slider
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() // 2, slider.height() // 2))
    assert slider.hasFocus() and grow.value() == 0
    press(qtbot, K.Key_Right)
    press(qtbot, K.Key_Right)
    assert grow.value() == 2 and doc.frame == 0 and doc.active().post["grow_px"] == 2
    press(qtbot, K.Key_End)  # the slider's end, not the shot's
    assert grow.value() == 50 and doc.frame == 0
    press(qtbot, K.Key_Home)
    assert grow.value() == -50 and doc.frame == 0
    # typing in the number field, Up/Down there
    qtbot.mouseClick(grow.spin, Qt.MouseButton.LeftButton)
    qtbot.wait(20)
    QTest.keyClicks(grow.spin, "7")
    press(qtbot, K.Key_Return)
    assert grow.value() == 7 and doc.active().post["grow_px"] == 7
    press(qtbot, K.Key_Down)
    assert grow.value() == 6 and doc.frame == 0
    press(qtbot, K.Key_Right)  # the text cursor moves; the frame does not
    assert doc.frame == 0
    # a choice: Up/Down change it
    depth = matte.widgets["depth_mode"]
    focus(qtbot, depth)
    press(qtbot, K.Key_Down)
    assert depth.currentText() == "replace" and doc.active().post["depth_mode"] == "replace" and doc.frame == 0
    press(qtbot, K.Key_Up)
    assert depth.currentText() == "off" and doc.frame == 0
    # the window's frame keys work again once the viewer has focus (Escape's job)
    assert not overridden(QApplication.focusWidget(), K.Key_Escape)
    window.viewer.setFocus()
    qtbot.waitUntil(window.viewer.hasFocus)
    press(qtbot, K.Key_Right)
    assert doc.frame == 1 and grow.value() == 6
    press(qtbot, K.Key_End)
    assert doc.frame == 11


def test_keys_interpolate_undo_removes_them_and_the_tabs_show_what_renders_use(
        qtbot, window, matte, tmp_path: Path) -> None:  # noqa: F811
    doc = window.doc
    obj = doc.active()
    key, grow, soft = matte.key_button, matte.widgets["grow_px"], matte.widgets["refine_softness"]
    assert matte.keys_label.text() == "not keyed" and not key.isChecked()
    assert not matte.prev_key.isEnabled() and not matte.next_key.isEnabled()
    doc.set_frame(2)
    qtbot.mouseClick(key, Qt.MouseButton.LeftButton)  # key the values as they are on frame index 2
    assert sorted(obj.post_keys) == [2] and key.isChecked() and window.rgb_tab.key_button.isChecked()
    assert obj.post_keys[2] == KeyedPost.from_dicts({}).base.to_dict()
    assert "keys: 1003 (keyed here)" in matte.keys_label.text()
    doc.set_frame(10)
    assert not key.isChecked() and "held here" in matte.keys_label.text()
    # with keys, an edit keys the frame it is made on (auto-key)
    focus(qtbot, grow)
    QTest.keyClicks(grow.spin, "10")
    press(qtbot, K.Key_Return)
    soft.setValue(0.9)
    window.rgb_tab.widgets["despill_strength"].setValue(0.5)  # the other tab keys the same frame
    assert sorted(obj.post_keys) == [2, 10] and key.isChecked()
    assert "grow_px" not in obj.post  # the unkeyed settings are untouched
    ten = obj.post_keys[10]
    assert (ten["grow_px"], ten["refine_softness"], ten["despill_strength"]) == (10, pytest.approx(0.9), 0.5)
    # in between: interpolated, shown as a render computes it
    doc.set_frame(6)
    assert "keys: 1003, 1011 (interpolated here)" in matte.keys_label.text() and not key.isChecked()
    assert grow.value() == 5 and soft.value() == pytest.approx(0.7)
    assert window.rgb_tab.widgets["despill_strength"].value() == pytest.approx(0.75)
    here = KeyedPost.of(obj).at(doc.frame).to_dict()
    for tab in (matte, window.rgb_tab):
        for name, value in tab.values().items():
            assert value == (pytest.approx(here[name], abs=0.01) if isinstance(value, float) else here[name]), name
    # an edit between keys makes a key there, with every setting of that frame
    window.rgb_tab.widgets["premultiply"].setChecked(True)
    assert sorted(obj.post_keys) == [2, 6, 10]
    assert obj.post_keys[6]["grow_px"] == 5 and obj.post_keys[6]["refine_softness"] == pytest.approx(0.7)
    window.undo()  # (undo and redo replace the project's objects: ask the document again)
    assert sorted(doc.active().post_keys) == [2, 10] and window.rgb_tab.widgets["premultiply"].isChecked() is False
    # previous / next key
    qtbot.mouseClick(matte.next_key, Qt.MouseButton.LeftButton)
    assert doc.frame == 10 and not matte.next_key.isEnabled() and grow.value() == 10
    qtbot.mouseClick(matte.prev_key, Qt.MouseButton.LeftButton)
    assert doc.frame == 2 and not matte.prev_key.isEnabled() and grow.value() == 0
    # saved with the project
    window.save()
    from sam3roto.core.project_io import load_project

    saved = load_project(doc.path).object(doc.active().id)
    assert sorted(saved.post_keys) == [2, 10] and saved.post_keys[10]["grow_px"] == 10
    # undo removes the last key (its edits with it: one step per key), then the first
    window.undo()
    assert sorted(doc.active().post_keys) == [2]
    doc.set_frame(6)
    assert grow.value() == 0 and "held here" in matte.keys_label.text()
    window.undo()
    assert doc.active().post_keys == {} and matte.keys_label.text() == "not keyed"
    window.redo()
    assert sorted(doc.active().post_keys) == [2]
    # unticking the key on its frame removes it
    doc.set_frame(2)
    qtbot.mouseClick(key, Qt.MouseButton.LeftButton)
    assert doc.active().post_keys == {} and not key.isChecked()
    # without keys an edit changes the whole shot's settings again
    grow.setValue(3)
    assert doc.active().post["grow_px"] == 3 and doc.active().post_keys == {}


def test_keyed_thresholds_update_in_place(qtbot, window, matte) -> None:  # noqa: F811
    doc = window.doc
    obj = doc.active()
    editor = matte.widgets["thresholds"]
    qtbot.mouseClick(editor.findChildren(type(window.cancel_button))[0], Qt.MouseButton.LeftButton)  # Add stage
    qtbot.mouseClick(matte.key_button, Qt.MouseButton.LeftButton)
    doc.set_frame(4)
    editor.table.cellWidget(0, 1).setValue(0.9)  # low: keys frame index 4
    assert sorted(obj.post_keys) == [0, 4] and obj.post_keys[4]["thresholds"][0]["low"] == pytest.approx(0.9)
    spin = editor.table.cellWidget(0, 1)
    doc.set_frame(2)
    assert editor.table.cellWidget(0, 1) is spin  # updated in place, not rebuilt
    assert spin.value() == pytest.approx(0.7)
    assert KeyedPost.of(obj).at(2).thresholds[0].low == pytest.approx(0.7)


def test_post_tab_without_an_object_is_disabled(qtbot, window) -> None:  # noqa: F811
    assert isinstance(window.matte_tab, PostTab) and not window.matte_tab.isEnabled()
    assert window.matte_tab.keys_label.text() == "not keyed"

"""Brush, shape and touch-up painting in the real window (offscreen, pytest-qt): strokes
drawn with real mouse and tablet events, the keys that pick and set the tools, undo and
redo, re-tracking only the stretch a correction affects, and renders that read back with
the corrections and touch-ups in them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed (requirements-dev.txt)")

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QInputDevice, QMouseEvent, QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication

from sam3roto.core.evaluation import jaccard
from sam3roto.core.strokes import apply_to_mask
from tests.ui.test_window import clip as clip
from tests.ui.test_window import wait_jobs
from tests.ui.test_window import window as window

pytestmark = pytest.mark.gui


def _widget(viewer, x: float, y: float) -> QPointF:
    return viewer.to_widget(x, y)


def drag(viewer, points: list[tuple[float, float]], button=Qt.MouseButton.LeftButton) -> None:
    """Press at the first source point, move through the others with the button held, and
    release at the last: real mouse events, as a hand on a mouse sends them."""
    def send(kind: QEvent.Type, x: float, y: float, pressed: Qt.MouseButton, which: Qt.MouseButton) -> None:
        pos = _widget(viewer, x, y)
        QApplication.sendEvent(viewer, QMouseEvent(kind, pos, viewer.mapToGlobal(pos), which, pressed,
                                                   Qt.KeyboardModifier.NoModifier))

    send(QEvent.Type.MouseButtonPress, *points[0], button, button)
    for x, y in points[1:]:
        send(QEvent.Type.MouseMove, x, y, button, Qt.MouseButton.NoButton)
    send(QEvent.Type.MouseButtonRelease, *points[-1], Qt.MouseButton.NoButton, button)


def tablet_drag(viewer, points: list[tuple[float, float, float]]) -> None:
    """A pen stroke with pressure: QTabletEvents from a stylus device."""
    device = QPointingDevice("test pen", 4242, QInputDevice.DeviceType.Stylus, QPointingDevice.PointerType.Pen,
                             QInputDevice.Capability.Position | QInputDevice.Capability.Pressure, 1, 3)

    def send(kind: QEvent.Type, x: float, y: float, pressure: float, which: Qt.MouseButton,
             held: Qt.MouseButton) -> None:
        pos = _widget(viewer, x, y)
        event = QTabletEvent(kind, device, pos, viewer.mapToGlobal(pos), pressure, 0.0, 0.0, 0.0, 0.0, 0.0,
                             Qt.KeyboardModifier.NoModifier, which, held)
        QApplication.sendEvent(viewer, event)

    left = Qt.MouseButton.LeftButton
    send(QEvent.Type.TabletPress, *points[0], left, left)
    for x, y, p in points[1:]:
        send(QEvent.Type.TabletMove, x, y, p, Qt.MouseButton.NoButton, left)
    send(QEvent.Type.TabletRelease, points[-1][0], points[-1][1], 0.0, left, Qt.MouseButton.NoButton)


def test_brush_keys_undo_redo_and_the_stroke_shown_while_drawn(qtbot, window) -> None:
    doc, viewer = window.doc, window.viewer
    doc.add_object("disc")
    obj = doc.active()
    qtbot.keyClick(viewer, Qt.Key.Key_B)  # the brush
    assert doc.tool == "brush" and window.segment_tab.tools.currentData() == "brush"
    radius = doc.brush_radius
    qtbot.keyClick(viewer, Qt.Key.Key_Equal)
    assert doc.brush_radius > radius
    qtbot.keyClick(viewer, Qt.Key.Key_Minus)
    assert doc.brush_radius == pytest.approx(radius)
    doc.brush_radius = 6.0
    doc.brush_softness = 0.5  # corrections edit the mask: they are painted hard whatever the softness
    assert not window.paint_bar.softness_box.isEnabled()
    # while the button is held the stroke is drawn over the frame (no mask change yet)
    before = viewer.grab().toImage()
    pos = _widget(viewer, 20, 20)
    QApplication.sendEvent(viewer, QMouseEvent(QEvent.Type.MouseButtonPress, pos, viewer.mapToGlobal(pos),
                                               Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton,
                                               Qt.KeyboardModifier.NoModifier))
    pos2 = _widget(viewer, 60, 20)
    QApplication.sendEvent(viewer, QMouseEvent(QEvent.Type.MouseMove, pos2, viewer.mapToGlobal(pos2),
                                               Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton,
                                               Qt.KeyboardModifier.NoModifier))
    during = viewer.grab().toImage()
    assert during != before and doc.store.get(obj.id, 0) is None
    QApplication.sendEvent(viewer, QMouseEvent(QEvent.Type.MouseButtonRelease, pos2, viewer.mapToGlobal(pos2),
                                               Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton,
                                               Qt.KeyboardModifier.NoModifier))
    key = doc.project.keyframe(obj.id, 0)
    assert key is not None and key.mask and len(key.strokes) == 1 and key.strokes[0].mode == "add"
    assert key.strokes[0].softness == 0
    doc.brush_softness = 0.0
    painted = doc.store.get(obj.id, 0)
    assert painted[20, 40] and not painted[60, 40] and abs(int(painted.sum()) - (40 * 12 + 113)) < 60
    # the right button subtracts; X swaps what the left one does
    drag(viewer, [(40, 14), (40, 26)], Qt.MouseButton.RightButton)
    assert doc.project.keyframe(obj.id, 0).strokes[-1].mode == "subtract"
    assert not doc.store.get(obj.id, 0)[20, 40] and doc.store.get(obj.id, 0)[20, 25]
    qtbot.keyClick(viewer, Qt.Key.Key_X)
    assert doc.paint_mode == "subtract"
    qtbot.keyClick(viewer, Qt.Key.Key_X)
    # undo takes the strokes back one by one, the stored mask with them; redo replays
    window.undo()
    assert doc.store.get(obj.id, 0)[20, 40] and len(doc.project.keyframe(obj.id, 0).strokes) == 1
    window.undo()
    assert doc.project.keyframe(obj.id, 0) is None and doc.store.get(obj.id, 0) is None  # as before painting
    window.redo()
    window.redo()
    assert np.array_equal(doc.store.get(obj.id, 0), apply_to_mask(None, doc.strokes(), painted.shape))
    assert not doc.store.get(obj.id, 0)[20, 40]


def test_lasso_polygon_and_tablet_pressure(qtbot, window) -> None:
    doc, viewer = window.doc, window.viewer
    doc.add_object("thing")
    obj = doc.active()
    qtbot.keyClick(viewer, Qt.Key.Key_G)  # the shape tool
    assert doc.tool == "shape"
    # a lasso: drag round a square and let go
    drag(viewer, [(10, 10), (50, 10), (50, 40), (10, 40), (10, 12)])
    shape = doc.project.keyframe(obj.id, 0).strokes[-1]
    assert shape.kind == "shape" and len(shape.points) == 5
    mask = doc.store.get(obj.id, 0)
    assert mask[25, 30] and not mask[45, 30] and abs(int(mask.sum()) - 40 * 30) < 80
    # a polygon: click corners, Return closes it (X: the left button subtracts)
    qtbot.keyClick(viewer, Qt.Key.Key_X)
    for x, y in ((20, 15), (40, 15), (40, 35)):
        a = _widget(viewer, x, y)
        qtbot.mouseClick(viewer, Qt.MouseButton.LeftButton, pos=QPoint(round(a.x()), round(a.y())))
    assert viewer.paint.polygon and len(viewer.paint.points) == 3
    qtbot.keyClick(viewer, Qt.Key.Key_Return)
    assert len(doc.project.keyframe(obj.id, 0).strokes) == 2 and not viewer.paint.busy
    assert not doc.store.get(obj.id, 0)[20, 38] and doc.store.get(obj.id, 0)[32, 22]  # the triangle is cut out
    qtbot.keyClick(viewer, Qt.Key.Key_X)
    # a pen stroke: pressure tapers the brush
    qtbot.keyClick(viewer, Qt.Key.Key_B)
    doc.brush_radius = 8.0
    tablet_drag(viewer, [(70, 60, 1.0), (90, 60, 0.8), (110, 60, 0.5), (130, 60, 0.25)])
    pen = doc.project.keyframe(obj.id, 0).strokes[-1]
    assert pen.kind == "brush" and pen.pressure and pen.pressure[0] > pen.pressure[-1]
    mask = doc.store.get(obj.id, 0)
    assert mask[52:69, 72].sum() > mask[52:69, 128].sum() > 0


def test_touchup_layer_and_range_render_without_retracking(qtbot, window, tmp_path: Path) -> None:
    doc, viewer = window.doc, window.viewer
    doc.add_object("disc")
    obj = doc.active()
    shape = (doc.source.info.height, doc.source.info.width)
    empty = np.zeros(shape, bool)
    for i in range(doc.frame_count):
        doc.store.put(obj.id, i, empty)
    qtbot.keyClick(viewer, Qt.Key.Key_G)
    qtbot.keyClick(viewer, Qt.Key.Key_T)  # paint touch-ups
    assert doc.paint_layer == "touch-up"
    doc.set_frame(3)
    drag(viewer, [(5, 5), (30, 5), (30, 25), (5, 25), (5, 6)])
    assert obj.touchups and (obj.touchups[0].first, obj.touchups[0].last) == (3, 3)
    assert doc.project.keyframe(obj.id, 3) is None  # no keyframe: nothing to re-track
    assert not doc.store.get(obj.id, 3).any()  # the mask is untouched
    assert viewer.mode == "matte" and window.mode.currentText() == "matte"  # painted in overlay: the matte shows
    window.mode.setCurrentText("matte")  # the matte preview shows the touch-up
    qtbot.waitUntil(lambda: viewer.mode == "matte")
    assert viewer.compose_now().max() == 255
    window.paint_bar.buttons["in-out"].click()
    doc.set_frame(6)
    drag(viewer, [(100, 80), (130, 80), (130, 100), (100, 100), (100, 81)])
    assert [(t.first, t.last) for t in obj.touchups] == [(3, 3), (0, doc.frame_count - 1)]
    window.save()
    window.export_tab.bits.setCurrentText("8")
    window.export_tab.requested.emit()
    wait_jobs(qtbot, window)
    folder = tmp_path / "renders" / "v001" / "disc"
    for i in range(doc.frame_count):
        matte = cv2.imread(str(folder / f"plate_disc.{1001 + i}.png"), cv2.IMREAD_UNCHANGED)
        assert (matte[15, 15] == 255) == (i == 3), i
        assert matte[90, 115] == 255, i


def test_a_correction_on_a_tracked_frame_retracks_only_its_stretch(qtbot, window, clip) -> None:
    doc, viewer = window.doc, window.viewer
    doc.add_object("disc")
    obj = doc.active()
    doc.use_key_mask(clip.masks[0])
    doc.set_frame(11)
    doc.use_key_mask(clip.masks[11])
    doc.set_frame(0)
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)  # track changes
    wait_jobs(qtbot, window)
    assert doc.store.frames(obj.id) == list(range(12))
    tracked = {i: doc.store.get(obj.id, i).copy() for i in range(12)}
    # paint a correction on frame 6: cut the right half of the disc away
    doc.set_frame(6)
    _ys, xs = np.nonzero(clip.masks[6])
    cut = xs.mean()
    qtbot.keyClick(viewer, Qt.Key.Key_G)
    h, w = clip.masks[6].shape
    left = np.arange(w)[None, :] < cut - 0.5
    drag(viewer, [(cut, 0), (w - 0.1, 0), (w - 0.1, h - 0.1), (cut, h - 0.1), (cut, 1)], Qt.MouseButton.RightButton)
    key = doc.project.keyframe(obj.id, 6)
    assert key is not None and key.mask and key.strokes[0].mode == "subtract"
    assert np.array_equal(doc.store.get(obj.id, 6), tracked[6] & left)
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    wait_jobs(qtbot, window)
    after = {i: doc.store.get(obj.id, i) for i in range(12)}
    # the stretches on either side of frame 6 changed; the keyframes did not
    assert np.array_equal(after[0], tracked[0]) and np.array_equal(after[11], tracked[11])
    assert after[5].sum() < 0.8 * tracked[5].sum() and after[7].sum() < 0.8 * tracked[7].sum()
    assert jaccard(after[6], tracked[6] & left) > 0.99


def test_the_matte_view_follows_strokes_and_their_undo(qtbot, window) -> None:
    doc, viewer = window.doc, window.viewer
    doc.add_object("disc")
    obj = doc.active()
    window.mode.setCurrentText("matte")
    qtbot.waitUntil(lambda: viewer.mode == "matte")
    blank = viewer.compose_now().copy()
    qtbot.keyClick(viewer, Qt.Key.Key_B)
    doc.brush_radius = 10.0
    drag(viewer, [(40, 40), (80, 40)])
    one = viewer.compose_now().copy()
    assert one.max() == 255 and not np.array_equal(one, blank)
    drag(viewer, [(40, 90), (80, 90)])
    two = viewer.compose_now().copy()
    assert (two > 127).sum() > (one > 127).sum()  # the second stroke shows (no stale matte)
    window.undo()
    assert np.array_equal(viewer.compose_now(), one)
    window.undo()  # back before the first stroke: no keyframe and, as before, no mask
    assert doc.project.keyframe(obj.id, 0) is None and doc.store.get(obj.id, 0) is None
    assert viewer.compose_now().max() == 0


def test_premultiply_is_one_choice_for_the_shot_when_keyed(window) -> None:
    doc = window.doc
    doc.add_object("disc")
    obj = doc.active()
    doc.set_post_key(obj.id, 0, {"grow_px": 0, "premultiply": False})
    doc.set_post_key(obj.id, 5, {"grow_px": 4, "premultiply": True})
    assert all(v["premultiply"] for v in obj.post_keys.values()) and obj.post["premultiply"]

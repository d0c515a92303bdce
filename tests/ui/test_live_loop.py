"""The live roto loop, driven with real mouse and key events: clicks segment without a
button, Ctrl+T streams frames and Esc stops it keeping them, a correction makes only its
stretch stale and Ctrl+T re-tracks only that, and out-of-shot ranges from the Segment tab."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from sam3roto.backends.classic import ClassicSession
from sam3roto.core.evaluation import jaccard, prompts_from_mask
from sam3roto.core.tracking import stale_frames
from sam3roto.core.types import PointPrompt
from sam3roto.pipeline.interactive import InteractiveSession
from tests.pipeline.test_track import walked_frames
from tests.ui.test_window import click_source, clip, wait_jobs, window  # noqa: F401 (fixtures)

pytestmark = pytest.mark.gui


def _focus(qtbot, win) -> None:
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)


def _wait_for_mask(qtbot, win, obj_id: int, frame: int) -> None:
    """Wait for the live segmentation of ``frame`` (the first one opens the engine session:
    seconds on a loaded machine); an error dialog instead fails at once with its text."""
    from PySide6.QtWidgets import QMessageBox

    def shown() -> list[str]:
        return [f"{b.text()} | {b.informativeText()}" for b in win.findChildren(QMessageBox) if b.isVisible()]

    qtbot.waitUntil(lambda: win.doc.store.get(obj_id, frame) is not None or bool(shown()), timeout=30000)
    assert not shown(), shown()


def test_clicks_segment_live_and_a_burst_is_one_request(qtbot, window, clip, monkeypatch) -> None:  # noqa: F811
    doc, viewer = window.doc, window.viewer
    doc.add_object("disc")
    calls = []
    real = InteractiveSession.segment
    monkeypatch.setattr(InteractiveSession, "segment",
                        lambda self, *a, **k: (calls.append(a[3]), real(self, *a, **k))[1])
    points = [p for p in prompts_from_mask(clip.masks[0]) if isinstance(p, PointPrompt)]
    first = points[0]
    click_source(qtbot, viewer, first.x, first.y)  # no Ctrl+Enter: the mask comes by itself
    qtbot.waitUntil(lambda: doc.store.get(doc.active().id, 0) is not None, timeout=10000)
    wait_jobs(qtbot, window)
    mask = doc.store.get(doc.active().id, 0)
    assert mask[int(first.y), int(first.x)]
    calls.clear()
    for p in points[1:]:  # a quick burst of clicks
        click_source(qtbot, viewer, p.x, p.y, Qt.MouseButton.LeftButton if p.positive else Qt.MouseButton.RightButton)
    qtbot.waitUntil(lambda: len(calls) >= 1 and len(calls[-1]) == len(points), timeout=10000)
    wait_jobs(qtbot, window)
    assert len(calls) < len(points) - 1  # debounced: fewer requests than clicks
    mask = doc.store.get(doc.active().id, 0)
    for p in points:  # every positive point inside, every negative outside
        assert mask[int(p.y), int(p.x)] == p.positive
    assert jaccard(mask, clip.masks[0]) > 0.6
    assert not window.progress.isVisible()  # live requests show no progress bar


def test_ctrl_t_streams_frames_and_esc_stops_keeping_them(qtbot, window, clip, monkeypatch) -> None:  # noqa: F811
    doc = window.doc
    doc.add_object("disc")
    obj = doc.active()
    doc.set_prompts(prompts_from_mask(clip.masks[0]))
    wait_jobs(qtbot, window)
    _focus(qtbot, window)
    # the keyframe's mask, segmented on request (this test is about tracking; the live
    # request is the first test's business)
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    _wait_for_mask(qtbot, window, obj.id, 0)
    wait_jobs(qtbot, window)
    real_step = ClassicSession.step

    def slow_step(self, *a, **k):
        time.sleep(0.15)
        return real_step(self, *a, **k)

    monkeypatch.setattr(ClassicSession, "step", slow_step)
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)
    _focus(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len([f for f in doc.store.frames(obj.id) if f > 0]) >= 2, timeout=30000)
    assert window.jobs and window.progress.isVisible()  # still running: frames arrived before the end
    assert any("frame 100" in m for m in messages)  # reported frame by frame
    assert doc.frame > 0  # the playhead follows
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    wait_jobs(qtbot, window)  # Esc stops between frames (bench/ui_click.py times it)
    kept = doc.store.frames(obj.id)
    assert 2 <= len(kept) < 12  # what was finished stays
    window.undo()  # the stopped run is one undo step
    assert doc.store.frames(obj.id) == [0]


def test_a_correction_retracks_only_its_stretch(qtbot, window, clip, monkeypatch) -> None:  # noqa: F811
    doc, viewer = window.doc, window.viewer
    doc.add_object("disc")
    obj = doc.active()
    doc.set_prompts(prompts_from_mask(clip.masks[0]))
    doc.set_frame(6)
    doc.set_prompts(prompts_from_mask(clip.masks[6]))
    wait_jobs(qtbot, window)
    _focus(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)  # never tracked: everything
    wait_jobs(qtbot, window)
    assert doc.store.frames(obj.id) == list(range(12))
    assert stale_frames(doc.project, doc.store, obj.id) == []
    doc.set_frame(3)  # a correction on frame 3: a click on the object
    p = next(q for q in prompts_from_mask(clip.masks[3]) if isinstance(q, PointPrompt) and q.positive)
    click_source(qtbot, viewer, p.x, p.y)
    qtbot.waitUntil(lambda: stale_frames(doc.project, doc.store, obj.id) == [1, 2, 4, 5], timeout=10000)
    wait_jobs(qtbot, window)
    window.timeline.repaint()  # paints the stale frames (orange)
    walked = walked_frames(monkeypatch)
    _focus(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    wait_jobs(qtbot, window)
    assert {f for w in walked for f in w} == set(range(0, 7))  # keyframe 0 to keyframe 6, not 7-11
    assert stale_frames(doc.project, doc.store, obj.id) == []


def test_out_of_shot_from_the_segment_tab(qtbot, window, clip) -> None:  # noqa: F811
    doc, tab = window.doc, window.segment_tab
    doc.add_object("disc")
    obj = doc.active()
    for f in range(12):
        doc.store.put(obj.id, f, clip.masks[f])
    buttons = {b.text(): b for b in tab.findChildren(type(tab.find_button))}
    here = [b for b in tab.findChildren(type(tab.find_button)) if b.text() == "here"]
    doc.set_frame(3)
    here[0].click()  # from this frame
    doc.set_frame(6)
    here[1].click()  # to this one
    assert (tab.absent_from.value(), tab.absent_to.value()) == (1004, 1007)
    buttons["Out of shot"].click()
    assert doc.project.object(obj.id).absent == [(3, 6)]
    assert all(not doc.store.get(obj.id, f).any() for f in range(3, 7))
    assert doc.store.get(obj.id, 2).any() and doc.store.get(obj.id, 7).any()
    window.timeline.repaint()
    window.undo()
    assert doc.project.object(obj.id).absent == []
    np.testing.assert_array_equal(doc.store.get(obj.id, 0), clip.masks[0])

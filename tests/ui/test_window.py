"""The window with real widgets (offscreen, pytest-qt): open a clip, place prompts, segment
with the classical engine, track, adjust a matte slider, render PNG alpha, undo/redo, and
scrub with the keyboard."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed (requirements-dev.txt)")

from PySide6.QtCore import QPoint, QPointF, Qt

from sam3roto.core.evaluation import jaccard, prompts_from_mask
from sam3roto.core.types import BoxPrompt, PointPrompt
from sam3roto.ui.document import Document
from sam3roto.ui.main_window import MainWindow
from tests.backends.test_classic import moving_object_clip
from tests.ui.dialogs import Answers

pytestmark = pytest.mark.gui


@pytest.fixture
def clip():
    return moving_object_clip(n=12)


@pytest.fixture
def window(qtbot, tmp_path: Path, clip):
    plate = tmp_path / "plate"
    plate.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(plate / f"plate.{1001 + i}.png"), frame[..., ::-1])
    doc = Document.open_media(plate / "plate.####.png", tmp_path / "shot.sam3roto")
    win = MainWindow(doc)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    qtbot.wait(100)  # let the docks settle: the viewer refits on every resize
    yield win
    win.cancel_jobs()
    win.pools.wait()


def click_source(qtbot, viewer, x: float, y: float, button=Qt.MouseButton.LeftButton) -> None:
    pos = viewer.to_widget(x, y)
    qtbot.mouseClick(viewer, button, pos=QPoint(round(pos.x()), round(pos.y())))


def wait_jobs(qtbot, win) -> None:
    qtbot.waitUntil(lambda: not win.jobs, timeout=60000)


def test_prompts_segment_track_matte_render_undo(qtbot, window, clip, tmp_path: Path) -> None:
    doc, viewer = window.doc, window.viewer
    doc.add_object("disc")
    points = [p for p in prompts_from_mask(clip.masks[0]) if isinstance(p, PointPrompt)]
    box = next(p for p in prompts_from_mask(clip.masks[0]) if isinstance(p, BoxPrompt))
    for p in points:  # point tool: left click +, right click -
        click_source(qtbot, viewer, p.x, p.y, Qt.MouseButton.LeftButton if p.positive else Qt.MouseButton.RightButton)
    window.segment_tab.tools.setCurrentIndex(2)  # box tool: drag
    a, b = viewer.to_widget(box.x0, box.y0), viewer.to_widget(box.x1, box.y1)
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=QPoint(round(a.x()), round(a.y())))
    qtbot.mouseMove(viewer, QPoint(round(b.x()), round(b.y())))
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=QPoint(round(b.x()), round(b.y())))
    prompts = doc.prompts()
    assert sum(isinstance(p, PointPrompt) for p in prompts) == len(points)
    assert sum(isinstance(p, BoxPrompt) for p in prompts) == 1
    assert [p.positive for p in prompts if isinstance(p, PointPrompt)] == [p.positive for p in points]

    before = viewer.compose_now().copy()
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # segment frame
    wait_jobs(qtbot, window)
    obj = doc.active()
    assert jaccard(doc.store.get(obj.id, 0), clip.masks[0]) > 0.8
    assert not np.array_equal(viewer.compose_now(), before)  # the overlay appeared

    window.segment_tab.track_buttons["forward:all"].click()  # "from here ▶"
    wait_jobs(qtbot, window)
    assert doc.frame == 11  # the playhead followed the track
    doc.set_frame(0)
    assert doc.store.frames(obj.id) == list(range(12))
    assert np.mean([jaccard(doc.store.get(obj.id, i), clip.masks[i]) for i in range(1, 12)]) > 0.8

    # a matte slider: the preview (matte view) changes
    window.mode.setCurrentText("matte")
    qtbot.waitUntil(lambda: viewer.mode == "matte")
    plain = viewer.compose_now().copy()
    window.matte_tab.widgets["grow_px"].setValue(8)
    assert doc.active().post["grow_px"] == 8
    grown = viewer.compose_now()
    assert (grown > 127).sum() > (plain > 127).sum()

    # undo the slider, the tracking run (masks back to the segmented frame only) and the box;
    # redo brings them back in order
    window.undo()
    assert doc.active().post.get("grow_px", 0) == 0
    window.undo()
    assert doc.store.frames(obj.id) == [0]
    window.undo()
    assert not any(isinstance(p, BoxPrompt) for p in doc.prompts())
    window.redo()
    assert any(isinstance(p, BoxPrompt) for p in doc.prompts())
    window.redo()
    assert doc.store.frames(obj.id) == list(range(12))
    assert jaccard(doc.store.get(obj.id, 7), clip.masks[7]) > 0.8

    # export PNG alpha through the Export tab
    window.export_tab.bits.setCurrentText("8")
    window.export_tab.requested.emit()
    wait_jobs(qtbot, window)
    written = sorted((tmp_path / "renders" / "v001" / "disc").glob("*.png"))
    assert [p.name for p in written] == [f"plate_disc.{n}.png" for n in range(1001, 1013)]
    matte = cv2.imread(str(written[3]), cv2.IMREAD_UNCHANGED)
    assert jaccard(matte > 127, doc.store.get(obj.id, 3)) > 0.99
    assert "v002" in window.export_tab.version.text()


def test_keyboard_scrubbing_changes_frame_and_pixels_whatever_has_focus(qtbot, window) -> None:
    doc, viewer = window.doc, window.viewer
    shown = viewer.compose_now().copy()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert doc.frame == 1 and not np.array_equal(viewer.compose_now(), shown)
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    assert doc.frame == 2
    qtbot.keyClick(window, Qt.Key.Key_BracketLeft)
    assert doc.frame == 1
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert doc.frame == 11
    qtbot.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert doc.frame == 1
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert doc.frame == 0
    # a focused slider keeps the arrows (they change it, not the frame); once the viewer
    # has the focus again they step frames
    doc.add_object("disc")
    window.tabs.setCurrentIndex(1)
    slider = window.matte_tab.widgets["feather_px"]
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert doc.frame == 0 and slider.value() == pytest.approx(0.1)
    viewer.setFocus()
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert doc.frame == 1
    assert "frame 1002" in window.frame_label.text()
    # play / stop
    qtbot.keyClick(window, Qt.Key.Key_L)
    qtbot.waitUntil(lambda: doc.frame >= 4, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_K)
    stopped = doc.frame
    qtbot.wait(200)
    assert doc.frame == stopped


def test_objects_panel_add_rename_hide_remove_with_undo(qtbot, window) -> None:
    doc = window.doc
    panel = window.objects
    qtbot.mouseClick(panel.findChildren(type(window.cancel_button))[0], Qt.MouseButton.LeftButton)  # Add
    assert [o.name for o in doc.project.objects] == ["object1"]
    model = panel.model
    model.setData(model.index(0), "hero")
    assert doc.project.objects[0].name == "hero"
    model.setData(model.index(0), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert doc.project.objects[0].visible is False
    window.undo()
    assert doc.project.objects[0].visible is True
    window.undo()
    assert doc.project.objects[0].name == "object1"
    panel._remove()
    assert doc.project.objects == []
    window.undo()
    assert [o.name for o in doc.project.objects] == ["object1"]


def test_prompts_select_drag_and_delete(qtbot, window) -> None:
    doc, viewer = window.doc, window.viewer
    click_source(qtbot, viewer, 100, 100)
    click_source(qtbot, viewer, 200, 150)
    assert len(doc.prompts()) == 2
    start, end = viewer.to_widget(100, 100), viewer.to_widget(130, 110)
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=QPoint(round(start.x()), round(start.y())))
    qtbot.mouseMove(viewer, QPoint(round(end.x()), round(end.y())))
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=QPoint(round(end.x()), round(end.y())))
    moved = doc.prompts()[0]
    assert abs(moved.x - 130) < 2 and abs(moved.y - 110) < 2
    assert viewer.selected == 0
    qtbot.keyClick(window, Qt.Key.Key_Delete)
    assert len(doc.prompts()) == 1 and doc.prompts()[0].x == pytest.approx(200, abs=1)


def test_viewer_zoom_fit_and_display_modes(qtbot, window) -> None:
    viewer = window.viewer
    fitted = viewer.scale
    viewer.zoom_at(QPointF(100, 100), 2.0)
    assert viewer.scale == pytest.approx(2 * fitted)
    viewer.one_to_one()
    assert viewer.scale == pytest.approx(1.0)
    qtbot.keyClick(window, Qt.Key.Key_F)
    assert viewer.scale == pytest.approx(fitted)
    for mode in ("image", "overlay", "matte", "rgba", "depth", "normals"):
        window.mode.setCurrentText(mode)
        pixels = viewer.compose_now()
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3


def test_in_out_keys_with_undo(qtbot, window) -> None:
    doc = window.doc
    doc.set_frame(3)
    qtbot.keyClick(window, Qt.Key.Key_I)
    doc.set_frame(8)
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert doc.project.shot.frame_range == range(3, 9)
    window.undo()
    assert doc.project.shot.frame_range == range(3, 12)


def test_stale_segment_requests_are_dropped(qtbot, window, clip, monkeypatch) -> None:
    import threading

    from sam3roto.backends import registry

    doc = window.doc
    doc.add_object("disc")
    doc.set_prompts(prompts_from_mask(clip.masks[0]))
    from sam3roto.backends.classic import ClassicEngine

    created, opened = [], []
    real_create, real_open = registry.create_engine, ClassicEngine.open_session
    monkeypatch.setattr(registry, "create_engine", lambda *a, **k: (created.append(1), real_create(*a, **k))[1])
    monkeypatch.setattr(ClassicEngine, "open_session", lambda self, src: (opened.append(1), real_open(self, src))[1])
    gate = threading.Event()

    def blocker(token):
        gate.wait(10)
        yield from ()

    window._start("busy", blocker, window.pools.model)  # the model thread is busy
    for _ in range(3):
        window.segment_frame()  # three clicks while it is busy
    gate.set()
    wait_jobs(qtbot, window)
    assert len(opened) == 1  # only the newest request ran
    assert doc.store.get(doc.active().id, 0) is not None
    window.segment_tab.load.emit()  # Load model: already loaded, nothing new
    window.segment_frame()
    wait_jobs(qtbot, window)
    assert len(created) == 1 and len(opened) == 1  # the model is loaded once, the shot's session kept


def test_text_prompt_needs_an_engine_with_text_and_makes_one_object_per_instance(qtbot, window, monkeypatch) -> None:
    torch = pytest.importorskip("torch", reason="the ML stack (torch) is not installed")
    from sam3roto.backends import registry
    from sam3roto.backends.sam3 import Sam3Engine
    from tests.backends.sam3_tiny import build_tiny_models

    tab = window.segment_tab
    assert not tab.find_button.isEnabled() and "no text prompts" in tab.note.text()
    tab.engine.setCurrentIndex(1)  # SAM3
    assert tab.find_button.isEnabled() and tab.text_prompt.isEnabled()
    torch.set_num_threads(1)
    monkeypatch.setenv("SAM3ROTO_DTYPE", "float32")
    models = build_tiny_models()
    monkeypatch.setattr(registry, "create_engine",
                        lambda name, **k: Sam3Engine(models=models, device="cpu", text_threshold=0.0))
    tab.text_prompt.setText("disc")
    tab.find_button.click()
    wait_jobs(qtbot, window)
    doc = window.doc
    names = [o.name for o in doc.project.objects]
    assert names and all(n.startswith("disc ") for n in names)
    assert all(doc.store.get(o.id, 0) is not None for o in doc.project.objects)
    window.undo()
    assert doc.project.objects == []


def test_find_all_in_the_whole_shot_tracks_every_instance_and_undoes_as_one_step(qtbot, window, monkeypatch) -> None:
    torch = pytest.importorskip("torch", reason="the ML stack (torch) is not installed")
    from sam3roto.backends import registry
    from sam3roto.backends.sam3 import Sam3Engine
    from tests.backends.sam3_tiny import build_tiny_models

    tab, doc = window.segment_tab, window.doc
    tab.engine.setCurrentIndex(1)  # SAM3
    torch.set_num_threads(1)
    monkeypatch.setenv("SAM3ROTO_DTYPE", "float32")
    models = build_tiny_models()
    monkeypatch.setattr(registry, "create_engine",
                        lambda name, **k: Sam3Engine(models=models, device="cpu", text_threshold=0.0))
    assert not tab.detect_every.isEnabled()
    tab.find_scope.setCurrentIndex(tab.find_scope.findData("shot"))
    assert tab.detect_every.isEnabled() and tab.detect_every.value() == 10
    tab.detect_every.setValue(4)
    tab.text_prompt.setFocus()
    qtbot.keyClicks(tab.text_prompt, "disc")
    qtbot.keyClick(tab.text_prompt, Qt.Key.Key_Return)
    wait_jobs(qtbot, window)
    found = doc.project.objects
    assert found and all(o.name.startswith("disc ") for o in found)
    n = doc.project.shot.frame_count
    for obj in found:
        keys = doc.project.keyframes_of(obj.id)
        assert len(keys) == 1 and keys[0].mask and keys[0].frame in (0, 4, 8)
        assert doc.store.frames(obj.id) == list(range(n))
    assert "found and tracked over 12 frames" in window.statusBar().currentMessage()
    ids = [o.id for o in found]
    window.undo()
    assert doc.project.objects == [] and not doc.project.keyframes
    doc.add_object("next")
    assert doc.project.objects[0].id > max(ids)  # the found objects' ids (masks in the store) are not reused
    tab.engine.setCurrentIndex(0)  # the classical engine takes no text: nothing to set
    assert not tab.find_scope.isEnabled() and not tab.detect_every.isEnabled()


def test_ids_a_job_reserves_are_never_given_to_objects_made_meanwhile(qtbot, window) -> None:
    import threading

    doc = window.doc
    reserved: list[int] = []

    def job() -> None:
        for _ in range(200):
            reserved.append(doc.reserve_object_id())

    worker = threading.Thread(target=job)
    worker.start()
    for _ in range(30):
        doc.add_object("meanwhile")
    worker.join()
    made = [o.id for o in doc.project.objects]
    assert len(set(made)) == 30 and not set(made) & set(reserved) and len(set(reserved)) == 200


def test_colour_name_stem_and_device_setting(qtbot, window, clip, tmp_path: Path, monkeypatch) -> None:
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QColorDialog

    from sam3roto.backends import registry

    doc = window.doc
    doc.add_object("disc")
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor(10, 200, 30)))
    window.objects.pick_colour()
    assert doc.active().color == (10, 200, 30)
    window.undo()
    assert doc.active().color != (10, 200, 30)
    dialog = window.open_settings()
    dialog.device.setCurrentText("cpu")
    assert window.engine_options() == {"device": "cpu"}
    seen = []
    real = registry.create_engine
    monkeypatch.setattr(registry, "create_engine", lambda name, **k: (seen.append(k), real(name, **k))[1])
    doc.set_prompts(prompts_from_mask(clip.masks[0]))
    window.segment_frame()
    wait_jobs(qtbot, window)
    assert seen == [{"device": "cpu"}]
    dialog.device.setCurrentText("auto")
    window.export_tab.name.setText("hero shot")
    answers = Answers("Render anyway")  # segmented on the first frame only: the window asks first
    window.export_tab.requested.emit()
    answers.stop()
    assert answers.done() and "disc: 1002-1012" in answers.asked[0]
    wait_jobs(qtbot, window)
    assert (tmp_path / "renders" / "v001" / "disc" / "hero_shot_disc.1001.png").is_file()


def test_rgb_tab_previews_on_the_checkerboard(qtbot, window, clip) -> None:
    doc = window.doc
    doc.add_object("disc")
    doc.store.put(doc.active().id, 0, clip.masks[0])
    window.rgb_tab.widgets["premultiply"].setChecked(True)
    assert window.viewer.mode == "rgba" and doc.active().post["premultiply"] is True
    window.rgb_tab.widgets["despill"].setCurrentText("green")
    assert doc.active().post["despill"] == "green"
    shown = window.viewer.compose_now()
    assert shown.dtype == np.uint8 and len(np.unique(shown.reshape(-1, 3), axis=0)) > 50


def test_autosave_and_recovery_prompt(qtbot, window, tmp_path: Path) -> None:
    import os
    import time

    from tests.ui.dialogs import Answers

    doc = window.doc
    window.save()
    doc.add_object("unsaved hero")  # an edit after the save
    window._autosave()
    autosave = tmp_path / "shot.sam3roto.autosave"
    assert autosave.is_file()
    later = time.time() + 5
    os.utime(autosave, (later, later))
    # opening the project again: keep the edit unsaved (Discard), then recover it
    answers = Answers("Discard", "Recover")
    window.open_project(tmp_path / "shot.sam3roto")
    answers.stop()
    assert answers.done() and "autosave" in answers.asked[1]
    assert [o.name for o in window.doc.project.objects] == ["unsaved hero"]
    assert window.doc.dirty and window.windowTitle().startswith("shot.sam3roto *")


def test_threshold_stages_in_the_matte_tab(qtbot, window, clip) -> None:
    """Seed 001: a threshold inside the object's mask, editable in the window."""
    doc = window.doc
    doc.add_object("disc")
    obj = doc.active()
    doc.store.put(obj.id, 0, clip.masks[0])
    window.mode.setCurrentText("matte")
    full = int((window.viewer.compose_now() > 127).sum())
    editor = window.matte_tab.widgets["thresholds"]
    qtbot.mouseClick(editor.findChildren(type(window.cancel_button))[0], Qt.MouseButton.LeftButton)  # Add stage
    spin = editor.table.cellWidget(0, 1)
    spin.setValue(0.6)  # luma >= 0.6 inside the disc only
    assert editor.table.cellWidget(0, 1) is spin  # the row being edited is not rebuilt under the user
    stages = doc.active().post["thresholds"]
    assert stages == [{"channel": "luma", "low": 0.6, "high": 1.0, "invert": False, "op": "keep"}]
    assert 0 < int((window.viewer.compose_now() > 127).sum()) < full
    window.undo()
    assert doc.active().post.get("thresholds", []) == []


def test_save_as_carries_masks_and_key_masks(qtbot, window, clip, tmp_path: Path) -> None:
    doc = window.doc
    doc.add_object("disc")
    doc.store.put(1, 0, clip.masks[0])
    doc.store.key_masks().put(1, 2, clip.masks[2])
    window.save(tmp_path / "elsewhere" / "copy.sam3roto")
    assert doc.path == tmp_path / "elsewhere" / "copy.sam3roto" and not doc.dirty
    assert (doc.store.get(1, 0) == clip.masks[0]).all()
    assert (doc.store.key_masks().get(1, 2) == clip.masks[2]).all()


def test_segment_everything_pick_regions_then_track_from_the_key_mask(qtbot, window, clip) -> None:
    """Seed 001: the frame cut into regions, the artist clicks the ones that make the object."""
    doc, viewer = window.doc, window.viewer
    doc.add_object("disc")
    assert window.segment_tab.everything_button.isEnabled()
    window.segment_tab.everything.emit()
    wait_jobs(qtbot, window)
    labels = viewer.regions
    assert labels is not None and labels.shape == clip.masks[0].shape
    before = viewer.compose_now().copy()
    picks = [i for i in range(int(labels.max()) + 1) if clip.masks[0][labels == i].mean() > 0.5]
    for i in picks:  # click inside each region of the disc
        ys, xs = np.nonzero(labels == i)
        k = len(ys) // 2
        click_source(qtbot, viewer, xs[k] + 0.5, ys[k] + 0.5)
    assert viewer.picked == set(picks) and not doc.prompts()  # clicks picked, they made no points
    assert not np.array_equal(viewer.compose_now(), before)  # picked regions are tinted
    window.segment_tab.use_regions.emit()
    obj = doc.active()
    key = doc.store.key_masks().get(obj.id, 0)
    assert jaccard(key, clip.masks[0]) > 0.8 and doc.project.keyframe(obj.id, 0).mask
    assert viewer.regions is None
    doc.project.shot.out_index = 5
    window.track("forward")
    wait_jobs(qtbot, window)
    assert np.mean([jaccard(doc.store.get(obj.id, i), clip.masks[i]) for i in range(1, 6)]) > 0.75


def test_matte_preview_refines_with_vitmatte_or_says_what_to_install(qtbot, window, clip, tmp_path) -> None:
    pytest.importorskip("torch", reason="the ML stack (torch) is not installed")
    from tests.post.vitmatte_tiny import save_tiny_vitmatte

    doc = window.doc
    doc.add_object("disc")
    obj = doc.active()
    doc.store.put(obj.id, 0, clip.masks[0])
    doc.set_post(obj.id, {"refine_band_px": 6})
    field = window.matte_tab.widgets["refine_model"]
    assert field.text() == "hustvl/vitmatte-small-composition-1k"  # the default checkpoint
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, str(tmp_path / "no-vitmatte"))
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert obj.post["refine_model"] == str(tmp_path / "no-vitmatte")
    window.matte_tab.widgets["refine_method"].setCurrentText("vitmatte")
    assert window.viewer.mode == "matte" and obj.post["refine_method"] == "vitmatte"
    window.viewer.compose_now()
    assert "install" in window.viewer.preview_error.lower() and "Settings" in window.viewer.preview_error
    window.viewer.repaint()  # paints the message instead of failing
    field.selectAll()
    qtbot.keyClicks(field, str(save_tiny_vitmatte(tmp_path / "vitmatte")))
    qtbot.keyClick(field, Qt.Key.Key_Return)
    window.viewer.compose_now()
    assert window.viewer.preview_error == ""
    matte = window.viewer._matte_cache[obj.id][1][0]
    band = (matte > 0.0) & (matte < 1.0)
    assert band.any() and matte[clip.masks[0] & ~band].min() == 1.0  # soft only in the band


def test_matte_preview_with_a_depth_foreground_but_no_depth_says_why(qtbot, window, clip) -> None:
    doc = window.doc
    doc.add_object("disc")
    doc.store.put(doc.active().id, 0, clip.masks[0])
    window.matte_tab.widgets["depth_mode"].setCurrentText("replace")
    assert window.viewer.mode == "matte"
    window.viewer.compose_now()
    assert "depth" in window.viewer.preview_error
    window.viewer.repaint()  # paints the message instead of failing

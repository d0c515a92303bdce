"""The viewer a compositor expects, driven as a person drives it (keys, menu actions, the
mouse): overlay styles (fill, outline, both), the matte of the active object or of all,
the edge view, the A/B wipe, the onion skin, the heads-up display with timecode, looped
playback between in and out, the mode box following the keys, and focused fields keeping
the frame keys. Two pixel snapshots (outline, wipe) against golden PNGs."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed (requirements-dev.txt)")

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QDockWidget, QLineEdit, QVBoxLayout, QWidget

from sam3roto.ui.compose import ONION_NEXT, ONION_PREVIOUS, compose, visible_view
from sam3roto.ui.document import Document
from sam3roto.ui.main_window import MainWindow
from sam3roto.ui.viewer import Viewer
from tests.conftest import SyntheticClip, make_synthetic
from tests.ui.snapshots import grab_rgb, match_golden

pytestmark = pytest.mark.gui


@pytest.fixture
def synth() -> SyntheticClip:
    return make_synthetic(n=12, width=160, height=120, radius=25, seed=7)


def _doc(tmp_path: Path, clip: SyntheticClip) -> Document:
    plate = tmp_path / "plate"
    plate.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(plate / f"s.{1001 + i}.png"), frame[..., ::-1])
    return Document.open_media(plate / "s.####.png", tmp_path / "s.sam3roto")


def _two_objects(doc: Document, clip: SyntheticClip) -> np.ndarray:
    """A disc (object 1, active) and a band (object 2), with masks on every frame."""
    doc.add_object("disc")
    doc.add_object("band")
    for i in range(doc.frame_count):
        doc.store.put(1, i, clip.masks[i])
    band = np.zeros(clip.masks.shape[1:], bool)
    band[80:100, :] = True
    for i in range(doc.frame_count):
        doc.store.put(2, i, band)
    doc.set_active(1)
    return band


@pytest.fixture
def window(qtbot, tmp_path: Path, synth: SyntheticClip):
    doc = _doc(tmp_path, synth)
    win = MainWindow(doc)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    qtbot.wait(100)
    qtbot.keyClick(win, Qt.Key.Key_Escape)  # the keyboard to the viewer, as a person starts
    yield win
    win.player.stop()
    win.cancel_jobs()
    win.pools.wait()


def _has(pixels: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int(np.all(pixels == np.array(colour, np.uint8), axis=2).sum())


# -- compose: outlines at display resolution ------------------------------------------------------
def test_outline_is_two_display_pixels_wide_at_any_zoom() -> None:
    frame = np.full((40, 40, 3), 90, np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    red = (255, 0, 0)
    for scale in (1.0, 2.0, 3.0):
        size = round(40 * scale)
        view = visible_view(40, 40, scale, 0, 0, size, size)
        out = compose(frame, view, "overlay", masks=[(mask, red)], overlay_style="outline")
        row = out[size // 2]
        painted = np.flatnonzero(np.all(row == red, axis=1))
        edge_left, edge_right = round(10 * scale), round(30 * scale)
        assert painted.tolist() == [edge_left - 1, edge_left, edge_right - 1, edge_right], scale
        assert (out[size // 2, edge_left + 2: edge_right - 2] == 90).all()  # inside untouched: outline only
        both = compose(frame, view, "overlay", masks=[(mask, red)], overlay_style="both")
        inside = both[size // 2, size // 2].astype(int)
        assert np.abs(inside - [90 * 0.55 + 255 * 0.45, 90 * 0.55, 90 * 0.55]).max() <= 1  # the tint as before
        assert np.all(both[size // 2, edge_left] == red)
    fill = compose(frame, visible_view(40, 40, 1.0, 0, 0, 40, 40), "overlay", masks=[(mask, red)])
    assert _has(fill, red) == 0  # the default stays the flat tint
    with pytest.raises(ValueError, match="overlay style must be one of fill, outline, both"):
        compose(frame, visible_view(40, 40, 1.0, 0, 0, 40, 40), "overlay", overlay_style="dashed")


def test_a_4k_outline_is_computed_on_the_display_crop(monkeypatch: pytest.MonkeyPatch) -> None:
    from sam3roto.ui import compose as module

    frame = np.zeros((2160, 3840, 3), np.uint8)
    mask = np.zeros((2160, 3840), bool)
    mask[500:1500, 1000:3000] = True
    shapes: list[tuple[int, ...]] = []
    real = module.boundary
    monkeypatch.setattr(module, "boundary", lambda small, width=2: shapes.append(small.shape) or real(small, width))
    view = visible_view(3840, 2160, 1100 / 3840, 0, 0, 1100, 620)
    out = compose(frame, view, "overlay", masks=[(mask, (0, 255, 0))], overlay_style="outline",
                  onion=[(mask, ONION_NEXT)])
    assert out.shape[:2] == (view.height, view.width)
    assert shapes and all(s == (view.height, view.width) for s in shapes)


# -- keys, actions and the mode box ------------------------------------------------------------
def test_mode_keys_and_the_mode_box_stay_in_sync(qtbot, window) -> None:
    viewer, box, actions = window.viewer, window.mode, window.menu_actions
    keys = {Qt.Key.Key_1: "image", Qt.Key.Key_2: "overlay", Qt.Key.Key_3: "matte", Qt.Key.Key_4: "rgba",
            Qt.Key.Key_5: "edge", Qt.Key.Key_6: "depth", Qt.Key.Key_7: "normals"}
    for key, mode in keys.items():
        qtbot.keyClick(window, key)
        assert viewer.mode == mode and box.currentText() == mode and actions[f"view_{mode}"].isChecked()
    box.setCurrentText("rgba")  # the box drives the viewer and the menu's check
    assert viewer.mode == "rgba" and actions["view_rgba"].isChecked() and not actions["view_normals"].isChecked()
    actions["view_edge"].trigger()
    assert viewer.mode == "edge" and box.currentText() == "edge"
    assert box.findText("edge") == box.findText("rgba") + 1


def test_overlay_style_key_cycles_and_outlines_in_the_objects_colour(qtbot, window, synth) -> None:
    doc, viewer = window.doc, window.viewer
    _two_objects(doc, synth)
    qtbot.keyClick(window, Qt.Key.Key_2)
    colour = tuple(doc.project.object(1).color)
    filled = viewer.compose_now().copy()
    assert viewer.overlay_style == "fill" and _has(filled, colour) == 0
    styles = []
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_V)
        styles.append(viewer.overlay_style)
        assert viewer.overlay_style in window.menu_actions["overlay_style"].text()
    assert styles == ["outline", "both", "fill"]
    qtbot.keyClick(window, Qt.Key.Key_V)
    outlined = viewer.compose_now()
    assert _has(outlined, colour) > 100  # the disc's boundary, in its colour
    # inside the disc the plate shows untinted: the outline is no fill
    view = viewer._view
    cy, cx = np.argwhere(synth.masks[0]).mean(axis=0)
    y, x = round((cy - viewer.origin.y()) * viewer.scale) - view.top, round((cx - viewer.origin.x()) * viewer.scale) \
        - view.left
    window.menu_actions["view_image"].trigger()
    plate = viewer.compose_now()
    assert np.abs(outlined[y, x].astype(int) - plate[y, x].astype(int)).max() <= 2


def test_view_options_stay_for_the_next_shot(qtbot, window, tmp_path: Path) -> None:
    for key, mods in ((Qt.Key.Key_V, None), (Qt.Key.Key_N, None), (Qt.Key.Key_W, None),
                      (Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)):
        qtbot.keyClick(window, key, mods or Qt.KeyboardModifier.NoModifier)
    other = tmp_path / "other"
    other.mkdir()
    window.set_document(_doc(other, make_synthetic(n=2, width=64, height=48, radius=10, seed=3)))
    viewer = window.viewer
    assert (viewer.overlay_style, viewer.onion, viewer.wipe, viewer.matte_scope, viewer.hud) == \
        ("outline", True, True, "all", True)
    assert all(window.menu_actions[n].isChecked() for n in ("onion", "wipe", "matte_scope", "hud"))
    qtbot.keyClick(window, Qt.Key.Key_V)
    assert viewer.overlay_style == "both"


def test_matte_scope_active_or_all_and_a_cache_per_object(qtbot, window, synth, monkeypatch) -> None:
    import sam3roto.post as post

    doc, viewer = window.doc, window.viewer
    band = _two_objects(doc, synth)
    calls: list[int] = []
    real = post.apply
    monkeypatch.setattr(post, "apply", lambda *a, **k: calls.append(1) or real(*a, **k))
    qtbot.keyClick(window, Qt.Key.Key_3)
    view = viewer._view

    def at(y: float, x: float) -> int:
        row = round((y - viewer.origin.y()) * viewer.scale) - view.top
        col = round((x - viewer.origin.x()) * viewer.scale) - view.left
        return int(viewer.compose_now()[row, col, 0])

    assert viewer.matte_scope == "active"
    assert at(90, 5) == 0  # the band is not the active object
    qtbot.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    assert viewer.matte_scope == "all" and window.menu_actions["matte_scope"].isChecked()
    assert at(90, 5) == 255 and band[90, 5]
    cy, cx = np.argwhere(synth.masks[0]).mean(axis=0)
    assert at(cy, cx) == 255  # and the disc: the max of both
    assert set(viewer._matte_cache) == {1, 2}
    before = len(calls)
    for _ in range(2):  # back and forth: both mattes stay cached
        qtbot.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
        viewer.compose_now()
    assert len(calls) == before == 2
    doc.set_visible(2, False)  # a hidden object is not in "all"
    assert viewer.matte_scope == "all" and at(90, 5) == 0


def test_edge_view_draws_the_matte_boundary_over_the_plate(qtbot, window, synth) -> None:
    doc, viewer = window.doc, window.viewer
    _two_objects(doc, synth)
    qtbot.keyClick(window, Qt.Key.Key_5)
    assert viewer.mode == "edge" and window.mode.currentText() == "edge"
    edges = viewer.compose_now().copy()
    disc, band = tuple(doc.project.object(1).color), tuple(doc.project.object(2).color)
    assert _has(edges, disc) > 100 and _has(edges, band) == 0  # active only
    qtbot.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    both = viewer.compose_now()
    assert _has(both, disc) > 100 and _has(both, band) > 100
    qtbot.keyClick(window, Qt.Key.Key_1)
    plate = viewer.compose_now()
    untouched = np.all(both == plate, axis=2)
    assert 0.8 < untouched.mean() < 1.0  # the plate everywhere but the edges


def test_wipe_shows_the_plate_left_of_the_line_and_is_dragged_with_the_mouse(qtbot, window, synth) -> None:
    doc, viewer = window.doc, window.viewer
    _two_objects(doc, synth)
    qtbot.keyClick(window, Qt.Key.Key_3)  # matte on the right
    qtbot.keyClick(window, Qt.Key.Key_W)
    assert viewer.wipe and window.menu_actions["wipe"].isChecked() and viewer.wipe_x == 0.5
    shown = viewer.compose_now().copy()
    view = viewer._view
    column = viewer.wipe_column() - view.left
    viewer.set_wipe(False)
    matte = viewer.compose_now().copy()
    viewer.set_mode("image")
    plate = viewer.compose_now().copy()
    viewer.set_mode("matte")
    viewer.set_wipe(True)
    np.testing.assert_array_equal(shown[:, :column], plate[:, :column])
    np.testing.assert_array_equal(shown[:, column:], matte[:, column:])
    # drag the line to a quarter of the width: no prompt is placed
    y = viewer.height() // 2
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=QPoint(viewer.wipe_column() + 5, y))
    qtbot.mouseMove(viewer, QPoint(viewer.width() // 4, y))
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=QPoint(viewer.width() // 4, y))
    assert viewer.wipe_x == pytest.approx(0.25, abs=0.01)
    assert doc.prompts() == []
    moved = viewer.compose_now()
    column = viewer.wipe_column() - view.left
    np.testing.assert_array_equal(moved[:, :column], plate[:, :column])
    np.testing.assert_array_equal(moved[:, column:], matte[:, column:])
    # away from the line the prompt tools work as before
    qtbot.mouseClick(viewer, Qt.MouseButton.LeftButton, pos=QPoint(viewer.width() * 3 // 4, y))
    assert len(doc.prompts()) == 1
    # the wipe works over any mode
    for key in (Qt.Key.Key_2, Qt.Key.Key_4, Qt.Key.Key_5, Qt.Key.Key_6):
        qtbot.keyClick(window, key)
        pixels = viewer.compose_now()
        np.testing.assert_array_equal(pixels[:, :column], plate[:, :column])
    qtbot.keyClick(window, Qt.Key.Key_W)
    assert not viewer.wipe


def test_onion_skin_outlines_the_previous_and_next_frame(qtbot, window, synth) -> None:
    doc, viewer = window.doc, window.viewer
    _two_objects(doc, synth)
    qtbot.keyClick(window, Qt.Key.Key_1)
    qtbot.keyClick(window, Qt.Key.Key_N)
    assert viewer.onion and window.menu_actions["onion"].isChecked()
    first = viewer.compose_now()
    assert _has(first, ONION_PREVIOUS) == 0 and _has(first, ONION_NEXT) > 50  # no frame before the first
    qtbot.keyClick(window, Qt.Key.Key_Right)
    middle = viewer.compose_now()
    assert _has(middle, ONION_PREVIOUS) > 50 and _has(middle, ONION_NEXT) > 50
    qtbot.keyClick(window, Qt.Key.Key_N)
    assert not viewer.onion and _has(viewer.compose_now(), ONION_PREVIOUS) == 0


# -- heads-up display and looped playback -------------------------------------------------------
def test_heads_up_display_frame_number_timecode_fps_and_loop(qtbot, window) -> None:
    viewer = window.viewer
    assert viewer.hud and viewer.hud_text() == "1001  00:00:00:00  24 fps"
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert viewer.hud_text() == "1012  00:00:00:11  24 fps"
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.loop and viewer.hud_text().endswith("24 fps  loop")
    shown = grab_rgb(viewer)
    qtbot.keyClick(window, Qt.Key.Key_H)
    assert not viewer.hud and window.menu_actions["hud"].isChecked() is False
    bare = grab_rgb(viewer)
    corner = (slice(viewer.height() - 30, viewer.height()), slice(0, 120))
    assert not np.array_equal(shown[corner], bare[corner])  # the box and text are painted bottom left
    assert np.array_equal(shown[:100], bare[:100])


def test_heads_up_display_reads_a_movie_start_timecode(qtbot, tmp_path: Path, synth) -> None:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg",
                                         reason="imageio-ffmpeg is not installed (requirements-dev.txt)")
    movie = tmp_path / "tc.mov"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=24000/1001", "-frames:v", "30", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-timecode", "01:00:00:00", str(movie)], check=True, timeout=60)
    win = MainWindow(Document.open_media(movie, tmp_path / "tc.sam3roto"))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(win.isActiveWindow)
    assert win.doc.source.info.fps == Fraction(24000, 1001)
    assert win.viewer.hud_text() == "0  01:00:00:00  23.976 fps"
    qtbot.keyClick(win, Qt.Key.Key_End)
    assert win.viewer.hud_text() == "29  01:00:01:05  23.976 fps"


def test_looped_playback_wraps_between_in_and_out(qtbot, window) -> None:
    doc = window.doc
    doc.set_frame(3)
    qtbot.keyClick(window, Qt.Key.Key_I)
    doc.set_frame(6)
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert doc.project.shot.frame_range == range(3, 7)
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.loop and window.menu_actions["loop"].isChecked()
    seen: list[int] = []
    doc.frameChanged.connect(seen.append)
    qtbot.keyClick(window, Qt.Key.Key_L)
    qtbot.waitUntil(lambda: seen.count(3) >= 2, timeout=10000)
    qtbot.keyClick(window, Qt.Key.Key_K)
    assert set(seen) <= {3, 4, 5, 6} and (6, 3) in set(pairwise(seen))
    seen.clear()
    qtbot.keyClick(window, Qt.Key.Key_J)  # backward: from in to out
    qtbot.waitUntil(lambda: seen.count(6) >= 2, timeout=10000)
    qtbot.keyClick(window, Qt.Key.Key_K)
    assert set(seen) <= {3, 4, 5, 6} and (3, 6) in set(pairwise(seen))
    # from outside the range playback jumps in
    doc.set_frame(10)
    seen.clear()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=10000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert seen[0] == 3 and set(seen) <= {3, 4, 5, 6}
    # without the loop, playback runs to the clip's end and stops
    window.menu_actions["loop"].trigger()
    assert not window.loop and not window.viewer.hud_text().endswith("loop")
    doc.set_frame(8)
    qtbot.keyClick(window, Qt.Key.Key_L)
    qtbot.waitUntil(lambda: window.shuttle == 0, timeout=10000)
    assert doc.frame == 11


# -- focus: a focused field keeps the frame keys ------------------------------------------------
def test_a_focused_slider_spin_box_or_text_field_keeps_the_frame_keys(qtbot, window) -> None:
    from sam3roto.ui.controls import SliderField, SpinBox

    doc, viewer = window.doc, window.viewer
    panel = QWidget()
    layout = QVBoxLayout(panel)
    field, spin, text = SliderField(0, 20), SpinBox(), QLineEdit()  # the panels' controls, and a text field
    slider = field.slider
    spin.setRange(0, 20)
    for widget in (field, spin, text):
        layout.addWidget(widget)
    dock = QDockWidget("Test", window)
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    qtbot.wait(50)
    slider.setFocus()
    qtbot.waitUntil(slider.hasFocus)
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert slider.value() == 1 and doc.frame == 0
    qtbot.keyClick(slider, Qt.Key.Key_End)
    assert slider.value() == 20 and doc.frame == 0
    qtbot.keyClick(slider, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert doc.frame == 0 and slider.value() == 10  # Shift+Left moved the slider (ten steps)
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert slider.value() == 11
    slider.setValue(19)
    # Esc gives the keys back to the viewer
    qtbot.keyClick(slider, Qt.Key.Key_Escape)
    assert viewer.hasFocus() and QApplication.focusWidget() is viewer
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert doc.frame == 1 and slider.value() == 19
    # a spin box: the arrows edit it (Up/Down the value, Left/Right the text cursor)
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    qtbot.keyClick(spin, Qt.Key.Key_Up)
    qtbot.keyClick(spin, Qt.Key.Key_Right)
    qtbot.keyClick(spin, Qt.Key.Key_Home)
    assert spin.value() == 1 and doc.frame == 1
    # a text field: the view keys type
    text.setFocus()
    qtbot.waitUntil(text.hasFocus)
    qtbot.keyClicks(text, "5 [v]")
    assert text.text() == "5 [v]" and viewer.mode == "overlay" and doc.frame == 1 and window.shuttle == 0
    qtbot.keyClick(text, Qt.Key.Key_Escape)
    assert viewer.hasFocus()
    qtbot.keyClick(viewer, Qt.Key.Key_5)
    assert viewer.mode == "edge"


# -- pixel snapshots ----------------------------------------------------------------------------
def _snapshot_viewer(qtbot, tmp_path: Path) -> Viewer:
    clip = make_synthetic(n=3, width=160, height=120, radius=25, seed=7)
    doc = _doc(tmp_path, clip)
    _two_objects(doc, clip)
    doc.set_frame(1)
    viewer = Viewer(doc)  # on its own, at a fixed size: the snapshot does not depend on the window's layout
    qtbot.addWidget(viewer)
    viewer.setFixedSize(480, 360)
    viewer.show()
    qtbot.waitExposed(viewer)
    viewer.fit()
    return viewer


def test_viewer_pixel_snapshot_outline_with_onion_skin(qtbot, tmp_path: Path) -> None:
    """Regenerate the golden image with SAM3ROTO_REGEN_GOLDEN=1 (it is written from this test)."""
    viewer = _snapshot_viewer(qtbot, tmp_path)
    viewer.set_overlay_style("outline")
    viewer.set_onion(True)
    shot = grab_rgb(viewer)
    match_golden("viewer_outline.png", shot)
    colour = tuple(viewer.doc.project.object(1).color)
    assert _has(shot, colour) > 200 and _has(shot, ONION_PREVIOUS) > 50 and _has(shot, ONION_NEXT) > 50


def test_viewer_pixel_snapshot_wipe(qtbot, tmp_path: Path) -> None:
    """Regenerate the golden image with SAM3ROTO_REGEN_GOLDEN=1 (it is written from this test)."""
    viewer = _snapshot_viewer(qtbot, tmp_path)
    viewer.set_mode("matte")
    viewer.set_matte_scope("all")
    viewer.set_wipe(True)
    viewer.set_wipe_x(0.4)
    shot = grab_rgb(viewer)
    match_golden("viewer_wipe.png", shot)
    x, middle = viewer.wipe_column(), viewer.height() // 2
    line = np.concatenate([shot[: middle - 24, x], shot[middle + 24:, x]])
    assert (line > 200).all()  # the line: white over the plate and the matte (the handle aside)
    band_row = round((90 - viewer.origin.y()) * viewer.scale)
    assert (shot[band_row, x + 20: x + 100] == 255).all()  # right: the band's matte, white
    assert np.abs(shot[band_row, 20:100].astype(int) - 255).max() > 30  # left: the plate

"""View > Colour in the window: EXR plates shown through OpenColorIO's display and view
(exactly OCIO's pixels), the view and display picked from the menus, the input colour
space chosen in its dialog by typing, kept by Save; sRGB plates shown as they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PyOpenColorIO as ocio
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialogButtonBox

from sam3roto.core.pixels import to_uint8
from sam3roto.core.project_io import load_project
from sam3roto.media.colour import BUILTIN_CONFIG
from sam3roto.ui.colour import InputColourDialog
from sam3roto.ui.document import Document
from sam3roto.ui.main_window import MainWindow
from tests.media.test_colour import write_exr_plates

pytestmark = pytest.mark.gui


@pytest.fixture
def exr_window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    pattern, _ = write_exr_plates(tmp_path / "plates", count=2)
    doc = Document.open_media(pattern, tmp_path / "swan.sam3roto")
    win = MainWindow(doc)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    qtbot.wait(100)
    yield win
    win.cancel_jobs()
    win.pools.wait()
    QSettings("sam3roto", "sam3roto").remove("viewer")  # the next tests' windows start with the defaults


def _ocio_display(plate: np.ndarray, src: str, display: str, view: str) -> np.ndarray:
    config = ocio.Config.CreateFromFile(BUILTIN_CONFIG)
    out = np.ascontiguousarray(plate, np.float32).copy()
    transform = ocio.DisplayViewTransform(src=src, display=display, view=view)
    config.getProcessor(transform).getDefaultCPUProcessor().applyRGB(out)
    return to_uint8(np.clip(out, 0, 1))


def _close(shown: np.ndarray, expected: np.ndarray) -> None:
    """The viewer's pixels are OCIO's: within 4 code values (its transform is baked into a
    3D LUT for speed), 0.2 on average."""
    diff = np.abs(shown.astype(int) - expected.astype(int))
    assert diff.max() <= 4 and diff.mean() < 0.2, (diff.max(), diff.mean())


def _shown_1to1(win: MainWindow) -> np.ndarray:
    """The viewer's pixels at 1:1 from the frame's top-left corner."""
    viewer = win.viewer
    viewer.one_to_one()
    viewer.origin.setX(0)
    viewer.origin.setY(0)
    return viewer.compose_now()


def _action(menu, starts: str):  # type: ignore[no-untyped-def]
    menu.aboutToShow.emit()  # what opening the menu does: it is rebuilt from the config
    for action in menu.actions():
        if action.text().startswith(starts):
            return action
    raise AssertionError(f"no action {starts!r} in {[a.text() for a in menu.actions()]}")


def test_exr_plates_are_shown_through_ocio_and_the_view_menu_changes_it(qtbot, exr_window) -> None:  # type: ignore[no-untyped-def]
    win = exr_window
    win.viewer.set_mode("image")
    doc = win.doc
    assert doc.input_colorspace() == "ACEScg"
    plate = doc.plate()
    display = "sRGB - Display"
    default_view = str(ocio.Config.CreateFromFile(BUILTIN_CONFIG).getDefaultView(display))
    shown = _shown_1to1(win)
    h, w = shown.shape[:2]
    _close(shown, _ocio_display(plate[:h, :w], "ACEScg", display, default_view))
    # View > Colour > View transform > Un-tone-mapped, as a person picks it
    _action(win.colour_menu.view_menu, "Un-tone-mapped").trigger()
    assert win.viewer.view_name == "Un-tone-mapped"
    plain = _shown_1to1(win)
    h, w = plain.shape[:2]  # (the status message may have moved the layout by a pixel)
    _close(plain, _ocio_display(plate[:h, :w], "ACEScg", display, "Un-tone-mapped"))
    k = min(shown.shape[1], w)
    assert np.abs(plain[:, :k].astype(int) - shown[:h, :k].astype(int)).mean() > 1  # the tone mapping showed
    assert "Un-tone-mapped" in win.statusBar().currentMessage()
    # another display, then back to the automatic view
    _action(win.colour_menu.display_menu, "Display P3 - Display").trigger()
    assert win.viewer.display_name == "Display P3 - Display"
    _action(win.colour_menu.view_menu, "Automatic").trigger()
    assert win.viewer.view_name is None
    auto = _shown_1to1(win)
    h, w = auto.shape[:2]
    p3_view = str(ocio.Config.CreateFromFile(BUILTIN_CONFIG).getDefaultView("Display P3 - Display"))
    _close(auto, _ocio_display(plate[:h, :w], "ACEScg", "Display P3 - Display", p3_view))


def test_the_input_colour_space_is_chosen_by_typing_and_saved(qtbot, exr_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    win = exr_window
    win.viewer.set_mode("image")
    before = _shown_1to1(win).copy()
    analysis_before = win.doc.image().copy()
    assert _action(win.colour_menu.menu, "Plates in ACEScg; shown on sRGB - Display / ").isEnabled() is False
    _action(win.colour_menu.menu, "Input colour space...").trigger()
    dialog = win.findChild(InputColourDialog)
    assert dialog is not None and dialog.isVisible()
    line = dialog.combo.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, "Linear Rec.709 (sRGB)")
    qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    assert win.doc.input_colorspace() == "Linear Rec.709 (sRGB)"
    assert win.doc.project.shot.input_colorspace == "Linear Rec.709 (sRGB)" and win.doc.dirty
    assert not np.array_equal(_shown_1to1(win), before)
    assert not np.array_equal(win.doc.image(), analysis_before)  # the models see the new conversion
    assert "Linear Rec.709" in win.statusBar().currentMessage()
    win.menu_actions["save"].trigger()
    assert load_project(tmp_path / "swan.sam3roto").shot.input_colorspace == "Linear Rec.709 (sRGB)"


def test_an_unknown_input_colour_space_is_said_in_the_dialog_and_changes_nothing(qtbot, exr_window) -> None:  # type: ignore[no-untyped-def]
    win = exr_window
    win.colour_menu.input_action.trigger()
    dialog = win.findChild(InputColourDialog)
    line = dialog.combo.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, "Kodak 2383")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert dialog.isVisible() and "has no colour space 'Kodak 2383'" in dialog.problem.text()
    assert win.doc.input_colorspace() == "ACEScg"
    line.selectAll()
    qtbot.keyClicks(line, "linear")  # several match: say so, keep the dialog
    dialog.accept()
    assert dialog.isVisible() and "colour spaces contain 'linear'" in dialog.problem.text()
    line.selectAll()
    qtbot.keyClicks(line, "acescct")  # one matches, case aside: taken
    dialog.accept()
    assert not dialog.isVisible() and win.doc.input_colorspace() == "ACEScct"


def test_srgb_plates_are_shown_as_they_are(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import cv2

    from tests.backends.test_classic import moving_object_clip

    clip = moving_object_clip(n=3)
    plate = tmp_path / "plate"
    plate.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(plate / f"plate.{1001 + i}.png"), frame[..., ::-1])
    win = MainWindow(Document.open_media(plate / "plate.####.png", tmp_path / "shot.sam3roto"))
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    qtbot.waitExposed(win)
    win.viewer.set_mode("image")
    _action(win.colour_menu.display_menu, "sRGB - Display").trigger()  # (another test kept Display P3)
    _action(win.colour_menu.view_menu, "Automatic").trigger()
    assert win.viewer.display_transform() is None  # sRGB through the plain view: nothing to convert
    shown = _shown_1to1(win)
    h, w = shown.shape[:2]
    np.testing.assert_array_equal(shown, clip.frames[0][:h, :w])
    win.cancel_jobs()
    win.pools.wait()


def test_undo_keeps_the_input_colour_space(qtbot, exr_window) -> None:  # type: ignore[no-untyped-def]
    win = exr_window
    doc = win.doc
    doc.add_object("swan")
    doc.set_input_colorspace("ACEScct")
    win.menu_actions["undo"].trigger()
    assert not doc.project.objects and doc.input_colorspace() == "ACEScct"
    win.menu_actions["redo"].trigger()
    assert doc.project.objects and doc.input_colorspace() == "ACEScct"


def test_a_project_from_another_config_opens_with_the_guess_and_says_so(qtbot, exr_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    win = exr_window
    win.menu_actions["save"].trigger()
    path = tmp_path / "swan.sam3roto"
    data = json.loads(path.read_text())
    data["shot"]["input_colorspace"] = "Kodak 2383"
    path.write_text(json.dumps(data))
    assert win.open_project(path)
    assert win.doc.input_colorspace() == "ACEScg" and win.doc.dirty
    message = win.statusBar().currentMessage()
    assert "'Kodak 2383' is not in the OpenColorIO config" in message and "read as ACEScg" in message


def test_the_rgba_view_shows_cleaned_up_rgb_as_the_plate_is_shown(qtbot, exr_window) -> None:  # type: ignore[no-untyped-def]
    win = exr_window
    doc = win.doc
    doc.add_object("swan")
    obj = doc.project.objects[0]
    mask = np.zeros((480, 854), bool)
    mask[100:400, 100:700] = True
    doc.store.put(obj.id, doc.frame, mask)
    doc.set_post(obj.id, {"premultiply": True})
    doc.masksChanged.emit()
    win.viewer.set_mode("image")
    plate = _shown_1to1(win).copy()
    win.viewer.set_mode("rgba")
    rgba = _shown_1to1(win)
    h, w = min(plate.shape[0], rgba.shape[0]), min(plate.shape[1], rgba.shape[1])
    inside = mask[:h, :w].copy()
    inside[:101, :] = inside[:, :101] = False  # away from the edge (resampling)
    diff = np.abs(rgba[:h, :w].astype(int) - plate[:h, :w].astype(int))[inside]
    assert diff.max() <= 1

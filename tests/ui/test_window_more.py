"""The window, continued: the install dialog streaming a script's output, depth from the
Depth/Camera tab, a pixel snapshot of the viewer, and a real clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed (requirements-dev.txt)")

from PySide6.QtCore import Qt

from sam3roto.core.evaluation import jaccard, prompts_from_mask
from sam3roto.core.types import PointPrompt
from sam3roto.ui.document import Document
from sam3roto.ui.main_window import MainWindow
from sam3roto.ui.panels import ExportTab
from sam3roto.ui.viewer import Viewer
from tests.conftest import make_synthetic
from tests.test_cli_depth import weights  # noqa: F401  (module fixture: a random da3-small folder)
from tests.ui.dialogs import Answers
from tests.ui.snapshots import grab_rgb, match_golden
from tests.ui.test_window import wait_jobs

pytestmark = pytest.mark.gui


def _window(qtbot, doc: Document, size: tuple[int, int] = (1200, 800)) -> MainWindow:
    win = MainWindow(doc)
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    qtbot.wait(100)
    return win


def test_install_dialog_streams_the_script_output_line_by_line(qtbot, tmp_path: Path) -> None:
    from sam3roto.ui.settings import SettingsDialog, tool_status

    script = tmp_path / "fake_install.sh"
    script.write_text("#!/usr/bin/env bash\nfor i in 1 2 3; do echo \"[install] step $i $*\"; sleep 0.2; done\n"
                      "echo '[install] error: to stderr' >&2\nexit 3\n")
    dialog = SettingsDialog(script=script)
    qtbot.addWidget(dialog)
    assert set(tool_status()) == set(dialog.status_labels)
    seen: list[int] = []
    dialog.log.textChanged.connect(lambda: seen.append(dialog.log.blockCount()))
    with qtbot.waitSignal(dialog.installFinished, timeout=20000) as finished:
        dialog.start_install()
        assert not dialog.install.isEnabled()
    assert finished.args == [3]
    lines = dialog.log.toPlainText().splitlines()
    assert lines[:3] == [f"[install] step {i} --sam3-id facebook/sam3 --da3-id depth-anything/DA3-SMALL"
                         for i in (1, 2, 3)]
    assert "[install] error: to stderr" in lines and lines[-1] == "-- finished with exit code 3"
    assert len(set(seen)) >= 3  # lines arrived while the script ran, not all at the end
    assert dialog.install.isEnabled()


def test_depth_tab_runs_depth_and_the_viewer_shows_it(qtbot, tmp_path: Path, weights: Path,  # noqa: F811
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("depth_anything_3", reason="depth-anything-3 is not installed (see install_models.sh)")
    monkeypatch.setenv("SAM3ROTO_DTYPE", "float32")
    clip = make_synthetic(n=5, width=128, height=96)
    plate = tmp_path / "plate"
    plate.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(plate / f"p.{i + 1}.png"), frame[..., ::-1])
    win = _window(qtbot, Document.open_media(plate / "p.#.png", tmp_path / "d.sam3roto"))
    tab = win.depth_tab
    tab.model_dir.setText(str(weights))
    tab.process_res.setValue(56)
    tab.chunk.setValue(3)
    tab.overlap.setValue(1)
    tab.requested.emit()
    wait_jobs(qtbot, win)
    assert "Depth for 5 frames (small, relative, cameras)" in tab.status.text()
    assert win.viewer.mode == "depth"
    depth_view = win.viewer.compose_now()
    win.mode.setCurrentText("image")
    assert not np.array_equal(depth_view, win.viewer.compose_now())
    win.export_tab.checks["png-alpha"].setChecked(False)
    win.export_tab.checks["depth-exr"].setChecked(True)
    win.export_tab.requested.emit()
    wait_jobs(qtbot, win)
    assert len(list((tmp_path / "renders" / "v001" / "depth").glob("*.exr"))) == 5


def test_viewer_pixel_snapshot_with_overlays(qtbot, tmp_path: Path) -> None:
    """Regenerate the golden image with SAM3ROTO_REGEN_GOLDEN=1 (it is written from this test)."""
    clip = make_synthetic(n=2, width=160, height=120, radius=25, seed=7)
    plate = tmp_path / "plate"
    plate.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(plate / f"s.{i + 1}.png"), frame[..., ::-1])
    doc = Document.open_media(plate / "s.#.png", tmp_path / "s.sam3roto")
    doc.add_object("disc")
    doc.add_object("band")
    doc.store.put(1, 0, clip.masks[0])
    band = np.zeros((120, 160), bool)
    band[80:100, :] = True
    doc.store.put(2, 0, band)
    doc.set_active(1)
    doc.set_prompts([p for p in prompts_from_mask(clip.masks[0]) if isinstance(p, PointPrompt)][:3])
    viewer = Viewer(doc)  # on its own, at a fixed size: the snapshot does not depend on the window's layout
    qtbot.addWidget(viewer)
    viewer.setFixedSize(480, 360)
    viewer.show()
    qtbot.waitExposed(viewer)
    viewer.fit()
    shot = grab_rgb(viewer)
    match_golden("viewer_overlay.png", shot)
    # and the overlays are there: the band's rows are tinted by its colour, the rows above are not
    colour = np.array(doc.project.object(2).color, np.float32)
    scale, origin = viewer.scale, viewer.origin
    inside = shot[int((90 - origin.y()) * scale), int((80 - origin.x()) * scale)].astype(np.float32)
    frame_px = clip.frames[0][90, 80].astype(np.float32)
    np.testing.assert_allclose(inside, frame_px * 0.55 + colour * 0.45, atol=6)


def test_real_clip_segment_and_track(qtbot, shared_data: Path, tmp_path: Path) -> None:
    clip = shared_data / "davis2016" / "JPEGImages" / "480p" / "blackswan"
    truth = shared_data / "davis2016" / "Annotations" / "480p" / "blackswan"
    gt = [cv2.imread(str(truth / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127 for i in range(6)]
    doc = Document.open_media(clip, tmp_path / "swan.sam3roto")
    win = _window(qtbot, doc)
    assert doc.frame_count == 50 and doc.source.info.width == 854
    doc.add_object("swan")
    doc.set_prompts(prompts_from_mask(gt[0]))
    doc.project.shot.out_index = 5
    win.segment_frame()
    wait_jobs(qtbot, win)
    win.track("forward")
    wait_jobs(qtbot, win)
    obj = doc.active()
    assert doc.store.frames(obj.id) == list(range(6))
    # wiring, not engine quality (bench/davis_eval.py scores the engine): clearly the swan
    assert np.mean([jaccard(doc.store.get(obj.id, i), gt[i]) for i in range(1, 6)]) > 0.6
    win.save()
    assert (tmp_path / "swan.sam3roto").is_file() and not doc.dirty


def _saved_plate_project(tmp_path: Path, name: str, frames: np.ndarray) -> Document:
    """A PNG plate ``name.1.png``... and a saved project on it, ``name.sam3roto``."""
    plate = tmp_path / "plate"
    plate.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(plate / f"{name}.{i + 1}.png"), frame[..., ::-1])
    doc = Document.open_media(plate / f"{name}.#.png", tmp_path / f"{name}.sam3roto")
    doc.save()
    return doc


def test_export_tab_combines_the_checked_objects_in_order_by_the_chosen_operation(qtbot, tmp_path: Path) -> None:
    clip = make_synthetic(n=2, width=160, height=120, radius=25, seed=7)
    doc = _saved_plate_project(tmp_path, "c", clip.frames)
    for name in ("disc", "band", "spare"):
        doc.add_object(name)
    band = np.zeros((120, 160), bool)
    band[50:70, :] = True
    for i in range(2):
        doc.store.put(1, i, clip.masks[i])
        doc.store.put(2, i, band)
    win = _window(qtbot, doc)
    tab = win.export_tab
    listed = tab.combine_list
    assert [listed.item(i).text() for i in range(listed.count())] == ["1: disc", "2: band", "3: spare"]
    assert tab.combine() is None  # nothing checked: the rendered objects, as before
    # the artist checks band and disc, drags band above disc, and picks difference
    for row in (0, 1):
        listed.item(row).setCheckState(Qt.CheckState.Checked)
    listed.insertItem(0, listed.takeItem(1))
    tab.combine_op.setCurrentText("difference")
    assert tab.combine() == (2, 1)
    # renaming, adding and removing objects keeps the order and the check marks
    doc.rename_object(2, "road")
    doc.add_object("late")
    doc.remove_object(3)
    assert [listed.item(i).text() for i in range(listed.count())] == ["2: road", "1: disc", "4: late"]
    assert tab.combine() == (2, 1)
    for exporter_id, box in tab.checks.items():
        box.setChecked(exporter_id == "png-combined")
    answers = Answers("Render anyway")  # "late" has no masks: the window asks first
    tab.requested.emit()
    answers.stop()
    assert answers.done() and "late: 1-2" in answers.asked[0]
    wait_jobs(qtbot, win)
    combined = cv2.imread(str(tmp_path / "renders" / "v001" / "combined" / "c_combined.0001.png"),
                          cv2.IMREAD_UNCHANGED)
    assert combined is not None
    want = band & ~clip.masks[0]  # the road minus the disc
    assert want.any() and (want != band).any()
    np.testing.assert_array_equal(combined, want * 255)
    # the choices are kept in the project: a command-line (or farm) render of the saved
    # project makes the same output, and the tab opens with them
    saved = doc.project.settings["render"]
    assert saved["outputs"] == ["png-combined"] and saved["combine"] == [2, 1] and saved["combine_op"] == "difference"
    assert doc.dirty
    doc.save()
    from sam3roto.cli import main

    assert main(["render", str(doc.path), "--quiet"]) == 0
    again = cv2.imread(str(tmp_path / "renders" / "v002" / "combined" / "c_combined.0001.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(again, combined)
    assert sorted(p.name for p in (tmp_path / "renders" / "v002").iterdir()) == ["combined", "manifest.json"]
    reopened = ExportTab(Document.open_project(doc.path))
    qtbot.addWidget(reopened)
    assert reopened.outputs() == ("png-combined",) and reopened.combine() == (2, 1)
    assert reopened.combine_op.currentText() == "difference"
    reopened.doc.close()


def test_a_render_with_broken_project_render_settings_says_so_and_writes_nothing(qtbot, tmp_path: Path) -> None:
    doc = _saved_plate_project(tmp_path, "b", make_synthetic(n=2, width=64, height=48, radius=10, seed=1).frames)
    doc.add_object("disc")
    doc.project.settings["render"] = {"zip_mode": "bogus"}
    win = _window(qtbot, doc)
    win.export_tab.requested.emit()
    assert "the project's render settings: zip_mode must be one of" in win.statusBar().currentMessage()
    assert not (tmp_path / "renders").exists()

"""The Export tab with real widgets: a control for every option of the render table, the
choices kept in the project as they change, the output folder, the objects checklist, and
the warning before rendering objects that have no masks on some frames."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed (requirements-dev.txt)")

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGroupBox,
    QLineEdit,
    QListWidget,
    QScrollArea,
    QSpinBox,
)

from sam3roto.cli import main
from sam3roto.pipeline.render_table import RENDER_SETTINGS, window_settings
from sam3roto.ui.document import Document
from sam3roto.ui.main_window import MainWindow
from sam3roto.ui.panels import ExportTab
from tests.conftest import make_synthetic
from tests.ui.dialogs import Answers
from tests.ui.test_window import wait_jobs

pytestmark = pytest.mark.gui

N = 6


@pytest.fixture
def clip():
    return make_synthetic(n=N, width=160, height=120, radius=25, seed=5)


@pytest.fixture
def window(qtbot, tmp_path: Path, clip):
    """A saved project on frames 1001-1006 with "disc" tracked on every frame."""
    plate = tmp_path / "plate"
    plate.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(plate / f"plate.{1001 + i}.png"), frame[..., ::-1])
    doc = Document.open_media(plate / "plate.####.png", tmp_path / "shot.sam3roto")
    doc.add_object("disc")
    for i in range(N):
        doc.store.put(1, i, clip.masks[i])
    win = MainWindow(doc)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    win.tabs.setCurrentWidget(win.export_tab)
    qtbot.wait(50)
    yield win
    win.cancel_jobs()
    win.pools.wait()


def click(qtbot, widget) -> None:
    """A click near the left of ``widget`` (a check box's box), scrolled into view first
    (the tab's groups scroll in the narrow panel)."""
    area = widget.parent()
    while area is not None and not isinstance(area, QScrollArea):
        area = area.parent()
    if area is not None:
        area.ensureWidgetVisible(widget)
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=QPoint(8, widget.height() // 2))


def choose(qtbot, combo: QComboBox, text: str) -> None:
    """Pick ``text`` as a person does with the keyboard: focus the menu, Home, then Down
    until it shows."""
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Home)
    for _ in range(combo.count()):
        if combo.currentText() == text:
            break
        qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText() == text


def type_in(qtbot, field: QLineEdit | QSpinBox, text: str) -> None:
    """Type ``text`` over what the field shows, then Return."""
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def render(qtbot, win: MainWindow, *answers: str) -> Answers:
    """Press Render, answering the questions it asks with ``answers``."""
    asked = Answers(*answers)
    click(qtbot, win.export_tab.render_button)
    asked.stop()
    wait_jobs(qtbot, win)
    return asked


def test_every_window_entry_of_the_table_has_a_control_in_its_group(qtbot, window) -> None:
    from sam3roto.media.colour import load_config

    tab = window.export_tab
    shown = {s.name for s in window_settings()}
    assert set(tab.widgets) == shown and "part" not in tab.widgets
    assert shown == {s.name for s in RENDER_SETTINGS} - {"part"}
    for setting in window_settings():
        widget = tab.widgets[setting.name]
        group = widget.parent()
        while not isinstance(group, QGroupBox):
            group = group.parent()
        assert group.title().replace("&&", "&") == setting.group, setting.name
        assert widget.toolTip().startswith(setting.tooltip), setting.name
        if setting.kind == "choice":
            assert isinstance(widget, QComboBox)
            assert [widget.itemText(i) for i in range(widget.count())] == [str(c) for c in setting.choices]
            assert widget.currentText() == str(setting.default)
        elif setting.kind == "colorspace":
            assert isinstance(widget, QComboBox)
            items = [widget.itemText(i) for i in range(widget.count())]
            assert items == [ExportTab.AUTOMATIC_SPACE, *load_config().names()]
        elif setting.kind == "int":
            assert isinstance(widget, QSpinBox)
            low = max(int(setting.minimum), -(2**31) + 1) - (1 if setting.optional else 0)
            assert (widget.minimum(), widget.maximum()) == (low, min(int(setting.maximum), 2**31 - 1))
        elif setting.kind == "float":
            assert isinstance(widget, QDoubleSpinBox)
        elif setting.kind == "bool":
            assert isinstance(widget, QCheckBox) and widget.text() == setting.label
        elif setting.kind in ("text", "frames"):
            assert isinstance(widget, QLineEdit)
        elif setting.kind == "objects":
            assert isinstance(widget, QListWidget) and widget.item(0).text() == "1: disc"
        else:
            assert tuple(tab.checks) == setting.choices
    assert tab.choices() == {s.name: (list(s.default) if isinstance(s.default, tuple) else s.default)
                             for s in window_settings()}


def test_exr_zip_and_folder_choices_render_into_the_chosen_folder(qtbot, window, tmp_path: Path,
                                                                   monkeypatch) -> None:
    tab, doc = window.export_tab, window.doc
    click(qtbot, tab.checks["exr"])
    click(qtbot, tab.checks["mask-zip"])
    click(qtbot, tab.checks["png-alpha"])  # off
    assert tab.outputs() == ("exr", "mask-zip")
    choose(qtbot, tab.widgets["exr_compression"], "piz")
    choose(qtbot, tab.widgets["zip_mode"], "per_label")
    click(qtbot, tab.widgets["exr_rgb"])
    # every change is in the project's render settings at once
    saved = doc.project.settings["render"]
    assert saved["exr_compression"] == "piz" and saved["zip_mode"] == "per_label" and saved["exr_rgb"] is True
    assert saved["outputs"] == ["exr", "mask-zip"] and doc.dirty
    # the output folder: typed inside the project's folder (kept relative), then chosen outside it
    type_in(qtbot, tab.folder, str(tmp_path / "out" / "comp"))
    assert doc.project.settings["render_folder"] == "out/comp" and tab.folder.text() == "out/comp"
    assert "render" not in doc.project.settings["render"]  # not a RenderOptions field
    assert tab.version.text() == f"v001 in {(tmp_path / 'out' / 'comp').resolve()}"
    elsewhere = tmp_path.parent / f"{tmp_path.name}_elsewhere"
    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda parent, title, start: (asked.append(title), str(elsewhere))[1]))
    click(qtbot, tab.choose_folder)
    assert asked == ["Render folder"] and doc.project.settings["render_folder"] == str(elsewhere.resolve())
    assert str(elsewhere.resolve()) in tab.version.text()
    render(qtbot, window)
    version = elsewhere / "v001"
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["options"]["exr_compression"] == "piz" and manifest["options"]["zip_mode"] == "per_label"
    assert manifest["options"]["exr_rgb"] is True and manifest["options"]["outputs"] == ["exr", "mask-zip"]
    assert (version / "plate_masks.zip").is_file() and len(list((version / "exr").glob("*.exr"))) == N
    assert not (tmp_path / "renders").exists()
    assert "v002" in tab.version.text()
    # a save keeps the choices and the folder; the tab reopens with them
    doc.save()
    reopened = ExportTab(Document.open_project(doc.path))
    qtbot.addWidget(reopened)
    assert reopened.widgets["exr_compression"].currentText() == "piz"
    assert reopened.widgets["zip_mode"].currentText() == "per_label" and reopened.widgets["exr_rgb"].isChecked()
    assert reopened.outputs() == ("exr", "mask-zip") and reopened.folder.text() == str(elsewhere.resolve())
    reopened.doc.close()


def test_an_object_keyed_on_one_frame_only_is_warned_about_and_cancel_renders_nothing(qtbot, window, clip,
                                                                                      tmp_path: Path) -> None:
    doc, tab = window.doc, window.export_tab
    doc.add_object("hand")
    doc.set_frame(2)
    doc.use_key_mask(clip.masks[2])  # keyed on frame 1003 and never tracked
    assert [o.name for o in doc.project.objects] == ["disc", "hand"] and doc.store.frames(2) == [2]
    asked = render(qtbot, window, "Cancel")
    assert asked.done() and "hand: 1001-1002, 1004-1006" in asked.asked[0]
    assert "disc" not in asked.asked[0]  # tracked everywhere
    assert not (tmp_path / "renders").exists()
    asked = render(qtbot, window, "Render anyway")
    assert asked.done()
    manifest = json.loads((tmp_path / "renders" / "v001" / "manifest.json").read_text())
    assert manifest["untracked_frames"] == {"hand": [[1001, 1002], [1004, 1006]]}
    # choosing only the tracked object in the objects checklist: nothing to ask
    objects = tab.objects_list
    objects.item(0).setCheckState(Qt.CheckState.Checked)
    assert tab.objects() == (1,) and doc.project.settings["render"]["objects"] == [1]
    asked = render(qtbot, window)
    assert asked.asked == []
    manifest = json.loads((tmp_path / "renders" / "v002" / "manifest.json").read_text())
    assert [o["name"] for o in manifest["objects"]] == ["disc"] and manifest["untracked_frames"] == {}


def test_frames_start_frame_and_version_fields(qtbot, window, tmp_path: Path) -> None:
    doc, tab = window.doc, window.export_tab
    type_in(qtbot, tab.frames, "1005, 1002-1003")
    assert doc.project.settings["render"]["indices"] == [1, 2, 4] and tab.frames.text() == "1002-1003, 1005"
    type_in(qtbot, tab.frames, "1002-1099")  # not in the shot: said under the field, nothing kept
    assert tab.frames_error.isVisible() and "not in the shot" in tab.frames_error.text()
    assert doc.project.settings["render"]["indices"] == [1, 2, 4]
    render(qtbot, window)
    assert "Frames: frames 1007-1099 are not in the shot" in window.statusBar().currentMessage()
    assert not (tmp_path / "renders").exists()
    type_in(qtbot, tab.frames, "1002-1003")
    assert not tab.frames_error.isVisible()
    # start frame: a step up from "source numbers" goes to 1001, not to -2147483647
    start = tab.start
    assert start.text() == "source numbers"
    start.setFocus()
    qtbot.keyClick(start, Qt.Key.Key_Up)
    assert start.value() == 1001 and doc.project.settings["render"]["start_frame"] == 1001
    # the version: for the render it starts, never kept in the project (a kept one would make
    # the next command-line render write it and every later one be refused)
    type_in(qtbot, tab.widgets["version"], "7")
    assert "version" not in doc.project.settings["render"] and tab.version.text().startswith("v007 in ")
    render(qtbot, window)
    manifest = json.loads((tmp_path / "renders" / "v007" / "manifest.json").read_text())
    assert manifest["frames"]["indices"] == [1, 2] and manifest["frames"]["numbers"] == [1001, 1002]
    assert manifest["options"]["version"] == 7
    assert "exists: the render will be refused" in tab.version.text()
    assert "version" not in doc.project.settings["render"]
    # the saved project: command-line renders take the next free versions and the saved frames
    doc.save()
    assert "version" not in json.loads(doc.path.read_text())["settings"]["render"]
    for expected in ("v008", "v009"):
        assert main(["render", str(doc.path), "--quiet"]) == 0
        manifest = json.loads((tmp_path / "renders" / expected / "manifest.json").read_text())
        assert manifest["frames"]["numbers"] == [1001, 1002]
    # reopened, the tab offers the next free version again
    reopened = ExportTab(Document.open_project(doc.path))
    qtbot.addWidget(reopened)
    assert reopened.widgets["version"].text() == "next free" and reopened.frames.text() == "1002-1003"
    assert reopened.version.text().startswith("v010 in ")
    reopened.doc.close()


def test_a_version_saved_by_an_older_version_is_neither_shown_nor_kept(qtbot, tmp_path: Path, clip) -> None:
    plate = tmp_path / "plate"
    plate.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(plate / f"p.{i + 1}.png"), frame[..., ::-1])
    doc = Document.open_media(plate / "p.#.png", tmp_path / "p.sam3roto")
    doc.project.settings["render"] = {"version": 3, "bit_depth": 8}
    tab = ExportTab(doc)
    qtbot.addWidget(tab)
    assert tab.widgets["version"].text() == "next free" and tab.choices()["version"] is None
    assert tab.version.text().startswith("v001 in ") and tab.widgets["bit_depth"].currentText() == "8"
    tab.widgets["exr_compression"].setCurrentText("piz")
    assert doc.project.settings["render"] == {**tab.kept(), "bit_depth": 8, "exr_compression": "piz"}
    assert "version" not in doc.project.settings["render"] and "version" not in tab.kept()
    doc.close()


def test_saved_values_a_control_cannot_show_are_kept_until_it_is_changed(qtbot, tmp_path: Path, clip) -> None:
    plate = tmp_path / "plate"
    plate.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(plate / f"p.{i + 1}.png"), frame[..., ::-1])
    doc = Document.open_media(plate / "p.#.png", tmp_path / "p.sam3roto")
    doc.project.settings["render"] = {"ply_max_points": 5_000_000_000, "exr_compression": "dwaa",
                                      "output_colorspace": "ACEScg", "part": True}
    doc.project.settings["render_folder"] = "deliveries"
    tab = ExportTab(doc)
    qtbot.addWidget(tab)
    assert tab.widgets["exr_compression"].currentText() == "dwaa"
    assert tab.widgets["output_colorspace"].currentText() == "ACEScg"
    assert tab.folder.text() == "deliveries" and tab.root() == tmp_path / "deliveries"
    assert "ply_max_points" not in tab.choices()  # past what the field holds: the saved value stands
    tab.widgets["bit_depth"].setCurrentText("8")
    assert doc.project.settings["render"]["ply_max_points"] == 5_000_000_000
    assert doc.project.settings["render"]["bit_depth"] == 8
    tab.widgets["ply_max_points"].setValue(1000)
    assert doc.project.settings["render"]["ply_max_points"] == 1000
    np.testing.assert_equal(doc.project.settings["render"]["part"], True)  # kept, never used by the window
    doc.close()

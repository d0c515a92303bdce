"""The window never loses work, driven as a person drives it: menu actions, shortcuts and
the answers to the window's questions (no slot called directly where a person would use a
menu or a key)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed (requirements-dev.txt)")

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QInputDialog, QMessageBox

from sam3roto.core.project_io import load_project, mask_store_dir
from sam3roto.core.workspace import list_unsaved, unsaved_root
from sam3roto.errors import ProjectError
from sam3roto.ui.document import Document
from sam3roto.ui.main_window import MainWindow
from tests.backends.test_classic import moving_object_clip
from tests.ui.dialogs import Answers

pytestmark = pytest.mark.gui


@pytest.fixture
def clip():
    return moving_object_clip(n=8)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("SAM3ROTO_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def plate(tmp_path: Path, clip) -> Path:
    folder = tmp_path / "footage"
    folder.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(folder / f"plate.{1001 + i}.png"), frame[..., ::-1])
    return folder / "plate.####.png"


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    add(qtbot, win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    activate(qtbot, win)
    yield win
    win.cancel_jobs()
    win.pools.wait()


@pytest.fixture
def asking(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unsaved-changes question on for this test (windows added with :func:`add`
    turn it off before pytest-qt closes them, so a failing test does not wait on it)."""
    monkeypatch.setattr(MainWindow, "prompt_on_close", True)


def add(qtbot, win: MainWindow) -> None:
    qtbot.addWidget(win, before_close_func=lambda w: setattr(w, "prompt_on_close", False))


def open_saved(win: MainWindow, plate: Path, tmp_path: Path) -> Path:
    """A new project on ``plate``, saved as ``tmp_path/shot.sam3roto``, open in ``win``."""
    project = tmp_path / "shot.sam3roto"
    win.set_document(Document.open_media(plate, project))
    return project


def activate(qtbot, win: MainWindow) -> None:
    """Make ``win`` the active window, as a click on it does: shortcuts go to the active
    window only (offscreen, a shown window is not activated by itself)."""
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def action(win: MainWindow, menu: str, text: str) -> QAction:
    """The action ``text`` in the menu bar's ``menu``, found as a person finds it."""
    for top in win.menuBar().actions():
        if top.text().replace("&", "") == menu:
            for item in top.menu().actions():
                if item.text() == text:
                    return item
    raise AssertionError(f"no {menu} > {text}")


def choose_file(monkeypatch: pytest.MonkeyPatch, path: Path | str) -> list[str]:
    """The next file dialogs answer ``path`` (as the user picking it); returns their titles."""
    titles: list[str] = []

    def pick(parent, title, *args, **kwargs):
        titles.append(title)
        return str(path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(pick))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(pick))
    return titles


def segment_and_track(qtbot, win: MainWindow, clip) -> int:
    from sam3roto.core.evaluation import prompts_from_mask

    doc = win.doc
    doc.add_object("disc")
    doc.set_prompts(prompts_from_mask(clip.masks[0]))
    activate(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # segment
    qtbot.waitUntil(lambda: not win.jobs, timeout=60000)
    qtbot.keyClick(win, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)  # track both ways
    qtbot.waitUntil(lambda: not win.jobs, timeout=60000)
    obj = doc.active().id
    modal = QApplication.activeModalWidget()
    assert doc.store.frames(obj) == list(range(len(clip.frames))), (
        win.statusBar().currentMessage(), modal.text() if isinstance(modal, QMessageBox) else modal)
    return obj


def test_save_from_the_menu_and_ctrl_s_writes_the_project(qtbot, window, plate, tmp_path, data_dir,
                                                          monkeypatch) -> None:
    """The bug: File > Save and Ctrl+S passed triggered(bool) as the path and did nothing."""
    project = open_saved(window, plate, tmp_path)
    doc = window.doc
    doc.add_object("hero")
    assert window.windowTitle() == "shot.sam3roto * - sam3roto"
    action(window, "File", "Save").trigger()
    assert [o.name for o in load_project(project).objects] == ["hero"]
    assert window.windowTitle() == "shot.sam3roto - sam3roto" and not doc.dirty
    doc.add_object("villain")
    assert window.windowTitle().endswith("* - sam3roto")
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert [o.name for o in load_project(project).objects] == ["hero", "villain"]
    assert not doc.dirty and "*" not in window.windowTitle()
    window.undo()  # back to one object: modified again, and the title says so
    assert doc.dirty and "*" in window.windowTitle()


def test_nothing_is_written_beside_the_media_until_the_first_save(qtbot, window, plate, clip, tmp_path, data_dir,
                                                                   monkeypatch) -> None:
    footage = plate.parent
    before = files_in(footage)
    choose_file(monkeypatch, plate)
    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)  # File > Open media
    doc = window.doc
    assert doc is not None and doc.path is None and window.windowTitle() == "untitled - sam3roto"
    obj = segment_and_track(qtbot, window, clip)
    window._autosave()
    assert files_in(footage) == before  # no .masks, no autosave beside the plates
    unsaved = unsaved_root() / doc.project.uid
    assert doc.store.root == unsaved / "masks" and (unsaved / "autosave.sam3roto").is_file()
    assert str(unsaved_root()) == str(data_dir / "unsaved")
    masks = {i: doc.store.get(obj, i).copy() for i in range(len(clip.frames))}

    # Ctrl+S on an untitled project asks where (Save as), then moves the masks there
    target = tmp_path / "projects" / "shot.sam3roto"
    titles = choose_file(monkeypatch, target)
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert titles == ["Save project as"]
    assert doc.path == target and target.is_file() and window.windowTitle() == "shot.sam3roto - sam3roto"
    assert doc.store.root == mask_store_dir(target) and not unsaved.exists()
    assert files_in(footage) == before
    for i, mask in masks.items():
        assert np.array_equal(doc.store.get(obj, i), mask)
    # the export tab names the new renders folder (it said "save the project first")
    assert str(tmp_path / "projects" / "renders") in window.export_tab.version.text()
    # the masks keep coming to the new place: a job writes through the moved store
    doc.store.put(obj, 0, ~masks[0])
    assert (mask_store_dir(target) / "obj_0001" / "000000.png").is_file()


def test_unsaved_work_is_offered_again_and_a_new_project_never_shows_old_masks(qtbot, plate, clip, data_dir,
                                                                                asking) -> None:
    first = MainWindow()
    add(qtbot, first)
    first.show()
    activate(qtbot, first)
    first.open_media(plate)
    obj = segment_and_track(qtbot, first, clip)
    uid = first.doc.project.uid
    first._autosave()
    first.doc.reader.close()  # the session ends without saving (a crash): the work stays
    first.doc = None

    second = MainWindow()
    add(qtbot, second)
    second.show()
    activate(qtbot, second)
    assert "1 unsaved project from an earlier session" in second.start_label.text()
    answers = Answers("Recover")
    second.open_media(plate)
    answers.stop()
    assert answers.done() and "disc" in answers.asked[0]
    doc = second.doc
    assert doc.project.uid == uid and [o.name for o in doc.project.objects] == ["disc"]
    assert doc.store.frames(obj) == list(range(len(clip.frames))) and doc.dirty
    # File > Close, throwing the work away: its folder goes
    answers = Answers("Discard")
    activate(qtbot, second)
    qtbot.keyClick(second, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    answers.stop()
    assert answers.done() and second.doc is None and not (unsaved_root() / uid).exists()
    assert "never been saved" in answers.asked[0] and "Discard deletes its objects and masks" in answers.asked[0]
    assert "unsaved project" not in second.start_label.text()
    assert list_unsaved(plate) == []

    # the same media again: no question, a new project, and a new object has no masks
    answers = Answers()
    second.open_media(plate)
    answers.stop()
    assert answers.asked == []
    doc = second.doc
    doc.add_object("new")
    assert doc.project.uid != uid and doc.active().id == obj
    assert all(doc.store.get(obj, i) is None for i in range(len(clip.frames)))


def test_a_discarded_object_never_lends_its_masks_to_the_next_one(qtbot, window, plate, clip, tmp_path,
                                                                 data_dir) -> None:
    project = open_saved(window, plate, tmp_path)
    doc = window.doc
    doc.add_object("saved")
    doc.store.put(1, 0, clip.masks[0])
    window.save()
    doc.add_object("thrown away")  # id 2; its masks go to the store beside the project at once
    for i in range(3):
        doc.store.put(2, i, clip.masks[i])
    window.set_document(Document.open_project(project), discard_old=True)  # Discard
    doc = window.doc
    doc.add_object("new")
    assert doc.active().id == 2 and [doc.store.get(2, i) for i in range(3)] == [None] * 3
    assert doc.store.frames(2) == [] and 2 not in doc.store.objects()
    assert np.array_equal(doc.store.get(1, 0), clip.masks[0])
    doc.store.put(2, 5, clip.masks[5])  # the first write replaces the stale folder
    assert doc.store.frames(2) == [5]
    # the project file deleted by hand, its masks left: a new project saved under that
    # name is refused rather than merged with them
    window.set_document(Document.open_media(plate))
    project.unlink()
    window.doc.add_object("other")
    with pytest.raises(ProjectError, match="holds the masks of another project"):
        window.doc.save(project)
    assert window.doc.path is None and (mask_store_dir(project) / "obj_0001" / "000000.png").is_file()


def test_close_quit_and_open_other_ask_save_discard_cancel(qtbot, window, plate, tmp_path, data_dir,
                                                           monkeypatch, asking) -> None:
    project = open_saved(window, plate, tmp_path)
    window.doc.add_object("hero")

    answers = Answers("Cancel")  # Ctrl+Q, then Cancel: nothing happens
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    answers.stop()
    assert answers.done() and "Save the changes to shot.sam3roto" in answers.asked[0]
    assert window.isVisible() and window.doc is not None and window.doc.dirty

    answers = Answers("Cancel")  # File > Open media..., then Cancel: the project stays open
    choose_file(monkeypatch, plate)
    action(window, "File", "Open media...").trigger()
    answers.stop()
    assert answers.done() and [o.name for o in window.doc.project.objects] == ["hero"]

    answers = Answers("Save")  # Ctrl+W, Save: written, then closed
    activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    answers.stop()
    assert answers.done() and window.doc is None and window.windowTitle() == "sam3roto"
    assert [o.name for o in load_project(project).objects] == ["hero"]

    choose_file(monkeypatch, project)  # File > Open project..., add, then quit with Discard
    activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    window.doc.add_object("not kept")
    answers = Answers("Discard")
    action(window, "File", "Quit").trigger()
    answers.stop()
    assert answers.done() and not window.isVisible()
    assert [o.name for o in load_project(project).objects] == ["hero"]


def test_export_choices_are_kept_by_a_save_and_follow_save_as(qtbot, window, plate, tmp_path, data_dir,
                                                               monkeypatch) -> None:
    project = open_saved(window, plate, tmp_path)
    tab = window.export_tab
    tab.checks["exr"].click()  # ticked after the last save: the project is modified
    assert window.doc.dirty and "*" in window.windowTitle()
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    choose_file(monkeypatch, project)
    action(window, "File", "Open project...").trigger()
    assert window.export_tab.checks["exr"].isChecked()
    assert str(tmp_path / "renders") in window.export_tab.version.text()
    copy = tmp_path / "copy" / "shot.sam3roto"
    choose_file(monkeypatch, copy)
    action(window, "File", "Save as...").trigger()
    assert window.doc.path == copy and str(tmp_path / "copy" / "renders") in window.export_tab.version.text()


def _close_any_dialog() -> None:
    modal = QApplication.activeModalWidget()
    if isinstance(modal, QDialog):  # message boxes, the Settings dialog
        modal.reject()


def test_every_menu_action_works_when_triggered(qtbot, window, plate, tmp_path, data_dir, monkeypatch) -> None:
    """Every action of every menu, with no project and with one, triggered as a menu click
    triggers it: none raises (pytest-qt fails the test on an exception in a slot)."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: ("", "")))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: ("", "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: ""))
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: ("", False)))
    closer = QTimer()
    closer.timeout.connect(_close_any_dialog)
    closer.start(20)

    def walk(menu) -> list[QAction]:
        found = []
        for item in menu.actions():
            if item.menu() is not None:
                found += walk(item.menu())
            elif not item.isSeparator():
                found.append(item)
        return found

    def trigger_all() -> list[str]:
        done = []
        names = [(top.text(), item.text()) for top in window.menuBar().actions() for item in walk(top.menu())]
        for top_text, text in names:
            if text == "Quit":
                continue  # last: it closes the window
            top = next(a for a in window.menuBar().actions() if a.text() == top_text)
            found = [item for item in walk(top.menu()) if item.text() == text]  # menus rebuild (Open recent)
            if found:
                found[0].trigger()
                qtbot.wait(10)
                done.append(text)
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QDialog) and widget.isVisible():
                widget.close()  # Settings opens beside the window
        return done

    needs_project = ("Save", "Save as...", "Close", "Undo", "Redo")
    assert not any(action(window, menu, text).isEnabled() for menu, text in
                   [("File", "Save"), ("File", "Save as..."), ("File", "Close"), ("Edit", "Undo"), ("Edit", "Redo")])
    without = trigger_all()
    assert {"Open media...", "Open project...", "Recover unsaved project...", "Settings..."} <= set(without)
    project = open_saved(window, plate, tmp_path)
    window.doc.add_object("hero")
    window.save()
    window._remember(project)
    window.set_document(Document.open_project(project))  # "Open recent" now lists it
    assert all(action(window, "File" if t in needs_project[:3] else "Edit", t).isEnabled() for t in needs_project)
    with_project = trigger_all()
    assert str(project.resolve()) in with_project
    assert window.doc is None  # Open recent opened it again, then Close (nothing unsaved) closed it
    action(window, "File", "Quit").trigger()
    closer.stop()
    assert not window.isVisible()


def test_a_failing_job_shows_the_window_hint_and_the_status_says_failed(qtbot, window, plate, tmp_path,
                                                                        data_dir) -> None:
    open_saved(window, plate, tmp_path)
    window.depth_tab.model_dir.setText(str(tmp_path / "no-such-weights"))
    window.depth_tab.findChildren(type(window.cancel_button))[0].click()  # Run depth over the shot
    qtbot.waitUntil(lambda: not window.jobs, timeout=60000)
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1, window.statusBar().currentMessage()
    assert boxes[0].windowTitle() == "depth failed"
    box = boxes[0]
    assert "no-such-weights" in box.text() and "Traceback" not in box.text() + box.informativeText()
    assert "Edit > Settings..." in box.informativeText() and "--" not in box.informativeText()
    assert "Traceback" in box.detailedText()
    assert window.statusBar().currentMessage() == "depth: failed"
    box.close()


def test_untitled_projects_without_work_leave_nothing_behind(qtbot, window, plate, data_dir) -> None:
    window.open_media(plate)
    uid = window.doc.project.uid
    assert (unsaved_root() / uid).is_dir()
    qtbot.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)  # nothing to ask about
    assert window.doc is None and not (unsaved_root() / uid).exists()
    assert os.listdir(unsaved_root()) == []


def test_every_shortcut_works_from_the_keyboard(qtbot, window, plate, tmp_path, data_dir) -> None:
    """Each of the window's own shortcuts, pressed as keys on the active window: none raises
    (pytest-qt fails the test on an exception in a slot), and the frame keys move frames."""
    from PySide6.QtGui import QShortcut

    open_saved(window, plate, tmp_path)
    activate(qtbot, window)
    shortcuts = window.findChildren(QShortcut)
    assert len(shortcuts) >= 20
    pressed = []
    for shortcut in shortcuts:
        combo = shortcut.key()[0]
        qtbot.keyClick(window, combo.key(), combo.keyboardModifiers())
        qtbot.waitUntil(lambda: not window.jobs, timeout=60000)
        pressed.append(shortcut.key().toString())
        if shortcut.key().toString() == "End":
            assert window.doc.frame == window.doc.frame_count - 1
        if shortcut.key().toString() == "Home":
            assert window.doc.frame == 0
    qtbot.keyClick(window, Qt.Key.Key_K)  # stop playback Space/J/L started
    assert not window.player.isActive()
    assert {"Ctrl+T", "Ctrl+Return", "Space", "I", "O", "Del", "Esc"} <= set(pressed)


def test_undoing_an_add_never_lends_its_masks_to_the_next_object(qtbot, window, plate, clip, tmp_path,
                                                                 data_dir) -> None:
    project = open_saved(window, plate, tmp_path)
    doc = window.doc
    doc.add_object("first")
    doc.store.put(1, 0, clip.masks[0])
    action(window, "Edit", "Undo").trigger()  # the add is undone; its id is not handed out again
    doc.add_object("second")
    assert doc.active().id == 2 and doc.store.get(2, 0) is None and doc.store.frames(2) == []
    doc.store.put(2, 3, clip.masks[3])
    action(window, "File", "Save").trigger()
    reopened = Document.open_project(project)
    assert reopened.store.frames(2) == [3] and reopened.project.next_object_id == 3
    reopened.close()


def test_opening_a_decompression_bomb_from_the_menu_shows_the_limit_not_a_crash(qtbot, window, tmp_path,
                                                                               monkeypatch, data_dir) -> None:
    """File > Open media... on a PNG whose header claims 65535x65535: one error dialog naming
    the file, the size and the setting that raises the limit; the window stays usable."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 65535, 65535, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))
    choose_file(monkeypatch, bomb)
    action(window, "File", "Open media...").trigger()
    qtbot.waitUntil(lambda: any(b.isVisible() for b in window.findChildren(QMessageBox)), timeout=10000)
    box = next(b for b in window.findChildren(QMessageBox) if b.isVisible())
    assert "bomb.png" in box.text() and "65535x65535" in box.text(), box.text()
    assert "SAM3ROTO_MAX_FRAME_PIXELS" in box.informativeText()
    assert "Traceback" not in box.text() + box.informativeText()
    box.close()
    assert window.doc is None and window.isVisible()

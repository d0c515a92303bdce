"""The window's one error dialog (offscreen, pytest-qt): message and hint from the error's
data in the box, the traceback only behind "Show Details..."; jobs that fail report the
same way; and every window hint in the package names menus, tabs and labels the built
window and Settings dialog really have."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed (requirements-dev.txt)")

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QAbstractButton, QLabel, QMessageBox, QWidget

from sam3roto.backends import da3
from sam3roto.core.jobs import Progress
from sam3roto.errors import ModelNotInstalledError
from sam3roto.ui.errors import BUG_HINT, OS_HINT, ErrorReport, report_from_exception, show_error
from sam3roto.ui.workers import JobWorker
from tests.test_hints import collect_hints

pytestmark = pytest.mark.gui


def _raise_missing_weights(folder: Path) -> None:
    da3.resolve_model_dir("small", folder)


def _caught(fn, *args) -> BaseException:
    try:
        fn(*args)
    except Exception as exc:
        return exc
    raise AssertionError("did not raise")


@pytest.fixture
def parent(qtbot) -> QWidget:
    widget = QWidget()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_a_sam3roto_error_shows_its_window_hint_and_hides_the_traceback(qtbot, parent: QWidget,
                                                                       tmp_path: Path) -> None:
    exc = _caught(_raise_missing_weights, tmp_path / "nowhere")
    assert isinstance(exc, ModelNotInstalledError)
    report = report_from_exception(exc, title="depth failed")
    assert report == ErrorReport("depth failed", f"{tmp_path / 'nowhere'}: Depth Anything 3 weights folder does "
                                 "not exist", exc.hint_for("window"), report.details)
    box = show_error(parent, report)
    assert isinstance(box, QMessageBox) and box.isVisible()  # open(): the test goes on while it shows
    assert box.windowTitle() == "depth failed" and box.icon() == QMessageBox.Icon.Critical
    assert box.text() == report.message
    assert box.informativeText() == exc.hint_for("window")
    assert "Edit > Settings..." in box.informativeText() and '"Weights"' in box.informativeText()
    for shown in (box.text(), box.informativeText()):
        assert "Traceback" not in shown and "--" not in shown and "_raise_missing_weights" not in shown
    assert box.detailedText().startswith("Traceback (most recent call last)")
    assert "_raise_missing_weights" in box.detailedText()
    box.close()


def test_an_unexpected_exception_is_reported_as_a_bug(qtbot, parent: QWidget) -> None:
    exc = _caught(lambda: {}["frame"])
    report = report_from_exception(exc)
    assert report.title == "sam3roto"
    assert report.message == "KeyError: 'frame'"
    assert report.hint == BUG_HINT and "bug in sam3roto" in BUG_HINT and '"Show Details..."' in BUG_HINT
    box = show_error(parent, report)
    assert box.text() == "KeyError: 'frame'" and box.informativeText() == BUG_HINT
    assert "Traceback" not in box.text() + box.informativeText()
    assert "KeyError" in box.detailedText() and "Traceback" in box.detailedText()
    box.close()
    # a message over several lines stays one line; an OSError says what and where, not "bug"
    assert report_from_exception(ValueError("a\nb")).message == "ValueError: a b"
    assert report_from_exception(ValueError("x")).details is None  # never raised: no traceback
    denied = report_from_exception(PermissionError(13, "Permission denied", "/shot/p.sam3roto"))
    assert (denied.message, denied.hint) == ("/shot/p.sam3roto: Permission denied", OS_HINT)


def test_a_box_without_parent_stays_until_closed(qtbot) -> None:
    box = show_error(None, ErrorReport("t", "m"))
    qtbot.addWidget(box)
    assert box.isVisible() and box.informativeText() == "" and box.detailedText() == ""
    box.close()


def test_a_failing_job_emits_a_report_built_in_its_thread(qtbot) -> None:
    def make_job(token):
        yield Progress(0, 2, "starting")
        _raise_missing_weights(Path("/no/such/weights"))
        yield Progress(1, 2, "never")

    worker = JobWorker(make_job, label="depth")
    pool = QThreadPool()
    with qtbot.waitSignal(worker.signals.failed, timeout=10000) as blocker:
        pool.start(worker)
    pool.waitForDone(10000)
    report = blocker.args[0]
    assert isinstance(report, ErrorReport)
    assert report.title == "depth failed"
    assert report.message == "/no/such/weights: Depth Anything 3 weights folder does not exist"
    assert report.hint is not None and "Install / Reinstall ML tools" in report.hint
    assert report.details is not None and "make_job" in report.details and "resolve_model_dir" in report.details
    assert report.with_title("x").title == "x"


# -- window hints name what the window has ------------------------------------------------
@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from tests.backends.test_classic import moving_object_clip

    monkeypatch.setenv("SAM3ROTO_DATA_DIR", str(tmp_path / "data"))
    from sam3roto.ui.document import Document
    from sam3roto.ui.main_window import MainWindow

    plate = tmp_path / "plate"
    plate.mkdir()
    for i, frame in enumerate(moving_object_clip(n=3).frames):
        cv2.imwrite(str(plate / f"plate.{1001 + i}.png"), frame[..., ::-1])
    win = MainWindow(Document.open_media(plate / "plate.####.png", tmp_path / "shot.sam3roto"))
    qtbot.addWidget(win)
    yield win
    win.pools.wait()


def _texts(widget: QWidget) -> set[str]:
    return ({w.text().replace("&", "") for w in widget.findChildren(QLabel)}
            | {w.text().replace("&", "") for w in widget.findChildren(QAbstractButton)})


def _menus(actions: list) -> dict[str, set[str]]:  # type: ignore[type-arg]
    """Menu title -> its items' texts, submenus (View > Colour) included; each menu is
    told it is about to show, as opening it does (some are rebuilt then)."""
    out: dict[str, set[str]] = {}
    for action in actions:
        menu = action.menu()
        if menu is None:
            continue
        menu.aboutToShow.emit()
        out[action.text().replace("&", "")] = {b.text().replace("&", "") for b in menu.actions() if b.text()}
        out.update(_menus(menu.actions()))
    return out


def test_window_hints_name_real_menus_tabs_and_labels(qtbot, window) -> None:
    from sam3roto.ui.settings import INSTALL_LABEL

    menus = _menus(window.menuBar().actions())
    dialog = window.open_settings()
    qtbot.addWidget(dialog)
    dialogs = {"Settings...": _texts(dialog)}
    assert "Settings..." in menus["Edit"] and INSTALL_LABEL in dialogs["Settings..."]
    tabs = {window.tabs.tabText(i): _texts(window.tabs.widget(i)) for i in range(window.tabs.count())}
    everything = set().union(*tabs.values(), *dialogs.values(), _texts(window), *menus.values())
    hints = collect_hints().window
    assert len(hints) > 10
    for text, where in hints:
        for before, after in re.findall(r'(?<!\S)(?=(\S+) > ("[^"]+"|\S+))', text):
            after = after.strip('"').rstrip(",;")
            if before in menus:
                assert after in menus[before], f"{where}: no {after!r} in the {before} menu"
            else:
                assert before in dialogs and after in dialogs[before], f"{where}: {before} > {after}"
        for tab, label in re.findall(r'the ([A-Z][\w]*(?: / \w+)*) tab(?:\'s "([^"]+)")?', text):
            assert tab in tabs, f"{where}: no {tab} tab"
            assert not label or label in tabs[tab], f"{where}: no {label!r} in the {tab} tab"
        for quoted in re.findall(r'"([^"]+)"', text):
            assert "{}" in quoted or quoted in everything, f"{where}: no control {quoted!r}"

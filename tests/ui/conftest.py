"""Window tests keep their settings (recent files, device) and unsaved work away from the
user's own, and windows closed by pytest-qt at teardown do not wait on the unsaved-changes
question (the tests of that question turn it back on)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_qsettings(tmp_path_factory: pytest.TempPathFactory) -> None:
    try:
        from PySide6.QtCore import QSettings
    except ImportError:
        return
    folder = str(tmp_path_factory.mktemp("qsettings"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, folder)


@pytest.fixture(autouse=True)
def _no_close_question(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        from sam3roto.ui.main_window import MainWindow
    except ImportError:
        return
    monkeypatch.setattr(MainWindow, "prompt_on_close", False)

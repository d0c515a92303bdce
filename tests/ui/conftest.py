"""Window tests keep their settings (recent files, device) away from the user's own."""

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

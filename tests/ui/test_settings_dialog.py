"""Settings shows, per model, whether the weights are present and where (not only whether
the packages import), refreshed when the model id changes and after Install; and where
unsaved projects live."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed (requirements-dev.txt)")

from sam3roto.core.workspace import unsaved_root
from sam3roto.ui.settings import (
    DA3_WEIGHTS_LABEL,
    INSTALL_LABEL,
    SAM3_WEIGHTS_LABEL,
    UNSAVED_LABEL,
    SettingsDialog,
    weights_status,
)
from tests.backends.test_weights import fake_snapshot

pytestmark = pytest.mark.gui


@pytest.fixture
def dialog(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SettingsDialog:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("SAM3ROTO_DATA_DIR", str(tmp_path / "data"))
    # a script that only prints: Install runs it and the rows are looked at again after
    script = tmp_path / "install.sh"
    script.write_text("echo installing\n")
    box = SettingsDialog(script=script)
    qtbot.addWidget(box)
    return box


def _row(dialog: SettingsDialog, name: str) -> str:
    return dialog.weights_labels[name].text()


def test_weights_rows_say_where_they_looked_and_what_is_missing(qtbot, dialog: SettingsDialog,
                                                                 tmp_path: Path) -> None:
    hf = tmp_path / "hf"
    assert _row(dialog, SAM3_WEIGHTS_LABEL) == \
        f"no weights: looked in {hf / 'models--facebook--sam3'} (missing: a downloaded snapshot)"
    da3_cache = hf / "models--depth-anything--DA3-SMALL"
    assert _row(dialog, DA3_WEIGHTS_LABEL).startswith(f"no weights: looked in {da3_cache}")
    # the packages' rows are still there, beside the weights
    assert set(dialog.status_labels) == {"torch", "transformers (SAM3)", "Depth Anything 3"}
    assert dialog.install.text() == INSTALL_LABEL

    # complete weights appear when the id field names them
    snap = fake_snapshot(hf, "me/sam3-finetune", {"config.json": b"{}", "model.safetensors": b"w"})
    dialog.sam3_id.setText("me/sam3-finetune")
    assert _row(dialog, SAM3_WEIGHTS_LABEL) == f"weights found in {snap}"
    # a zero-byte file is an incomplete download, named with its folder
    small = fake_snapshot(hf, "depth-anything/DA3-BASE", {"config.json": b"{}", "model.safetensors": b""})
    dialog.da3_id.setText("depth-anything/DA3-BASE")
    assert _row(dialog, DA3_WEIGHTS_LABEL).startswith(f"no weights: looked in {small} (missing: model.safetensors")
    assert "empty" in _row(dialog, DA3_WEIGHTS_LABEL)

    # after Install the rows are looked at again
    (small / "model.safetensors").write_bytes(b"w")
    with qtbot.waitSignal(dialog.installFinished, timeout=20000):
        dialog.start_install()
    assert _row(dialog, DA3_WEIGHTS_LABEL) == f"weights found in {small}"
    assert "installing" in dialog.log.toPlainText()


def test_unsaved_projects_row_names_the_folder(dialog: SettingsDialog, tmp_path: Path) -> None:
    assert dialog.unsaved.text() == str(unsaved_root()) == str(tmp_path / "data" / "unsaved")
    labels = [dialog.layout().itemAt(0).layout().labelForField(w).text() for w in (dialog.unsaved,)]
    assert labels == [UNSAVED_LABEL]


def test_an_unknown_preset_is_a_line_not_an_exception(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    lines = weights_status("", "huge")
    assert lines[DA3_WEIGHTS_LABEL] == "no weights: unknown depth preset 'huge'"
    assert lines[SAM3_WEIGHTS_LABEL].startswith("no weights: looked in")  # empty id: the default model


def test_the_close_button_closes_the_dialog(qtbot, dialog: SettingsDialog) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton

    dialog.show()
    qtbot.waitExposed(dialog)
    [close] = [b for b in dialog.findChildren(QPushButton) if b.text().replace("&", "") == "Close"]
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()


def test_the_limits_on_input_files_are_shown_as_in_force(qtbot, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The Settings dialog lists every limit with its value and the variable that sets it; a
    value set in the environment is what it shows."""
    from sam3roto.core import limits
    from sam3roto.ui.settings import LIMITS_LABEL

    monkeypatch.setenv("SAM3ROTO_MAX_FRAME_BYTES", "2G")
    box = SettingsDialog(script=tmp_path / "install.sh")
    qtbot.addWidget(box)
    text = box.limits.text()
    assert "one decoded frame: 2.0 GiB (SAM3ROTO_MAX_FRAME_BYTES)" in text
    assert "points of one polygon: 100,000 (SAM3ROTO_MAX_POLYGON_POINTS)" in text
    assert all(var in text for var in limits.ENV.values())
    form = box.layout().itemAt(0).layout()
    labels = [form.itemAt(i, form.ItemRole.LabelRole).widget().text() for i in range(form.rowCount())
              if form.itemAt(i, form.ItemRole.LabelRole) is not None]
    assert LIMITS_LABEL in labels

"""Settings: which ML tools are installed, whether each model's weights are present and
where, Install / Reinstall (``install_models.sh`` with its output streamed line by line
into a read-only view), model ids, device, and where unsaved projects live.

The labels are module constants: error hints name them (``sam3roto.errors.WINDOW_INSTALL``,
the device hint), and tests check the hints quote them exactly."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QProcess, QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from sam3roto.backends.device import DEVICES
from sam3roto.core import limits
from sam3roto.core.workspace import unsaved_root
from sam3roto.errors import Sam3RotoError

if TYPE_CHECKING:
    from sam3roto.backends.weights import WeightsStatus

SAM3_DEFAULT_ID = "facebook/sam3"
DA3_DEFAULT_ID = "depth-anything/DA3-SMALL"
INSTALL_SCRIPT = Path(__file__).resolve().parents[2] / "install_models.sh"

#: The button that runs the install script (error hints tell people to press it).
INSTALL_LABEL = "Install / Reinstall ML tools"
#: The accelerator menu (the hint for a missing CUDA/MPS device names it).
DEVICE_LABEL = "Device (segmentation and depth)"
SAM3_ID_LABEL = "SAM3 model id"
DA3_ID_LABEL = "Depth Anything 3 model id"
SAM3_WEIGHTS_LABEL = "SAM3 weights"
DA3_WEIGHTS_LABEL = "Depth Anything 3 weights"
UNSAVED_LABEL = "Unsaved projects"
LIMITS_LABEL = "Limits on input files"


def tool_status() -> dict[str, str]:
    """Each ML tool: "installed" or "not installed" (a cheap import-spec check, no import)."""
    tools = {"torch": "torch", "transformers (SAM3)": "transformers", "Depth Anything 3": "depth_anything_3"}
    return {label: "installed" if importlib.util.find_spec(module) is not None else "not installed"
            for label, module in tools.items()}


def weights_status(sam3_id: str, da3_id: str) -> dict[str, str]:
    """Each model's weights in one line: ``weights found in FOLDER`` or ``no weights:
    looked in X (missing: ...)`` (file checks only: nothing is loaded, torch is not
    imported). ``da3_id`` is a repository id or a preset name."""
    from sam3roto.backends import da3, sam3

    def line(find: Callable[[], WeightsStatus]) -> str:
        try:
            return find().describe()
        except Sam3RotoError as exc:  # an unknown preset name
            return f"no weights: {exc.headline}"

    return {SAM3_WEIGHTS_LABEL: line(lambda: sam3.weights_status(sam3_id or sam3.DEFAULT_MODEL_ID)),
            DA3_WEIGHTS_LABEL: line(lambda: da3.weights_status(da3_id or da3.DEFAULT_PRESET))}


class SettingsDialog(QDialog):
    installFinished = Signal(int)

    def __init__(self, parent: object = None, script: str | Path = INSTALL_SCRIPT) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.setWindowTitle("Settings")
        self.resize(760, 560)
        self.script = Path(script)
        self.process: QProcess | None = None
        form = QFormLayout()
        self.status_labels: dict[str, QLabel] = {}
        for tool, state in tool_status().items():
            label = QLabel(state)
            self.status_labels[tool] = label
            form.addRow(tool, label)
        self.sam3_id = QLineEdit(SAM3_DEFAULT_ID)
        self.da3_id = QLineEdit(DA3_DEFAULT_ID)
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.device.setCurrentText(str(QSettings("sam3roto", "sam3roto").value("device", "auto")))
        self.device.currentTextChanged.connect(lambda d: QSettings("sam3roto", "sam3roto").setValue("device", d))
        form.addRow(SAM3_ID_LABEL, self.sam3_id)
        self.weights_labels: dict[str, QLabel] = {}
        for name, field in ((SAM3_WEIGHTS_LABEL, self.sam3_id), (DA3_WEIGHTS_LABEL, self.da3_id)):
            label = QLabel()
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.weights_labels[name] = label
            if field is self.da3_id:
                form.addRow(DA3_ID_LABEL, self.da3_id)
            form.addRow(name, label)
            field.textChanged.connect(self.refresh_weights)
        self.refresh_weights()
        form.addRow(DEVICE_LABEL, self.device)
        self.unsaved = QLabel(str(unsaved_root()))
        self.unsaved.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.unsaved.setToolTip("mask stores and autosaves of projects not saved yet; saving moves them beside "
                                "the project file")
        form.addRow(UNSAVED_LABEL, self.unsaved)
        self.limits = QLabel("\n".join(f"{what}: {value} ({var})" for var, value, what in limits.summary()))
        self.limits.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.limits.setToolTip("files that declare more are refused before they are read; to raise a limit, set "
                               "its variable in the environment before starting sam3roto (README: Limits)")
        form.addRow(LIMITS_LABEL, self.limits)
        self.install = QPushButton(INSTALL_LABEL)
        self.install.clicked.connect(self.start_install)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.install)
        layout.addWidget(self.log, 1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)

    def refresh_weights(self) -> None:
        """Look for each model's weights again (the ids as typed now)."""
        lines = weights_status(self.sam3_id.text().strip(), self.da3_id.text().strip())
        for name, text in lines.items():
            self.weights_labels[name].setText(text)

    def start_install(self) -> None:
        """Run the install script; its stdout and stderr appear line by line."""
        if self.process is not None:
            return
        self.log.clear()
        self.install.setEnabled(False)
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._read)
        process.finished.connect(self._finished)
        self.process = process
        args = [str(self.script), "--sam3-id", self.sam3_id.text().strip(), "--da3-id", self.da3_id.text().strip()]
        env = process.processEnvironment()
        env.insert("PYTHON", sys.executable)
        process.setProcessEnvironment(env)
        process.start("bash", args)

    def _read(self) -> None:
        assert self.process is not None
        text = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            self.log.appendPlainText(line)

    def _finished(self, code: int, status: object) -> None:
        self._read()
        self.log.appendPlainText(f"-- finished with exit code {code}")
        self.process = None
        self.install.setEnabled(True)
        for tool, state in tool_status().items():
            self.status_labels[tool].setText(state)
        self.refresh_weights()
        self.installFinished.emit(code)

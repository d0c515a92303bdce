"""Settings: which ML tools are installed, Install / Reinstall (``install_models.sh`` with
its output streamed line by line into a read-only view), model ids and device."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QSettings, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

INSTALL_SCRIPT = Path(__file__).resolve().parents[2] / "install_models.sh"


def tool_status() -> dict[str, str]:
    """Each ML tool: "installed" or "not installed" (a cheap import-spec check, no import)."""
    tools = {"torch": "torch", "transformers (SAM3)": "transformers", "Depth Anything 3": "depth_anything_3"}
    return {label: "installed" if importlib.util.find_spec(module) is not None else "not installed"
            for label, module in tools.items()}


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
        self.sam3_id = QLineEdit("facebook/sam3")
        self.da3_id = QLineEdit("depth-anything/DA3-SMALL")
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device.setCurrentText(str(QSettings("sam3roto", "sam3roto").value("device", "auto")))
        self.device.currentTextChanged.connect(lambda d: QSettings("sam3roto", "sam3roto").setValue("device", d))
        form.addRow("SAM3 model id", self.sam3_id)
        form.addRow("Depth Anything 3 model id", self.da3_id)
        form.addRow("Device (segmentation and depth)", self.device)
        self.install = QPushButton("Install / Reinstall ML tools")
        self.install.clicked.connect(self.start_install)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.install)
        layout.addWidget(self.log, 1)

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
        self.installFinished.emit(code)

"""Answering the window's modal questions the way a person does: the next message box
that opens gets the named button clicked (from a timer, inside the box's own event loop)."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication, QMessageBox


class Answers:
    """Click ``answers`` in order on the message boxes that open; ``asked`` keeps each
    box's text (and informative text) as it was shown."""

    def __init__(self, *answers: str) -> None:
        self.pending = list(answers)
        self.asked: list[str] = []
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    def _poll(self) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or not box.isVisible() or not self.pending:
            return
        wanted = self.pending.pop(0)
        self.asked.append(f"{box.text()}\n{box.informativeText()}")
        for button in box.findChildren(QAbstractButton):
            if button.text().replace("&", "") == wanted:
                button.click()
                return
        names = [b.text() for b in box.findChildren(QAbstractButton)]
        box.reject()
        raise AssertionError(f"no button {wanted!r} on {box.text()!r}; it has {names}")

    def done(self) -> bool:
        return not self.pending

    def stop(self) -> None:
        self.timer.stop()

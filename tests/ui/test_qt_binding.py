"""The Qt binding the window runs on: PySide6 6.12.0 dropped a reference to ``True`` on
every ``Signal.emit()`` under Python 3.11 (the window emits one per repaint and frame
step), so a long session aborted with ``bool_dealloc``; requirements.txt pins a release
without that fault, and this test keeps it out."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (requirements.txt)")

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    plain = Signal()
    number = Signal(int)


def test_emitting_signals_keeps_the_reference_count_of_true() -> None:
    emitter = _Emitter()
    emitter.plain.connect(lambda: None)
    before = sys.getrefcount(True)
    for _ in range(2000):
        emitter.plain.emit()
        emitter.number.emit(1)
    assert abs(sys.getrefcount(True) - before) < 50, "Signal.emit() leaks references to True: pin another PySide6"

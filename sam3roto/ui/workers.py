"""Long jobs off the GUI thread: a job generator wrapped in a QRunnable whose signals
object lives on the GUI thread (connect before start). Model work goes through one
single-thread pool (engines are stateful); renders through another."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from sam3roto.core.jobs import Cancelled, CancelToken, Progress


class JobSignals(QObject):
    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()


class JobWorker(QRunnable):
    """Runs ``make_job(cancel_token)`` to the end; emits progress after every step."""

    def __init__(self, make_job: Callable[[CancelToken], Generator[Progress, None, Any]]) -> None:
        super().__init__()
        self.make_job = make_job
        self.token = CancelToken()
        self.signals = JobSignals()

    def cancel(self) -> None:
        self.token.cancel()

    def run(self) -> None:
        try:
            job = self.make_job(self.token)
            try:
                while True:
                    self.token.raise_if_cancelled()
                    step = next(job)
                    self.signals.progress.emit(step.done, step.total, step.message)
            except StopIteration as stop:
                self.signals.finished.emit(stop.value)
            finally:
                job.close()
        except Cancelled:
            self.signals.cancelled.emit()
        except Exception as exc:  # shown in a dialog; the session stays alive
            message = str(exc) if str(exc) else type(exc).__name__
            self.signals.failed.emit(f"{message}\n\n{traceback.format_exc(limit=3)}")


class Pools:
    """The model thread (one at a time, in order) and the render pool."""

    def __init__(self) -> None:
        self.model = QThreadPool()
        self.model.setMaxThreadCount(1)
        self.render = QThreadPool()
        self.render.setMaxThreadCount(1)

    def wait(self, ms: int = 30000) -> bool:
        return bool(self.model.waitForDone(ms) and self.render.waitForDone(ms))

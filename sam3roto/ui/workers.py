"""Long jobs off the GUI thread: a job generator wrapped in a QRunnable whose signals
object lives on the GUI thread (connect before start). Model work goes through one
single-thread pool (engines are stateful); renders through another.

A job that raises emits ``failed`` with an :class:`~sam3roto.ui.errors.ErrorReport`, built in
the worker thread while the traceback is at hand; show it with
:func:`~sam3roto.ui.errors.show_error`."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from sam3roto.core.jobs import Cancelled, CancelToken, Progress
from sam3roto.ui.errors import report_from_exception


class JobSignals(QObject):
    progress = Signal(int, int, str)
    frame = Signal(int)  # the frame index a step finished (tracking), after its progress
    finished = Signal(object)
    failed = Signal(object)  # ErrorReport
    cancelled = Signal()


class JobWorker(QRunnable):
    """Runs ``make_job(cancel_token)`` to the end; emits progress after every step.
    ``label`` names the job in the title of its error report (``"LABEL failed"``)."""

    def __init__(self, make_job: Callable[[CancelToken], Generator[Progress, None, Any]], *,
                 label: str | None = None) -> None:
        super().__init__()
        self.make_job = make_job
        self.label = label
        self.document: Any = None  # the window's: whose results these are
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
                    if step.frame is not None:
                        self.signals.frame.emit(step.frame)
            except StopIteration as stop:
                self.signals.finished.emit(stop.value)
            finally:
                job.close()
        except Cancelled:
            self.signals.cancelled.emit()
        except Exception as exc:  # shown in a dialog; the session stays alive
            title = f"{self.label} failed" if self.label else "sam3roto"
            self.signals.failed.emit(report_from_exception(exc, title=title))


class Pools:
    """The model thread (one at a time, in order) and the render pool."""

    def __init__(self) -> None:
        self.model = QThreadPool()
        self.model.setMaxThreadCount(1)
        self.render = QThreadPool()
        self.render.setMaxThreadCount(1)

    def wait(self, ms: int = 30000) -> bool:
        return bool(self.model.waitForDone(ms) and self.render.waitForDone(ms))

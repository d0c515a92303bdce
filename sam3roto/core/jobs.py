"""Long work as generators (docs/DESIGN.md section 4).

A *job* is a generator that yields :class:`Progress` and returns its result. It checks a
:class:`CancelToken` between steps and does its cleanup in ``finally:``, so closing the
generator (or cancelling) never leaves half-written state behind. The CLI drives a job
with :func:`run_sync`; the GUI wraps the same generator in a worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from sam3roto.errors import Cancelled

R = TypeVar("R")


@dataclass(frozen=True)
class Progress:
    """One step of a job: ``done`` of ``total`` units, a message, an optional preview, and
    the frame index the step finished when it was about one frame (tracking)."""

    done: int
    total: int
    message: str = ""
    preview: Any = None
    frame: int | None = None

    @property
    def fraction(self) -> float:
        """Completed fraction in [0, 1] (0 when the total is unknown)."""
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


Job = Generator[Progress, None, R]


class CancelToken:
    """A thread-safe flag a job checks between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` when :meth:`cancel` was called."""
        if self._event.is_set():
            raise Cancelled()


def run_sync(
    job: Job[R],
    on_progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> R:
    """Drive ``job`` to completion on this thread and return its result.

    ``on_progress`` is called with every :class:`Progress` the job yields. When ``cancel``
    is set between two steps the generator is closed (running its ``finally:`` blocks)
    and :class:`Cancelled` is raised.
    """
    try:
        while True:
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            try:
                progress = next(job)
            except StopIteration as stop:
                return stop.value
            if on_progress is not None:
                on_progress(progress)
    finally:
        job.close()

"""The worker that owns the device: one run at a time, the others queued in order.

Runs are the CLI's and the window's pipeline jobs (generators yielding ``Progress``), driven
here with a :class:`~sam3roto.core.jobs.CancelToken` checked between steps; cancelling
closes the generator, whose ``finally:`` cleans up (a render leaves no version). Progress
is written to the job's state at most every half second.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from sam3roto.core.jobs import CancelToken, Progress
from sam3roto.errors import Cancelled, Sam3RotoError
from sam3roto.server.store import JobStore

#: A run: given the job id and its cancel token, the pipeline job to drive (its return
#: value is the run's result, kept in the job's ``run["result"]``).
Run = Callable[[str, CancelToken], Generator[Progress, None, Any]]


class Worker:
    """One thread running the queued runs of ``store``'s jobs through ``run``."""

    def __init__(self, store: JobStore, run: Run) -> None:
        self.store = store
        self.run = run
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._tokens: dict[str, CancelToken] = {}
        self._lock = threading.Lock()
        self.current: str | None = None
        self._thread = threading.Thread(target=self._loop, name="sam3roto-serve-worker", daemon=True)
        self._thread.start()
        for job in store.queued():  # queued before a restart: queued again, in order
            self._put(job.id)

    def submit(self, job_id: str, run: dict[str, Any]) -> None:
        """Queue a run of ``job_id`` (``run``: its kind and options, kept in the job)."""
        self.store.update(job_id, state="queued", run=run, progress={"done": 0, "total": 0, "message": "queued"},
                          error=None, hint=None, queued_at=time.time())
        self._put(job_id)

    def _put(self, job_id: str) -> None:
        with self._lock:
            self._tokens[job_id] = CancelToken()
        self._queue.put(job_id)

    def cancel(self, job_id: str) -> bool:
        """Ask the job's run to stop (a queued one never starts); False when none waits or runs."""
        with self._lock:
            token = self._tokens.get(job_id)
        if token is None:
            return False
        token.cancel()
        job = self.store.get(job_id)
        if job.state == "queued":
            self.store.update(job_id, state="cancelled", error="cancelled before it started")
        return True

    def position(self, job_id: str) -> int | None:
        """How many runs wait before ``job_id``'s (0: next), None when it is not queued."""
        waiting = [j.id for j in self.store.queued()]
        return waiting.index(job_id) if job_id in waiting else None

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what runs and stop the thread (server shutdown)."""
        with self._lock:
            tokens = list(self._tokens.values())
        for token in tokens:
            token.cancel()
        self._queue.put(None)
        self._thread.join(timeout)

    def idle(self) -> bool:
        return self.current is None and self._queue.empty()

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            with self._lock:
                token = self._tokens.get(job_id)
            try:
                job = self.store.get(job_id)
            except Sam3RotoError:
                continue  # deleted while it waited
            if token is None or token.cancelled or job.state != "queued":
                continue
            self.current = job_id
            try:
                self._drive(job_id, token)
            finally:
                self.current = None
                with self._lock:
                    self._tokens.pop(job_id, None)

    def _drive(self, job_id: str, token: CancelToken) -> None:
        self.store.update(job_id, state="running", progress={"done": 0, "total": 0, "message": "starting"})
        last = 0.0
        job = None
        try:
            job = self.run(job_id, token)
            while True:
                token.raise_if_cancelled()
                try:
                    step = next(job)
                except StopIteration as stop:
                    result = stop.value
                    break
                now = time.monotonic()
                if now - last >= 0.5 or step.done == step.total:
                    last = now
                    self.store.update(job_id, progress={"done": step.done, "total": step.total,
                                                        "message": step.message})
        except Cancelled:
            if job is not None:
                job.close()
            self.store.update(job_id, state="cancelled", error="cancelled")
            return
        except Sam3RotoError as exc:
            if job is not None:
                job.close()
            hint = exc.hint_for("cli")
            self.store.update(job_id, state="failed", error=exc.message if exc.path is None else exc.headline,
                              hint=hint)
            return
        except Exception as exc:  # a bug: the job fails with what happened, the server stays up
            if job is not None:
                job.close()
            self.store.update(job_id, state="failed", error=f"internal error: {type(exc).__name__}: {exc}"[:500])
            return
        run = dict(self.store.get(job_id).run)
        run["result"] = result
        self.store.update(job_id, state="done", run=run, progress={**self.store.get(job_id).progress,
                                                                    "message": "done"})

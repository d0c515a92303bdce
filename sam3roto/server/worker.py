"""The worker that owns the device: one run at a time, the others queued in order.

Runs are the CLI's and the window's pipeline jobs (generators yielding ``Progress``), driven
here with a :class:`~sam3roto.core.jobs.CancelToken` checked between steps; cancelling
closes the generator, whose ``finally:`` cleans up (a render leaves no version). Progress
is written to the job's state at most every half second.
"""

from __future__ import annotations

import contextlib
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
        # (job id, its token): an entry whose token is no longer the job's (cancelled while it
        # waited, then queued again) is passed over, so a job never runs out of its turn
        self._queue: queue.Queue[tuple[str, CancelToken] | None] = queue.Queue()
        self._tokens: dict[str, CancelToken] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self.current: str | None = None
        self._thread = threading.Thread(target=self._loop, name="sam3roto-serve-worker", daemon=True)
        self._thread.start()
        for job in store.queued():  # queued before a restart: queued again, in order
            self._put(job.id)

    def submit(self, job_id: str, run: dict[str, Any]) -> None:
        """Queue a run of ``job_id`` (``run``: its kind and options, kept in the job)."""
        self.store.update(job_id, state="queued", run=run, progress={"done": 0, "total": 0, "message": "queued"},
                          error=None, advice=None, queued_at=time.time())
        self._put(job_id)

    def _put(self, job_id: str) -> None:
        token = CancelToken()
        with self._lock:
            self._tokens[job_id] = token
        self._queue.put((job_id, token))

    def cancel(self, job_id: str) -> bool:
        """Ask the job's run to stop (a queued one never starts); False when none waits or runs."""
        with self._lock:
            token = self._tokens.get(job_id)
        if token is None:
            return False
        token.cancel()
        job = self.store.get(job_id)
        if job.state == "queued":
            with self._lock:
                if self._tokens.get(job_id) is token:
                    del self._tokens[job_id]  # its entry in the queue is passed over
            self.store.update(job_id, state="cancelled", error="cancelled before it started")
        return True

    def position(self, job_id: str) -> int | None:
        """How many runs wait before ``job_id``'s (0: next), None when it is not queued."""
        return self.waiting().get(job_id)

    def waiting(self) -> dict[str, int]:
        """Queued job id -> its place in the queue (0: next)."""
        return {j.id: n for n, j in enumerate(self.store.queued())}

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (server shutdown): the run under way stops and is marked
        ``interrupted`` (resumable, like after a crash); queued runs stay queued for the
        next start."""
        self._stopping = True
        with self._lock:
            tokens = [t for j, t in self._tokens.items() if j == self.current]
        for token in tokens:
            token.cancel()
        self._queue.put(None)
        self._thread.join(timeout)

    def idle(self) -> bool:
        return self.current is None and self._queue.empty()

    def _loop(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None or self._stopping:
                return
            job_id, token = entry
            with self._lock:
                current = self._tokens.get(job_id)
            try:
                job = self.store.get(job_id)
            except Sam3RotoError:
                continue  # deleted while it waited
            if current is not token or token.cancelled or job.state != "queued":
                continue
            self.current = job_id
            try:
                self._drive(job_id, token)
            except Exception as exc:  # the state could not be written (a full disk...): the next runs still run
                with contextlib.suppress(Exception):
                    self.store.update(job_id, state="failed", error=f"the run could not record its state: {exc}"[:500])
            finally:
                self.current = None
                with self._lock:
                    if self._tokens.get(job_id) is token:
                        del self._tokens[job_id]

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
            if self._stopping:  # the server stops: resumable, like after a crash
                self.store.update(job_id, state="interrupted",
                                  error="the server stopped while this job ran; its finished frames are kept: "
                                        "resume it")
            else:
                self.store.update(job_id, state="cancelled", error="cancelled")
            return
        except Sam3RotoError as exc:
            if job is not None:
                job.close()
            self.store.update(job_id, state="failed", error=exc.message if exc.path is None else exc.headline,
                              advice=exc.hint_for("cli"))
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

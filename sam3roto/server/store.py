"""The server's state on disk (``--data DIR``): the access token and one folder per job.

::

    DATA/token                         the access token (0600), made at the first start
    DATA/jobs/JOB_ID/job.json          the job's state (atomic writes)
    DATA/jobs/JOB_ID/media/...         the uploaded media (a movie, a ZIP, a still, images/)
    DATA/jobs/JOB_ID/labelstudio.json  the uploaded Label Studio export
    DATA/jobs/JOB_ID/job.sam3roto      the project, with job.masks/ and renders/ beside it

The project, mask store and renders have the desktop app's layout, so a job's folder opens
in the window (File > Open: ``job.sam3roto``). Job ids are made here (12 hex digits), never
taken from a client. A server killed while a job runs finds it ``running`` when it starts
again and marks it ``interrupted`` (its finished frames are in the mask store); jobs still
``queued`` are queued again.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sam3roto.core.atomic import atomic_write_text
from sam3roto.errors import Sam3RotoError

#: Job states. ``new``: no media yet; ``ready``: media (and maybe prompts) in, nothing
#: running; ``queued``/``running``: a run waits or runs on the worker; ``done``, ``failed``,
#: ``cancelled``: how the last run ended; ``interrupted``: the server stopped during it.
STATES = ("new", "ready", "queued", "running", "done", "failed", "cancelled", "interrupted")
#: States in which a job may start a run (or take uploads).
IDLE = ("ready", "done", "failed", "cancelled", "interrupted")

PROJECT_NAME = "job.sam3roto"
_ID = re.compile(r"^[0-9a-f]{12}$")


class JobNotFound(Sam3RotoError):
    """No job with that id (or not a job id at all)."""


class JobBusy(Sam3RotoError):
    """The job is queued or running: the request has to wait, or cancel it first."""


@dataclass
class Job:
    """One job's state as ``job.json`` holds it."""

    id: str
    created: float
    state: str = "new"
    name: str = ""
    run: dict[str, Any] = field(default_factory=dict)  # the last run asked: kind and its options
    progress: dict[str, Any] = field(default_factory=dict)  # done, total, message
    error: str | None = None
    advice: str | None = None  # what to do about ``error`` ("hint" in the JSON)
    media: dict[str, Any] | None = None
    queued_at: float | None = None
    updated: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created": self.created, "state": self.state, "name": self.name, "run": self.run,
                "progress": self.progress, "error": self.error, "hint": self.advice, "media": self.media,
                "queued_at": self.queued_at, "updated": self.updated}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        known: dict[str, Any] = {k: data[k] for k in ("id", "created", "state", "name", "run", "progress", "error",
                                                      "media", "queued_at", "updated") if k in data}
        known["advice"] = data.get("hint")
        job = cls(**known)
        if job.state not in STATES:
            raise ValueError(f"unknown state {job.state!r}")
        return job


class JobStore:
    """The jobs under ``root / "jobs"``, in memory and on disk (every change written
    atomically). Thread-safe."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.jobs_dir = self.root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        # the uploads and masks of every team's jobs: for the server's user only
        os.chmod(self.root, 0o700)
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        for folder in sorted(self.jobs_dir.iterdir()):
            state = folder / "job.json"
            if not (_ID.match(folder.name) and state.is_file()):
                continue
            try:
                job = Job.from_dict(json.loads(state.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                continue  # a damaged state file: the job is left alone, not served
            _sweep_partials(folder)  # uploads a killed server was receiving
            if job.state == "running":  # the server stopped while it ran
                job.state = "interrupted"
                job.error = "the server stopped while this job ran; its finished frames are kept: resume it"
                self._write(job)
            self._jobs[job.id] = job

    # -- jobs --------------------------------------------------------------------------------
    def create(self, name: str = "") -> Job:
        with self._lock:
            job_id = secrets.token_hex(6)
            while job_id in self._jobs:
                job_id = secrets.token_hex(6)
            job = Job(id=job_id, created=time.time(), name=name[:200])
            self.folder(job_id).mkdir(parents=True)
            self._jobs[job_id] = job
            self._write(job)
            return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) and _ID.match(job_id) else None
            if job is None:
                raise JobNotFound(f"no job {str(job_id)[:40]!r}")
            return job

    def all(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created)

    def update(self, job_id: str, **changes: Any) -> Job:
        """Change the job's fields and write it; a write that fails changes nothing, in
        memory either (the error goes to the caller)."""
        with self._lock:
            job = self.get(job_id)
            changed = replace(job, **changes)
            self._write(changed)
            self._jobs[job_id] = changed
            return changed

    def delete(self, job_id: str) -> None:
        with self._lock:
            job = self.get(job_id)
            if job.state in ("queued", "running"):
                raise JobBusy(f"job {job_id} is {job.state}: cancel it first")
            del self._jobs[job_id]
            shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def folder(self, job_id: str) -> Path:
        if not _ID.match(job_id):
            raise JobNotFound(f"no job {job_id[:40]!r}")
        return self.jobs_dir / job_id

    def project_path(self, job_id: str) -> Path:
        return self.folder(job_id) / PROJECT_NAME

    def queued(self) -> list[Job]:
        """Jobs waiting for the worker, oldest first (what a restart queues again)."""
        with self._lock:
            return sorted((j for j in self._jobs.values() if j.state == "queued"), key=lambda j: j.queued_at or 0)

    def _write(self, job: Job) -> None:
        job.updated = time.time()
        atomic_write_text(self.folder(job.id) / "job.json", json.dumps(job.to_dict(), indent=1) + "\n")


def _sweep_partials(folder: Path) -> None:
    """Remove the ``.NAME.partial`` files of uploads cut off by a killed server (the
    server that wrote them is gone: this runs when the store loads); uploads land in the
    job's folder and its ``media/`` only (masks are not walked)."""
    media = folder / "media"
    for partial in [*folder.glob(".*.partial"), *(media.rglob(".*.partial") if media.is_dir() else [])]:
        if partial.is_file():
            partial.unlink(missing_ok=True)


def access_token(root: str | Path) -> tuple[str, bool]:
    """The server's access token, and whether it was made now: ``root/token``, created at
    the first start (32 random bytes, URL-safe) readable by its owner only (0600)."""
    path = Path(root) / "token"
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 32:
            return token, False
    Path(root).mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
    return token, True

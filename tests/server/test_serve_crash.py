"""``run.py serve`` killed with SIGKILL in the middle of a track run (a real server on
127.0.0.1, a subprocess), then started again on the same ``--data``: the run is reported
``interrupted`` with the frames it finished kept, ``POST /api/jobs/{id}/resume`` finishes
it; a run that was still ``queued`` is queued again and finishes by itself."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.benchload import load_bench

serve_load = load_bench("serve_load")

#: frames, width, height: the classical engine takes a few seconds over it on 2 cores
LONG = (120, 320, 240)
SHORT = (12, 96, 72)


class Servers:
    """The servers a test starts, one after another, on the same data folder."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.started: list[Any] = []

    def start(self) -> Any:
        proc = serve_load.ServeProcess(self.data).start()
        self.started.append(proc)
        return proc

    def kill(self) -> None:
        """SIGKILL the last one: no shutdown handler runs (a power cut, the OOM killer)."""
        self.started[-1].kill()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """Starts servers on ``tmp_path / "data"``; stops them at the end (their logs are
    printed, so a failing test shows them)."""
    made = Servers(tmp_path / "data")
    try:
        yield made
    finally:
        for proc in made.started:
            proc.stop()
        if made.started:
            print(f"--- server log ---\n{made.started[-1].log_tail()}")


def new_job(api: Any, spec: tuple[int, int, int], seed: int) -> tuple[str, np.ndarray]:
    """A job with a clip of ``spec`` uploaded (a ZIP of PNG frames) and a box on its first frame."""
    frames, width, height = spec
    clip, masks = serve_load.make_clip(frames, width, height, seed=seed)
    job = api.new_job(f"clip {seed}", serve_load.zip_frames(clip), f"clip{seed}.zip", serve_load.box_of(masks[0]))
    assert job["media"]["frames"] == frames and job["media"]["frame_numbers"] == [1, frames], job
    return str(job["id"]), masks


def stored_masks(data: Path, job_id: str) -> Path:
    return data / "jobs" / job_id / "job.masks" / "obj_0001"


def assert_masks_right(data: Path, job_id: str, truth: np.ndarray, min_iou: float = 0.7) -> None:
    """A mask on every frame, each close to the moving disc (the resumed frames too; the
    classical engine is rough on the short clip's small, fast disc: ``min_iou`` 0 there)."""
    folder = stored_masks(data, job_id)
    ious = []
    for index, true in enumerate(truth):
        mask = cv2.imread(str(folder / f"{index:06d}.png"), cv2.IMREAD_GRAYSCALE)
        assert mask is not None, f"frame index {index} has no mask"
        got = mask > 127
        ious.append((got & true).sum() / max(1, (got | true).sum()))
    assert min(ious) >= min_iou, (job_id, str([round(float(v), 2) for v in ious]))


def frames_done(job: dict[str, Any]) -> bool:
    return job["state"] == "running" and job["progress"].get("done", 0) > 0


@pytest.mark.slow
def test_killed_mid_run_is_interrupted_then_resumed(servers: Servers) -> None:
    data, frames = servers.data, LONG[0]
    api = servers.start().api()
    job_id, truth = new_job(api, LONG, seed=1)
    api.ok("POST", f"/api/jobs/{job_id}/track", {"engine": "classic", "direction": "both"}, expect=(202,))
    seen = api.wait(job_id, 120, until=lambda j: frames_done(j) or j["state"] not in serve_load.BUSY)
    assert frames_done(seen), f"the run ended before it could be killed: {seen}"
    servers.kill()

    api = servers.start().api()
    job = api.job(job_id)
    assert job["state"] == "interrupted", job
    assert "resume" in job["error"], job
    assert job["queue_position"] is None
    kept = job["objects"][0]["frames"]
    assert 0 < kept < frames, job  # the frames it finished are kept, the rest are not there
    assert len(list(stored_masks(data, job_id).glob("*.png"))) == kept
    assert [j["id"] for j in api.ok("GET", "/api/jobs")] == [job_id]
    # nothing half-written is left where the server or the window would read it
    assert not [p.name for p in stored_masks(data, job_id).iterdir() if p.name.startswith(".")]

    resumed = api.ok("POST", f"/api/jobs/{job_id}/resume", expect=(202,))
    assert resumed["state"] in serve_load.BUSY and resumed["run"]["mode"] == "changed", resumed
    job = api.wait(job_id, 180)
    assert job["state"] == "done" and job["error"] is None, job
    assert job["objects"][0]["frames"] == frames, job
    assert_masks_right(data, job_id, truth)
    # resuming a job that is not interrupted is refused
    assert api.call("POST", f"/api/jobs/{job_id}/resume").status == 409


@pytest.mark.slow
def test_queued_when_killed_is_queued_again_and_finishes(servers: Servers) -> None:
    data = servers.data
    api = servers.start().api()
    running, running_truth = new_job(api, LONG, seed=2)
    waiting_long, long_truth = new_job(api, LONG, seed=3)
    waiting_short, short_truth = new_job(api, SHORT, seed=4)
    for job_id in (running, waiting_long, waiting_short):
        api.ok("POST", f"/api/jobs/{job_id}/track", {"engine": "classic", "direction": "forward"}, expect=(202,))
    seen = api.wait(running, 120, until=lambda j: frames_done(j) or j["state"] not in serve_load.BUSY)
    assert frames_done(seen), seen
    assert [api.job(j)["queue_position"] for j in (waiting_long, waiting_short)] == [0, 1]
    servers.kill()
    for job_id in (waiting_long, waiting_short):  # what the restart finds on disk
        state = json.loads((data / "jobs" / job_id / "job.json").read_text(encoding="utf-8"))
        assert state["state"] == "queued", state

    restarted = time.time()
    api = servers.start().api()
    assert api.job(running)["state"] == "interrupted"
    # queued again in their old order: the long one runs first, the short one waits behind it
    first = api.wait(waiting_long, 60, until=lambda j: j["state"] != "queued")
    second = api.job(waiting_short)
    assert first["state"] == "running", first
    assert second["state"] == "queued" and second["queue_position"] == 0, second
    for job_id, truth in ((waiting_long, long_truth), (waiting_short, short_truth)):
        job = api.wait(job_id, 180)
        assert job["state"] == "done" and job["updated"] >= restarted, job
        assert job["objects"][0]["frames"] == len(truth), job
        assert_masks_right(data, job_id, truth, min_iou=0.7 if len(truth) == LONG[0] else 0.0)
    assert api.job(running)["state"] == "interrupted"  # an interrupted run waits for its resume

    api.ok("POST", f"/api/jobs/{running}/resume", expect=(202,))
    job = api.wait(running, 180)
    assert job["state"] == "done" and job["objects"][0]["frames"] == LONG[0], job
    assert_masks_right(data, running, running_truth)


def test_upload_cut_by_a_kill_leaves_nothing_behind(servers: Servers) -> None:
    proc = servers.start()
    api = proc.api()
    job_id = api.ok("POST", "/api/jobs", {"name": "cut"})["id"]
    media = servers.data / "jobs" / job_id / "media"
    with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as conn:
        conn.sendall(f"PUT /api/jobs/{job_id}/media?name=clip.zip HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Authorization: Bearer {proc.token}\r\nContent-Length: 4000000\r\n\r\n".encode())
        conn.sendall(b"\0" * 1_000_000)  # a quarter of it, then the server dies
        end = time.monotonic() + 30
        while not (media.is_dir() and any(media.iterdir())) and time.monotonic() < end:
            time.sleep(0.02)
        servers.kill()
    api = servers.start().api()
    assert api.job(job_id)["state"] == "new"
    left = [p.name for p in media.iterdir()] if media.is_dir() else []
    assert left == [], f"left behind: {left}"


def test_stopped_politely_mid_run_is_interrupted_too(servers: Servers) -> None:
    api = servers.start().api()
    job_id, _ = new_job(api, LONG, seed=5)
    api.ok("POST", f"/api/jobs/{job_id}/track", {"engine": "classic", "direction": "forward"}, expect=(202,))
    seen = api.wait(job_id, 120, until=lambda j: frames_done(j) or j["state"] not in serve_load.BUSY)
    assert frames_done(seen), seen
    servers.started[-1].stop()  # SIGTERM: uvicorn shuts down, the worker stops
    api = servers.start().api()
    job = api.job(job_id)
    assert job["state"] == "interrupted", job
    assert 0 < job["objects"][0]["frames"] < LONG[0], job

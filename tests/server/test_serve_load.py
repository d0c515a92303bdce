"""``run.py serve`` under load, as a real server on 127.0.0.1 (a subprocess): 20 clients at
once create jobs and upload media (ZIPs of PNG frames, MP4 movies, image by image), send a
box prompt; 5 start track runs at once (one runs, the rest queue in order); one queued and
one running run are cancelled; then the other 15 track too. Every other run ends ``done``
with a mask on every frame, the cancelled ones end ``cancelled``, and nothing is lost: every
job is listed with its media, every upload has its byte count on disk.

Plus ``bench/serve_load.py`` in a quick mode (its RESULT line, nothing lost)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.benchload import load_bench

serve_load = load_bench("serve_load")

CLIENTS = 20
TRACKERS = 5  # clients that start a track run at the same moment
#: the 5 tracked at once: long enough (a few seconds each) that one is caught mid-run
LONG = (64, 320, 240)
#: the others: frames, width, height
SHORT = (10, 96, 72)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    """A real ``run.py serve`` on a free port of 127.0.0.1, stopped at the end (its log is
    printed, so a failing test shows it)."""
    proc = serve_load.ServeProcess(tmp_path / "data").start()
    try:
        yield proc
    finally:
        proc.stop()
        print(f"--- server log ---\n{proc.log_tail()}")


@dataclass
class Prepared:
    """A client's job after its upload: what it sent, to check against what the server kept."""

    client: int
    job_id: str
    kind: str  # zip, mp4 or images
    frames: int
    files: dict[str, int]  # path under the job's media folder -> bytes sent


def all_at_once(count: int, work: Callable[[int, threading.Barrier], Any]) -> list[Any]:
    """``work(i, barrier)`` on ``count`` threads that pass ``barrier`` together; the results
    in order (an exception in any thread is raised here)."""
    barrier = threading.Barrier(count, timeout=120)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, i, barrier) for i in range(count)]
        return [f.result(timeout=300) for f in futures]


def _prepare(api: Any, i: int, barrier: threading.Barrier) -> Prepared:
    frames, width, height = LONG if i < TRACKERS else SHORT
    clip, masks = serve_load.make_clip(frames, width, height, seed=i)
    kind = "zip" if i < TRACKERS else ("zip", "mp4", "images")[i % 3]
    files: dict[str, int] = {}
    barrier.wait()
    job_id = api.ok("POST", "/api/jobs", {"name": f"client {i}"})["id"]
    if kind == "images":
        for name, blob in serve_load.png_frames(clip):
            reply = api.ok("PUT", f"/api/jobs/{job_id}/images?name={name}", blob, "image/png")
            assert reply == {"image": name, "bytes": len(blob)}
            files[f"images/{name}"] = len(blob)
        described = api.ok("POST", f"/api/jobs/{job_id}/images/done")
    else:
        blob = serve_load.zip_frames(clip) if kind == "zip" else serve_load.mp4_frames(clip)
        name = f"client{i}.{kind}"
        described = api.ok("PUT", f"/api/jobs/{job_id}/media?name={name}", blob, "application/octet-stream")
        files[name] = len(blob)
    media = described["media"]
    assert described["state"] == "ready" and media["frames"] == frames, described
    assert (media["width"], media["height"]) == (width, height)
    # source frame numbers: 1..N for the frames f.0001.png.., 0..N-1 for a movie
    assert media["frame_numbers"] == ([0, frames - 1] if kind == "mp4" else [1, frames])
    reply = api.ok("POST", f"/api/jobs/{job_id}/prompts",
                   serve_load.box_prompts(media["frame_numbers"][0], serve_load.box_of(masks[0])))
    assert reply == {"objects": {"thing": 1}}
    return Prepared(i, job_id, kind, frames, files)


def _track(api: Any, job_id: str, barrier: threading.Barrier, direction: str) -> Any:
    barrier.wait()
    return api.ok("POST", f"/api/jobs/{job_id}/track", {"engine": "classic", "direction": direction},
                  expect=(202,))


def _listed(api: Any) -> dict[str, dict[str, Any]]:
    return {j["id"]: j for j in api.ok("GET", "/api/jobs")}


class RunWatch(threading.Thread):
    """Lists the jobs every 50 ms while the runs go: the most seen running at once."""

    def __init__(self, api: Any) -> None:
        super().__init__(daemon=True)
        self.api, self.most, self.samples = api, 0, 0
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            try:
                running = sum(j["state"] == "running" for j in self.api.ok("GET", "/api/jobs"))
            except Exception as exc:  # reported by the test
                self.failures.append(repr(exc))
                continue
            self.most, self.samples = max(self.most, running), self.samples + 1

    def finish(self) -> None:
        self.done.set()
        self.join(10)


@pytest.mark.slow
def test_twenty_clients_at_once_lose_nothing(server: Any) -> None:
    api = server.api()
    # 1. twenty clients at once: a job each, its media, a box prompt
    jobs: list[Prepared] = all_at_once(CLIENTS, lambda i, b: _prepare(api, i, b))
    assert len({p.job_id for p in jobs}) == CLIENTS
    trackers = [p.job_id for p in jobs[:TRACKERS]]

    # 2. five start tracking at once: the worker runs one, the others queue in order
    watch = RunWatch(api)
    watch.start()
    answers = all_at_once(TRACKERS, lambda i, b: _track(api, trackers[i], b, "forward"))
    assert all(a["state"] in ("queued", "running") for a in answers), answers
    snap = _listed(api)
    states = [snap[j]["state"] for j in trackers]
    assert states.count("running") <= 1 and states.count("queued") >= TRACKERS - 2, states
    queued = sorted((snap[j] for j in trackers if snap[j]["state"] == "queued"), key=lambda j: j["queued_at"])
    assert [j["queue_position"] for j in queued] == list(range(len(queued))), queued
    assert all(snap[j]["queue_position"] is None for j in trackers if snap[j]["state"] != "queued")

    # 3. cancel the last queued one: it never starts; the ones behind it move up
    last = queued[-1]["id"]
    cancelled = api.ok("POST", f"/api/jobs/{last}/cancel")
    assert cancelled["state"] == "cancelled" and cancelled["queue_position"] is None, cancelled
    snap = _listed(api)
    still = sorted((snap[j] for j in trackers if snap[j]["state"] == "queued"), key=lambda j: j["queued_at"])
    assert [j["queue_position"] for j in still] == list(range(len(still))), still

    # 4. cancel the running one mid-way, once its progress shows frames done
    def mid_run(job: dict[str, Any]) -> bool:
        return job["state"] == "running" and 0 < job["progress"].get("done", 0) < job["progress"].get("total", 0)

    mid = None
    deadline = time.monotonic() + 120
    while mid is None and time.monotonic() < deadline:
        snap = _listed(api)
        mid = next((j for j in trackers if mid_run(snap[j])), None)
        time.sleep(0.02)
    assert mid is not None, "no track run was seen mid-way"
    api.ok("POST", f"/api/jobs/{mid}/cancel")
    ended = api.wait(mid, 60)
    assert ended["state"] == "cancelled", ended
    assert 0 < ended["objects"][0]["frames"] < LONG[0], ended  # stopped mid-way, its frames kept

    # 5. the other fifteen start tracking at once (both ways), queued behind the rest
    others = [p.job_id for p in jobs[TRACKERS:]]
    all_at_once(len(others), lambda i, b: _track(api, others[i], b, "both"))

    # 6. every other run ends done, with a mask on every frame
    finished = {p.job_id: api.wait(p.job_id, 180) for p in jobs}
    for p in jobs:
        job = finished[p.job_id]
        if p.job_id in (last, mid):
            assert job["state"] == "cancelled", job
            continue
        assert job["state"] == "done", job
        assert [o["frames"] for o in job["objects"]] == [p.frames], job
        assert job["progress"]["done"] == job["progress"]["total"] > 0, job
        masks = server.data / "jobs" / p.job_id / "job.masks" / "obj_0001"
        assert len(list(masks.glob("*.png"))) == p.frames
    assert finished[last]["objects"][0]["frames"] == 0  # cancelled before it started: never ran
    watch.finish()
    assert watch.most == 1 and watch.samples > 10 and not watch.failures, vars(watch)  # one run at a time

    # 7. nothing lost: every job listed with its media, every upload's bytes on disk
    listed = _listed(api)
    assert set(listed) == {p.job_id for p in jobs}
    for p in jobs:
        media = listed[p.job_id]["media"]
        assert media is not None and media["frames"] == p.frames, listed[p.job_id]
        assert media["name"] == ("images" if p.kind == "images" else f"client{p.client}.{p.kind}")
        folder = server.data / "jobs" / p.job_id / "media"
        for path, size in p.files.items():
            assert (folder / path).stat().st_size == size, (p.job_id, path)
    assert sum(j["state"] == "done" for j in listed.values()) == CLIENTS - 2
    assert api.ok("GET", "/api/jobs") == list(listed.values())  # and the listing is stable


def test_queued_again_after_a_cancel_waits_its_turn(server: Any) -> None:
    api = server.api()
    jobs = []
    for seed, (frames, width, height) in enumerate((LONG, SHORT, SHORT)):
        clip, masks = serve_load.make_clip(frames, width, height, seed=seed)
        jobs.append(api.new_job(f"job {seed}", serve_load.zip_frames(clip), "clip.zip",
                                serve_load.box_of(masks[0]))["id"])
    first, again, other = jobs
    for job_id in jobs:
        api.ok("POST", f"/api/jobs/{job_id}/track", {"direction": "forward"}, expect=(202,))
    assert api.ok("POST", f"/api/jobs/{again}/cancel")["state"] == "cancelled"
    api.ok("POST", f"/api/jobs/{again}/track", {"direction": "forward"}, expect=(202,))  # queued again, last
    assert api.job(first)["state"] == "running", "the first run should still be going"
    assert [api.job(j)["queue_position"] for j in (other, again)] == [0, 1]
    ended = {j: api.wait(j, 120) for j in jobs}
    assert all(job["state"] == "done" for job in ended.values()), ended
    # the worker runs one at a time: the run that waited first ends first
    assert ended[other]["updated"] < ended[again]["updated"], "the job queued again jumped the queue"


def test_bench_quick_mode_loses_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code = serve_load.main(["--clients", "4", "--jobs", "6", "--frames", "6", "--size", "64x48", "--timeout", "120"])
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("RESULT jobs="), out
    kv = dict(item.split("=", 1) for item in last.split()[1:])
    assert list(kv)[:4] == ["jobs", "lost", "p95_upload_s", "p95_api_ms"]
    assert kv["jobs"] == "6" and kv["lost"] == "0" and kv["errors"] == "0" and kv["done"] == "6", out
    for key in ("p95_upload_s", "p95_api_ms", "idle_p95_api_ms", "solo_upload_s", "seconds"):
        assert float(kv[key]) > 0, (key, out)
    assert code == 0, out

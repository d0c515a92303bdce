"""Load on ``run.py serve``: N clients at once against a real server on 127.0.0.1.

Starts ``python run.py serve --data TMP --port FREE --quiet`` (a subprocess, as an admin
starts it), then N client threads share M jobs (client i takes jobs i, i+N, ...): each
creates its jobs, uploads their media (a ZIP of PNG frames ``f.0001.png``..; a small MP4
every other job with ``--media mix``), sends a box prompt on the first frame and starts a
track run (classical engine); the worker runs them one at a time, the rest queue. While
that goes on every client polls its jobs (``GET /api/jobs/{id}``) and one more thread
probes a random job every 50 ms: those calls are the API latency under load.

At the end nothing may be lost: every created job is listed by ``GET /api/jobs`` with its
media, every acknowledged upload has its byte count on disk, and every run ended ``done``
with a mask on every frame.

Baseline, same run: the same calls on the idle server before the load (one upload, one
``GET /api/jobs/{id}`` x 50), so the figures read as a ratio to an unloaded server.

    python bench/serve_load.py [--clients 20] [--jobs 40] [--frames 24] [--size 160x120]
                               [--media zip|mix] [--keep DIR]

Last line: ``RESULT jobs=<int> lost=<int> p95_upload_s=<float> p95_api_ms=<float> done=<int>
errors=<int> idle_p95_api_ms=<float> api_ratio=<float> solo_upload_s=<float> seconds=<float>``

The helpers (:class:`ServeProcess`, :class:`Api`, :func:`make_clip`, :func:`zip_frames`,
:func:`mp4_frames`) are the ones the tests in ``tests/server/test_serve_*.py`` drive the
server with.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: Run states that are not over yet.
BUSY = ("queued", "running")


# -- the server -----------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeError(RuntimeError):
    """The server did not start, or a call answered what it should not have."""


class ServeProcess:
    """``python run.py serve --data DATA --port PORT --quiet`` on 127.0.0.1, as a subprocess.

    :meth:`start` waits until the API answers with the token from ``DATA/token``;
    :meth:`stop` ends it politely, :meth:`kill` with SIGKILL (a crash). Its output goes to
    ``DATA.log`` (beside the data folder, so the server never sees it), read by
    :meth:`log_tail` when something fails."""

    def __init__(self, data: Path, port: int | None = None) -> None:
        self.data = Path(data)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data.with_name(self.data.name + ".log")
        self.token = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self) -> Api:
        return Api(self.base, self.token)

    def start(self, timeout: float = 60.0) -> ServeProcess:
        """Start the server (on a new free port when the chosen one is taken) and wait for it."""
        for attempt in range(3):
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, str(ROOT / "run.py"), "serve", "--data", str(self.data), "--port",
                     str(self.port), "--quiet"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL)
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    break  # it exited: the port was taken, or it failed; the log says which
                token_file = self.data / "token"
                if token_file.is_file():
                    self.token = token_file.read_text(encoding="utf-8").strip()
                    try:
                        if self.api().call("GET", "/api/jobs", timeout=2.0).status == 200:
                            return self
                    except OSError:
                        pass
                time.sleep(0.05)
            else:
                self.kill()
                raise ServeError(f"the server did not answer within {timeout} s:\n{self.log_tail()}")
            if attempt < 2 and "address already in use" in self.log_tail().lower():
                self.port = free_port()
                continue
            raise ServeError(f"the server exited with status {self.proc.returncode}:\n{self.log_tail()}")
        raise ServeError("unreachable")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs (the crash a power cut or the OOM killer makes)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down, the worker stops), SIGKILL after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Reply:
    status: int
    data: Any
    seconds: float


class Api:
    """The JSON API over ``urllib`` (no proxy, one connection per call, as many clients make)."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
             timeout: float = 60.0) -> Reply:
        """One request; the reply's JSON (or bytes) and status, whatever the status."""
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=body, method=method,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": content_type})
        t0 = time.perf_counter()
        try:
            with self._opener.open(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        seconds = time.perf_counter() - t0
        try:
            data: Any = json.loads(raw) if raw else None
        except ValueError:
            data = raw
        return Reply(status, data, seconds)

    def ok(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
           expect: tuple[int, ...] = (200, 201, 202), timeout: float = 60.0) -> Any:
        """:meth:`call` that raises :class:`ServeError` unless the status is one of ``expect``."""
        reply = self.call(method, path, body, content_type, timeout)
        if reply.status not in expect:
            raise ServeError(f"{method} {path}: HTTP {reply.status}: {reply.data!r}"[:600])
        return reply.data

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/api/jobs/{job_id}"))

    def wait(self, job_id: str, timeout: float = 120.0, until: Any = None) -> dict[str, Any]:
        """Poll the job until ``until(job)`` holds (default: its run is over)."""
        until = until or (lambda j: j["state"] not in BUSY)
        end = time.monotonic() + timeout
        job = self.job(job_id)
        while not until(job):
            if time.monotonic() > end:
                raise ServeError(f"job {job_id} still {job['state']} ({job['progress']}) after {timeout} s")
            time.sleep(0.05)
            job = self.job(job_id)
        return job

    def new_job(self, name: str, media: bytes, media_name: str, box: list[int]) -> dict[str, Any]:
        """Create a job, upload its media and send a box prompt on its first frame."""
        job_id = self.ok("POST", "/api/jobs", {"name": name})["id"]
        self.ok("PUT", f"/api/jobs/{job_id}/media?name={media_name}", media, "application/octet-stream")
        job = self.job(job_id)
        self.ok("POST", f"/api/jobs/{job_id}/prompts", box_prompts(job["media"]["frame_numbers"][0], box))
        return self.job(job_id)


def box_prompts(frame_number: int, box: list[int], name: str = "thing") -> dict[str, Any]:
    """The prompts file with one object and one box on source frame ``frame_number``."""
    return {"objects": [{"name": name, "keyframes": [{"frame": int(frame_number), "boxes": [box]}]}]}


# -- media ----------------------------------------------------------------------------------------
def make_clip(frames: int, width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured disc moving over a smooth textured background: RGB uint8 (N, H, W, 3), and
    the disc's true masks, bool (N, H, W)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 150, (height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
    background = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    radius = max(4, min(width, height) // 6)
    tint = np.array([210, 70, 40], np.int16)
    texture = np.clip(tint + rng.integers(-25, 26, (height, width, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    out = np.empty((frames, height, width, 3), np.uint8)
    masks = np.empty((frames, height, width), bool)
    for t in range(frames):
        cx = radius + 1 + (width - 2 * radius - 2) * t / max(1, frames - 1)
        cy = height / 2 + (height / 5) * np.sin(t / 7)
        masks[t] = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
        out[t] = background
        out[t][masks[t]] = texture[masks[t]]
    return out, masks


def box_of(mask: np.ndarray) -> list[int]:
    """The box ``[x0, y0, x1, y1]`` (source pixels, exclusive end) around a mask."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def zip_frames(frames: np.ndarray) -> bytes:
    """A ZIP of PNG frames ``f.0001.png``.. (source frame numbers 1..N)."""
    import cv2

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i, frame in enumerate(frames):
            ok, data = cv2.imencode(".png", np.ascontiguousarray(frame[..., ::-1]))
            if not ok:
                raise ServeError("PNG encoding failed")
            z.writestr(f"f.{i + 1:04d}.png", data.tobytes())
    return buf.getvalue()


def png_frames(frames: np.ndarray) -> list[tuple[str, bytes]]:
    """The frames as PNG files ``f.0001.png``.. (for ``PUT /api/jobs/{id}/images``)."""
    import cv2

    return [(f"f.{i + 1:04d}.png", cv2.imencode(".png", np.ascontiguousarray(f[..., ::-1]))[1].tobytes())
            for i, f in enumerate(frames)]


def mp4_frames(frames: np.ndarray, fps: int = 24) -> bytes:
    """An MPEG-4 Part 2 movie of the frames (OpenCV's ``mp4v``; frame numbers 0..N-1)."""
    import cv2

    folder = Path(tempfile.mkdtemp(prefix="serve-load-"))
    try:
        path = folder / "clip.mp4"
        height, width = frames.shape[1:3]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
        try:
            for frame in frames:
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
        finally:
            writer.release()
        return path.read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def media_file(data: Path, job_id: str, name: str) -> Path:
    """Where the server keeps job ``job_id``'s uploaded media ``name``."""
    return Path(data) / "jobs" / job_id / "media" / name


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


# -- the load -------------------------------------------------------------------------------------
@dataclass
class Upload:
    job_id: str
    name: str
    size: int
    frames: int
    seconds: float


@dataclass
class Load:
    """What the clients did and measured (shared between their threads, under ``lock``)."""

    created: list[str] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    tracked: list[str] = field(default_factory=list)
    api_ms: list[float] = field(default_factory=list)
    client_upload_s: dict[int, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(api: Api, index: int, jobs: list[int], media: dict[int, tuple[bytes, str, list[int], int]],
            load: Load, start: threading.Barrier, deadline: float) -> None:
    mine: list[str] = []
    try:
        start.wait()
        for n in jobs:
            data, name, box, frames = media[n]
            job_id = api.ok("POST", "/api/jobs", {"name": f"client {index} job {n}"})["id"]
            with load.lock:
                load.created.append(job_id)
            reply = api.call("PUT", f"/api/jobs/{job_id}/media?name={name}", data, "application/octet-stream",
                             timeout=300)
            if reply.status != 200:
                raise ServeError(f"upload of job {job_id}: HTTP {reply.status}: {reply.data!r}"[:400])
            with load.lock:
                load.uploads.append(Upload(job_id, name, len(data), frames, reply.seconds))
                load.client_upload_s[index] = load.client_upload_s.get(index, 0.0) + reply.seconds
            first = reply.data["media"]["frame_numbers"][0]
            api.ok("POST", f"/api/jobs/{job_id}/prompts", box_prompts(first, box))
            api.ok("POST", f"/api/jobs/{job_id}/track", {"engine": "classic", "direction": "forward"})
            with load.lock:
                load.tracked.append(job_id)
            mine.append(job_id)
        waiting = list(mine)
        while waiting and time.monotonic() < deadline:
            for job_id in list(waiting):
                reply = api.call("GET", f"/api/jobs/{job_id}")
                with load.lock:
                    load.api_ms.append(reply.seconds * 1000)
                if reply.status != 200:
                    raise ServeError(f"GET job {job_id}: HTTP {reply.status}")
                if reply.data["state"] not in BUSY:
                    waiting.remove(job_id)
            time.sleep(0.2)
        if waiting:
            raise ServeError(f"client {index}: jobs {waiting} not finished by the deadline")
    except (OSError, ServeError, KeyError, TypeError) as exc:
        with load.lock:
            load.errors.append(f"client {index}: {type(exc).__name__}: {exc}"[:500])


def _probe(api: Api, load: Load, stop: threading.Event) -> None:
    rng = random.Random(1)
    while not stop.wait(0.05):
        with load.lock:
            ids = list(load.created)
        if not ids:
            continue
        try:
            reply = api.call("GET", f"/api/jobs/{rng.choice(ids)}", timeout=30)
        except OSError as exc:
            with load.lock:
                load.errors.append(f"probe: {exc}")
            continue
        with load.lock:
            load.api_ms.append(reply.seconds * 1000)


def audit(api: Api, data: Path, load: Load) -> dict[str, Any]:
    """What the server kept, checked against what the clients did: lost jobs and uploads,
    runs not done, masks missing."""
    listed = {j["id"]: j for j in api.ok("GET", "/api/jobs")}
    lost_jobs = [j for j in load.created if j not in listed]
    lost_uploads = []
    for up in load.uploads:
        job = listed.get(up.job_id)
        media = job.get("media") if job else None
        on_disk = media_file(data, up.job_id, up.name)
        if (media is None or media.get("name") != up.name or media.get("frames") != up.frames
                or not on_disk.is_file() or on_disk.stat().st_size != up.size):
            lost_uploads.append(up.job_id)
    frames = {up.job_id: up.frames for up in load.uploads}
    done, not_done = 0, []
    for job_id in load.tracked:
        job = api.job(job_id) if job_id in listed else None  # the list leaves the objects out
        if job and job["state"] == "done" and [o["frames"] for o in job["objects"]] == [frames[job_id]]:
            done += 1
        else:
            not_done.append(f"{job_id}: missing" if not job else f"{job_id}: {job['state']} {job['objects']}")
    return {"listed": len(listed), "lost_jobs": lost_jobs, "lost_uploads": lost_uploads, "done": done,
            "not_done": not_done, "lost": len(lost_jobs) + len(lost_uploads)}


def run_load(data: Path, clients: int, jobs: int, frames: int, width: int, height: int, media_kind: str,
             timeout: float) -> dict[str, Any]:
    """Start a server on ``data``, measure it idle, load it, audit it; the figures."""
    media: dict[int, tuple[bytes, str, list[int], int]] = {}
    for n in range(jobs):
        clip, masks = make_clip(frames, width, height, seed=n)
        box = box_of(masks[0])
        if media_kind == "mix" and n % 2:
            media[n] = (mp4_frames(clip), f"job{n}.mp4", box, frames)
        else:
            media[n] = (zip_frames(clip), f"job{n}.zip", box, frames)
    with ServeProcess(data) as server:
        api = server.api()
        # the baseline: the same calls on the idle server
        clip, _ = make_clip(frames, width, height, seed=10_000)
        blob = zip_frames(clip)
        job_id = api.ok("POST", "/api/jobs", {"name": "idle baseline"})["id"]
        solo = api.call("PUT", f"/api/jobs/{job_id}/media?name=solo.zip", blob, "application/octet-stream")
        if solo.status != 200:
            raise ServeError(f"baseline upload: HTTP {solo.status}: {solo.data!r}")
        idle_ms = [api.call("GET", f"/api/jobs/{job_id}").seconds * 1000 for _ in range(50)]

        load = Load()
        start = threading.Barrier(clients)
        t0 = time.perf_counter()
        deadline = time.monotonic() + timeout
        stop = threading.Event()
        prober = threading.Thread(target=_probe, args=(api, load, stop), daemon=True)
        prober.start()
        threads = [threading.Thread(target=_client, args=(api, i, list(range(i, jobs, clients)), media, load, start,
                                                          deadline), daemon=True) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic() + 30))
        stop.set()
        prober.join(5)
        seconds = time.perf_counter() - t0
        report = audit(api, data, load)
    upload_s = [u.seconds for u in load.uploads]
    return {"load": load, "audit": report, "seconds": seconds, "upload_s": upload_s, "idle_ms": idle_ms,
            "solo_upload_s": solo.seconds, "bytes": sum(len(m[0]) for m in media.values())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20, help="client threads at once (default 20)")
    ap.add_argument("--jobs", type=int, default=40, help="jobs in all, shared by the clients (default 40)")
    ap.add_argument("--frames", type=int, default=24, help="frames per job (default 24)")
    ap.add_argument("--size", default="160x120", help="frame size WxH (default 160x120)")
    ap.add_argument("--media", choices=("zip", "mix"), default="mix",
                    help="zip: ZIPs of PNG frames; mix: every other job an MP4 (default)")
    ap.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    ap.add_argument("--keep", help="keep the server's data folder here (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size must be WxH, got {args.size!r}")
    if args.clients < 1 or args.jobs < 1 or args.frames < 1 or min(width, height) < 32:
        ap.error("--clients, --jobs and --frames must be 1 or more, the size at least 32x32")
    tmp = Path(tempfile.mkdtemp(prefix="serve-load-"))
    data = Path(args.keep) if args.keep else tmp / "data"
    try:
        r = run_load(data, args.clients, args.jobs, args.frames, width, height, args.media, args.timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load, report = r["load"], r["audit"]
    api_ms, idle_ms, upload_s = load.api_ms, r["idle_ms"], r["upload_s"]
    per_client = list(load.client_upload_s.values())
    print(f"server: 127.0.0.1, {args.clients} clients, {args.jobs} jobs of {args.frames} frames {width}x{height} "
          f"({args.media}), {r['bytes'] / 1e6:.1f} MB uploaded, {r['seconds']:.1f} s in all")
    print(f"{'':<26}{'p50':>10}{'p95':>10}{'max':>10}{'idle p95':>10}{'ratio':>8}")
    if upload_s:
        print(f"{'upload (s)':<26}{np.median(upload_s):>10.3f}{p95(upload_s):>10.3f}{max(upload_s):>10.3f}"
              f"{r['solo_upload_s']:>10.3f}{p95(upload_s) / r['solo_upload_s']:>8.1f}")
    if per_client:
        print(f"{'upload per client (s)':<26}{np.median(per_client):>10.3f}{p95(per_client):>10.3f}"
              f"{max(per_client):>10.3f}")
    if api_ms:
        print(f"{'GET /api/jobs/{id} (ms)':<26}{np.median(api_ms):>10.1f}{p95(api_ms):>10.1f}{max(api_ms):>10.1f}"
              f"{p95(idle_ms):>10.1f}{p95(api_ms) / p95(idle_ms):>8.1f}   ({len(api_ms)} calls)")
    print(f"jobs created {len(load.created)}, listed {report['listed']} (with the baseline job), uploads "
          f"{len(load.uploads)}, runs done {report['done']}/{len(load.tracked)}; lost jobs {report['lost_jobs']}, "
          f"lost uploads {report['lost_uploads']}")
    for line in report["not_done"][:10]:
        print(f"not done: {line}")
    for line in load.errors[:10]:
        print(f"error: {line}")
    ratio = p95(api_ms) / p95(idle_ms) if api_ms and idle_ms else float("nan")
    print(f"RESULT jobs={len(load.created)} lost={report['lost']} p95_upload_s={p95(upload_s):.3f} "
          f"p95_api_ms={p95(api_ms):.1f} done={report['done']} errors={len(load.errors)} "
          f"idle_p95_api_ms={p95(idle_ms):.1f} api_ratio={ratio:.1f} solo_upload_s={r['solo_upload_s']:.3f} "
          f"seconds={r['seconds']:.1f}")
    ok = report["lost"] == 0 and not load.errors and report["done"] == len(load.tracked) == args.jobs
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

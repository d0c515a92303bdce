"""Every route of ``sam3roto serve``'s JSON API through FastAPI's test client, with the bad
inputs a shared server meets: no or wrong token, oversized uploads, hostile ZIPs, bad
Label Studio exports and prompts, unknown jobs and files, busy jobs, cancel mid-run; and
what a restart finds on disk."""

from __future__ import annotations

import io
import json
import os
import stat
import time
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from sam3roto.server.app import create_app, safe_name, settings_from
from sam3roto.server.store import JobStore, access_token
from tests.conftest import make_synthetic

TOKEN = "t" * 43
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def frames_zip(n: int = 6, width: int = 96, height: int = 64) -> tuple[bytes, Any]:
    """A ZIP of PNG frames ``f.0001.png``.. of a moving disc, and the clip (frames, masks)."""
    clip = make_synthetic(n=n, width=width, height=height, radius=14, seed=5)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, frame in enumerate(clip.frames):
            _, data = cv2.imencode(".png", frame[..., ::-1])
            z.writestr(f"f.{i + 1:04d}.png", bytes(data))
    return buf.getvalue(), clip


def box_of(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


@pytest.fixture
def client(tmp_path: Path):  # type: ignore[no-untyped-def]
    app = create_app(settings_from(tmp_path / "data", max_upload_mb=2, max_frames=50), TOKEN)
    with TestClient(app) as c:
        yield c


def new_job(c: TestClient, name: str = "shot") -> str:
    r = c.post("/api/jobs", json={"name": name}, headers=AUTH)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def wait(c: TestClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = c.get(f"/api/jobs/{job_id}", headers=AUTH).json()
        if job["state"] not in ("queued", "running"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def ready_job(c: TestClient, n: int = 6) -> tuple[str, Any]:
    data, clip = frames_zip(n)
    job_id = new_job(c)
    r = c.put(f"/api/jobs/{job_id}/media", params={"name": "clip.zip"}, content=data, headers=AUTH)
    assert r.status_code == 200, r.text
    return job_id, clip


# -- the token --------------------------------------------------------------------------------
def test_every_route_needs_the_token(client: TestClient) -> None:
    job_id = new_job(client)
    routes = [("get", "/api/jobs"), ("post", "/api/jobs"), ("get", f"/api/jobs/{job_id}"),
              ("delete", f"/api/jobs/{job_id}"), ("put", f"/api/jobs/{job_id}/media?name=a.zip"),
              ("put", f"/api/jobs/{job_id}/images?name=a.png"), ("delete", f"/api/jobs/{job_id}/images"),
              ("post", f"/api/jobs/{job_id}/images/done"), ("put", f"/api/jobs/{job_id}/labelstudio"),
              ("post", f"/api/jobs/{job_id}/labelstudio/apply"), ("post", f"/api/jobs/{job_id}/prompts"),
              ("get", f"/api/jobs/{job_id}/frames/0.jpg"), ("get", f"/api/jobs/{job_id}/overlay/0.png"),
              ("post", f"/api/jobs/{job_id}/track"), ("post", f"/api/jobs/{job_id}/render"),
              ("post", f"/api/jobs/{job_id}/resume"), ("post", f"/api/jobs/{job_id}/cancel"),
              ("get", f"/api/jobs/{job_id}/renders"), ("get", f"/api/jobs/{job_id}/renders/v001/a.zip"),
              ("get", "/openapi.json"), ("get", "/docs"), ("get", "/api/engines")]
    documented = {path for path in client.app.openapi()["paths"]}  # type: ignore[attr-defined]
    assert len(documented) >= 16  # every API route is listed here: none left unguarded by accident
    for method, url in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {TOKEN}x"}):
            r = getattr(client, method)(url, headers=headers)
            assert r.status_code == 401, (method, url, r.status_code)
            assert "access token" in r.json()["error"]
    page = client.get("/")
    assert page.status_code == 401 and "access token" in page.text
    assert client.get(f"/api/jobs/{job_id}", headers=AUTH).status_code == 200  # still there


def test_the_page_sets_a_cookie_its_own_requests_carry(client: TestClient) -> None:
    r = client.get("/", params={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"  # no token left in the address bar
    cookie = r.headers.get("set-cookie", "")
    assert cookie.startswith("sam3roto_token_") and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert r.headers["referrer-policy"] == "no-referrer"
    page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert client.get("/api/jobs").status_code == 200  # the cookie, no header
    assert client.get("/openapi.json").json()["info"]["title"] == "sam3roto serve"
    # with the cookie alone, a change sent from another site's page is refused
    r = client.post("/api/jobs", content=b"{}", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "another site" in r.json()["error"]
    r = client.post("/api/jobs", content=b"{}", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert client.post("/api/jobs", json={}, headers={"Origin": "http://testserver"}).status_code == 201
    # a stale cookie does not shadow a right token in the address, and a wrong one is cleared
    client.cookies.clear()
    client.cookies.set(cookie.split("=")[0], "stale")
    assert client.get("/api/jobs").status_code == 401
    assert client.get("/api/jobs", params={"token": TOKEN}).status_code == 200


def test_the_token_file_is_made_once_and_private(tmp_path: Path) -> None:
    token, made = access_token(tmp_path / "d")
    again, made_again = access_token(tmp_path / "d")
    assert made and not made_again and token == again and len(token) >= 40
    assert stat.S_IMODE(os.stat(tmp_path / "d" / "token").st_mode) == 0o600


# -- jobs, media, prompts, track, render, download --------------------------------------------
def test_a_job_from_upload_to_mask_zip(client: TestClient) -> None:
    job_id, clip = ready_job(client)
    job = client.get(f"/api/jobs/{job_id}", headers=AUTH).json()
    assert job["state"] == "ready" and job["media"]["frames"] == 6 and job["media"]["frame_numbers"] == [1, 6]
    assert job["media"]["width"] == 96 and job["media"]["colorspace"] == "sRGB Encoded Rec.709 (sRGB)"
    prompts = {"objects": [{"name": "disc", "keyframes": [{"frame": 1, "boxes": [box_of(clip.masks[0])]}]}]}
    r = client.post(f"/api/jobs/{job_id}/prompts", json=prompts, headers=AUTH)
    assert r.status_code == 200 and r.json()["objects"] == {"disc": 1}
    r = client.post(f"/api/jobs/{job_id}/track", json={"engine": "classic", "direction": "forward"}, headers=AUTH)
    assert r.status_code == 202 and r.json()["state"] in ("queued", "running", "done")
    job = wait(client, job_id)
    assert job["state"] == "done", job
    assert job["objects"][0]["frames"] == 6 and job["objects"][0]["keyframes"] == [0]
    frame = client.get(f"/api/jobs/{job_id}/frames/2.jpg", headers=AUTH)
    assert frame.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(frame.content, np.uint8), cv2.IMREAD_COLOR)
    shown = image[..., ::-1].astype(int)
    assert image.shape == (64, 96, 3) and np.abs(shown - clip.frames[2]).mean() < 16  # JPEG on a noisy plate
    assert np.abs(shown - clip.frames[2]).mean() < np.abs(shown - clip.frames[0]).mean()  # that frame
    small = cv2.imdecode(np.frombuffer(client.get(f"/api/jobs/{job_id}/frames/2.jpg?width=48", headers=AUTH).content,
                                       np.uint8), cv2.IMREAD_COLOR)
    assert small.shape == (32, 48, 3)
    overlay = cv2.imdecode(np.frombuffer(client.get(f"/api/jobs/{job_id}/overlay/2.png", headers=AUTH).content,
                                         np.uint8), cv2.IMREAD_UNCHANGED)
    assert overlay.shape == (64, 96, 4)
    server = client.app.state.server  # type: ignore[attr-defined]
    from sam3roto.core.project_io import load_project, open_mask_store

    path = server.store.project_path(job_id)
    stored = open_mask_store(path, load_project(path))
    tracked = stored.get(1, 2)
    assert tracked is not None and tracked.any()
    np.testing.assert_array_equal(overlay[..., 3] > 0, tracked)  # the stored mask, translucent
    assert set(np.unique(overlay[..., 3])) <= {0, 140}
    ys, xs = np.nonzero(tracked)
    ty, tx = np.nonzero(clip.masks[2])
    assert abs(xs.mean() - tx.mean()) < 14 and abs(ys.mean() - ty.mean()) < 14  # on the disc (radius 14)
    r = client.post(f"/api/jobs/{job_id}/render", json={"outputs": ["mask-zip", "png-alpha"], "zip_mode": "per_label"},
                    headers=AUTH)
    assert r.status_code == 202
    job = wait(client, job_id)
    assert job["state"] == "done" and job["run"]["result"]["version"] == "v001"
    listed = client.get(f"/api/jobs/{job_id}/renders", headers=AUTH).json()
    assert listed[0]["version"] == "v001" and "manifest.json" in listed[0]["files"]
    zip_name = next(f for f in listed[0]["files"] if f.endswith(".zip"))
    got = client.get(f"/api/jobs/{job_id}/renders/v001/{zip_name}", headers=AUTH)
    assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(got.content)) as z:
        names = sorted(n for n in z.namelist() if n.endswith(".png"))
        assert len(names) == 6 and all(n.startswith("disc/") for n in names)
        mask = cv2.imdecode(np.frombuffer(z.read(names[3]), np.uint8), cv2.IMREAD_UNCHANGED) > 0
    np.testing.assert_array_equal(mask, stored.get(1, 3))
    # the job's folder is a project the window opens, with the desktop layout
    folder = Path(client.app.state.server.store.folder(job_id))  # type: ignore[attr-defined]
    assert (folder / "job.sam3roto").is_file() and (folder / "job.masks").is_dir()
    assert (folder / "renders" / "v001" / "manifest.json").is_file()


def test_a_sequence_of_uploaded_images_and_engines(client: TestClient) -> None:
    job_id = new_job(client)
    _, clip = frames_zip(4)
    for i, frame in enumerate(clip.frames):
        _, data = cv2.imencode(".png", frame[..., ::-1])
        r = client.put(f"/api/jobs/{job_id}/images", params={"name": f"plate.{1001 + i}.png"}, content=bytes(data),
                       headers=AUTH)
        assert r.status_code == 200 and r.json()["bytes"] == len(data)
    r = client.post(f"/api/jobs/{job_id}/images/done", headers=AUTH)
    assert r.status_code == 200 and r.json()["media"]["frame_numbers"] == [1001, 1004]
    engines = client.get("/api/engines", headers=AUTH).json()
    assert engines[0]["name"] == "classic" and any(e["name"] == "sam3" for e in engines)
    assert client.post(f"/api/jobs/{job_id}/images/done", headers=AUTH).status_code == 409  # media already


def test_label_studio_exports_one_task_at_once_several_by_choice(client: TestClient) -> None:
    job_id, clip = ready_job(client)
    x0, y0, x1, y1 = box_of(clip.masks[0])

    def task(task_id: int, label: str) -> dict[str, Any]:
        return {"id": task_id, "data": {"image": "/data/upload/1/f.0001.png"}, "annotations": [{"id": 1, "result": [
            {"id": "r1", "type": "rectanglelabels", "original_width": 96, "original_height": 64,
             "value": {"x": 100 * x0 / 96, "y": 100 * y0 / 64, "width": 100 * (x1 - x0) / 96,
                       "height": 100 * (y1 - y0) / 64, "rectanglelabels": [label]}}]}]}

    r = client.put(f"/api/jobs/{job_id}/labelstudio", content=json.dumps([task(7, "disc")]), headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["imported"]["objects"] == {"disc": 1} and r.json()["tasks"][0]["id"] == 7
    r = client.put(f"/api/jobs/{job_id}/labelstudio", content=json.dumps([task(8, "ball"), task(9, "coin")]),
                   headers=AUTH)
    assert r.status_code == 200 and r.json()["imported"] is None and [t["id"] for t in r.json()["tasks"]] == [8, 9]
    r = client.post(f"/api/jobs/{job_id}/labelstudio/apply", json={"task": 9}, headers=AUTH)
    assert r.status_code == 200 and r.json()["imported"]["objects"] == {"coin": 2}
    r = client.post(f"/api/jobs/{job_id}/labelstudio/apply", json={"task": 99}, headers=AUTH)
    assert r.status_code == 400 and "99" in r.json()["error"]
    names = [o["name"] for o in client.get(f"/api/jobs/{job_id}", headers=AUTH).json()["objects"]]
    assert names == ["disc", "coin"]


# -- bad input ------------------------------------------------------------------------------
def test_bad_uploads_are_clear_json_errors_and_leave_nothing(client: TestClient, tmp_path: Path) -> None:
    job_id = new_job(client)
    media = Path(client.app.state.server.store.folder(job_id)) / "media"  # type: ignore[attr-defined]
    r = client.put(f"/api/jobs/{job_id}/media", params={"name": "../../run.sh"}, content=b"#!/bin/sh", headers=AUTH)
    assert r.status_code == 400 and "not a file type" in r.json()["error"]
    r = client.put(f"/api/jobs/{job_id}/media", params={"name": "big.zip"}, content=b"x" * (3 * 1024**2),
                   headers=AUTH)
    assert r.status_code == 413 and "over the limit" in r.json()["error"]
    r = client.put(f"/api/jobs/{job_id}/media", params={"name": "empty.zip"}, content=b"", headers=AUTH)
    assert r.status_code == 400 and "empty" in r.json()["error"]
    slip = io.BytesIO()
    with zipfile.ZipFile(slip, "w") as z:
        z.writestr("../evil.png", b"x")
    r = client.put(f"/api/jobs/{job_id}/media", params={"name": "slip.zip"}, content=slip.getvalue(), headers=AUTH)
    assert r.status_code == 400 and "zip slip" in r.json()["error"]
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("f.0001.png", b"\0" * (200 * 1024**2))  # 200 MB of zeros in about 200 KB
    r = client.put(f"/api/jobs/{job_id}/media", params={"name": "bomb.zip"}, content=bomb.getvalue(), headers=AUTH)
    assert r.status_code == 400 and r.json()["error"]
    r = client.put(f"/api/jobs/{job_id}/media", params={"name": "junk.mp4"}, content=b"not a movie" * 100,
                   headers=AUTH)
    assert r.status_code == 400
    assert not media.exists() or not any(media.iterdir())  # nothing of the refused uploads stays
    assert client.get(f"/api/jobs/{job_id}", headers=AUTH).json()["state"] == "new"
    many, _ = frames_zip(60, 32, 24)
    r = client.put(f"/api/jobs/{job_id}/media", params={"name": "long.zip"}, content=many, headers=AUTH)
    assert r.status_code == 413 and "limit of 50" in r.json()["error"]


def test_bad_label_studio_and_prompts(client: TestClient) -> None:
    job_id = new_job(client)
    r = client.put(f"/api/jobs/{job_id}/labelstudio", content=b"[]", headers=AUTH)
    assert r.status_code == 400 and "no media" in r.json()["error"]
    job_id, _ = ready_job(client)
    for body, words in [(b"{not json", "JSON"), (b"[]", "task"), (json.dumps([{"id": 1}]).encode(), "task"),
                        (b'[{"id": 1, "data": {"image": "http://evil.example/x.png"}, "annotations": '
                         b'[{"id": 1, "result": [{"type": "rectanglelabels", "value": {"x": 1e999}}]}]}]', "")]:
        r = client.put(f"/api/jobs/{job_id}/labelstudio", content=body, headers=AUTH)
        assert r.status_code == 400, (body, r.text)
        assert words in r.json()["error"] or not words
    for body in [{"objects": [{"name": "x", "keyframes": [{"frame": 99, "boxes": [[1, 1, 5, 5]]}]}]},
                 {"objects": [{"name": "x", "keyframes": [{"frame": 1, "boxes": [[1, 1, 500, 5]]}]}]},
                 {"objects": "nope"}, [1, 2]]:
        r = client.post(f"/api/jobs/{job_id}/prompts", json=body, headers=AUTH)
        assert r.status_code == 400 and r.json()["error"], r.text
    r = client.post(f"/api/jobs/{job_id}/prompts", content=b"{", headers=AUTH)
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    assert client.get(f"/api/jobs/{job_id}", headers=AUTH).json()["objects"] == []


def test_unknown_jobs_files_and_options(client: TestClient) -> None:
    for bad in ("zzz", "0123456789ab", "../../etc", "0123456789AB"):
        r = client.get(f"/api/jobs/{bad}", headers=AUTH)
        assert r.status_code == 404, bad
    job_id, _ = ready_job(client)
    assert client.get(f"/api/jobs/{job_id}/frames/99.jpg", headers=AUTH).status_code == 404
    assert client.get(f"/api/jobs/{job_id}/overlay/-1.png", headers=AUTH).status_code == 404
    assert client.get(f"/api/jobs/{job_id}/frames/1.jpg?width=3", headers=AUTH).status_code == 400
    r = client.get(f"/api/jobs/{job_id}/frames/1.jpg?width=abc", headers=AUTH)
    assert r.status_code == 400 and "width" in r.json()["error"]
    r = client.get("/api/nothing-here", headers=AUTH)
    assert r.status_code == 404 and "error" in r.json()
    for body in (b"[1]", b'"x"'):
        r = client.post(f"/api/jobs/{job_id}/track", content=body, headers=AUTH)
        assert r.status_code == 400 and "JSON object" in r.json()["error"]
    renders = Path(client.app.state.server.store.folder(job_id)) / "renders" / "v001"  # type: ignore[attr-defined]
    renders.mkdir(parents=True)
    (renders / "ok.txt").write_text("fine")
    (renders / "link.json").symlink_to(renders.parents[1] / "job.json")  # a link out of the renders
    assert client.get(f"/api/jobs/{job_id}/renders/v001/ok.txt", headers=AUTH).text == "fine"
    for sneaky in ("%2e%2e/%2e%2e/job.json", "..%2f..%2fjob.json", "link.json", "%2fetc%2fpasswd"):
        r = client.get(f"/api/jobs/{job_id}/renders/v001/{sneaky}", headers=AUTH)
        assert r.status_code == 404, (sneaky, r.status_code, r.text[:80])
    assert client.get(f"/api/jobs/{job_id}/renders/x/job.json", headers=AUTH).status_code == 404
    for body, word in [({"engine": "nope"}, "nope"), ({"direction": "sideways"}, "direction"),
                       ({"mode": "some"}, "mode")]:
        r = client.post(f"/api/jobs/{job_id}/track", json=body, headers=AUTH)
        assert r.status_code == 400 and word in r.json()["error"]
    r = client.post(f"/api/jobs/{job_id}/render", json={"outputs": ["tiff"]}, headers=AUTH)
    assert r.status_code == 400 and "tiff" in r.json()["error"]
    assert client.post(f"/api/jobs/{job_id}/resume", headers=AUTH).status_code == 409
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=AUTH).status_code == 409
    no_media = new_job(client)
    r = client.post(f"/api/jobs/{no_media}/track", json={}, headers=AUTH)
    assert r.status_code == 400 and "no media" in r.json()["error"]
    assert client.get("/static/..%2fapp.py", params={"token": TOKEN}).status_code == 404


def test_cancel_mid_run_and_delete(client: TestClient) -> None:
    job_id, clip = ready_job(client, n=40)
    prompts = {"objects": [{"name": "disc", "keyframes": [{"frame": 1, "boxes": [box_of(clip.masks[0])]}]}]}
    client.post(f"/api/jobs/{job_id}/prompts", json=prompts, headers=AUTH)
    other, clip2 = ready_job(client, n=6)
    client.post(f"/api/jobs/{other}/prompts", json={"objects": [{"name": "d", "keyframes": [
        {"frame": 1, "boxes": [box_of(clip2.masks[0])]}]}]}, headers=AUTH)
    assert client.post(f"/api/jobs/{job_id}/track", json={}, headers=AUTH).status_code == 202
    assert client.post(f"/api/jobs/{other}/track", json={}, headers=AUTH).status_code == 202
    assert client.get(f"/api/jobs/{other}", headers=AUTH).json()["queue_position"] in (0, None)
    assert client.delete(f"/api/jobs/{job_id}", headers=AUTH).status_code == 409  # running: cancel first
    assert client.post(f"/api/jobs/{job_id}/track", json={}, headers=AUTH).status_code == 409
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=AUTH).status_code == 200
    job = wait(client, job_id)
    assert job["state"] == "cancelled"
    assert wait(client, other)["state"] == "done"  # the queue went on
    assert client.delete(f"/api/jobs/{job_id}", headers=AUTH).status_code == 200
    assert client.get(f"/api/jobs/{job_id}", headers=AUTH).status_code == 404
    assert [j["id"] for j in client.get("/api/jobs", headers=AUTH).json()] == [other]


# -- on disk --------------------------------------------------------------------------------
def test_a_restart_marks_running_jobs_interrupted_and_requeues_queued_ones(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "data")
    running, queued, done = store.create("a"), store.create("b"), store.create("c")
    store.update(running.id, state="running", run={"kind": "track"})
    store.update(queued.id, state="queued", run={"kind": "render"}, queued_at=1.0)
    store.update(done.id, state="done")
    (tmp_path / "data" / "jobs" / "not-a-job").mkdir()
    (tmp_path / "data" / "jobs" / "0123456789ab").mkdir()  # no job.json: not served
    again = JobStore(tmp_path / "data")
    states = {j.id: j.state for j in again.all()}
    assert states == {running.id: "interrupted", queued.id: "queued", done.id: "done"}
    assert "resume" in (again.get(running.id).error or "")
    assert [j.id for j in again.queued()] == [queued.id]


def test_safe_names() -> None:
    assert safe_name("My Clip (v2).MOV", (".mov",)) == "My_Clip_v2_.MOV"
    assert safe_name("C:\\x\\y\\plate.0001.exr", (".exr",)) == "plate.0001.exr"
    for bad in ("", "..", "x.sh", "/etc/passwd", "a.zip.sh"):
        with pytest.raises(Exception, match="file type"):
            safe_name(bad, (".zip",))


@pytest.mark.skipif(not (DATA / "davis2016").is_dir(), reason=f"real footage not found: {DATA / 'davis2016'}")
def test_real_blackswan_through_the_api(client: TestClient, tmp_path: Path) -> None:
    swan = DATA / "davis2016" / "JPEGImages" / "480p" / "blackswan"
    truth = DATA / "davis2016" / "Annotations" / "480p" / "blackswan"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in sorted(swan.glob("*.jpg"))[:8]:
            z.write(p, p.name)
    big = create_app(settings_from(tmp_path / "big"), TOKEN)
    with TestClient(big) as c:
        job_id = new_job(c, "blackswan")
        assert c.put(f"/api/jobs/{job_id}/media", params={"name": "swan.zip"}, content=buf.getvalue(),
                     headers=AUTH).status_code == 200
        first = cv2.imread(str(truth / "00000.png"), cv2.IMREAD_GRAYSCALE) > 0
        prompts = {"objects": [{"name": "swan", "keyframes": [{"frame": 0, "boxes": [box_of(first)]}]}]}
        assert c.post(f"/api/jobs/{job_id}/prompts", json=prompts, headers=AUTH).status_code == 200
        c.post(f"/api/jobs/{job_id}/track", json={"engine": "classic"}, headers=AUTH)
        assert wait(c, job_id, 120)["state"] == "done"
        c.post(f"/api/jobs/{job_id}/render", json={"outputs": ["mask-zip"]}, headers=AUTH)
        job = wait(c, job_id, 120)
        version = job["run"]["result"]["version"]
        name = next(f for f in c.get(f"/api/jobs/{job_id}/renders", headers=AUTH).json()[0]["files"]
                    if f.endswith(".zip"))
        got = c.get(f"/api/jobs/{job_id}/renders/{version}/{name}", headers=AUTH)
        with zipfile.ZipFile(io.BytesIO(got.content)) as z:
            pngs = sorted(n for n in z.namelist() if n.endswith(".png"))
            assert len(pngs) == 8
            ious = []
            for k, n in enumerate(pngs):
                mask = cv2.imdecode(np.frombuffer(z.read(n), np.uint8), cv2.IMREAD_GRAYSCALE) > 0
                gt = cv2.imread(str(truth / f"{k:05d}.png"), cv2.IMREAD_GRAYSCALE) > 0
                ious.append((mask & gt).sum() / max(1, (mask | gt).sum()))
        assert min(ious) > 0.5, ious


def test_limits_on_prompts_json_bodies_and_staged_images(client: TestClient) -> None:
    job_id, _ = ready_job(client)
    many = {"objects": [{"name": "x", "keyframes": [{"frame": 1, "points": [[5, 5]] * 10_001}]}]}
    r = client.post(f"/api/jobs/{job_id}/prompts", json=many, headers=AUTH)
    assert r.status_code == 413 and "10001 points and boxes" in r.json()["error"]
    r = client.post("/api/jobs", content=b'{"name": "' + b"x" * 100_000 + b'"}', headers=AUTH)
    assert r.status_code == 413 and "over the limit" in r.json()["error"]
    # images after the media is open: refused (they would change the shot under its masks)
    r = client.put(f"/api/jobs/{job_id}/images", params={"name": "f.0007.png"}, content=b"x", headers=AUTH)
    assert r.status_code == 409
    assert client.delete(f"/api/jobs/{job_id}/images", headers=AUTH).status_code == 409
    # a set of images that was stopped is forgotten before the next set
    other = new_job(client)
    _, clip = frames_zip(3)
    _, data = cv2.imencode(".png", clip.frames[0][..., ::-1])
    client.put(f"/api/jobs/{other}/images", params={"name": "stale.0001.png"}, content=bytes(data), headers=AUTH)
    assert client.delete(f"/api/jobs/{other}/images", headers=AUTH).status_code == 200
    r = client.post(f"/api/jobs/{other}/images/done", headers=AUTH)
    assert r.status_code == 400 and "no images" in r.json()["error"]


def test_the_worker_goes_on_when_a_run_cannot_record_its_state(tmp_path: Path) -> None:
    from sam3roto.core.jobs import Progress
    from sam3roto.server.worker import Worker

    store = JobStore(tmp_path / "data")
    a, b = store.create("a"), store.create("b")
    ran: list[str] = []

    def run(job_id: str, token: Any) -> Any:
        ran.append(job_id)
        yield Progress(1, 1, "one")
        return {"ok": True}

    real = store.update
    failed = []

    def flaky(job_id: str, **changes: Any) -> Any:
        if job_id == a.id and changes.get("state") == "running" and not failed:
            failed.append(1)
            raise OSError(28, "No space left on device")
        return real(job_id, **changes)

    store.update = flaky  # type: ignore[method-assign]
    worker = Worker(store, run)
    try:
        worker.submit(a.id, {"kind": "test"})
        worker.submit(b.id, {"kind": "test"})
        end = time.monotonic() + 10
        while store.get(b.id).state != "done" and time.monotonic() < end:
            time.sleep(0.05)
        assert store.get(b.id).state == "done" and ran == [b.id]
        assert store.get(a.id).state == "failed" and "could not record" in (store.get(a.id).error or "")
    finally:
        worker.stop()

"""``python run.py serve`` as an admin starts it: a real server on 127.0.0.1, the token
printed at the first start only, the page and the API behind it, bad options refused."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "serve", "--data", str(data), "--port", str(port),
                             *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/jobs", timeout=2)
        except urllib.error.HTTPError:
            return proc  # it answers (401 without the token)
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited: {proc.stdout.read() if proc.stdout else ''}") from None
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("serve did not answer within 60 s")


def stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def get(url: str, token: str | None = None, *, follow: bool = True,
        cookie: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if cookie:
        headers["Cookie"] = cookie
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_serve_prints_the_token_once_and_guards_everything(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    proc = start(data, port)
    try:
        token = (data / "token").read_text().strip()
        assert stat.S_IMODE(os.stat(data / "token").st_mode) == 0o600
        base = f"http://127.0.0.1:{port}"
        status, body, _ = get(f"{base}/api/jobs")
        assert status == 401 and "access token" in json.loads(body)["error"]
        assert get(f"{base}/api/jobs", token)[:2] == (200, b"[]")
        status, body, headers = get(f"{base}/?token={token}", follow=False)
        assert status == 303 and headers.get("location") == "/"
        cookie = headers.get("set-cookie", "").split(";")[0]
        assert cookie.startswith("sam3roto_token_")
        status, body, _ = get(f"{base}/", cookie=cookie)
        assert status == 200 and b"<html" in body.lower()
        status, body, _ = get(f"{base}/")
        assert status == 401 and b"access token" in body
        assert get(f"{base}/docs", token)[0] == 200
    finally:
        first = stop(proc)
    assert token in first and "printed this once" in first
    proc = start(data, port)
    second = stop(proc)
    assert token not in second and "open http://127.0.0.1:" in second


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    for extra in (["--max-upload-mb", "0"], ["--max-frames", "-3"]):
        proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "serve", "--data", str(tmp_path / "d"), *extra],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "d").exists()  # nothing made for a refused start

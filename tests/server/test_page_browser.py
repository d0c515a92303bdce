"""The page at ``/`` in a real browser: Debian's chromium, headless, driven by Selenium
against the real ``serve`` process, on real footage (DAVIS 2016 blackswan).

One walk through what an annotation team does: open ``/?token=``, make a job, upload a ZIP
of frames through the page's file input, upload a Label Studio export with two tasks and
choose one, drag a box on another frame, propagate with the classical engine, scrub the
result (the overlay loads and changes), render a mask ZIP, download it with the browser's
cookie and compare its masks with the DAVIS ground truth. Skips, naming what is missing,
without chromium, chromedriver, Selenium or the footage.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DAVIS = ROOT.parent / "shared" / "data" / "davis2016"
FRAMES = DAVIS / "JPEGImages" / "480p" / "blackswan"
TRUTH = DAVIS / "Annotations" / "480p" / "blackswan"
FRAME_COUNT = 10
PROMPT_FRAME = 5  # a box is dragged on this frame index (numbers = indices for 00000.jpg...)
SCREENSHOT = Path("/tmp/serve_page.png")

pytestmark = pytest.mark.slow


def _missing() -> str | None:
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        return (f"{' and '.join(missing)} not on the PATH (Debian: apt-get install chromium chromium-driver)")
    return None


def _truth(index: int) -> np.ndarray:
    mask = cv2.imread(str(TRUTH / f"{index:05d}.png"), cv2.IMREAD_GRAYSCALE)
    assert mask is not None, f"cannot read the ground truth of frame {index}"
    return mask > 127


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


@pytest.fixture
def footage() -> None:
    """Skip, naming the folder, without the DAVIS 2016 blackswan clip."""
    if not FRAMES.is_dir() or not TRUTH.is_dir():
        pytest.skip(f"the DAVIS 2016 blackswan footage is not in {DAVIS} (JPEGImages/480p and Annotations/480p)")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The real ``serve`` on a free port: (base URL, token, data folder)."""
    data = tmp_path / "data"
    port = _free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below, after the process
    proc = subprocess.Popen([sys.executable, "run.py", "serve", "--data", str(data), "--port", str(port), "--quiet"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        token = ""
        while True:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(f"serve exited with {proc.returncode}: {(tmp_path / 'serve.log').read_text()[-2000:]}")
            token_file = data / "token"
            if token_file.is_file():
                token = token_file.read_text().strip()
            if token:
                try:
                    status, _ = _get(f"{base}/api/jobs", {"Authorization": f"Bearer {token}"})
                    if status == 200:
                        break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not answer within 60 s: {(tmp_path / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield base, token, data
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        pytest.skip(missing)
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                    "(pip install -r requirements-dev.txt)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000",
                "--force-device-scale-factor=1", "--disable-gpu"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll ``check`` until it gives something truthy; fail naming ``what`` and the page's error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except Exception:  # stale elements while the page redraws: try again
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            banner = driver.execute_script(
                "const b = document.getElementById('banner');"
                "return b && !b.hidden ? b.innerText : '';")
            pytest.fail(f"timed out waiting for {what}" + (f"; the page shows: {banner}" if banner else ""))
        time.sleep(0.1)


def _overlay(driver: Any) -> dict[str, Any]:
    """The overlay <img>'s state and a signature of its pixels (alpha count and centroid)."""
    return dict(driver.execute_script("""
        const img = document.getElementById('overlay-img');
        const out = {loaded: img.dataset.loaded ?? null, complete: img.complete, width: img.naturalWidth,
                     count: 0, cx: 0, cy: 0};
        if (!img.complete || !img.naturalWidth) return out;
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const ctx = c.getContext('2d');
        ctx.drawImage(img, 0, 0);
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        let n = 0, sx = 0, sy = 0;
        for (let i = 3; i < d.length; i += 4) {
          if (d[i] > 0) { const p = (i - 3) / 4; n++; sx += p % c.width; sy += Math.floor(p / c.width); }
        }
        out.count = n; out.cx = n ? sx / n : 0; out.cy = n ? sy / n : 0;
        return out;"""))


def _goto_frame(driver: Any, index: int) -> None:
    """Scrub with the keyboard: Home, then the right arrow ``index`` times."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("document.activeElement && document.activeElement.blur && document.activeElement.blur()")
    chain = ActionChains(driver).send_keys(Keys.HOME)
    for _ in range(index):
        chain = chain.send_keys(Keys.ARROW_RIGHT)
    chain.perform()
    _wait(driver, f"frame {index} on screen", lambda: driver.execute_script(
        "const f = document.getElementById('frame-img');"
        "return f.dataset.loaded === arguments[0] && f.complete && f.naturalWidth > 0;", str(index)))


def _labelstudio_export(path: Path) -> None:
    """Two image tasks (the page must let the user choose): task 11 a rectangle around the
    swan on frame 00000.jpg in percent, task 12 a rectangle of something else."""
    x0, y0, x1, y1 = _bbox(_truth(0))
    height, width = _truth(0).shape

    def task(task_id: int, label: str, box: tuple[float, float, float, float]) -> dict[str, Any]:
        bx0, by0, bx1, by1 = box
        return {"id": task_id, "data": {"image": "/data/upload/1/00000.jpg"}, "predictions": [],
                "annotations": [{"id": task_id * 10, "was_cancelled": False, "result": [
                    {"id": f"r{task_id}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
                     "original_width": width, "original_height": height, "image_rotation": 0,
                     "value": {"x": 100 * bx0 / width, "y": 100 * by0 / height, "width": 100 * (bx1 - bx0) / width,
                               "height": 100 * (by1 - by0) / height, "rotation": 0, "rectanglelabels": [label]}}]}]}

    path.write_text(json.dumps([task(11, "swan", (x0, y0, x1, y1)), task(12, "reed", (10, 10, 60, 90))]))


def test_page_runs_a_job_end_to_end(footage: None, browser: Any, server: tuple[str, str, Path],
                                    tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, token, data = server
    driver = browser
    auth = {"Authorization": f"Bearer {token}"}

    def job_state(job_id: str) -> dict[str, Any]:
        status, body = _get(f"{base}/api/jobs/{job_id}", auth)
        assert status == 200, body
        return dict(json.loads(body))

    # the footage: a ZIP of the first frames, and a Label Studio export
    frames = sorted(FRAMES.glob("*.jpg"))[:FRAME_COUNT]
    assert len(frames) == FRAME_COUNT
    clip = tmp_path / "blackswan.zip"
    with zipfile.ZipFile(clip, "w") as archive:
        for frame in frames:
            archive.write(frame, frame.name)
    export = tmp_path / "labelstudio.json"
    _labelstudio_export(export)

    # open the page: the token goes into a cookie and out of the address bar
    driver.get(f"{base}/?token={token}")
    _wait(driver, "the page", lambda: driver.find_element(By.ID, "new-job-name").is_displayed())
    assert "token" not in driver.current_url
    assert driver.find_element(By.ID, "jobs-empty").is_displayed()

    # a new job, selected
    driver.find_element(By.ID, "new-job-name").send_keys("blackswan browser test")
    driver.find_element(By.ID, "new-job-btn").click()
    item = _wait(driver, "the new job in the list", lambda: driver.find_element(By.CSS_SELECTOR, ".job-item.selected"))
    job_id = item.get_attribute("data-id")
    assert "blackswan browser test" in item.text and "NEW" in item.text.upper()

    # upload the ZIP through the file input; the first frame shows
    driver.find_element(By.ID, "media-input").send_keys(str(clip))
    _wait(driver, "frame 0 of the uploaded media", lambda: driver.execute_script(
        "const f = document.getElementById('frame-img');"
        "return f.dataset.loaded === '0' && f.complete && f.naturalWidth > 0;"), timeout=60)
    assert job_state(job_id)["media"]["frames"] == FRAME_COUNT
    assert driver.find_element(By.ID, "job-state").text.lower() == "ready"
    assert "frame 0" in driver.find_element(By.ID, "frame-label").text

    # the Label Studio export: two tasks, so the page asks which one
    driver.find_element(By.ID, "ls-input").send_keys(str(export))
    _wait(driver, "the task choice", lambda: driver.find_element(By.ID, "ls-choose").is_displayed())
    choice = Select(driver.find_element(By.ID, "ls-task"))
    assert [o.text.split(" ")[1] for o in choice.options] == ["11", "12"]
    choice.select_by_index(0)
    driver.find_element(By.ID, "ls-apply").click()
    _wait(driver, "the import's note", lambda: "Imported task 11: swan" in driver.find_element(By.ID, "ls-result").text)
    _wait(driver, "the swan in the object list", lambda: "swan" in driver.find_element(By.ID, "object-list").text)
    assert [o["name"] for o in job_state(job_id)["objects"]] == ["swan"]

    # a box dragged around the swan on another frame, for the same object
    _goto_frame(driver, PROMPT_FRAME)
    assert f"frame {PROMPT_FRAME}" in driver.find_element(By.ID, "frame-label").text
    name = driver.find_element(By.ID, "obj-name")
    name.clear()
    name.send_keys("swan")
    canvas = driver.find_element(By.ID, "prompt-canvas")
    rect = driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                                 "return [r.left, r.top, r.width, r.height];", canvas)
    truth = _truth(PROMPT_FRAME)
    bx0, by0, bx1, by1 = _bbox(truth)
    scale = rect[2] / truth.shape[1]

    def to_css(x: float, y: float) -> tuple[int, int]:
        """Source pixels -> offsets from the canvas's centre (Selenium 4), in CSS pixels."""
        return round(x * scale - rect[2] / 2), round(y * scale - rect[3] / 2)

    start, end = to_css(bx0, by0), to_css(bx1, by1)
    (ActionChains(driver).move_to_element_with_offset(canvas, *start).click_and_hold()
     .move_by_offset(10, 10).move_to_element_with_offset(canvas, *end).release().perform())
    summary = driver.find_element(By.ID, "pending-summary").text
    assert "1 prompt placed" in summary and f"swan @ {PROMPT_FRAME}: 1" in summary, summary
    driver.find_element(By.ID, "prompt-send").click()
    _wait(driver, "the prompts sent", lambda: "Sent 1 object" in driver.find_element(By.ID, "prompt-note").text)
    swan = job_state(job_id)["objects"][0]
    assert swan["keyframes"] == [0, PROMPT_FRAME]

    from sam3roto.core.project_io import load_project
    from sam3roto.core.types import BoxPrompt

    project = load_project(data / "jobs" / job_id / "job.sam3roto")
    (key,) = [k for k in project.keyframes if k.frame == PROMPT_FRAME]
    (box,) = key.prompts
    assert isinstance(box, BoxPrompt)
    tolerance = 2 / scale + 1  # a CSS pixel or two of rounding, in source pixels
    assert np.allclose(box.xyxy_px, (bx0, by0, bx1, by1), atol=tolerance), (box.xyxy_px, (bx0, by0, bx1, by1))

    # propagate with the classical engine; live progress, then done
    Select(driver.find_element(By.ID, "engine")).select_by_value("classic")
    driver.find_element(By.ID, "track-btn").click()
    _wait(driver, "the run to start", lambda: driver.find_element(By.ID, "job-state").text.lower()
          in ("queued", "running", "done"))
    _wait(driver, "propagation to finish", lambda: driver.find_element(By.ID, "job-state").text.lower()
          in ("done", "failed"), timeout=300)
    assert driver.find_element(By.ID, "job-state").text.lower() == "done", job_state(job_id)
    assert job_state(job_id)["objects"][0]["frames"] == FRAME_COUNT
    assert f"masks on {FRAME_COUNT}/{FRAME_COUNT} frames" in driver.find_element(By.ID, "object-list").text

    # scrub: the overlay loads on each frame and follows the swan
    _goto_frame(driver, 0)
    first = _wait(driver, "the overlay of frame 0", lambda: (o := _overlay(driver))["loaded"] == "0"
                  and o["width"] > 0 and o["count"] > 0 and o)
    _goto_frame(driver, 8)
    later = _wait(driver, "the overlay of frame 8", lambda: (o := _overlay(driver))["loaded"] == "8"
                  and o["width"] > 0 and o["count"] > 0 and o)
    assert (first["count"], first["cx"]) != (later["count"], later["cx"]), (first, later)
    assert "frame 8" in driver.find_element(By.ID, "frame-label").text
    driver.save_screenshot(str(SCREENSHOT))

    # render a mask ZIP (one mask per frame) and download it with the browser's cookie
    for box_input in driver.find_elements(By.CSS_SELECTOR, "#outputs input[type=checkbox]"):
        if box_input.is_selected() != (box_input.get_attribute("value") == "mask-zip"):
            box_input.click()
    Select(driver.find_element(By.ID, "zip-mode")).select_by_value("single")
    driver.find_element(By.ID, "render-btn").click()
    link = _wait(driver, "the mask ZIP's download link", lambda: next(
        (a for a in driver.find_elements(By.CSS_SELECTOR, "#render-list a.download")
         if (a.get_attribute("data-path") or "").endswith("_masks.zip")), None), timeout=120)
    assert driver.find_element(By.ID, "job-state").text.lower() == "done"
    href = link.get_attribute("href")
    cookie = next((c for c in driver.get_cookies() if c["name"].startswith("sam3roto_token")), None)
    assert cookie is not None and cookie.get("httpOnly") is True
    status, body = _get(href, {"Cookie": f"{cookie['name']}={cookie['value']}"})
    assert status == 200, body[:300]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = sorted(archive.namelist())
        assert len(names) == FRAME_COUNT and all(n.endswith(".png") for n in names), names
        ious = []
        for index, member in enumerate(names):
            mask = cv2.imdecode(np.frombuffer(archive.read(member), np.uint8), cv2.IMREAD_GRAYSCALE)
            assert mask is not None and mask.shape == truth.shape, member
            found = mask > 127
            assert found.any(), f"{member} is empty"
            expected = _truth(index)
            ious.append((found & expected).sum() / (found | expected).sum())
    assert min(ious) > 0.5, [round(float(i), 3) for i in ious]

    # no script errors on the way
    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE" and "favicon" not in e["message"]]
    assert not severe, severe


def test_page_uploads_an_image_sequence_and_shows_errors(footage: None, browser: Any, server: tuple[str, str, Path],
                                                         tmp_path: Path) -> None:
    """Several images picked at once become one sequence (PUT .../images each, then done),
    in frame order whatever order they were picked in. A file type the server does not
    take is refused before uploading, and a damaged image shows the API's error in the
    page's banner; the job stays without media."""
    from selenium.webdriver.common.by import By

    base, token, _ = server
    driver = browser
    driver.get(f"{base}/?token={token}")
    _wait(driver, "the page", lambda: driver.find_element(By.ID, "new-job-name").is_displayed())

    driver.find_element(By.ID, "new-job-name").send_keys("three images")
    driver.find_element(By.ID, "new-job-btn").click()
    item = _wait(driver, "the new job", lambda: driver.find_element(By.CSS_SELECTOR, ".job-item.selected"))
    job_id = item.get_attribute("data-id")
    picked = [FRAMES / name for name in ("00002.jpg", "00000.jpg", "00001.jpg")]
    driver.find_element(By.ID, "media-input").send_keys("\n".join(str(p) for p in picked))
    _wait(driver, "the sequence's first frame", lambda: driver.execute_script(
        "const f = document.getElementById('frame-img');"
        "return f.dataset.loaded === '0' && f.complete && f.naturalWidth > 0;"), timeout=60)
    status, body = _get(f"{base}/api/jobs/{job_id}", {"Authorization": f"Bearer {token}"})
    media = json.loads(body)["media"]
    assert status == 200 and media["frames"] == 3 and media["frame_numbers"] == [0, 2], media
    assert "3 (0–2)" in driver.find_element(By.ID, "job-media").text
    assert driver.find_element(By.ID, "frame-slider").get_attribute("max") == "2"

    driver.find_element(By.ID, "new-job-btn").click()
    _wait(driver, "a second job", lambda: len(driver.find_elements(By.CSS_SELECTOR, ".job-item")) == 2)
    readme = ROOT / "README.md"
    driver.find_element(By.ID, "media-input").send_keys(str(readme))
    banner = _wait(driver, "the error banner", lambda: driver.find_element(By.ID, "banner").is_displayed()
                   and driver.find_element(By.ID, "banner"))
    assert "README.md is not a file type this server takes" in banner.text
    assert ".zip" in driver.find_element(By.ID, "banner-hint").text
    driver.find_element(By.ID, "banner-close").click()

    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    driver.find_element(By.ID, "media-input").send_keys(str(broken))
    banner = _wait(driver, "the API's error", lambda: driver.find_element(By.ID, "banner").is_displayed()
                   and driver.find_element(By.ID, "banner"))
    assert "not a readable image" in banner.text
    assert driver.find_element(By.ID, "job-state").text.lower() == "new"
    assert driver.find_element(By.ID, "media-input").is_enabled()

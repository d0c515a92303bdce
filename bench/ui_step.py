"""Frame step latency in the real window: time from a key press to the new frame painted.

A 1080p and a 4K H.264 clip (GOP 48, DAVIS frames upscaled when ../shared/data is there)
are opened in the window (offscreen Qt) with one object whose mask is stored on every
frame (overlay mode). For each clip:

* **cold**: Right-arrow steps through 12 frames not decoded yet (the scrub cache reads
  ahead on its own thread, as in use);
* **warm**: Left/Right/Left over the same frames again (decoded, in the cache): 36 steps.

* **views**: the warm steps again with the compositor's views on (outline and fill, onion
  skin, the A/B wipe);
* **stroke**: a brush stroke dragged across the frame with real mouse events, each move
  timed from the event to the painted stroke (``stroke_p95``), and the release timed to
  the corrected mask painted (``commit``).

Each step is timed from the key event to the viewer's ``painted`` signal. Baseline, same
run: the naive display path most viewers start with, the whole frame blended with its
overlay at full resolution, converted to a QImage and scaled by QPainter into the widget.

    python bench/ui_step.py [--frames 72]

Last line: ``RESULT warm_p95_ms_4k=<float> cold_p95_ms_4k=<float> warm_p95_ms_1080=<float>
views_p95_ms_4k=<float> stroke_p95_ms_4k=<float> commit_ms_4k=<float>``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from scrub import make_clip, p95  # noqa: E402

STEPS = 12  # within the window's frame cache (24 frames) with its read-ahead


def naive_paint(frame: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int], width: int, height: int) -> float:
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QImage, QPainter

    from sam3roto.ui.qimage import to_qimage

    t0 = time.perf_counter()
    out = frame.astype(np.float32)
    out[mask] = out[mask] * 0.55 + np.array(colour, np.float32) * 0.45
    image = to_qimage(out.astype(np.uint8))
    target = QImage(width, height, QImage.Format.Format_RGB888)
    painter = QPainter(target)
    scale = min(width / frame.shape[1], height / frame.shape[0])
    painter.drawImage(QRect(0, 0, int(frame.shape[1] * scale), int(frame.shape[0] * scale)), image)
    painter.end()
    return (time.perf_counter() - t0) * 1000


def measure(clip: Path, label: str, frames: int) -> dict[str, float]:
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtTest import QTest

    from sam3roto.ui.document import Document
    from sam3roto.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        doc = Document.open_media(clip, Path(tmp) / "bench.sam3roto")
        info = doc.source.info
        doc.add_object("thing")
        obj = doc.active()
        yy, xx = np.mgrid[0:info.height, 0:info.width]
        for i in range(frames):
            cx = info.width * (0.3 + 0.4 * i / frames)
            doc.store.put(obj.id, i, (xx - cx) ** 2 + (yy - info.height / 2) ** 2 < (info.height / 4) ** 2)
        MainWindow.prompt_on_close = False  # offscreen nobody answers the unsaved-work question
        win = MainWindow(doc)
        win.resize(1600, 1000)
        win.show()
        viewer = win.viewer

        def wait_painted() -> None:
            loop = QEventLoop()
            viewer.painted.connect(loop.quit)
            QTimer.singleShot(5000, loop.quit)
            loop.exec()
            viewer.painted.disconnect(loop.quit)

        def step(key: Qt.Key) -> float:
            t0 = time.perf_counter()
            QTest.keyClick(win, key)
            wait_painted()
            return (time.perf_counter() - t0) * 1000

        wait_painted()
        start = frames // 2  # away from the frames decoded while opening
        doc.set_frame(start)
        wait_painted()
        cold = [step(Qt.Key.Key_Right) for _ in range(STEPS)]
        warm = []
        for key in (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Left):  # back and forth over decoded frames
            warm += [step(key) for _ in range(STEPS)]
        viewer.set_overlay_style("both")
        viewer.onion = True
        viewer.wipe = True
        viewer.update()
        wait_painted()
        views = []
        for key in (Qt.Key.Key_Right, Qt.Key.Key_Left, Qt.Key.Key_Right):
            views += [step(key) for _ in range(STEPS)]
        viewer.set_overlay_style("fill")
        viewer.onion = viewer.wipe = False
        stroke, commit = paint_stroke(doc, viewer, wait_painted)
        frame, mask = doc.image(), doc.store.get(obj.id, doc.frame)
        naive = [naive_paint(frame, mask, obj.color, viewer.width(), viewer.height()) for _ in range(10)]
        win.close()
        doc.close()
    row = {"cold_p95": p95(cold), "warm_p95": p95(warm), "warm_median": float(np.median(warm)),
           "naive_p95": p95(naive), "views_p95": p95(views), "stroke_p95": p95(stroke), "commit": commit}
    print(f"{label:>5}: cold p95 {row['cold_p95']:7.1f} ms, warm p95 {row['warm_p95']:6.1f} ms "
          f"(median {row['warm_median']:5.1f}), naive full-res paint p95 {row['naive_p95']:6.1f} ms "
          f"({row['naive_p95'] / row['warm_p95']:.1f}x our warm step)")
    print(f"{'':>5}  with outline+fill, onion skin and wipe: warm p95 {row['views_p95']:6.1f} ms; brush stroke "
          f"move p95 {row['stroke_p95']:5.1f} ms over {len(stroke)} moves, commit {row['commit']:6.1f} ms")
    return row


def paint_stroke(doc: object, viewer: object, wait_painted: object) -> tuple[list[float], float]:
    """Drag a brush stroke across the viewer with real mouse events: the time from each
    move to the painted stroke, and from the release to the corrected mask painted."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    doc.tool = "brush"  # type: ignore[attr-defined]
    doc.brush_radius = 40.0  # type: ignore[attr-defined]
    w, h = viewer.width(), viewer.height()  # type: ignore[attr-defined]

    def send(kind: QEvent.Type, x: float, y: float, buttons: Qt.MouseButton) -> None:
        pos = QPointF(x, y)
        button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
        event = QMouseEvent(kind, pos, viewer.mapToGlobal(pos), button, buttons,  # type: ignore[attr-defined]
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewer, event)

    send(QEvent.Type.MouseButtonPress, w * 0.3, h * 0.5, Qt.MouseButton.LeftButton)
    wait_painted()  # type: ignore[operator]
    moves = []
    for i in range(1, 41):
        t0 = time.perf_counter()
        send(QEvent.Type.MouseMove, w * (0.3 + 0.01 * i), h * (0.5 + 0.003 * i), Qt.MouseButton.LeftButton)
        wait_painted()  # type: ignore[operator]
        moves.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    send(QEvent.Type.MouseButtonRelease, w * 0.7, h * 0.62, Qt.MouseButton.NoButton)
    wait_painted()  # type: ignore[operator]
    commit = (time.perf_counter() - t0) * 1000
    doc.tool = "point+"  # type: ignore[attr-defined]
    return moves, commit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=72)
    args = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (w, h) in (("1080p", (1920, 1080)), ("4K", (3840, 2160))):
            clip = Path(tmp) / f"{label}.mp4"
            make_clip(clip, w, h, args.frames)
            results[label] = measure(clip, label, args.frames)
    del app
    k4 = results["4K"]
    print(f"RESULT warm_p95_ms_4k={k4['warm_p95']:.1f} cold_p95_ms_4k={k4['cold_p95']:.1f} "
          f"warm_p95_ms_1080={results['1080p']['warm_p95']:.1f} views_p95_ms_4k={k4['views_p95']:.1f} "
          f"stroke_p95_ms_4k={k4['stroke_p95']:.1f} commit_ms_4k={k4['commit']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

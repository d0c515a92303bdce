"""Screenshot of the real window for the README, on a real clip.

    xvfb-run -s "-screen 0 1600x1000x24" python tools/window_screenshot.py [--out FILE]

It writes to the system's temp folder (``sam3roto-window.png``) unless ``--out`` says where;
``--out docs/window.png`` updates the README's screenshot.

Opens DAVIS ``blackswan`` from ../shared/data, makes an object from the ground truth's
prompts on the first frame, segments and tracks it with the classical engine through the
window's own jobs, corrects a middle frame with a brush stroke that takes the head out (the
stretches on either side turn orange on the timeline: out of date), shows the overlay as
fill and outline with the onion skin, and grabs the screen with the Segment tab open
(QScreen.grabWindow, so it is what an X server shows, decorations aside).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "sam3roto-window.png"),
                    help="where to write the PNG (default: sam3roto-window.png in the temp folder; "
                    "docs/window.png updates the README's screenshot)")
    ap.add_argument("--frames", type=int, default=24)
    args = ap.parse_args()

    import cv2
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from sam3roto.core.evaluation import prompts_from_mask
    from sam3roto.core.strokes import Stroke
    from sam3roto.ui.document import Document
    from sam3roto.ui.main_window import MainWindow

    data = ROOT.parent / "shared" / "data" / "davis2016"
    clip = data / "JPEGImages" / "480p" / "blackswan"
    truth = cv2.imread(str(data / "Annotations" / "480p" / "blackswan" / "00000.png"), cv2.IMREAD_GRAYSCALE) > 127
    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as tmp:
        doc = Document.open_media(clip, Path(tmp) / "blackswan.sam3roto")
        win = MainWindow(doc)
        win.resize(1560, 940)
        win.show()
        doc.add_object("swan")
        doc.set_prompts(prompts_from_mask(truth))
        project = doc.project
        if project.shot is not None:
            project.shot.out_index = args.frames - 1

        def settle(ms: int) -> None:
            loop = QEventLoop()
            QTimer.singleShot(ms, loop.quit)
            loop.exec()

        def wait_jobs() -> None:
            while win.jobs:
                settle(100)

        settle(300)
        wait_jobs()
        win.track("both", "all")
        wait_jobs()
        middle = args.frames // 2
        doc.set_frame(middle)
        ys, xs = (cv2.imread(str(data / "Annotations" / "480p" / "blackswan" / f"{middle:05d}.png"),
                             cv2.IMREAD_GRAYSCALE) > 127).nonzero()
        top = ys.min()
        head = xs[ys < top + 12].mean()
        win.pick_tool("brush")  # a correction: a subtract stroke across the head
        doc.paint(Stroke("brush", "subtract", ((head - 30, top + 8), (head + 30, top + 12)), radius=14))
        win.viewer.set_overlay_style("both")
        win.viewer.set_onion(True)
        settle(300)
        wait_jobs()
        win.tabs.setCurrentIndex(0)
        settle(500)
        screen = win.screen()
        shot = screen.grabWindow(0, win.x(), win.y(), win.frameGeometry().width(), win.frameGeometry().height())
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        if not shot.save(args.out):
            print(f"error: could not write {args.out}", file=sys.stderr)
            return 1
        print(f"wrote {args.out} ({shot.width()}x{shot.height()}, platform {app.platformName()})")
        MainWindow.prompt_on_close = False  # the temporary project is thrown away
        win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Segment everything (classical engine) on the first frame of each DAVIS sequence: how
many regions, how many clicks an artist needs (the regions with most of their pixels inside
the ground truth) and the IoU of their union, with the time per frame.

Baseline, same run: one GrabCut from the ground truth's bounding box (what a single box
prompt gives), so the clicks are compared with the cheapest other prompt.

    python bench/everything.py [--data ../shared/data/davis2016]

Last line: ``RESULT sequences=<n> regions_mean=<float> clicks_mean=<float> iou_mean=<float> box_iou_mean=<float>``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam3roto.backends.classic.everything import candidate_labels  # noqa: E402
from sam3roto.core.evaluation import jaccard  # noqa: E402


def box_grabcut(rgb: np.ndarray, truth: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(truth)
    rect = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    mask = np.zeros(truth.shape, np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(rgb[..., ::-1]), mask, rect, bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "davis2016"))
    args = ap.parse_args()
    data = Path(args.data)
    sequences = sorted(p.name for p in (data / "Annotations" / "480p").iterdir() if p.is_dir())
    rows = []
    print(f"{'sequence':<14}{'regions':>8}{'clicks':>8}{'IoU':>8}{'box IoU':>9}{'ms':>8}")
    for name in sequences:
        rgb = cv2.imread(str(data / "JPEGImages" / "480p" / name / "00000.jpg"))[..., ::-1].copy()
        truth = cv2.imread(str(data / "Annotations" / "480p" / name / "00000.png"), cv2.IMREAD_GRAYSCALE) > 127
        t0 = time.perf_counter()
        labels = candidate_labels(rgb)
        ms = (time.perf_counter() - t0) * 1000
        n = int(labels.max()) + 1
        picks = [i for i in range(n) if truth[labels == i].mean() > 0.5]
        iou = jaccard(np.isin(labels, picks), truth)
        box = jaccard(box_grabcut(rgb, truth), truth)
        rows.append((n, len(picks), iou, box))
        print(f"{name:<14}{n:>8}{len(picks):>8}{iou:>8.3f}{box:>9.3f}{ms:>8.0f}")
    r = np.array(rows, dtype=float)
    print(f"{'mean':<14}{r[:, 0].mean():>8.1f}{r[:, 1].mean():>8.1f}{r[:, 2].mean():>8.3f}{r[:, 3].mean():>9.3f}")
    print(f"RESULT sequences={len(rows)} regions_mean={r[:, 0].mean():.1f} clicks_mean={r[:, 1].mean():.1f} "
          f"iou_mean={r[:, 2].mean():.3f} box_iou_mean={r[:, 3].mean():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

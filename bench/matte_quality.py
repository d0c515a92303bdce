"""Matte refinement quality on real footage with ground truth (DAVIS 2016, 480p).

The ground-truth masks are degraded the way model masks look (blocky from a low-res
output upscaled, a jittered boundary, holes, dots), then refined with the post stack.
Reported, against the ground truth, before vs after refinement: the DAVIS boundary
F-measure and IoU (matte > 0.5). Then the flicker (frame-to-frame matte change that the
optical flow does not explain, ``post.temporal.unexplained_change``) of refined mattes
without vs with motion-compensated temporal smoothing.

    python bench/matte_quality.py [--data DIR] [--frames 24] [--seed 0]

Last line: ``RESULT boundary_f_gain=<float> iou_change=<float> flicker_reduction=<float>``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sam3roto.core.evaluation import boundary_f, jaccard
from sam3roto.post import PostSettings, apply_sequence, refine
from sam3roto.post.checks import to_float_rgb
from sam3roto.post.temporal import unexplained_change

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016"
#: The refinement measured: what an artist would dial in for model masks at 480p.
SETTINGS = PostSettings(remove_dots_px=150, fill_holes_px=150, refine_band_px=10, refine_softness=0.0)
TEMPORAL = SETTINGS.with_values(temporal_pct=70.0)


def degrade(truth: np.ndarray, rng: np.random.Generator, block: int = 6) -> np.ndarray:
    """A ground-truth mask made to look like a model's: blocky, jittered, holed, dotted.

    ``block`` 6: SAM3 predicts masks on a 288-pixel grid, about 6.7 source pixels per cell
    on 1080p footage; here the cells are applied to the 480p frames directly.
    """
    h, w = truth.shape
    small = cv2.resize(truth.astype(np.float32), (w // block, h // block), interpolation=cv2.INTER_AREA)
    # Sub-block shift of the low-res grid, then nearest upsampling: blocky edges.
    dx, dy = rng.uniform(-0.5, 0.5, 2)
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    small = cv2.warpAffine(small, shift, (small.shape[1], small.shape[0]), flags=cv2.INTER_LINEAR)
    mask = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST) > 0.5
    # Boundary jitter: a smooth random displacement field of about +-2 px.
    noise = cv2.GaussianBlur(rng.standard_normal((h, w, 2)).astype(np.float32), (0, 0), 6) * 40
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mask = cv2.remap(mask.astype(np.float32), gx + noise[..., 0], gy + noise[..., 1], cv2.INTER_LINEAR) > 0.5
    ys, xs = np.nonzero(truth)
    if len(ys) == 0:
        return mask
    for _ in range(4):  # holes inside
        i = rng.integers(len(ys))
        cv2.circle(mask.view(np.uint8), (int(xs[i]), int(ys[i])), int(rng.integers(2, 5)), 0, -1)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    for _ in range(4):  # dots outside, near the object
        x = int(np.clip(rng.integers(x0 - 40, x1 + 40), 0, w - 1))
        y = int(np.clip(rng.integers(y0 - 40, y1 + 40), 0, h - 1))
        if not truth[y, x]:
            cv2.circle(mask.view(np.uint8), (x, y), int(rng.integers(1, 4)), 1, -1)
    return mask


def read_sequence(data: Path, name: str, count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, truths = [], []
    jpgs = sorted((data / "JPEGImages" / "480p" / name).glob("*.jpg"))[:count]
    for jpg in jpgs:
        images.append(np.asarray(Image.open(jpg).convert("RGB")))
        with Image.open(data / "Annotations" / "480p" / name / (jpg.stem + ".png")) as im:
            truths.append(np.asarray(im if im.mode in ("P", "L", "1") else im.convert("L")) > 0)
    return images, truths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--frames", type=int, default=24, help="consecutive frames per sequence")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sequences = sorted(p.name for p in (args.data / "Annotations" / "480p").iterdir() if p.is_dir())
    rng = np.random.default_rng(args.seed)
    f_before, f_after, j_before, j_after, j_temporal, flick_plain, flick_temporal = ([] for _ in range(7))
    t0 = time.perf_counter()
    print(f"settings: {SETTINGS.to_dict()}")
    print(f"{'sequence':<12} {'F before':>9} {'F after':>8} {'J before':>9} {'J after':>8} "
          f"{'flicker':>8} {'temporal':>9} {'J temp':>7}")
    for name in sequences:
        images, truths = read_sequence(args.data, name, args.frames)
        masks = [degrade(t, rng) for t in truths]
        plain = [refine(img, m, SETTINGS) for img, m in zip(images, masks, strict=True)]
        smooth = [r.matte for r in apply_sequence(((i, m, None) for i, m in zip(images, masks, strict=True)),
                                                  TEMPORAL)]
        fb = [boundary_f(m, t) for m, t in zip(masks, truths, strict=True)]
        fa = [boundary_f(p > 0.5, t) for p, t in zip(plain, truths, strict=True)]
        jb = [jaccard(m, t) for m, t in zip(masks, truths, strict=True)]
        ja = [jaccard(p > 0.5, t) for p, t in zip(plain, truths, strict=True)]
        jt = [jaccard(p > 0.5, t) for p, t in zip(smooth, truths, strict=True)]
        fl = [unexplained_change(plain[i], to_float_rgb(images[i]), plain[i - 1], to_float_rgb(images[i - 1]))
              for i in range(1, len(images))]
        ft = [unexplained_change(smooth[i], to_float_rgb(images[i]), smooth[i - 1], to_float_rgb(images[i - 1]))
              for i in range(1, len(images))]
        print(f"{name:<12} {np.mean(fb):9.4f} {np.mean(fa):8.4f} {np.mean(jb):9.4f} {np.mean(ja):8.4f} "
              f"{np.mean(fl):8.4f} {np.mean(ft):9.4f} {np.mean(jt):7.4f}", flush=True)
        f_before += fb
        f_after += fa
        j_before += jb
        j_after += ja
        j_temporal += jt
        flick_plain += fl
        flick_temporal += ft
    gain = float(np.mean(f_after) - np.mean(f_before))
    iou_change = float(np.mean(j_after) - np.mean(j_before))
    reduction = float(1.0 - np.mean(flick_temporal) / max(np.mean(flick_plain), 1e-12))
    print(f"mean over {len(f_before)} frames: F {np.mean(f_before):.4f} -> {np.mean(f_after):.4f}, "
          f"J {np.mean(j_before):.4f} -> {np.mean(j_after):.4f} (with temporal {np.mean(j_temporal):.4f}), "
          f"flicker {np.mean(flick_plain):.4f} -> {np.mean(flick_temporal):.4f}; {time.perf_counter() - t0:.0f} s")
    print(f"RESULT boundary_f_gain={gain:.4f} iou_change={iou_change:.4f} flicker_reduction={reduction:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

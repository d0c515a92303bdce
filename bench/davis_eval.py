"""DAVIS-style quality of a segmentation engine: one-shot and interactive J and F.

For each sequence found under ``--data`` (``JPEGImages/480p/<seq>`` with
``Annotations/480p/<seq>``):

* one-shot: a simulated artist prompts frame 0 from its ground truth (a box, 3 positive
  clicks spread inside the object, most interior first, 3 negative clicks in the background
  near it); the engine propagates forward;
* interactive: the artist then corrects up to ``--corrections`` times, each time on the
  frame with the lowest J, with the same kind of prompts from that frame's ground truth, and
  the engine re-tracks the shot from all keyframes.

J is IoU, F the boundary F-measure (DAVIS tolerance); frame 0 is excluded. OSVOS
predictions shipped with the data (``osvos_predictions_davis2017val``) are scored the same
way as a reference line.

    python bench/davis_eval.py [--engine classic] [--data DIR] [--sequences a,b]

Last line: ``RESULT engine=<name> sequences=<n> j_mean=<f> f_mean=<f> j_mean_5corr=<f> osvos_j_mean=<f>``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sam3roto.backends.registry import create_engine
from sam3roto.core.evaluation import boundary_f, jaccard, prompts_from_mask
from sam3roto.media.source import open_media

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016"


def read_truth(folder: Path) -> list[np.ndarray]:
    """Ground-truth masks of a sequence (any non-zero label is the object)."""
    masks = []
    for path in sorted(folder.glob("*.png")):
        with Image.open(path) as im:
            # Palette PNGs hold label indices; read them as such, not as colours.
            a = np.asarray(im if im.mode in ("P", "L", "1") else im.convert("L"))
        masks.append(a > 0)
    return masks


def score(masks: dict[int, np.ndarray], truth: list[np.ndarray]) -> tuple[list[float], list[float]]:
    """Per-frame J and F for frames 1.. (a missing mask counts as empty)."""
    js, fs = [], []
    for i in range(1, len(truth)):
        m = masks.get(i, np.zeros_like(truth[i]))
        js.append(jaccard(m, truth[i]))
        fs.append(boundary_f(m, truth[i]))
    return js, fs


def evaluate_sequence(
    engine_name: str, frames_dir: Path, truth: list[np.ndarray], corrections: int
) -> dict[str, float]:
    engine = create_engine(engine_name)
    source = open_media(frames_dir)
    t0 = time.perf_counter()
    try:
        with engine.open_session(source) as session:
            session.set_prompts(0, 1, prompts_from_mask(truth[0]))
            masks = {fm.frame: fm.masks.get(1, np.zeros_like(truth[0])) for fm in session.propagate(0, "forward")}
            js, fs = score(masks, truth)
            one_j, one_f = float(np.mean(js)), float(np.mean(fs))
            keyframes = {0}
            for _ in range(corrections):
                candidates = [(j, i + 1) for i, j in enumerate(js) if i + 1 not in keyframes]
                if not candidates:
                    break
                worst = min(candidates)[1]
                keyframes.add(worst)
                session.set_prompts(worst, 1, prompts_from_mask(truth[worst]))
                masks = {fm.frame: fm.masks.get(1, np.zeros_like(truth[0])) for fm in session.propagate(0, "both")}
                js, fs = score(masks, truth)
            corr_j, corr_f = float(np.mean(js)), float(np.mean(fs))
    finally:
        source.close()
        engine.close()
    return {"j": one_j, "f": one_f, "j_corr": corr_j, "f_corr": corr_f, "seconds": time.perf_counter() - t0}


def osvos_scores(data: Path, seq: str, truth: list[np.ndarray]) -> tuple[float, float] | None:
    folder = data / "osvos_predictions_davis2017val" / seq
    if not folder.is_dir():
        return None
    preds = read_truth(folder)
    if len(preds) != len(truth):
        return None
    js, fs = score(dict(enumerate(preds)), truth)
    return float(np.mean(js)), float(np.mean(fs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="classic")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--sequences", default="", help="comma-separated subset (default: every sequence found)")
    ap.add_argument("--corrections", type=int, default=5)
    args = ap.parse_args(argv)

    images = args.data / "JPEGImages" / "480p"
    if not images.is_dir():
        print(f"error: no DAVIS layout under {args.data} (expected JPEGImages/480p/<seq>)", file=sys.stderr)
        return 2
    seqs = sorted(p.name for p in images.iterdir() if (args.data / "Annotations" / "480p" / p.name).is_dir())
    if args.sequences:
        wanted = args.sequences.split(",")
        seqs = [s for s in seqs if s in wanted]
    rows, osvos = {}, {}
    print(f"{'sequence':<14}{'J':>7}{'F':>7}{'J+5':>7}{'F+5':>7}{'sec':>7}{'  OSVOS J/F':>12}")
    for seq in seqs:
        truth = read_truth(args.data / "Annotations" / "480p" / seq)
        r = evaluate_sequence(args.engine, images / seq, truth, args.corrections)
        rows[seq] = r
        o = osvos_scores(args.data, seq, truth)
        if o:
            osvos[seq] = o
        ref = f"{o[0]:.3f}/{o[1]:.3f}" if o else "-"
        print(f"{seq:<14}{r['j']:7.3f}{r['f']:7.3f}{r['j_corr']:7.3f}{r['f_corr']:7.3f}{r['seconds']:7.1f}  {ref:>10}",
              flush=True)
    if not rows:
        print("error: no sequences found", file=sys.stderr)
        return 2
    mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in ("j", "f", "j_corr", "f_corr")}
    o_j = float(np.mean([v[0] for v in osvos.values()])) if osvos else float("nan")
    o_f = float(np.mean([v[1] for v in osvos.values()])) if osvos else float("nan")
    print(f"{'mean':<14}{mean['j']:7.3f}{mean['f']:7.3f}{mean['j_corr']:7.3f}{mean['f_corr']:7.3f}")
    print(f"OSVOS reference (2017 CNN predictions, same frames): J {o_j:.3f} F {o_f:.3f}; "
          f"one-shot J is {mean['j'] / o_j:.2f}x of it")
    print(f"RESULT engine={args.engine} sequences={len(rows)} j_mean={mean['j']:.3f} f_mean={mean['f']:.3f} "
          f"j_mean_5corr={mean['j_corr']:.3f} osvos_j_mean={o_j:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

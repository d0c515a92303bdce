"""Depth job speed: the job's per-frame time against the bare model forward, same run.

A Depth Anything 3 preset is built from the package's config with random weights (the time
per frame does not depend on the weight values, so no download is needed). A synthetic
clip of ``--frames`` frames at ``--width`` x ``--height`` is processed twice:

* **bare**: the network's forward on pre-normalised tensors, in groups of ``--chunk``
  frames with no overlap, in the same precision the job uses, and nothing else;
* **job**: ``depth_job`` as the CLI runs it: frame reading, resize and normalisation,
  the forward on overlapping chunks, chunk alignment, resize of depth and confidence back
  to the source size, and the depth cache writes (NPZ per frame, cameras).

``overhead_ratio`` is job time / bare time per frame. It includes the frames computed
twice because chunks overlap (``(chunk) / (chunk - overlap)`` more forwards in the limit);
``overhead_per_forward`` leaves that out: the job's time per frame-forward over the bare
time per frame (targets: <= 1.3 on a GPU for ``large`` at 1080p, <= 1.1 on the CPU). The
job reads and prepares the next chunk on a reader thread and writes on a writer thread
while the network runs.

    python bench/depth_speed.py [--preset small] [--process-res 504] [--frames 12] [--chunk 4 --overlap 1]
                                [--width 1920 --height 1080] [--device auto|cpu|cuda]

Last line: ``RESULT device=<cpu|cuda> preset=<name> ms_per_frame=<float> overhead_ratio=<float>
overhead_per_forward=<float>``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam3roto.backends.da3 import PRESETS, Da3Estimator, build_network  # noqa: E402
from sam3roto.core.depthcache import DepthCache  # noqa: E402
from sam3roto.core.jobs import run_sync  # noqa: E402
from sam3roto.media.memory import ArraySource  # noqa: E402
from sam3roto.pipeline.depth import DepthOptions, chunk_spans, depth_job  # noqa: E402


def synthetic_clip(n: int, width: int, height: int) -> np.ndarray:
    """A textured scene panning sideways (content matters little for timing)."""
    rng = np.random.default_rng(0)
    wide = rng.integers(0, 255, (height // 8, (width + 8 * n) // 8, 3), dtype=np.uint8)
    import cv2

    wide = cv2.resize(wide, (wide.shape[1] * 8, height), interpolation=cv2.INTER_CUBIC)
    return np.stack([wide[:, 8 * i:8 * i + width] for i in range(n)])


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small", choices=tuple(PRESETS))
    ap.add_argument("--process-res", type=int, default=504)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--chunk", type=int, default=4)
    ap.add_argument("--overlap", type=int, default=1)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    import torch

    torch.manual_seed(0)
    t0 = time.perf_counter()
    network = build_network(PRESETS[args.preset].model_name)
    est = Da3Estimator(args.preset, device=args.device, process_res=args.process_res, network=network)
    print(f"built da3 {args.preset} ({sum(p.numel() for p in network.parameters()) / 1e6:.1f}M params) "
          f"in {time.perf_counter() - t0:.1f}s on {est.device}, {est.dtype}, {torch.get_num_threads()} threads")
    frames = synthetic_clip(args.frames, args.width, args.height)
    n = len(frames)

    # warm-up (allocator, kernels) on one chunk, not timed
    est.forward(est.pixels(list(frames[: args.chunk])))
    sync(est.device)

    groups = [list(frames[i:i + args.chunk]) for i in range(0, n, args.chunk)]
    tensors = [est.pixels(g) for g in groups]
    sync(est.device)
    t0 = time.perf_counter()
    for px in tensors:
        out = est.forward(px)
        out["depth"].float().cpu()
    sync(est.device)
    bare = (time.perf_counter() - t0) / n

    with tempfile.TemporaryDirectory() as tmp:
        cache = DepthCache(Path(tmp) / "bench.depth")
        options = DepthOptions(preset=args.preset, process_res=args.process_res, chunk=args.chunk,
                               overlap=args.overlap)
        t0 = time.perf_counter()
        run_sync(depth_job(ArraySource(frames), cache, list(range(n)), est, options))
        sync(est.device)
        job = (time.perf_counter() - t0) / n
        written = len(cache.frames())

    forwards = sum(b - a for a, b in chunk_spans(n, args.chunk, args.overlap if args.chunk > 1 else 0))
    w, h = est.pixels(list(frames[:1])).shape[-1], est.pixels(list(frames[:1])).shape[-2]
    print(f"{n} frames {args.width}x{args.height}, processed at {w}x{h}, chunk {args.chunk} overlap {args.overlap} "
          f"({forwards} frame-forwards in the job, {n} in the bare run)")
    print(f"bare forward : {bare * 1000:9.1f} ms/frame")
    print(f"depth job    : {job * 1000:9.1f} ms/frame  ({written} frames in the cache)")
    print(f"job per forward: {job * n / forwards * 1000:9.1f} ms (overlap excluded)")
    ratio = job / bare
    device = "cuda" if est.device.startswith("cuda") else "cpu"
    per_forward = job * n / forwards / bare
    print(f"RESULT device={device} preset={args.preset} ms_per_frame={job * 1000:.1f} overhead_ratio={ratio:.3f} "
          f"overhead_per_forward={per_forward:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

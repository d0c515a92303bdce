"""SAM3 tracking speed: the adapter's per-frame time against the bare model forward.

A full-size ``Sam3TrackerVideoModel`` is built from its default config with random weights
(the time per frame does not depend on the weight values, so no download is needed). A
synthetic clip at ``--width`` x ``--height`` with one moving object is tracked twice in the
same run:

* **bare**: the transformers session driven directly, frames preprocessed beforehand,
  ``model(inference_session, frame_idx, frame)`` per frame and nothing else;
* **adapter**: ``Sam3Engine`` / ``Sam3Session.propagate`` as the app and the CLI use it:
  frame reading and preprocessing, the forward, masks post-processed to source resolution
  and copied to numpy, memory pruning.

``overhead_ratio`` is adapter time / bare time (1.0 means no overhead; the goal is <= 1.10).
On a GPU the goal is >= 25 fps at 1080p with one object.

    python bench/sam3_speed.py [--device auto|cpu|cuda] [--frames N] [--width 1920 --height 1080]

Last line: ``RESULT device=<cpu|cuda> ms_per_frame=<float> overhead_ratio=<float>``
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam3roto.backends.device import pick_device, pick_dtype, set_threads  # noqa: E402
from sam3roto.backends.sam3 import Sam3Engine, Sam3Models  # noqa: E402
from sam3roto.core.types import BoxPrompt  # noqa: E402
from sam3roto.media.memory import ArraySource  # noqa: E402


def ensure_torchvision() -> str:
    """transformers' SAM3 needs torchvision; on machines with a CPU torch and PyPI's CUDA
    torchvision wheel, use the test suite's shim (see tests/torchvision_shim.py)."""
    try:
        importlib.import_module("torchvision")
        return "native"
    except Exception:
        sys.path.insert(0, str(ROOT))
        from tests.torchvision_shim import install

        return install()


def build_full_size() -> Sam3Models:
    """Full-size tracker and processors (SAM3 defaults: 1008 px input, mean/std 0.5)."""
    import torch
    from transformers import (
        Sam3ImageProcessor,
        Sam3TrackerVideoConfig,
        Sam3TrackerVideoModel,
        Sam3TrackerVideoProcessor,
    )
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    torch.manual_seed(0)
    config = Sam3TrackerVideoConfig()
    side = int(config.image_size)
    size = {"height": side, "width": side}
    tokens = side // 14
    image_processor = Sam3ImageProcessor(size=size, mask_size={"height": 4 * tokens, "width": 4 * tokens})
    video_processor = Sam2VideoVideoProcessor(size=size, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    tracker = Sam3TrackerVideoModel(config).eval()
    return Sam3Models(tracker, Sam3TrackerVideoProcessor(image_processor, video_processor))


def synthetic_clip(n: int, width: int, height: int) -> tuple[np.ndarray, BoxPrompt]:
    """``uint8 (n, h, w, 3)`` frames of a textured disc moving over a gradient, and a box
    around the disc on frame 0."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1),
                     np.full_like(xx, 90)], -1).astype(np.uint8)
    r = height // 8
    frames = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        cx, cy = width // 4 + i * max(1, width // (4 * n)), height // 2
        f = base.copy()
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        f[disc] = rng.integers(150, 255, (int(disc.sum()), 3), dtype=np.uint8)
        frames[i] = f
    c0 = width // 4
    return frames, BoxPrompt(float(c0 - r), float(height // 2 - r), float(c0 + r), float(height // 2 + r))


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def bare(models: Sam3Models, frames: np.ndarray, box: BoxPrompt, device: str, dtype: Any) -> list[float]:
    """Seconds per tracked frame with the transformers session driven directly."""
    import torch

    proc = models.tracker_processor
    h, w = frames.shape[1:3]
    session = proc.init_video_session(inference_device=device, video_storage_device="cpu",
                                      inference_state_device=device, dtype=dtype)
    pixels = [proc.video_processor(videos=f[None], return_tensors="pt").pixel_values_videos[0][0] for f in frames]
    for i, p in enumerate(pixels):
        session.add_new_frame(p, i)
    proc.add_inputs_to_inference_session(session, frame_idx=0, obj_ids=1, input_boxes=[[list(box.xyxy_px)]],
                                         original_size=(h, w))
    times = []
    with torch.inference_mode():
        for i in range(len(frames)):
            _sync(device)
            t = time.perf_counter()
            models.tracker(inference_session=session, frame_idx=i, frame=session.processed_frames[i])
            _sync(device)
            times.append(time.perf_counter() - t)
    return times[1:]  # frame 0 is the prompt frame


def adapter(models: Sam3Models, frames: np.ndarray, box: BoxPrompt, device: str) -> list[float]:
    """Seconds per tracked frame through Sam3Engine / Sam3Session.propagate."""
    engine = Sam3Engine(models=models, device=device)
    source = ArraySource(frames, name="sam3_speed")
    times = []
    with engine.open_session(source) as session:
        session.set_prompts(0, 1, [box])
        _sync(device)
        t = time.perf_counter()
        for fm in session.propagate(0, "forward"):
            _ = fm.masks[1].sum()  # the caller touches the mask (as the store does)
            _sync(device)
            now = time.perf_counter()
            times.append(now - t)
            t = now
    return times[1:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--frames", type=int, default=0, help="tracked frames (default: 30 on a GPU, 2 on CPU)")
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    args = ap.parse_args(argv)

    import torch

    print(f"torchvision: {ensure_torchvision()}")
    device = pick_device(args.device)
    dtype = pick_dtype(device)
    set_threads(device)
    n = args.frames or (30 if device == "cuda" else 2)
    t0 = time.perf_counter()
    models = build_full_size()
    params = sum(p.numel() for p in models.tracker.parameters()) / 1e6
    models.tracker.to(device=device, dtype=dtype)
    print(f"full-size Sam3TrackerVideoModel: {params:.0f}M parameters, built in {time.perf_counter() - t0:.1f} s; "
          f"device {device}, dtype {str(dtype).replace('torch.', '')}, threads {torch.get_num_threads()}")
    frames, box = synthetic_clip(n + 2, args.width, args.height)  # +1 prompt frame, +1 warm-up
    print(f"clip: {len(frames)} frames {args.width}x{args.height}, 1 object")

    b = bare(models, frames, box, device, dtype)[1:]  # drop the warm-up frame
    a = adapter(models, frames, box, device)[1:]
    bare_ms, adapter_ms = 1000 * float(np.median(b)), 1000 * float(np.median(a))
    ratio = adapter_ms / bare_ms
    print(f"bare forward    {bare_ms:10.1f} ms/frame ({1000 / bare_ms:6.2f} fps)  over {len(b)} frames")
    print(f"adapter         {adapter_ms:10.1f} ms/frame ({1000 / adapter_ms:6.2f} fps)  over {len(a)} frames")
    print(f"overhead ratio  {ratio:.3f} (adapter / bare; goal <= 1.10)")
    print(f"RESULT device={device} ms_per_frame={adapter_ms:.1f} overhead_ratio={ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

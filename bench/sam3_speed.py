"""SAM3 tracking speed and memory (issue 22): the read-ahead path against the per-frame path,
same run, same models, same clips.

Full-size models are built from transformers' default configs with random weights (the time
per frame does not depend on the weight values, so no download is needed): the tracker
(``Sam3TrackerVideoModel``) and, unless ``--no-detector``, the text detector (``Sam3Model``),
whose ViT backbone gets the tracker's weights (one checkpoint holds one backbone) so that
``share_backbone`` ties them as loading real weights does; then ``models.to(device, dtype)``
(bf16 on a GPU).

Three cases on synthetic clips (textured discs moving over a gradient, one box per disc on
frame 0): 1 object at ``--width`` x ``--height`` (1920x1080), 8 objects (8 discs, 8 boxes)
at the same size, and 1 object at twice the size (3840x2160). Each case is tracked twice
through ``Sam3Engine(models=..., device=..., read_ahead=...)`` and ``session.propagate``:

* **per-frame** (``read_ahead=0, batch_objects=False``, the baseline: transformers' own
  step): each frame read, preprocessed and encoded when the tracker reaches it, the objects
  one at a time;
* **read-ahead** (``read_ahead=--batch``, default ``default_read_ahead(device)``: 8 on a
  GPU, 1 on the CPU, and objects batched): frames read and encoded ``batch`` at a time on a
  worker thread ahead of the tracker (on a CUDA stream of its own on a GPU), objects whose
  memories have the same shapes through the memory attention and mask decoder together.

Time per frame is taken between consecutive yields of ``propagate`` (on the read-ahead path
a frame waits for the worker only when the encoder falls behind the tracker: a batch that
is not ready in time shows up as a long frame). On a GPU the prompt
frame and the first tracked frame are dropped (warm-up); on the CPU the prompt frame only
(the encoder already ran on it, and a frame takes about a minute there). Figures:

* ``fps_*`` = 1 / median time per frame of the read-ahead path (the per-frame path's and
  the speedup are printed beside it); also printed: ``sustained`` fps = frames / time over
  whole batches after the first (tracked frames ``1 + batch`` to the end of the last whole
  batch: the throughput, whatever the median says);
* ``p95_ratio`` = p95 / median of the read-ahead times per frame, 1 object at 1080p (a
  frame that waited for the encoder is a long frame);
* ``identical`` = 1 when every mask of every frame of every case is equal
  (``np.array_equal``) between the two paths;
* ``model_gb_bf16`` = parameters and buffers counted once (the shared backbone once),
  2 bytes per floating-point value (device independent); the same count with the two
  backbones separate (before issue 22's sharing) is printed beside it;
* ``gpu_mem_gb`` = ``torch.cuda.max_memory_allocated()`` over the tracking (peak stats reset
  after loading; resident-after-load printed separately), ``na`` on the CPU.

Targets from the issue, on an H100/H200-class GPU: 1 object >= 40 fps, 8 objects >= 25 fps,
1 object at 4K >= 30 fps, p95 <= 1.5x median, both models resident <= 1.9 GB in bf16.

    python bench/sam3_speed.py --device cuda     # GPU: 40 tracked frames per case, batch 8 (~2 min)
    python bench/sam3_speed.py                   # CPU: 1 tracked frame per case, batch 1 (12 min on 2 cores)
    python bench/sam3_speed.py --device cuda --compile   # the encoder under torch.compile
    python bench/sam3_speed.py [--frames N] [--batch N] [--width 1920 --height 1080]
                               [--cases 1obj_1080,8obj_1080,1obj_4k] [--no-detector]

A case left out with ``--cases`` reports ``na``. On the CPU the image encoder alone takes
about a minute per frame at full size on one core (its input is always resized to 1008 px,
so ``--width``/``--height`` change little there) and every case runs it
``2 x (1 + frames)`` times: the CPU run checks that the paths agree, its figures say
nothing about the GPU targets.

Last line: ``RESULT device=<cpu|cuda> fps_1obj_1080=<float> fps_8obj_1080=<float>
fps_1obj_4k=<float> p95_ratio=<float> gpu_mem_gb=<float|na> identical=<0|1> ...`` (then
``model_gb_bf16``, ``model_gb_bf16_unshared``, ``batch``, ``frames``, and per case
``baseline_fps_*``, ``speedup_*``, ``sustained_fps_*``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam3roto.backends.device import pick_device, pick_dtype, set_threads  # noqa: E402
from sam3roto.backends.sam3 import Sam3Engine, Sam3Models, default_read_ahead, share_backbone  # noqa: E402
from sam3roto.core.types import BoxPrompt  # noqa: E402
from sam3roto.media.memory import ArraySource  # noqa: E402

#: name -> (objects, size multiplier of --width x --height)
CASES: dict[str, tuple[int, int]] = {"1obj_1080": (1, 1), "8obj_1080": (8, 1), "1obj_4k": (1, 2)}
#: Times per frame dropped at the start of each path on a GPU: the prompt frame and the first
#: tracked frame (first calls at the batch's shapes, the first memory attention). On the CPU only
#: the prompt frame: the encoder already ran there, and one frame takes about a minute.
WARMUP = {"cuda": 2, "cpu": 1}


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


def build_full_size(detector: bool = True) -> Sam3Models:
    """Full-size tracker and processors (SAM3 defaults: 1008 px input, mean/std 0.5) and,
    with ``detector``, the full-size text detector holding the tracker's backbone weights
    (not tied yet: see :func:`share_backbone`). Random weights, on the CPU, fp32."""
    import torch
    from transformers import (
        Sam3Config,
        Sam3ImageProcessor,
        Sam3Model,
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
    models = Sam3Models(tracker, Sam3TrackerVideoProcessor(image_processor, video_processor))
    if detector:
        det = Sam3Model(Sam3Config()).eval()
        # one checkpoint holds one backbone for both models (as facebook/sam3 does)
        det.vision_encoder.backbone.load_state_dict(tracker.vision_encoder.backbone.state_dict())
        models.detector = det  # no processor: the bench gives no text prompts
    return models


def bytes_bf16(modules: Iterable[Any]) -> int:
    """Bytes of the modules' parameters and buffers in bf16 (2 bytes per floating-point
    value, other dtypes at their size), a tensor several modules hold counted once."""
    seen: dict[int, int] = {}
    for module in modules:
        for t in (*module.parameters(), *module.buffers()):
            if t.device.type == "meta" or t.numel() == 0:
                continue
            size = t.numel() * (2 if t.is_floating_point() else t.element_size())
            key = t.untyped_storage().data_ptr()
            seen[key] = max(seen.get(key, 0), size)
    return sum(seen.values())


def synthetic_clip(n: int, width: int, height: int, objects: int = 1) -> tuple[np.ndarray, list[BoxPrompt]]:
    """``uint8 (n, h, w, 3)`` frames of ``objects`` textured discs moving right over a
    gradient, and one box per disc on frame 0. One object: a disc of radius ``h / 8`` left
    of centre; more: a grid of two rows, one disc per cell, each staying in its cell."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1),
                     np.full_like(xx, 90)], -1).astype(np.uint8)
    del yy, xx
    if objects == 1:
        centres, r, travel = [(width // 4, height // 2)], height // 8, width // 4
    else:
        cols = -(-objects // 2)
        cw, ch = width // cols, height // 2
        centres = [(cw * (i % cols) + cw // 3, ch * (i // cols) + ch // 2) for i in range(objects)]
        r, travel = max(2, min(cw, ch) // 4), cw // 4
    tints = rng.integers(0, 100, (objects, 3))
    ty, tx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = tx * tx + ty * ty < r * r
    frames = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        f = frames[i]
        f[:] = base
        shift = i * travel // max(1, n - 1)
        for k, (cx, cy) in enumerate(centres):
            x0, y0 = cx + shift - r, cy - r
            patch = f[y0:y0 + 2 * r + 1, x0:x0 + 2 * r + 1]  # inside the frame by construction
            texture = rng.integers(150, 255, (int(disc.sum()), 3)) - tints[k]
            patch[disc] = texture.astype(np.uint8)
    boxes = [BoxPrompt(float(cx - r), float(cy - r), float(cx + r), float(cy + r)) for cx, cy in centres]
    return frames, boxes


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


@dataclass
class Run:
    """One path through one case: seconds per yielded frame (prompt frame first) and the
    masks of every frame."""

    times: list[float]
    masks: list[dict[int, np.ndarray]] = field(repr=False)
    warmup: int = 2  # times dropped at the start

    def timed(self) -> np.ndarray:
        return np.asarray(self.times[self.warmup:])

    def median(self) -> float:
        return float(np.median(self.timed()))

    def p95(self) -> float:
        return float(np.percentile(self.timed(), 95))

    def sustained(self, batch: int) -> float:
        """Seconds per frame over whole read-ahead batches after the first (tracked frames
        ``1 + batch`` to ``batch * (m + 1)``); the timed frames when there is not one."""
        step = max(1, batch)
        whole = (len(self.times) - 1 - step) // step * step
        window = self.times[1 + step:1 + step + whole] if whole > 0 else self.times[self.warmup:]
        return float(np.mean(window))


def track(models: Sam3Models, device: str, frames: np.ndarray, boxes: list[BoxPrompt], read_ahead: int,
          warmup: int = 2, compile: bool = False) -> Run:
    """Prompt one box per object on frame 0 and propagate forward through the clip."""
    # the baseline is transformers' own step: frame by frame, object by object
    engine = Sam3Engine(models=models, device=device, read_ahead=read_ahead, batch_objects=read_ahead > 0,
                        compile=compile and read_ahead > 0)
    source = ArraySource(frames, name="sam3_speed")
    times: list[float] = []
    masks: list[dict[int, np.ndarray]] = []
    with engine.open_session(source) as session:
        for obj, box in enumerate(boxes, 1):
            session.set_prompts(0, obj, [box])
        _sync(device)
        t = time.perf_counter()
        for fm in session.propagate(0, "forward"):
            masks.append(fm.masks)
            _sync(device)
            now = time.perf_counter()
            times.append(now - t)
            t = now
    return Run(times, masks, warmup)


def compare(a: Run, b: Run) -> tuple[bool, int]:
    """Whether every mask is equal, and how many pixels differ in all."""
    same, differ = len(a.masks) == len(b.masks), 0
    for ma, mb in zip(a.masks, b.masks, strict=False):
        if ma.keys() != mb.keys():
            same = False
        for o in ma.keys() & mb.keys():
            if not np.array_equal(ma[o], mb[o]):
                same = False
                differ += int(np.count_nonzero(ma[o] != mb[o])) if ma[o].shape == mb[o].shape else ma[o].size
    return same, differ


def _gb(n: float) -> str:
    return f"{n / 1e9:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--frames", type=int, default=0, help="tracked frames per case after the prompt frame "
                    "(default: 40 on a GPU, 1 on the CPU); on a GPU the first is warm-up")
    ap.add_argument("--batch", type=int, default=None, help="read-ahead batch (default: 8 on a GPU, 1 on the CPU)")
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated, from: " + ", ".join(CASES))
    ap.add_argument("--no-detector", action="store_true", help="build the tracker only (no text detector)")
    ap.add_argument("--compile", action="store_true", help="the read-ahead path's image encoder under torch.compile "
                    "(compiled on its first batch, which the warm-up frame absorbs)")
    args = ap.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    if unknown := [c for c in cases if c not in CASES]:
        ap.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")

    print(f"torchvision: {ensure_torchvision()}")
    import torch

    device = pick_device(args.device)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    dtype = pick_dtype(device)
    set_threads(device)
    n = args.frames or (40 if kind == "cuda" else 1)
    warmup = WARMUP[kind]
    batch = default_read_ahead(device) if args.batch is None else args.batch
    if n + 1 <= warmup or batch < 1:
        ap.error(f"--frames must be at least {warmup} on {kind} and --batch at least 1")
    start = time.perf_counter()

    t0 = time.perf_counter()
    models = build_full_size(detector=not args.no_detector)
    built = time.perf_counter() - t0
    tracker_b = bytes_bf16([models.tracker])
    detector_b = bytes_bf16([models.detector]) if models.detector is not None else 0
    backbone_b = bytes_bf16([models.tracker.vision_encoder.backbone])
    shared = share_backbone(models)
    unique_b = bytes_bf16(models.modules())
    models.to(device, dtype)
    _sync(device)
    resident = models.resident_bytes()
    after_load = torch.cuda.memory_allocated() if kind == "cuda" else None
    if kind == "cuda":
        torch.cuda.reset_peak_memory_stats()
    what = "tracker + detector" if models.detector is not None else "tracker only"
    print(f"full-size SAM3 ({what}) built in {built:.1f} s, random weights; device {device}, "
          f"dtype {str(dtype).replace('torch.', '')}, threads {torch.get_num_threads()}, "
          f"read-ahead batch {batch}, {n} tracked frames per case ({n + 1 - warmup} timed)")
    print(f"parameters+buffers in bf16: tracker {_gb(tracker_b)} GB (backbone {_gb(backbone_b)} GB)"
          + (f", detector {_gb(detector_b)} GB" if detector_b else ""))
    if models.detector is not None:
        print(f"  both models, backbones separate: {_gb(tracker_b + detector_b)} GB; "
              f"{'backbone shared' if shared else 'backbone NOT shared'}: {_gb(unique_b)} GB  (target <= 1.9 GB)")
    print(f"  resident on {device} as {str(dtype).replace('torch.', '')}: {_gb(resident)} GB"
          + (f"; torch.cuda.memory_allocated after load {_gb(after_load)} GB" if after_load is not None else ""))

    fps: dict[str, str] = {c: "na" for c in CASES}
    extra: dict[str, str] = {}
    identical = True
    p95_ratio = "na"
    hdr = f"{'case':<22} {'path':<14} {'median ms':>10} {'p95 ms':>9} {'fps':>8} {'sustained fps':>14}"
    print(hdr)
    for case in cases:
        objects, scale = CASES[case]
        w, h = args.width * scale, args.height * scale
        frames, boxes = synthetic_clip(n + 1, w, h, objects)
        base = track(models, device, frames, boxes, read_ahead=0, warmup=warmup)
        ahead = track(models, device, frames, boxes, read_ahead=batch, warmup=warmup, compile=args.compile)
        del frames
        same, differ = compare(base, ahead)
        identical = identical and same
        label = f"{case} {w}x{h}"
        for name, run in (("per-frame", base), (f"read-ahead {batch}", ahead)):
            med = run.median()
            print(f"{label:<22} {name:<14} {1000 * med:10.1f} {1000 * run.p95():9.1f} {1 / med:8.4g} "
                  f"{1 / run.sustained(batch):14.4g}")
            if len(run.times) <= 6:
                print(f"{'':<22}   ms per yield (prompt frame first): "
                      + ", ".join(f"{1000 * t:.0f}" for t in run.times))
        speed = base.median() / ahead.median()
        sustained = base.sustained(batch) / ahead.sustained(batch)
        ratio = ahead.p95() / ahead.median()
        print(f"{'':<22} speedup {speed:.2f}x median, {sustained:.2f}x sustained; read-ahead p95/median {ratio:.2f}; "
              f"masks {'identical' if same else f'DIFFER ({differ} pixels)'}")
        fps[case] = f"{1 / ahead.median():.4g}"
        extra[f"baseline_fps_{case}"] = f"{1 / base.median():.4g}"
        extra[f"speedup_{case}"] = f"{speed:.3f}"
        extra[f"sustained_fps_{case}"] = f"{1 / ahead.sustained(batch):.4g}"
        if case == "1obj_1080":
            p95_ratio = f"{ratio:.3f}"
        del base, ahead

    gpu = f"{torch.cuda.max_memory_allocated() / 1e9:.3f}" if kind == "cuda" else "na"
    if kind == "cuda":
        print(f"peak torch.cuda.max_memory_allocated over the tracking: {gpu} GB")
    print(f"total {time.perf_counter() - start:.0f} s")
    keys = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"RESULT device={kind} fps_1obj_1080={fps['1obj_1080']} fps_8obj_1080={fps['8obj_1080']} "
          f"fps_1obj_4k={fps['1obj_4k']} p95_ratio={p95_ratio} gpu_mem_gb={gpu} identical={int(identical)} "
          f"model_gb_bf16={_gb(unique_b)} model_gb_bf16_unshared={_gb(tracker_b + detector_b)} "
          f"batch={batch} frames={n} {keys}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())

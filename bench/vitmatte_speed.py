"""ViTMatte edge refinement speed (issue 23): ms per 4K frame for the edge tiles only against
the whole frame, same run, same model.

The model is ViTMatte-S built from the config of ``hustvl/vitmatte-small-composition-1k``
(a VitDet ViT-S/16 backbone: hidden size 384, 6 heads, 12 blocks, windowed attention of 14
tokens in blocks 0, 1, 3, 4, 6, 7, 9, 10 with residual blocks after 2, 5, 8, 11, relative
positions, 4 input channels; the default detail-capture decoder) with random weights: the
time per tile does not depend on the weight values, so nothing is downloaded. On the device
``pick_device(--device)`` gives, in ``pick_dtype``'s dtype (bf16 on a GPU).

The frame is a 3840x2160 synthetic plate with a disc mask (``--radius`` px, off centre).

* **edge tiles**: ``post.refine(image, mask, PostSettings(refine_band_px=--band,
  refine_method="vitmatte"), refine_models=...)`` on the uint8 frame, the path post and
  render take: trimap, the object's region, only the 512 px tiles holding unknown pixels,
  in batches, blended.
* **full frame**: ``vitmatte.estimate_alpha`` with a trimap unknown everywhere: every tile
  of the frame's grid through the same tiles, batches and blend (the cost of running the
  model over the whole frame). ``--full-forward`` also times one forward pass on the whole
  frame at once (3840x2176 input: its global attention needs tens of GB, so a GPU only).

One untimed warm-up batch, then the median of ``--repeats`` runs of each (default 1 on the
CPU, where a 512 px tile takes seconds, 5 on a GPU).

    python bench/vitmatte_speed.py                   # CPU: ~3 min on 2 cores
    python bench/vitmatte_speed.py --device cuda --full-forward

Last line: ``RESULT device=<cpu|cuda> ms_edge_tiles_4k=<float> ms_full_4k=<float>
ratio=<float>`` where ratio = ms_full_4k / ms_edge_tiles_4k (how many times faster the edge
tiles are), then ``tiles_edge=<n> tiles_full=<n>`` and, with ``--full-forward``,
``ms_forward_4k=<float>``.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam3roto.backends.device import pick_device, pick_dtype  # noqa: E402
from sam3roto.post import PostSettings, refine  # noqa: E402
from sam3roto.post import matte as M  # noqa: E402
from sam3roto.post.vitmatte import (  # noqa: E402
    BATCH_CPU,
    BATCH_GPU,
    OVERLAP_PX,
    TILE_PX,
    VitMatte,
    edge_tiles,
    estimate_alpha,
)

WIDTH, HEIGHT = 3840, 2160


def ensure_torchvision() -> str:
    """transformers' image processors need torchvision; on machines with a CPU torch and
    PyPI's CUDA torchvision wheel, use the test suite's shim (tests/torchvision_shim.py)."""
    try:
        importlib.import_module("torchvision")
        return "native"
    except Exception:
        from tests.torchvision_shim import install

        return install()


def small_config() -> Any:
    """The architecture of hustvl/vitmatte-small-composition-1k."""
    from transformers import VitMatteConfig

    backbone = dict(model_type="vitdet", num_channels=4, image_size=512, pretrain_image_size=224, patch_size=16,
                    hidden_size=384, num_attention_heads=6, num_hidden_layers=12, mlp_ratio=4,
                    use_absolute_position_embeddings=True, use_relative_position_embeddings=True, window_size=14,
                    window_block_indices=[0, 1, 3, 4, 6, 7, 9, 10], residual_block_indices=[2, 5, 8, 11],
                    out_features=["stage12"])
    return VitMatteConfig(backbone_config=backbone, hidden_size=384, convstream_hidden_sizes=[48, 96, 192],
                          fusion_hidden_sizes=[256, 128, 64, 32])


def plate(seed: int = 0) -> np.ndarray:
    """``uint8 (2160, 3840, 3)``: gradients plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([(xx * 255 // WIDTH), (yy * 255 // HEIGHT), ((xx + yy) // 23) % 256], -1).astype(np.int16)
    return np.clip(base + rng.integers(-20, 21, base.shape, dtype=np.int16), 0, 255).astype(np.uint8)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str, repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--radius", type=int, default=700, help="disc radius (px)")
    ap.add_argument("--band", type=int, default=20, help="refine band (px)")
    ap.add_argument("--repeats", type=int, default=0, help="runs per case (0: 1 on the CPU, 5 on a GPU)")
    ap.add_argument("--batch", type=int, default=0, help=f"tiles per forward (0: {BATCH_GPU} GPU, {BATCH_CPU} CPU)")
    ap.add_argument("--full-forward", action="store_true", help="also one forward pass on the whole frame")
    args = ap.parse_args()

    shim = ensure_torchvision()
    import torch
    from transformers import VitMatteForImageMatting, VitMatteImageProcessor

    device = pick_device(args.device)
    dtype = pick_dtype(device)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model: Any = VitMatteForImageMatting(small_config())
    model = model.to(device=device, dtype=dtype).eval()
    batch = args.batch or (BATCH_GPU if device.startswith("cuda") else BATCH_CPU)
    net = VitMatte(model, VitMatteImageProcessor(), device, dtype, batch)
    repeats = args.repeats or (5 if device.startswith("cuda") else 1)
    print(f"built ViTMatte-S ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params) in "
          f"{time.perf_counter() - t0:.1f}s on {device}, {dtype}, {torch.get_num_threads()} threads, "
          f"torchvision {shim}, batch {batch}, {repeats} repeat(s)")

    image = plate()
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    mask = (yy - 1000) ** 2 + (xx - 1700) ** 2 <= args.radius**2
    unknown_everywhere = np.full((HEIGHT, WIDTH), 128, np.uint8)
    band_px = int((M.trimap(mask, band_px=args.band) == 128).sum())
    print(f"frame {WIDTH}x{HEIGHT}, disc radius {args.radius} px, band {args.band} px ({band_px} unknown px, "
          f"{100 * band_px / (WIDTH * HEIGHT):.2f}% of the frame), {TILE_PX} px tiles")
    ran: list[int] = []  # tiles per forward pass, counted on the model itself
    model.register_forward_pre_hook(lambda _m, _a, kw: ran.append(len(kw["pixel_values"])), with_kwargs=True)

    # warm-up: one batch of tiles at the timed shape (allocator, kernels), not timed
    width = TILE_PX + (batch - 1) * (TILE_PX - OVERLAP_PX)  # exactly one batch of tiles
    estimate_alpha(net, image[:TILE_PX, :width], unknown_everywhere[:TILE_PX, :width])
    sync(device)

    settings = PostSettings(refine_band_px=args.band, refine_method="vitmatte")
    ran.clear()
    edge = timed(lambda: refine(image, mask, settings, refine_models=lambda _: net), device, repeats)
    n_edge = sum(ran) // repeats
    print(f"edge tiles: {n_edge} tiles, {edge * 1000:.0f} ms per frame ({edge * 1000 / max(n_edge, 1):.0f} ms "
          "per tile)")
    ran.clear()
    full = timed(lambda: estimate_alpha(net, image, unknown_everywhere), device, repeats)
    n_full = sum(ran) // repeats
    assert n_full == len(edge_tiles(unknown_everywhere == 128))
    print(f"full frame: every tile, {n_full} tiles, {full * 1000:.0f} ms per frame ({full * 1000 / n_full:.0f} ms "
          "per tile)")
    extra = ""
    if args.full_forward:
        pixels = net.processor(images=[image], trimaps=[unknown_everywhere], return_tensors="pt")["pixel_values"]
        pixels = pixels.to(device=device, dtype=dtype)

        def forward() -> None:
            with torch.inference_mode():
                model(pixel_values=pixels).alphas.float().cpu()

        try:
            whole = timed(forward, device, repeats)
            print(f"one forward on the whole frame {tuple(pixels.shape)}: {whole * 1000:.0f} ms")
            extra = f" ms_forward_4k={whole * 1000:.1f}"
        except (RuntimeError, MemoryError) as exc:  # out of memory: say so, keep the other figures
            print(f"one forward on the whole frame failed: {str(exc).splitlines()[0]}")
            extra = " ms_forward_4k=na"
    print(f"RESULT device={device} ms_edge_tiles_4k={edge * 1000:.1f} ms_full_4k={full * 1000:.1f} "
          f"ratio={full / edge:.2f} tiles_edge={n_edge} tiles_full={n_full}{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

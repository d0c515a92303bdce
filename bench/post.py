"""Post stack speed at 1080p and 4K on real-looking content, against a naive full-frame
scipy implementation of the same refine + despill written here, in the same run.

Frames are DAVIS 2016 ``blackswan`` (from ``../shared/data``) upscaled, with their
ground-truth masks degraded like a model's (``matte_quality.degrade``). Measured per frame:

- refine + despill: dots, holes, grow, trimap band refinement, feather, green despill with
  luminance restore (the target: >= 10 fps at 4K, >= 5x the naive one);
- the full pipeline: the above plus motion-compensated temporal smoothing and ML edge
  extend (pymatting), through ``apply_sequence``.

    python bench/post.py [--frames 6] [--naive-frames 2]

Last line: ``RESULT fps_1080=<float> fps_4k=<float> speedup_vs_naive=<float>`` where the fps
are refine + despill and the speedup is at 4K; full-pipeline figures are printed above it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matte_quality import DEFAULT_DATA, degrade, read_sequence

from sam3roto.post import PostSettings, apply, apply_sequence


def settings_for(height: int) -> PostSettings:
    """What an artist dials in for model masks, scaled with the frame (480p values x scale)."""
    k = height / 480
    return PostSettings(
        remove_dots_px=round(150 * k * k), fill_holes_px=round(150 * k * k), grow_px=max(1, round(k)),
        refine_band_px=round(10 * k), feather_px=round(1.0 * k, 1), despill="green", luminance_restore=1.0,
    )


def naive(image_u8: np.ndarray, mask: np.ndarray, s: PostSettings) -> tuple[np.ndarray, np.ndarray]:
    """The same refine + despill, written the obvious way: whole frame, scipy.ndimage."""
    image = image_u8.astype(np.float32) / 255.0
    labels, n = ndimage.label(mask)
    sizes = ndimage.sum(mask, labels, range(1, n + 1))
    m = np.isin(labels, 1 + np.nonzero(sizes > s.remove_dots_px)[0])
    holes, n = ndimage.label(~m)
    sizes = ndimage.sum(~m, holes, range(1, n + 1))
    border = set(np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))) - {0}
    small = [i + 1 for i in np.nonzero(sizes <= s.fill_holes_px)[0] if i + 1 not in border]
    m = m | np.isin(holes, small)
    r = s.grow_px
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    m = ndimage.binary_dilation(m, structure=xx**2 + yy**2 <= r * r)
    half = s.refine_band_px / 2
    inside = ndimage.distance_transform_edt(m)
    outside = ndimage.distance_transform_edt(~m)
    unknown = (inside <= half) & (outside <= half)
    rad = max(1, s.refine_band_px // 2)
    size = 2 * rad + 1
    p = m.astype(np.float32)
    box = lambda x: ndimage.uniform_filter(x, size)  # noqa: E731
    mean_i = np.stack([box(image[..., c]) for c in range(3)], -1)
    mean_p = box(p)
    cov = np.stack([box(image[..., c] * p) for c in range(3)], -1) - mean_i * mean_p[..., None]
    var = np.empty((*p.shape, 3, 3), np.float32)
    for a in range(3):
        for b in range(3):
            var[..., a, b] = box(image[..., a] * image[..., b]) - mean_i[..., a] * mean_i[..., b]
    var += 1e-5 * np.eye(3, dtype=np.float32)
    coef = np.linalg.solve(var, cov[..., None])[..., 0]
    off = mean_p - (coef * mean_i).sum(-1)
    q = (np.stack([box(coef[..., c]) for c in range(3)], -1) * image).sum(-1) + box(off)
    matte = np.where(unknown, np.clip(q, 0, 1), p)
    matte = ndimage.gaussian_filter(matte, s.feather_px / 2)
    rgb = image.copy()
    rgb[..., 1] = np.minimum(image[..., 1], (image[..., 0] + image[..., 2]) / 2)
    lost = ((image - rgb) * np.float32([0.2126, 0.7152, 0.0722])).sum(-1)
    return matte, rgb + lost[..., None]


def frames_at(images: list[np.ndarray], masks: list[np.ndarray], height: int) -> list[tuple[np.ndarray, np.ndarray]]:
    width = height * 16 // 9  # DAVIS 854x480 is 16:9 to within a pixel
    return [(cv2.resize(i, (width, height), interpolation=cv2.INTER_CUBIC),
             cv2.resize(m.view(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).view(bool))
            for i, m in zip(images, masks, strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--naive-frames", type=int, default=2)
    args = parser.parse_args(argv)
    images, truths = read_sequence(args.data, "blackswan", args.frames)
    rng = np.random.default_rng(0)
    masks = [degrade(t, rng) for t in truths]
    print(f"cores: {os.cpu_count()}, frames: {len(images)} of blackswan (480p upscaled)")
    fps: dict[int, float] = {}
    speedup = 0.0
    for height in (1080, 2160):
        frames = frames_at(images, masks, height)
        s = settings_for(height)
        apply(*frames[0], s)  # warm-up (imports, first allocations)
        t0 = time.perf_counter()
        for image, mask in frames:
            result = apply(image, mask, s)
            assert result.rgb is not None
        ours = (time.perf_counter() - t0) / len(frames)
        fps[height] = 1.0 / ours
        t0 = time.perf_counter()
        for image, mask in frames[: args.naive_frames]:
            naive(image, mask, s)
        base = (time.perf_counter() - t0) / min(len(frames), args.naive_frames)
        full = s.with_values(temporal_pct=50.0, edge_extend="ml")
        list(apply_sequence(((i, m, None) for i, m in frames[:2]), full))  # warm-up (numba)
        t0 = time.perf_counter()
        count = sum(1 for _ in apply_sequence(((i, m, None) for i, m in frames), full))
        whole = (time.perf_counter() - t0) / count
        size = f"{frames[0][0].shape[1]}x{height}"
        print(f"{height}p ({size}): refine+despill {ours * 1000:.0f} ms = {1 / ours:.1f} fps; "
              f"naive scipy {base * 1000:.0f} ms = {base / ours:.1f}x slower; "
              f"full pipeline (+temporal, +ML edge extend) {whole * 1000:.0f} ms = {1 / whole:.2f} fps", flush=True)
        if height == 2160:
            speedup = base / ours
    print(f"RESULT fps_1080={fps[1080]:.2f} fps_4k={fps[2160]:.2f} speedup_vs_naive={speedup:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

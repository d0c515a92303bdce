"""Export speed: 4K RGBA PNG sequences written serially vs in parallel, and ProRes 4444 at
1080p through the exporter vs bare ffmpeg fed the same raw frames, in the same run.

Frames are DAVIS 2016 ``blackswan`` (from ``../shared/data``) upscaled, with their
ground-truth masks feathered into soft mattes, so the PNG encoder sees real content.

- PNG: the ``png-rgba`` exporter (16-bit, what renders write by default) writing each
  frame in turn, then the same frames through a thread pool of one worker per core (what
  the render job does); the speedup in RESULT is between these two. Also printed: the
  obvious serial writer (numpy conversion, ``cv2.imwrite`` defaults) and the whole render
  job (post + write) at 1 and N workers.
- ProRes: the ``prores`` exporter (float matte and RGB -> 16-bit RGBA -> ffmpeg pipe ->
  prores_ks 4444) vs the same ffmpeg command fed pre-converted raw frames.

    python bench/export.py [--png-frames 8] [--prores-frames 48]

Last line: ``RESULT png_parallel_speedup=<float> prores_overhead=<float> prores_fps_1080=<float>
png_speedup_vs_naive=<float>`` (one line).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matte_quality import DEFAULT_DATA, read_sequence

from sam3roto.core.jobs import run_sync
from sam3roto.core.maskstore import MaskStore
from sam3roto.export.base import FrameOutput, ObjectOut, RenderPlan, to_uint
from sam3roto.export.ffmpeg import find_ffmpeg
from sam3roto.export.png import PngRgba
from sam3roto.export.prores import ProRes4444, prores_command
from sam3roto.pipeline.render import RenderOptions, render_job
from sam3roto.pipeline.shot import new_project


def frames_at(images: list[np.ndarray], truths: list[np.ndarray], height: int) -> list[FrameOutput]:
    width = height * 16 // 9
    out = []
    for i, (image, truth) in enumerate(zip(images, truths, strict=True)):
        big = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
        mask = cv2.resize(truth.view(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(np.float32)
        matte = cv2.GaussianBlur(mask, (0, 0), height / 540)
        rgb = big.astype(np.float32) / 255.0
        out.append(FrameOutput(i, 1001 + i, big, {1: matte}, {1: rgb}, {1: False}))
    return out


def plan_for(frames: list[FrameOutput]) -> RenderPlan:
    h, w = frames[0].image.shape[:2]
    return RenderPlan(name="bench", width=w, height=h, fps=(24, 1), numbers=tuple(f.number for f in frames),
                      padding=4, objects=(ObjectOut(1, "swan", "swan", "swan"),), combine=(1,), source_dtype="uint8")


def time_png(frames: list[FrameOutput], workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        exporter = PngRgba(Path(tmp), plan_for(frames))
        t0 = time.perf_counter()
        if workers == 1:
            for frame in frames:
                exporter.write(frame)
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(exporter.write, frames))
        return time.perf_counter() - t0


def time_naive(frames: list[FrameOutput]) -> float:
    """The obvious serial writer: numpy float -> uint16, ``cv2.imwrite`` with its defaults."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for f in frames:
            rgba = (np.clip(np.dstack([f.rgb[1], f.mattes[1]]), 0, 1) * 65535 + 0.5).astype(np.uint16)
            cv2.imwrite(str(Path(tmp) / f"naive.{f.number}.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
        return time.perf_counter() - t0


def time_render(frames: list[FrameOutput], workers: int, root: Path) -> float:
    """The whole render job (default post, png-rgba 16-bit) on a 4K PNG plate sequence."""
    plate = root / "plate"
    if not plate.exists():
        plate.mkdir(parents=True)
        for f in frames:
            cv2.imwrite(str(plate / f"plate.{f.number}.png"), f.image[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
    project, source = new_project(plate / "plate.####.png")
    store = MaskStore(root / "masks")
    obj = project.add_object("swan")
    for i, f in enumerate(frames):
        store.put(obj.id, i, f.mattes[1] > 0.5)
    t0 = time.perf_counter()
    run_sync(render_job(project, source, store, root / f"out{workers}", RenderOptions(outputs=("png-rgba",),
                                                                                      workers=workers)))
    elapsed = time.perf_counter() - t0
    source.close()
    return elapsed


def time_prores(frames: list[FrameOutput]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        exporter = ProRes4444(Path(tmp), plan_for(frames))
        t0 = time.perf_counter()
        for frame in frames:
            exporter.write(frame)
        exporter.finish()
        ours = time.perf_counter() - t0
        raw = [np.ascontiguousarray(to_uint(np.dstack([f.rgb[1], f.mattes[1]]), 16)).tobytes() for f in frames]
        h, w = frames[0].image.shape[:2]
        cmd = prores_command(find_ffmpeg(), w, h, (24, 1), Path(tmp) / "bare.mov")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        for data in raw:
            proc.stdin.write(data)
        _, err = proc.communicate()
        bare = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"bare ffmpeg failed: {err.decode(errors='replace')}")
        return ours, bare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--png-frames", type=int, default=8)
    parser.add_argument("--prores-frames", type=int, default=48)
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    images, truths = read_sequence(args.data, "blackswan", max(args.png_frames, 12))
    print(f"cores: {cores}; blackswan frames upscaled; ffmpeg: {find_ffmpeg()}")

    frames4k = frames_at(images[: args.png_frames], truths[: args.png_frames], 2160)
    time_png(frames4k[:1], 1)  # warm-up
    naive = time_naive(frames4k)
    serial = time_png(frames4k, 1)
    parallel = time_png(frames4k, cores)
    n = len(frames4k)
    print(f"4K RGBA 16-bit PNG, {n} frames: naive serial (numpy + cv2.imwrite defaults) {naive / n * 1000:.0f} "
          f"ms/frame = {n / naive:.2f} fps; exporter serial {serial / n * 1000:.0f} ms/frame = {n / serial:.2f} fps; "
          f"exporter {cores} workers {parallel / n * 1000:.0f} ms/frame = {n / parallel:.2f} fps; "
          f"speedup {serial / parallel:.2f}x over the serial exporter, {naive / parallel:.2f}x over the naive writer",
          flush=True)
    root = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        job1 = time_render(frames4k, 1, root)
        jobn = time_render(frames4k, cores, root)
        print(f"render job (post + png-rgba) at 4K: 1 worker {n / job1:.2f} fps, {cores} workers {n / jobn:.2f} fps "
              f"({job1 / jobn:.2f}x)", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    del frames4k

    count = args.prores_frames
    base = frames_at(images[:12], truths[:12], 1080)
    frames1080 = [FrameOutput(k, 1001 + k, base[k % 12].image, base[k % 12].mattes, base[k % 12].rgb,
                              base[k % 12].premultiplied) for k in range(count)]
    time_prores(frames1080[:4])  # warm-up (ffmpeg start, page cache)
    ours, bare = time_prores(frames1080)
    print(f"ProRes 4444 1080p, {count} frames: exporter {count / ours:.2f} fps, bare ffmpeg on the same raw frames "
          f"{count / bare:.2f} fps; overhead {ours / bare:.3f}x", flush=True)
    print(f"RESULT png_parallel_speedup={serial / parallel:.3f} prores_overhead={ours / bare:.3f} "
          f"prores_fps_1080={count / ours:.2f} png_speedup_vs_naive={naive / parallel:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Scrubbing latency: our CachedReader vs bare PyAV decode, measured in the same run.

Generates H.264 clips (GOP 48, closed, 2 B-frames) at 1080p and 4K from upscaled real
DAVIS frames with temporal grain (synthetic texture when ../shared/data is absent), then
times, per resolution:

* bare PyAV (thread_type AUTO, rgb24): next frame with the decoder open; previous frame
  (seek to the keyframe, decode to the target); random jump (same);
* ours: the same operations through ``CachedReader.get``. Random jumps clear the cache
  first, so each one is a real decode. Stepping is done at a 25 Hz key
  repeat (an artist holding an arrow key), over frames never touched before ("first
  pass"), then over the same frames again ("revisit", i.e. after first touch).

Usage: python bench/scrub.py [--frames 144] [--jumps 12] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sam3roto.media.cache import CachedReader
from sam3roto.media.source import open_media

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016" / "JPEGImages" / "480p" / "blackswan"
GOP = 48
KEY_INTERVAL_S = 0.040  # 25 Hz keyboard auto-repeat


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


def make_clip(path: Path, width: int, height: int, frames: int) -> None:
    import av
    import cv2

    bases: list[np.ndarray] = []
    if DATA.is_dir():
        for jpg in sorted(DATA.glob("*.jpg"))[:frames]:
            bases.append(cv2.cvtColor(cv2.imread(str(jpg)), cv2.COLOR_BGR2RGB))
    if not bases:
        yy, xx = np.mgrid[0:480, 0:854]
        for t in range(50):
            img = np.stack([(xx * 3 + t * 7) % 256, (yy * 5 + xx) % 256, (xx ^ yy) % 256], -1).astype(np.uint8)
            bases.append(img)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20", "g": str(GOP), "keyint_min": str(GOP),
                          "sc_threshold": "0", "bf": "2"}
        stream.thread_type = "AUTO"
        for i in range(frames):
            k = i % (2 * len(bases))
            base = bases[k if k < len(bases) else 2 * len(bases) - 1 - k]  # ping-pong, no jump cut
            img = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
            grain = rng.integers(-3, 4, size=(height // 4, width // 4, 1), dtype=np.int16)
            img = np.clip(img.astype(np.int16) + cv2.resize(grain, (width, height))[..., None], 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


class BarePyAV:
    """The baseline: PyAV as its docs show it, nothing cached."""

    def __init__(self, path: Path) -> None:
        import av

        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        pts, keys = [], []
        for packet in self.container.demux(self.stream):
            if packet.pts is not None:
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        self.pts, self.keys = sorted(pts), sorted(keys)
        self.container.seek(0, stream=self.stream)

    def seek_read(self, index: int) -> np.ndarray:
        target = self.pts[index]
        key = max(k for k in self.keys if k <= target)
        self.container.seek(key, stream=self.stream, backward=True)
        for frame in self.container.decode(self.stream):
            if frame.pts == target:
                return frame.to_ndarray(format="rgb24")
        raise RuntimeError(f"frame {index} not found")

    def sequential(self, start: int, count: int) -> list[float]:
        self.seek_read(start)
        times = []
        decoder = self.container.decode(self.stream)
        for _ in range(count):
            t = time.perf_counter()
            frame = next(decoder)
            frame.to_ndarray(format="rgb24")
            times.append((time.perf_counter() - t) * 1000)
        return times


def step(reader: CachedReader, indices: list[int]) -> list[float]:
    """Latency of get() for each index, pressed at KEY_INTERVAL_S cadence."""
    times = []
    next_press = time.perf_counter()
    for i in indices:
        now = time.perf_counter()
        if now < next_press:
            time.sleep(next_press - now)
        t = time.perf_counter()
        reader.get(i)
        times.append((time.perf_counter() - t) * 1000)
        next_press = max(t + KEY_INTERVAL_S, time.perf_counter())
    return times


def measure(path: Path, label: str, frames: int, jumps: int) -> dict[str, float]:
    bare = BarePyAV(path)
    n = len(bare.pts)
    steps = min(GOP + GOP // 2, n // 2 - 2)
    rng = random.Random(7)
    targets = [rng.randrange(0, n) for _ in range(jumps)]

    bare_next = bare.sequential(1, steps)
    bare_prev, bare_jump = [], []
    for i in range(n - 2, n - 2 - min(steps, 24), -1):
        t = time.perf_counter()
        bare.seek_read(i)
        bare_prev.append((time.perf_counter() - t) * 1000)
    source = open_media(path)
    ours_jump = []
    with CachedReader(source) as reader:
        for i in targets:  # interleaved, so machine noise hits both sides alike
            settle = time.perf_counter() + 3.0  # let our prefetch finish: it must not slow the baseline
            while time.perf_counter() < settle and reader._plan(reader._last, 1):
                time.sleep(0.01)
            t = time.perf_counter()
            bare.seek_read(i)
            bare_jump.append((time.perf_counter() - t) * 1000)
            reader.cache.clear()
            t = time.perf_counter()
            reader.get(i)
            ours_jump.append((time.perf_counter() - t) * 1000)
    with CachedReader(source) as reader:
        forward = list(range(1, 1 + steps))
        fwd_first = step(reader, forward)[1:]  # [0] is the first touch (a seek)
        back = list(range(n - 2, n - 2 - steps, -1))
        back_first = step(reader, back)[1:]
        fwd_again = step(reader, forward)
        back_again = step(reader, back)
    source.close()

    res = {
        "bare_next_p50": statistics.median(bare_next), "bare_next_p95": p95(bare_next),
        "bare_prev_p50": statistics.median(bare_prev), "bare_prev_p95": p95(bare_prev),
        "bare_jump_p50": statistics.median(bare_jump), "bare_jump_p95": p95(bare_jump),
        "next_first_p50": statistics.median(fwd_first), "next_first_p95": p95(fwd_first),
        "prev_first_p50": statistics.median(back_first), "prev_first_p95": p95(back_first),
        "next_again_p95": p95(fwd_again), "prev_again_p95": p95(back_again),
        "jump_p50": statistics.median(ours_jump), "jump_p95": p95(ours_jump),
    }
    # The target is "after first touch": steps over frames already visited.
    res["step_p95"] = res["next_again_p95"]
    res["back_p95"] = res["prev_again_p95"]
    res["jump_ratio"] = res["jump_p50"] / res["bare_jump_p50"]
    print(f"\n== {label}: {n} frames, GOP {GOP}, {steps} steps each way at {1 / KEY_INTERVAL_S:.0f} Hz ==")
    print(f"{'operation':34s} {'ours p50':>9s} {'ours p95':>9s} {'bare p50':>9s} {'bare p95':>9s} {'ratio p50':>9s}")
    rows = [
        ("next frame, first pass", "next_first", "bare_next"),
        ("previous frame, first pass", "prev_first", "bare_prev"),
        ("random jump (uncached)", "jump", "bare_jump"),
    ]
    for name, ours, base in rows:
        print(f"{name:34s} {res[ours + '_p50']:9.1f} {res[ours + '_p95']:9.1f} {res[base + '_p50']:9.1f} "
              f"{res[base + '_p95']:9.1f} {res[ours + '_p50'] / res[base + '_p50']:9.3f}")
    print(f"{'next frame, revisit':34s} {'':9s} {res['next_again_p95']:9.1f}")
    print(f"{'previous frame, revisit':34s} {'':9s} {res['prev_again_p95']:9.1f}")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=144, help="clip length (default 144 = 3 GOPs)")
    parser.add_argument("--jumps", type=int, default=12, help="random jumps to time")
    parser.add_argument("--keep", type=Path, help="keep the generated clips in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="sam3roto-scrub-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    for label, (w, h) in (("1080p", (1920, 1080)), ("4K", (3840, 2160))):
        clip = folder / f"scrub_{label}_g{GOP}.mp4"
        if not clip.exists():
            t = time.perf_counter()
            make_clip(clip, w, h, args.frames)
            print(f"encoded {clip.name} in {time.perf_counter() - t:.1f} s ({clip.stat().st_size / 1e6:.1f} MB)")
        results[label] = measure(clip, label, args.frames, args.jumps)
    r4, r1 = results["4K"], results["1080p"]
    print("\nstep/back keys: after first touch (revisit); *_first keys: frames never decoded before")
    print(f"RESULT step_p95_ms_4k={r4['step_p95']:.2f} back_p95_ms_4k={r4['back_p95']:.2f} "
          f"jump_ratio_4k={r4['jump_ratio']:.3f} step_p95_ms_1080={r1['step_p95']:.2f} "
          f"step_first_p95_ms_4k={r4['next_first_p95']:.2f} back_first_p95_ms_4k={r4['prev_first_p95']:.2f} "
          f"jump_ratio_1080={r1['jump_ratio']:.3f}")


if __name__ == "__main__":
    main()

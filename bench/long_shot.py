"""Long shot memory: track (classical engine) + refine + PNG render of a long 4K shot,
reporting the process's peak resident memory.

The shot is generated frame by frame as it is read (a textured disc moving over a textured
background that pans), so nothing but the pipeline holds frames. Stages run as the CLI
runs them: ``track_job`` in chunks (``--chunk``; fresh session per run, seeded at the seams)
writing masks to an on-disk mask store, then ``render_job`` with refinement (dots, holes,
grow, guided band refinement, feather) writing 8-bit PNG mattes.

Baseline, same run: the memory a naive pipeline needs to hold the shot's frames in RAM
(as SAM2/SAM3 video predictors do by default: the SAM2 issue tracker reports 40-80 GB for
1-4 minute shots), computed from the frame size, not allocated.

    python bench/long_shot.py [--frames 1000] [--width 3840 --height 2160] [--chunk 100]

Last line: ``RESULT frames=<int> peak_rss_gb=<float> seconds=<float>``
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam3roto.core.evaluation import jaccard, prompts_from_mask  # noqa: E402
from sam3roto.core.jobs import run_sync  # noqa: E402
from sam3roto.core.maskstore import MaskStore  # noqa: E402
from sam3roto.core.project import Project  # noqa: E402
from sam3roto.media.source import FrameSource, MediaInfo  # noqa: E402
from sam3roto.pipeline.render import RenderOptions, render_job  # noqa: E402
from sam3roto.pipeline.shot import shot_from_info  # noqa: E402


class MovingDisc(FrameSource):
    """A long synthetic shot made on the fly: ``read`` builds the frame."""

    def __init__(self, frames: int, width: int, height: int) -> None:
        rng = np.random.default_rng(0)
        pad = 64
        small = rng.integers(0, 255, ((height + pad) // 8 + 1, (width + pad) // 8 + 1, 3), dtype=np.uint8)
        base = cv2.resize(small, ((width + pad) // 8 * 8 + 8, (height + pad) // 8 * 8 + 8),
                          interpolation=cv2.INTER_CUBIC)
        self.base = cv2.normalize(base, None, 0, 150, cv2.NORM_MINMAX)
        self.radius = height // 8
        r = self.radius
        tex = cv2.resize(rng.integers(0, 255, (r // 4 + 1, r // 4 + 1, 3), dtype=np.uint8), (2 * r + 1, 2 * r + 1))
        self.tex = (cv2.normalize(tex, None, 0, 80, cv2.NORM_MINMAX) + np.array([170, 60, 30])).clip(0, 255)
        self.tex = self.tex.astype(np.uint8)
        self.disc = np.hypot(*np.mgrid[-r:r + 1, -r:r + 1]) <= r
        self.width, self.height, self.count, self.pad = width, height, frames, pad
        self.info = MediaInfo(path=Path("<moving disc>"), kind="memory", frame_count=frames, fps=Fraction(24),
                              width=width, height=height, channels=3, dtype="uint8",
                              frame_numbers=tuple(range(1001, 1001 + frames)))

    def _place(self, t: int) -> tuple[int, int, int]:
        r = self.radius
        period = 200  # the disc goes back and forth, the background pans back and forth
        phase = abs((t % (2 * period)) - period) / period
        cx = int(r + 8 + (self.width - 2 * r - 16) * phase)
        cy = int(self.height / 2 + self.height / 6 * np.sin(t / 25))
        shift = int(self.pad * phase)
        return cx, cy, shift

    def read(self, index: int) -> np.ndarray:
        t = self.check_index(index)
        cx, cy, shift = self._place(t)
        frame = self.base[shift:shift + self.height, shift:shift + self.width].copy()
        r = self.radius
        frame[cy - r:cy + r + 1, cx - r:cx + r + 1][self.disc] = self.tex[self.disc]
        return frame

    def mask(self, index: int) -> np.ndarray:
        cx, cy, _ = self._place(index)
        r = self.radius
        out = np.zeros((self.height, self.width), bool)
        out[cy - r:cy + r + 1, cx - r:cx + r + 1] = self.disc
        return out

    def clone(self) -> MovingDisc:
        return self


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--height", type=int, default=2160)
    ap.add_argument("--chunk", type=int, default=100, help="tracking run length (0: one session)")
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()

    source = MovingDisc(args.frames, args.width, args.height)
    project = Project(shot=shot_from_info(source.info))
    obj = project.add_object("disc")
    project.set_prompts(obj.id, 0, prompts_from_mask(source.mask(0)))
    obj.post = {"remove_dots_px": 400, "fill_holes_px": 400, "grow_px": 1, "refine_band_px": 12, "feather_px": 2}
    from sam3roto.pipeline.track import track_job

    print(f"{args.frames} frames {args.width}x{args.height}, generated as read; baseline peak RSS "
          f"{peak_rss_gb():.2f} GB")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = MaskStore(Path(tmp) / "shot.masks")
        t0 = time.perf_counter()
        run_sync(track_job(project, source, store, direction="forward", chunk=args.chunk))
        t_track = time.perf_counter() - t0
        rss_track = peak_rss_gb()
        sample = range(0, args.frames, max(1, args.frames // 50))
        j = float(np.mean([jaccard(store.get(obj.id, i), source.mask(i)) for i in sample if i]))
        print(f"track (classic, chunk {args.chunk}): {t_track:7.1f} s ({t_track / args.frames * 1000:.0f} ms/frame), "
              f"mean J {j:.3f} on {len(sample) - 1} sampled frames, peak RSS so far {rss_track:.2f} GB")
        t0 = time.perf_counter()
        result = run_sync(render_job(project, source, store, Path(tmp) / "renders",
                                     RenderOptions(outputs=("png-alpha",), bit_depth=8, workers=args.workers)))
        t_render = time.perf_counter() - t0
        print(f"refine + PNG render: {t_render:7.1f} s ({t_render / args.frames * 1000:.0f} ms/frame), "
              f"{result.file_count} files")
    seconds = time.perf_counter() - t_start
    peak = peak_rss_gb()
    in_ram = args.frames * source.info.frame_bytes / 1024**3
    print(f"peak RSS {peak:.2f} GB (target <= 3 GB); holding the shot's frames in RAM would take {in_ram:.1f} GB "
          f"(uint8), {in_ram * 4:.1f} GB as float32: {in_ram / peak:.1f}x / {4 * in_ram / peak:.1f}x this run's peak")
    print(f"RESULT frames={args.frames} peak_rss_gb={peak:.3f} seconds={seconds:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Frames already in memory as a :class:`FrameSource` (generated plates, tests)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from sam3roto.media.source import FrameSource, MediaInfo


class ArraySource(FrameSource):
    """Frames from an ``(N, H, W, 3)`` array (uint8, uint16 or float32)."""

    def __init__(self, frames: np.ndarray, fps: Fraction = Fraction(24), name: str = "<memory>") -> None:
        a = np.asarray(frames)
        if a.ndim != 4 or a.shape[-1] != 3 or a.shape[0] == 0:
            raise ValueError(f"frames must be a non-empty (N, H, W, 3) array, got shape {a.shape}")
        self._frames = a
        n, h, w, _ = a.shape
        self.info = MediaInfo(path=Path(name), kind="memory", frame_count=n, fps=fps, width=w, height=h, channels=3,
                              dtype=a.dtype.name, frame_numbers=tuple(range(n)))

    def read(self, index: int) -> np.ndarray:
        frame: np.ndarray = self._frames[self.check_index(index)]
        return frame

    def clone(self) -> ArraySource:
        return ArraySource(self._frames, self.info.fps, str(self.info.path))

"""Scrubbing-grade frame access: a byte-budget LRU of decoded frames plus a background
prefetcher that reads ahead in the direction of travel.

One decoder serves both the caller and the prefetcher, the caller first: after the
caller reads frame ``i`` the decoder sits right after it, so reading ahead costs one
sequential decode per frame, never a second seek. Going backward through a long-GOP
movie, the prefetcher decodes the previous GOP from its keyframe and keeps every frame,
so each step back is a cache hit instead of a seek. On a miss the prefetcher hands the
decoder over at its next frame boundary, so a jump costs what a bare seek costs.
Frames are read-only arrays shared with the caller.
"""

from __future__ import annotations

import threading

import numpy as np

from sam3roto.core.lru import ArrayLRU
from sam3roto.media.source import FrameSource


def default_budget_bytes() -> int:
    """A quarter of physical memory, capped at 4 GiB (two 48-frame 4K GOPs fit in 2.4 GiB)."""
    try:
        import psutil

        total = int(psutil.virtual_memory().total)
    except Exception:
        total = 8 * 1024**3
    return int(min(4 * 1024**3, total // 4))


class CachedReader:
    """Frames of one source for one consumer thread, with cache and prefetch.

    ``ahead`` frames are read ahead going forward; going backward the prefetcher keeps
    ``behind`` frames (rounded out to whole GOPs) decoded behind the position. The source
    must not be read by anyone else while the reader is open.
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        budget_bytes: int | None = None,
        ahead: int = 12,
        behind: int = 48,
        prefetch: bool = True,
    ) -> None:
        if ahead < 0 or behind < 0:
            raise ValueError(f"ahead and behind must be >= 0, got {ahead} and {behind}")
        self.source = source
        self.cache = ArrayLRU(budget_bytes or default_budget_bytes())
        self.ahead = ahead
        self.behind = behind
        self.hits = 0
        self.misses = 0
        self._last = -1
        self._direction = 1
        self._decoder = threading.Lock()  # held for each single-frame decode
        self._fg_waiting = threading.Event()  # the caller wants the decoder: prefetch yields
        self._fg_reads = 0  # bumped under the decoder lock by each caller read: prefetch plans go stale
        self._wake = threading.Condition()
        self._request: tuple[int, int] | None = None  # (position, direction) to prefetch around
        self._closed = False
        self._thread: threading.Thread | None = None
        if prefetch:
            self._thread = threading.Thread(target=self._prefetch_loop, name="sam3roto-prefetch", daemon=True)
            self._thread.start()

    # -- caller side ---------------------------------------------------------------------
    def get(self, index: int) -> np.ndarray:
        """Frame ``index`` (RGB, read-only). Blocks only on a cache miss."""
        index = self.source.check_index(index)
        step = index - self._last if self._last >= 0 else 1
        direction = self._direction if step == 0 else (1 if step > 0 else -1)
        frame = self.cache.get(index)
        if frame is not None:
            self.hits += 1
        else:
            self.misses += 1
            frame = self._read_foreground(index, backward_step=step == -1)
        self._last = index
        self._direction = direction
        if self._thread is not None:
            with self._wake:
                self._request = (index, direction)
                self._wake.notify()
        return frame

    def _read_foreground(self, index: int, backward_step: bool) -> np.ndarray:
        self._fg_waiting.set()
        try:
            with self._decoder:
                self._fg_waiting.clear()
                self._fg_reads += 1
                cached = self.cache.get(index)  # the prefetcher may have just made it
                if cached is not None:
                    return cached
                # Stepping back into an uncached GOP: keep every frame decoded on the way.
                start = self.source.keyframe_before(index) if backward_step else index
                frame: np.ndarray | None = None
                for i in range(start, index + 1):
                    frame = self.cache.get(i) if i < index else None
                    if frame is None:
                        frame = self.source.read(i)
                        self.cache.put(i, frame)
                if frame is None:
                    raise RuntimeError(f"no frame decoded for index {index}")
                return frame
        finally:
            self._fg_waiting.clear()

    # -- prefetcher ----------------------------------------------------------------------
    def _plan(self, position: int, direction: int) -> range:
        """Indices to decode next, in decode order (empty when the window is cached)."""
        n = self.source.info.frame_count
        if direction > 0:
            window = range(position + 1, min(n, position + 1 + self.ahead))
            missing = [i for i in window if i not in self.cache]
            return range(missing[0], window.stop) if missing else range(0)
        window = range(max(0, position - self.behind), position)
        missing = [i for i in window if i not in self.cache]
        if not missing:
            return range(0)
        return range(self.source.keyframe_before(missing[0]), missing[-1] + 1)

    def _prefetch_loop(self) -> None:
        while True:
            with self._wake:
                while self._request is None and not self._closed:
                    self._wake.wait()
                if self._closed or self._request is None:
                    return
                position, direction = self._request
                self._request = None
                planned_after = self._fg_reads
            for i in self._plan(position, direction):
                if self._closed or self._request is not None or self._fg_waiting.is_set():
                    break  # the caller moved or needs the decoder: re-plan from its position
                if i in self.cache:
                    continue
                with self._decoder:
                    if self._fg_waiting.is_set() or self._fg_reads != planned_after:
                        break  # the caller moved the decoder since this plan was made
                    try:
                        frame = self.source.read(i)
                    except Exception:
                        break  # a damaged frame: the caller's own read reports it, with its name
                self.cache.put(i, frame)
            else:
                continue
            with self._wake:
                if self._request is None and not self._closed:
                    self._request = (self._last, self._direction)

    def close(self) -> None:
        """Stop the prefetcher (the source stays open) and drop the cache."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.cache.clear()

    def __enter__(self) -> CachedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

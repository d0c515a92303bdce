"""A thread-safe least-recently-used store of numpy arrays bounded by bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np


class ArrayLRU:
    """Thread-safe LRU of arrays (frames, masks) keyed by any hashable, bounded by total bytes."""

    def __init__(self, budget_bytes: int) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"budget_bytes must be > 0, got {budget_bytes}")
        self.budget_bytes = budget_bytes
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes held now (never above the budget, except for a single oversized frame)."""
        return self._bytes

    def __contains__(self, index: Hashable) -> bool:
        with self._lock:
            return index in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, index: Hashable) -> np.ndarray | None:
        """The cached frame (marked most recently used) or None."""
        with self._lock:
            frame = self._items.get(index)
            if frame is not None:
                self._items.move_to_end(index)
            return frame

    def put(self, index: Hashable, frame: np.ndarray) -> None:
        """Store ``frame`` (made read-only) and evict least recently used frames over budget."""
        frame.flags.writeable = False
        with self._lock:
            old = self._items.pop(index, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[index] = frame
            self._bytes += frame.nbytes
            while self._bytes > self.budget_bytes and len(self._items) > 1:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes

    def keys(self) -> list[Hashable]:
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def discard(self, index: Hashable) -> None:
        """Forget ``index`` if cached."""
        with self._lock:
            old = self._items.pop(index, None)
            if old is not None:
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

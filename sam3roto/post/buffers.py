"""Reuse of the big per-frame output arrays.

A 4K float RGB frame is 100 MB. A fresh array of that size is fresh memory from the
operating system, and the first write to each page costs a fault and the kernel zeroing
it: 15-20 ms per frame at 4K, as much as the despill itself. A render or preview asks for
an array of the same shape on every frame and lets go of the previous one, so the
previous one is handed out again instead.

An array is only handed out again when nothing outside the pool refers to it any more:
no caller's variable, no result object, no view (a view refers to the array it looks
into). Whoever keeps a result keeps its own array, untouched.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

#: Arrays kept per pool: the current frame's and the previous one's, still alive while the
#: next is computed (``result = apply(...)`` in a loop).
KEEP = 2
#: Smaller arrays are not pooled: they come from the allocator's own free lists.
MIN_BYTES = 32 << 20


class ArrayPool:
    """Arrays of one shape and dtype at a time, reused once released (see the module)."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._arrays: list[np.ndarray] = []
        self._lock = threading.Lock()

    def empty(self, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
        """An array of ``shape`` and ``dtype`` with undefined contents, like ``np.empty``."""
        dtype = np.dtype(dtype)
        if int(np.prod(shape)) * dtype.itemsize < MIN_BYTES:
            return np.empty(shape, dtype)
        with self._lock:
            self._arrays = [a for a in self._arrays if a.shape == shape and a.dtype == dtype]
            for i in range(len(self._arrays)):
                # Held by the list and by getrefcount's argument only: nobody else has it.
                if sys.getrefcount(self._arrays[i]) == 2:
                    return self._arrays[i]
            out = np.empty(shape, dtype)
            self._arrays = [*self._arrays[-(self._keep - 1):], out] if self._keep > 1 else [out]
            return out

    def clear(self) -> None:
        """Let go of every kept array (their memory returns once their users let go too)."""
        with self._lock:
            self._arrays = []


#: The pool for post's RGB results.
RGB = ArrayPool()

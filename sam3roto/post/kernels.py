"""Fused per-pixel loops (numba) for the post stack's hot paths.

At 4K a chain of numpy operations reads and writes tens of megabytes per step; these
loops do each job in one pass over the pixels, on every core. They are compiled on first
use and cached on disk (``cache=True``), so only the first run in a fresh install pays for
the compilation. Each has a plain numpy/OpenCV equivalent in ``matte``/``rgb`` that the
tests compare it with.

Launches are serialised by one lock: numba's fallback threading layer does not allow two
threads to launch parallel loops at once (the window's preview and a render may both be
running post).
"""

from __future__ import annotations

import math
import threading

import numba as nb
import numpy as np

_LOCK = threading.Lock()

#: Despill modes as the loops know them (``rgb.DESPILL_MODES`` plus 0 for off).
DESPILL_CODES = {"off": 0, "green": 1, "blue": 2, "physical": 3}


def pixel_scale(dtype: np.dtype) -> float:
    """The factor taking a source sample to [0, 1] floats, as ``checks.to_float_rgb``."""
    if dtype == np.uint8:
        return 1.0 / 255.0
    if dtype == np.uint16:
        return 1.0 / 65535.0
    return 1.0


def _native(src: np.ndarray) -> np.ndarray:
    """``src`` in a sample type the loops are compiled for (uint8, uint16, float32)."""
    return src if src.dtype in (np.uint8, np.uint16, np.float32) else src.astype(np.float32)


@nb.njit(parallel=True, cache=True)
def _block_mean3(src, s, scale):  # pragma: no cover - compiled
    h, w = src.shape[0] // s, src.shape[1] // s
    out = np.empty((h, w, 3), np.float32)
    inv = scale / (s * s)
    for y in nb.prange(h):
        for x in range(w):
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            for dy in range(s):
                row = y * s + dy
                for dx in range(s):
                    col = x * s + dx
                    a0 += src[row, col, 0]
                    a1 += src[row, col, 1]
                    a2 += src[row, col, 2]
            out[y, x, 0] = a0 * inv
            out[y, x, 1] = a1 * inv
            out[y, x, 2] = a2 * inv
    return out


@nb.njit(parallel=True, cache=True)
def _block_mean1(src, s):  # pragma: no cover - compiled
    h, w = src.shape[0] // s, src.shape[1] // s
    out = np.empty((h, w), np.float32)
    inv = 1.0 / (s * s)
    for y in nb.prange(h):
        for x in range(w):
            acc = 0.0
            for dy in range(s):
                row = y * s + dy
                for dx in range(s):
                    acc += src[row, x * s + dx]
            out[y, x] = acc * inv
    return out


def block_mean(src: np.ndarray, s: int) -> np.ndarray:
    """``float32``: the mean of each ``s`` x ``s`` block of ``src`` (``(h, w)`` float32 or
    ``(h, w, 3)`` uint8/uint16/float, integer samples scaled to [0, 1]); the last
    ``h % s`` rows and ``w % s`` columns are left out. Cell ``(i, j)`` is centred on pixel
    ``(i * s + (s - 1) / 2, j * s + (s - 1) / 2)``."""
    with _LOCK:
        if src.ndim == 3:
            src = _native(src)
            return _block_mean3(src, int(s), pixel_scale(src.dtype))
        return _block_mean1(src, int(s))


@nb.njit(parallel=True, cache=True)
def _guided_band(out, band, guide, scale, a, b, s, clip):  # pragma: no cover - compiled
    h, w = out.shape
    hs, ws = b.shape
    inv = 1.0 / s
    for y in nb.prange(h):
        fy = (y + 0.5) * inv - 0.5
        fy = min(max(fy, 0.0), hs - 1.0)
        y0 = math.floor(fy)
        y1 = min(y0 + 1, hs - 1)
        wy = fy - y0
        for x in range(w):
            if not band[y, x]:
                continue
            fx = (x + 0.5) * inv - 0.5
            fx = min(max(fx, 0.0), ws - 1.0)
            x0 = math.floor(fx)
            x1 = min(x0 + 1, ws - 1)
            wx = fx - x0
            w00 = (1.0 - wy) * (1.0 - wx)
            w01 = (1.0 - wy) * wx
            w10 = wy * (1.0 - wx)
            w11 = wy * wx
            v = w00 * b[y0, x0] + w01 * b[y0, x1] + w10 * b[y1, x0] + w11 * b[y1, x1]
            for c in range(3):
                ac = w00 * a[y0, x0, c] + w01 * a[y0, x1, c] + w10 * a[y1, x0, c] + w11 * a[y1, x1, c]
                v += ac * (guide[y, x, c] * scale)
            out[y, x] = min(max(v, 0.0), 1.0) if clip else v


def guided_band(
    out: np.ndarray, band: np.ndarray, guide: np.ndarray, a: np.ndarray, b: np.ndarray, s: int, *, clip: bool
) -> None:
    """Write into ``out`` (``float32 (h, w)``), at the pixels of ``band`` (``bool (h, w)``),
    the guided filter's output ``a . guide + b`` (clipped to [0, 1] when ``clip``) for
    ``guide`` (``(h, w, 3)`` uint8/uint16/float, integers scaled to [0, 1]), with ``a`` (``(h', w',
    3)``) and ``b`` (``(h', w')``) fitted on the ``s`` x ``s`` block means
    (:func:`block_mean`) and interpolated bilinearly between the block centres."""
    guide = _native(guide)
    with _LOCK:
        _guided_band(out, band, guide, np.float32(pixel_scale(guide.dtype)), a, b, int(s), bool(clip))


@nb.njit(parallel=True, cache=True)
def _off_edge(mask):  # pragma: no cover - compiled
    h, w = mask.shape
    out = np.ones((h, w), np.uint8)
    for y in nb.prange(h):
        for x in range(w):
            v = mask[y, x]
            for dy in range(-1, 2):
                yy = y + dy
                if yy < 0 or yy >= h:
                    continue
                for dx in range(-1, 2):
                    xx = x + dx
                    if 0 <= xx < w and mask[yy, xx] != v:
                        out[y, x] = 0
    return out


@nb.njit(parallel=True, cache=True)
def _edge_band(mask, limit, parts):  # pragma: no cover - compiled
    h, w = mask.shape
    edge = _off_edge(mask)
    # Vertical distance to the nearest edge pixel in each column, capped just beyond the
    # band: sweeps down and up whole row slices (one slice per thread), which vectorise.
    far = np.int32(limit) + 2
    vert = np.empty((h, w), np.int32)
    step = (w + parts - 1) // parts
    for part in nb.prange(parts):
        lo = part * step
        hi = min(w, lo + step)
        for x in range(lo, hi):
            vert[0, x] = far * np.int32(edge[0, x])
        for y in range(1, h):
            above = vert[y - 1, lo:hi]
            here = vert[y, lo:hi]
            flag = edge[y, lo:hi]
            for i in range(hi - lo):
                here[i] = min(above[i] + 1, far) * np.int32(flag[i])
        for y in range(h - 2, -1, -1):
            below = vert[y + 1, lo:hi]
            here = vert[y, lo:hi]
            for i in range(hi - lo):
                here[i] = min(here[i], below[i] + 1)
    out = np.zeros((h, w), np.bool_)
    limit2 = limit * limit
    for y in nb.prange(h):
        # A column q at vertical distance v puts in the band the pixels of this row with
        # (x - q)^2 + v^2 <= limit^2: an interval around q. The band is their union, marked
        # with a difference array and a running sum.
        row = vert[y]
        diff = np.zeros(w + 1, np.int32)
        found = False
        for q in range(w):
            v = row[q]
            if v < far and v * v <= limit2:
                half = math.floor(math.sqrt(limit2 - v * v))
                diff[max(0, q - half)] += 1
                diff[min(w, q + half + 1)] -= 1
                found = True
        if found:
            run = 0
            for x in range(w):
                run += diff[x]
                out[y, x] = run > 0
    return out


def edge_band(mask: np.ndarray, half_width_px: float) -> np.ndarray:
    """``bool (h, w)``: the pixels within ``half_width_px`` (exact Euclidean distance) of an
    edge pixel of ``mask`` (:func:`off_edge`): the unknown band of a trimap."""
    with _LOCK:
        return _edge_band(np.ascontiguousarray(mask).view(np.uint8), float(half_width_px), nb.get_num_threads())


def off_edge(mask: np.ndarray) -> np.ndarray:
    """``uint8 (h, w)``: 0 on the mask's edge pixels (those with one of their 8 neighbours on
    the other side, inside or outside), 1 elsewhere: the input of a distance transform to
    the edge."""
    with _LOCK:
        return _off_edge(mask.view(np.uint8))


@nb.njit(parallel=True, cache=True)
def _relabel(labels, table):  # pragma: no cover - compiled
    h, w = labels.shape
    out = np.empty((h, w), np.bool_)
    for y in nb.prange(h):
        for x in range(w):
            out[y, x] = table[labels[y, x]]
    return out


@nb.njit(parallel=True, cache=True)
def _count_labels(labels, count, parts):  # pragma: no cover - compiled
    h = labels.shape[0]
    hist = np.zeros((parts, count), np.int64)
    step = (h + parts - 1) // parts
    for part in nb.prange(parts):
        mine = hist[part]
        for y in range(part * step, min(h, (part + 1) * step)):
            row = labels[y]
            for x in range(row.size):
                mine[row[x]] += 1
    return hist.sum(axis=0)


def count_labels(labels: np.ndarray, count: int) -> np.ndarray:
    """``np.bincount(labels.ravel(), minlength=count)`` for an ``int32`` label image."""
    with _LOCK:
        return _count_labels(np.ascontiguousarray(labels), int(count), nb.get_num_threads())


def relabel(labels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[labels]`` (``bool``) for an ``int32`` label image, in one parallel pass."""
    with _LOCK:
        return _relabel(labels, table)


@nb.njit(parallel=True, cache=True)
def _snap(matte, low, high):  # pragma: no cover - compiled
    h, w = matte.shape
    for y in nb.prange(h):
        for x in range(w):
            v = matte[y, x]
            if v < low:
                matte[y, x] = 0.0
            elif v > high:
                matte[y, x] = 1.0


def snap(matte: np.ndarray, tolerance: float) -> None:
    """In place: values of ``matte`` within ``tolerance`` of 0 or 1 become exactly 0 or 1."""
    with _LOCK:
        _snap(matte, np.float32(tolerance), np.float32(1.0 - tolerance))


@nb.njit(parallel=True, cache=True)
def _rgb_finish(src, scale, out, y0, y1, x0, x1, whole, mode, strength, screen, amount, luma):  # pragma: no cover
    h = src.shape[0]
    key = 1 if mode == 1 else 2
    if mode == 3:
        key = 0
        for c in range(1, 3):
            if screen[c] > screen[key]:
                key = c
    o1 = 1 if key == 0 else 0
    o2 = 1 if key == 2 else 2
    screen_excess = screen[key] - max(screen[o1], screen[o2]) if mode == 3 else 1.0
    for y in nb.prange(h):
        row_in = y0 <= y < y1
        if whole:  # the plain conversion, a flat loop the compiler vectorises
            s_row = src[y].reshape(-1)
            o_row = out[y].reshape(-1)
            for i in range(s_row.size):
                o_row[i] = np.float32(s_row[i]) * scale
        if not row_in:
            continue
        for x in range(x0, x1):
            r = np.float32(src[y, x, 0]) * scale
            g = np.float32(src[y, x, 1]) * scale
            b = np.float32(src[y, x, 2]) * scale
            if mode != 0:
                p = (r, g, b)
                d0, d1, d2 = r, g, b
                if mode == 1:
                    d1 = min(g, (r + b) * np.float32(0.5))
                elif mode == 2:
                    d2 = min(b, (r + g) * np.float32(0.5))
                else:
                    excess = p[key] - max(p[o1], p[o2])
                    k = max(excess, np.float32(0.0)) / screen_excess
                    d0 = max(r - k * screen[0], np.float32(0.0))
                    d1 = max(g - k * screen[1], np.float32(0.0))
                    d2 = max(b - k * screen[2], np.float32(0.0))
                    if key == 0:
                        d0 = min(d0, max(d1, d2))
                    elif key == 1:
                        d1 = min(d1, max(d0, d2))
                    else:
                        d2 = min(d2, max(d0, d1))
                if strength < 1.0:
                    d0 = r + strength * (d0 - r)
                    d1 = g + strength * (d1 - g)
                    d2 = b + strength * (d2 - b)
                if amount > 0.0:
                    lost = amount * (luma[0] * (r - d0) + luma[1] * (g - d1) + luma[2] * (b - d2))
                    d0 = max(d0 + lost, np.float32(0.0))
                    d1 = max(d1 + lost, np.float32(0.0))
                    d2 = max(d2 + lost, np.float32(0.0))
                r, g, b = d0, d1, d2
            out[y, x, 0] = r
            out[y, x, 1] = g
            out[y, x, 2] = b


def rgb_finish(
    src: np.ndarray, out: np.ndarray, roi: tuple[int, int, int, int], *, whole: bool, mode: str, strength: float,
    screen: np.ndarray | None, amount: float, luma: np.ndarray,
) -> None:
    """``out`` (``float32 (H, W, 3)``) = ``src`` as [0, 1] floats, despilled (``mode``,
    ``strength``, ``screen`` colour for physical) with ``amount`` of luminance restored
    inside ``roi`` (``y0, y1, x0, x1``); outside it the source is copied when ``whole``,
    else ``out`` is left as it is. The same arithmetic as ``rgb.despill`` followed by
    ``rgb.luminance_restore``, per pixel."""
    y0, y1, x0, x1 = roi
    src = np.ascontiguousarray(_native(src))
    screen_arr = np.zeros(3, np.float32) if screen is None else np.asarray(screen, np.float32).reshape(3)
    with _LOCK:
        _rgb_finish(src, np.float32(pixel_scale(src.dtype)), out, y0, y1, x0, x1, whole, DESPILL_CODES[mode],
                    np.float32(strength), screen_arr, np.float32(amount), luma.astype(np.float32))

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
from typing import Any

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
    # ``src``: the RGB pixels as rows of ``3 * width`` samples (a crop's rows need not be
    # contiguous with each other).
    h, w = src.shape[0] // s, src.shape[1] // (3 * s)
    out = np.empty((h, w, 3), np.float32)
    inv = np.float32(scale / (s * s))
    n = 3 * w * s
    for y in nb.prange(h):
        # The block's rows summed first, along the flat rows (a loop the compiler
        # vectorises), then each block's columns.
        acc = np.zeros(n, np.float32)
        for dy in range(s):
            row = src[y * s + dy]
            for i in range(n):
                acc[i] += np.float32(row[i])
        for x in range(w):
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            a2 = np.float32(0.0)
            for dx in range(s):
                i = 3 * (x * s + dx)
                a0 += acc[i]
                a1 += acc[i + 1]
                a2 += acc[i + 2]
            out[y, x, 0] = a0 * inv
            out[y, x, 1] = a1 * inv
            out[y, x, 2] = a2 * inv
    return out


@nb.njit(parallel=True, cache=True)
def _block_mean1(src, s):  # pragma: no cover - compiled
    h, w = src.shape[0] // s, src.shape[1] // s
    out = np.empty((h, w), np.float32)
    inv = np.float32(1.0 / (s * s))
    n = w * s
    for y in nb.prange(h):
        acc = np.zeros(n, np.float32)
        for dy in range(s):
            row = src[y * s + dy]
            for i in range(n):
                acc[i] += row[i]
        for x in range(w):
            total = np.float32(0.0)
            for dx in range(s):
                total += acc[x * s + dx]
            out[y, x] = total * inv
    return out


def block_mean(src: np.ndarray, s: int) -> np.ndarray:
    """``float32``: the mean of each ``s`` x ``s`` block of ``src`` (``(h, w)`` float32 or
    ``(h, w, 3)`` uint8/uint16/float, integer samples scaled to [0, 1]); the last
    ``h % s`` rows and ``w % s`` columns are left out. Cell ``(i, j)`` is centred on pixel
    ``(i * s + (s - 1) / 2, j * s + (s - 1) / 2)``."""
    with _LOCK:
        if src.ndim == 3:
            src = _native(src)
            # (h, 3 * w): a view for a crop of a frame, whose pixels are contiguous in a row.
            return _block_mean3(src.reshape(src.shape[0], -1), int(s), pixel_scale(src.dtype))
        return _block_mean1(src, int(s))


@nb.njit(parallel=True, cache=True)
def _guided_band(out, band, guide, scale, a, b, s, clip):  # pragma: no cover - compiled
    h, w = out.shape
    hs, ws = b.shape
    inv = 1.0 / s
    # Each column's two neighbouring block centres and weight, once for all rows.
    left = np.empty(w, np.int64)
    right = np.empty(w, np.int64)
    wxs = np.empty(w, np.float64)
    for x in range(w):
        fx = min(max((x + 0.5) * inv - 0.5, 0.0), ws - 1.0)
        left[x] = math.floor(fx)
        right[x] = min(left[x] + 1, ws - 1)
        wxs[x] = fx - left[x]
    for y in nb.prange(h):
        fy = (y + 0.5) * inv - 0.5
        fy = min(max(fy, 0.0), hs - 1.0)
        y0 = math.floor(fy)
        y1 = min(y0 + 1, hs - 1)
        wy = fy - y0
        b0 = b[y0]
        b1 = b[y1]
        a0 = a[y0]
        a1 = a[y1]
        in_band = band[y]
        g = guide[y]
        for x in range(w):
            if not in_band[x]:
                continue
            x0 = left[x]
            x1 = right[x]
            wx = wxs[x]
            w00 = (1.0 - wy) * (1.0 - wx)
            w01 = (1.0 - wy) * wx
            w10 = wy * (1.0 - wx)
            w11 = wy * wx
            v = w00 * b0[x0] + w01 * b0[x1] + w10 * b1[x0] + w11 * b1[x1]
            for c in range(3):
                ac = w00 * a0[x0, c] + w01 * a0[x1, c] + w10 * a1[x0, c] + w11 * a1[x1, c]
                v += ac * (g[x, c] * scale)
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
def _guided_terms(guide, src):  # pragma: no cover - compiled
    h, w = src.shape
    out = np.empty((h, w, 13), np.float32)
    for y in nb.prange(h):
        for x in range(w):
            r = guide[y, x, 0]
            g = guide[y, x, 1]
            b = guide[y, x, 2]
            p = src[y, x]
            t = out[y, x]
            t[0] = r
            t[1] = g
            t[2] = b
            t[3] = p
            t[4] = r * p
            t[5] = g * p
            t[6] = b * p
            t[7] = r * r
            t[8] = r * g
            t[9] = r * b
            t[10] = g * g
            t[11] = g * b
            t[12] = b * b
    return out


def guided_terms(guide: np.ndarray, src: np.ndarray) -> np.ndarray:
    """``float32 (h, w, 13)``: the per-pixel terms whose local means fit the guided filter's
    linear models: the guide (3), the source, guide x source (3) and the guide's products
    rr, rg, rb, gg, gb, bb. ``guide``: ``float32 (h, w, 3)``, ``src``: ``float32 (h, w)``."""
    with _LOCK:
        return _guided_terms(guide, src)


@nb.njit(parallel=True, cache=True)
def _guided_solve(means, eps):  # pragma: no cover - compiled
    h, w = means.shape[:2]
    out = np.empty((h, w, 4), np.float32)
    for y in nb.prange(h):
        for x in range(w):
            m = means[y, x]
            mr, mg, mb, mp = m[0], m[1], m[2], m[3]
            cr = m[4] - mr * mp
            cg = m[5] - mg * mp
            cb = m[6] - mb * mp
            vrr = m[7] - mr * mr + eps
            vrg = m[8] - mr * mg
            vrb = m[9] - mr * mb
            vgg = m[10] - mg * mg + eps
            vgb = m[11] - mg * mb
            vbb = m[12] - mb * mb + eps
            # The inverse of the symmetric 3x3 covariance by cofactors.
            c00 = vgg * vbb - vgb * vgb
            c01 = vgb * vrb - vrg * vbb
            c02 = vrg * vgb - vgg * vrb
            c11 = vrr * vbb - vrb * vrb
            c12 = vrb * vrg - vrr * vgb
            c22 = vrr * vgg - vrg * vrg
            det = vrr * c00 + vrg * c01 + vrb * c02
            a0 = (c00 * cr + c01 * cg + c02 * cb) / det
            a1 = (c01 * cr + c11 * cg + c12 * cb) / det
            a2 = (c02 * cr + c12 * cg + c22 * cb) / det
            o = out[y, x]
            o[0] = a0
            o[1] = a1
            o[2] = a2
            o[3] = mp - (a0 * mr + a1 * mg + a2 * mb)
    return out


def guided_solve(means: np.ndarray, eps: float) -> np.ndarray:
    """``float32 (h, w, 4)``: each pixel's linear model ``(a_r, a_g, a_b, b)`` of the guided
    filter, from the local means of :func:`guided_terms` and the regulariser ``eps``."""
    with _LOCK:
        return _guided_solve(means, np.float32(eps))


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


@nb.njit(cache=True)
def _convert_span(src, out, scale):  # pragma: no cover - compiled
    for i in range(src.size):  # a flat loop the compiler vectorises
        out[i] = np.float32(src[i]) * scale


def _average_span_for(key: int, o1: int, o2: int) -> Any:
    """The green (``key`` 1) or blue (2) average despill of a flat span of RGB pixels.
    Only the spill channel changes, so the restored luminance is its loss times its
    weight. The channel offsets are constants of the compiled loop (numba keys its cache
    on them) and the options are selects, so the loop vectorises."""

    @nb.njit(cache=True)
    def span(src, out, scale, strength, amount, luma_key):  # pragma: no cover - compiled
        half = np.float32(0.5)
        zero = np.float32(0.0)
        blend = strength < 1.0
        restore = amount > 0.0
        for x in range(src.size // 3):
            i = 3 * x
            c = np.float32(src[i + key]) * scale
            a = np.float32(src[i + o1]) * scale
            b = np.float32(src[i + o2]) * scale
            d = min(c, (a + b) * half)
            blended = c + strength * (d - c)
            d = blended if blend else d
            lost = amount * (luma_key * (c - d))
            out[i + o1] = max(a + lost, zero) if restore else a
            out[i + key] = max(d + lost, zero) if restore else d
            out[i + o2] = max(b + lost, zero) if restore else b

    return span


_green_span = _average_span_for(1, 0, 2)
_blue_span = _average_span_for(2, 0, 1)


@nb.njit(cache=True, inline="always")
def _excess(key, c0, c1, c2):  # pragma: no cover - compiled
    """Channel ``key`` of ``(c0, c1, c2)`` less the larger of the other two."""
    if key == 0:
        return c0 - max(c1, c2)
    if key == 1:
        return c1 - max(c0, c2)
    return c2 - max(c0, c1)


def _physical_span_for(key: int) -> Any:
    """Physical despill of a flat span of RGB pixels for a screen whose dominant channel is
    ``key``: the screen colour's share of each pixel, from its excess of that channel over
    the others, is subtracted. ``key`` is a constant of the compiled loop, as above."""

    @nb.njit(cache=True)
    def span(src, out, scale, strength, screen, amount, luma):  # pragma: no cover - compiled
        zero = np.float32(0.0)
        s0, s1, s2 = screen[0], screen[1], screen[2]
        screen_excess = _excess(key, s0, s1, s2)
        blend = strength < 1.0
        restore = amount > 0.0
        for x in range(src.size // 3):
            i = 3 * x
            r = np.float32(src[i]) * scale
            g = np.float32(src[i + 1]) * scale
            b = np.float32(src[i + 2]) * scale
            k = max(_excess(key, r, g, b), zero) / screen_excess
            d0 = max(r - k * s0, zero)
            d1 = max(g - k * s1, zero)
            d2 = max(b - k * s2, zero)
            if key == 0:
                d0 = min(d0, max(d1, d2))
            elif key == 1:
                d1 = min(d1, max(d0, d2))
            else:
                d2 = min(d2, max(d0, d1))
            d0 = r + strength * (d0 - r) if blend else d0
            d1 = g + strength * (d1 - g) if blend else d1
            d2 = b + strength * (d2 - b) if blend else d2
            lost = amount * (luma[0] * (r - d0) + luma[1] * (g - d1) + luma[2] * (b - d2))
            out[i] = max(d0 + lost, zero) if restore else d0
            out[i + 1] = max(d1 + lost, zero) if restore else d1
            out[i + 2] = max(d2 + lost, zero) if restore else d2

    return span


_red_screen_span = _physical_span_for(0)
_green_screen_span = _physical_span_for(1)
_blue_screen_span = _physical_span_for(2)


def _rgb_finish_for(mode: int, key: int) -> Any:
    """The row loop of :func:`rgb_finish` for one despill ``mode`` (and, for physical, the
    screen's dominant channel ``key``). Both are constants of the compiled loop, so numba
    prunes the other branches and compiles only the span loop this mode uses: the first run
    after an install compiles what the artist's settings need, not every mode."""

    @nb.njit(parallel=True, cache=True)
    def rows(src, scale, out, y0, y1, x0, x1, whole, strength, screen, amount, luma):  # pragma: no cover
        for y in nb.prange(src.shape[0]):
            s_row = src[y].reshape(-1)
            o_row = out[y].reshape(-1)
            if not y0 <= y < y1:
                if whole:
                    _convert_span(s_row, o_row, scale)
                continue
            if whole:  # spans are passed as slices: loops from 0 vectorise, offset ones did not
                _convert_span(s_row[: 3 * x0], o_row[: 3 * x0], scale)
                _convert_span(s_row[3 * x1 :], o_row[3 * x1 :], scale)
            s_in = s_row[3 * x0 : 3 * x1]
            o_in = o_row[3 * x0 : 3 * x1]
            if mode == 0:
                _convert_span(s_in, o_in, scale)
            elif mode == 1:
                _green_span(s_in, o_in, scale, strength, amount, luma[1])
            elif mode == 2:
                _blue_span(s_in, o_in, scale, strength, amount, luma[2])
            elif key == 0:
                _red_screen_span(s_in, o_in, scale, strength, screen, amount, luma)
            elif key == 1:
                _green_screen_span(s_in, o_in, scale, strength, screen, amount, luma)
            else:
                _blue_screen_span(s_in, o_in, scale, strength, screen, amount, luma)

    return rows


#: (despill code, screen key) -> row loop; physical despill has one per dominant channel.
_RGB_FINISH = {(0, 0): _rgb_finish_for(0, 0), (1, 0): _rgb_finish_for(1, 0), (2, 0): _rgb_finish_for(2, 0),
               (3, 0): _rgb_finish_for(3, 0), (3, 1): _rgb_finish_for(3, 1), (3, 2): _rgb_finish_for(3, 2)}


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
    code = DESPILL_CODES[mode]
    loop = _RGB_FINISH[code, int(np.argmax(screen_arr)) if code == 3 else 0]
    with _LOCK:
        loop(src, np.float32(pixel_scale(src.dtype)), out, y0, y1, x0, x1, whole, np.float32(strength), screen_arr,
             np.float32(amount), luma.astype(np.float32))

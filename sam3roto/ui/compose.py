"""What the viewer shows, composed at display resolution (Qt-free numpy/OpenCV).

The visible part of the source frame is cropped first and resized to the pixels it covers
on screen, and masks and mattes are cropped and resized the same way, so a 4K frame costs
what the widget's size costs; outlines are found on those display-size masks too. Display
modes: the image, overlays of every visible object (filled, outlined or both), mattes,
RGBA over a checkerboard, the matte's edges over the plate, depth false colour, normals.
On top of any mode: the onion skin (outlines of the previous and next frame's mask) and
the A/B wipe (the plate left of a vertical line, the mode right of it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from sam3roto.core.pixels import to_float, to_uint8

MODES = ("image", "overlay", "matte", "rgba", "edge", "depth", "normals")
OVERLAY_STYLES = ("fill", "outline", "both")
OVERLAY_OPACITY = 0.45
#: Outline width in display pixels (one inside the mask's boundary, one outside).
OUTLINE_PX = 2
#: Onion skin colours: the previous frame's mask outline, the next frame's.
ONION_PREVIOUS = (255, 60, 255)
ONION_NEXT = (40, 230, 255)
#: Edge view: matte values strictly between these count as the soft edge (tinted).
SOFT_EDGE = (0.02, 0.98)
_CROSS = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class MatteLayer:
    """One object's post result as the matte, rgba and edge views use it:
    ``matte`` ``float32 (H, W)`` in [0, 1], its cleaned ``rgb`` (``(H, W, 3)``, any dtype
    :func:`~sam3roto.core.pixels.to_uint8` takes; None: the plate) and its colour."""

    matte: np.ndarray
    colour: tuple[int, int, int] = (255, 255, 255)
    rgb: np.ndarray | None = None


@dataclass(frozen=True)
class View:
    """Which source rectangle lands where: source ``x0..x1, y0..y1`` (pixels, clipped to
    the frame) drawn at widget position ``(left, top)`` with size ``(width, height)``."""

    x0: int
    y0: int
    x1: int
    y1: int
    left: int
    top: int
    width: int
    height: int

    @property
    def empty(self) -> bool:
        return self.width <= 0 or self.height <= 0 or self.x1 <= self.x0 or self.y1 <= self.y0


def visible_view(frame_w: int, frame_h: int, scale: float, origin_x: float, origin_y: float,
                 widget_w: int, widget_h: int) -> View:
    """The part of a ``frame_w x frame_h`` frame visible in a ``widget_w x widget_h``
    widget whose top-left shows source point ``(origin_x, origin_y)`` at ``scale``
    display pixels per source pixel."""
    x0 = max(0, int(np.floor(origin_x)))
    y0 = max(0, int(np.floor(origin_y)))
    x1 = min(frame_w, int(np.ceil(origin_x + widget_w / scale)))
    y1 = min(frame_h, int(np.ceil(origin_y + widget_h / scale)))
    left = round((x0 - origin_x) * scale)
    top = round((y0 - origin_y) * scale)
    return View(x0, y0, x1, y1, left, top, round((x1 - x0) * scale), round((y1 - y0) * scale))


def _fit(array: np.ndarray, view: View, nearest: bool = False) -> np.ndarray:
    """The view's crop of ``array`` resized to the view's display size. OpenCV reads the
    crop in place (no copy). Large reductions go bilinear to twice the display size, then
    pixel-area 2:1: 6 ms for 4K to 1100 px here against 23 ms for one area resize, without
    the shimmer of bilinear alone."""
    return _resize(array[view.y0:view.y1, view.x0:view.x1], view, nearest)


def displayed_plate(frame: np.ndarray, view: View, display: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    """The plate as shown: fitted to the view and, with ``display`` (a colour transform
    to screen values, ``sam3roto.media.colour.Converter``), through it: the transform runs
    on the displayed pixels only, in float (the crop converted, not the frame)."""
    if display is None:
        return _fit(to_uint8(frame), view)
    crop = frame[view.y0:view.y1, view.x0:view.x1]
    if crop.dtype == np.float16:  # OpenCV resizes no half floats
        crop = to_float(crop)
    # resized first in its own type (a 4K crop to the screen's pixels), converted after
    return to_uint8(display(to_float(_resize(crop, view))))


def _resize(crop: np.ndarray, view: View, nearest: bool = False) -> np.ndarray:
    size = (view.width, view.height)
    if nearest:
        return cv2.resize(crop, size, interpolation=cv2.INTER_NEAREST)
    if view.width * 2 < crop.shape[1]:
        half = cv2.resize(crop, (2 * view.width, 2 * view.height), interpolation=cv2.INTER_LINEAR)
        return cv2.resize(half, size, interpolation=cv2.INTER_AREA)
    interp = cv2.INTER_AREA if view.width < crop.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(crop, size, interpolation=interp)


@functools.lru_cache(maxsize=16)
def solid(shape: tuple[int, ...], colour: tuple[int, ...]) -> np.ndarray:
    """A read-only ``uint8`` image of ``shape`` filled with ``colour``, kept for the next
    paint (filling a display-size image costs 5 ms here; the views use a few colours)."""
    out = np.empty(shape, np.uint8)
    out[:] = colour
    out.flags.writeable = False
    return out


def checkerboard(height: int, width: int, size: int = 12) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    tile = ((yy // size + xx // size) % 2).astype(np.uint8)
    return (np.where(tile[..., None] == 1, 153, 102) * np.ones(3, np.uint8)).astype(np.uint8)


def boundary(small: np.ndarray, width: int = OUTLINE_PX) -> np.ndarray:
    """``uint8 (h, w)``, non-zero on the boundary of the non-zero region of the
    ``uint8 (h, w)`` display-size mask ``small``: ``width`` 2 is the morphological
    gradient (a pixel each side of the edge), 1 the inner edge. The view's own border is
    no boundary (a mask running off the view is not outlined along it)."""
    if width >= 2:
        return cv2.morphologyEx(small, cv2.MORPH_GRADIENT, _CROSS)
    return cv2.subtract(small, cv2.erode(small, _CROSS))


def compose(
    frame: np.ndarray,
    view: View,
    mode: str,
    *,
    masks: Sequence[tuple[np.ndarray, tuple[int, int, int]]] = (),
    matte: np.ndarray | None = None,
    rgb: np.ndarray | None = None,
    mattes: Sequence[MatteLayer] = (),
    colour_image: np.ndarray | None = None,
    regions: tuple[np.ndarray, set[int], tuple[int, int, int]] | None = None,
    overlay_style: str = "fill",
    onion: Sequence[tuple[np.ndarray, tuple[int, int, int]]] = (),
    wipe_px: int | None = None,
    display: Callable[[np.ndarray], np.ndarray] | None = None,
    shown: np.ndarray | None = None,
) -> np.ndarray:
    """``uint8 (view.height, view.width, 3)`` RGB for ``mode``.

    ``masks``: ``(bool (H, W), colour)`` of every visible object (overlay, drawn as
    ``overlay_style``: a translucent fill, an outline of :data:`OUTLINE_PX` display pixels,
    or both). ``mattes``: the objects shown in the matte, rgba and edge views; matte and
    rgba combine them (the highest matte wins, with its RGB), edge outlines each over the
    plate and tints its soft edge. ``matte``/``rgb``: one object's ``float32 (H, W)``
    matte and its cleaned RGB (the plate when None), the same as one layer.
    ``colour_image``: a ``uint8 (H, W, 3)`` false-colour image (depth, normals).
    ``regions``: ``(int32 (H, W) labels, picked labels, colour)`` of a segment-everything
    result: boundaries in white, picked regions tinted (any mode). ``onion``:
    ``(bool (H, W), colour)`` masks outlined one display pixel wide (any mode).
    ``wipe_px``: the widget column of the A/B wipe: left of it the plate, right of it
    ``mode`` (None: no wipe). ``display``: the colour transform the plate (``frame``) is
    shown through (None: shown as it is). ``shown``: the plate already fitted to ``view``
    and shown through ``display`` (the viewer keeps it while only masks change)."""
    if mode not in MODES:
        raise ValueError(f"display mode must be one of {', '.join(MODES)}, got {mode!r}")
    if overlay_style not in OVERLAY_STYLES:
        raise ValueError(f"overlay style must be one of {', '.join(OVERLAY_STYLES)}, got {overlay_style!r}")
    if view.empty:
        return np.zeros((max(0, view.height), max(0, view.width), 3), np.uint8)
    layers = list(mattes) if mattes else ([MatteLayer(matte, rgb=rgb)] if matte is not None else [])
    plate: list[np.ndarray] = []  # the plate at display size, fitted once and only when needed

    def base() -> np.ndarray:
        if not plate:
            plate.append(shown if shown is not None else displayed_plate(frame, view, display))
        return plate[0]

    if mode in ("depth", "normals"):
        # dimmed plate: nothing to show yet
        out = _fit(colour_image, view) if colour_image is not None else (base() // 3).astype(np.uint8)
    elif regions is not None:
        out = _regions(base(), view, *regions)
    elif mode == "image":
        out = base()
    elif mode == "overlay":
        out = _overlay(base(), view, masks, overlay_style)
    elif mode == "edge":
        out = _edges(base(), view, layers)
    else:
        out = _mattes(base(), view, mode, layers, display)
    if onion:
        out = out.copy() if plate and out is plate[0] else out
        for mask, colour in onion:
            cv2.copyTo(solid(out.shape, colour), boundary(_fit(mask.view(np.uint8), view, nearest=True), 1), out)
    if wipe_px is not None:
        column = min(max(int(wipe_px) - view.left, 0), view.width)
        if column > 0:
            out = out.copy() if plate and out is plate[0] else out
            out[:, :column] = base()[:, :column]
    return out


def _overlay(base: np.ndarray, view: View, masks: Sequence[tuple[np.ndarray, tuple[int, int, int]]],
             style: str) -> np.ndarray:
    out = base.copy()
    for mask, colour in masks:
        small = _fit(mask.view(np.uint8), view, nearest=True)
        paint = solid(base.shape, colour)
        if style != "outline":
            blend = cv2.addWeighted(out, 1 - OVERLAY_OPACITY, paint, OVERLAY_OPACITY, 0)
            cv2.copyTo(blend, small, out)  # only inside the mask (uint8 arithmetic, no float pass)
        if style != "fill":
            cv2.copyTo(paint, boundary(small), out)
    return out


def _mattes(base: np.ndarray, view: View, mode: str, layers: list[MatteLayer],
            display: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """The matte view (grey) or rgba over the checkerboard of ``layers`` combined: the
    highest matte at each pixel, with that object's RGB (shown through ``display`` like
    the plate ``base``)."""
    alphas = [np.clip(_fit(layer.matte, view), 0, 1) for layer in layers]
    alpha = np.maximum.reduce(alphas) if len(alphas) > 1 else alphas[0] if alphas else \
        np.zeros(base.shape[:2], np.float32)
    if mode == "matte":
        grey = (alpha * 255 + 0.5).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    fg = base if not layers or layers[0].rgb is None else displayed_plate(layers[0].rgb, view, display)
    if len(layers) > 1:
        best = alphas[0]
        for layer, a in zip(layers[1:], alphas[1:], strict=True):
            wins = a > best
            fg = np.where(wins[..., None], base if layer.rgb is None else displayed_plate(layer.rgb, view, display), fg)
            best = np.maximum(best, a)
    board = checkerboard(view.height, view.width).astype(np.float32)
    a = alpha[..., None]
    return (fg.astype(np.float32) * a + board * (1 - a)).astype(np.uint8)


def _edges(base: np.ndarray, view: View, layers: list[MatteLayer]) -> np.ndarray:
    """The plate with each matte's soft edge tinted in its colour and its 50% line drawn
    :data:`OUTLINE_PX` wide: where the matte cuts, and how wide its falloff is."""
    out = base.copy()
    lo, hi = SOFT_EDGE
    for layer in layers:
        alpha = _fit(layer.matte, view)
        paint = solid(base.shape, layer.colour)
        soft = ((alpha > lo) & (alpha < hi)).view(np.uint8)
        cv2.copyTo(cv2.addWeighted(out, 0.5, paint, 0.5, 0), soft, out)
        cv2.copyTo(paint, boundary((alpha >= 0.5).view(np.uint8)), out)
    return out


def _regions(base: np.ndarray, view: View, labels: np.ndarray, picked: set[int],
             colour: tuple[int, int, int]) -> np.ndarray:
    small = _fit(labels, view, nearest=True)
    out = base.copy()
    if picked:
        inside = np.isin(small, list(picked)).astype(np.uint8)
        paint = solid(base.shape, colour)
        cv2.copyTo(cv2.addWeighted(out, 0.4, paint, 0.6, 0), inside, out)
    edge = np.zeros(small.shape, bool)
    edge[:, 1:] |= small[:, 1:] != small[:, :-1]
    edge[1:, :] |= small[1:, :] != small[:-1, :]
    out[edge] = (255, 255, 255)
    return out

"""Matte refinement: mask (``bool (H, W)``) in, cleaner mask or matte (``float32 (H, W)``,
[0, 1]) out. Every function works on the object's region of interest and returns a full-size
array; a parameter of 0 is the identity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np

from sam3roto.post import kernels as K
from sam3roto.post.checks import check_mask, check_matte, check_range, check_rgb, check_same_size, to_float_rgb
from sam3roto.post.roi import Roi, matte_roi, roi_around

if TYPE_CHECKING:
    from sam3roto.post.vitmatte import VitMatte

#: Largest radius / width / band accepted, in pixels (a 4K frame is 4096 wide).
MAX_RADIUS_PX = 1000
#: Largest area (px^2) for holes and dots: a whole 8K frame.
MAX_AREA_PX = 8192 * 8192
#: Up to this radius grow/shrink uses a disc kernel, beyond it the distance transform.
SMALL_RADIUS_PX = 8
REFINE_METHODS = ("colour", "guided", "closed_form", "vitmatte")
#: Largest block size (px) of the guided refinement's reduced grid; a power of two.
MAX_SUBSAMPLE = 8


def _paste(shape: tuple[int, ...], roi: Roi, values: np.ndarray) -> np.ndarray:
    out = np.zeros(shape[:2], values.dtype)
    out[roi.slices] = values
    return out


def _u8(mask: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(mask).view(np.uint8)


def _distance_to(zero_where: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance (px) of every pixel to the nearest ``True`` of ``zero_where``."""
    return cv2.distanceTransform(_u8(~zero_where), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def grow_shrink(mask: np.ndarray, *, radius_px: int) -> np.ndarray:
    """Grow (``radius_px > 0``) or shrink (``< 0``) ``mask`` by an exact disc.

    A pixel is in the grown mask when some mask pixel lies within ``radius_px`` of it (the
    Euclidean distance transform, exact at any radius); shrinking keeps pixels whose nearest
    background pixel is farther than ``|radius_px|``. The frame edge is not background: an
    object cut by the frame does not shrink away from it.
    """
    check_mask(mask)
    check_range("radius_px", radius_px, -MAX_RADIUS_PX, MAX_RADIUS_PX, integer=True)
    r = int(radius_px)
    if r == 0:
        return mask.copy()
    roi = roi_around(mask, abs(r) + 2)
    if roi is None:
        return mask.copy()
    return _paste(mask.shape, roi, grow_crop(mask[roi.slices], r))


def grow_crop(crop: np.ndarray, r: int) -> np.ndarray:
    """:func:`grow_shrink` on a crop with at least ``abs(r) + 2`` px around the mask."""
    if r == 0:
        return crop.copy()
    if abs(r) <= SMALL_RADIUS_PX:
        # An exact disc kernel: for small radii OpenCV's morphology beats a distance transform.
        yy, xx = np.mgrid[-abs(r) : abs(r) + 1, -abs(r) : abs(r) + 1]
        disc = (xx * xx + yy * yy <= r * r).astype(np.uint8)
        if r > 0:
            out = cv2.dilate(_u8(crop), disc, borderType=cv2.BORDER_CONSTANT, borderValue=0).view(bool)
        else:
            out = cv2.erode(_u8(crop), disc, borderType=cv2.BORDER_REPLICATE).view(bool)
    elif r > 0:
        out = _distance_to(crop) <= r
    else:
        out = _distance_to(~crop) > -r
    return out


def _by_area(mask: np.ndarray, max_area_px: int, crop_step: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """Check the parameters, then run a crop step by area on the mask's box plus 1 px."""
    check_mask(mask)
    check_range("max_area_px", max_area_px, 0, MAX_AREA_PX, integer=True)
    roi = roi_around(mask, 1)
    if max_area_px == 0 or roi is None:
        return mask.copy()
    return _paste(mask.shape, roi, crop_step(mask[roi.slices], int(max_area_px)))


def remove_dots(mask: np.ndarray, *, max_area_px: int) -> np.ndarray:
    """Remove islands of ``mask`` (8-connected) of at most ``max_area_px`` pixels."""
    return _by_area(mask, max_area_px, remove_dots_crop)


def remove_dots_crop(crop: np.ndarray, max_area_px: int) -> np.ndarray:
    """:func:`remove_dots` on a crop with the mask's islands inside it (no parameter checks).

    The islands come from the mask's contours (a few ms at 4K, where labelling every pixel
    takes tens): an island whose box holds at most ``max_area_px`` pixels is removed, one
    whose area bound is above it stays. Only when some island falls between the bounds are
    the pixels labelled and counted.
    """
    return _from_contours(crop, max_area_px, holes=False, labelled=_remove_dots_labelled)


def _remove_dots_labelled(crop: np.ndarray, max_area_px: int) -> np.ndarray:
    """:func:`remove_dots_crop` by labelling and counting every pixel."""
    count, labels = cv2.connectedComponents(_u8(crop), connectivity=8)
    keep = K.count_labels(labels, count) > max_area_px
    keep[0] = False
    if count <= 1 or keep[1:].all():
        return crop.copy()
    return K.relabel(labels, keep)


def _from_contours(
    crop: np.ndarray, max_area_px: int, *, holes: bool, labelled: Callable[[np.ndarray, int], np.ndarray]
) -> np.ndarray:
    """Fill the small holes (``holes``) or clear the small islands found by
    :func:`_by_contours`, or run ``labelled`` when the contours cannot tell."""
    sure = _by_contours(crop, max_area_px, holes=holes)
    if sure is None:
        return labelled(crop, max_area_px)
    out = _u8(crop).copy()
    for contour in sure:
        cv2.drawContours(out, [contour], 0, int(holes), thickness=cv2.FILLED)
    return out.view(bool)


def _by_contours(crop: np.ndarray, max_area_px: int, *, holes: bool) -> list[np.ndarray] | None:
    """The contours of the islands (``holes=False``) or holes of ``crop`` with at most
    ``max_area_px`` pixels, or None when the contours alone cannot tell for some of them.

    ``findContours`` traces 8-connected islands and 4-connected holes, the connectivity of
    :func:`remove_dots` and :func:`fill_holes`; outside the crop counts as background, so
    background touching the crop's edge is never a hole. A region's contour, filled, is the
    region plus everything it encloses (and whatever it encloses is smaller still, so it
    goes too). Bounds on a region's pixel count: at most the pixels strictly inside its box
    (a hole's contour runs over the mask pixels around it); at least the contour polygon's
    area, less its perimeter for a hole, less the boxes of the regions directly inside it.
    """
    contours, hierarchy = cv2.findContours(_u8(crop), cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    links = hierarchy[0]
    depth = [0] * len(contours)  # even: an island's outline; odd: a hole's
    for i in range(len(contours)):
        parent = links[i][3]
        while parent >= 0:
            depth[i] += 1
            parent = links[parent][3]
    boxes = [cv2.boundingRect(c) for c in contours]
    inner = [0] * len(contours)  # the box areas of the regions directly inside each one
    for i, (_, _, w, h) in enumerate(boxes):
        parent = links[i][3]
        if parent >= 0:
            inner[parent] += w * h
    sure = []
    for i, contour in enumerate(contours):
        if (depth[i] % 2 == 1) != holes:
            continue
        w, h = boxes[i][2:]
        if (max(w - 2, 0) * max(h - 2, 0) if holes else w * h) <= max_area_px:
            sure.append(contour)
            continue
        low = cv2.contourArea(contour) - inner[i]
        if holes:
            steps = np.abs(np.diff(contour[:, 0, :], axis=0, append=contour[:1, 0, :]))
            low -= int(steps.max(axis=1).sum())
        if low <= max_area_px:
            return None
    return sure


def fill_holes(mask: np.ndarray, *, max_area_px: int) -> np.ndarray:
    """Fill holes of ``mask`` of at most ``max_area_px`` pixels.

    A hole is a 4-connected background region enclosed by the mask. Background touching
    the frame edge is never a hole (the gap between a person's legs cut by the bottom of
    the frame stays open).
    """
    return _by_area(mask, max_area_px, fill_holes_crop)


def fill_holes_crop(crop: np.ndarray, max_area_px: int) -> np.ndarray:
    """:func:`fill_holes` on a crop with at least 1 px of background around the mask.

    Like :func:`remove_dots_crop`, from the contours, labelling the pixels only when the
    contours cannot tell a hole's size."""
    return _from_contours(crop, max_area_px, holes=True, labelled=_fill_holes_labelled)


def _fill_holes_labelled(crop: np.ndarray, max_area_px: int) -> np.ndarray:
    """:func:`fill_holes_crop` by labelling and counting every pixel."""
    count, labels = cv2.connectedComponents(_u8(~crop), connectivity=4)
    hole = K.count_labels(labels, count) <= max_area_px
    hole[0] = False  # label 0 is the mask itself
    # Background touching the crop's edge is outside: the crop has a margin around the mask.
    hole[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = False
    if not hole.any():
        return crop.copy()
    return crop | K.relabel(labels, hole)


def border_fix(mask: np.ndarray, *, width_px: int) -> np.ndarray:
    """Close the mask onto the frame edge.

    Models leave a ragged few-pixel gap where an object leaves the frame. Within
    ``width_px`` of each frame edge, every row (left/right edges) or column (top/bottom)
    that the mask reaches is filled from the mask out to the edge, and dips along the edge
    up to ``2 * width_px`` long are closed (a morphological closing along the edge).
    """
    check_mask(mask)
    check_range("width_px", width_px, 0, MAX_RADIUS_PX, integer=True)
    out = mask.copy()
    w = min(int(width_px), mask.shape[0], mask.shape[1])
    if w == 0:
        return out
    along = np.ones((2 * w + 1, 1), np.uint8)  # closing along the edge bridges short dips
    # Left / right: a band pixel is filled when some mask pixel lies between it and the
    # band's inner side (a cumulative OR from the inside out to the edge).
    for band in (out[:, :w], out[:, -w:][:, ::-1]):
        snapped = np.logical_or.accumulate(band[:, ::-1], axis=1)[:, ::-1]
        band |= cv2.morphologyEx(_u8(np.ascontiguousarray(snapped)), cv2.MORPH_CLOSE, along).view(bool)
    for band in (out[:w, :].T, out[-w:, :][::-1, :].T):
        snapped = np.logical_or.accumulate(band[:, ::-1], axis=1)[:, ::-1]
        band |= cv2.morphologyEx(_u8(np.ascontiguousarray(snapped)), cv2.MORPH_CLOSE, along).view(bool)
    return out


def feather(matte: np.ndarray, *, radius_px: float) -> np.ndarray:
    """Soften the edge with a Gaussian of sigma ``radius_px / 2`` (so the ramp is about
    ``2 * radius_px`` wide). ``matte`` may be a ``bool`` mask or a ``float32`` matte."""
    if isinstance(matte, np.ndarray) and matte.dtype == np.bool_:
        matte = matte.astype(np.float32)
    check_matte(matte)
    check_range("radius_px", radius_px, 0, MAX_RADIUS_PX)
    if radius_px == 0:
        return matte.copy()
    roi = matte_roi(matte, feather_margin_px(radius_px))
    if roi is None:
        return matte.copy()
    out = matte.copy()
    out[roi.slices] = feather_crop(matte[roi.slices], radius_px)
    return out


def feather_margin_px(radius_px: float) -> int:
    """How far (px) feathering by ``radius_px`` reaches beyond the matte."""
    return 0 if radius_px == 0 else 2 * math.ceil(3 * radius_px / 2.0) + 1


def feather_crop(crop: np.ndarray, radius_px: float, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`feather` on a crop with ``feather_margin_px`` of zeros around the matte; into
    ``out`` (``float32``, the crop's shape; e.g. the crop's place in the frame's matte) when
    given, which is returned."""
    if radius_px == 0:
        if out is None:
            return crop.copy()
        out[...] = crop
        return out
    k = feather_margin_px(radius_px)
    blurred = cv2.GaussianBlur(crop, (k, k), radius_px / 2.0, dst=out, borderType=cv2.BORDER_REPLICATE)
    if out is not None and blurred is not out:  # OpenCV wrote elsewhere (it should not)
        out[...] = blurred
        blurred = out
    # The float kernel does not sum to exactly 1: solid areas must stay exactly 0 and 1.
    K.snap(blurred, 1e-6)
    return blurred


def trimap(mask: np.ndarray, *, band_px: int) -> np.ndarray:
    """``uint8 (H, W)``: 255 certain foreground, 0 certain background, 128 the unknown band
    of width ``band_px`` centred on the mask's edge (from the distance transform)."""
    check_mask(mask)
    check_range("band_px", band_px, 0, MAX_RADIUS_PX, integer=True)
    out = np.where(mask, np.uint8(255), np.uint8(0))
    roi = roi_around(mask, band_px + 1)
    if band_px == 0 or roi is None:
        return out
    out[roi.slices] = _trimap_crop(mask[roi.slices], band_px)
    return out


def _band_crop(crop: np.ndarray, band_px: int) -> np.ndarray:
    # One exact distance to the mask's edge (its boundary pixels on both sides) instead of one
    # per side, limited to the band.
    return K.edge_band(crop, band_px / 2.0)


def _trimap_crop(crop: np.ndarray, band_px: int) -> np.ndarray:
    tri = np.where(crop, np.uint8(255), np.uint8(0))
    tri[_band_crop(crop, band_px)] = 128
    return tri


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def _guided_models(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Box-averaged coefficients ``(a (h, w, 3), b (h, w))`` of the guided filter's local
    linear models, so that the output is ``a . guide + b`` (He et al.: per window, ``a`` is
    the guide's covariance plus ``eps`` solved against its covariance with the source)."""
    means = _box(K.guided_terms(guide, src), r)  # all 13 local means in one box filter
    models = _box(K.guided_solve(means, eps), r)
    return np.ascontiguousarray(models[..., :3]), np.ascontiguousarray(models[..., 3])


def _reduce(
    guide: np.ndarray, src: np.ndarray, radius_px: int, subsample: int
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The guide (any sample type) and source reduced to their ``subsample`` x ``subsample``
    block means (float32, [0, 1]) and the radius on that grid; unreduced when too small."""
    h, w = src.shape
    s = int(subsample)
    if s > 1 and min(h, w) // s >= 4:
        return K.block_mean(guide, s), K.block_mean(src, s), max(1, round(radius_px / s)), s
    return to_float_rgb(guide, "guide"), src, int(radius_px), 1


def _check_guided(guide: np.ndarray, src: np.ndarray, radius_px: int, eps: float, subsample: int) -> None:
    check_rgb(guide, "guide")
    check_matte(src, "src")
    check_same_size(guide, "guide", src, "src")
    check_range("radius_px", radius_px, 1, MAX_RADIUS_PX, integer=True)
    check_range("eps", eps, 1e-8, 1.0)
    check_range("subsample", subsample, 1, 16, integer=True)


def guided_filter(guide: np.ndarray, src: np.ndarray, *, radius_px: int, eps: float, subsample: int = 1) -> np.ndarray:
    """Colour guided filter (He, Sun and Tang): ``src`` (``float32 (h, w)``) smoothed so its
    edges follow those of ``guide`` (``float32 (h, w, 3)``). ``subsample`` > 1 fits the local
    linear models on ``subsample`` x ``subsample`` block means and interpolates them
    bilinearly back to full size (the fast guided filter)."""
    _check_guided(guide, src, radius_px, eps, subsample)
    return _guided_at(guide, src, np.ones(src.shape, bool), radius_px, eps, subsample, clip=False)


def _guided_at(
    guide: np.ndarray, src: np.ndarray, where: np.ndarray, radius_px: int, eps: float, subsample: int, *, clip: bool
) -> np.ndarray:
    """``src`` (``float32 (h, w)``) with the guided filter's output at ``where``; ``guide``
    may be uint8/uint16/float."""
    g, p, r, s = _reduce(guide, src, radius_px, subsample)
    a, b = _guided_models(g, p, r, eps)
    out = src.copy()
    K.guided_band(out, where, guide, a, b, s, clip=clip)
    return out


def _lookup(values: np.ndarray, ys: np.ndarray, xs: np.ndarray, full: tuple[int, int]) -> np.ndarray:
    """``values`` (a reduced copy of a ``full``-size field, ``(h', w')`` or ``(h', w', c)``)
    interpolated bilinearly at the full-size pixels ``(ys, xs)``, with cv2.resize's
    half-pixel-centre convention; ``(n,)`` or ``(n, c)``. No full-size array is made."""
    if values.shape[:2] == full:
        return values[ys, xs]
    # remap wants maps under 32767 rows, so the points go in rows of 1024.
    n = len(xs)
    rows = max(1, -(-n // 1024))
    sx, sy = values.shape[1] / full[1], values.shape[0] / full[0]
    mx = np.zeros(rows * 1024, np.float32)
    my = np.zeros(rows * 1024, np.float32)
    mx[:n] = (xs.astype(np.float32) + 0.5) * np.float32(sx) - 0.5
    my[:n] = (ys.astype(np.float32) + 0.5) * np.float32(sy) - 0.5
    out = cv2.remap(values, mx.reshape(rows, 1024), my.reshape(rows, 1024), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * 1024, -1)[:n].reshape((n, *values.shape[2:]))


def guided_filter_at(
    guide: np.ndarray, src: np.ndarray, where: np.ndarray, *, radius_px: int, eps: float, subsample: int = 1
) -> np.ndarray:
    """``guided_filter(...)[where]``, computing the full-size output only at the pixels
    ``where`` (``bool (h, w)``): a trimap band is a small fraction of its bounding box."""
    _check_guided(guide, src, radius_px, eps, subsample)
    return _guided_at(guide, src, where, radius_px, eps, subsample, clip=False)[where]


def _colour_alpha(
    img: np.ndarray, crop: np.ndarray, tri: np.ndarray, unknown: np.ndarray, radius: int, softness: float
) -> np.ndarray:
    """Alpha of the ``unknown`` pixels from the local object and background colours.

    F and B are the mean colours of the certain foreground and background within
    ``radius`` (normalised box filters on a reduced copy); alpha is the position of the
    pixel's colour on the line from B to F. Where F and B are too alike to separate, or one
    of them has no certain pixel nearby, alpha falls back to the mask.
    """
    h, w = crop.shape
    s = max(1, min(8, radius // 4))
    size = (max(1, w // s), max(1, h // s))
    fg = (tri == 255).astype(np.float32)
    bg = (tri == 0).astype(np.float32)
    if s > 1:
        small_img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        fg = cv2.resize(fg, size, interpolation=cv2.INTER_AREA)
        bg = cv2.resize(bg, size, interpolation=cv2.INTER_AREA)
    else:
        small_img = img
    r = max(1, round(radius / s))
    sum_f, sum_b = _box(small_img * fg[..., None], r), _box(small_img * bg[..., None], r)
    n_f, n_b = _box(fg, r), _box(bg, r)
    ys, xs = np.nonzero(unknown)
    f = _lookup(sum_f, ys, xs, (h, w)) / np.maximum(_lookup(n_f, ys, xs, (h, w)), 1e-6)[:, None]
    b = _lookup(sum_b, ys, xs, (h, w)) / np.maximum(_lookup(n_b, ys, xs, (h, w)), 1e-6)[:, None]
    seen = (_lookup(n_f, ys, xs, (h, w)) > 1e-3) & (_lookup(n_b, ys, xs, (h, w)) > 1e-3)
    fb = f - b
    dist2 = np.einsum("nc,nc->n", fb, fb)
    alpha = np.einsum("nc,nc->n", img[ys, xs] - b, fb) / np.maximum(dist2, 1e-8)
    # Sharpen towards 0/1 for hard edges (softness 0) or keep the linear ramp (softness 1).
    alpha = np.clip(alpha, 0.0, 1.0)
    gain = np.float32(1.0 + 3.0 * (1.0 - softness))
    alpha = np.clip((alpha - 0.5) * gain + 0.5, 0.0, 1.0)
    trust = np.where(seen, dist2 / (dist2 + np.float32(0.01)), 0.0)
    return (trust * alpha + (1.0 - trust) * crop[ys, xs]).astype(np.float32)


def refine_edges(
    mask: np.ndarray,
    image: np.ndarray,
    *,
    band_px: int,
    method: str = "guided",
    softness: float = 0.5,
    vitmatte: VitMatte | None = None,
) -> np.ndarray:
    """Matte with the edge re-estimated from the image inside the trimap band.

    A trimap of width ``band_px`` is built around the mask edge (distance transform);
    outside the band the matte is 0 or 1, inside it alpha follows the image:

    - ``"colour"``: each band pixel's colour placed between the mean object and
      background colours around it (radius = the band); ``softness`` 0 pushes alpha
      towards 0/1, 1 keeps the linear mix. Exact on flat backgrounds (green and blue
      screens); on textured backgrounds the local means mix and ``"guided"`` is better
      (measured on DAVIS with ``bench/matte_quality.py``).
    - ``"guided"``: the mask filtered by a colour guided filter with the image as guide
      (radius = half the band, ``softness`` in [0, 1] sets eps from 1e-5 to 1e-1 on a log
      scale: higher keeps the alpha softer). Fast enough for every frame at 4K.
    - ``"closed_form"``: Levin's closed-form matting (pymatting) on the band's region;
      best on hair and fur, seconds per frame: for stills and hero frames.
    - ``"vitmatte"``: the learned matting model ViTMatte (``vitmatte``, loaded by the
      caller: :class:`~sam3roto.post.vitmatte.VitMatte`) on the band's tiles only
      (:func:`~sam3roto.post.vitmatte.estimate_alpha`); hair, fur and motion blur. GPU when
      the model is on one. ``softness`` does not apply.

    Only the object's region (bounding box + band) is computed. ``image`` is
    ``float32 (H, W, 3)`` in [0, 1].
    """
    check_mask(mask)
    check_rgb(image)
    check_same_size(mask, "mask", image, "image")
    check_range("band_px", band_px, 0, MAX_RADIUS_PX, integer=True)
    check_range("softness", softness, 0.0, 1.0)
    if method not in REFINE_METHODS:
        raise ValueError(f"method must be one of {', '.join(REFINE_METHODS)}; got {method!r}")
    if method == "vitmatte" and vitmatte is None:
        raise ValueError("refine method 'vitmatte' needs the ViTMatte model handed in (vitmatte=...)")
    if band_px == 0:
        return mask.astype(np.float32)
    roi = refine_roi(mask, refine_margin_px(band_px))
    if roi is None:
        return np.zeros(mask.shape, np.float32)
    return _paste(mask.shape, roi, refine_crop(mask[roi.slices], image[roi.slices], band_px, method, softness,
                                               vitmatte=vitmatte))


def refine_roi(mask: np.ndarray, margin_px: int) -> Roi | None:
    """The crop refinement works on: the mask's box grown by ``margin_px``, its corner on
    the frame's grid of ``MAX_SUBSAMPLE`` blocks, so the guided filter's block means are the
    same whatever the crop (the result does not depend on the region of interest)."""
    roi = roi_around(mask, margin_px)
    return None if roi is None else roi.aligned(MAX_SUBSAMPLE)


def refine_margin_px(band_px: int) -> int:
    """How far (px) beyond the mask edge refinement with ``band_px`` reads the image."""
    return 0 if band_px == 0 else band_px + max(1, band_px // 2) + 2


def refine_crop(
    crop: np.ndarray, img: np.ndarray, band_px: int, method: str, softness: float, *, vitmatte: VitMatte | None = None
) -> np.ndarray:
    """:func:`refine_edges` on a crop with ``refine_margin_px`` around the mask; ``img`` is
    the same crop of the frame, uint8/uint16/float. ``vitmatte`` is needed by ``"vitmatte"``."""
    radius = max(1, band_px // 2)
    if method == "guided":
        eps = 10.0 ** (-5.0 + 4.0 * softness)
        # Blocks of the power of two nearest half the radius, up to MAX_SUBSAMPLE.
        sub = 1 << round(math.log2(min(MAX_SUBSAMPLE, max(1.0, radius / 2))))
        return _guided_at(img, crop.astype(np.float32), _band_crop(crop, band_px), radius, eps, sub, clip=True)
    tri = _trimap_crop(crop, band_px)
    if method == "vitmatte":
        if vitmatte is None:
            raise ValueError("refine method 'vitmatte' needs the ViTMatte model handed in (vitmatte=...)")
        from sam3roto.post.vitmatte import estimate_alpha  # imports torch on first use

        return estimate_alpha(vitmatte, img, tri)  # the crop's own 0/1 outside the band
    img = to_float_rgb(img)
    unknown = tri == 128
    out = crop.astype(np.float32)
    if method == "colour":
        out[unknown] = _colour_alpha(img, crop, tri, unknown, band_px, softness)
    else:
        from pymatting import estimate_alpha_cf  # imported on use: numba start-up is ~1 s

        alpha = estimate_alpha_cf(img.astype(np.float64), tri.astype(np.float64) / 255.0)
        out[unknown] = alpha[unknown]
    np.clip(out, 0.0, 1.0, out=out)
    return out

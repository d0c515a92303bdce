"""``apply()``: one frame's mask through the whole post stack, and ``apply_sequence()`` for
shots, where temporal smoothing and motion blur need the neighbouring frames."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sam3roto.core.strokes import Stroke, TouchUp, apply_to_matte, touchups_at
from sam3roto.post import kernels as K
from sam3roto.post import matte as M
from sam3roto.post import rgb as R
from sam3roto.post.buffers import RGB as RGB_ARRAYS
from sam3roto.post.checks import check_mask, check_rgb_source, check_same_size, to_float_rgb
from sam3roto.post.flow import flow_between
from sam3roto.post.keyed import KeyedPost
from sam3roto.post.roi import Roi, bbox, matte_roi, roi_around
from sam3roto.post.settings import PostSettings
from sam3roto.post.sources import depth_foreground, threshold_stages
from sam3roto.post.temporal import FLOW_MAX_SIDE_PX, motion_blur, temporal_smooth

if TYPE_CHECKING:
    from sam3roto.post.vitmatte import VitMatte

#: The learned refine models by ``refine_model`` (a model id or a folder): called with the
#: settings' ``refine_model`` when ``refine_method`` is ``"vitmatte"``, returns it loaded.
#: ``sam3roto.pipeline.post.RefineModels`` loads each on first use and keeps it.
RefineModelsFn = Callable[[str], "VitMatte"]

#: Extra margin (px) around the object for RGB work: edge extend spreads colour this far.
RGB_MARGIN_PX = 32


@dataclass(frozen=True)
class PostResult:
    """``matte``: ``float32 (H, W)`` in [0, 1]. ``rgb``: ``float32 (H, W, 3)`` after the RGB
    cleanup, premultiplied when ``premultiplied`` (None when the settings change no RGB)."""

    matte: np.ndarray
    rgb: np.ndarray | None
    premultiplied: bool


def _float_crop(image: np.ndarray, roi: Roi) -> np.ndarray:
    return to_float_rgb(np.ascontiguousarray(image[roi.slices]))


def _sources(image: np.ndarray, mask: np.ndarray, settings: PostSettings, depth: np.ndarray | None) -> np.ndarray:
    """The mask sources that read the frame or the depth: depth foreground, thresholds."""
    if settings.depth_mode != "off":
        if depth is None:
            raise ValueError(f"depth_mode {settings.depth_mode!r} needs a depth map for this frame; run depth first")
        check_same_size(mask, "mask", depth, "depth")
        near = depth_foreground(depth, near_is_large=settings.depth_near_is_large)
        if settings.depth_mode == "replace":
            mask = near
        elif settings.depth_mode == "intersect":
            mask = mask & near
        else:
            mask = mask | near
    if settings.thresholds:
        roi = roi_around(mask, 0)
        out = np.zeros_like(mask)
        if roi is not None:
            out[roi.slices] = threshold_stages(_float_crop(image, roi), settings.thresholds, mask[roi.slices])
        mask = out
    return mask


def refine(
    image: np.ndarray,
    mask: np.ndarray,
    settings: PostSettings,
    *,
    depth: np.ndarray | None = None,
    refine_models: RefineModelsFn | None = None,
) -> np.ndarray:
    """The single-frame part of the matte: mask sources, cleanup, edge refinement, feather.

    ``image``: the frame, ``(H, W, 3)`` uint8/uint16/float. ``mask``: ``bool (H, W)``.
    ``depth``: ``float (H, W)``, needed when ``settings.depth_mode`` is not off.
    ``refine_models``: gives the loaded model of ``settings.refine_model``, needed when
    ``settings.refine_method`` is ``"vitmatte"`` (see :data:`RefineModelsFn`).
    Returns ``float32 (H, W)`` in [0, 1].
    """
    return _refine(image, mask, settings, depth, refine_models)[0]


def _refine(
    image: np.ndarray, mask: np.ndarray, settings: PostSettings, depth: np.ndarray | None,
    refine_models: RefineModelsFn | None = None,
) -> tuple[np.ndarray, Roi | None]:
    """:func:`refine`, and the region outside which the matte is 0 (None: all 0).

    Every step after the mask sources runs on one crop, the mask's box with the margin
    all of them together need, so that the frame is read and written once. Each crop step
    is the same function the full-frame ``matte`` operation uses.
    """
    check_mask(mask)
    check_same_size(mask, "mask", image, "image")
    mask = _sources(image, mask, settings, depth)
    cleaned = False
    if settings.border_fix_px > 0:  # the border fix needs the frame's edges: clean up first on the frame
        mask = M.fill_holes(M.remove_dots(mask, max_area_px=settings.remove_dots_px),
                            max_area_px=settings.fill_holes_px)
        mask = M.border_fix(mask, width_px=settings.border_fix_px)
        cleaned = True
    margin = (abs(settings.grow_px) + 2 + M.refine_margin_px(settings.refine_band_px)
              + M.feather_margin_px(settings.feather_px))
    roi = M.refine_roi(mask, margin)
    matte = np.zeros(mask.shape, np.float32)
    if roi is None:
        return matte, None
    crop = mask[roi.slices]
    if not cleaned:
        if settings.remove_dots_px > 0:
            crop = M.remove_dots_crop(crop, settings.remove_dots_px)
        if settings.fill_holes_px > 0:
            crop = M.fill_holes_crop(crop, settings.fill_holes_px)
    crop = M.grow_crop(crop, settings.grow_px)
    if settings.refine_band_px > 0:
        net = None
        if settings.refine_method == "vitmatte":
            if refine_models is None:
                raise ValueError(f"refine method 'vitmatte' needs the ViTMatte model ({settings.refine_model}) "
                                 "handed in as refine_models; the post and render jobs load it")
            net = refine_models(settings.refine_model)
        values = M.refine_crop(crop, image[roi.slices], settings.refine_band_px, settings.refine_method,
                                settings.refine_softness, vitmatte=net)
    else:
        values = crop.astype(np.float32)
    M.feather_crop(values, settings.feather_px, out=matte[roi.slices])  # straight into the frame's matte
    return matte, roi


def finish_rgb(
    image: np.ndarray, matte: np.ndarray, settings: PostSettings, *, screen_colour: np.ndarray | None = None
) -> np.ndarray:
    """The RGB cleanup for one frame: despill, luminance restore, edge extend, premultiply.

    Work is limited to the matte's region plus ``RGB_MARGIN_PX``; outside it alpha is 0,
    so the pixels are the source's (straight) or 0 (premultiplied). ``screen_colour`` is
    estimated from this frame's background for physical despill when not given.
    """
    check_same_size(matte, "matte", image, "image")
    return _finish_rgb(image, matte, settings, screen_colour, matte_roi(matte, RGB_MARGIN_PX))


def _finish_rgb(
    image: np.ndarray, matte: np.ndarray, settings: PostSettings, screen_colour: np.ndarray | None, roi: Roi | None
) -> np.ndarray:
    check_rgb_source(image)
    h, w = image.shape[:2]
    # Despill and luminance restore go with the conversion to float, in one pass over the
    # frame (``kernels.rgb_finish``: the arithmetic of ``rgb.despill`` + ``rgb.luminance_restore``).
    # Straight, every pixel is written: a released earlier result's array will do (``buffers``).
    out = np.zeros((h, w, 3), np.float32) if settings.premultiply else RGB_ARRAYS.empty((h, w, 3), np.float32)
    box = (0, 0, 0, 0) if roi is None else (roi.y0, roi.y1, roi.x0, roi.x1)
    screen = screen_colour
    if roi is not None and settings.despill == "physical" and screen is None:
        screen = R.estimate_screen_colour(to_float_rgb(image[::4, ::4]), np.ascontiguousarray(matte[::4, ::4]))
    if roi is not None and settings.despill == "physical":
        screen = R.check_screen_colour(screen)
    mode = "off" if roi is None else settings.despill
    K.rgb_finish(image, out, box, whole=not settings.premultiply, mode=mode, strength=settings.despill_strength,
                 screen=screen, amount=settings.luminance_restore, luma=R.LUMA_709)
    if roi is None or (settings.edge_extend == "off" and not settings.premultiply):
        return out
    alpha = np.ascontiguousarray(matte[roi.slices])
    rgb = np.ascontiguousarray(out[roi.slices])
    if settings.edge_extend != "off":
        rgb = R.edge_extend(rgb, alpha, method=settings.edge_extend, margin_px=RGB_MARGIN_PX)
    if settings.premultiply:
        rgb = R.premultiply(rgb, alpha)
    out[roi.slices] = rgb
    return out


def _roi_within(matte: np.ndarray, area: Roi | None, margin_px: int) -> Roi | None:
    """``matte_roi(matte, margin_px)`` when the matte is 0 outside ``area``, reading only ``area``."""
    if area is None:
        return None
    box = bbox(matte[area.slices] > 0)
    if box is None:
        return None
    return Roi(box.y0 + area.y0, box.y1 + area.y0, box.x0 + area.x0, box.x1 + area.x0).grown(margin_px, matte.shape)


def apply(
    image: np.ndarray,
    mask: np.ndarray,
    settings: PostSettings,
    *,
    depth: np.ndarray | None = None,
    neighbours: list[tuple[np.ndarray, np.ndarray]] | None = None,
    velocity: np.ndarray | None = None,
    screen_colour: np.ndarray | None = None,
    touchups: Sequence[Stroke] = (),
    refine_models: RefineModelsFn | None = None,
) -> PostResult:
    """One frame through the whole stack: :func:`refine`, temporal smoothing with
    ``neighbours`` (``(refined matte, image)`` of nearby frames, from :func:`refine`),
    motion blur with ``velocity`` (px per frame, ``float32 (H, W, 2)``), then the RGB
    cleanup. Without neighbours or velocity those two steps are skipped; use
    :func:`apply_sequence` for shots. ``touchups`` are strokes painted over the final
    matte (before the RGB cleanup). ``refine_models``: as for :func:`refine`."""
    matte, area = _refine(image, mask, settings, depth, refine_models)
    moved = False
    if settings.temporal_pct > 0 and neighbours:
        image_f = to_float_rgb(image)
        matte = temporal_smooth(matte, image_f, neighbours, strength=settings.temporal_pct / 100.0)
        moved = True
    if settings.motion_blur_shutter > 0 and velocity is not None:
        matte = motion_blur(matte, velocity, shutter=settings.motion_blur_shutter)
        moved = True
    if touchups:
        matte = apply_to_matte(matte, touchups)
        moved = True
    rgb = None
    if settings.changes_rgb:
        roi = matte_roi(matte, RGB_MARGIN_PX) if moved else _roi_within(matte, area, RGB_MARGIN_PX)
        rgb = _finish_rgb(image, matte, settings, screen_colour, roi)
    return PostResult(matte, rgb, settings.premultiply and rgb is not None)


def velocity_field(image: np.ndarray, other: np.ndarray, matte: np.ndarray, *, other_is_next: bool) -> np.ndarray:
    """``float32 (H, W, 2)`` motion in px per frame at each pixel of ``image``, from the flow
    to the previous or next frame, computed on the matte's region only (zero elsewhere)."""
    out = np.zeros((*matte.shape, 2), np.float32)
    roi = matte_roi(matte, max(16, round(0.05 * max(matte.shape))))
    if roi is None:
        return out
    flow = flow_between(_float_crop(image, roi), _float_crop(other, roi), max_side_px=FLOW_MAX_SIDE_PX)
    out[roi.slices] = flow if other_is_next else -flow
    return out


def apply_sequence(
    frames: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    settings: PostSettings | KeyedPost,
    *,
    screen_colour: np.ndarray | None = None,
    always_rgb: bool = False,
    indices: Sequence[int] | None = None,
    touchups: Sequence[TouchUp] = (),
    refine_models: RefineModelsFn | None = None,
    with_rgb: bool = True,
) -> Iterator[PostResult]:
    """Post for consecutive frames: ``frames`` yields ``(image, mask, depth or None)`` in
    order; one ``PostResult`` per frame comes out, in order, one frame behind when the
    settings use neighbours (temporal smoothing looks one frame each way). With
    ``always_rgb`` the results carry RGB even when the settings change none; without
    ``with_rgb`` they carry none (mattes only: the caller runs :func:`finish_rgb` on the
    plates it writes, which may be in another colour space than ``image``).

    ``indices`` are the frame indices of the streamed frames (needed by settings keyed
    over the shot, :class:`~sam3roto.post.keyed.KeyedPost`, and by ``touchups``);
    ``touchups`` (by frame index) paint over the final mattes of the frames they cover,
    after temporal smoothing and motion blur, before the RGB cleanup. ``refine_models``:
    as for :func:`refine`."""
    window: list[tuple[np.ndarray, np.ndarray]] = []  # (image, refined matte) of frames first..first+2
    first = 0  # position in the stream of window[0]
    done = 0  # frames yielded so far
    keyed = isinstance(settings, KeyedPost)
    if (keyed or touchups) and indices is None:
        raise ValueError("keyed settings and touch-ups need the frame indices of the stream")

    def at(n: int) -> PostSettings:
        if isinstance(settings, KeyedPost):
            return settings.at(indices[n])  # type: ignore[index]
        return settings

    def finish(i: int) -> PostResult:
        image, matte = window[i]
        here = at(first + i)
        others = [window[j] for j in (i - 1, i + 1) if 0 <= j < len(window)]
        if here.temporal_pct > 0 and others:
            matte = temporal_smooth(
                matte, image, [(m, img) for img, m in others], strength=here.temporal_pct / 100.0
            )
        if here.motion_blur_shutter > 0 and others:
            has_prev = i > 0
            other_image = window[i - 1][0] if has_prev else window[i + 1][0]
            velocity = velocity_field(image, other_image, matte, other_is_next=not has_prev)
            matte = motion_blur(matte, velocity, shutter=here.motion_blur_shutter)
        if touchups:
            strokes = touchups_at(touchups, indices[first + i])  # type: ignore[index]
            if strokes:
                matte = apply_to_matte(matte, strokes)
        wants_rgb = with_rgb and (here.changes_rgb or always_rgb)
        rgb = finish_rgb(image, matte, here, screen_colour=screen_colour) if wants_rgb else None
        return PostResult(matte, rgb, here.premultiply and rgb is not None)

    lookahead = 1 if settings.uses_neighbours else 0
    for n, (image, mask, depth) in enumerate(frames):
        window.append((image, refine(image, mask, at(n), depth=depth, refine_models=refine_models)))
        if n - done >= lookahead:  # frame `done` has everything it needs
            yield finish(done - first)
            done += 1
            while first < done - lookahead:  # keep one frame behind for the next one
                window.pop(0)
                first += 1
    while done < first + len(window):
        yield finish(done - first)
        done += 1


def warm_up() -> None:
    """Run the stack once on tiny frames of each source sample type, so that the compiled
    loops (``kernels``) are built, or loaded from numba's on-disk cache, before the first
    real frame: refinement, green despill, and the plain conversion RGBA outputs use when
    no despill is set. The first run after an install compiles them (about 30 s on 2
    cores); the window does this in the background when it opens. Other despill modes
    compile on first use (a few seconds, once)."""
    mask = np.zeros((24, 32), bool)
    mask[6:18, 8:24] = True
    mask[1, 1] = True
    settings = PostSettings(remove_dots_px=4, fill_holes_px=4, grow_px=1, refine_band_px=8, feather_px=1.0,
                            despill="green", luminance_restore=1.0)
    for dtype in (np.uint8, np.uint16, np.float32):
        image = np.zeros((24, 32, 3), dtype)
        apply(image, mask, settings)
        apply(image, mask, settings.with_values(despill="off", luminance_restore=0.0, premultiply=True))


"""Segment everything with SAM3 (seed 001): Segment Anything's masks of every part of a
frame, offered as pickable regions like the classical engine's.

As SAM's automatic mask generator does, a grid of point prompts goes through the tracker's
image path: the frame is encoded once, then the prompt encoder and mask decoder run on
batches of grid points, three masks (whole, part, subpart) and a predicted IoU per point.
Masks whose predicted IoU or stability score (how little the mask moves when its logit
threshold moves by one) is low are dropped, near-duplicates are removed by mask IoU
(greedy, best predicted IoU first), and the survivors become one label image: in claim
order (best predicted IoU first, or smallest first with ``claim="parts"``) each mask takes
the pixels no earlier mask took. Specks are dropped; pixels no mask covers become regions of
their own when large enough, else join the nearest region. The result is the contract of
:func:`sam3roto.backends.classic.everything.candidate_labels`: ``int32 (H, W)`` region
numbers 0..n-1, largest first, every pixel in one region; a pick (a click) takes the whole
region under it, and the union of picks becomes a key mask.

Everything stays on the model's device (torch) until the label image is complete at source
size; only the speck clean-up (connected components, OpenCV) runs on the CPU. Memory is
bounded: points go in batches, masks stay at the decoder's resolution (4x the token grid,
288 px for SAM3), and no mask is ever held at source size (each is evaluated only at the
pixels still free in its reach). Heavy imports (torch) happen inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

    from sam3roto.backends.sam3_models import Sam3Models

Claim = Literal["quality", "parts"]
CLAIMS: tuple[Claim, ...] = ("quality", "parts")

#: The densest grid accepted (128 x 128 = 16384 prompts, 49152 masks).
MAX_POINTS_PER_SIDE = 128
#: SAM's stability offset: a mask's stability is IoU(logit > +1, logit > -1).
STABILITY_OFFSET = 1.0
#: Masks are compared for de-duplication at most this many cells a side.
NMS_SIDE = 128
#: Candidates held before the pool is de-duplicated early (bounds memory on dense grids).
POOL_LIMIT = 1536


def check_options(*, points_per_side: int, points_per_batch: int, pred_iou_thresh: float,
                  stability_thresh: float, overlap_iou: float, min_area_frac: float, claim: str) -> None:
    """Raise ``ValueError`` naming the option for a value :func:`segment_everything` cannot use."""

    def whole(name: str, value: object, low: int, high: int | None) -> None:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low or \
                (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise ValueError(f"{name} must be a whole number {span}, got {value!r}")

    def fraction(name: str, value: object, *, open_low: bool = False, open_high: bool = False) -> None:
        number = float(value) if isinstance(value, int | float | np.integer | np.floating) and \
            not isinstance(value, bool) else float("nan")
        if not ((number > 0.0 if open_low else number >= 0.0) and (number < 1.0 if open_high else number <= 1.0)):
            span = f"{'above' if open_low else 'from'} 0 {'and below' if open_high else 'to'} 1"
            raise ValueError(f"{name} must be a number {span}, got {value!r}")

    whole("points_per_side", points_per_side, 1, MAX_POINTS_PER_SIDE)
    whole("points_per_batch", points_per_batch, 1, None)
    fraction("pred_iou_thresh", pred_iou_thresh)
    fraction("stability_thresh", stability_thresh)
    fraction("overlap_iou", overlap_iou, open_low=True)
    fraction("min_area_frac", min_area_frac, open_high=True)
    if claim not in CLAIMS:
        raise ValueError(f"claim must be one of {', '.join(CLAIMS)}, got {claim!r}")


def point_grid(points_per_side: int) -> np.ndarray:
    """``float32 (n*n, 2)`` grid points ``(x, y)`` in [0, 1], at the centres of an n x n
    tiling of the frame (SAM's ``build_point_grid``), row by row."""
    centres = (np.arange(points_per_side, dtype=np.float32) + 0.5) / points_per_side
    xs, ys = np.meshgrid(centres, centres)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def segment_everything(
    models: Sam3Models, rgb: np.ndarray, *, device: Any, dtype: Any, points_per_side: int = 32,
    points_per_batch: int = 64, pred_iou_thresh: float = 0.8, stability_thresh: float = 0.95,
    overlap_iou: float = 0.7, min_area_frac: float = 0.0005, claim: Claim = "quality",
) -> np.ndarray:
    """``int32 (H, W)``: the region number (0..n-1, largest first) of every pixel of ``rgb``
    (``uint8 (H, W, 3)``), from SAM3's masks for a ``points_per_side`` x ``points_per_side``
    grid of point prompts (see the module docstring).

    ``models``: the tracker and its processor, on ``device`` in ``dtype``.
    ``points_per_batch``: prompts decoded at once (memory against speed).
    ``pred_iou_thresh``, ``stability_thresh``: masks below either are dropped.
    ``overlap_iou``: a mask overlapping a better one by more than this (mask IoU) is dropped.
    ``min_area_frac``: regions smaller than this fraction of the frame are specks.
    ``claim``: which masks take contested pixels first: ``"quality"`` (best predicted IoU)
    or ``"parts"`` (smallest: a whole object keeps what its parts leave, so picks add up).
    """
    check_options(points_per_side=points_per_side, points_per_batch=points_per_batch,
                  pred_iou_thresh=pred_iou_thresh, stability_thresh=stability_thresh, overlap_iou=overlap_iou,
                  min_area_frac=min_area_frac, claim=claim)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    import torch

    h, w = rgb.shape[:2]
    with torch.inference_mode():
        logits, scores = candidate_masks(
            models, rgb, device=device, dtype=dtype, points_per_side=points_per_side,
            points_per_batch=points_per_batch, pred_iou_thresh=pred_iou_thresh, stability_thresh=stability_thresh,
            overlap_iou=overlap_iou, min_area_frac=min_area_frac)
        return regions_from_masks(logits, scores, (h, w), overlap_iou=overlap_iou, min_area_frac=min_area_frac,
                                  claim=claim)


def image_embeddings(models: Sam3Models, rgb: np.ndarray, *, device: Any, dtype: Any) -> list[torch.Tensor]:
    """The tracker's feature maps of one frame, finest first (the last is the image embedding
    the mask decoder attends to, with the tracker's no-memory embedding added, as on a first
    conditioning frame); preprocessed as ``Sam3Session`` does for tracking."""
    tracker = models.tracker
    pixels = models.tracker_processor.video_processor(videos=rgb[None], return_tensors="pt").pixel_values_videos[0][0]
    out = tracker.get_image_features(pixels[None].to(device=device, dtype=dtype), return_dict=True)
    feats = list(out.fpn_hidden_states)  # (h*w, 1, C) each
    feats[-1] = feats[-1] + tracker.no_memory_embedding
    sizes = tracker.backbone_feature_sizes
    return [f.permute(1, 2, 0).reshape(1, -1, *size) for f, size in zip(feats, sizes, strict=False)]


def candidate_masks(
    models: Sam3Models, rgb: np.ndarray, *, device: Any, dtype: Any, points_per_side: int, points_per_batch: int,
    pred_iou_thresh: float, stability_thresh: float, overlap_iou: float, min_area_frac: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The masks that pass the quality filters: ``float16 (N, m, m)`` logits at the decoder's
    resolution (the model's square input space) and ``float32 (N,)`` predicted IoUs, on the
    device. Call under ``torch.inference_mode()``."""
    import torch

    tracker = models.tracker
    emb = image_embeddings(models, rgb, device=device, dtype=dtype)
    pe = tracker.get_image_wide_positional_embeddings()
    side = float(tracker.prompt_encoder.input_image_size)
    # the processor scales source pixels to the square input; grid fractions scale the same way
    grid = torch.from_numpy(point_grid(points_per_side)).to(device) * side
    pool_logits: list[torch.Tensor] = []
    pool_scores: list[torch.Tensor] = []
    held, limit = 0, POOL_LIMIT
    for start in range(0, len(grid), points_per_batch):
        points = grid[start:start + points_per_batch]
        n = len(points)
        labels = torch.ones((1, n, 1), dtype=torch.int32, device=device)
        sparse, dense = tracker.prompt_encoder(input_points=points[None, :, None, :], input_labels=labels,
                                               input_boxes=None, input_masks=None)
        masks, iou, _, _ = tracker.mask_decoder(
            image_embeddings=emb[-1], image_positional_embeddings=pe, sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense, multimask_output=True, high_resolution_features=emb[:-1])
        logits = masks[0].flatten(0, 1).float()  # (3n, m, m): three granularities per point
        scores = iou[0].flatten().float()
        keep = (scores >= pred_iou_thresh) & (stability_scores(logits) >= stability_thresh)
        area = (logits > 0).flatten(1).sum(1)
        keep &= (area > 0) & (area >= min_area_frac * logits[0].numel())
        if bool(keep.any()):
            pool_logits.append(logits[keep].half())
            pool_scores.append(scores[keep])
            held += int(keep.sum())
        if held > limit:  # de-duplicate early: dense grids stay within memory
            all_logits, all_scores = torch.cat(pool_logits), torch.cat(pool_scores)
            kept = dedup(all_logits > 0, all_scores, overlap_iou)
            pool_logits, pool_scores, held = [all_logits[kept]], [all_scores[kept]], len(kept)
            limit = max(POOL_LIMIT, 2 * held)
    if not pool_logits:
        m = emb[0].shape[-1]
        return torch.zeros((0, m, m), dtype=torch.float16, device=device), torch.zeros(0, device=device)
    return torch.cat(pool_logits), torch.cat(pool_scores)


def stability_scores(logits: torch.Tensor) -> torch.Tensor:
    """``float32 (N,)``: IoU of each mask thresholded at logit +1 and at -1 (SAM's stability
    score; 0 for a mask empty at -1)."""
    flat = logits.flatten(1)
    inner = (flat > STABILITY_OFFSET).sum(1).float()
    outer = (flat > -STABILITY_OFFSET).sum(1).float()
    return inner / outer.clamp(min=1.0)


def dedup(masks: torch.Tensor, scores: torch.Tensor, overlap_iou: float) -> torch.Tensor:
    """Greedy non-maximum suppression by mask IoU: indices of the masks kept, best score
    first. A mask is dropped when its IoU with a better kept one exceeds ``overlap_iou``.

    ``masks``: ``bool (N, h, w)``; ``scores``: ``(N,)``. Masks are compared at most
    :data:`NMS_SIDE` cells a side; an empty mask overlaps nothing."""
    import torch
    import torch.nn.functional as F

    order = torch.argsort(scores, descending=True, stable=True)
    if len(order) < 2:
        return order
    small = masks[order].float()
    if max(small.shape[-2:]) > NMS_SIDE:
        small = (F.adaptive_avg_pool2d(small[:, None], NMS_SIDE)[:, 0] >= 0.5).float()
    flat = small.flatten(1)
    inter = flat @ flat.T
    area = flat.sum(1)
    union = area[:, None] + area[None, :] - inter
    over = torch.triu(inter > overlap_iou * union.clamp(min=1e-6), diagonal=1)  # row outranks column
    keep = torch.ones(len(order), dtype=torch.bool, device=order.device)
    for i in range(len(order)):  # on the device, no sync: a suppressed row suppresses nothing
        keep &= ~(over[i] & keep[i])
    return order[keep]


def claim_pixels(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``int32 (H, W)`` on the device: for each pixel the index of the first mask of
    ``logits`` (``(K, h, w)``, in claim order) that covers it at source size ``size``, or -1
    where none does. A mask covers a pixel where its logits, upsampled bilinearly as
    ``F.interpolate(..., align_corners=False)`` does, are above 0.

    No mask is brought to source size: each is evaluated only at the pixels still free
    inside its window (the source pixels whose bilinear taps reach its positive logits),
    so the cost follows what is left to claim, not the number of masks times the frame."""
    import torch

    h, w = size
    k, mh, mw = logits.shape
    device = logits.device
    labels = torch.full((h, w), -1, dtype=torch.int32, device=device)
    if k == 0:
        return labels
    y0, y1, wy = _bilinear_taps(h, mh, device)
    x0, x1, wx = _bilinear_taps(w, mw, device)
    positive = logits > 0
    windows = torch.cat([_window(positive.any(2), y0, y1), _window(positive.any(1), x0, x1)], 1).tolist()
    for index, (top, bottom, left, right) in enumerate(windows):
        if bottom <= top or right <= left:
            continue  # an empty mask
        crop = labels[top:bottom, left:right]
        fy, fx = torch.nonzero(crop < 0, as_tuple=True)
        if not len(fy):
            continue
        ys, xs = fy + top, fx + left
        mask = logits[index].float()
        ay, by, ty = y0[ys], y1[ys], wy[ys]
        ax, bx, tx = x0[xs], x1[xs], wx[xs]
        # PyTorch's order of operations, so that the result matches F.interpolate
        value = (1 - ty) * ((1 - tx) * mask[ay, ax] + tx * mask[ay, bx]) + \
            ty * ((1 - tx) * mask[by, ax] + tx * mask[by, bx])
        hit = value > 0
        crop[fy[hit], fx[hit]] = index
    return labels


def _window(lines: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``long (K, 2)``: the source span ``[start, end)`` along one axis whose bilinear taps
    (``first``, ``second``: each output position's two input positions, both sorted) reach
    a positive input line of each mask (``lines``: ``bool (K, n_in)``); ``end <= start``
    when there is none."""
    import torch

    n_in = lines.shape[1]
    ramp = torch.arange(n_in, device=lines.device)
    low = torch.where(lines, ramp, n_in).amin(1)
    high = torch.where(lines, ramp, -1).amax(1)
    start = torch.searchsorted(second, low, side="left")
    end = torch.searchsorted(first, high, side="right")
    return torch.stack([start, end], 1)


def _bilinear_taps(n_out: int, n_in: int, device: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each of ``n_out`` output positions: the two input positions and the weight of
    the second, as PyTorch's bilinear resize (``align_corners=False``) takes them."""
    import torch

    src = ((torch.arange(n_out, device=device, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp(min=0)
    first = src.floor().long().clamp(max=n_in - 1)
    second = (first + 1).clamp(max=n_in - 1)
    return first, second, (src - first).float()


def regions_from_masks(
    logits: torch.Tensor, scores: torch.Tensor, size: tuple[int, int], *, overlap_iou: float = 0.7,
    min_area_frac: float = 0.0005, claim: Claim = "quality",
) -> np.ndarray:
    """``int32 (H, W)`` region numbers (0..n-1, largest first, every pixel in one region)
    from candidate masks: ``logits`` (``(N, h, w)``, mask where > 0, any resolution: they
    are resized to ``size`` = ``(H, W)``) and their ``scores`` (``(N,)``, higher better).

    Near-duplicates go (:func:`dedup`), then masks claim pixels in ``claim`` order (see
    :func:`segment_everything`); a later mask gets only the pixels no earlier one took.
    Pieces of a region smaller than ``min_area_frac`` of the frame are dropped; pixels left
    over become regions when large enough, else join the nearest region."""
    import torch

    h, w = size
    min_area_px = max(1, round(min_area_frac * h * w))
    kept = dedup(logits > 0, scores, overlap_iou)
    if claim == "parts":  # smallest first; ties keep the score order
        areas = (logits[kept] > 0).flatten(1).sum(1)
        kept = kept[torch.argsort(areas, stable=True)]
    labels = claim_pixels(logits[kept], (h, w))
    return finish_labels(labels.cpu().numpy(), min_area_px=min_area_px)


def finish_labels(labels: np.ndarray, *, min_area_px: int) -> np.ndarray:
    """Claimed pixels (``int32 (H, W)``, -1 unclaimed) as regions 0..n-1, largest first,
    every pixel in one: pieces of a region smaller than ``min_area_px`` are released; the
    released and unclaimed pixels form regions of their own where their connected pieces are
    large enough, and join the nearest region elsewhere (as the classical engine's specks
    do). Runs on the CPU (OpenCV)."""
    import cv2

    labels = np.array(labels, dtype=np.int32)  # a copy: released pieces are written into it
    h, w = labels.shape
    count = int(labels.max()) + 1
    for k, (y0, y1, x0, x1) in enumerate(_boxes(labels, count)):
        if y1 <= y0:
            continue
        crop = labels[y0:y1, x0:x1]
        inside = crop == k
        n, comp, stats, _ = cv2.connectedComponentsWithStats(inside.view(np.uint8), connectivity=8)
        small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_area_px) + 1
        if small.size:
            crop[np.isin(comp, small) & inside] = -1
    free = labels < 0
    if free.any():
        n, comp, stats, _ = cv2.connectedComponentsWithStats(free.view(np.uint8), connectivity=8)
        large = stats[:, cv2.CC_STAT_AREA] >= min_area_px
        large[0] = False  # OpenCV's background: the claimed pixels
        new = np.full(n, -1, np.int32)
        new[large] = count + np.arange(int(large.sum()), dtype=np.int32)
        labels = np.where(free, new[comp], labels)
        free = labels < 0
    if free.all():
        return np.zeros((h, w), np.int32)
    if free.any():  # specks join the region of the nearest claimed pixel
        _, nearest = cv2.distanceTransformWithLabels(free.view(np.uint8), cv2.DIST_L2, 3,
                                                     labelType=cv2.DIST_LABEL_PIXEL)
        ys, xs = np.nonzero(~free)
        source = np.zeros(int(nearest.max()) + 1, np.int32)
        source[nearest[ys, xs]] = labels[ys, xs]
        labels = np.where(free, source[nearest], labels)
    areas = np.bincount(labels.ravel())
    present = np.flatnonzero(areas)
    order = present[np.argsort(-areas[present], kind="stable")]  # largest first; ties by claim order
    rank = np.zeros(areas.size, np.int32)
    rank[order] = np.arange(order.size, dtype=np.int32)
    return rank[labels]


def _boxes(labels: np.ndarray, count: int) -> np.ndarray:
    """``int64 (count, 4)``: ``(y0, y1, x0, x1)`` (end exclusive) of each label 0..count-1
    in ``labels`` (``y1 <= y0`` for a label absent)."""
    import torch

    h, w = labels.shape
    flat = torch.from_numpy(labels).flatten().long()
    inside = flat >= 0
    idx = flat[inside]
    pos = torch.arange(h * w)[inside]
    ys, xs = pos // w, pos % w
    y0 = torch.full((count,), h, dtype=torch.long).scatter_reduce_(0, idx, ys, "amin")
    y1 = torch.zeros(count, dtype=torch.long).scatter_reduce_(0, idx, ys + 1, "amax")
    x0 = torch.full((count,), w, dtype=torch.long).scatter_reduce_(0, idx, xs, "amin")
    x1 = torch.zeros(count, dtype=torch.long).scatter_reduce_(0, idx, xs + 1, "amax")
    return torch.stack([y0, y1, x0, x1], 1).numpy()

"""Segment everything with SAM3 (``backends/sam3_everything.py``) on the tiny randomly
initialised tracker (CPU, no weights).

Random weights give arbitrary masks with low predicted quality, so the model tests lower the
quality thresholds and check the contract (the classical engine's: ``int32 (H, W)`` region
numbers 0..n-1, largest first, every pixel in one region); the algorithm (de-duplication,
claim order, specks, upsampling) is checked on synthetic masks with known answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam3roto.backends.sam3_everything import (
    MAX_POINTS_PER_SIDE,
    claim_pixels,
    dedup,
    finish_labels,
    point_grid,
    regions_from_masks,
    segment_everything,
)

#: Keep every mask the random decoder makes (its predicted IoUs are arbitrary).
KEEP_ALL = {"pred_iou_thresh": 0.0, "stability_thresh": 0.0}


@pytest.fixture(scope="module")
def models() -> Any:
    from tests.backends.sam3_tiny import build_tiny_models

    return build_tiny_models(text=False)


def frame(h: int = 90, w: int = 120, seed: int = 0) -> np.ndarray:
    """Blocks of flat colour with noise: something for the random encoder to respond to."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 255, (h // 15 + 1, w // 20 + 1, 3)).astype(np.uint8)
    rgb = cv2.resize(blocks, (w, h), interpolation=cv2.INTER_NEAREST)
    return np.clip(rgb.astype(int) + rng.integers(-10, 10, rgb.shape), 0, 255).astype(np.uint8)


def check_contract(labels: np.ndarray, shape: tuple[int, int]) -> int:
    """Assert the segment-everything contract; return the number of regions."""
    assert labels.shape == shape and labels.dtype == np.int32 and labels.flags.c_contiguous
    n = int(labels.max()) + 1
    areas = np.bincount(labels.ravel())
    assert labels.min() == 0 and len(areas) == n and (areas > 0).all(), "numbers must be 0..n-1, none empty"
    assert (np.diff(areas) <= 0).all(), f"regions must be numbered largest first: {areas}"
    return n


def box_logits(size: tuple[int, int], *boxes: tuple[int, int, int, int]) -> torch.Tensor:
    """``(N, H, W)`` logits: +5 inside each box ``(y0, y1, x0, x1)``, -5 outside."""
    out = torch.full((len(boxes), *size), -5.0)
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        out[i, y0:y1, x0:x1] = 5.0
    return out


# -- the model path ---------------------------------------------------------------------------

def test_regions_follow_the_classical_contract(models: Any) -> None:
    labels = segment_everything(models, frame(), device="cpu", dtype=torch.float32, points_per_side=8, **KEEP_ALL)
    assert check_contract(labels, (90, 120)) > 1


def test_batching_does_not_change_the_result_and_the_frame_is_encoded_once(models: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    encode = models.tracker.get_image_features

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return encode(*args, **kwargs)

    rgb = frame(seed=3)
    whole = segment_everything(models, rgb, device="cpu", dtype=torch.float32, points_per_side=6,
                               points_per_batch=64, **KEEP_ALL)
    monkeypatch.setattr(models.tracker, "get_image_features", counted)
    batched = segment_everything(models, rgb, device="cpu", dtype=torch.float32, points_per_side=6,
                                 points_per_batch=5, **KEEP_ALL)
    assert len(calls) == 1, "the frame must be encoded once for all batches of points"
    np.testing.assert_array_equal(batched, whole)


def test_nothing_confident_leaves_one_region(models: Any) -> None:
    # no mask of the random decoder reaches a predicted IoU of 1: the frame is one region
    labels = segment_everything(models, frame(), device="cpu", dtype=torch.float32, points_per_side=4,
                                pred_iou_thresh=1.0)
    assert labels.shape == (90, 120) and labels.dtype == np.int32 and not labels.any()


def test_real_frame_at_full_size(models: Any, shared_data: Path) -> None:
    path = shared_data / "davis2016" / "JPEGImages" / "480p" / "libby" / "00000.jpg"
    bgr = cv2.imread(str(path))
    assert bgr is not None, path
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    labels = segment_everything(models, rgb, device="cpu", dtype=torch.float32, points_per_side=16, **KEEP_ALL)
    assert check_contract(labels, rgb.shape[:2]) > 1


@pytest.mark.parametrize("value", [0, MAX_POINTS_PER_SIDE + 1, 2.5, True, "32"])
def test_points_per_side_is_checked(models: Any, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"points_per_side must be a whole number from 1 to "
                                         rf"{MAX_POINTS_PER_SIDE}, got {value!r}"):
        segment_everything(models, frame(), device="cpu", dtype=torch.float32, points_per_side=value)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("points_per_batch", 0, "points_per_batch must be a whole number of at least 1, got 0"),
    ("pred_iou_thresh", 1.5, "pred_iou_thresh must be a number from 0 to 1, got 1.5"),
    ("overlap_iou", 0.0, "overlap_iou must be a number above 0 to 1, got 0.0"),
    ("min_area_frac", 1.0, "min_area_frac must be a number from 0 and below 1, got 1.0"),
    ("claim", "biggest", "claim must be one of quality, parts, got 'biggest'"),
])
def test_other_options_are_checked(models: Any, option: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        segment_everything(models, frame(), device="cpu", dtype=torch.float32, **{option: value})


def test_frames_must_be_uint8_rgb(models: Any) -> None:
    with pytest.raises(ValueError, match=r"expected uint8 \(H, W, 3\), got float32"):
        segment_everything(models, frame().astype(np.float32), device="cpu", dtype=torch.float32)


def test_grid_points_sit_at_cell_centres() -> None:
    grid = point_grid(4)
    assert grid.shape == (16, 2) and grid.dtype == np.float32
    np.testing.assert_allclose(grid[:4], [[0.125, 0.125], [0.375, 0.125], [0.625, 0.125], [0.875, 0.125]])


# -- the algorithm on synthetic masks ---------------------------------------------------------

def test_near_identical_masks_become_one_and_the_better_one_wins() -> None:
    size = (64, 64)
    logits = box_logits(size, (8, 40, 8, 40), (8, 40, 9, 41))  # IoU 31/33
    labels = regions_from_masks(logits, torch.tensor([0.8, 0.9]), size, min_area_frac=0.0)
    assert check_contract(labels, size) == 2
    assert labels[20, 20] == labels[20, 40], "the better mask (columns 9-40) is the region"
    assert labels[20, 8] == labels[0, 0] != labels[20, 20], "the worse one (from column 8) is gone"
    swapped = regions_from_masks(logits, torch.tensor([0.9, 0.8]), size, min_area_frac=0.0)
    assert swapped[20, 8] == swapped[20, 20] != swapped[20, 40] == swapped[0, 0]


def test_a_worse_mask_gets_only_the_pixels_left() -> None:
    size = (64, 64)
    logits = box_logits(size, (0, 32, 0, 64), (16, 64, 0, 64))  # overlap: rows 16-31 (IoU 0.25)
    for scores, owner in (([0.9, 0.5], 0), ([0.5, 0.9], 1)):
        labels = regions_from_masks(logits, torch.tensor(scores), size)
        assert check_contract(labels, size) == 2
        top, bottom = labels[0, 0], labels[63, 0]
        assert (labels[:16] == top).all() and (labels[32:] == bottom).all()
        assert (labels[16:32] == (top if owner == 0 else bottom)).all(), f"the overlap belongs to mask {owner}"


def test_claim_parts_keeps_the_parts_of_a_better_whole() -> None:
    size = (60, 80)
    logits = box_logits(size, (10, 50, 10, 70), (20, 30, 20, 40))  # a whole and a part inside it
    scores = torch.tensor([0.95, 0.9])
    quality = regions_from_masks(logits, scores, size)
    assert check_contract(quality, size) == 2 and quality[25, 30] == quality[15, 15], "the whole takes its part"
    parts = regions_from_masks(logits, scores, size, claim="parts")
    assert check_contract(parts, size) == 3
    assert parts[25, 30] != parts[15, 15] != parts[0, 0]
    assert (parts == parts[25, 30]).sum() == 200, "the part is a region of its own"


def test_specks_join_a_neighbour_and_leftovers_become_regions() -> None:
    claimed = np.full((40, 60), -1, np.int32)
    claimed[:, :30] = 0          # a mask on the left half
    claimed[5:7, 40:42] = 1      # a 4 px piece of another mask in the free right half: a speck
    claimed[20:22, 10:12] = -1   # a 4 px hole in the left mask
    labels = finish_labels(claimed, min_area_px=10)
    assert check_contract(labels, (40, 60)) == 2
    assert (labels[:, :30] == labels[0, 0]).all(), "the hole joins the mask around it"
    assert (labels[:, 30:] == labels[0, 59]).all() and labels[0, 59] != labels[0, 0], \
        "the free right half is a region, the speck part of it"
    assert claimed[5, 40] == 1, "the input is left as it was"


def test_nothing_claimed_is_one_region() -> None:
    labels = regions_from_masks(torch.zeros((0, 16, 16)), torch.zeros(0), (30, 50))
    assert labels.shape == (30, 50) and labels.dtype == np.int32 and not labels.any()


def test_dedup_keeps_the_best_of_each_overlapping_set() -> None:
    masks = box_logits((32, 32), (0, 16, 0, 16), (0, 16, 0, 16), (16, 32, 16, 32), (0, 0, 0, 0)) > 0
    kept = dedup(masks, torch.tensor([0.5, 0.7, 0.6, 0.9]), 0.7)
    assert kept.tolist() == [3, 1, 2], "best first; the copy of mask 1 goes; an empty mask overlaps nothing"
    big = F.interpolate(masks[None].float(), size=(300, 300))[0] > 0.5  # compared at NMS_SIDE
    assert dedup(big, torch.tensor([0.5, 0.7, 0.6, 0.9]), 0.7).tolist() == [3, 1, 2]


def test_claim_pixels_upsamples_like_interpolate() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn((12, 24, 24), generator=gen) * 3 + torch.linspace(-3, 3, 12)[:, None, None]
    for size in ((90, 120), (7, 300), (24, 24)):
        up = F.interpolate(logits[:, None], size=size, mode="bilinear", align_corners=False)[:, 0] > 0
        expected = torch.where(up.any(0), up.to(torch.uint8).argmax(0).to(torch.int32), -1)
        got = claim_pixels(logits, size)
        assert got.dtype == torch.int32 and got.shape == size
        # the same maths in another order: only pixels whose logit rounds across 0 may differ
        assert (got != expected).float().mean() < 1e-3, size

"""Reuse of big output arrays: only once nobody refers to them any more."""

from __future__ import annotations

import numpy as np

from sam3roto.post import PostSettings, apply
from sam3roto.post.buffers import MIN_BYTES, RGB, ArrayPool

BIG = (1100, 2000, 4)  # float32: 35 MB, above MIN_BYTES


def test_a_released_array_is_handed_out_again_a_held_one_never() -> None:
    pool = ArrayPool()
    first = pool.empty(BIG, np.float32)
    first_id = id(first)
    second = pool.empty(BIG, np.float32)
    assert second is not first  # still held by `first`
    del first
    third = pool.empty(BIG, np.float32)
    assert id(third) == first_id  # released: reused
    view = third[10:20]
    del third
    fourth = pool.empty(BIG, np.float32)
    assert fourth is not second and view.base is not fourth  # a view keeps its array from reuse
    assert pool.empty(BIG, np.float64) is not fourth  # another dtype: a new array
    assert pool.empty((BIG[0], BIG[1] + 1, BIG[2]), np.float32).shape == (BIG[0], BIG[1] + 1, BIG[2])


def test_small_arrays_are_not_pooled() -> None:
    pool = ArrayPool()
    small = pool.empty((MIN_BYTES // 8,), np.float32)
    assert small.shape == (MIN_BYTES // 8,) and small.dtype == np.float32
    big = pool.empty(BIG, np.float32)
    assert len(pool._arrays) == 1 and pool._arrays[0] is big
    pool.clear()
    assert pool._arrays == []


def test_results_kept_by_the_caller_are_never_overwritten() -> None:
    rng = np.random.default_rng(0)
    h, w = 2160, 2000  # the RGB result is 52 MB: pooled
    mask = np.zeros((h, w), bool)
    mask[600:1500, 500:1400] = True
    settings = PostSettings(despill="green", luminance_restore=1.0)
    kept = []
    for _ in range(3):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        result = apply(image, mask, settings)
        assert result.rgb is not None
        kept.append((image, result.rgb))
    ids = {id(rgb) for _, rgb in kept}
    assert len(ids) == 3
    for image, rgb in kept:  # each result is still its own frame's
        np.testing.assert_allclose(rgb[:100], image[:100].astype(np.float32) / 255, atol=1e-7)
    del kept, result, rgb
    again = apply(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), mask, settings).rgb
    assert again is not None
    RGB.clear()

"""The classical engine's prompts: constraints hold, results do not depend on the click
history, and the causes of clicks landing on the wrong side are gone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sam3roto.backends.classic.segment import keep_prompted_components, mask_from_prompts, pin_clicks
from sam3roto.backends.constraints import obey_prompts, obeys
from sam3roto.backends.registry import create_engine
from sam3roto.core.evaluation import prompts_from_mask
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt
from sam3roto.media.memory import ArraySource
from sam3roto.media.source import open_media
from tests.backends.test_classic import moving_object_clip
from tests.conftest import SyntheticClip


@pytest.fixture(scope="module")
def clip() -> SyntheticClip:
    return moving_object_clip()


def random_prompts(rng: np.random.Generator, truth: np.ndarray, box: bool) -> list[Prompt]:
    """1-6 clicks, most on the object and some off it (anywhere in the frame), after an
    optional box that may cut the object."""
    h, w = truth.shape
    ys, xs = np.nonzero(truth)
    out: list[Prompt] = []
    if box:
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        j = rng.uniform(-0.2, 0.2, 4) * [x1 - x0, y1 - y0, x1 - x0, y1 - y0]
        out.append(BoxPrompt(max(0.0, x0 + j[0]), max(0.0, y0 + j[1]), min(w, x1 + j[2]), min(h, y1 + j[3])))
    for _ in range(rng.integers(1, 7)):
        if rng.random() < 0.6:
            i = rng.integers(xs.size)
            out.append(PointPrompt(float(xs[i]), float(ys[i]), bool(rng.random() < 0.85)))
        else:
            out.append(PointPrompt(float(rng.uniform(0, w)), float(rng.uniform(0, h)), bool(rng.random() < 0.3)))
    return out


def test_random_prompts_always_hold_on_synthetic_frames(clip):
    rng = np.random.default_rng(5)
    s = create_engine("classic").open_session(ArraySource(clip.frames))
    for k in range(8):
        frame = int(rng.integers(len(clip.frames)))
        prompts = random_prompts(rng, clip.masks[frame], box=k % 2 == 0)
        mask = s.set_prompts(frame, 1 + k, prompts)[1 + k]
        assert obeys(mask, prompts), prompts


def test_random_prompts_always_hold_on_real_frames(shared_data):
    from PIL import Image

    seq = shared_data / "davis2016"
    names = sorted((seq / "Annotations/480p/libby").glob("*.png"))
    rng = np.random.default_rng(9)
    source = open_media(seq / "JPEGImages/480p/libby")
    try:
        s = create_engine("classic").open_session(source)
        for k in range(6):
            frame = int(rng.integers(len(names)))
            truth = np.asarray(Image.open(names[frame])) > 0
            prompts = random_prompts(rng, truth, box=k % 3 == 0)
            assert obeys(s.set_prompts(frame, 1, prompts)[1], prompts), prompts
    finally:
        source.close()


def test_tracking_starts_from_the_constrained_mask(clip):
    s = create_engine("classic").open_session(ArraySource(clip.frames))
    # A positive click far off the object: the engine's mask misses it, the constraint adds it.
    prompts: list[Prompt] = [*prompts_from_mask(clip.masks[0]), PointPrompt(300, 220, True)]
    raw = s._set_prompts(0, 1, list(prompts))[1]
    assert not raw[220, 300]
    shown = s.set_prompts(0, 1, prompts)[1]
    assert shown[220, 300] and obeys(shown, prompts)
    assert np.array_equal(s._key[1][0].unpack(), shown)  # the keyframe the tracker anchors on
    first = next(s.propagate(0, "forward", 3))
    assert first.frame == 0 and np.array_equal(first.masks[1], shown) and first.scores[1] == 1.0


def two_colour_clip(n: int = 8) -> np.ndarray:
    """A still shot of a red and blue block on a textured background: a click on one half
    gives that half, so what was clicked before shows in the result if it leaks in."""
    rng = np.random.default_rng(2)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (0, 0), 3)
    frames = np.repeat(cv2.normalize(bg, None, 40, 160, cv2.NORM_MINMAX)[None], n, 0)
    frames[:, 80:160, 100:160] = (220, 40, 40)
    frames[:, 80:160, 160:220] = (40, 60, 220)
    return frames


def test_the_same_prompts_give_the_same_mask_whatever_was_clicked_before():
    frames = two_colour_clip()

    def fresh():  # type: ignore[no-untyped-def]
        return create_engine("classic").open_session(ArraySource(frames))

    red, blue, out = PointPrompt(130, 120, True), PointPrompt(190, 120, True), PointPrompt(250, 120, False)
    clicks: list[Prompt] = [red, blue, out]
    # A frame no tracking reached.
    want = fresh().set_prompts(4, 1, clicks)[1]
    s = fresh()
    assert s.set_prompts(4, 1, [red])[1][:, 160:].sum() < 0.1 * want.sum()  # one click: one half
    assert np.array_equal(s.set_prompts(4, 1, clicks)[1], want)
    s.set_prompts(4, 1, [blue, out])
    s.add_mask(4, 1, frames[0, ..., 0] > 200)
    assert np.array_equal(s.set_prompts(4, 1, clicks)[1], want)

    # A tracked frame: clicks refine the tracked mask, never the last clicked result.
    def tracked():  # type: ignore[no-untyped-def]
        t = fresh()
        t.set_prompts(0, 1, [red, PointPrompt(140, 100, True)])
        for _ in t.propagate(0, "forward", 6):
            pass
        return t

    want = tracked().set_prompts(4, 1, [blue])[1]
    s = tracked()
    s.set_prompts(4, 1, [blue, out])
    s.set_prompts(4, 1, [])
    s.add_mask(4, 1, frames[0, ..., 2] > 200)
    assert np.array_equal(s.set_prompts(4, 1, [blue])[1], want)
    # Re-tracking keeps frame 4 a keyframe: clicks there still refine the same tracked mask.
    for _ in s.propagate(0, "forward", 6):
        pass
    s.set_prompts(4, 1, [red, out])
    assert np.array_equal(s.set_prompts(4, 1, [blue])[1], want)
    box: list[Prompt] = [BoxPrompt(90, 70, 230, 170), blue]
    want = tracked().set_prompts(4, 1, box)[1]
    s.set_prompts(4, 1, [BoxPrompt(90, 70, 230, 170), red])
    assert np.array_equal(s.set_prompts(4, 1, box)[1], want)


def test_a_negative_click_next_to_a_positive_one_does_not_paint_over_it():
    labels = np.full((60, 80), cv2.GC_PR_FGD, np.uint8)
    clicks: list[Prompt] = [PointPrompt(30, 30, True), PointPrompt(36, 30, False), PointPrompt(60, 30, False)]
    pin_clicks(labels, clicks, radius=10)
    assert labels[30, 30] == cv2.GC_FGD and labels[30, 36] == cv2.GC_BGD
    assert labels[30, 60] == cv2.GC_BGD and labels[30, 51] == cv2.GC_BGD  # a lone click keeps its whole disc
    # Whichever order they come in.
    labels[:] = cv2.GC_PR_FGD
    pin_clicks(labels, clicks[::-1], radius=10)
    assert labels[30, 30] == cv2.GC_FGD and labels[30, 36] == cv2.GC_BGD


def test_a_hole_with_a_negative_click_is_not_filled():
    mask = np.zeros((100, 100), bool)
    mask[10:90, 10:90] = True
    mask[40:45, 40:45] = False
    mask[60:65, 60:65] = False
    out = keep_prompted_components(mask, [PointPrompt(20, 20, True), PointPrompt(42, 42, False)])
    assert not out[42, 42] and out[62, 62]


def test_spread_clicks_do_not_take_the_whole_frame():
    """Positive clicks spread over an object used to make the region the whole frame: with
    no background left to learn from, the mask was the whole frame."""
    rng = np.random.default_rng(0)
    rgb = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (0, 0), 2)
    rgb[60:180, 80:240] = (200, 40, 40)
    clicks: list[Prompt] = [PointPrompt(90, 70, True), PointPrompt(230, 170, True), PointPrompt(160, 120, True)]
    mask = mask_from_prompts(rgb, clicks)
    assert mask.mean() < 0.5
    assert mask[60:180, 80:240].mean() > 0.9


def test_clicks_refine_in_order_and_one_more_click_costs_one_refinement():
    """Points only: the mask of clicks 1..n is that of clicks 1..n-1 refined with all n (a
    fresh start from many spread clicks leaks onto the background); taking the last click
    back gives the earlier mask again, without segmenting anew."""
    frames = two_colour_clip()
    s = create_engine("classic").open_session(ArraySource(frames))
    calls = {"n": 0}
    segment = s._segment

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return segment(*args, **kwargs)

    s._segment = counted  # type: ignore[method-assign]
    red, blue, out = PointPrompt(130, 120, True), PointPrompt(190, 120, True), PointPrompt(250, 120, False)
    one = s.set_prompts(3, 1, [red])[1]
    two = s.set_prompts(3, 1, [red, blue])[1]
    three = s.set_prompts(3, 1, [red, blue, out])[1]
    assert calls["n"] == 3
    assert np.array_equal(s.set_prompts(3, 1, [red, blue])[1], two) and calls["n"] == 3
    assert np.array_equal(s.set_prompts(3, 1, [red])[1], one) and calls["n"] == 3
    refined = obey_prompts(mask_from_prompts(s.frame(3), [red, blue], prior=one), [red, blue])
    assert np.array_equal(two, refined) and obeys(three, [red, blue, out])
    # Another order is another refinement path, computed afresh.
    s.set_prompts(3, 1, [blue, red])
    assert calls["n"] == 5


def test_one_click_on_a_tracked_frame_keeps_the_rest_of_the_tracked_mask(shared_data) -> None:
    """A correction click refines the tracked mask where it is; the region GrabCut works in
    holds the whole tracked mask (a click used to cut it to its own surroundings: blackswan
    frame 12 fell from J 0.92 to 0.48)."""
    from PIL import Image

    from sam3roto.backends.registry import create_engine
    from sam3roto.core.evaluation import jaccard
    from sam3roto.core.types import PointPrompt
    from sam3roto.media.source import open_media

    seq = shared_data / "davis2016"
    truth = np.asarray(Image.open(seq / "Annotations/480p/blackswan/00012.png")) > 0
    source = open_media(seq / "JPEGImages/480p/blackswan")
    try:
        session = create_engine("classic").open_session(source)
        session.set_tracked(12, 1, truth)
        ys, xs = truth.nonzero()
        mask = session.set_prompts(12, 1, [PointPrompt(float(xs.mean()), float(ys.mean()), True)])[1]
        assert jaccard(mask, truth) > 0.85
        session.close()
    finally:
        source.close()

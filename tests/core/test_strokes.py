"""Hand corrections: strokes rasterised at any size, validated where they are read, and kept
in the project (keyframe corrections, touch-ups, keyed post settings) through a save."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project, Shot
from sam3roto.core.project_io import load_project, save_project
from sam3roto.core.strokes import (
    MAX_STROKE_POINTS,
    MAX_STROKES,
    Stroke,
    TouchUp,
    apply_to_mask,
    apply_to_matte,
    coverage,
    strokes_from_list,
    touchups_at,
)
from sam3roto.core.types import PointPrompt
from sam3roto.errors import ProjectError

H, W = 48, 64


def _blank(h: int = H, w: int = W) -> np.ndarray:
    return np.zeros((h, w), np.float32)


def _dab(x: float, y: float, radius: float = 8.0, **kw: object) -> Stroke:
    return Stroke("brush", kw.pop("mode", "add"), [(x, y)], radius=radius, **kw)  # type: ignore[arg-type]


def _square(x0: float, y0: float, x1: float, y1: float, mode: str = "add", **kw: object) -> Stroke:
    return Stroke("shape", mode, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], **kw)  # type: ignore[arg-type]


# -- rasterising ------------------------------------------------------------------------


def test_a_hard_dab_is_a_disc_centred_on_its_point() -> None:
    """Pixel (i, j) is source point (j + 0.5, i + 0.5): a dab at (32, 24) is centred between
    pixels 31 and 32 (and 23 and 24), filled inside, empty beyond its radius."""
    r = 10.0
    matte = apply_to_matte(_blank(), [_dab(32, 24, r)])
    assert matte.dtype == np.float32 and matte.min() >= 0.0 and matte.max() == 1.0
    yy, xx = np.mgrid[0:H, 0:W]
    dist = np.hypot(xx + 0.5 - 32, yy + 0.5 - 24)
    assert (matte[dist <= r - 1.5] == 1.0).all()
    assert (matte[dist >= r + 1.5] < 0.05).all() and (matte[dist >= r + 2.5] == 0.0).all()
    total = matte.sum()
    cx, cy = (matte * xx).sum() / total, (matte * yy).sum() / total
    assert cx == pytest.approx(31.5, abs=0.05) and cy == pytest.approx(23.5, abs=0.05)
    # the matte and the mask describe the same disc
    mask = apply_to_mask(None, [_dab(32, 24, r)], (H, W))
    assert mask.dtype == np.bool_ and abs(int(mask.sum()) - total) < 0.05 * total
    assert math.pi * (r - 1) ** 2 < total < math.pi * (r + 1) ** 2


@pytest.mark.parametrize("r", [6.0, 10.0, 20.0])
def test_a_dab_covers_pi_r_squared_and_a_square_its_area(r: float) -> None:
    big = _blank(128, 128)
    disc = apply_to_matte(big, [_dab(64, 64, r)])
    assert disc.sum() == pytest.approx(math.pi * r * r, rel=0.04)
    square = apply_to_matte(big, [_square(10, 10, 30, 30)])
    assert square.sum() == pytest.approx(400, rel=0.02)
    want = np.zeros((128, 128), bool)
    want[10:30, 10:30] = True  # the pixels whose centres lie inside
    np.testing.assert_array_equal(apply_to_mask(None, [_square(10, 10, 30, 30)], (128, 128)), want)
    # so a display at half size covers what the full-size render does (12% more now)
    strokes = [Stroke("brush", "add", [(20, 20), (80, 60), (100, 30)], radius=r), _square(70, 70, 110, 100)]
    full = apply_to_matte(big, strokes)
    half = apply_to_matte(_blank(64, 64), strokes, scale=0.5)
    assert half.sum() * 4 == pytest.approx(full.sum(), rel=0.04)


def test_a_square_shape_fills_its_inside_and_nothing_beyond_its_edge() -> None:
    mask = apply_to_mask(None, [_square(10, 10, 30, 30)], (H, W))
    assert mask[11:29, 11:29].all()  # every pixel well inside
    outside = np.ones((H, W), bool)
    outside[8:32, 8:32] = False
    assert not mask[outside].any()
    assert 18 * 18 < mask.sum() < 22 * 22
    # a triangle: half the square's area, on the right side of the diagonal
    tri = apply_to_matte(_blank(), [Stroke("shape", "add", [(10, 10), (30, 10), (30, 30)])])
    square = apply_to_matte(_blank(), [_square(10, 10, 30, 30)])
    assert tri.sum() == pytest.approx(square.sum() / 2, rel=0.1)
    assert tri[12, 27] == 1.0 and tri[27, 12] == 0.0


def test_subtract_removes_and_the_order_of_strokes_matters() -> None:
    full = np.ones((H, W), np.float32)
    cut = apply_to_matte(full, [_dab(32, 24, 8, mode="subtract")])
    assert cut[24, 32] == 0.0 and cut[2, 2] == 1.0 and cut.sum() < full.sum() - 150
    assert full.min() == 1.0  # a copy: the matte given is untouched
    add, sub = _square(20, 10, 44, 38), _dab(32, 24, 8, mode="subtract")
    hole = apply_to_matte(_blank(), [add, sub])
    filled = apply_to_matte(_blank(), [sub, add])
    assert hole[24, 32] == 0.0 and filled[24, 32] == 1.0
    assert hole[12, 22] == filled[12, 22] == 1.0
    # the mask paints in order too
    mask_hole = apply_to_mask(None, [add, sub], (H, W))
    mask_filled = apply_to_mask(None, [sub, add], (H, W))
    assert not mask_hole[24, 32] and mask_filled[24, 32]
    assert mask_filled.sum() > mask_hole.sum() + 150


def test_apply_to_mask_paints_over_a_mask_and_leaves_it_untouched() -> None:
    base = np.zeros((H, W), bool)
    base[:, :20] = True
    out = apply_to_mask(base, [_square(40, 10, 60, 30), _square(0, 0, 10, 48, mode="subtract")], (H, W))
    assert out[20, 50] and not out[20, 5] and out[20, 15]
    assert base[20, 5] and not base[20, 50]  # a copy
    with pytest.raises(ValueError, match="mask is 64x48, the frame 32x24"):
        apply_to_mask(base, [], (24, 32))


def test_softness_gives_intermediate_values_and_a_hard_edge_none_away_from_the_edge() -> None:
    yy, xx = np.mgrid[0:H, 0:W]
    dist = np.hypot(xx + 0.5 - 32, yy + 0.5 - 24)
    hard = apply_to_matte(_blank(), [_dab(32, 24, 12)])
    partial = (hard > 0.02) & (hard < 0.98)
    assert partial.any() and (np.abs(dist[partial] - 12) < 1.5).all()  # only the anti-aliased rim
    soft = apply_to_matte(_blank(), [_dab(32, 24, 12, softness=0.5)])
    ramp = (soft > 0.05) & (soft < 0.95)
    assert ramp.sum() > 3 * partial.sum()
    assert (dist[ramp] < 12 - 2).any() and (dist[ramp] <= 12 + 1).all()  # a fade inwards from the radius
    # the fade falls off with distance along a ray from the centre
    row = soft[23, 31:]
    assert (np.diff(row) <= 1e-4).all() and row[0] > 0.9 and row[-1] < 0.01
    # a soft shape feathers too, a hard one does not
    shape = apply_to_matte(_blank(), [_square(16, 12, 48, 36, radius=8, softness=1.0)])
    assert ((shape > 0.05) & (shape < 0.95)).sum() > 200
    assert shape[24, 32] > 0.99


def test_a_fully_soft_dab_still_reaches_full_coverage_at_its_centre() -> None:
    matte = apply_to_matte(_blank(), [_dab(32, 24, 10, softness=1.0)])
    assert matte.max() > 0.9
    assert apply_to_mask(None, [_dab(32, 24, 10, softness=1.0)], (H, W)).sum() > 50


def test_pressure_scales_the_radius_along_the_stroke() -> None:
    stroke = Stroke("brush", "add", [(8, 24), (56, 24)], radius=8, pressure=[1.0, 0.25])
    mask = apply_to_mask(None, [stroke], (H, W))
    thick, thin = int(mask[:, 10].sum()), int(mask[:, 54].sum())
    assert 14 <= thick <= 19 and 3 <= thin <= 6
    assert mask[:, 20].sum() >= mask[:, 40].sum()  # tapers, never grows
    full = apply_to_mask(None, [Stroke("brush", "add", [(8, 24), (56, 24)], radius=8)], (H, W))
    assert full[:, 54].sum() == full[:, 10].sum() and full.sum() > mask.sum() + 100
    # the path between the points is painted, not just the two dabs
    assert mask[24, 8:56].all()


@pytest.mark.parametrize("stroke", [
    _dab(-40, 24, 8), _dab(32, 200, 8), _dab(W + 30, -30, 8),
    _square(-50, -50, -20, -20), _square(W + 5, 0, W + 40, H),
])
def test_strokes_off_the_frame_change_nothing(stroke: Stroke) -> None:
    assert coverage(stroke, (H, W)) is None
    base = np.full((H, W), 0.25, np.float32)
    np.testing.assert_array_equal(apply_to_matte(base, [stroke]), base)
    mask = np.zeros((H, W), bool)
    mask[10:20, 10:20] = True
    np.testing.assert_array_equal(apply_to_mask(mask, [stroke], (H, W)), mask)


def test_a_stroke_crossing_the_frame_edge_paints_the_part_inside() -> None:
    mask = apply_to_mask(None, [_dab(0, 24, 10)], (H, W))
    assert mask[24, 0:8].all() and not mask[24, 12:].any()
    got = coverage(_dab(0, 24, 10), (H, W))
    assert got is not None
    alpha, (x0, y0, x1, y1) = got
    assert x0 == 0 and alpha.shape == (y1 - y0, x1 - x0) and 0 < x1 < W


def test_half_scale_coverage_matches_the_full_size_raster_downscaled() -> None:
    strokes = [Stroke("brush", "add", [(20, 20), (80, 60), (100, 30)], radius=9),
               Stroke("shape", "subtract", [(40, 20), (90, 25), (60, 70)]),
               _dab(30, 70, 12, softness=0.5)]
    full = apply_to_matte(_blank(96, 128), strokes)
    half = apply_to_matte(_blank(48, 64), strokes, scale=0.5)
    down = cv2.resize(full, (64, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(half - down).mean() < 0.05
    a, b = half >= 0.5, down >= 0.5
    assert (a & b).sum() / (a | b).sum() > 0.8  # (0.85 now; see the half-pixel bias below)
    wrong = apply_to_matte(_blank(48, 64), strokes)  # what ignoring the scale would give
    assert np.abs(wrong - down).mean() > 2 * np.abs(half - down).mean()
    # an offset rasterises a crop: a hard shape wholly inside it is the full raster's pixels
    shape = [_square(40, 30, 60, 50)]
    crop = apply_to_matte(_blank(40, 40), shape, offset=(30, 20))
    np.testing.assert_allclose(crop, apply_to_matte(_blank(96, 128), shape)[20:60, 30:70], atol=1e-6)
    # and scale and offset together: source (30, 20) is the crop's corner
    both = apply_to_matte(_blank(20, 20), shape, scale=0.5, offset=(30, 20))
    np.testing.assert_allclose(both, apply_to_matte(_blank(48, 64), shape, scale=0.5)[10:30, 15:35], atol=1e-6)


def test_a_soft_stroke_is_as_strong_at_the_frame_edge_as_inside() -> None:
    stroke = _dab(2, 24, 10, softness=0.5)
    edge = apply_to_matte(_blank(), [stroke])
    wider = apply_to_matte(_blank(H, W + 20), [stroke], offset=(-20, 0))
    np.testing.assert_allclose(edge, wider[:, 20:], atol=0.02)


def test_touchups_at_gives_the_strokes_of_every_range_covering_the_frame_in_order() -> None:
    a, b, c = _dab(10, 10), _dab(20, 20), _square(0, 0, 5, 5)
    touchups = [TouchUp(2, 3, [a, b]), TouchUp(0, 9, [c]), TouchUp(5, 5, [a])]
    assert touchups_at(touchups, 2) == [a, b, c]
    assert touchups_at(touchups, 4) == [c]
    assert touchups_at(touchups, 5) == [c, a]
    assert touchups_at(touchups, 10) == []
    assert TouchUp(2, 3).covers(3) and not TouchUp(2, 3).covers(4)


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "spray"}, "kind must be one of brush, shape, not 'spray'"),
    ({"mode": "invert"}, "mode must be one of add, subtract, not 'invert'"),
    ({"points": []}, "a stroke needs at least one point"),
    ({"kind": "shape", "points": [(0, 0), (5, 5)]}, "a shape needs at least 3 points, not 2"),
    ({"points": [(1, float("nan"))]}, "point coordinates must be finite"),
    ({"points": [(float("inf"), 1)]}, "point coordinates must be finite"),
    ({"points": [(2.0**25, 1)]}, "point coordinates must be finite"),
    ({"radius": 0.0}, "radius must be 0.5 to 2048 px"),
    ({"radius": float("nan")}, "radius must be"),
    ({"radius": 5000.0}, "radius must be"),
    ({"softness": 1.5}, "softness must be 0 to 1"),
    ({"softness": -0.1}, "softness must be 0 to 1"),
    ({"pressure": [1.0]}, "pressure has 1 values for 2 points"),
    ({"pressure": [1.0, 0.0]}, r"pressure values must lie in \(0, 1\]"),
    ({"pressure": [1.0, float("nan")]}, r"pressure values must lie in \(0, 1\]"),
])
def test_a_bad_stroke_is_refused_saying_what_is_wrong(kwargs: dict, message: str) -> None:
    values = {"kind": "brush", "mode": "add", "points": [(1, 2), (3, 4)], **kwargs}
    with pytest.raises(ValueError, match=message):
        Stroke(**values)


def test_too_many_points_are_refused_both_ways() -> None:
    points = [(float(i % 50), 1.0) for i in range(MAX_STROKE_POINTS + 1)]
    with pytest.raises(ValueError, match=f"{MAX_STROKE_POINTS + 1} points, over the limit of {MAX_STROKE_POINTS}"):
        Stroke("brush", "add", points)
    with pytest.raises(ValueError, match="over the limit"):
        Stroke.from_dict({"kind": "brush", "points": [[1, 1]] * (MAX_STROKE_POINTS + 1)})
    assert len(Stroke("brush", "add", points[:MAX_STROKE_POINTS]).points) == MAX_STROKE_POINTS
    with pytest.raises(ValueError, match=f"strokes, over the limit of {MAX_STROKES}"):
        strokes_from_list([{"kind": "brush", "points": [[1, 1]]}] * (MAX_STROKES + 1))


@pytest.mark.parametrize(("data", "message"), [
    ([1, 2], "a stroke must be a JSON object"),
    ({"kind": "brush", "points": [[1, 1]], "colour": 3}, "unknown stroke fields: colour"),
    ({"kind": "brush", "points": "1,1"}, r"points must be a list of \[x, y\] pairs"),
    ({"kind": "brush", "points": [[1, 1], [2]]}, r"points\[1\] must be \[x, y\] numbers"),
    ({"kind": "brush", "points": [[1, True]]}, r"points\[0\] must be \[x, y\] numbers"),
    ({"kind": "brush", "points": [[1, "2"]]}, r"points\[0\] must be \[x, y\] numbers"),
    ({"kind": "brush", "points": [[1, 1]], "pressure": [0.5, "x"]}, "pressure must be a list of numbers"),
    ({"kind": "brush", "points": [[1, 1]], "radius": "8"}, "radius must be a number"),
    ({"kind": "brush", "points": [[1, 1]], "softness": None}, "softness must be a number"),
    ({"points": [[1, 1]]}, "kind and mode must be strings"),
    ({"kind": "brush", "mode": 1, "points": [[1, 1]]}, "kind and mode must be strings"),
    ({"kind": "shape", "points": [[1, 1], [2, 2]]}, "a shape needs at least 3 points"),
])
def test_from_dict_refuses_what_a_file_cannot_mean(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Stroke.from_dict(data)


def test_strokes_from_list_names_the_stroke_that_is_wrong() -> None:
    good = {"kind": "brush", "points": [[1, 1]]}
    with pytest.raises(ValueError, match="stroke 3: mode must be one of add, subtract"):
        strokes_from_list([good, good, {**good, "mode": "xor"}])
    with pytest.raises(ValueError, match="strokes must be a list"):
        strokes_from_list({"kind": "brush"})
    assert strokes_from_list([]) == []


@pytest.mark.parametrize("stroke", [
    Stroke("brush", "add", [(1.25, 2.5)]),
    Stroke("brush", "subtract", [(0, 0), (10.125, 3), (20, 7.5)], radius=3.5, softness=0.25,
           pressure=(1.0, 0.5, 0.125)),
    Stroke("shape", "add", [(0, 0), (10, 0), (5, 8)]),
    Stroke("shape", "subtract", [(0, 0), (10, 0), (5, 8), (-3, 4)], radius=6, softness=0.75),
])
def test_to_dict_from_dict_round_trip(stroke: Stroke) -> None:
    data = json.loads(json.dumps(stroke.to_dict()))
    assert Stroke.from_dict(data) == stroke
    assert set(data) <= {"kind", "mode", "points", "radius", "softness", "pressure"}
    # a default mode is add
    data.pop("mode")
    assert Stroke.from_dict(data).mode == "add"


# -- the project ---------------------------------------------------------------------------

FRAMES = 16


def _project() -> Project:
    shot = Shot(media="plate.####.png", frame_count=FRAMES, fps=Fraction(24), width=W, height=H,
                frame_numbers=list(range(1001, 1001 + FRAMES)))
    project = Project(shot=shot)
    project.add_object("swan")
    return project


def _corrected_project() -> Project:
    project = _project()
    fix = Stroke("brush", "subtract", [(10, 10), (20, 12)], radius=4, softness=0.5, pressure=(1.0, 0.5))
    project.set_prompts(1, 0, [PointPrompt(30, 20, True)])
    project.set_strokes(1, 0, [fix])
    project.set_strokes(1, 6, [_square(5, 5, 25, 30)])  # strokes alone make a keyframe
    project.set_strokes(1, 9, [_dab(40, 20)], key_mask=True)
    project.add_touchup(1, 3, 5, _dab(50, 30, 6))
    project.add_touchup(1, 5, 3, _square(0, 0, 8, 8, mode="subtract"))  # same range, given backwards
    project.add_touchup(1, 7, 7, _dab(1, 1))
    project.object(1).post_keys = {0: {"grow_px": 0}, 12: {"grow_px": 6, "feather_px": 2.0}}
    return project


def test_corrections_touchups_and_post_keys_are_kept_in_the_project() -> None:
    project = _corrected_project()
    obj = project.object(1)
    assert [(k.frame, len(k.prompts), k.mask, len(k.strokes)) for k in project.keyframes_of(1)] == \
        [(0, 1, False, 1), (6, 0, False, 1), (9, 0, True, 1)]
    assert [(t.first, t.last, len(t.strokes)) for t in obj.touchups] == [(3, 5, 2), (7, 7, 1)]
    # setting prompts or a key mask keeps the strokes; set_strokes keeps the prompts
    project.set_prompts(1, 6, [PointPrompt(10, 10, True)])
    project.set_key_mask(1, 6)
    key = project.keyframe(1, 6)
    assert key is not None and key.mask and len(key.prompts) == 1 and key.strokes == [_square(5, 5, 25, 30)]
    with pytest.raises(ValueError, match="outside the shot"):
        project.set_strokes(1, FRAMES, [_dab(1, 1)])
    with pytest.raises(ValueError, match="outside the shot"):
        project.add_touchup(1, 2, FRAMES, _dab(1, 1))
    with pytest.raises(KeyError):
        project.set_strokes(7, 0, [_dab(1, 1)])


def test_removing_the_last_stroke_removes_a_keyframe_holding_nothing_else() -> None:
    project = _corrected_project()
    assert project.set_strokes(1, 6, []) is None and project.keyframe(1, 6) is None
    key = project.set_strokes(1, 0, [])
    assert key is not None and key.strokes == [] and len(key.prompts) == 1  # its prompts keep it
    key = project.set_strokes(1, 9, [])
    assert key is not None and key.mask  # its key mask keeps it
    assert project.set_strokes(1, 9, [], key_mask=False) is None
    assert [k.frame for k in project.keyframes_of(1)] == [0]


def test_clear_touchups_removes_every_range_covering_the_frame() -> None:
    project = _corrected_project()
    project.add_touchup(1, 0, 15, _dab(2, 2))
    project.clear_touchups(1, 4)
    assert [(t.first, t.last) for t in project.object(1).touchups] == [(7, 7)]
    project.clear_touchups(1, 0)
    assert [(t.first, t.last) for t in project.object(1).touchups] == [(7, 7)]  # none covered frame 0
    project.clear_touchups(1, 7)
    assert project.object(1).touchups == []


def test_project_round_trip_through_a_dict_and_a_file(tmp_path: Path) -> None:
    project = _corrected_project()
    data = json.loads(json.dumps(project.to_dict()))
    again = Project.from_dict(data)
    assert again.to_dict() == project.to_dict()
    obj = again.object(1)
    assert obj.post_keys == {0: {"grow_px": 0}, 12: {"grow_px": 6, "feather_px": 2.0}}
    assert [(t.first, t.last, t.strokes) for t in obj.touchups] == \
        [(t.first, t.last, t.strokes) for t in project.object(1).touchups]
    assert again.keyframe(1, 0).strokes == project.keyframe(1, 0).strokes  # type: ignore[union-attr]
    # the file
    path = save_project(project, tmp_path / "shot.sam3roto")
    raw = json.loads(path.read_text())
    assert raw["objects"][0]["post_keys"] == {"0": {"grow_px": 0}, "12": {"grow_px": 6, "feather_px": 2.0}}
    assert [t["first"] for t in raw["objects"][0]["touchups"]] == [3, 7]
    assert [k.get("strokes", []) != [] for k in raw["keyframes"]] == [True, True, True]
    loaded = load_project(path)
    assert loaded.object(1).touchups == project.object(1).touchups
    assert loaded.object(1).post_keys == project.object(1).post_keys
    assert [(k.frame, k.strokes, k.mask) for k in loaded.keyframes_of(1)] == \
        [(k.frame, k.strokes, k.mask) for k in project.keyframes_of(1)]
    # a project without any of it writes none of the new keys (older readers keep working)
    plain = _project()
    plain.set_prompts(1, 0, [PointPrompt(3, 3, True)])
    text = json.dumps(plain.to_dict())
    assert "strokes" not in text and "touchups" not in text and "post_keys" not in text


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["keyframes"][0]["strokes"][0].update(kind="spray"),
     "invalid entry: object 1 'swan': keyframe on frame index 0: strokes: stroke 1: kind must be one of brush, shape"),
    (lambda d: d["keyframes"][1]["strokes"].append({"kind": "shape", "points": [[1, 1], [2, 2]]}),
     "object 1 'swan': keyframe on frame index 6: strokes: stroke 2: a shape needs at least 3 points"),
    (lambda d: d["keyframes"][2].update(strokes={"kind": "brush"}),
     "object 1 'swan': keyframe on frame index 9: strokes: strokes must be a list"),
    (lambda d: d["objects"][0]["touchups"][1].update(last=FRAMES),
     "object 1 'swan': touch-up 2: last"),
    (lambda d: d["objects"][0]["touchups"][0].update(first=5, last=3),
     "object 1 'swan': touch-up 1: last"),
    (lambda d: d["objects"][0]["touchups"][0]["strokes"][1].update(radius=-1),
     "object 1 'swan': touch-up 1: strokes: stroke 2: radius must be"),
    (lambda d: d["objects"][0].update(touchups={"first": 1}),
     "object 1 'swan': touchups must be a list"),
    (lambda d: d["objects"][0]["post_keys"].update(soon={}),
     "object 1 'swan': post_keys: 'soon' is not a frame index"),
    (lambda d: d["objects"][0]["post_keys"].update({"99": {}}),
     "object 1 'swan': post_keys frame"),
    (lambda d: d["objects"][0]["post_keys"].update({"3": [1]}),
     "object 1 'swan': post_keys[3] must be a JSON object"),
])
def test_a_bad_correction_in_a_project_file_names_the_object_and_keyframe(tmp_path: Path, edit, message: str) -> None:
    data = json.loads(json.dumps(_corrected_project().to_dict()))
    edit(data)
    with pytest.raises(ProjectError, match="invalid entry") as caught:
        Project.from_dict(data, tmp_path / "shot.sam3roto")
    assert message in str(caught.value)
    assert str(tmp_path / "shot.sam3roto") in str(caught.value)
    # the same from the file on disk
    path = tmp_path / "bad.sam3roto"
    path.write_text(json.dumps(data))
    with pytest.raises(ProjectError) as loaded:
        load_project(path)
    assert message in str(loaded.value) and "bad.sam3roto" in str(loaded.value)


# -- what a change of strokes makes stale ----------------------------------------------------


def test_changing_a_keyframes_strokes_makes_only_its_stretches_stale(tmp_path: Path) -> None:
    from sam3roto.core.tracking import TrackBasis, stale_frames, stale_stretches

    project = _project()
    project.set_prompts(1, 0, [PointPrompt(30, 20, True)])
    project.set_strokes(1, 8, [_square(5, 5, 25, 30)])
    project.set_prompts(1, 12, [PointPrompt(30, 20, True)])
    store = MaskStore(tmp_path / "masks")
    basis = TrackBasis(project, 1)
    empty = np.zeros((H, W), bool)
    for f in range(FRAMES):
        store.put(1, f, empty)
    store.record_track(1, {f: (0.9, basis.of(f)) for f in range(FRAMES)})
    assert stale_frames(project, store, 1) == [] and stale_stretches(project, store, 1) == []
    # another stroke on the keyframe on 8: the frames between its neighbours go stale
    project.set_strokes(1, 8, [_square(5, 5, 25, 30), _dab(10, 10, mode="subtract")])
    assert stale_frames(project, store, 1) == [1, 2, 3, 4, 5, 6, 7, 9, 10, 11]
    assert stale_stretches(project, store, 1) == [(0, 8), (8, 12)]
    # the same strokes again: up to date again (the digest is of the strokes, not of the edit)
    project.set_strokes(1, 8, [_square(5, 5, 25, 30)])
    assert stale_stretches(project, store, 1) == []
    # a stroke moved by a pixel counts as a change
    project.set_strokes(1, 8, [_square(6, 5, 25, 30)])
    assert stale_stretches(project, store, 1) == [(0, 8), (8, 12)]
    # strokes on the keyframe on 0 (which had none) stale only 1..7; its stretch before is the shot start
    project.set_strokes(1, 8, [_square(5, 5, 25, 30)])
    project.set_strokes(1, 0, [_dab(30, 20)])
    assert stale_stretches(project, store, 1) == [(0, 8)]
    # a keyframe that never had strokes keeps the digest it had before strokes existed
    project.set_strokes(1, 0, [])
    assert TrackBasis(project, 1).of(3) == basis.of(3)
    # touch-ups and post keys paint after tracking: they make nothing stale
    project.add_touchup(1, 2, 6, _dab(5, 5))
    project.object(1).post_keys = {4: {"grow_px": 3}}
    assert stale_frames(project, store, 1) == []

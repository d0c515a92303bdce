"""Strokes through the jobs: corrections on keyframes anchor the classic engine's tracking,
touch-ups and keyed matte settings change the rendered mattes (read back from the files)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.core.evaluation import jaccard, prompts_from_mask
from sam3roto.core.jobs import run_sync
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project
from sam3roto.core.strokes import Stroke, TouchUp, apply_to_mask
from sam3roto.media.memory import ArraySource
from sam3roto.pipeline.render import RenderOptions, RenderResult, render_job
from sam3roto.pipeline.shot import shot_from_info
from sam3roto.pipeline.track import track_job
from tests.backends.test_classic import moving_object_clip
from tests.conftest import SyntheticClip
from tests.export.conftest import RenderShot, make_render_shot

H, W, N = 120, 160, 8


@pytest.fixture(scope="module")
def clip() -> SyntheticClip:
    return moving_object_clip(n=N, width=W, height=H, radius=20)


def _centre(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def _tracked(clip: SyntheticClip, tmp_path: Path, setup) -> tuple[Project, MaskStore]:
    source = ArraySource(clip.frames)
    project = Project(shot=shot_from_info(source.info))
    obj = project.add_object("disc")
    store = MaskStore(tmp_path / "masks")
    setup(project, store, obj.id)
    run_sync(track_job(project, source, store, direction="forward"))
    assert store.frames(obj.id) == list(range(N))
    return project, store


# -- tracking anchors on the corrected mask --------------------------------------------------


def test_a_keyframe_of_strokes_alone_is_tracked_from_the_shape_it_draws(tmp_path: Path, clip: SyntheticClip) -> None:
    cx, cy = _centre(clip.masks[0])
    # an octagon a little larger than the disc: what the artist drew, not the disc itself
    octagon = Stroke("shape", "add", [(cx + 23 * np.cos(a), cy + 23 * np.sin(a))
                                      for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)])
    drawn = apply_to_mask(None, [octagon], (H, W))
    assert not np.array_equal(drawn, clip.masks[0]) and jaccard(drawn, clip.masks[0]) > 0.6

    def setup(project: Project, store: MaskStore, obj_id: int) -> None:
        assert project.set_strokes(obj_id, 0, [octagon]) is not None

    project, store = _tracked(clip, tmp_path, setup)
    np.testing.assert_array_equal(store.get(1, 0), drawn)  # the keyframe's mask is the shape, exactly
    for f in (1, 2, 4, 7):  # the frames after follow the disc
        assert jaccard(store.get(1, f), clip.masks[f]) > 0.75, f
    # the records stored with the masks name that keyframe: up to date until its strokes change
    from sam3roto.core.tracking import stale_frames

    assert stale_frames(project, store, 1) == []
    project.set_strokes(1, 0, [octagon, Stroke("brush", "subtract", [(cx, cy)], radius=4)])
    assert stale_frames(project, store, 1) == list(range(1, N))


@pytest.mark.parametrize("base", ["key mask", "prompts"])
def test_a_subtract_stroke_on_a_keyframe_removes_that_part_from_the_track(tmp_path: Path, clip: SyntheticClip,
                                                                          base: str) -> None:
    cx, _ = _centre(clip.masks[0])
    cut = Stroke("shape", "subtract", [(cx + 2, -10), (W + 10, -10), (W + 10, H + 10), (cx + 2, H + 10)])

    def setup_with(strokes: list[Stroke]):
        def setup(project: Project, store: MaskStore, obj_id: int) -> None:
            if base == "key mask":
                store.key_masks().put(obj_id, 0, clip.masks[0])
                project.set_key_mask(obj_id, 0)
            else:
                project.set_prompts(obj_id, 0, prompts_from_mask(clip.masks[0]))
            if strokes:
                project.set_strokes(obj_id, 0, strokes)
        return setup

    _, whole = _tracked(clip, tmp_path / "whole", setup_with([]))
    _, halved = _tracked(clip, tmp_path / "halved", setup_with([cut]))
    columns = np.arange(W)[None, :]
    for f in range(4):  # near the keyframe
        fx, _ = _centre(clip.masks[f])
        right = clip.masks[f] & (columns > fx + 5)
        left = clip.masks[f] & (columns < fx - 5)
        assert (whole.get(1, f) & right).sum() > 0.8 * right.sum(), f  # without the cut: the whole disc
        assert (halved.get(1, f) & right).sum() < 0.1 * right.sum(), f
        assert (halved.get(1, f) & left).sum() > 0.8 * left.sum(), f
    assert not (halved.get(1, 0) & (columns > cx + 2)).any()
    if base == "key mask":  # the keyframe's mask is the key mask with the stroke painted over it
        np.testing.assert_array_equal(halved.get(1, 0), apply_to_mask(clip.masks[0], [cut], (H, W)))
        np.testing.assert_array_equal(halved.key_masks().get(1, 0), clip.masks[0])  # the artist's, untouched


# -- rendering: touch-ups and keyed settings ---------------------------------------------------

PERSON = 1


@pytest.fixture
def shot(tmp_path: Path) -> RenderShot:
    made = make_render_shot(tmp_path / "shot")
    yield made
    made.source.close()


def _render(shot: RenderShot, root: Path, **options: object) -> RenderResult:
    options.setdefault("objects", (PERSON,))
    options.setdefault("bit_depth", 16)
    return run_sync(render_job(shot.project, shot.source, shot.store, root, RenderOptions(**options)))  # type: ignore[arg-type]


def _mattes(result: RenderResult) -> dict[int, np.ndarray]:
    """Frame number -> the person's matte as float 0..1, read from its 16-bit PNG."""
    out = {}
    for number in result.numbers:
        data = cv2.imread(str(result.folder / "person" / f"plate_person.{number}.png"), cv2.IMREAD_UNCHANGED)
        assert data is not None and data.dtype == np.uint16
        out[number] = data.astype(np.float64) / 65535.0
    return out


def _corner_square() -> Stroke:
    return Stroke("shape", "add", [(4, 4), (24, 4), (24, 20), (4, 20)])


def test_a_touchup_paints_over_the_final_matte_on_its_frames_only(shot: RenderShot, tmp_path: Path) -> None:
    assert not shot.masks[PERSON][:, 2:22, 2:26].any()  # the corner is empty on every frame
    shot.project.add_touchup(PERSON, 2, 3, _corner_square())
    result = _render(shot, tmp_path / "out", outputs=("png-alpha", "exr"))
    mattes = _mattes(result)
    for i, number in enumerate(result.numbers):
        corner = mattes[number][6:18, 6:22]
        if i in (2, 3):
            assert corner.min() > 0.99, number
        else:
            assert corner.max() < 0.01, number
        # the rest of the matte is the stored mask
        rest = mattes[number].copy()
        rest[:24, :28] = shot.masks[PERSON][i][:24, :28]
        np.testing.assert_array_equal(rest, shot.masks[PERSON][i].astype(np.float64))
    # the EXR carries the same matte
    import OpenEXR

    with OpenEXR.File(str(result.folder / "exr" / "plate.1003.exr"), separate_channels=True) as exr:
        alpha = exr.channels()["person.A"].pixels.astype(np.float64)
    np.testing.assert_allclose(alpha, mattes[1003], atol=2e-3)
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert [o["touchups"] for o in manifest["objects"]] == [1]
    assert "keys" not in manifest["objects"][0]["post"]


def test_a_subtract_touchup_after_temporal_smoothing_stays_on_its_frames(shot: RenderShot, tmp_path: Path) -> None:
    """Touch-ups paint after the temporal step: a hole on frame 4 does not bleed into 3 or 5,
    and a render of part of the shot (a farm task) paints the same frames."""
    shot.project.object(PERSON).post = {"temporal_pct": 60.0}
    x, y = (float(v) for v in np.argwhere(shot.masks[PERSON][4]).mean(axis=0)[::-1])
    shot.project.add_touchup(PERSON, 4, 4, Stroke("brush", "subtract", [(x, y)], radius=6))
    result = _render(shot, tmp_path / "out", outputs=("png-alpha",))
    mattes = _mattes(result)
    iy, ix = int(y), int(x)
    assert mattes[1005][iy - 2:iy + 3, ix - 2:ix + 3].max() < 0.01
    for number in (1004, 1006):
        assert shot.masks[PERSON][number - 1001][iy, ix]  # the disc covers the spot there too
        assert mattes[number][iy, ix] > 0.9, number
    part = _render(shot, tmp_path / "part", outputs=("png-alpha",), indices=(4, 5))
    assert part.numbers == [1005, 1006]
    again = _mattes(part)
    np.testing.assert_array_equal(again[1005], mattes[1005])
    np.testing.assert_array_equal(again[1006], mattes[1006])


def test_keyed_grow_widens_the_matte_frame_by_frame(shot: RenderShot, tmp_path: Path) -> None:
    obj = shot.project.object(PERSON)
    obj.post_keys = {0: {"grow_px": 0}, 4: {"grow_px": 10}}
    shot.project.add_touchup(PERSON, 6, 7, _corner_square())
    result = _render(shot, tmp_path / "keyed", outputs=("png-alpha",))
    mattes = _mattes(result)
    truth = shot.masks[PERSON]
    areas = [float(mattes[n].sum()) for n in result.numbers]
    assert areas[0] == pytest.approx(truth[0].sum())  # grow 0 on the first key
    assert all(b > a + 100 for a, b in itertools.pairwise(areas[:5]))  # growing up to the key on 4
    assert areas[5] == pytest.approx(areas[4], rel=0.02)  # held after the last key
    # frame index 2, halfway between the keys, is a render with grow_px 5 unkeyed
    obj.post_keys = {}
    obj.post = {"grow_px": 5}
    plain = _mattes(_render(shot, tmp_path / "plain", outputs=("png-alpha",), indices=(2,)))
    np.testing.assert_array_equal(mattes[1003], plain[1003])
    assert not np.array_equal(mattes[1002], plain[1003])
    obj.post = {"grow_px": 10}
    ten = _mattes(_render(shot, tmp_path / "ten", outputs=("png-alpha",), indices=(5,)))
    np.testing.assert_array_equal(mattes[1006], ten[1006])
    manifest = json.loads((result.folder / "manifest.json").read_text())
    post = manifest["objects"][0]["post"]
    assert post["keys"]["0"]["grow_px"] == 0 and post["keys"]["4"]["grow_px"] == 10 and set(post["keys"]) == {"0", "4"}
    assert manifest["objects"][0]["touchups"] == 1
    # the touch-up lies over the grown matte on its frames
    assert mattes[1007][6:18, 6:22].min() > 0.99 and mattes[1006][6:18, 6:22].max() < 0.01


def test_bad_keyed_settings_are_refused_before_anything_is_written(shot: RenderShot, tmp_path: Path) -> None:
    from sam3roto.errors import Sam3RotoError

    shot.project.object(PERSON).post_keys = {0: {"grow_px": 0}, 3: {"grow_px": "wide"}}
    with pytest.raises(Sam3RotoError, match="object 'person': matte settings keyed on frame index 3"):
        _render(shot, tmp_path / "out", outputs=("png-alpha",))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# -- the post stack directly -----------------------------------------------------------------


def test_apply_sequence_paints_touchups_by_frame_index_and_needs_the_indices() -> None:
    from sam3roto.post import PostSettings, apply, apply_sequence

    image = np.full((H, W, 3), 90, np.uint8)
    mask = np.zeros((H, W), bool)
    mask[40:80, 60:100] = True
    frames = [(image, mask, None)] * 4
    square = _corner_square()
    results = list(apply_sequence(iter(frames), PostSettings(), indices=[10, 11, 12, 13],
                                  touchups=[TouchUp(12, 12, [square])]))
    assert [float(r.matte[10, 10]) for r in results] == [0.0, 0.0, 1.0, 0.0]
    assert all(r.matte[60, 80] == 1.0 for r in results)
    with pytest.raises(ValueError, match="need the frame indices"):
        list(apply_sequence(iter(frames), PostSettings(), touchups=[TouchUp(0, 3, [square])]))
    one = apply(image, mask, PostSettings(grow_px=2), touchups=[Stroke("brush", "subtract", [(80, 60)], radius=5)])
    assert one.matte[60, 80] == 0.0 and one.matte[45, 65] == 1.0 and one.matte[10, 10] == 0.0


def test_real_footage_a_subtract_correction_is_tracked(shared_data: Path, tmp_path: Path) -> None:
    """DAVIS 2016 (real frames, human ground truth): the ground truth mask of the first frame
    with its left third cut away by a stroke; the tracked masks of the next frames stay cut."""
    folder, name = shared_data / "davis2016", "blackswan"
    images = sorted((folder / "JPEGImages" / "480p" / name).glob("*.jpg"))[:5]
    truths = sorted((folder / "Annotations" / "480p" / name).glob("*.png"))[:5]
    if len(images) < 5 or len(truths) < 5:
        pytest.skip(f"{folder} lacks the {name} sequence")
    size = (214, 120)  # a quarter of 854x480: fast on two cores
    frames = np.stack([cv2.resize(cv2.imread(str(p))[..., ::-1], size, interpolation=cv2.INTER_AREA)
                       for p in images])
    masks = np.stack([cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), size,
                                 interpolation=cv2.INTER_AREA) > 127 for p in truths])
    xs = np.nonzero(masks[0])[1]
    split = float(xs.min() + (xs.max() - xs.min()) / 3)
    cut = Stroke("shape", "subtract", [(-5, -5), (split, -5), (split, 130), (-5, 130)])
    source = ArraySource(frames)
    project = Project(shot=shot_from_info(source.info))
    obj = project.add_object("swan")
    store = MaskStore(tmp_path / "masks")
    store.key_masks().put(obj.id, 0, masks[0])
    project.set_key_mask(obj.id, 0)
    project.set_strokes(obj.id, 0, [cut])
    run_sync(track_job(project, source, store, direction="forward"))
    np.testing.assert_array_equal(store.get(obj.id, 0), apply_to_mask(masks[0], [cut], masks[0].shape))
    columns = np.arange(size[0])[None, :]
    for f in range(1, 5):
        shift = _centre(masks[f])[0] - _centre(masks[0])[0]
        gone = masks[f] & (columns < split + shift - 4)
        kept = masks[f] & (columns > split + shift + 4)
        got = store.get(obj.id, f)
        assert (got & gone).sum() < 0.25 * gone.sum(), f
        assert (got & kept).sum() > 0.6 * kept.sum(), f

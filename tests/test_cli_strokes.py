"""Strokes from the command line: corrections and touch-ups in a prompts file (``track``,
``segment``), keyed settings and touch-ups for ``post``; the files written are read back."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.cli import main
from sam3roto.core.evaluation import jaccard, prompts_from_mask
from sam3roto.core.project_io import load_project, open_mask_store
from sam3roto.core.strokes import Stroke, apply_to_mask
from sam3roto.core.types import BoxPrompt, PointPrompt
from tests.backends.test_classic import moving_object_clip
from tests.conftest import SyntheticClip

ROOT = Path(__file__).resolve().parents[1]
H, W, N = 120, 160, 8

CORNER = {"kind": "shape", "mode": "add", "points": [[4, 4], [24, 4], [24, 20], [4, 20]]}


@pytest.fixture(scope="module")
def clip() -> SyntheticClip:
    return moving_object_clip(n=N, width=W, height=H, radius=20)


def _centre(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def _keyframe(mask: np.ndarray, frame: int, **extra: object) -> dict:
    prompts = prompts_from_mask(mask)
    return {"frame": frame, "points": [[p.x, p.y, p.positive] for p in prompts if isinstance(p, PointPrompt)],
            "boxes": [list(p.xyxy_px) for p in prompts if isinstance(p, BoxPrompt)], **extra}


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def _cut_right_of(x: float) -> dict:
    """A subtract shape over everything right of ``x``."""
    return {"kind": "shape", "mode": "subtract", "points": [[x, -5], [W + 5, -5], [W + 5, H + 5], [x, H + 5]]}


def test_track_applies_corrections_and_touchups_and_a_second_run_adds_nothing_twice(
        plate: Path, tmp_path: Path, clip: SyntheticClip, capsys: pytest.CaptureFixture[str]) -> None:
    cx, _ = _centre(clip.masks[0])
    cut = _cut_right_of(round(cx) + 2)
    dab = {"kind": "brush", "mode": "add", "points": [[14, 110], [26, 112]], "radius": 5, "softness": 0.25,
           "pressure": [1.0, 0.5]}
    spec = _write(tmp_path / "prompts.json", {"objects": [{
        "name": "disc",
        "keyframes": [_keyframe(clip.masks[0], 1001, strokes=[cut])],
        "touchups": [{"first": 1002, "last": 1003, "strokes": [CORNER]},
                     {"first": 1005, "last": 1005, "strokes": [dab, CORNER]}],
    }]})
    project = tmp_path / "shot.sam3roto"
    args = ["track", str(plate), "--project", str(project), "--prompts", str(spec), "--direction", "forward",
            "--quiet"]
    assert main(args) == 0
    assert "object 1 'disc': frames 1001-1008" in capsys.readouterr().out
    loaded = load_project(project)
    key = loaded.keyframe(1, 0)
    assert key is not None and key.strokes == [Stroke.from_dict(cut)] and key.prompts
    obj = loaded.object(1)
    assert [(t.first, t.last, t.strokes) for t in obj.touchups] == \
        [(1, 2, [Stroke.from_dict(CORNER)]), (4, 4, [Stroke.from_dict(dab), Stroke.from_dict(CORNER)])]
    # tracking anchored on the corrected mask: the right half is gone near the keyframe
    store = open_mask_store(project)
    columns = np.arange(W)[None, :]
    for f in range(3):
        fx, _ = _centre(clip.masks[f])
        right = clip.masks[f] & (columns > fx + 5)
        assert (store.get(1, f) & right).sum() < 0.1 * right.sum(), f
        assert jaccard(store.get(1, f), clip.masks[f] & (columns < fx + 2)) > 0.8, f
    # the same command again: the file's corrections and touch-ups replace, they do not pile up
    assert main(args) == 0
    again = load_project(project)
    assert again.object(1).touchups == obj.touchups
    assert again.keyframe(1, 0).strokes == key.strokes  # type: ignore[union-attr]
    assert len(again.objects) == 1 and len(again.keyframes) == 1
    # a render of the project paints the touch-ups over the tracked mattes, on their frames only
    capsys.readouterr()
    assert main(["render", str(project), "--outputs", "png-alpha", "--bits", "16", "--quiet"]) == 0
    folder = tmp_path / "renders" / "v001"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["objects"][0]["touchups"] == 3
    for i in range(N):
        matte = cv2.imread(str(folder / "disc" / f"plate_disc.{1001 + i}.png"), cv2.IMREAD_UNCHANGED)
        assert matte is not None and matte.dtype == np.uint16
        corner = matte[6:18, 6:22]
        if i in (1, 2, 4):
            assert corner.min() == 65535, i
        else:
            assert corner.max() == 0, i
        assert (matte[110, 20] > 30000) == (i == 4), i  # the brush dab on 1005 only
    # strokes taken out of the file are taken out of the project's keyframe too
    spec.write_text(json.dumps({"objects": [{"name": "disc", "keyframes": [_keyframe(clip.masks[0], 1001)]}]}))
    assert main(args) == 0
    assert load_project(project).keyframe(1, 0).strokes == []  # type: ignore[union-attr]


def test_track_with_a_keyframe_of_strokes_alone(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cx, cy = _centre(clip.masks[2])
    square = {"kind": "shape", "mode": "add",
              "points": [[cx - 21, cy - 21], [cx + 21, cy - 21], [cx + 21, cy + 21], [cx - 21, cy + 21]]}
    spec = _write(tmp_path / "prompts.json", {"objects": [{"name": "disc", "keyframes": [
        {"frame": 1003, "strokes": [square]}]}]})
    project = tmp_path / "shot.sam3roto"
    assert main(["track", str(plate), "--project", str(project), "--prompts", str(spec), "--quiet"]) == 0
    key = load_project(project).keyframe(1, 2)
    assert key is not None and key.prompts == [] and not key.mask and len(key.strokes) == 1
    store = open_mask_store(project)
    np.testing.assert_array_equal(store.get(1, 2), apply_to_mask(None, [Stroke.from_dict(square)], (H, W)))
    assert store.frames(1) == list(range(N))  # tracked both ways from it


def test_segment_a_keyframe_of_strokes_alone_writes_the_rasterised_shape(
        plate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shape = {"kind": "shape", "mode": "add", "points": [[30.5, 20], [120, 25.25], [90, 100], [20, 80]]}
    hole = {"kind": "brush", "mode": "subtract", "points": [[60, 55], [75, 60]], "radius": 6}
    spec = _write(tmp_path / "prompts.json", {"objects": [{"name": "blob", "keyframes": [
        {"frame": 1004, "strokes": [shape, hole]}]}]})
    out = tmp_path / "mask.png"
    assert main(["segment", str(plate), "--frame", "1004", "--prompts", str(spec), "--out", str(out),
                 "--quiet"]) == 0
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    want = apply_to_mask(None, [Stroke.from_dict(shape), Stroke.from_dict(hole)], (H, W))
    assert written is not None and written.dtype == np.uint8 and want.any() and not want[57, 67]
    np.testing.assert_array_equal(written, want.astype(np.uint8) * 255)
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"object 1 'blob', frame 1004: area {int(want.sum())} px") and \
        "corrected by 2 strokes" in line


def test_segment_paints_the_strokes_over_the_prompts_mask_and_keeps_them_in_a_project(
        plate: Path, tmp_path: Path, clip: SyntheticClip, capsys: pytest.CaptureFixture[str]) -> None:
    cx, _ = _centre(clip.masks[3])
    cut = _cut_right_of(round(cx))
    spec = _write(tmp_path / "prompts.json", {"objects": [{"name": "disc", "keyframes": [
        _keyframe(clip.masks[3], 1004, strokes=[cut])]}]})
    plain = _write(tmp_path / "plain.json", {"objects": [{"name": "disc", "keyframes": [
        _keyframe(clip.masks[3], 1004)]}]})
    assert main(["segment", str(plate), "--frame", "1004", "--prompts", str(plain), "--out",
                 str(tmp_path / "whole.png"), "--quiet"]) == 0
    assert main(["segment", str(plate), "--frame", "1004", "--prompts", str(spec), "--out",
                 str(tmp_path / "cut.png"), "--quiet"]) == 0
    whole = cv2.imread(str(tmp_path / "whole.png"), cv2.IMREAD_UNCHANGED) > 127
    cut_mask = cv2.imread(str(tmp_path / "cut.png"), cv2.IMREAD_UNCHANGED) > 127
    np.testing.assert_array_equal(cut_mask, apply_to_mask(whole, [Stroke.from_dict(cut)], (H, W)))
    assert whole[:, round(cx) + 3:].sum() > 300 and not cut_mask[:, round(cx) + 1:].any()
    # on a project: the keyframe keeps its strokes and the store the corrected mask
    from sam3roto.core.project_io import save_project
    from sam3roto.pipeline.shot import new_project

    made, source = new_project(plate)
    source.close()
    save_project(made, tmp_path / "p.sam3roto")
    capsys.readouterr()
    assert main(["segment", str(tmp_path / "p.sam3roto"), "--frame", "1004", "--prompts", str(spec),
                 "--quiet"]) == 0
    loaded = load_project(tmp_path / "p.sam3roto")
    key = loaded.keyframe(1, 3)
    assert key is not None and key.strokes == [Stroke.from_dict(cut)] and key.prompts
    np.testing.assert_array_equal(open_mask_store(tmp_path / "p.sam3roto").get(1, 3), cut_mask)


def _masks_folder(tmp_path: Path, clip: SyntheticClip) -> Path:
    folder = tmp_path / "masks"
    folder.mkdir()
    for i, mask in enumerate(clip.masks):
        cv2.imwrite(str(folder / f"mask.{1001 + i}.png"), mask.astype(np.uint8) * 255)
    return folder


def _post_mattes(out: Path, numbers: range) -> list[np.ndarray]:
    mattes = []
    for number in numbers:
        data = cv2.imread(str(out / f"matte.{number}.png"), cv2.IMREAD_UNCHANGED)
        assert data is not None and data.dtype == np.uint16, number
        mattes.append(data)
    return mattes


def test_post_keyed_settings_and_touchups(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    masks = _masks_folder(tmp_path, clip)
    settings = _write(tmp_path / "keys.json", {"feather_px": 0, "keys": {"1001": {"grow_px": 0},
                                                                         "1005": {"grow_px": 8}}})
    touch = _write(tmp_path / "touch.json", {"touchups": [{"first": 1002, "last": 1003, "strokes": [CORNER]}]})
    out = tmp_path / "out"
    assert main(["post", str(plate), "--masks", str(masks), "--out", str(out), "--settings", str(settings),
                 "--touchups", str(touch), "--quiet"]) == 0
    assert "wrote 8 files for frames 1001-1008" in capsys.readouterr().out
    mattes = _post_mattes(out, range(1001, 1009))
    body = [m.astype(np.float64) / 65535.0 for m in mattes]
    for m in body:
        m[:24, :28] = 0.0  # the touch-up's corner aside
    areas = [float(m.sum()) for m in body]
    assert areas[0] == pytest.approx(clip.masks[0].sum())  # grow 0 on the first key
    assert all(b > a + 80 for a, b in itertools.pairwise(areas[:5]))  # 2 px more a frame up to 1005
    assert areas[5] == pytest.approx(areas[4], rel=0.03)  # held after the last key
    for i, matte in enumerate(mattes):
        corner = matte[6:18, 6:22]
        assert (corner.min() == 65535) if i in (1, 2) else (corner.max() == 0), i
    # frame 1003, halfway between the keys, is grow_px 4 unkeyed
    plain = tmp_path / "plain"
    assert main(["post", str(plate), "--masks", str(masks), "--out", str(plain), "--set", "grow_px=4",
                 "--frames", "1003", "--quiet"]) == 0
    (half,) = _post_mattes(plain, range(1003, 1004))
    expected = mattes[2].copy()
    expected[:24, :28] = half[:24, :28]
    np.testing.assert_array_equal(expected, half)
    # --set overrides every key: grow 0 everywhere
    flat = tmp_path / "flat"
    assert main(["post", str(plate), "--masks", str(masks), "--out", str(flat), "--settings", str(settings),
                 "--set", "grow_px=0", "--frames", "1005", "--quiet"]) == 0
    (five,) = _post_mattes(flat, range(1005, 1006))
    np.testing.assert_array_equal(five, clip.masks[4].astype(np.uint16) * 65535)


@pytest.mark.parametrize(("spec", "message"), [
    ({"name": "disc", "keyframes": [{"frame": 1002, "strokes": [
        {"kind": "shape", "mode": "add", "points": [[1, 1], [5, 5]]}]}]},
     "object 'disc', keyframe #1: stroke 1: a shape needs at least 3 points, not 2"),
    ({"name": "disc", "keyframes": [{"frame": 1001, "points": [[50, 50]]}, {"frame": 1002, "strokes": [
        CORNER, {"kind": "spray", "points": [[1, 1]]}]}]},
     "object 'disc', keyframe #2: stroke 2: kind must be one of brush, shape, not 'spray'"),
    ({"name": "disc", "keyframes": [{"frame": 1002, "strokes": [
        {"kind": "brush", "points": [[1, 1], [2, 2]], "pressure": [0.5]}]}]},
     "object 'disc', keyframe #1: stroke 1: pressure has 1 values for 2 points"),
    ({"name": "disc", "keyframes": [{"frame": 1002, "strokes": [
        {"kind": "brush", "points": [[500, 500]], "radius": 4}]}]},
     "object 'disc', keyframe #1: stroke 1 lies outside the 160x120 frame"),
    ({"name": "disc", "keyframes": [{"frame": 1002, "strokes": {"kind": "brush"}}]},
     "object 'disc', keyframe #1: strokes must be a list"),
    ({"name": "disc", "keyframes": [{"frame": 1002, "strokes": []}]},
     "object 'disc', keyframe #1: has no points, boxes, text or strokes"),
    ({"name": "disc", "keyframes": [{"frame": 1001, "points": [[50, 50]]}],
      "touchups": [{"first": 1003, "last": 1002, "strokes": [CORNER]}]},
     "object 'disc', touch-up #1: ends (1002) before it starts (1003)"),
    ({"name": "disc", "keyframes": [{"frame": 1001, "points": [[50, 50]]}],
      "touchups": [{"first": 1002, "last": 1099, "strokes": [CORNER]}]},
     "object 'disc', touch-up #1: frame 1099 is not in the shot (1001..1008)"),
    ({"name": "disc", "keyframes": [{"frame": 1001, "points": [[50, 50]]}],
      "touchups": [{"first": 1002, "last": 1003, "strokes": [{**CORNER, "radius": 0}]}]},
     "object 'disc', touch-up #1: stroke 1: radius must be 0.5 to 2048 px"),
])
def test_bad_strokes_in_a_prompts_file_are_one_line_naming_the_file_object_and_keyframe(
        plate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: dict, message: str) -> None:
    bad = _write(tmp_path / "bad.json", {"objects": [spec]})
    project = tmp_path / "p.sam3roto"
    for command in (["track", str(plate), "--project", str(project)], ["segment", str(plate), "--frame", "1002",
                                                                        "--out", str(tmp_path / "m.png")]):
        assert main([*command, "--prompts", str(bad), "--quiet"]) == 1
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
        assert str(bad) in lines[0] and message in lines[0], lines[0]
    assert not project.exists() and not (tmp_path / "m.png").exists()


def test_bad_post_keys_and_touchups_files_are_one_line_naming_the_file(
        plate: Path, tmp_path: Path, clip: SyntheticClip, capsys: pytest.CaptureFixture[str]) -> None:
    masks = _masks_folder(tmp_path, clip)
    good_keys = _write(tmp_path / "keys.json", {"keys": {"1001": {"grow_px": 1}}})
    cases = [
        (_write(tmp_path / "k1.json", {"keys": {"999": {"grow_px": 1}}}), None,
         "\"keys\": '999' is not a frame number of the shot (1001..1008)", "k1.json"),
        (_write(tmp_path / "k2.json", {"keys": {"1002": {"grow_px": "x"}}}), None,
         "matte settings keyed on frame index 1", "k2.json"),
        (_write(tmp_path / "k3.json", {"keys": []}), None, '"keys" must map frame numbers to settings', "k3.json"),
        (_write(tmp_path / "k4.json", {"keys": {"--1001": {"grow_px": 1}}}), None,
         "\"keys\": '--1001' is not a frame number of the shot", "k4.json"),
        (_write(tmp_path / "k5.json", {"keys": {"1001\u00b2": {"grow_px": 1}}}), None,
         "is not a frame number of the shot", "k5.json"),
        (good_keys, _write(tmp_path / "t1.json", {"touchups": [{"first": 1001, "last": 1002, "strokes": [
            {"kind": "brush", "mode": "paint", "points": [[3, 3]]}]}]}),
         "touch-up #1: stroke 1: mode must be one of add, subtract", "t1.json"),
        (good_keys, _write(tmp_path / "t2.json", {"strokes": []}), 'expected {"touchups": [...]}', "t2.json"),
    ]
    for n, (keys, touch, message, name) in enumerate(cases):
        command = ["post", str(plate), "--masks", str(masks), "--out", str(tmp_path / f"out{n}"), "--settings",
                   str(keys), "--quiet"]
        if touch is not None:
            command += ["--touchups", str(touch)]
        if n == 5:  # one through the real command line, in its own process
            run = subprocess.run([sys.executable, str(ROOT / "run.py"), *command], cwd=tmp_path, capture_output=True,
                                 text=True, timeout=120)
            code, err = run.returncode, run.stderr
        else:
            code, err = main(command), capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
        assert message in lines[0] and name in lines[0], lines[0]
        assert not (tmp_path / f"out{n}").exists() or not any((tmp_path / f"out{n}").iterdir())


def test_a_keyframe_of_strokes_alone_keeps_the_prompts_the_project_has_there(
        plate: Path, tmp_path: Path, clip: SyntheticClip) -> None:
    project = tmp_path / "shot.sam3roto"
    first = _write(tmp_path / "a.json", {"objects": [{"name": "disc", "keyframes": [_keyframe(clip.masks[0], 1001)]}]})
    base = ["track", str(plate), "--project", str(project), "--direction", "forward", "--frames", "1001-1003",
            "--quiet"]
    assert main([*base, "--prompts", str(first)]) == 0
    prompts = load_project(project).keyframe(1, 0).prompts  # type: ignore[union-attr]
    assert prompts
    fix = _write(tmp_path / "b.json", {"objects": [{"name": "disc", "keyframes": [{"frame": 1001,
                                                                                   "strokes": [CORNER]}]}]})
    assert main(["track", str(project), "--prompts", str(fix), "--direction", "forward", "--frames", "1001-1003",
                 "--quiet"]) == 0
    key = load_project(project).keyframe(1, 0)
    assert key is not None and key.prompts == prompts and key.strokes == [Stroke.from_dict(CORNER)]
    mask = open_mask_store(project).get(1, 0)
    assert mask[10, 10] and jaccard(mask & ~apply_to_mask(None, key.strokes, mask.shape), clip.masks[0]) > 0.8

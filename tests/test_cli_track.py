"""``track`` from the command line: a prompts file or a Label Studio export in, masks in the
project's store out, then a render of them (seed 002's job)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.cli import main
from sam3roto.core.evaluation import jaccard, prompts_from_mask
from sam3roto.core.project_io import load_project, open_mask_store
from sam3roto.core.types import BoxPrompt, PointPrompt
from tests.backends.test_classic import moving_object_clip
from tests.conftest import SyntheticClip
from tests.interchange.test_labelstudio import encode_rle


def test_track_from_a_prompts_file(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    prompts = prompts_from_mask(clip.masks[0])
    spec = {"objects": [{"name": "disc", "keyframes": [{
        "frame": 1001,
        "points": [[p.x, p.y, p.positive] for p in prompts if isinstance(p, PointPrompt)],
        "boxes": [list(p.xyxy_px) for p in prompts if isinstance(p, BoxPrompt)],
    }]}]}
    (tmp_path / "prompts.json").write_text(json.dumps(spec))
    project = tmp_path / "shot.sam3roto"
    args = ["track", str(plate), "--project", str(project), "--prompts", str(tmp_path / "prompts.json"),
            "--direction", "forward", "--quiet"]
    assert main(args) == 0
    assert "object 1 'disc': frames 1001-1012" in capsys.readouterr().out
    other = tmp_path / "other"
    other.mkdir()
    cv2.imwrite(str(other / "x.0001.png"), clip.frames[0])
    assert main(["track", str(other), "--project", str(project), "--quiet"]) == 1
    assert "give another --project" in capsys.readouterr().err
    assert main(["track", str(project), "--frames", "1004-1006", "--quiet"]) == 1
    assert "no keyframe lies in the tracked frames (keyframes: 1001)" in capsys.readouterr().err
    loaded = load_project(project)
    assert [o.name for o in loaded.objects] == ["disc"] and loaded.keyframe(1, 0) is not None
    store = open_mask_store(project)
    assert np.mean([jaccard(store.get(1, i), clip.masks[i]) for i in range(1, 12)]) > 0.8


def test_seed_002_label_studio_brush_to_a_zip_of_masks(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    h, w = clip.masks.shape[1:]
    export = tmp_path / "export.json"
    export.write_text(json.dumps([{"id": 1, "data": {"image": "/data/upload/plate.1001.png"}, "annotations": [{
        "id": 1, "result": [{"id": "b", "type": "brushlabels", "original_width": w, "original_height": h,
                             "value": {"format": "rle", "rle": encode_rle(clip.masks[0]), "brushlabels": ["disc"]}}],
    }]}]))
    project = tmp_path / "ls.sam3roto"
    # one command: media + Label Studio export in, a ZIP of PNG masks out
    assert main(["track", str(plate), "--project", str(project), "--labelstudio", str(export), "--quiet",
                 "--frames", "1001-1006", "--render", "mask-zip"]) == 0
    out = capsys.readouterr().out
    assert "object 1 'disc': frames 1001-1006" in out and "wrote v001: 1 files (mask-zip 1)" in out
    with zipfile.ZipFile(tmp_path / "renders" / "v001" / "plate_masks.zip") as archive:
        assert archive.namelist() == [f"plate.{n}.png" for n in range(1001, 1007)]
        first = cv2.imdecode(np.frombuffer(archive.read("plate.1001.png"), np.uint8), cv2.IMREAD_UNCHANGED)
        later = cv2.imdecode(np.frombuffer(archive.read("plate.1005.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(first, clip.masks[0] * 255)  # the brush mask is the key mask
    assert jaccard(later > 127, clip.masks[4]) > 0.7


def test_track_reports_bad_prompts(plate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = str(tmp_path / "p.sam3roto")
    bad = tmp_path / "bad.json"
    for spec, message in [
        ({"objects": [{"name": "a", "keyframes": [{"frame": 5, "boxes": [[1, 1, 9, 9]]}]}]},
         "object 'a', keyframe #1: frame 5 is not in the shot (1001..1012)"),
        ({"objects": [{"name": "a", "keyframes": [{"frame": 1001, "points": [[1]]}]}]},
         "object 'a', keyframe #1: a point must be [x, y] or [x, y, positive]"),
        ({"things": []}, 'expected {"objects": [...]}'),
    ]:
        bad.write_text(json.dumps(spec))
        assert main(["track", str(plate), "--project", project, "--prompts", str(bad), "--quiet"]) == 1
        assert message in capsys.readouterr().err
    assert main(["track", str(plate), "--project", project, "--quiet"]) == 1
    assert "nothing to track" in capsys.readouterr().err
    assert main(["track", str(plate), "--project", project, "--text", "disc", "--quiet"]) == 1
    assert "the classic engine does not take text prompts" in capsys.readouterr().err


def test_sam3_dir_reaches_the_engine(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``--sam3-dir`` is the SAM3 engine's weights folder (the install hint names it):
    a folder that does not exist is reported by name, before any model loads."""
    prompts = _prompts_file(clip.masks[0], tmp_path / "prompts.json")
    folder = tmp_path / "no-weights"
    args = ["track", str(plate), "--project", str(tmp_path / "p.sam3roto"), "--prompts", str(prompts),
            "--engine", "sam3", "--sam3-dir", str(folder), "--device", "cpu", "--quiet"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"error: {folder}: SAM3 weights folder does not exist" in err
    assert "--sam3-dir DIR" in err  # the hint names the flag that was just used
    args[args.index("sam3")] = "classic"
    assert main(args) == 1
    assert "--sam3-dir is for --engine sam3, not classic" in capsys.readouterr().err
    no_dir = [a for a in args if a not in ("--sam3-dir", str(folder))]
    assert main([*no_dir, "--compile"]) == 1
    assert "--compile is for --engine sam3, not classic" in capsys.readouterr().err


def test_compile_reaches_the_sam3_engine() -> None:
    import argparse

    from sam3roto.cli.common import engine_options

    args = argparse.Namespace(engine="sam3", device="cpu", sam3_dir=None, compile=True)
    assert engine_options(args) == {"device": "cpu", "compile": True}


def _prompts_file(mask: np.ndarray, path: Path, name: str = "disc", frame: int = 1001) -> Path:
    prompts = prompts_from_mask(mask)
    path.write_text(json.dumps({"objects": [{"name": name, "keyframes": [{
        "frame": frame,
        "points": [[p.x, p.y, p.positive] for p in prompts if isinstance(p, PointPrompt)],
        "boxes": [list(p.xyxy_px) for p in prompts if isinstance(p, BoxPrompt)],
    }]}]}))
    return path


def test_seed_003_stills_and_prompts_to_versioned_postshot_rgba(tmp_path: Path, clip: SyntheticClip,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A folder of stills (camera-named, no frame numbers in a pattern) + a few prompts -> RGBA
    PNGs with the plate's RGB and a straight binary alpha, in a new version each time."""
    stills = tmp_path / "stills"
    stills.mkdir()
    for i, frame in enumerate(clip.frames[:6]):
        cv2.imwrite(str(stills / f"DSC_{101 + i:04d}.png"), frame[..., ::-1])
    prompts = _prompts_file(clip.masks[0], tmp_path / "p.json", frame=101)
    project = tmp_path / "splat.sam3roto"
    args = ["track", str(stills), "--project", str(project), "--prompts", str(prompts), "--direction", "forward",
            "--render", "postshot", "--quiet"]
    assert main(args) == 0
    assert "wrote v001: 6 files (postshot 6)" in capsys.readouterr().out
    rgba = cv2.imread(str(tmp_path / "renders" / "v001" / "postshot" / "stills.0103.png"), cv2.IMREAD_UNCHANGED)
    assert rgba.dtype == np.uint8 and rgba.shape[2] == 4
    np.testing.assert_array_equal(rgba[..., 2::-1], clip.frames[2])  # plate RGB untouched (straight)
    assert set(np.unique(rgba[..., 3])) <= {0, 255}
    assert jaccard(rgba[..., 3] > 0, clip.masks[2]) > 0.8
    assert main(args) == 0  # again: a new version, the first one untouched
    assert (tmp_path / "renders" / "v002" / "postshot" / "stills.0106.png").is_file()


def test_track_only_chosen_objects(plate: Path, tmp_path: Path, clip: SyntheticClip) -> None:
    spec = json.loads(_prompts_file(clip.masks[0], tmp_path / "a.json").read_text())
    spec["objects"].append({**spec["objects"][0], "name": "copy"})
    (tmp_path / "two.json").write_text(json.dumps(spec))
    project = tmp_path / "two.sam3roto"
    assert main(["track", str(plate), "--project", str(project), "--prompts", str(tmp_path / "two.json"),
                 "--objects", "copy", "--frames", "1001-1004", "--direction", "forward", "--quiet"]) == 0
    store = open_mask_store(project)
    assert store.frames(1) == [] and store.frames(2) == [0, 1, 2, 3]


def test_ctrl_c_mid_track_exits_130_and_keeps_finished_frames(tmp_path: Path) -> None:
    """SIGINT to a real ``python run.py track`` process while it tracks."""
    import signal
    import subprocess
    import sys
    import time

    long_clip = moving_object_clip(n=60, width=640, height=480)
    plate = tmp_path / "long"
    plate.mkdir()
    for i, frame in enumerate(long_clip.frames):
        cv2.imwrite(str(plate / f"long.{1001 + i}.png"), frame[..., ::-1])
    prompts = _prompts_file(long_clip.masks[0], tmp_path / "p.json")
    project = tmp_path / "long.sam3roto"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, str(root / "run.py"), "track", str(plate), "--project", str(project),
                             "--prompts", str(prompts), "--direction", "forward", "--quiet"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    masks = tmp_path / "long.masks" / "obj_0001"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if masks.is_dir() and len(list(masks.glob("*.png"))) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "tracking finished before it could be interrupted: " + proc.communicate()[1]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    done = sorted(masks.glob("*.png"))
    assert 3 <= len(done) < 60
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob(".*.partial"))
    loaded = load_project(project)  # saved on the way out, with its keyframe
    assert loaded.keyframe(1, 0) is not None
    store = open_mask_store(project)
    assert all(store.get(1, int(p.stem)) is not None for p in done)


def test_bad_arguments_exit_2_with_a_usage_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(root / "run.py"), "track", "--direction", "sideways", "x"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.startswith("usage: run.py track")


def test_a_new_project_never_takes_the_masks_left_by_an_earlier_one(plate: Path, tmp_path: Path,
                                                                    clip: SyntheticClip,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The window's report: a new object showed the previous session's masks. A store left
    without its project file (as sam3roto wrote them before stores recorded identities) is
    refused by a new project, naming it, and nothing is written."""
    from sam3roto.core.maskstore import MaskStore

    prompts = prompts_from_mask(clip.masks[0])
    spec = {"objects": [{"name": "disc", "keyframes": [{
        "frame": 1001, "boxes": [list(p.xyxy_px) for p in prompts if isinstance(p, BoxPrompt)]}]}]}
    (tmp_path / "prompts.json").write_text(json.dumps(spec))
    leftover = MaskStore(tmp_path / "shot.masks")  # unbound, like the old writer
    leftover.put(1, 11, clip.masks[0])
    project = tmp_path / "shot.sam3roto"
    args = ["track", str(plate), "--project", str(project), "--prompts", str(tmp_path / "prompts.json"), "--quiet"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "shot.masks beside it holds masks of an earlier project" in err and "move shot.masks away" in err
    assert not project.exists()
    (tmp_path / "shot.masks").rename(tmp_path / "old.masks")
    assert main([*args, "--direction", "forward"]) == 0
    store = open_mask_store(project, load_project(project))
    assert store.frames(1) == list(range(12)) and (tmp_path / "shot.masks" / "obj_0001" / "object.json").is_file()


def _scored(monkeypatch: pytest.MonkeyPatch, low: set[int]) -> None:
    """The classical session's propagation with a confidence per frame: low on ``low``."""
    from sam3roto.backends.classic import ClassicSession

    real = ClassicSession.propagate

    def scored(self, start, direction="forward", end=None):  # type: ignore[no-untyped-def]
        for fm in real(self, start, direction, end):
            fm.scores = {o: (0.2 if fm.frame in low else 0.9) for o in fm.masks}
            yield fm

    monkeypatch.setattr(ClassicSession, "propagate", scored)


def test_track_lists_low_confidence_frames_and_can_stop_there(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    _scored(monkeypatch, {3, 4, 8})
    prompts = _prompts_file(clip.masks[0], tmp_path / "p.json")
    args = ["--prompts", str(prompts), "--direction", "forward", "--quiet"]
    assert main(["track", str(plate), "--project", str(tmp_path / "a.sam3roto"), *args]) == 0
    out = capsys.readouterr().out
    assert "object 1 'disc': frames 1001-1012\n  low confidence: 1004-1005, 1009 (check these)\n" in out
    assert "stopped" not in out
    project = tmp_path / "b.sam3roto"
    assert main(["track", str(plate), "--project", str(project), *args, "--stop-at-low-confidence"]) == 0
    out = capsys.readouterr().out
    assert "object 1 'disc': frames 1001-1003\n  low confidence: 1004 (check these)\n  stopped at 1004: confidence " \
        "below 0.5" in out
    assert open_mask_store(project).frames(1) == [0, 1, 2]
    project = tmp_path / "c.sam3roto"
    assert main(["track", str(plate), "--project", str(project), *args, "--stop-at-low-confidence", "0.1"]) == 0
    assert "object 1 'disc': frames 1001-1012\n" in capsys.readouterr().out  # 0.2 is not below 0.1
    assert main(["track", str(plate), "--project", str(project), *args, "--stop-at-low-confidence", "2"]) == 1
    assert "--stop-at-low-confidence takes a confidence from 0 to 1, not 2" in capsys.readouterr().err


def test_track_changed_retracks_only_what_is_out_of_date(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    def spec(points_on_last: list[list[float]]) -> Path:
        keys = [{"frame": 1001 + i, "boxes": [_box(clip.masks[i])]} for i in (0, 4)]
        keys.append({"frame": 1012, "boxes": [_box(clip.masks[11])], "points": points_on_last})
        return _write_spec(tmp_path / "p.json", [{"name": "disc", "keyframes": keys}])

    ys, xs = np.nonzero(clip.masks[11])
    centre = [float(xs.mean()), float(ys.mean())]
    project = tmp_path / "shot.sam3roto"
    assert main(["track", str(plate), "--project", str(project), "--prompts", str(spec([])), "--quiet"]) == 0
    store = open_mask_store(project)
    before = {f: store.track_records(1)[f] for f in range(4)}
    capsys.readouterr()
    assert main(["track", str(project), "--changed", "--quiet"]) == 0
    assert "nothing to re-track: every tracked frame is up to date" in capsys.readouterr().out
    # a click added on the last keyframe: only the stretch from the keyframe before it is re-tracked
    assert main(["track", str(project), "--prompts", str(spec([centre])), "--changed", "--quiet"]) == 0
    assert "object 1 'disc': frames 1005-1012\n" in capsys.readouterr().out
    store = open_mask_store(project)
    assert {f: store.track_records(1)[f] for f in range(4)} == before
    # a new object: only it is tracked
    data = json.loads((tmp_path / "p.json").read_text())
    data["objects"].append({**data["objects"][0], "name": "copy"})
    (tmp_path / "p.json").write_text(json.dumps(data))
    assert main(["track", str(project), "--prompts", str(tmp_path / "p.json"), "--changed", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "object 2 'copy': frames 1001-1012\n" in out and "object 1" not in out


def test_absent_ranges_from_the_prompts_file_give_empty_masks(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    keys = [{"frame": 1001 + i, "boxes": [_box(clip.masks[i])]} for i in (0, 8)]
    spec = _write_spec(tmp_path / "p.json", [{"name": "disc", "keyframes": keys, "absent": [[1004, 1006]]}])
    project = tmp_path / "shot.sam3roto"
    assert main(["track", str(plate), "--project", str(project), "--prompts", str(spec), "--quiet"]) == 0
    assert "object 1 'disc': frames 1001-1003,1007-1012; absent (empty masks): 1004-1006" in capsys.readouterr().out
    loaded = load_project(project)
    assert loaded.object(1).absent == [(3, 5)]
    store = open_mask_store(project, loaded)
    for i in range(12):
        mask = store.get(1, i)
        assert mask is not None
        if 3 <= i <= 5:
            assert not mask.any(), i
        else:
            assert jaccard(mask, clip.masks[i]) > 0.6, i


def test_bad_absent_ranges_name_the_file_object_and_range(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    keys = [{"frame": 1001, "boxes": [_box(clip.masks[0])]}]
    for absent, message in [
        ([[1006, 1004]], "object 'disc': absent range [1006, 1004] ends before it starts"),
        ([[1000, 1003]], "object 'disc': absent range [1000, 1003]: frame 1000 is not in the shot (1001..1012)"),
        ([[1004, "1005"]], "object 'disc': absent range [1004, '1005'] must be [first, last]"),
        ([1004, 1005], "object 'disc': absent range 1004 must be [first, last]"),
    ]:
        spec = _write_spec(tmp_path / "bad.json", [{"name": "disc", "keyframes": keys, "absent": absent}])
        assert main(["track", str(plate), "--project", str(tmp_path / "p.sam3roto"), "--prompts", str(spec),
                     "--quiet"]) == 1
        err = capsys.readouterr().err
        assert f"error: {spec}: {message}" in err, err


def test_long_lists_of_frame_ranges_are_cut_short_and_counted() -> None:
    from sam3roto.cli.common import format_ranges

    numbers = list(range(1001, 1201))
    assert format_ranges([1, 2, 3, 9], numbers, limit=3) == "1002-1004, 1010"
    # every other frame of 200 frames low: 3 ranges shown, the other 97 counted
    expected = "1001, 1003, 1005 ... and 97 more ranges, 97 frames"
    assert format_ranges(list(range(0, 200, 2)), numbers, limit=3) == expected
    assert format_ranges([1, 2, 3, 9, 15, 16], numbers, limit=2) == "1002-1004, 1010 ... and 1 more range, 2 frames"


def _box(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def _write_spec(path: Path, objects: list[dict]) -> Path:
    path.write_text(json.dumps({"objects": objects}))
    return path


def test_a_full_disk_mid_track_reports_the_mask_it_could_not_write(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The project save after a failed track fails too on a full disk; the error shown is the
    first one, naming the mask file, not the save's."""
    import errno

    from sam3roto.core import maskstore, project_io

    full = {"disk": False}
    real_save = project_io.atomic_write_text

    def no_space_for_masks(target: Path) -> tuple[int, str]:
        full["disk"] = True
        raise OSError(errno.ENOSPC, "No space left on device")

    def save(path: Path, text: str, **kwargs: bool) -> None:
        if full["disk"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(path, text, **kwargs)

    monkeypatch.setattr(maskstore, "temp_for", no_space_for_masks)
    monkeypatch.setattr(project_io, "atomic_write_text", save)
    prompts = _prompts_file(clip.masks[0], tmp_path / "prompts.json")
    project = tmp_path / "shot.sam3roto"
    assert main(["track", str(plate), "--project", str(project), "--prompts", str(prompts), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "shot.masks/obj_0001" in err and "disk full (No space left on device)" in err, err
    assert "the mask cannot be written" in err

"""``segment`` from the command line: one frame's masks from a prompts file or text, written
as PNGs (read back here with OpenCV and Pillow) and, on a project, kept in its store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.backends.base import Capabilities
from sam3roto.backends.classic import ClassicEngine, ClassicSession
from sam3roto.backends.registry import SEGMENTATION_ENGINES, engine_choices
from sam3roto.cli import main
from sam3roto.core.evaluation import jaccard, prompts_from_mask
from sam3roto.core.project_io import load_project, open_mask_store
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt, TextPrompt
from sam3roto.media.source import FrameSource
from tests.conftest import SyntheticClip

ROOT = Path(__file__).resolve().parents[1]



def _keyframe(prompts: list[Prompt], frame: int) -> dict:
    return {"frame": frame,
            "points": [[p.x, p.y, p.positive] for p in prompts if isinstance(p, PointPrompt)],
            "boxes": [list(p.xyxy_px) for p in prompts if isinstance(p, BoxPrompt)]}


def _write(path: Path, objects: list[dict]) -> Path:
    path.write_text(json.dumps({"objects": objects}))
    return path


def _disc(clip: SyntheticClip, index: int = 4, **extra: object) -> dict:
    return {"name": "disc", "keyframes": [_keyframe(prompts_from_mask(clip.masks[index]), 1001 + index)], **extra}


def _read(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert mask is not None, path
    return mask


def test_segment_media_writes_a_mask_obeying_every_point(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    truth = clip.masks[4]
    prompts = prompts_from_mask(truth)
    ys, xs = np.nonzero(truth)
    # extra clicks: a positive one near the rim, a negative one inside the disc's box but off the disc
    prompts += [PointPrompt(float(xs.max()) - 2, float(ys.mean()), True),
                PointPrompt(float(xs.min()) + 1, float(ys.min()) + 1, False)]
    spec = _write(tmp_path / "prompts.json", [{"name": "disc", "keyframes": [_keyframe(prompts, 1005)]}])
    out = tmp_path / "out" / "mask.png"
    assert main(["segment", str(plate), "--frame", "1005", "--prompts", str(spec), "--out", str(out), "--quiet"]) == 0
    mask = _read(out)
    assert mask.dtype == np.uint8 and mask.shape == truth.shape and set(np.unique(mask)) <= {0, 255}
    inside = mask > 127
    for p in prompts:
        if isinstance(p, PointPrompt):
            assert inside[int(p.y), int(p.x)] == p.positive, p
    assert jaccard(inside, truth) > 0.8
    from PIL import Image

    with Image.open(out) as image:
        assert image.mode == "L" and image.size == (truth.shape[1], truth.shape[0])
    my, mx = np.nonzero(inside)
    line = capsys.readouterr().out.strip()
    assert line == (f"object 1 'disc', frame 1005: area {int(inside.sum())} px, box x {mx.min()}-{mx.max()} "
                    f"y {my.min()}-{my.max()} -> {out}")
    assert not list(tmp_path.glob("*.sam3roto")) and not list(tmp_path.rglob("*.masks"))  # media: nothing kept


def test_out_is_never_overwritten_without_force(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    spec = _write(tmp_path / "p.json", [_disc(clip)])
    out = tmp_path / "mask.png"
    out.write_bytes(b"not a mask")
    args = ["segment", str(plate), "--frame", "1005", "--prompts", str(spec), "--out", str(out), "--quiet"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"error: {out}: the file exists; segment never overwrites files" in err
    assert "--force" in err and "Traceback" not in err
    assert out.read_bytes() == b"not a mask"
    assert main([*args, "--force"]) == 0
    assert jaccard(_read(out) > 127, clip.masks[4]) > 0.8


def test_media_without_out_writes_nothing_and_says_so(plate: Path, tmp_path: Path, clip: SyntheticClip) -> None:
    spec = _write(tmp_path / "p.json", [_disc(clip)])
    run = subprocess.run([sys.executable, str(ROOT / "run.py"), "segment", str(plate), "--frame", "1005",
                          "--prompts", str(spec)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "nothing would be written" in run.stderr and "add --out mask.png" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json", "plate"]


def test_subprocess_segment_prints_the_mask(plate: Path, tmp_path: Path, clip: SyntheticClip) -> None:
    spec = _write(tmp_path / "p.json", [_disc(clip, 0)])
    run = subprocess.run([sys.executable, str(ROOT / "run.py"), "segment", str(plate), "--frame", "1001",
                          "--prompts", str(spec), "--out", "m.png", "--quiet"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("object 1 'disc', frame 1001: area ") and run.stdout.strip().endswith("-> m.png")
    assert jaccard(_read(tmp_path / "m.png") > 127, clip.masks[0]) > 0.8


def test_bad_frame_object_engine_and_out(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    spec = _write(tmp_path / "p.json", [_disc(clip), {"name": "car", "keyframes": [{"frame": 1001, "text": "car"}]}])
    base = ["segment", str(plate), "--prompts", str(spec), "--quiet"]
    for args, message in [
        (["--frame", "5", "--out", "x.png"], "frame 5 is not in the shot (frames 1001-1012)"),
        (["--frame", "1004", "--object", "disc", "--out", "x.png"],
         "object 'disc' has no keyframe on frame 1004 (its keyframes: 1005)"),
        (["--frame", "1005", "--object", "nope", "--out", "x.png"], "no object 'nope' in the prompts file"),
        (["--frame", "1001", "--object", "car", "--out", "x.png"],
         "the classic engine does not take text prompts: use --engine sam3"),
        (["--frame", "1005", "--out", "x.tif"], "give a .png file, a pattern such as mask.{name}.png"),
        (["--frame", "1005", "--out", "x.{nope}.png"], "cannot fill in the pattern ('nope')"),
    ]:
        assert main([*base, *args]) == 1, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
    assert not list(tmp_path.glob("x*"))
    assert main(["segment", str(plate), "--frame", "1005", "--out", "x.png"]) == 1
    assert "nothing to segment: give --prompts FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main([*base, "--frame", "1005", "--engine", "nope"])
    assert usage.value.code == 2


def test_several_objects_to_a_folder_or_a_pattern(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    spec = _write(tmp_path / "two.json", [_disc(clip), {**_disc(clip), "name": "red disc"}])
    base = ["segment", str(plate), "--frame", "1005", "--prompts", str(spec), "--quiet"]
    assert main([*base, "--out", str(tmp_path / "one.png")]) == 1
    err = capsys.readouterr().err
    assert "is one file, but 2 objects are segmented ('disc', 'red disc')" in err and "--object NAME" in err
    assert main([*base, "--out", str(tmp_path / "masks") + "/"]) == 0
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["disc.1005.png", "red_disc.1005.png"]
    for name in ("disc", "red_disc"):
        assert jaccard(_read(tmp_path / "masks" / f"{name}.1005.png") > 127, clip.masks[4]) > 0.8
    capsys.readouterr()
    pattern = str(tmp_path / "mask.{id}.{name}.{frame}.png")
    assert main([*base, "--out", pattern]) == 0
    assert (tmp_path / "mask.1.disc.1005.png").is_file() and (tmp_path / "mask.2.red_disc.1005.png").is_file()
    assert main([*base, "--out", pattern, "--object", "red disc"]) == 1  # exists already: ids follow the file
    assert main([*base, "--out", str(tmp_path / "only.png"), "--object", "red disc"]) == 0
    np.testing.assert_array_equal(_read(tmp_path / "only.png"), _read(tmp_path / "mask.2.red_disc.1005.png"))


def test_segment_a_project_stores_masks_and_keyframes(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "shot.sam3roto"
    first = _write(tmp_path / "first.json", [_disc(clip, 0)])
    assert main(["track", str(plate), "--project", str(project), "--prompts", str(first), "--direction", "forward",
                 "--frames", "1001-1003", "--quiet"]) == 0
    spec = _write(tmp_path / "p.json", [_disc(clip, 8, absent=[[1011, 1012]]), {**_disc(clip, 8), "name": "copy"}])
    capsys.readouterr()
    assert main(["segment", str(project), "--frame", "1009", "--prompts", str(spec), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "object 1 'disc', frame 1009: area " in out and "object 2 'copy', frame 1009: area " in out
    assert out.strip().endswith(f"saved {project}")
    loaded = load_project(project)
    assert [o.name for o in loaded.objects] == ["disc", "copy"]
    assert loaded.keyframe(1, 0) is not None and loaded.keyframe(1, 8) is not None
    assert loaded.keyframe(2, 8) is not None and loaded.object(1).absent == [(10, 11)]
    store = open_mask_store(project, loaded)
    assert store.frames(1) == [0, 1, 2, 8] and store.frames(2) == [8]  # one frame, no tracking
    assert jaccard(store.get(1, 8), clip.masks[8]) > 0.8
    # --out too: the file holds the stored mask
    assert main(["segment", str(project), "--frame", "1009", "--prompts", str(spec), "--object", "disc",
                 "--out", str(tmp_path / "disc.png"), "--quiet"]) == 0
    np.testing.assert_array_equal(_read(tmp_path / "disc.png") > 127, open_mask_store(project).get(1, 8))


def test_an_absent_object_gets_an_empty_mask(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    spec = _write(tmp_path / "p.json", [_disc(clip, 0, absent=[[1005, 1006]])])
    out = tmp_path / "gone.png"
    assert main(["segment", str(plate), "--frame", "1005", "--prompts", str(spec), "--out", str(out),
                 "--quiet"]) == 0
    assert "area 0 px (empty); absent (out of shot)" in capsys.readouterr().out
    mask = _read(out)
    assert mask.shape == clip.masks[0].shape and not mask.any()
    bad = _write(tmp_path / "bad.json", [_disc(clip, 0, absent=[[1005, 1099]])])
    assert main(["segment", str(plate), "--frame", "1001", "--prompts", str(bad), "--out", str(out), "--force"]) == 1
    assert "object 'disc': absent range [1005, 1099]: frame 1099 is not in the shot" in capsys.readouterr().err


# -- text: an engine that takes text (two fixed squares for any text) -----------------------
TEXT_CAPABILITIES = Capabilities(text=True, points=True, boxes=True, video=True)
SQUARES = ((10, 10), (200, 150))


class SquaresSession(ClassicSession):
    capabilities = TEXT_CAPABILITIES

    def add_prompt(self, frame: int, prompt: Prompt, obj_id: int) -> dict[int, np.ndarray]:
        if not isinstance(prompt, TextPrompt):
            return super().add_prompt(frame, prompt, obj_id)
        self.check_frame(frame)
        masks = {}
        for n, (x, y) in enumerate(SQUARES):
            mask = np.zeros((self.height, self.width), bool)
            mask[y:y + 30, x:x + 40] = True
            masks[obj_id + n] = mask
        return masks


class SquaresEngine(ClassicEngine):
    name = "squares"
    label = "Squares (test engine with text)"
    capabilities = TEXT_CAPABILITIES

    def open_session(self, source: FrameSource) -> ClassicSession:
        return SquaresSession(source)


def test_text_instances_become_objects_with_key_masks(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(SEGMENTATION_ENGINES, "squares", f"{__name__}:SquaresEngine")
    project = tmp_path / "shot.sam3roto"
    spec = _write(tmp_path / "p.json", [_disc(clip, 0)])
    assert main(["track", str(plate), "--project", str(project), "--prompts", str(spec), "--frames", "1001-1002",
                 "--direction", "forward", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["segment", str(project), "--frame", "1003", "--text", "box", "--engine", "squares",
                 "--out", str(tmp_path / "m") + "/", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "object 2 'box', frame 1003: area 1200 px, box x 10-49 y 10-39; found by text 'box'" in out
    assert "object 3 'box 3', frame 1003: area 1200 px, box x 200-239 y 150-179" in out
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["box.1003.png", "box_3.1003.png"]
    loaded = load_project(project)
    assert [o.name for o in loaded.objects] == ["disc", "box", "box 3"]
    key = loaded.keyframe(2, 2)
    assert key is not None and key.mask and key.prompts == [TextPrompt("box")]
    instance = loaded.keyframe(3, 2)
    assert instance is not None and instance.mask
    store = open_mask_store(project, loaded)
    assert store.key_masks().get(3, 2)[150:180, 200:240].all() and store.get(3, 2).sum() == 1200


def test_engine_choices_come_from_the_registry() -> None:
    for command in ("segment", "track"):
        run = subprocess.run([sys.executable, str(ROOT / "run.py"), command, "--help"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0
        text = " ".join(run.stdout.split())
        names = ",".join(name for name, _ in engine_choices())
        assert f"--engine {{{names}}}" in text
        for name, label in engine_choices():
            assert f"{name}: {' '.join(label.split())}" in text

"""The seed 002 and 003 workflows from the command line: Label Studio and mattes in,
render out, everything read back."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.cli import main
from sam3roto.core.project_io import load_project, open_mask_store
from tests.interchange.test_labelstudio import encode_rle


@pytest.fixture
def plate(tmp_path: Path) -> Path:
    folder = tmp_path / "plate"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for n in range(1, 6):
        cv2.imwrite(str(folder / f"{n:08d}.png"), rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
    return folder


def test_labelstudio_then_mattes_then_render(plate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    brush = np.zeros((60, 80), bool)
    brush[10:30, 20:50] = True
    export = tmp_path / "export.json"
    export.write_text(json.dumps([{"id": 4, "data": {"image": "http://example.invalid/frames/00000003.png"},
                                   "annotations": [{"id": 1, "result": [
        {"id": "b", "type": "brushlabels", "original_width": 80, "original_height": 60,
         "value": {"format": "rle", "rle": encode_rle(brush), "brushlabels": ["cup"]}},
        {"id": "k", "type": "keypointlabels", "value": {"x": 50, "y": 50, "keypointlabels": ["hand"]}},
    ]}]}]))
    project = tmp_path / "shot.sam3roto"
    assert main(["labelstudio", str(export), "--list"]) == 0
    assert "task 4 (image, http://example.invalid/frames/00000003.png): 1 brushlabels, 1 keypointlabels" in \
        capsys.readouterr().out
    assert main(["labelstudio", str(export), "--project", str(project), "--media", str(plate)]) == 0
    out = capsys.readouterr().out
    assert "object 1 'cup' (new): masks on frames 3" in out and "object 2 'hand' (new): prompts on frames 3" in out
    loaded = load_project(project)
    assert loaded.keyframe(1, 2).mask and loaded.keyframe(2, 2).prompts[0].x == 40
    np.testing.assert_array_equal(open_mask_store(project).get(1, 2), brush)

    mattes = tmp_path / "mattes"
    mattes.mkdir()
    for n in range(1, 6):
        m = np.zeros((60, 80), np.uint8)
        m[40:55, 5 * n : 5 * n + 20] = 255
        cv2.imwrite(str(mattes / f"m.{n:04d}.png"), m)
    assert main(["mattes", str(mattes), "--project", str(project), "--object", "hand", "--quiet"]) == 0
    assert "object 2 'hand': masks on frames 1-5" in capsys.readouterr().out

    out_dir = tmp_path / "renders"
    args = ["render", str(project), "--outputs", "mask-zip,postshot", "--zip-mode", "per_label", "--out", str(out_dir),
            "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "wrote v001: 6 files (mask-zip 1, postshot 5) for frames 1-5" in printed
    with zipfile.ZipFile(out_dir / "v001" / "plate_masks.zip") as archive:
        names = set(archive.namelist())
    assert {"cup/plate_cup.0003.png", "hand/plate_hand.0005.png"} <= names and len(names) == 10
    postshot = cv2.imread(str(out_dir / "v001" / "postshot" / "plate.0003.png"), cv2.IMREAD_UNCHANGED)
    expected = brush.copy()
    expected[40:55, 15:35] = True
    np.testing.assert_array_equal(postshot[..., 3], expected * 255)
    np.testing.assert_array_equal(postshot[..., :3], cv2.imread(str(plate / "00000003.png")))
    assert main([*args, "--frames", "2-3", "--start-frame", "1001", "--objects", "cup"]) == 0
    assert "wrote v002: 3 files (mask-zip 1, postshot 2) for frames 1001-1002" in capsys.readouterr().out
    # Postshot alpha from the hand minus the cup
    assert main([*args, "--frames", "3", "--combine", "hand,cup", "--combine-op", "difference"]) == 0
    capsys.readouterr()
    hand_only = cv2.imread(str(out_dir / "v003" / "postshot" / "plate.0003.png"), cv2.IMREAD_UNCHANGED)[..., 3]
    np.testing.assert_array_equal(hand_only, (expected & ~brush) * 255)
    assert json.loads((out_dir / "v003" / "manifest.json").read_text())["combine_op"] == "difference"


def test_render_reports_bad_requests(plate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "p.sam3roto"
    assert main(["mattes", str(plate), "--project", str(project), "--object", "all", "--media", str(plate),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["render"]) == 2
    assert main(["render", str(project), "--outputs", "tiff"]) == 1
    assert "unknown output 'tiff'; choose from png-alpha" in capsys.readouterr().err
    assert main(["render", str(project), "--objects", "nobody"]) == 1
    assert "no object 'nobody' in the project (objects: 1 'all')" in capsys.readouterr().err
    assert main(["render", str(project), "--frames", "9"]) == 1
    assert "frames 9 are not in the shot (1-5)" in capsys.readouterr().err
    assert main(["labelstudio", str(tmp_path / "missing.json"), "--project", str(project)]) == 1
    assert "the Label Studio export does not exist" in capsys.readouterr().err
    assert main(["mattes", str(plate), "--project", str(tmp_path / "new.sam3roto"), "--object", "x"]) == 1
    assert "give --media to create it" in capsys.readouterr().err
    assert not (tmp_path / "renders").exists()

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


@pytest.fixture(scope="module")
def clip() -> SyntheticClip:
    return moving_object_clip(n=12)


@pytest.fixture
def plate(tmp_path: Path, clip: SyntheticClip) -> Path:
    folder = tmp_path / "plate"
    folder.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(folder / f"plate.{1001 + i}.png"), frame[..., ::-1])
    return folder


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
    assert main(["track", str(plate), "--project", str(project), "--labelstudio", str(export), "--quiet",
                 "--frames", "1001-1006"]) == 0
    assert "object 1 'disc': frames 1001-1006" in capsys.readouterr().out
    assert main(["render", str(project), "--outputs", "mask-zip", "--frames", "1001-1006", "--quiet"]) == 0
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
         "object 'a': frame 5 is not in the shot (1001..1012)"),
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

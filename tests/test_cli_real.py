"""Every headless command on one real clip (DAVIS ``blackswan``, read in place from
../shared/data): info, labelstudio, track, render, depth (random da3-small weights in a
folder), render of depth outputs, farm."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.cli import main
from sam3roto.core.evaluation import jaccard
from sam3roto.core.project_io import open_mask_store
from tests.interchange.test_labelstudio import encode_rle
from tests.test_cli_depth import weights  # noqa: F401  (module fixture: a random da3-small folder)


def test_every_command_on_a_real_clip(shared_data: Path, tmp_path: Path, weights: Path,  # noqa: F811
                                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    clip = shared_data / "davis2016" / "JPEGImages" / "480p" / "blackswan"
    truth = shared_data / "davis2016" / "Annotations" / "480p" / "blackswan"
    assert main(["info", str(clip), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["frames"] == 50 and info["width"] == 854 and info["frame_numbers"] == "0-49"
    gt = [cv2.imread(str(truth / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127 for i in range(8)]
    export = tmp_path / "ls.json"
    export.write_text(json.dumps([{"id": 7, "data": {"image": "/data/upload/00000.jpg"}, "annotations": [{
        "id": 1, "result": [{"id": "r", "type": "brushlabels", "original_width": 854, "original_height": 480,
                             "value": {"format": "rle", "rle": encode_rle(gt[0]), "brushlabels": ["swan"]}}]}]}]))
    project = tmp_path / "swan.sam3roto"
    assert main(["labelstudio", str(export), "--project", str(project), "--media", str(clip)]) == 0
    capsys.readouterr()
    assert main(["track", str(project), "--frames", "0-7", "--direction", "forward", "--render",
                 "png-alpha,mask-zip", "--quiet"]) == 0
    assert "wrote v001" in capsys.readouterr().out
    store = open_mask_store(project)
    assert np.mean([jaccard(store.get(1, i), gt[i]) for i in range(1, 8)]) > 0.8
    assert len(list((tmp_path / "renders" / "v001" / "swan").glob("*.png"))) == 8

    monkeypatch.setenv("SAM3ROTO_DTYPE", "float32")
    assert main(["depth", str(project), "--depth-dir", str(weights), "--process-res", "56", "--chunk", "4",
                 "--overlap", "1", "--device", "cpu", "--frames", "0-7", "--quiet"]) == 0
    assert main(["render", str(project), "--outputs", "depth-exr,normals-png,chan,ply", "--frames", "0-7",
                 "--quiet"]) == 0
    v002 = tmp_path / "renders" / "v002"
    assert len(list((v002 / "depth").glob("*.exr"))) == 8
    assert len((v002 / "camera" / "blackswan_camera_ZXY.chan").read_text().splitlines()) == 8
    assert main(["farm", str(project), "--outputs", "png-alpha,exr", "--chunk", "4"]) == 0
    template = json.loads((tmp_path / "swan.job.json").read_text())
    frames = next(s for s in template["steps"] if s["name"] == "Render")["parameterSpace"]
    assert len(frames["taskParameterDefinitions"][0]["range"]) == 13  # 50 frames in chunks of 4

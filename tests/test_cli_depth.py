"""``depth PROJECT`` then ``render --outputs depth-...`` from the command line, with a
weights folder holding a randomly initialised ``da3-small`` in the published layout (so
the real loading code reads real files)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.cli import main
from sam3roto.core.project_io import depth_cache_dir, load_project, save_project
from sam3roto.pipeline.shot import new_project

torch = pytest.importorskip("torch", reason="the ML stack (torch) is not installed")
pytest.importorskip("depth_anything_3", reason="depth-anything-3 is not installed (see install_models.sh)")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from safetensors.torch import save_model

    from sam3roto.backends.da3 import build_network

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("DA3-SMALL")
    wrapper = torch.nn.Module()
    wrapper.model = build_network("da3-small")
    save_model(wrapper, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_name": "da3-small"}))
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    plate = tmp_path / "plate"
    plate.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        cv2.imwrite(str(plate / f"plate.{1001 + i}.png"), rng.integers(0, 255, (72, 128, 3), dtype=np.uint8))
    proj, source = new_project(plate / "plate.####.png")
    source.close()
    path = tmp_path / "shot.sam3roto"
    save_project(proj, path)
    return path


def test_depth_then_render_depth_camera_and_point_cloud(project: Path, weights: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAM3ROTO_DTYPE", "float32")
    torch.set_num_threads(1)
    code = main(["depth", str(project), "--depth-dir", str(weights), "--process-res", "56", "--chunk", "4",
                 "--overlap", "2", "--device", "cpu", "--frames", "1002-1006", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "depth for frames 1002-1006: relative, cameras estimated" in out
    assert sorted(p.name for p in (depth_cache_dir(project) / "frames").iterdir()) == [
        f"{i:06d}.npz" for i in range(1, 6)]
    saved = load_project(project).settings["depth"]
    assert saved["chunk"] == 4 and saved["process_res"] == 56
    code = main(["render", str(project), "--outputs", "depth-png16,depth-exr,normals-png,camera-npz,chan,ply,blender",
                 "--frames", "1002-1006", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    version = project.parent / "renders" / "v001"
    assert len(list((version / "depth").glob("*.png"))) == 5
    assert len((version / "camera" / "plate_camera_ZXY.chan").read_text().splitlines()) == 5
    assert (version / "pointcloud" / "plate_points.ply").stat().st_size > 0


def test_render_without_depth_says_how_to_get_it(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(project), "--outputs", "depth-exr", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "need depth" in err and "python run.py depth PROJECT" in err


def test_depth_with_missing_weights_names_the_folder(project: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["depth", str(project), "--depth-dir", str(tmp_path / "none"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "weights folder does not exist" in err and "install_models.sh" in err
    with pytest.raises(SystemExit) as e:
        main(["depth", str(project), "--preset", "huge"])
    assert e.value.code == 2

"""``everything`` from the command line: one frame cut into regions with the classical engine,
written as a 16-bit PNG of region numbers (read back with OpenCV) and a JSON region list."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.backends.base import Capabilities
from sam3roto.backends.classic import ClassicEngine, candidate_labels
from sam3roto.backends.registry import SEGMENTATION_ENGINES
from sam3roto.cli import main
from sam3roto.core.project_io import save_project
from sam3roto.pipeline.shot import new_project
from tests.conftest import SyntheticClip


def _read(path: Path) -> np.ndarray:
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert labels is not None, path
    return labels


def test_everything_writes_region_numbers_and_their_list(plate: Path, tmp_path: Path, clip: SyntheticClip,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "regions.png"
    assert main(["everything", str(plate), "--frame", "1005", "--out", str(out), "--quiet"]) == 0
    labels = _read(out)
    expected = candidate_labels(clip.frames[4])  # the classical engine on the source frame
    assert labels.dtype == np.uint16 and labels.shape == expected.shape
    np.testing.assert_array_equal(labels, expected)
    data = json.loads(out.with_suffix(".json").read_text())
    n = int(labels.max()) + 1
    assert n > 1
    assert data["count"] == n and data["frame"] == 1005 and data["engine"] == "classic"
    assert data["png"] == "regions.png" and (data["width"], data["height"]) == (labels.shape[1], labels.shape[0])
    regions = data["regions"]
    assert [r["number"] for r in regions] == list(range(n))
    areas = [r["area_px"] for r in regions]
    assert areas == np.bincount(labels.ravel()).tolist() and areas == sorted(areas, reverse=True)
    for r in regions:
        ys, xs = np.nonzero(labels == r["number"])
        assert r["bbox_xyxy"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert capsys.readouterr().out.strip() == \
        f"frame 1005: {n} regions (largest {areas[0]} px) -> {out} + regions.json"
    assert sorted(p.name for p in out.parent.iterdir()) == ["regions.json", "regions.png"]  # no temporary files


def test_a_pick_is_the_union_of_regions(plate: Path, tmp_path: Path, clip: SyntheticClip) -> None:
    # what a script does with the files: the regions under its clicks, as the window picks them
    out = tmp_path / "regions.png"
    assert main(["everything", str(plate), "--frame", "1001", "--out", str(out), "--quiet"]) == 0
    labels = _read(out)
    truth = clip.masks[0]
    ys, xs = np.nonzero(truth)
    picked = {int(labels[y, x]) for y, x in zip(ys[::50], xs[::50], strict=True)}
    mask = np.isin(labels, list(picked))
    assert mask[truth].mean() > 0.9


def test_files_are_never_overwritten_without_force(plate: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "regions.png"
    out.write_bytes(b"keep")
    assert main(["everything", str(plate), "--frame", "1001", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}: the file exists; everything never overwrites files") and "--force" in err
    assert out.read_bytes() == b"keep" and not out.with_suffix(".json").exists()
    out.unlink()
    out.with_suffix(".json").write_text("{}")  # the list beside it counts as well
    assert main(["everything", str(plate), "--frame", "1001", "--out", str(out), "--quiet"]) == 1
    assert capsys.readouterr().err.startswith(f"error: {out.with_suffix('.json')}: the file exists") \
        and not out.exists()
    assert main(["everything", str(plate), "--frame", "1001", "--out", str(out), "--quiet", "--force"]) == 0
    assert _read(out).dtype == np.uint16 and json.loads(out.with_suffix(".json").read_text())["count"] > 1


@pytest.mark.parametrize(("args", "message"), [
    (["--frame", "7", "--out", "r.png"], "frame 7 is not in the shot (frames 1001-1012)"),
    (["--frame", "1001", "--out", "r.exr"], "--out r.exr: give a .png file for the region numbers"),
    (["--frame", "1001", "--out", "r.png", "--sam3-dir", "w"], "--sam3-dir is for --engine sam3"),
])
def test_usage_errors(plate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                      args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["everything", str(plate), *args, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not list(tmp_path.glob("r.*"))


class PlainEngine(ClassicEngine):
    name = "plain"
    label = "Plain (test engine without segment everything)"
    capabilities = Capabilities(text=False, points=True, boxes=True, video=True)


def test_an_engine_without_segment_everything_is_refused_up_front(
        plate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SEGMENTATION_ENGINES, "plain", f"{__name__}:PlainEngine")
    out = tmp_path / "r.png"
    assert main(["everything", str(plate), "--frame", "1001", "--out", str(out), "--engine", "plain",
                 "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the plain engine does not offer segment everything: use --engine classic")
    assert not out.exists()


def test_everything_on_a_project_reads_its_shot(plate: Path, tmp_path: Path, clip: SyntheticClip) -> None:
    project, source = new_project(plate)
    source.close()
    path = save_project(project, tmp_path / "shot.sam3roto")
    before = path.read_bytes()
    out = tmp_path / "r.png"
    assert main(["everything", str(path), "--frame", "1012", "--out", str(out), "--quiet"]) == 0
    np.testing.assert_array_equal(_read(out), candidate_labels(clip.frames[11]))
    assert path.read_bytes() == before, "the project is only read"

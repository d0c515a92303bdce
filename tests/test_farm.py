"""Farm rendering: the Open Job Description template validates with openjd-model, runs
locally with openjd-cli (tracking per object, the render in frame chunks, whole-shot
outputs, publish), and gives the same files as a single-process render."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from sam3roto.cli import main
from sam3roto.core.project_io import load_project, save_project
from sam3roto.errors import Sam3RotoError
from sam3roto.pipeline.farm import frame_chunks, job_template
from tests.backends.test_classic import moving_object_clip
from tests.test_cli_track import _prompts_file

pytest.importorskip("openjd.model", reason="openjd-model is not installed (requirements-dev.txt)")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    clip = moving_object_clip(n=12)
    plate = tmp_path / "plate"
    plate.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(plate / f"plate.{1001 + i}.png"), frame[..., ::-1])
    spec = json.loads(_prompts_file(clip.masks[0], tmp_path / "one.json").read_text())
    spec["objects"].append({**spec["objects"][0], "name": "copy"})
    (tmp_path / "p.json").write_text(json.dumps(spec))
    path = tmp_path / "shot.sam3roto"
    # keyframes only: the farm job does the tracking
    assert main(["track", str(plate), "--project", str(path), "--prompts", str(tmp_path / "p.json"),
                 "--frames", "1001", "--direction", "forward", "--quiet"]) == 0
    return path


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def test_frame_chunks() -> None:
    assert frame_chunks([1001, 1002, 1003, 1004, 1005], 2) == ["1001-1002", "1003-1004", "1005"]
    with pytest.raises(ValueError):
        frame_chunks([1], 0)


def test_template_validates_and_splits_the_work(project: Path) -> None:
    from openjd.model import create_job, decode_job_template

    template = job_template(load_project(project), project, outputs=("png-alpha", "exr", "prores"), version=3,
                            chunk=5, track=True)
    decoded = decode_job_template(template=template)
    job = create_job(job_template=decoded, job_parameter_values={})
    steps = {s.name: s for s in job.steps}
    assert list(steps) == ["Track", "Render", "RenderWhole", "Publish"]
    ranges = {s["name"]: s["parameterSpace"]["taskParameterDefinitions"][0]["range"]
              for s in template["steps"] if "parameterSpace" in s}
    assert ranges == {"Track": ["disc", "copy"], "Render": ["1001-1005", "1006-1010", "1011-1012"]}
    render = next(s for s in template["steps"] if s["name"] == "Render")
    args = render["script"]["actions"]["onRun"]["args"]
    assert args[args.index("--outputs") + 1] == "png-alpha,exr" and "--part" in args
    whole = next(s for s in template["steps"] if s["name"] == "RenderWhole")
    assert "prores" in whole["script"]["actions"]["onRun"]["args"]
    defaults = {p["name"]: p.get("default") for p in template["parameterDefinitions"]}
    assert defaults["Project"] == "shot.sam3roto" and defaults["Renders"] == "renders" and defaults["Version"] == 3


def test_openjd_cli_round_trip_equals_a_single_process_render(project: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["farm", str(project), "--outputs", "png-alpha,exr,mask-zip", "--chunk", "5", "--track"]) == 0
    out = capsys.readouterr().out
    assert "Track (2 tasks), Render (3 tasks), RenderWhole, Publish" in out and "validated with openjd-model" in out
    template = tmp_path / "shot.job.json"
    run = subprocess.run([sys.executable, "-m", "openjd", "run", str(template), "--step", "Publish",
                          "--run-dependencies"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    farm = tmp_path / "renders" / "v001"
    manifest = json.loads((farm / "manifest.json").read_text())
    assert manifest["farm_tasks"] == 4 and manifest["frames"]["numbers"] == list(range(1001, 1013))
    assert not [p for p in (tmp_path / "renders").iterdir() if p.name.startswith(".")]
    # the same project rendered in one process
    assert main(["render", str(project), "--outputs", "png-alpha,exr,mask-zip", "--quiet"]) == 0
    single = tmp_path / "renders" / "v002"
    farm_files, single_files = _tree(farm), _tree(single)
    assert sorted(farm_files) == sorted(single_files) and len(farm_files) == 12 * 3 + 1
    assert all(farm_files[k] == single_files[k] for k in farm_files)


def test_publish_refuses_missing_frames_and_parts_refuse_split_whole_outputs(project: Path, tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["track", str(project), "--quiet"]) == 0
    assert main(["render", str(project), "--outputs", "png-alpha", "--part", "--version", "7", "--frames",
                 "1001-1006", "--quiet"]) == 0
    assert main(["render", str(project), "--publish", "--version", "7", "--quiet"]) == 1
    assert "6 frames were not rendered by any task (indices [6, 7, 8, 9, 10]" in capsys.readouterr().err
    # a retried task (same frames, same bytes) is accepted; a different file in its place is not
    assert main(["render", str(project), "--outputs", "png-alpha", "--part", "--version", "7", "--frames",
                 "1004-1006", "--quiet"]) == 0
    assert main(["render", str(project), "--outputs", "png-alpha", "--bits", "8", "--part", "--version", "7",
                 "--frames", "1004-1008", "--quiet"]) == 1
    assert "already written, differently, by another task" in capsys.readouterr().err
    assert main(["render", str(project), "--outputs", "prores", "--part", "--version", "7", "--frames",
                 "1001-1006", "--quiet"]) == 1
    assert "cannot be split across farm tasks" in capsys.readouterr().err
    assert main(["render", str(project), "--outputs", "png-alpha", "--part", "--version", "7", "--frames",
                 "1007-1012", "--quiet"]) == 0
    assert main(["render", str(project), "--publish", "--version", "7", "--quiet"]) == 0
    assert len(list((tmp_path / "renders" / "v007" / "disc").glob("*.png"))) == 12
    assert main(["render", str(project), "--outputs", "png-alpha", "--part", "--version", "7", "--quiet"]) == 1
    assert "already published" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["farm", str(project)])  # --outputs is required


def test_the_farm_renders_into_the_projects_render_folder_like_render(project: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    loaded = load_project(project)
    loaded.settings["render_folder"] = "deliveries"  # chosen in the Export tab: relative to the project's folder
    save_project(loaded, project)
    (tmp_path / "deliveries" / "v004").mkdir(parents=True)
    (tmp_path / "renders" / "v009").mkdir(parents=True)  # not the folder in use: no say in the version
    assert main(["farm", str(project), "--outputs", "png-alpha"]) == 0
    deliveries = (tmp_path / "deliveries").resolve()
    assert f"renders into v005 under {deliveries}" in capsys.readouterr().out
    template = json.loads((tmp_path / "shot.job.json").read_text())
    defaults = {p["name"]: p.get("default") for p in template["parameterDefinitions"]}
    assert defaults["Renders"] == "deliveries" and defaults["Version"] == 5
    # the pipeline's own default is the same folder; given folders win
    assert {p["name"]: p.get("default") for p in job_template(
        load_project(project), project, outputs=("png-alpha",), version=1)["parameterDefinitions"]}["Renders"] == \
        "deliveries"
    assert main(["farm", str(project), "--outputs", "png-alpha", "--renders", str(tmp_path / "given")]) == 0
    assert "renders into v001 under" in capsys.readouterr().out
    template = json.loads((tmp_path / "shot.job.json").read_text())
    assert {p["name"]: p.get("default") for p in template["parameterDefinitions"]}["Renders"] == "given"
    # a render_folder that is not a folder path: one error naming the project file
    loaded.settings["render_folder"] = ["not", "a", "path"]
    save_project(loaded, project)
    assert main(["farm", str(project), "--outputs", "png-alpha"]) == 1
    err = capsys.readouterr().err
    assert "settings.render_folder must be a folder path" in err and "shot.sam3roto" in err


def test_template_needs_keyframes_to_split_tracking(tmp_path: Path) -> None:
    from sam3roto.pipeline.shot import new_project

    clip = moving_object_clip(n=3)
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(tmp_path / f"p.{i + 1}.png"), frame)
    proj, source = new_project(tmp_path / "p.#.png")
    source.close()
    proj.add_object("empty")
    with pytest.raises(Sam3RotoError, match="no object has a keyframe"):
        job_template(proj, tmp_path / "x.sam3roto", outputs=("png-alpha",), version=1, track=True)


def test_deadline_cloud_bundle_runs_with_its_parameter_values(project: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "bundle"
    assert main(["track", str(project), "--quiet"]) == 0
    assert main(["farm", str(project), "--outputs", "png-alpha", "--bundle", str(bundle), "--chunk", "6"]) == 0
    assert f"deadline bundle submit {bundle}" in capsys.readouterr().out
    values = json.loads((bundle / "parameter_values.json").read_text())["parameterValues"]
    assert {v["name"] for v in values} == {"Project", "Renders"}
    template = json.loads((bundle / "template.json").read_text())
    assert all("default" not in p for p in template["parameterDefinitions"] if p["type"] == "PATH")
    params = [a for v in values for a in ("-p", f"{v['name']}={v['value']}")]
    run = subprocess.run([sys.executable, "-m", "openjd", "run", str(bundle / "template.json"), "--step", "Publish",
                          "--run-dependencies", *params], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:]
    assert len(list((tmp_path / "renders" / "v001" / "disc").glob("*.png"))) == 12

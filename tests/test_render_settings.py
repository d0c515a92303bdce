"""What a command-line render takes from the project's saved ``render`` settings: never the
version (a one-shot choice: a saved one made the first render write it and every later
one fail), never the frames for a farm part (its frames are its command line's, else the
whole shot); and the shot's input colour space: ``render --input-colorspace`` for this
run, a saved name the OpenColorIO config lacks reported as itself, naming the project."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.cli import build_parser, main
from sam3roto.cli.render import RENDER_INPUT_COLORSPACE_HELP, render_options
from sam3roto.core.project_io import load_project, open_mask_store, save_project
from sam3roto.pipeline.render_table import ONE_SHOT, saved_settings
from sam3roto.pipeline.shot import new_project
from tests.hostile import assert_clean_error, run_cli

N = 5


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A saved project on a PNG sequence, frames 1001-1005, "person" masked on every frame."""
    plate = tmp_path / "plate"
    plate.mkdir()
    rng = np.random.default_rng(1)
    for i in range(N):
        cv2.imwrite(str(plate / f"plate.{1001 + i}.png"), rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    made, source = new_project(plate / "plate.####.png")
    source.close()
    person = made.add_object("person")
    path = save_project(made, tmp_path / "shot.sam3roto")
    store = open_mask_store(path, load_project(path))
    mask = np.zeros((32, 48), bool)
    mask[8:24, 10:30] = True
    for i in range(N):
        store.put(person.id, i, mask)
    return path


def _set(path: Path, **settings: object) -> None:
    loaded = load_project(path)
    loaded.settings.update(settings)
    save_project(loaded, path)


def _numbers(version: Path) -> list[int]:
    return json.loads((version / "manifest.json").read_text())["frames"]["numbers"]


# -- one-shot choices ------------------------------------------------------------------------

def test_the_saved_settings_a_render_starts_from() -> None:
    assert set(ONE_SHOT) == {"version", "part"}
    settings = {"render": {"version": 3, "part": True, "indices": [0, 1], "bit_depth": 8}}
    assert saved_settings(settings) == {"indices": [0, 1], "bit_depth": 8}
    assert saved_settings(settings, part=True) == {"bit_depth": 8}
    assert saved_settings({}) == {}
    assert saved_settings({"render": 5}) == 5  # reported by RenderOptions.from_dict, naming settings.render


def test_a_saved_version_is_ignored_every_plain_render_takes_the_next_free_one(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _set(project, render={"version": 3, "bit_depth": 8})
    assert main(["render", str(project), "--quiet"]) == 0
    assert main(["render", str(project), "--quiet"]) == 0
    assert capsys.readouterr().err == ""  # ignored without a word: older files hold it
    renders = tmp_path / "renders"
    assert sorted(p.name for p in renders.iterdir()) == ["v001", "v002"]
    assert json.loads((renders / "v002" / "manifest.json").read_text())["options"]["bit_depth"] == 8
    # a given --version still wins, once
    assert main(["render", str(project), "--version", "7", "--quiet"]) == 0
    assert main(["render", str(project), "--quiet"]) == 0
    assert sorted(p.name for p in renders.iterdir()) == ["v001", "v002", "v007", "v008"]
    # a saved one that is not even a number is no error either (it is never read)
    _set(project, render={"version": "three", "part": "yes"})
    assert main(["render", str(project), "--quiet"]) == 0 and (renders / "v009").is_dir()


def test_a_farm_part_takes_its_frames_from_its_command_line_never_from_the_saved_range(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _set(project, render={"indices": [0, 1, 2]})  # the window's Frames field: 1001-1003
    parser = build_parser()
    loaded = load_project(project)

    def options(*flags: str):
        return render_options(loaded, project, parser.parse_args(["render", str(project), *flags]))

    assert options().indices == (0, 1, 2)
    assert options("--part", "--version", "1").indices is None  # the whole shot
    assert options("--part", "--version", "1", "--frames", "1004-1005").indices == (3, 4)
    # the farm's whole-shot step (farm.py: no --frames) renders the whole shot into the part
    assert main(["render", str(project), "--outputs", "prores", "--part", "--version", "1", "--quiet"]) == 0, \
        capsys.readouterr().err
    for chunk in ("1001-1003", "1004-1005"):  # the farm's Render step, --chunk 3
        assert main(["render", str(project), "--outputs", "png-alpha", "--part", "--version", "1", "--frames",
                     chunk, "--quiet"]) == 0
    assert main(["render", str(project), "--publish", "--version", "1", "--outputs", "prores,png-alpha",
                 "--quiet"]) == 0, capsys.readouterr().err
    published = tmp_path / "renders" / "v001"
    assert _numbers(published) == list(range(1001, 1006))
    assert len(list((published / "person").glob("*.png"))) == N
    assert [p.name for p in published.rglob("*.mov")] == ["plate_person_straight.mov"]
    # a plain render keeps using the saved range
    assert main(["render", str(project), "--quiet"]) == 0
    assert _numbers(tmp_path / "renders" / "v002") == [1001, 1002, 1003]


# -- the input colour space ------------------------------------------------------------------

def _edit_colorspace(project: Path, name: str) -> None:
    data = json.loads(project.read_text())
    assert data["shot"]["input_colorspace"]
    data["shot"]["input_colorspace"] = name
    project.write_text(json.dumps(data, indent=1))


def test_a_saved_input_colorspace_the_config_lacks_is_one_error_and_input_colorspace_renders(
        project: Path, tmp_path: Path) -> None:
    _edit_colorspace(project, "Kodak 2383")
    bad = run_cli("render", project, "--outputs", "png-rgba", "--quiet", timeout=120)
    text = assert_clean_error(bad, str(project), "'Kodak 2383' is not in the OpenColorIO config", "studio-config",
                              "run.py colorspaces lists them")
    assert len(text.strip().splitlines()) == 1 and "the shot's media" not in text
    assert not (tmp_path / "renders").exists()
    good = run_cli("render", project, "--outputs", "png-rgba", "--input-colorspace", "lin_rec709", "--quiet",
                   timeout=120)
    assert good.returncode == 0, good.stderr
    manifest = json.loads((tmp_path / "renders" / "v001" / "manifest.json").read_text())
    assert "Linear Rec.709 (sRGB)" in json.dumps(manifest)
    assert len(list((tmp_path / "renders" / "v001").rglob("*.png"))) == N
    # for this run only: the project file is not changed
    assert json.loads(project.read_text())["shot"]["input_colorspace"] == "Kodak 2383"


def test_colour_space_flags_the_config_lacks_are_named_as_flags(project: Path, tmp_path: Path) -> None:
    for flag, what in (("--output-colorspace", "output"), ("--input-colorspace", "input")):
        proc = run_cli("render", project, "--outputs", "png-rgba", flag, "nope", "--quiet", timeout=120)
        text = assert_clean_error(proc, f"{flag}: the {what} colour space 'nope' is not in the OpenColorIO config",
                                  "colorspaces")
        assert str(project) not in text  # the name came from the command line, not from the project
    assert not (tmp_path / "renders").exists()
    # a saved output colour space the config lacks names the project and its setting's words
    _set(project, render={"output_colorspace": "nope"})
    proc = run_cli("render", project, "--outputs", "png-rgba", "--quiet", timeout=120)
    assert_clean_error(proc, str(project), "the output colour space 'nope' is not in the OpenColorIO config")


def test_render_help_says_input_colorspace_is_for_this_run() -> None:
    import argparse

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    render = sub.choices["render"]
    action = next(a for a in render._actions if a.dest == "input_colorspace")
    assert action.option_strings == ["--input-colorspace"] and action.help == RENDER_INPUT_COLORSPACE_HELP
    assert "kept in the project" not in action.help and "for this render only" in action.help

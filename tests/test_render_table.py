"""The render table (``pipeline/render_table.py``): every ``RenderOptions`` field is in it
with the defaults, choices and ranges the options validate; the ``render`` command's
options are built from it; where renders go (``--out``, the project's render folder,
``renders/``); and the notes for objects without masks on some rendered frames."""

from __future__ import annotations

import argparse
import json
from dataclasses import MISSING, fields
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.cli import build_parser, main
from sam3roto.cli.render import render_options
from sam3roto.core.project_io import load_project, open_mask_store, save_project
from sam3roto.export.registry import EXPORTERS
from sam3roto.pipeline.render import RenderOptions
from sam3roto.pipeline.render_table import (
    BY_NAME,
    GROUPS,
    RENDER_SETTINGS,
    folder_setting,
    frame_indices,
    frames_text,
    number_ranges_text,
    render_root,
    saved_render_folder,
    window_settings,
)
from sam3roto.pipeline.shot import new_project


def _render_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["render"]


def test_every_render_option_is_in_the_table_once_with_its_default() -> None:
    names = [s.name for s in RENDER_SETTINGS]
    assert len(names) == len(set(names))
    # a field added to RenderOptions without a row here fails this test
    assert set(names) == {f.name for f in fields(RenderOptions)}
    for f in fields(RenderOptions):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        assert BY_NAME[f.name].default == default, f.name
        assert type(BY_NAME[f.name].default) is type(default), f.name
    assert RenderOptions(**{s.name: s.default for s in RENDER_SETTINGS}) == RenderOptions()


def test_choices_and_ranges_are_the_ones_the_options_validate() -> None:
    for setting in RENDER_SETTINGS:
        if setting.kind == "choice":
            for choice in setting.choices:
                RenderOptions(**{setting.name: choice})
            wrong = 12 if isinstance(setting.choices[0], int) else "bogus"
            with pytest.raises(ValueError, match=setting.name):
                RenderOptions(**{setting.name: wrong})
        if setting.kind == "int":
            low, high = int(setting.minimum), int(setting.maximum)
            RenderOptions(**{setting.name: low})
            RenderOptions(**{setting.name: high})
            for outside in (low - 1, high + 1):
                with pytest.raises(ValueError, match=f"{setting.name} must be in"):
                    RenderOptions(**{setting.name: outside})
            if setting.optional:
                RenderOptions(**{setting.name: None})
    assert BY_NAME["outputs"].choices == tuple(EXPORTERS)
    assert {s.group for s in RENDER_SETTINGS} <= set(GROUPS)
    # what the window leaves out is the farm's plumbing only
    assert [s.name for s in RENDER_SETTINGS if not s.window] == ["part"]
    assert all(s.label and s.tooltip for s in window_settings())


def test_every_table_entry_is_an_option_of_render_with_the_tables_flag_dest_choices_and_help() -> None:
    actions = {a.dest: a for a in _render_parser()._actions}
    for setting in RENDER_SETTINGS:
        action = actions[setting.dest]
        assert setting.flag in action.option_strings, setting.name
        assert action.help == setting.help
        assert action.default is None  # not given: the project's settings, then the default
        if setting.kind == "choice":
            assert tuple(action.choices) == setting.choices
            assert action.type is type(setting.choices[0])
        elif setting.kind == "int":
            assert action.type is int
        elif setting.kind == "float":
            assert action.type is float
    # the flags people and farm jobs already use keep their names and dests
    old = {"--outputs": "outputs", "--objects": "objects", "--combine": "combine", "--combine-op": "combine_op",
           "--frames": "frames", "--start-frame": "start_frame", "--name": "name", "--bits": "bit_depth",
           "--exr-compression": "exr_compression", "--exr-rgb": "exr_rgb", "--zip-mode": "zip_mode",
           "--depth-encoding": "depth_encoding", "--ply-keep": "ply_keep", "--ply-stride": "ply_stride",
           "--ply-min-confidence": "ply_min_confidence", "--ply-max-points": "ply_max_points",
           "--workers": "workers", "--version": "version", "--part": "part", "--out": "out",
           "--list-outputs": "list_outputs", "--publish": "publish", "--quiet": "quiet",
           "--output-colorspace": "output_colorspace"}
    flags = {flag: a.dest for a in _render_parser()._actions for flag in a.option_strings}
    assert {flag: flags.get(flag) for flag in old} == old


def test_frame_text_round_trips_and_names_what_is_wrong() -> None:
    numbers = [*range(1001, 1011), 1020, 1021]
    assert frame_indices("", numbers) is None
    assert frame_indices("1002-1004, 1020,1001", numbers) == (0, 1, 2, 3, 10)
    assert frames_text([0, 1, 2, 3, 10], numbers) == "1001-1004, 1020"
    assert number_ranges_text([1060, 1002, 1003, 1004]) == "1002-1004, 1060"
    assert number_ranges_text([1, 3, 5, 7], limit=2) == "1, 3 ... and 2 more ranges"
    with pytest.raises(ValueError, match="cannot read 'abc'"):
        frame_indices("abc", numbers)
    with pytest.raises(ValueError, match="cannot read '1005-1001'"):
        frame_indices("1005-1001", numbers)
    with pytest.raises(ValueError, match=r"frames 1011-1019 are not in the shot \(1001-1010, 1020-1021\)"):
        frame_indices("1008-1020", numbers)


def test_the_render_folder_is_kept_relative_inside_the_project_folder_else_absolute(tmp_path: Path) -> None:
    project = tmp_path / "job" / "shot.sam3roto"
    assert render_root({}, project) == (tmp_path / "job" / "renders").resolve()
    assert render_root({}, None) is None
    inside = folder_setting(tmp_path / "job" / "out" / "comp", project)
    assert inside == "out/comp"
    assert render_root({"render_folder": inside}, project) == (tmp_path / "job" / "out" / "comp").resolve()
    outside = folder_setting(tmp_path / "elsewhere", project)
    assert outside == str((tmp_path / "elsewhere").resolve())
    assert render_root({"render_folder": outside}, None) == Path(outside)
    assert render_root({"render_folder": "out"}, None) is None  # relative to nothing yet
    assert saved_render_folder({"render_folder": ""}) is None
    with pytest.raises(ValueError, match=r"settings\.render_folder must be a folder path"):
        saved_render_folder({"render_folder": 5})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Frames 1001-1005; "person" has masks on 1001-1003, "ghost" on none."""
    plate = tmp_path / "plate"
    plate.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        cv2.imwrite(str(plate / f"plate.{1001 + i}.png"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    made, source = new_project(plate / "plate.####.png")
    source.close()
    person = made.add_object("person")
    made.add_object("ghost")
    path = save_project(made, tmp_path / "shot.sam3roto")
    store = open_mask_store(path, load_project(path))
    mask = np.zeros((48, 64), bool)
    mask[10:30, 20:40] = True
    for i in range(3):
        store.put(person.id, i, mask)
    return path


def _set(path: Path, **settings: object) -> None:
    loaded = load_project(path)
    loaded.settings.update(settings)
    save_project(loaded, path)


def test_out_then_the_projects_render_folder_then_renders(project: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    base = ["render", str(project), "--objects", "person", "--frames", "1001-1003", "--quiet"]
    assert main(base) == 0
    assert (tmp_path / "renders" / "v001" / "person").is_dir()
    _set(project, render_folder="deliveries/roto")  # relative: to the project file's folder
    assert main(base) == 0
    assert (tmp_path / "deliveries" / "roto" / "v001" / "manifest.json").is_file()
    assert main([*base, "--out", str(tmp_path / "given")]) == 0
    assert (tmp_path / "given" / "v001" / "manifest.json").is_file()
    assert not (tmp_path / "deliveries" / "roto" / "v002").exists() and not (tmp_path / "renders" / "v002").exists()
    _set(project, render_folder=str(tmp_path / "absolute"))
    assert main(base) == 0
    assert (tmp_path / "absolute" / "v001" / "manifest.json").is_file()
    capsys.readouterr()
    _set(project, render_folder=["not", "a", "path"])
    assert main(base) == 1
    err = capsys.readouterr().err
    assert "settings.render_folder must be a folder path" in err and "shot.sam3roto" in err


def test_notes_for_objects_without_masks_on_some_or_all_rendered_frames(project: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(project), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert ("note: object 'person' has no masks on frames 1004-1005 (not tracked there?); its mattes there are "
            "empty") in out
    assert "note: object 'ghost' has no masks on these frames (not tracked yet?); its mattes are empty" in out
    assert "object 'ghost' has no masks on frames" not in out  # one note per object
    manifest = json.loads((tmp_path / "renders" / "v001" / "manifest.json").read_text())
    assert manifest["untracked_frames"] == {"person": [[1004, 1005]], "ghost": [[1001, 1005]]}
    assert main(["render", str(project), "--frames", "1001-1003", "--objects", "person", "--quiet"]) == 0
    assert "note:" not in capsys.readouterr().out


def test_command_line_options_come_from_the_table_over_the_saved_settings(project: Path) -> None:
    _set(project, render={"exr_rgb": True, "zip_mode": "per_label", "output_colorspace": "ACEScg"})
    loaded = load_project(project)
    parser = build_parser()

    def options(*flags: str) -> RenderOptions:
        return render_options(loaded, project, parser.parse_args(["render", str(project), *flags]))

    saved = options()
    assert saved.exr_rgb is True and saved.zip_mode == "per_label" and saved.output_colorspace == "ACEScg"
    given = options("--no-exr-rgb", "--zip-mode", "single", "--output-colorspace", "sRGB - Texture", "--bits", "8",
                    "--frames", "1002-1003", "--combine", "ghost,person", "--ply-min-confidence", "0.5",
                    "--exr-compression", "dwaa")
    assert (given.exr_rgb, given.zip_mode, given.output_colorspace, given.bit_depth) == (False, "single",
                                                                                        "sRGB - Texture", 8)
    assert given.indices == (1, 2) and given.combine == (2, 1) and given.ply_min_confidence == 0.5
    assert given.exr_compression == "dwaa" and given.part is False
    assert options("--outputs", "").outputs == ("png-alpha",)  # an empty list: as if not given

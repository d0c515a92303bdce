"""Hostile project files: every damaged or hand-edited entry is a ProjectError naming the
file and the entry, in process and through ``run.py render`` (exit 1, no traceback)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from sam3roto.core.project import Project
from sam3roto.core.project_io import load_project, mask_store_dir, open_mask_store, save_project
from sam3roto.core.types import BoxPrompt, PointPrompt
from sam3roto.errors import ProjectError
from sam3roto.pipeline.shot import new_project
from sam3roto.post import PostSettings
from sam3roto.post.sources import ThresholdStage
from tests.conftest import make_synthetic
from tests.hostile import assert_clean_error, run_cli

FRAMES = 2
WIDTH, HEIGHT = 48, 32


def make_saved_project(root: Path) -> Path:
    """A saved project on a tiny PNG sequence (frames 1001-1002): two objects with point
    and box prompts on keyframes, an absent range, per-object post settings, render
    settings, and a mask per object and frame in its store. Returns the project file."""
    clip = make_synthetic(n=FRAMES, width=WIDTH, height=HEIGHT, radius=8, seed=5)
    plate = root / "plate"
    plate.mkdir(parents=True)
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(plate / f"plate.{1001 + i:04d}.png"), frame[..., ::-1])
    project, source = new_project(plate / "plate.####.png")
    source.close()
    swan = project.add_object("swan")
    rock = project.add_object("rock")
    project.set_prompts(swan.id, 0, [PointPrompt(20, 12), PointPrompt(3.5, 30, False), BoxPrompt(10, 4, 30, 28)])
    project.set_prompts(rock.id, 1, [BoxPrompt(2, 2, 12, 10)])
    project.set_absent(rock.id, 0, 0)
    swan.post = PostSettings(grow_px=1, feather_px=0.5, thresholds=(ThresholdStage("luma", 0.1, 0.9),)).to_dict()
    rock.post = {"temporal_pct": 25.0, "premultiply": True}
    project.settings["render"] = {"outputs": ["png-alpha", "png-combined"], "name": "tiny", "bit_depth": 8,
                                  "combine": [swan.id, rock.id], "combine_op": "union", "workers": 1}
    path = save_project(project, root / "tiny.sam3roto")
    store = open_mask_store(path, project)
    for i, mask in enumerate(clip.masks):
        store.put(swan.id, i, mask)
        store.put(rock.id, i, np.roll(mask, 10, axis=1))
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_saved_project(tmp_path_factory.mktemp("hostile-project"))


Edit = Callable[[str], str]


def _edited(saved: Path, edit: Edit, name: str) -> Path:
    """A copy of the saved project beside it (same media, a copy of its masks), its JSON
    text edited."""
    target = saved.with_name(name + ".sam3roto")
    target.write_text(edit(saved.read_text(encoding="utf-8")), encoding="utf-8")
    masks = mask_store_dir(target)
    if not masks.exists():
        shutil.copytree(mask_store_dir(saved), masks)
    return target


def _both(first: Edit, second: Edit) -> Edit:
    return lambda text: second(first(text))


def _set(*keys: Any, value: Any) -> Edit:
    """An edit of the data: the entry at ``keys`` set to ``value``."""
    def edit(text: str) -> str:
        data = json.loads(text)
        node: Any = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
        return json.dumps(data, indent=1)
    return edit


def _raw(old: str, new: str) -> Edit:
    """An edit of the text: the first ``old`` replaced by ``new`` (``Infinity`` or a
    5000-digit number is written by a hand or a script, not by json.dumps)."""
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)
    return edit


#: A settings entry nested 10000 lists deep.
DEEP = _raw('"settings": {', '"settings": {"deep": ' + "[" * 10_000 + "]" * 10_000 + ", ")


def test_the_seed_project_loads_and_renders(saved: Path, tmp_path: Path) -> None:
    project = load_project(saved)
    assert [o.name for o in project.objects] == ["swan", "rock"] and len(project.keyframes) == 2
    assert project.objects[1].absent == [(0, 0)]
    assert Project.from_dict(project.to_dict()).to_dict() == project.to_dict()
    proc = run_cli("render", saved, "--out", tmp_path / "out", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "out" / "v001" / "combined").glob("tiny_combined.*.png"))) == FRAMES


def test_harmless_inconsistencies_load(saved: Path) -> None:
    """What the window tolerates loads: an active object that is gone (none is active), an
    id counter a hand edit set back (it moves past every id, which are never reused)."""
    path = _edited(saved, _both(_set("active_object", value=7), _set("next_object_id", value=1)), "tolerated")
    project = load_project(path)
    assert project.active_object == 7 and project.next_object_id == 3
    assert project.add_object("new").id == 3


# Each case: an edit and what the message must say (besides the file's name).
CASES: list[tuple[str, Edit, str]] = [
    ("frame_count_inf", _raw('"frame_count": 2', '"frame_count": Infinity'), "Infinity is not a JSON number"),
    ("width_inf", _raw(f'"width": {WIDTH}', '"width": Infinity'), "Infinity is not a JSON number"),
    ("in_index_nan", _raw('"in_index": 0', '"in_index": NaN'), "NaN is not a JSON number"),
    ("id_inf", _raw('"id": 1', '"id": -Infinity'), "-Infinity is not a JSON number"),
    ("keyframe_frame_inf", _raw('"frame": 1', '"frame": Infinity'), "Infinity is not a JSON number"),
    ("keyframe_frame_1e400", _raw('"frame": 1', '"frame": 1e400'), "out of range"),
    ("frame_count_huge", _set("shot", "frame_count", value=10**30),
     "shot.frame_count is 1000000000000000000000000000000"),
    ("frame_count_fraction", _set("shot", "frame_count", value=1.5), "shot.frame_count must be a whole number"),
    ("width_zero", _set("shot", "width", value=0), "shot.width is 0, outside 1.."),
    ("in_index_past_end", _set("shot", "in_index", value=2), "shot.in_index is 2, outside 0..1"),
    ("fps_zero_denominator", _set("shot", "fps", value="1/0"), 'shot.fps is "1/0", not a frame rate'),
    ("fps_negative", _set("shot", "fps", value=-24), "shot.fps is -24, not a frame rate"),
    ("fps_list", _set("shot", "fps", value=[24]), "shot.fps is a list, not a frame rate"),
    ("frame_numbers_short", _set("shot", "frame_numbers", value=[1001]), "frame_numbers has 1 entries for 2 frames"),
    ("media_nul", _set("shot", "media", value="plate\u0000.png"), "shot.media holds a NUL character"),
    ("object_id_string", _set("objects", 0, "id", value="1"), 'objects[0]: id must be a number, not "1"'),
    ("object_id_repeated", _set("objects", 1, "id", value=1), "object 1 'rock': id 1 is also object 1 'swan''s"),
    ("object_name_number", _set("objects", 0, "name", value=5), "object 1: name must be a string, not 5"),
    ("object_colour", _set("objects", 0, "color", value=[0, 300, 0]), "object 1 'swan': color[1] is 300"),
    ("object_visible", _set("objects", 0, "visible", value="yes"), "object 1 'swan': visible must be true or false"),
    ("object_post_list", _set("objects", 0, "post", value=[]), "object 1 'swan': post settings must be a JSON object"),
    ("object_uid_path", _set("objects", 0, "uid", value="../../etc"), "object 1 'swan': uid must be an identity"),
    ("object_absent_outside", _set("objects", 1, "absent", value=[[0, 5]]),
     "object 2 'rock': absent: range 1 last frame is 5, outside 0..1"),
    ("prompt_not_object", _set("keyframes", 0, "prompts", 0, value=7),
     "object 1 'swan': keyframe on frame index 0: prompt 1 must be a JSON object, not 7"),
    ("prompt_kind", _set("keyframes", 0, "prompts", 0, "kind", value="lasso"), 'kind must be "point", "box" or "text"'),
    ("prompt_outside", _set("keyframes", 0, "prompts", 0, "x", value=1e6), "lies outside the 48x32 frame"),
    ("prompt_x_string", _set("keyframes", 0, "prompts", 0, "x", value="x"), "(point): x must be a number"),
    ("keyframe_frame_fraction", _set("keyframes", 0, "frame", value=0.5),
     "object 1 'swan': keyframe frame must be a whole number, not 0.5"),
    ("keyframe_frame_outside", _set("keyframes", 0, "frame", value=2),
     "object 1 'swan': keyframe frame is 2, outside 0..1"),
    ("keyframe_unknown_object", _set("keyframes", 0, "object_id", value=9),
     "keyframes[0] is for object 9, which the project does not have (objects: 1, 2)"),
    ("active_not_a_number", _set("active_object", value="swan"), 'active_object must be a number, not "swan"'),
    ("next_id_fraction", _set("next_object_id", value=3.5), "next_object_id must be a whole number, not 3.5"),
    ("settings_list", _set("settings", value=[]), "settings must be a JSON object, not a list"),
    ("render_settings_string", _set("settings", "render", value="exr"), "settings.render must be a JSON object"),
    ("schema_version_bool", _set("schema_version", value=True), "schema_version is True, not a version number"),
    ("digits_5000", _raw('"frame_count": 2', '"frame_count": ' + "9" * 5000), "an integer of 5000 digits"),
    ("deep_nesting", DEEP, "nested more than 64 levels deep"),
]


@pytest.mark.parametrize(("name", "edit", "says"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_entry_is_a_project_error_naming_the_file_and_entry(saved: Path, name: str, edit: Edit,
                                                                   says: str) -> None:
    path = _edited(saved, edit, name)
    with pytest.raises(ProjectError) as info:
        load_project(path)
    text = str(info.value)
    assert info.value.path == path and text.startswith(f"{path}: "), text
    assert says in text, text
    assert len(text) < 1000, text


RENDER_CASES: list[tuple[str, Edit, str]] = [
    ("render_name_number", _set("settings", "render", "name", value=5), "settings.render.name must be a string, not 5"),
    ("render_outputs_unknown", _set("settings", "render", "outputs", value=["tiff"]),
     "settings.render.outputs: unknown output 'tiff'"),
    ("render_outputs_number", _set("settings", "render", "outputs", value=3), "settings.render.outputs must be a list"),
    ("render_bits", _set("settings", "render", "bit_depth", value=12), "settings.render.bit_depth must be 8 or 16"),
    ("render_workers", _set("settings", "render", "workers", value=10**12),
     "settings.render.workers must be in 0..1024"),
    ("render_unknown_key", _set("settings", "render", "colour", value=1),
     "unknown render option(s) settings.render.colour"),
    ("render_combine_strings", _set("settings", "render", "combine", value=["swan"]),
     "settings.render.combine must hold whole numbers"),
    ("render_indices_outside", _set("settings", "render", "indices", value=[5]),
     "settings.render.indices holds frame index 5, outside the shot 0..1"),
    ("post_grow_string", _set("objects", 0, "post", "grow_px", value="big"), "object 1 'swan': post settings: grow_px"),
    ("post_thresholds_number", _set("objects", 0, "post", "thresholds", value=3),
     "object 1 'swan': post settings: thresholds must be a list"),
    ("post_stage_not_object", _set("objects", 0, "post", "thresholds", value=[1]),
     "object 1 'swan': post settings: thresholds: stage 1 must be a JSON object"),
    ("post_stage_invert", _set("objects", 0, "post", "thresholds", 0, "invert", value="yes"),
     "object 1 'swan': post settings: thresholds: stage 1: invert must be true or false, not 'yes'"),
    ("post_choice_huge", _set("objects", 0, "post", "despill", value="green" * 1000),
     "object 1 'swan': post settings: despill must be one of"),
    ("no_visible_objects",
     _both(_set("objects", 0, "visible", value=False), _set("objects", 1, "visible", value=False)),
     "the project has no visible objects to render"),
    ("shot_width_media_mismatch", _set("shot", "width", value=40), "does not match the project's shot"),
]


@pytest.mark.parametrize(("name", "edit", "says"), RENDER_CASES, ids=[c[0] for c in RENDER_CASES])
def test_render_settings_refused_in_process_name_the_file(saved: Path, tmp_path: Path, name: str, edit: Edit,
                                                          says: str) -> None:
    from sam3roto.cli import main

    path = _edited(saved, edit, name)
    with pytest.raises(Exception) as info:
        _render_in_process(path, tmp_path / "out")
    from sam3roto.errors import Sam3RotoError

    assert isinstance(info.value, Sam3RotoError), repr(info.value)
    text = str(info.value)
    assert str(path) in text and says in text, text
    assert main(["render", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing published


def _render_in_process(path: Path, out: Path) -> None:
    from sam3roto.cli import build_parser
    from sam3roto.cli.render import cmd_render

    cmd_render(build_parser().parse_args(["render", str(path), "--out", str(out), "--quiet"]))


CLI_CASES = ["frame_count_inf", "fps_zero_denominator", "prompt_not_object", "render_name_number", "digits_5000",
             "deep_nesting"]


@pytest.mark.parametrize("name", CLI_CASES)
def test_render_cli_fails_cleanly(saved: Path, tmp_path: Path, name: str) -> None:
    _, edit, says = next(c for c in CASES + RENDER_CASES if c[0] == name)
    path = _edited(saved, edit, "cli_" + name)
    proc = run_cli("render", path, "--out", tmp_path / "out", "--quiet", timeout=60)
    assert_clean_error(proc, path.name, says)


def test_saved_render_choices_naming_a_deleted_object_render_without_it(saved: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Deleting an object is normal work: render choices saved before it are used without it
    (said on stderr), and deleting an object now also removes it from the saved choices."""
    from sam3roto.cli import main
    from sam3roto.core.project_io import load_project

    path = _edited(saved, _set("settings", "render", "combine", value=[1, 7]), "deleted_object")
    assert main(["render", str(path), "--out", str(tmp_path / "out"), "--outputs", "png-combined", "--quiet"]) == 0
    assert "settings.render.combine names object 7, which the project no longer has" in capsys.readouterr().err
    project = load_project(path)
    project.settings["render"].update(objects=[2], combine=[1, 2])
    project.remove_object(1)
    project.remove_object(2)
    assert project.settings["render"].get("combine") is None and "objects" not in project.settings["render"]

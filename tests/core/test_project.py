"""Project files: round trip, relative paths, atomic saves, versions, relink, autosave."""

from __future__ import annotations

import json
import os
import shutil
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from sam3roto.core import project_io
from sam3roto.core.project import Project, Shot
from sam3roto.core.project_io import (
    autosave,
    autosave_path,
    load_project,
    open_mask_store,
    recovery_path,
    save_project,
)
from sam3roto.core.types import BoxPrompt, PointPrompt, TextPrompt
from sam3roto.errors import InvalidPromptError, MediaMovedError, ProjectError, ProjectVersionError
from sam3roto.pipeline.shot import new_project, open_shot_media


def make_project(media: Path) -> Project:
    shot = Shot(media=str(media), frame_count=48, fps=Fraction(30000, 1001), width=320, height=240,
                frame_numbers=list(range(1001, 1049)), in_index=2, out_index=40, start_frame=1001)
    project = Project(shot=shot)
    person = project.add_object("person")
    car = project.add_object("car")
    project.set_prompts(person.id, 0, [PointPrompt(10, 20, True), PointPrompt(30.5, 40, False),
                                       BoxPrompt(5, 5, 100, 120)])
    project.set_prompts(car.id, 12, [TextPrompt("red car")])
    project.settings["post"] = {"grow_px": 2}
    return project


def test_round_trip(tmp_path: Path, synthetic_mp4: Path) -> None:
    media = tmp_path / "media" / "clip.mp4"
    media.parent.mkdir()
    shutil.copy(synthetic_mp4, media)
    project = make_project(media)
    from sam3roto.post import PostSettings
    from sam3roto.post.sources import ThresholdStage

    post = PostSettings(grow_px=-2, refine_band_px=12, thresholds=(ThresholdStage("luma", 0.2, 0.9),))
    project.objects[0].post = post.to_dict()
    path = save_project(project, tmp_path / "shot")
    assert path.name == "shot.sam3roto"
    data = json.loads(path.read_text())
    assert data["schema_version"] == 2
    assert data["shot"]["media"] == "media/clip.mp4"  # relative to the project
    assert data["shot"]["fps"] == "30000/1001"
    loaded = load_project(path)
    assert loaded.shot is not None and Path(loaded.shot.media) == media.resolve()
    loaded.shot.media = project.shot.media if project.shot else ""
    assert loaded.to_dict() == project.to_dict()
    assert PostSettings.from_dict(loaded.objects[0].post) == post  # an object's post settings survive a save
    assert loaded.shot.output_number(2) == 1001 and list(loaded.shot.frame_range) == list(range(2, 41))


def test_project_folder_can_move(tmp_path: Path, synthetic_mp4: Path) -> None:
    folder = tmp_path / "job"
    (folder / "plates").mkdir(parents=True)
    shutil.copy(synthetic_mp4, folder / "plates" / "a.mp4")
    save_project(make_project(folder / "plates" / "a.mp4"), folder / "a.sam3roto")
    moved = tmp_path / "archive" / "job"
    shutil.move(str(folder), str(moved))
    loaded = load_project(moved / "a.sam3roto")
    assert loaded.shot is not None and Path(loaded.shot.media) == (moved / "plates" / "a.mp4").resolve()


def test_interrupted_save_keeps_the_old_file(tmp_path: Path, synthetic_mp4: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(synthetic_mp4)
    path = save_project(project, tmp_path / "p.sam3roto")
    before = path.read_bytes()
    project.add_object("extra")

    def crash(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(project_io.os, "fsync", crash)
    with pytest.raises(ProjectError, match="Input/output error"):
        save_project(project, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.sam3roto"]  # no temp file left


def test_corrupt_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.sam3roto"
    path.write_text('{"schema_version": 1, "objects": [')
    with pytest.raises(ProjectError, match=r"bad\.sam3roto.*not valid JSON \(line 1"):
        load_project(path)
    path.write_text("[1, 2]")
    with pytest.raises(ProjectError, match="top level is not an object"):
        load_project(path)
    path.write_text('{"schema_version": 1, "objects": [{"id": "x"}]}')
    with pytest.raises(ProjectError, match="invalid entry"):
        load_project(path)


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.sam3roto"
    text = json.dumps({"schema_version": 99, "objects": []})
    path.write_text(text)
    with pytest.raises(ProjectVersionError, match="99 is newer") as info:
        load_project(path)
    assert (info.value.found, info.value.supported) == (99, 2)
    assert path.read_text() == text


def test_upgrades_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(project_io, "SCHEMA_VERSION", 3)

    def one_to_two(d: dict) -> dict:
        d["objects"] = [{**o, "name": o["label"]} for o in d.pop("items")]
        return {**d, "schema_version": 2}

    def two_to_three(d: dict) -> dict:
        return {**d, "schema_version": 3, "settings": {"upgraded": True}}

    monkeypatch.setattr(project_io, "UPGRADES", {1: one_to_two, 2: two_to_three})
    path = tmp_path / "old.sam3roto"
    path.write_text(json.dumps({"schema_version": 1, "items": [{"id": 4, "label": "dog", "color": [1, 2, 3]}]}))
    loaded = load_project(path)
    assert loaded.objects[0].name == "dog" and loaded.settings == {"upgraded": True}
    assert loaded.next_object_id == 5


def test_moved_media_offers_relink_and_keeps_masks(tmp_path: Path, synthetic_mp4: Path) -> None:
    media = tmp_path / "clip.mp4"
    shutil.copy(synthetic_mp4, media)
    project, source = new_project(media)
    source.close()
    obj = project.add_object("disc")
    path = save_project(project, tmp_path / "p.sam3roto")
    store = open_mask_store(path)
    mask = np.zeros((240, 320), bool)
    mask[10:50, 20:80] = True
    store.put(obj.id, 5, mask)
    new_home = tmp_path / "elsewhere" / "clip_v2.mp4"
    new_home.parent.mkdir()
    media.rename(new_home)
    with pytest.raises(MediaMovedError, match=r"clip\.mp4 is missing.*relink") as info:
        load_project(path)
    assert info.value.media.name == "clip.mp4"
    relinked = load_project(path, relink=new_home)
    with open_shot_media(relinked) as source:
        assert source.info.frame_count == 48
    got = open_mask_store(path).get(obj.id, 5)
    assert got is not None
    np.testing.assert_array_equal(got, mask)
    with pytest.raises(ProjectError, match="does not exist"):
        load_project(path, relink=tmp_path / "nowhere.mp4")


def test_relink_to_different_media_is_refused(tmp_path: Path, synthetic_mp4: Path) -> None:
    project, source = new_project(synthetic_mp4)
    source.close()
    other = tmp_path / "other"
    other.mkdir()
    import cv2

    cv2.imwrite(str(other / "x.0001.png"), np.zeros((10, 10, 3), np.uint8))
    project.shot.media = str(other)  # type: ignore[union-attr]
    with pytest.raises(Exception, match="does not match the project's shot"):
        open_shot_media(project)


def test_autosave_and_recovery(tmp_path: Path, synthetic_mp4: Path) -> None:
    project = make_project(synthetic_mp4)
    path = save_project(project, tmp_path / "p.sam3roto")
    assert recovery_path(path) is None
    project.add_object("unsaved work")
    time.sleep(0.01)
    auto = autosave(project, path)
    os.utime(auto, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    assert recovery_path(path) == autosave_path(path)
    recovered = load_project(path, from_autosave=True)
    assert [o.name for o in recovered.objects] == ["person", "car", "unsaved work"]
    assert len(load_project(path).objects) == 2
    save_project(recovered, path)  # a real save retires the recovery copy
    assert recovery_path(path) is None and not autosave_path(path).exists()


def test_prompt_and_object_validation(synthetic_mp4: Path) -> None:
    project = make_project(synthetic_mp4)
    with pytest.raises(InvalidPromptError, match=r"outside the 320x240 frame"):
        project.set_prompts(1, 0, [PointPrompt(400, 10)])
    with pytest.raises(InvalidPromptError, match="empty"):
        project.set_prompts(1, 0, [BoxPrompt(10, 10, 10.5, 50)])
    with pytest.raises(ValueError, match="outside the shot"):
        project.set_prompts(1, 48, [PointPrompt(1, 1)])
    with pytest.raises(KeyError, match="no object with id 9"):
        project.set_prompts(9, 0, [PointPrompt(1, 1)])
    assert project.set_prompts(1, 0, []) is None and project.keyframe(1, 0) is None
    project.remove_object(1)
    assert [o.id for o in project.objects] == [2] and project.active_object == 2
    assert project.add_object().id == 3  # ids are never reused
    with pytest.raises(ValueError, match="frame range"):
        Shot(media="x", frame_count=10, fps=Fraction(24), width=2, height=2, frame_numbers=list(range(10)),
             in_index=5, out_index=3)


def test_every_name_the_project_makes_loads_again(tmp_path: Path, synthetic_mp4: Path) -> None:
    """Loading refuses names over MAX_NAME_CHARS, so nothing that makes a name may exceed it:
    a long text prompt's objects keep their number, a pasted name is cut."""
    from sam3roto.core.project import MAX_NAME_CHARS, object_name

    project = make_project(synthetic_mp4)
    text = "a person in a red coat walking " * 10
    named = project.add_object(object_name(text, " 7"))
    pasted = project.add_object("x" * 5000)
    assert len(named.name) == MAX_NAME_CHARS and named.name.endswith("\u2026 7")
    assert pasted.name == "x" * (MAX_NAME_CHARS - 1) + "\u2026"
    assert object_name("swan") == "swan" and object_name("swan", " 2") == "swan 2"
    path = tmp_path / "p.sam3roto"
    save_project(project, path)
    assert [o.name for o in load_project(path).objects][-2:] == [named.name, pasted.name]


def test_a_project_saved_before_names_were_bounded_opens_with_the_name_shortened(tmp_path: Path,
                                                                                 synthetic_mp4: Path) -> None:
    """Earlier builds saved any name (a long text prompt's objects): such a file still opens."""
    from sam3roto.core.project import MAX_NAME_CHARS

    project = make_project(synthetic_mp4)
    obj = project.add_object("swan")
    path = save_project(project, tmp_path / "old.sam3roto")
    data = json.loads(path.read_text())
    long_name = "a black swan swimming across the lake " * 4 + "1"
    data["objects"][-1]["name"] = long_name
    path.write_text(json.dumps(data))
    loaded = load_project(path).object(obj.id)
    assert len(loaded.name) == MAX_NAME_CHARS and long_name.startswith(loaded.name[:-1].rstrip())


def test_a_text_prompt_longer_than_a_project_file_admits_is_refused_where_it_is_given(synthetic_mp4: Path) -> None:
    from sam3roto.core.types import MAX_TEXT_CHARS

    project = make_project(synthetic_mp4)
    obj = project.add_object("crowd")
    with pytest.raises(InvalidPromptError, match=f"over the limit of {MAX_TEXT_CHARS}"):
        project.set_prompts(obj.id, 0, [TextPrompt("person " * 2000)])

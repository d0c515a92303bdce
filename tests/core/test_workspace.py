"""Where a project's files live: unsaved work in the data folder, the store's identity,
legacy stores, and the save that moves a store (finished after a crash)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sam3roto.core.maskstore import MaskStore, store_identity
from sam3roto.core.project_io import load_project, mask_store_dir, open_mask_store, save_project
from sam3roto.core.workspace import (
    autosave_unsaved,
    list_unsaved,
    new_unsaved,
    recover_unsaved,
    save_with_store,
    unsaved_folder,
)
from sam3roto.errors import ProjectError
from sam3roto.pipeline.shot import new_project


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAM3ROTO_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def media(tmp_path: Path, synthetic_mp4: Path) -> Path:
    target = tmp_path / "footage" / "clip.mp4"
    target.parent.mkdir()
    shutil.copy(synthetic_mp4, target)
    return target


def mask(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((240, 320)) < 0.5


def test_an_unsaved_project_lives_in_the_data_folder_until_its_first_save(tmp_path, media, data_dir) -> None:
    project, source = new_project(media)
    source.close()
    store = new_unsaved(project)
    obj = project.add_object("hero")
    store.put(obj.id, 3, mask(3))
    folder = unsaved_folder(project.uid)
    assert store.root == folder / "masks" and (folder / "autosave.sam3roto").is_file()
    assert sorted(p.name for p in media.parent.iterdir()) == ["clip.mp4"]
    assert store_identity(store.root) == {"format": 1, "project": project.uid, "token": None}
    assert json.loads((store.root / "obj_0001" / "object.json").read_text())["uid"] == obj.uid
    store.key_masks().put(obj.id, 2, mask(2))  # key masks record their object too
    assert json.loads((store.root / "keys" / "obj_0001" / "object.json").read_text())["uid"] == obj.uid
    [found] = list_unsaved(media)
    assert found.uid == project.uid and found.masks == 1 and found.objects == ()  # autosaved before the object
    autosave_unsaved(project)
    [found] = list_unsaved(media)
    recovered, again = recover_unsaved(found)
    assert recovered.uid == project.uid and found.objects == ("hero",)
    assert np.array_equal(again.get(obj.id, 3), mask(3))

    target = tmp_path / "shots" / "hero.sam3roto"
    assert save_with_store(project, store, target, None) == target
    assert store.root == mask_store_dir(target) and not folder.exists() and list_unsaved(media) == []
    assert np.array_equal(store.get(obj.id, 3), mask(3))
    assert np.array_equal(store.key_masks().get(obj.id, 2), mask(2))
    loaded = load_project(target)
    assert loaded.store_token is not None and loaded.store_token == store_identity(store.root)["token"]
    assert np.array_equal(open_mask_store(target, loaded).get(obj.id, 3), mask(3))
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []


def test_masks_of_an_object_with_another_uid_are_never_shown_and_are_replaced(tmp_path, media) -> None:
    project, source = new_project(media)
    source.close()
    path = save_project(project, tmp_path / "shot.sam3roto")
    store = open_mask_store(path, project)
    first = project.add_object("kept")
    store.put(first.id, 0, mask(0))
    save_project(project, path)
    second = project.add_object("discarded")  # never saved
    store.put(second.id, 1, mask(1))
    reloaded = load_project(path)  # the session was discarded: object 2 is unknown again
    store = open_mask_store(path, reloaded)
    assert store.objects() == [first.id] and store.get(second.id, 1) is None
    newcomer = reloaded.add_object("new")
    assert newcomer.id == second.id and newcomer.uid != second.uid
    assert store.frames(newcomer.id) == [] and not store.has(newcomer.id, 1)
    store.put(newcomer.id, 4, mask(4))
    assert store.frames(newcomer.id) == [4]  # the stale folder was replaced, not merged
    assert np.array_equal(store.get(first.id, 0), mask(0))
    with pytest.raises(ValueError, match="not an object of the project"):
        store.put(99, 0, mask(0))
    # the same store object, when its project gives the id to another object (a new uid):
    # what it knew about the folder is forgotten, the masks are not lent
    newcomer.uid = "0" * 32
    assert store.get(newcomer.id, 4) is None and store.frames(newcomer.id) == []


def _legacy_project(tmp_path: Path, media: Path) -> Path:
    """A schema-1 project and its store as sam3roto wrote them before identities."""
    project, source = new_project(media)
    source.close()
    project.add_object("hero")
    path = save_project(project, tmp_path / "old.sam3roto")
    data = json.loads(path.read_text())
    data = {k: v for k, v in data.items() if k not in ("uid", "store_token")}
    data["schema_version"] = 1
    for obj in data["objects"]:
        del obj["uid"]
    path.write_text(json.dumps(data))
    legacy = MaskStore(mask_store_dir(path))  # unbound: writes no identities
    legacy.put(1, 2, mask(2))
    legacy.key_masks().put(1, 0, mask(0))
    return path


def test_a_store_from_before_identities_is_adopted_by_its_own_project_only(tmp_path, media) -> None:
    path = _legacy_project(tmp_path, media)
    project = load_project(path)
    assert project.uid == load_project(path).uid  # derived from the file, the same every time
    store = open_mask_store(path, project)
    assert np.array_equal(store.get(1, 2), mask(2)) and np.array_equal(store.key_masks().get(1, 0), mask(0))
    store.put(1, 3, mask(3))  # work before the first save writes no identities yet ...
    assert not (mask_store_dir(path) / "obj_0001" / "object.json").exists()
    moved = path.with_name("renamed.sam3roto")  # ... so the file can still move with its masks
    shutil.copy(path, moved)
    shutil.copytree(mask_store_dir(path), mask_store_dir(moved))
    assert np.array_equal(open_mask_store(moved, load_project(moved)).get(1, 3), mask(3))
    save_with_store(project, store, path, path)  # a plain save claims the store
    assert store_identity(mask_store_dir(path))["project"] == project.uid
    assert (mask_store_dir(path) / "obj_0001" / "object.json").is_file()
    assert (mask_store_dir(path) / "keys" / "obj_0001" / "object.json").is_file()
    again = load_project(path)
    assert np.array_equal(open_mask_store(path, again).get(1, 2), mask(2))

    # a new project made on the same media, where an old store was left without its file
    (tmp_path / "x").mkdir()
    other = _legacy_project(tmp_path / "x", media)
    other.unlink()
    fresh, source = new_project(media)
    source.close()
    with pytest.raises(ProjectError, match="masks of an earlier project"):
        open_mask_store(other, fresh)


def test_a_save_killed_after_its_commit_is_finished_when_the_project_opens(tmp_path, media) -> None:
    project, source = new_project(media)
    source.close()
    store = new_unsaved(project)
    obj = project.add_object("hero")
    store.put(obj.id, 0, mask(0))
    path = tmp_path / "shot.sam3roto"
    save_with_store(project, store, path, None)
    old_token = project.store_token
    store.put(obj.id, 1, mask(1))
    # Save as onto the same file from a copy of the project, interrupted between the commit
    # and the swap: the file names the staged folder's token, the old folder is still in place
    root = mask_store_dir(path)
    incoming = root.with_name(f".{root.name}.incoming")
    shutil.copytree(root, incoming)
    (incoming / "obj_0001" / "000001.png").unlink()
    data = json.loads((incoming / "store.json").read_text())
    (incoming / "store.json").write_text(json.dumps({**data, "token": "f" * 32}))
    project.store_token = "f" * 32
    save_project(project, path)
    reopened = load_project(path)
    store = open_mask_store(path, reopened)
    assert store_identity(root)["token"] == "f" * 32 != old_token
    assert store.frames(obj.id) == [0] and not incoming.exists()
    assert not root.with_name(f".{root.name}.old").exists()

    # a staged folder whose save never committed is removed, the store is left as it is
    shutil.copytree(root, incoming)
    (incoming / "store.json").write_text(json.dumps({**data, "token": "0" * 32}))
    assert open_mask_store(path, load_project(path)).frames(obj.id) == [0] and not incoming.exists()


def test_a_store_of_another_project_is_refused_by_open_and_by_save(tmp_path, media) -> None:
    first, source = new_project(media)
    source.close()
    path = save_project(first, tmp_path / "shot.sam3roto")
    store = open_mask_store(path, first)
    store.put(first.add_object("a").id, 0, mask(0))
    second, source = new_project(media)
    source.close()
    with pytest.raises(ProjectError, match="belongs to another project"):
        open_mask_store(path, second)
    path.unlink()  # the project file is gone, its masks stay: a new project may not take them
    unsaved = new_unsaved(second)
    with pytest.raises(ProjectError, match="holds the masks of another project"):
        save_with_store(second, unsaved, path, None)
    assert unsaved.root.parent.is_dir()  # nothing lost

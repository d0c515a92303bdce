"""Label Studio imports and matte imports land in the project and drive tracking."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.core.jobs import run_sync
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project
from sam3roto.core.types import BoxPrompt
from sam3roto.errors import Sam3RotoError
from sam3roto.interchange.labelstudio import LabelImport, Task, TaskImport
from sam3roto.media.source import open_media
from sam3roto.pipeline.interchange import apply_labelstudio, import_mattes_job
from sam3roto.pipeline.shot import new_project
from sam3roto.pipeline.track import track_job
from tests.backends.test_classic import moving_object_clip
from tests.conftest import SyntheticClip


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture
def clip_project(tmp_path: Path) -> tuple[Project, Path, SyntheticClip]:
    clip = moving_object_clip(n=24)  # the disc carries its texture, as real objects do
    seq = tmp_path / "plate"
    seq.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(seq / f"plate.{i + 1:04d}.png"), frame[..., ::-1])
    project, source = new_project(seq / "plate.####.png")
    source.close()
    return project, seq, clip


def test_a_brush_mask_from_label_studio_becomes_a_key_mask_that_tracking_follows(clip_project, tmp_path: Path) -> None:
    project, seq, clip = clip_project
    store = MaskStore(tmp_path / "masks")
    ball = LabelImport("ball", masks={4: clip.masks[4]})
    box = LabelImport("patch", prompts={2: [BoxPrompt(0, 0, 40, 12)]})
    summary = apply_labelstudio(project, store, TaskImport(Task(1, "image", "f.png", (), None), [ball, box]))
    assert summary.created == ["ball", "patch"] and summary.mask_frames == {1: [4]}
    key = project.keyframe(1, 4)
    assert key is not None and key.mask and key.prompts == []
    assert project.keyframe(2, 2).prompts == [BoxPrompt(0, 0, 40, 12)]
    np.testing.assert_array_equal(store.key_masks().get(1, 4), clip.masks[4])
    again = apply_labelstudio(project, store, TaskImport(Task(1, "image", "f.png", (), None), [ball]))
    assert again.created == [] and again.objects == {"ball": 1}  # the label reuses its object

    project.remove_object(2)
    with open_media(seq / "plate.####.png") as source:
        result = run_sync(track_job(project, source, store, engine="classic", direction="forward", start=4, end=12))
    assert result.frames[1] == list(range(4, 13))
    np.testing.assert_array_equal(store.get(1, 4), clip.masks[4])  # the key mask itself is kept on its frame
    ious = [_iou(store.get(1, i), clip.masks[i]) for i in range(5, 13)]
    assert np.mean(ious) > 0.8 and min(ious) > 0.6, ious


def test_key_masks_survive_in_the_project_file_and_a_missing_one_is_reported(clip_project, tmp_path: Path) -> None:
    project, seq, _ = clip_project
    obj = project.add_object("ball")
    project.set_key_mask(obj.id, 3)
    restored = Project.from_dict(project.to_dict())
    assert restored.keyframe(obj.id, 3).mask
    assert project.set_prompts(obj.id, 3, []) is not None  # the key mask keeps the keyframe
    assert project.set_key_mask(obj.id, 3, False) is None
    project.set_key_mask(obj.id, 3)
    with open_media(seq / "plate.####.png") as source, pytest.raises(Sam3RotoError, match="key mask on frame index 3"):
        run_sync(track_job(project, source, MaskStore(tmp_path / "empty"), engine="classic"))


def test_black_and_white_mattes_import_as_an_objects_masks(clip_project, tmp_path: Path) -> None:
    project, _, clip = clip_project
    mattes = tmp_path / "mattes"
    mattes.mkdir()
    for i, mask in enumerate(clip.masks):
        cv2.imwrite(str(mattes / f"matte.{i + 1:04d}.png"), mask.astype(np.uint16) * 65535)  # 16-bit mattes
    obj = project.add_object("ball")
    store = MaskStore(tmp_path / "masks")
    with open_media(mattes) as source:
        written = run_sync(import_mattes_job(project, store, obj.id, source))
    assert written == list(range(24))
    for i in range(24):
        np.testing.assert_array_equal(store.get(obj.id, i), clip.masks[i])
    short = tmp_path / "short"
    short.mkdir()
    cv2.imwrite(str(short / "m.0001.png"), clip.masks[0].astype(np.uint8) * 255)
    cv2.imwrite(str(short / "m.0002.png"), clip.masks[1].astype(np.uint8) * 255)
    with open_media(short) as source, pytest.raises(Sam3RotoError, match="mattes have 2 frames but the shot has 24"):
        run_sync(import_mattes_job(project, store, obj.id, source))


def test_masks_that_do_not_fit_or_are_empty_change_nothing_and_name_the_export(clip_project, tmp_path: Path) -> None:
    project, _, clip = clip_project
    store = MaskStore(tmp_path / "masks")
    export = tmp_path / "export.json"
    task = Task(5, "image", "f.png", (), None, export)
    good = LabelImport("ball", masks={4: clip.masks[4]})
    for bad, message in [
        (LabelImport("hole", masks={3: np.zeros_like(clip.masks[3])}),
         "task 5, label 'hole', frame index 3: the mask is empty; no empty key mask was made"),
        (LabelImport("small", masks={3: clip.masks[3][:10]}), "task 5, label 'small', frame index 3: a mask of"),
        (LabelImport("late", masks={99: clip.masks[3]}),
         "task 5, label 'late', frame index 99: the shot has 24 frames"),
    ]:
        with pytest.raises(Sam3RotoError, match=message) as info:
            apply_labelstudio(project, store, TaskImport(task, [good, bad]))
        assert info.value.path == export
        assert project.objects == [] and store.key_masks().get(1, 4) is None  # checked before anything changed

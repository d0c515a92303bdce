"""Seeded fuzzing of the two interchange parsers the command line feeds user files to: a Label
Studio export (``labelstudio``, ``track --labelstudio``) and a prompts file (``track``,
``segment``). Each mutated text is written to a file and goes the way the command line takes
it (read, choose the task, decode to prompts and masks; read, place the keyframes and the
absent ranges on the shot), so the size and depth checks run too. Only the project's own
errors may come out, each naming the file in a message of bounded length, and no case may
hang (``FUZZ_CASES`` cases each; ``SAM3ROTO_FUZZ_CASES=10000`` for the full run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sam3roto.errors import Sam3RotoError
from sam3roto.interchange.labelstudio import choose_task, decode_task, read_export
from sam3roto.interchange.prompts import absent_indices, frame_index, read_prompts
from tests.fuzz import FUZZ_CASES, check_parser, mutations
from tests.interchange.test_labelstudio import encode_rle

W, H = 24, 16  # a small media: masks are cheap, every size rule still applies
FRAMES = list(range(1, 9))


def _brush_rle() -> list[int]:
    mask = np.zeros((H, W), bool)
    mask[4:12, 6:18] = True
    mask[8, 2] = True  # a literal run
    return encode_rle(mask)


LABEL_STUDIO_EXPORT: list[dict[str, Any]] = [
    {"id": 7, "data": {"image": "/data/upload/1/frame_00000003.png"}, "predictions": [],
     "annotations": [{"id": 70, "was_cancelled": False, "updated_at": "2024-05-01T10:00:00Z", "result": [
         {"id": "r1", "type": "rectanglelabels", "original_width": W, "original_height": H,
          "value": {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["car"]}},
         {"id": "k1", "type": "keypointlabels", "value": {"x": 50, "y": 25, "keypointlabels": ["car"]}},
         {"id": "p1", "type": "polygonlabels",
          "value": {"points": [[5, 10], [60, 10], [60, 80], [5, 80]], "polygonlabels": ["person"]}},
         {"id": "b1", "type": "brushlabels", "original_width": W, "original_height": H,
          "value": {"format": "rle", "rle": _brush_rle(), "brushlabels": ["person"]}},
         {"id": "c1", "type": "choices", "value": {"choices": ["day"]}}]}]},
    {"id": 8, "data": {"video": "/data/upload/1/clip.mp4"}, "annotations": [{"id": 80, "result": [
        {"id": "v1", "type": "videorectangle", "value": {"labels": ["dog"], "framesCount": 8, "sequence": [
            {"frame": 1, "enabled": True, "x": 0, "y": 0, "width": 50, "height": 50, "rotation": 0},
            {"frame": 4, "enabled": False, "x": 40, "y": 40, "width": 25, "height": 50, "rotation": 0}]}},
        {"id": "p2", "type": "polygonlabels", "value": {"frame": 2, "points": [[10, 10], [90, 10], [50, 90]],
                                                         "polygonlabels": ["dog"]}}]}]},
]

PROMPTS: dict[str, Any] = {"objects": [
    {"name": "person", "keyframes": [
        {"frame": 1001, "points": [[20, 10], [5, 3, False]], "boxes": [[2, 2, 20, 14]]},
        {"frame": 1004, "points": [[12, 8]]}],
     "absent": [[1005, 1006]]},
    {"name": "car", "keyframes": [{"frame": 1002, "text": "red car"}]},
]}
SHOT = list(range(1001, 1009))


def _named(path: Path, exc: Sam3RotoError) -> None:
    """An error a user sees: naming the file, short enough for one line."""
    text = str(exc)
    assert str(path) in text, text
    assert len(text) < 2000, f"an error of {len(text)} characters: {text[:300]}"


def test_the_seed_documents_decode(tmp_path: Path) -> None:
    """The fuzzers start from documents that decode fully (so mutations reach every check)."""
    path = tmp_path / "export.json"
    path.write_text(json.dumps(LABEL_STUDIO_EXPORT))
    tasks = read_export(path)
    image = decode_task(choose_task(tasks, 7), W, H, FRAMES)
    assert [label.label for label in image.labels] == ["car", "person"] and image.skipped == {"choices": 1}
    assert image.labels[1].masks[2].sum() > 50
    video = decode_task(choose_task(tasks, 8), W, H, FRAMES)
    assert sorted(video.labels[0].prompts) == [0, 3] and video.labels[0].masks[1].any()
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps(PROMPTS))
    person, car = read_prompts(prompts, frame_numbers=SHOT, size=(W, H))
    assert sorted(person.keyframes) == [1001, 1004] and absent_indices(person, SHOT, prompts) == [(4, 5)]
    assert list(car.keyframes) == [1002]


@pytest.mark.fuzz
def test_fuzz_label_studio_exports(tmp_path: Path) -> None:
    path = tmp_path / "export.json"

    def parse(text: str, case: int) -> None:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            tasks = read_export(path)
            for task in tasks:
                task.describe()  # --list
            for wanted in (None, "no such task"):  # several tasks and no id; an id that is not there
                try:
                    choose_task(tasks, wanted)
                except Sam3RotoError as exc:
                    _named(path, exc)
            for task in tasks[:3]:
                chosen = choose_task(tasks, task.id)
                frame = case % len(FRAMES) if case % 3 == 0 else None
                decoded = decode_task(chosen, W, H, FRAMES, frame=frame)
                for label in decoded.labels:
                    for index, mask in label.masks.items():
                        assert mask.shape == (H, W) and mask.dtype == bool and mask.any()
                        assert 0 <= index < len(FRAMES)
                    assert all(0 <= index < len(FRAMES) for index in label.prompts)
        except Sam3RotoError as exc:
            _named(path, exc)
            raise

    assert check_parser(parse, mutations(LABEL_STUDIO_EXPORT, FUZZ_CASES, seed=20), Sam3RotoError) == FUZZ_CASES


@pytest.mark.fuzz
def test_fuzz_prompts_files(tmp_path: Path) -> None:
    path = tmp_path / "prompts.json"

    def parse(text: str, case: int) -> None:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            # as `track` does: read, then place the keyframes and absent ranges on the shot
            for item in read_prompts(path):
                for number in item.keyframes:
                    try:
                        frame_index(number, SHOT, f"object {item.name!r}")
                    except ValueError as exc:
                        raise Sam3RotoError(str(exc), path=path) from None
                absent_indices(item, SHOT, path)
            # and checked against the shot's frames and size at once
            for item in read_prompts(path, frame_numbers=SHOT, size=(W, H)):
                for prompts in item.keyframes.values():
                    for prompt in prompts:
                        prompt.validate(W, H)
        except Sam3RotoError as exc:
            _named(path, exc)
            raise

    assert check_parser(parse, mutations(PROMPTS, FUZZ_CASES, seed=21), Sam3RotoError) == FUZZ_CASES

"""The prompts file: keyframes and absent ranges, and errors that name the file, object and range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sam3roto.core.types import BoxPrompt, PointPrompt, TextPrompt
from sam3roto.errors import Sam3RotoError
from sam3roto.interchange.prompts import absent_indices, read_prompts


def _file(tmp_path: Path, objects: list[dict]) -> Path:
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps({"objects": objects}))
    return path


def test_keyframes_and_absent_ranges_are_read(tmp_path: Path) -> None:
    path = _file(tmp_path, [
        {"name": "person", "keyframes": [{"frame": 1001, "points": [[640, 360], [700, 300, False]],
                                          "boxes": [[500, 200, 800, 700]]}],
         "absent": [[1030, 1040], [1010, 1012]]},
        {"name": "car", "keyframes": [{"frame": 1001, "text": "red car"}]},
        {"name": "later", "absent": [[1001, 1001]]},  # absent ranges alone are enough
    ])
    person, car, later = read_prompts(path)
    assert person.keyframes == {1001: [PointPrompt(640, 360, True), PointPrompt(700, 300, False),
                                       BoxPrompt(500, 200, 800, 700)]}
    assert person.absent == [(1010, 1012), (1030, 1040)]
    assert car.keyframes == {1001: [TextPrompt("red car")]} and car.absent == []
    assert later.keyframes == {} and later.absent == [(1001, 1001)]


def test_absent_numbers_become_indices_of_the_shot(tmp_path: Path) -> None:
    path = _file(tmp_path, [{"name": "a", "keyframes": [{"frame": 10, "points": [[1, 1]]}], "absent": [[12, 20]]}])
    (item,) = read_prompts(path)
    numbers = [10, 11, 12, 13, 20, 21]  # a gap: 14..19 are missing
    assert absent_indices(item, numbers, path) == [(2, 4)]
    with pytest.raises(Sam3RotoError, match=r"object 'a': absent range \[12, 20\]: frame 20 is not in the shot"):
        absent_indices(item, [10, 11, 12], path)


@pytest.mark.parametrize(("absent", "message"), [
    ([[5, 3]], r"object 'a': absent range \[5, 3\] ends before it starts"),
    ([[1.5, 3]], r"object 'a': absent range \[1.5, 3\] must be \[first, last\], two integer frame numbers"),
    ([[True, 3]], r"object 'a': absent range \[True, 3\] must be"),
    ([[1, 2, 3]], r"object 'a': absent range \[1, 2, 3\] must be"),
    ({"from": 1}, r"object 'a': \"absent\" must be a list of \[first, last\] frame-number ranges"),
])
def test_bad_absent_ranges_name_file_object_and_range(tmp_path: Path, absent: object, message: str) -> None:
    path = _file(tmp_path, [{"name": "a", "keyframes": [{"frame": 1, "points": [[1, 1]]}], "absent": absent}])
    with pytest.raises(Sam3RotoError, match=message) as info:
        read_prompts(path)
    assert info.value.path == path


def test_an_object_needs_keyframes_or_absent_ranges(tmp_path: Path) -> None:
    with pytest.raises(Sam3RotoError, match=r"object .a. has no keyframes \(and no absent ranges or touch-ups\)"):
        read_prompts(_file(tmp_path, [{"name": "a"}]))

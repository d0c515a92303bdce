"""Resource limits as settings, and strict JSON for every file a user gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sam3roto.core import limits, safejson
from sam3roto.errors import LimitError, ProjectError


def test_defaults_admit_a_6000x9000_rgba_still_in_16_bit_and_float() -> None:
    limits.check_frame(6000, 9000, 4, 2, "still.png")
    limits.check_frame(6000, 9000, 4, 4, "still.exr")
    limits.check_frame(7680, 4320, 4, 4, "plate.exr")


@pytest.mark.parametrize(("size", "field"), [((65535, 65535, 3, 1), "SAM3ROTO_MAX_FRAME_PIXELS"),
                                              ((16000, 16000, 4, 4), "SAM3ROTO_MAX_FRAME_BYTES")])
def test_a_bomb_header_is_refused_naming_the_file_the_size_and_the_setting(size: tuple[int, int, int, int],
                                                                          field: str) -> None:
    with pytest.raises(LimitError) as err:
        limits.check_frame(*size, "bomb.png")
    text = str(err.value)
    assert text.startswith("bomb.png: the frame declares") and f"{size[0]}x{size[1]}" in text and field in text


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAM3ROTO_MAX_FRAME_BYTES", "2G")
    monkeypatch.setenv("SAM3ROTO_MAX_POLYGON_POINTS", "500")
    assert limits.current().frame_bytes == 2 * 1024**3
    assert limits.current().polygon_points == 500
    monkeypatch.setenv("SAM3ROTO_MAX_JSON_BYTES", "lots")
    with pytest.raises(LimitError, match="SAM3ROTO_MAX_JSON_BYTES='lots' is not a positive size"):
        limits.current()


def test_override_changes_the_limits_inside_the_block_only() -> None:
    before = limits.current()
    with limits.override(frame_pixels=100), pytest.raises(LimitError):
        limits.check_frame(11, 10, 3, 1, "a.png")
    assert limits.current() == before


@pytest.mark.parametrize(("text", "words"), [
    ("[1, Infinity]", "Infinity is not a JSON number"),
    ('{"frame": NaN}', "NaN is not a JSON number"),
    ('{"x": 1e400}', "1e400 is out of range"),
    ("1" + "0" * 5000, "an integer of 5001 digits"),
    ("[" * 100_000 + "]" * 100_000, "nested more than 64 levels"),
    ('{"a": ' * 10_000 + "1" + "}" * 10_000, "nested more than 64 levels"),
    ('{"a": [1, 2', "not valid JSON"),
])
def test_strict_json_refuses_what_python_would_accept_or_crash_on(text: str, words: str) -> None:
    with pytest.raises(ProjectError, match=words) as err:
        safejson.loads(text, "shot.sam3roto", ProjectError)
    assert err.value.path == Path("shot.sam3roto")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"name": "[" * 1000, "list": [[1]]})
    assert safejson.loads(text, "a.json")["list"] == [[1]]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text("[" + "1," * 600 + "1]")
    with limits.override(json_bytes=1000), pytest.raises(ProjectError, match="over the limit of 1000 bytes") as err:
        safejson.read(path, "the project file", ProjectError)
    assert "SAM3ROTO_MAX_JSON_BYTES" in str(err.value)
    assert safejson.read(path, "the project file", ProjectError)[0] == 1


@pytest.mark.parametrize(("value", "words"), [(True, "must be a number, not true"), ("3", 'not "3"'),
                                              (None, "not null"), (1e300, "outside 0..100"), (-1, "outside 0..100")])
def test_finite_names_the_value_and_the_range(value: object, words: str) -> None:
    with pytest.raises(ProjectError, match=words):
        safejson.finite(value, "the frame", "a.json", ProjectError, 0, 100)


def test_whole_accepts_3_0_and_refuses_fractions_and_huge_integers() -> None:
    assert safejson.whole(3.0, "id", None) == 3
    with pytest.raises(Exception, match="must be a whole number"):
        safejson.whole(2.5, "id", None)
    with pytest.raises(Exception, match="outside"):
        safejson.whole(10**40, "id", None)

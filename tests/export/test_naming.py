"""Names on disk: frame files, Nuke-safe layers, versions that are never reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sam3roto.errors import Sam3RotoError
from sam3roto.export.naming import (
    existing_versions,
    file_token,
    frame_file,
    frame_padding,
    layer_name,
    publish_version,
    reserve_version,
    unique,
)


def test_frame_files_keep_padding_and_the_dot_before_the_number() -> None:
    assert frame_file("shot", 7, 4, ".png") == "shot.0007.png"
    assert frame_file("shot", 1001, 4, ".exr") == "shot.1001.exr"
    assert frame_file("shot", -3, 4, ".png") == "shot.-0003.png"
    assert frame_padding([1, 2]) == 4
    assert frame_padding([99999, 100000]) == 6


def test_layer_names_are_nuke_safe_and_file_tokens_are_portable() -> None:
    assert layer_name("person") == "person"
    assert layer_name("2 cars!") == "obj_2_cars"
    assert layer_name("left.arm") == "left_arm"
    assert layer_name("...") == "object"
    assert file_token("my car/2") == "my_car_2"
    assert unique(["a", "A", "a", "b"]) == ["a", "A_2", "a_3", "b"]


def test_versions_count_up_and_count_partial_ones(tmp_path: Path) -> None:
    v1, staging1 = reserve_version(tmp_path)
    assert (v1, staging1.name) == (1, ".v001.partial")
    v2, _ = reserve_version(tmp_path)  # v001 still being written: v002 is next
    assert v2 == 2
    publish_version(staging1, v1)
    assert (tmp_path / "v001").is_dir() and existing_versions(tmp_path) == [1, 2]
    with pytest.raises(Sam3RotoError, match="v001 already exists"):
        reserve_version(tmp_path, 1)
    (tmp_path / "v007").mkdir()
    assert reserve_version(tmp_path)[0] == 8


def test_an_output_root_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(Sam3RotoError, match="cannot create the output folder") as err:
        reserve_version(blocker / "renders")
    assert "renders" in str(err.value)

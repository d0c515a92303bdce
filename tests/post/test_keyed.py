"""Matte settings keyed over a shot (post/keyed.py): numbers linear between keys (whole
ones rounded), choices and switches step, the first and last keys hold outside them,
threshold stages interpolate when compatible, errors name the keyed frame."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sam3roto.post.keyed import KeyedPost, interpolate
from sam3roto.post.settings import PostSettings
from sam3roto.post.sources import ThresholdStage


def _keyed(keys: dict[int, dict], post: dict | None = None) -> KeyedPost:
    return KeyedPost.from_dicts(post or {}, keys)


def test_without_keys_the_base_applies_everywhere() -> None:
    keyed = KeyedPost.from_dicts({"grow_px": 3})
    assert not keyed.keyed and keyed.frames == []
    for frame in (-5, 0, 7, 10_000):
        assert keyed.at(frame) == PostSettings(grow_px=3)
    assert keyed.every() == [PostSettings(grow_px=3)]
    assert "keys" not in keyed.to_dict()


def test_numbers_are_linear_between_keys_whole_ones_rounded() -> None:
    keyed = _keyed({10: {"grow_px": 0, "feather_px": 0.0, "refine_softness": 0.2},
                    20: {"grow_px": 5, "feather_px": 4.0, "refine_softness": 0.7}})
    assert keyed.frames == [10, 20]
    middle = keyed.at(15)
    assert middle.feather_px == pytest.approx(2.0)
    assert middle.refine_softness == pytest.approx(0.45)
    assert middle.grow_px == 3 and isinstance(middle.grow_px, int)  # 2.5 rounds half up
    assert keyed.at(12).grow_px == 1 and keyed.at(12).feather_px == pytest.approx(0.8)  # 1.0 exactly
    assert keyed.at(13).grow_px == 2  # 1.5 rounds up
    # negative whole numbers round to the nearest too
    shrink = _keyed({0: {"grow_px": 0}, 4: {"grow_px": -7}})
    assert [shrink.at(f).grow_px for f in range(5)] == [0, -2, -3, -5, -7]
    # a float key value stays a float; every result is valid settings
    assert isinstance(keyed.at(11).feather_px, float)


def test_on_a_key_its_own_values_exactly() -> None:
    keyed = _keyed({3: {"grow_px": 2, "despill": "green"}, 9: {"grow_px": 8, "despill": "blue"}})
    assert keyed.at(3) == PostSettings(grow_px=2, despill="green")
    assert keyed.at(9) == PostSettings(grow_px=8, despill="blue")


def test_choices_and_switches_step_at_the_next_key() -> None:
    keyed = _keyed({0: {"refine_method": "guided", "premultiply": False, "depth_mode": "off"},
                    10: {"refine_method": "closed_form", "premultiply": True, "depth_mode": "replace"}})
    for frame in (0, 1, 5, 9):
        s = keyed.at(frame)
        assert (s.refine_method, s.premultiply, s.depth_mode) == ("guided", False, "off")
    last = keyed.at(10)
    assert (last.refine_method, last.premultiply, last.depth_mode) == ("closed_form", True, "replace")


def test_before_the_first_key_and_after_the_last_those_keys_hold() -> None:
    keyed = _keyed({5: {"grow_px": 4}, 8: {"grow_px": 10}}, post={"grow_px": -20})
    assert keyed.at(0).grow_px == 4 and keyed.at(4).grow_px == 4  # not the base: keys replace it
    assert keyed.at(9).grow_px == 10 and keyed.at(1000).grow_px == 10
    one = _keyed({6: {"feather_px": 2.5}})
    assert {one.at(f).feather_px for f in (0, 6, 50)} == {2.5}


def test_unkeyed_settings_in_a_key_are_its_defaults() -> None:
    # a key holds whole settings: what it leaves out is the default, not the base
    keyed = _keyed({0: {"grow_px": 2}, 10: {"grow_px": 4, "feather_px": 10.0}}, post={"feather_px": 30.0})
    assert keyed.at(5).feather_px == pytest.approx(5.0)


def test_threshold_stages_interpolate_when_they_match() -> None:
    a = {"thresholds": [{"channel": "luma", "low": 0.2, "high": 0.6, "invert": False, "op": "keep"}]}
    b = {"thresholds": [{"channel": "luma", "low": 0.6, "high": 1.0, "invert": False, "op": "keep"}]}
    keyed = _keyed({0: a, 4: b})
    (stage,) = keyed.at(1).thresholds
    assert (stage.low, stage.high) == (pytest.approx(0.3), pytest.approx(0.7))
    assert stage.channel == "luma" and stage.op == "keep" and stage.invert is False
    assert keyed.at(4).thresholds == (ThresholdStage("luma", 0.6, 1.0, False, "keep"),)


def test_threshold_stages_high_never_below_low() -> None:
    a = {"thresholds": [{"channel": "luma", "low": 0.0, "high": 0.1}]}
    b = {"thresholds": [{"channel": "luma", "low": 0.9, "high": 0.9}]}
    keyed = _keyed({0: a, 10: b})
    for frame in range(11):
        (stage,) = keyed.at(frame).thresholds
        assert 0.0 <= stage.low <= stage.high <= 1.0


@pytest.mark.parametrize("other", [
    [{"channel": "red", "low": 0.6, "high": 1.0}],  # another channel
    [{"channel": "luma", "low": 0.6, "high": 1.0, "invert": True}],  # inverted
    [{"channel": "luma", "low": 0.6, "high": 1.0, "op": "add"}],  # another op
    [{"channel": "luma", "low": 0.6, "high": 1.0}, {"channel": "luma", "low": 0.1, "high": 0.2}],  # more stages
    [],  # none
])
def test_threshold_stages_that_differ_step(other: list[dict]) -> None:
    first = [{"channel": "luma", "low": 0.2, "high": 0.6}]
    keyed = _keyed({0: {"thresholds": first}, 4: {"thresholds": other}})
    expected = PostSettings.from_dict({"thresholds": first}).thresholds
    assert keyed.at(1).thresholds == expected and keyed.at(3).thresholds == expected
    assert keyed.at(4).thresholds == PostSettings.from_dict({"thresholds": other}).thresholds


def test_interpolate_ends_and_identity() -> None:
    a, b = PostSettings(grow_px=1, feather_px=1.0), PostSettings(grow_px=9, feather_px=3.0, despill="green")
    assert interpolate(a, b, 0.0) is a and interpolate(a, b, -1.0) is a
    assert interpolate(a, b, 1.0) is b and interpolate(a, b, 2.0) is b
    half = interpolate(a, b, 0.5)
    assert (half.grow_px, half.feather_px, half.despill) == (5, pytest.approx(2.0), "off")
    assert interpolate(a, a, 0.5) is a  # nothing to change: the same settings


def test_keys_are_ordered_whatever_the_dict_order() -> None:
    keyed = _keyed({20: {"grow_px": 20}, 0: {"grow_px": 0}, 10: {"grow_px": 10}})
    assert keyed.frames == [0, 10, 20]
    assert [keyed.at(f).grow_px for f in (5, 15)] == [5, 15]


def test_a_bad_key_names_its_frame() -> None:
    with pytest.raises(ValueError, match="frame index 7") as err:
        _keyed({0: {"grow_px": 1}, 7: {"grow_px": 1.5}})
    assert "grow_px" in str(err.value)
    with pytest.raises(TypeError, match="frame index 3"):
        _keyed({3: {"feather_px": "wide"}})
    with pytest.raises(ValueError, match=r"frame index 4.*unknown post settings: grow"):
        _keyed({4: {"grow": 1}})
    with pytest.raises(TypeError, match="frame index 2"):
        _keyed({2: ["not", "settings"]})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="frame index 5"):
        _keyed({5: {"despill": "purple"}})
    with pytest.raises(ValueError, match="unknown post settings"):  # the base is checked too
        KeyedPost.from_dicts({"nope": 1}, {0: {}})


def test_of_reads_an_objects_post_and_post_keys() -> None:
    obj = SimpleNamespace(post={"grow_px": 1}, post_keys={2: {"grow_px": 4}, 6: {"grow_px": 8}})
    keyed = KeyedPost.of(obj)
    assert keyed.base == PostSettings(grow_px=1) and keyed.at(4).grow_px == 6
    assert KeyedPost.of(SimpleNamespace(post={"grow_px": 1})).at(4).grow_px == 1  # no post_keys at all


def test_what_a_render_checks_once_covers_every_key() -> None:
    keyed = _keyed({0: {}, 5: {"temporal_pct": 50.0}, 9: {"despill": "green"}}, post={"depth_mode": "replace"})
    assert keyed.uses_neighbours and keyed.changes_rgb
    assert not keyed.uses_depth  # the base is not used once there are keys
    assert len(keyed.every()) == 3
    plain = KeyedPost.from_dicts({"depth_mode": "replace"})
    assert plain.uses_depth and not plain.uses_neighbours and not plain.changes_rgb


def test_to_dict_carries_the_keys_by_frame() -> None:
    keyed = _keyed({3: {"grow_px": 2}, 1: {"grow_px": 1}}, post={"feather_px": 1.0})
    out = keyed.to_dict()
    assert out["feather_px"] == 1.0 and list(out["keys"]) == ["1", "3"]
    assert out["keys"]["3"] == PostSettings(grow_px=2).to_dict()

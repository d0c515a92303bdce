"""Hostile Label Studio exports and prompts files (issue 20): every one ends in the module's own
error naming the file and the task and result (or the object and keyframe) where the bad value
is, within bounded time and memory; through the command line, exit 1 with one ``error:`` line
and no traceback.

The files are generated small (the million-point polygon is a 13 MB JSON in ``tmp_path``).
"""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from sam3roto.core import limits, safejson
from sam3roto.errors import Sam3RotoError
from sam3roto.interchange.labelstudio import (
    LabelStudioError,
    choose_task,
    decode_rle,
    decode_task,
    read_export,
)
from sam3roto.interchange.prompts import absent_indices, read_prompts
from tests.hostile import assert_clean_error, run_cli
from tests.interchange.test_labelstudio import _bits, encode_rle

W, H = 64, 48  # the media of the library-level tests
FRAMES = [1, 2, 3, 4, 5]


# -- building exports -------------------------------------------------------------------------
def _image_task(results: list[dict[str, Any]], task_id: int = 7) -> dict[str, Any]:
    return {"id": task_id, "data": {"image": "/data/upload/1/frame_00000003.png"},
            "annotations": [{"id": 70, "result": results}]}


def _video_task(frame: object) -> dict[str, Any]:
    return {"id": 3, "data": {"video": "/data/upload/1/clip.mp4"}, "annotations": [{"id": 1, "result": [
        {"id": "v1", "type": "videorectangle", "value": {"labels": ["dog"], "sequence": [
            {"frame": frame, "enabled": True, "x": 10, "y": 10, "width": 50, "height": 50}]}}]}]}


def _polygon(points: object, rid: str = "p1") -> dict[str, Any]:
    return {"id": rid, "type": "polygonlabels", "value": {"points": points, "polygonlabels": ["person"]}}


def _brush(rle: object, width: int = W, height: int = H, rid: str = "b1") -> dict[str, Any]:
    return {"id": rid, "type": "brushlabels", "original_width": width, "original_height": height,
            "value": {"format": "rle", "rle": rle, "brushlabels": ["person"]}}


def _write(path: Path, doc: object, replace: tuple[str, str] | None = None) -> Path:
    text = json.dumps(doc)
    if replace is not None:  # put in a token json.dumps cannot write (Infinity, 1e400, 5000 digits)
        assert replace[0] in text
        text = text.replace(replace[0], replace[1], 1)
    path.write_text(text)
    return path


def _decode(path: Path, width: int = W, height: int = H) -> Any:
    return decode_task(choose_task(read_export(path), None), width, height, FRAMES)


def _refused(path: Path, *names: str, width: int = W, height: int = H) -> LabelStudioError:
    """Reading and decoding ``path`` fails with a LabelStudioError naming it and ``names``."""
    with pytest.raises(LabelStudioError) as info:
        _decode(path, width, height)
    text = str(info.value)
    assert info.value.path == path and str(path) in text, text
    for name in names:
        assert name in text, (name, text)
    assert len(text) < 1000, text
    return info.value


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 64x48 frames, numbered 1..3."""
    folder = tmp_path_factory.mktemp("media")
    for i in range(1, 4):
        cv2.imwrite(str(folder / f"frame.{i:04d}.png"), np.full((H, W, 3), 40 * i, np.uint8))
    return folder


def _cli_import(export: Path, media: Path, *extra: str, memory: int = 2 * 1024**3) -> Any:
    return run_cli("labelstudio", export, "--project", export.with_suffix(".sam3roto"), "--media", media, *extra,
                   memory=memory)


# -- 1. malformed JSON and numbers ------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,  # a RecursionError for Python's json
    '[{"id": 1, "data": {"image": "a.png"}, "annotations": [' + "[" * 5000 + "]" * 5000 + "]}]",
    '{"data": ' * 100_000 + "1" + "}" * 100_000,
    "[" + "[" * 70 + "]" * 70 + "]",  # over the 64-level limit, under Python's recursion limit
], ids=["list-100000", "in-a-task-5000", "object-100000", "list-71"])
def test_deep_nesting_is_refused_naming_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(LabelStudioError, match="nested more than 64 levels deep") as info:
        read_export(path)
    assert info.value.path == path and "SAM3ROTO_MAX_JSON_DEPTH" in str(info.value)


@pytest.mark.parametrize(("token", "reason"), [
    ("Infinity", "Infinity is not a JSON number"),
    ("-Infinity", "-Infinity is not a JSON number"),
    ("NaN", "NaN is not a JSON number"),
    ("1e400", "the number 1e400 is out of range"),
    ("1" * 5000, "an integer of 5000 digits is out of range"),
])
def test_refused_numbers_name_the_task_the_result_and_the_key(tmp_path: Path, token: str, reason: str) -> None:
    frame = _write(tmp_path / "frame.json", [_video_task(1)], ('"frame": 1', f'"frame": {token}'))
    _refused(frame, "task 3, result v1 (videorectangle): value.sequence[0].frame", reason)
    points = [[10, 10], [60, 10], [60, 60]]
    point = _write(tmp_path / "point.json", [_image_task([_polygon(points)])], ("[60, 10]", f"[{token}, 10]"))
    _refused(point, "task 7, result p1 (polygonlabels): value.points[1][0]", reason)
    single = _write(tmp_path / "single.json", _video_task(1), ('"frame": 1', f'"frame": {token}'))  # one task
    _refused(single, "task 3, result v1 (videorectangle): value.sequence[0].frame", reason)


@pytest.mark.parametrize(("frame", "message"), [
    (None, "'frame' must be a number, not null"),
    ("2", "'frame' must be a number, not \"2\""),
    (10**30, "frame 1000000000000000000000000000000 is beyond the media's 5 frames"),
    (10**99, "frame a number of about 99 digits is beyond the media's 5 frames"),
    (1.5, "'frame' must be a whole number, not 1.5"),
    (0, "frame 0 is not a frame number (they count from 1)"),
    (True, "'frame' must be a number, not true"),
])
def test_bad_frame_numbers_name_the_task_and_result(tmp_path: Path, frame: object, message: str) -> None:
    path = _write(tmp_path / "export.json", [_video_task(frame)])
    _refused(path, "task 3, result v1 (videorectangle): sequence entry 1: " + message)


@pytest.mark.parametrize(("value", "message"), [
    ({"x": 1e12}, "'x' is 1000000000000.0, outside -100..200 (percent of the image)"),
    ({"width": -5}, "'width' is -5, outside 0..300 (percent of the image)"),
    ({"y": "10"}, "'y' must be a number, not \"10\" (percent of the image)"),
    ({"rotation": 1e300}, "'rotation' is 1e+300, outside -360..360 (degrees)"),
    ({"x": 150}, "box (96, 4.8)-(108.8, 14.4) lies outside the 64x48 frame"),
])
def test_rectangles_out_of_range_name_the_task_and_result(tmp_path: Path, value: dict[str, Any],
                                                          message: str) -> None:
    box = {"x": 10, "y": 10, "width": 20, "height": 20, "rotation": 0, "rectanglelabels": ["car"], **value}
    path = _write(tmp_path / "export.json", [_image_task([{"id": "r1", "type": "rectanglelabels", "value": box}])])
    _refused(path, "task 7, result r1 (rectanglelabels): " + message)


def test_key_points_must_lie_inside_the_image(tmp_path: Path) -> None:
    point = {"id": "k1", "type": "keypointlabels", "value": {"x": -1, "y": 5, "keypointlabels": ["a"]}}
    _refused(_write(tmp_path / "export.json", [_image_task([point])]),
             "task 7, result k1 (keypointlabels): 'x' is -1, outside 0..100 (percent of the image)")


# -- 2. polygons ------------------------------------------------------------------------------
def _circle(count: int, radius_pct: float = 40.0) -> np.ndarray:
    angle = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return 50 + radius_pct * np.c_[np.cos(angle), np.sin(angle)]


def test_a_50000_point_polygon_is_filled_in_well_under_a_second(tmp_path: Path) -> None:
    path = _write(tmp_path / "export.json", [_image_task([_polygon(_circle(50_000).round(5).tolist())])])
    task = choose_task(read_export(path), None)
    start = time.perf_counter()
    (label,) = decode_task(task, 640, 480, FRAMES).labels
    elapsed = time.perf_counter() - start
    mask = label.masks[2]
    expected = np.pi * (0.4 * 640) * (0.4 * 480)  # an ellipse of 40% radii
    assert abs(mask.sum() / expected - 1) < 0.01
    assert elapsed < 2.0, f"{elapsed:.2f} s to check and fill 50,000 points"  # 0.1 s here


def test_polygons_over_the_point_limit_are_refused_before_any_work(tmp_path: Path) -> None:
    points = _circle(11).tolist()
    path = _write(tmp_path / "export.json", [_image_task([_polygon(points)])])
    with limits.override(polygon_points=10):
        error = _refused(path, "task 7, result p1 (polygonlabels): the polygon has 11 points, over the limit of 10")
    assert "SAM3ROTO_MAX_POLYGON_POINTS" in str(error)
    with limits.override(polygon_points=11):
        assert _decode(path).labels[0].masks[2].any()


def test_a_million_point_polygon_through_the_cli_is_refused_in_seconds(tmp_path: Path, media: Path) -> None:
    point = "[50.123456,20.654321]"
    text = json.dumps([_image_task([_polygon([])])]).replace('"points": []', '"points": [' + ",".join(
        [point] * 1_000_000) + "]")
    export = tmp_path / "million.json"
    export.write_text(text)
    assert export.stat().st_size > 20 * 1024**2
    start = time.perf_counter()
    proc = _cli_import(export, media, memory=2 * 1024**3)
    elapsed = time.perf_counter() - start
    assert_clean_error(proc, "million.json", "task 7, result p1 (polygonlabels)", "1000000 points",
                       "over the limit of 100000", "SAM3ROTO_MAX_POLYGON_POINTS")
    assert elapsed < 30, f"{elapsed:.1f} s"  # about 3 s on 2 cores


@pytest.mark.parametrize(("points", "message"), [
    ([[1e12, 1e12], [-1e12, 1e12], [1e12, -1e12]],
     "point 1 of 3 is at (1e+12, 1e+12) percent, more than one image size outside the image "
     "(points must lie within -100..200 percent)"),
    ([[10, 10], [20, 10], [20, -150]], "point 3 of 3 is at (20, -150) percent"),
    ([[10, 10], [20, 10]], "a polygon needs at least 3 points, not 2"),
    ([[10, 10], [20, 10], [20, True]], "point 3 of 3 must be [x, y], two numbers (percent of the image)"),
    ([[10, 10], [20, 10], [20, 20, 30]], "point 3 of 3 must be [x, y]"),
    ({"0": [1, 2]}, "'points' must be a list of [x, y] pairs (percent of the image), not an object"),
])
def test_polygons_far_outside_or_malformed_are_refused(tmp_path: Path, points: object, message: str) -> None:
    path = _write(tmp_path / "export.json", [_image_task([_polygon(points)])])
    _refused(path, "task 7, result p1 (polygonlabels): " + message)


_GOOD = [[10, 10], [50, 10], [50, 50], [10, 50]]
_EMPTY_POLYGONS = [
    [[150, 150], [190, 150], [190, 190]],  # outside the image, within one image size of it
    [[10, 10], [50, 10.1], [90, 10.2]],  # thinner than half a pixel
]


@pytest.mark.parametrize("empty", _EMPTY_POLYGONS, ids=["outside", "thin"])
def test_a_polygon_covering_no_pixel_is_skipped_and_the_rest_imported(tmp_path: Path, empty: object) -> None:
    path = _write(tmp_path / "export.json", [_image_task([
        _polygon(empty, "p0"), _polygon(_GOOD, "p1"), {"id": "c1", "type": "choices", "value": {"choices": ["a"]}}])])
    decoded = _decode(path)
    (label,) = decoded.labels
    assert label.label == "person" and list(label.masks) == [2]
    expected = np.zeros((H, W), bool)
    expected[5:24, 6:32] = True  # 10..50 percent of 48 and 64 pixels, pixels more than half covered
    np.testing.assert_array_equal(label.masks[2], expected)
    assert decoded.skipped == {"polygonlabels (covering no pixel)": 1, "choices": 1}


def test_empty_results_of_a_label_leave_its_other_results_alone(tmp_path: Path) -> None:
    """An empty result between two good ones of another label: both labels come in, in order."""
    good_brush = np.zeros((H, W), bool)
    good_brush[30:40, 40:60] = True
    path = _write(tmp_path / "export.json", [_image_task([
        {**_brush(None, rid="b0"), "value": {"format": "rle", "rle": encode_rle(np.zeros((H, W), bool)),
                                             "brushlabels": ["car"]}},
        _polygon(_GOOD, "p1"), _polygon(_EMPTY_POLYGONS[1], "p2"), _brush(encode_rle(good_brush), rid="b1")])])
    decoded = _decode(path)
    assert [label.label for label in decoded.labels] == ["person"]
    (label,) = decoded.labels
    assert label.masks[2][30:40, 40:60].all() and label.masks[2][20, 20]
    assert decoded.skipped == {"brushlabels (empty mask)": 1, "polygonlabels (covering no pixel)": 1}


def test_a_task_with_only_empty_polygons_is_refused_naming_the_task(tmp_path: Path) -> None:
    path = _write(tmp_path / "export.json", [_image_task([_polygon(points, f"p{k}")
                                                          for k, points in enumerate(_EMPTY_POLYGONS)])])
    _refused(path, "task 7 has nothing to import: result p0 (polygonlabels): the polygon covers no pixel of the "
                   "64x48 media", "(and 1 more result covering no pixel)", "no empty key mask was made")


def test_a_task_with_only_an_empty_brush_is_refused_naming_the_task(tmp_path: Path) -> None:
    path = _write(tmp_path / "export.json", [_image_task([
        _brush(encode_rle(np.zeros((H, W), bool))), {"id": "c1", "type": "choices", "value": {"choices": ["a"]}}])])
    _refused(path, "task 7 has nothing to import: result b1 (brushlabels): the brush mask is empty (no pixel "
                   "painted); no empty key mask was made")


def test_a_brush_covering_no_pixel_once_scaled_is_skipped(tmp_path: Path) -> None:
    big = np.zeros((H * 4, W * 4), bool)
    big[1, 2] = True  # one pixel of a 4x proxy, not a pixel-centre sample once scaled down
    path = _write(tmp_path / "export.json", [_image_task([_brush(encode_rle(big), W * 4, H * 4),
                                                          _polygon(_GOOD, "p1")])])
    decoded = _decode(path)
    assert [label.label for label in decoded.labels] == ["person"]
    assert decoded.skipped == {"brushlabels (covering no pixel once scaled)": 1}
    path = _write(tmp_path / "export.json", [_image_task([_brush(encode_rle(big), W * 4, H * 4)])])
    _refused(path, "task 7 has nothing to import: result b1 (brushlabels): the brush mask, drawn on a 256x192 "
                   "image, covers no pixel once scaled to the 64x48 media; no empty key mask was made")


def test_the_command_line_reports_the_skipped_empty_result(tmp_path: Path, media: Path) -> None:
    results = [_polygon(_GOOD, "p1"), _polygon(_EMPTY_POLYGONS[0], "p2")]
    export = _write(tmp_path / "export.json", [_image_task(results)])
    proc = _cli_import(export, media)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipped: 1 polygonlabels (covering no pixel)" in proc.stdout, proc.stdout
    export = _write(tmp_path / "empty.json", [_image_task([_brush(encode_rle(np.zeros((H, W), bool)))])])
    assert_clean_error(_cli_import(export, media), "empty.json", "task 7 has nothing to import",
                       "result b1 (brushlabels): the brush mask is empty (no pixel painted)")


def test_a_polygon_partly_outside_is_clipped_to_the_image(tmp_path: Path) -> None:
    path = _write(tmp_path / "export.json", [_image_task([_polygon([[-50, -50], [50, -50], [50, 50], [-50, 50]])])])
    mask = _decode(path).labels[0].masks[2]
    expected = np.zeros((H, W), bool)
    expected[:24, :32] = True
    np.testing.assert_array_equal(mask, expected)


# -- 3. brush masks ---------------------------------------------------------------------------
def test_a_brush_over_the_mask_pixel_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    path = _write(tmp_path / "export.json", [_image_task([_brush(encode_rle(np.ones((H, W), bool)), 30000, 30000)])])
    error = _refused(path, "task 7, result b1 (brushlabels): the brush mask declares 30000x30000 = 900000000 pixels, "
                           "over the limit of 268435456")
    assert "SAM3ROTO_MAX_MASK_PIXELS" in str(error)


def test_a_brush_drawn_on_another_shape_than_the_media_is_refused(tmp_path: Path) -> None:
    rle = encode_rle(np.ones((H, W), bool))
    for size in [(16384, 16384), (W * 5, H * 5), (W, H + 5)]:
        path = _write(tmp_path / "export.json", [_image_task([_brush(rle, *size)])])
        _refused(path, f"the brush mask was drawn on a {size[0]}x{size[1]} image, which is neither the 64x48 media "
                       "nor a scaled copy of it (the same aspect ratio within 1%, at most 4x larger)")
    small = np.zeros((12, 16), bool)
    small[3:9, 4:12] = True  # a quarter-size proxy scales up to the media
    (label,) = _decode(_write(tmp_path / "export.json", [_image_task([_brush(encode_rle(small), 16, 12)])])).labels
    np.testing.assert_array_equal(label.masks[2], np.kron(small, np.ones((4, 4), bool)))


def _header(count: int, word: int = 8, sizes: tuple[int, ...] = (4, 4, 4, 4)) -> str:
    return _bits(count, 32) + _bits(word - 1, 5) + "".join(_bits(s - 1, 4) for s in sizes)


def _pack(bits: str) -> list[int]:
    bits += "0" * (-len(bits) % 8)
    return [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]


@pytest.mark.parametrize(("rle", "message"), [
    ({}, "'rle' must be a list of byte values (0..255), not an object"),
    (None, "'rle' must be a list of byte values (0..255), not null"),
    ([1, 2, 3], "the RLE holds 3 bytes, too few for its 53-bit header"),
    ([10**30, *encode_rle(np.ones((H, W), bool))[1:]], "the RLE's byte 1 of"),
    ([*encode_rle(np.ones((H, W), bool))[:-1], 256], "the RLE's byte 10 of 10 is 256, not a byte value (0..255)"),
    ([*encode_rle(np.ones((H, W), bool))[:-1], 2.5], "the RLE's byte 10 of 10 is 2.5, not a byte value (0..255)"),
    ([*encode_rle(np.ones((H, W), bool))[:-1], "7"], "the RLE's byte 10 of 10 is \"7\", not a byte value"),
    (_pack(_header(W * H * 4, sizes=(16, 16, 16, 16)) + "1" + "00" + _bits(20000 - 1, 16) + _bits(255, 8)),
     "a run at value 0 goes past the 12288 values the RLE declares"),
    (_pack(_header(W * H * 4 + 4)), "the RLE holds 12292 values but a 64x48 RGBA image needs 12288"),
    (_pack(_header(W * H * 4, word=9) + "0" * 64), "the RLE word size is 9 bits"),
    (encode_rle(np.ones((H, W), bool))[:-3], "the RLE ends early"),
])
def test_bad_brush_rles_name_the_task_and_result(tmp_path: Path, rle: object, message: str) -> None:
    path = _write(tmp_path / "export.json", [_image_task([_brush(rle)])])
    _refused(path, "task 7, result b1 (brushlabels): " + message)


def test_run_past_the_end_is_checked_before_writing_a_value() -> None:
    # 2x1 image: 8 values; the first run repeats 255 sixteen times
    rle = _pack(_header(8) + "1" + "00" + _bits(15, 4) + _bits(255, 8))
    with pytest.raises(ValueError, match="a run at value 0 goes past the 8 values the RLE declares"):
        decode_rle(rle, 2, 1)


def _repeat_runs(runs: list[tuple[int, int]]) -> list[int]:
    """An RLE of repeat runs only: (byte value, count) pairs, 16-bit run lengths."""
    bits = _header(sum(n for _, n in runs), sizes=(16, 16, 16, 16))
    for value, count in runs:
        while count:
            take = min(count, 1 << 16)
            bits += "1" + "00" + _bits(take - 1, 16) + _bits(value, 8)
            count -= take
    return _pack(bits)


def test_decoding_a_brush_keeps_one_byte_per_pixel() -> None:
    """A 3840x2160 brush (the most a 960x540 media admits) decodes within ~1.2 bytes a pixel:
    only alpha is kept, never the 4-byte RGBA image (33 MB) the RLE describes."""
    mask = np.zeros((2160, 3840), bool)
    mask[200:1800] = True
    rle = _repeat_runs([(0, 200 * 3840 * 4), (255, 1600 * 3840 * 4), (0, 360 * 3840 * 4)])
    tracemalloc.start()
    try:
        decoded = decode_rle(rle, 3840, 2160)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(decoded, mask)
    assert peak < 1.2 * mask.size, f"{peak / 1e6:.1f} MB for an {mask.size / 1e6:.1f} Mpx mask"


def test_a_brush_through_the_cli_with_huge_values_is_a_clean_error(tmp_path: Path, media: Path) -> None:
    export = _write(tmp_path / "brush.json", [_image_task([_brush([10**30, 1, 2, 3, 4, 5, 6, 7])])])
    proc = _cli_import(export, media)
    assert_clean_error(proc, "brush.json", "task 7, result b1 (brushlabels)", "not a byte value (0..255)")


# -- 4. choices in errors ---------------------------------------------------------------------
def test_choosing_among_many_tasks_lists_ten(tmp_path: Path) -> None:
    path = _write(tmp_path / "export.json", [_image_task([], task_id=i) for i in range(1, 5001)])
    tasks = read_export(path)
    with pytest.raises(LabelStudioError) as info:
        choose_task(tasks, None)
    text = str(info.value)
    assert text.count(": no results") == 10 and "task 10 (image" in text and "task 11 (" not in text, text
    assert "... and 4990 more" in text and "--task ID" in text and len(text) < 1500, text
    with pytest.raises(LabelStudioError, match=r"no task with id 9999; the export has 1, 2, .*, 10 \.\.\. and 4990 "
                                               r"more") as info:
        choose_task(tasks, 9999)
    assert len(str(info.value)) < 400


def test_many_tasks_without_task_through_the_cli(tmp_path: Path, media: Path) -> None:
    export = _write(tmp_path / "many.json", [_image_task([], task_id=i) for i in range(1, 20001)])
    text = assert_clean_error(_cli_import(export, media), "many.json", "holds 20000 tasks", "... and 19990 more")
    assert len(text) < 1500


# -- 5. size and memory -----------------------------------------------------------------------
def test_the_json_size_limit_applies_through_the_cli(tmp_path: Path, media: Path) -> None:
    export = _write(tmp_path / "big.json", [_image_task([], task_id=i) for i in range(1, 100)])
    proc = run_cli("labelstudio", export, "--list", env={"SAM3ROTO_MAX_JSON_BYTES": "1K"})
    assert_clean_error(proc, "big.json", "over the limit of 1.0 KiB", "SAM3ROTO_MAX_JSON_BYTES")


def _polygon_export(path: Path, tasks: int) -> Path:
    rng = np.random.default_rng(0)
    doc = [_image_task([_polygon(rng.uniform(0, 100, (40, 2)).tolist(), rid=f"p{i}")], task_id=i)
           for i in range(1, tasks + 1)]
    return _write(path, doc)


def test_reading_an_export_keeps_its_text_not_every_tasks_objects(tmp_path: Path) -> None:
    """Python objects for every task would take about 4x the file (a whole parsed tree, what
    ``json.load`` makes); read_export keeps the text and a small record per task, and at its
    peak holds the text twice (bytes and str) and one task's objects."""
    path = _polygon_export(tmp_path / "export.json", 1500)  # 2.7 MB of polygons
    size = path.stat().st_size

    def traced(function: Any) -> tuple[int, int, Any]:
        tracemalloc.start()
        try:
            value = function()
            return (*tracemalloc.get_traced_memory(), value)
        finally:
            tracemalloc.stop()

    tree, tree_peak, _ = traced(lambda: safejson.read(path, "the export"))
    kept, peak, tasks = traced(lambda: read_export(path))
    assert tree > 3.5 * size  # what keeping every task's objects would cost
    assert kept < 1.3 * size, (kept, size)  # 1.15 x here
    assert peak < 2.5 * size and peak < 0.6 * tree_peak, (peak, size, tree_peak)  # 2.2 x and 0.43 x here
    task = choose_task(tasks, 300)
    assert task.results[0]["id"] == "p300" and choose_task(tasks, 300).results == task.results
    del tasks
    assert len(_decode_one(task).labels[0].masks) == 1


def _decode_one(task: Any) -> Any:
    return decode_task(task, W, H, list(range(1, 201)))


# -- 6. the prompts file ----------------------------------------------------------------------
def _prompts(path: Path, objects: list[dict[str, Any]], replace: tuple[str, str] | None = None) -> Path:
    return _write(path, {"objects": objects}, replace)


def _prompts_refused(path: Path, *names: str, **shot: Any) -> Sam3RotoError:
    with pytest.raises(Sam3RotoError) as info:
        read_prompts(path, **shot)
    text = str(info.value)
    assert info.value.path == path and str(path) in text, text
    for name in names:
        assert name in text, (name, text)
    assert len(text) < 1000
    return info.value


@pytest.mark.parametrize(("token", "reason"), [
    ("Infinity", "Infinity is not a JSON number"),
    ("1e400", "the number 1e400 is out of range"),
    ("1" * 5000, "an integer of 5000 digits is out of range"),
])
def test_prompts_refused_numbers_name_the_object_and_keyframe(tmp_path: Path, token: str, reason: str) -> None:
    objects = [{"name": "a", "keyframes": [{"frame": 1, "points": [[5, 5]]}]},
               {"name": "b", "keyframes": [{"frame": 1, "points": [[5, 5]]}, {"frame": 2, "boxes": [[1, 2, 30, 40]]}]}]
    path = _prompts(tmp_path / "prompts.json", objects, ("[1, 2, 30, 40]", f"[1, 2, {token}, 40]"))
    _prompts_refused(path, "object 'b', keyframe #2: boxes[0][2]: " + reason)
    path = _prompts(tmp_path / "prompts.json", objects, ('"frame": 2', f'"frame": {token}'))
    _prompts_refused(path, "object 'b', keyframe #2: frame: " + reason)


@pytest.mark.parametrize(("key", "message"), [
    ({"frame": None, "points": [[1, 1]]}, 'needs an integer "frame" (a frame number of the shot)'),
    ({"frame": "1001", "points": [[1, 1]]}, '"frame" must be a number, not "1001"'),
    ({"frame": 1.5, "points": [[1, 1]]}, '"frame" must be a whole number, not 1.5'),
    ({"frame": -1, "points": [[1, 1]]}, '"frame" is -1, outside 0..2147483647'),
    ({"frame": 10**30, "points": [[1, 1]]}, '"frame" is 1000000000000000000000000000000, outside 0..2147483647'),
    ({"frame": 1, "points": [[1e12, 1]]}, "point #1: x is 1000000000000.0, outside -1000000..1000000"),
    ({"frame": 1, "points": [[1, None]]}, "point #1: y must be a number, not null"),
    ({"frame": 1, "points": [[1, 1, "yes"]]}, 'point #1: positive must be true or false, not "yes"'),
    ({"frame": 1, "points": [[1]]}, "a point must be [x, y] or [x, y, positive]; point #1 is [1]"),
    ({"frame": 1, "boxes": [[1, 2, 3]]}, "a box must be [x0, y0, x1, y1]; box #1 is [1, 2, 3]"),
    ({"frame": 1, "boxes": [[1, 2, 3, float("-1e300")]]}, "box #1: y1 is -1e+300, outside -1000000..1000000"),
    ({"frame": 1, "points": {"x": 1}}, '"points" must be a list, not an object'),
    ({"frame": 1, "text": 5}, '"text" must be a string, not a number'),
    ({"frame": 1}, "has no points, boxes, text or strokes"),
    ([1], 'must be an object with a "frame", not a list'),
])
def test_prompts_bad_values_name_the_object_and_keyframe(tmp_path: Path, key: object, message: str) -> None:
    path = _prompts(tmp_path / "prompts.json", [{"name": "a", "keyframes": [{"frame": 1, "points": [[1, 1]]}, key]}])
    _prompts_refused(path, "object 'a', keyframe #2: " + message)


def test_names_over_100_characters_are_refused(tmp_path: Path) -> None:
    """Names become file names in renders, and a project refuses longer ones when it loads."""
    path = _prompts(tmp_path / "prompts.json", [{"name": "car" * 1000, "keyframes": [{"frame": 1, "text": "a"}]}])
    _prompts_refused(path, "object #1: the name is 3000 characters long, over the limit of 100")
    box = {"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["car" * 1000]}
    export = _write(tmp_path / "export.json", [_image_task([{"id": "r1", "type": "rectanglelabels", "value": box}])])
    _refused(export, "task 7, result r1 (rectanglelabels): the label is 3000 characters long, over the limit of 100")


def test_prompts_keyframes_must_be_a_list(tmp_path: Path) -> None:
    path = _prompts(tmp_path / "prompts.json", [{"name": "a", "keyframes": 5}])
    _prompts_refused(path, "object 'a': \"keyframes\" must be a list, not a number")
    path = _prompts(tmp_path / "prompts.json", [{"name": "a", "keyframes": [], "absent": [[1, 10**20]]}])
    _prompts_refused(path, "object 'a': absent range [1, 100000000000000000000] holds a frame number outside "
                           "0..2147483647")


@pytest.mark.parametrize(("key", "message"), [
    ({"frame": 1000, "points": [[1, 1]]}, "frame 1000 is not in the shot (1001..1010)"),
    ({"frame": 1001, "points": [[64, 10]]}, "point #1: point (64, 10) lies outside the 64x48 frame"),
    ({"frame": 1001, "boxes": [[-100, 0, 10, 10]]},
     "box #1 (-100, 0)-(10, 10) reaches more than one frame size outside the 64x48 frame"),
    ({"frame": 1001, "boxes": [[70, 0, 90, 10]]}, "box #1: box (70, 0)-(90, 10) lies outside the 64x48 frame"),
])
def test_prompts_checked_against_the_shot(tmp_path: Path, key: dict[str, Any], message: str) -> None:
    path = _prompts(tmp_path / "prompts.json", [{"name": "a", "keyframes": [key]}])
    read_prompts(path)  # fine without the shot
    _prompts_refused(path, "object 'a', keyframe #1: " + message, frame_numbers=range(1001, 1011), size=(W, H))


def test_prompts_absent_ranges_checked_against_the_shot(tmp_path: Path) -> None:
    path = _prompts(tmp_path / "prompts.json", [{"name": "a", "absent": [[1001, 1020]]}])
    (item,) = read_prompts(path)
    _prompts_refused(path, "object 'a': absent range [1001, 1020]: frame 1020 is not in the shot (1001..1010)",
                     frame_numbers=range(1001, 1011))
    with pytest.raises(Sam3RotoError, match="frame 1020 is not in the shot"):
        absent_indices(item, range(1001, 1011), path)
    assert absent_indices(item, range(1001, 1031), path) == [(0, 19)]


def test_prompts_nested_too_deep(tmp_path: Path) -> None:
    path = tmp_path / "prompts.json"
    path.write_text('{"objects": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _prompts_refused(path, "nested more than 64 levels deep", "SAM3ROTO_MAX_JSON_DEPTH")


def test_prompts_through_the_cli_name_the_file_object_and_keyframe(tmp_path: Path, media: Path) -> None:
    objects = [{"name": "a", "keyframes": [{"frame": 1, "points": [[5, 5]]}, {"frame": 2, "points": [[5, 5]]}]}]
    path = _prompts(tmp_path / "bad.json", objects, ("[5, 5]]}]}]", "[5, -Infinity]]}]}]"))
    proc = run_cli("track", media, "--project", tmp_path / "p.sam3roto", "--prompts", path, "--quiet",
                   memory=2 * 1024**3)
    assert_clean_error(proc, "bad.json", "object 'a', keyframe #2: points[0][1]: -Infinity is not a JSON number")

"""Label Studio exports decode to the expected prompts and pixels.

The exports below are written by hand in the shape Label Studio's JSON export has
(tasks with ``data`` and ``annotations[].result[]``; coordinates in percent of the image;
video boxes as ``videorectangle`` with 1-based ``sequence[].frame``). Brush masks use
Label Studio's RLE (the rle-pack bit stream: 32-bit value count, 5-bit word size - 1,
four 4-bit run-size fields - 1, then runs of [1 flag bit, 2-bit size index, length - 1,
one word] or literal words); :func:`encode_rle` below writes it for test masks, and
``test_hand_assembled_rle`` spells one out bit by bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sam3roto.core.types import BoxPrompt, PointPrompt
from sam3roto.interchange.labelstudio import (
    LabelStudioError,
    choose_task,
    decode_rle,
    decode_task,
    read_export,
)

SIZES = (3, 6, 10, 16)  # run-length field widths, bits


def _bits(value: int, n: int) -> str:
    return format(value, f"0{n}b")


def encode_rle(mask: np.ndarray) -> list[int]:
    """A bool mask -> Label Studio brush RLE of its RGBA image (alpha and colour 255 inside):
    repeat runs for long stretches, literal runs for stretches shorter than 4 values."""
    values = np.repeat(mask.ravel().astype(np.int64) * 255, 4)
    out = [_bits(values.size, 32), _bits(8 - 1, 5), *(_bits(s - 1, 4) for s in SIZES)]
    change = np.flatnonzero(np.diff(values)) + 1
    starts, ends = np.r_[0, change], np.r_[change, values.size]
    literal: list[int] = []

    def flush() -> None:
        while literal:
            chunk, rest = literal[: 1 << SIZES[0]], literal[1 << SIZES[0] :]
            out.append("0" + _bits(0, 2) + _bits(len(chunk) - 1, SIZES[0]) + "".join(_bits(v, 8) for v in chunk))
            literal[:] = rest

    for s, e in zip(starts, ends, strict=True):
        if e - s < 4:
            literal.extend(int(v) for v in values[s:e])
            continue
        flush()
        n = e - s
        while n > 0:
            take = min(n, 1 << SIZES[-1])
            idx = next(i for i, size in enumerate(SIZES) if take - 1 < (1 << size))
            out.append("1" + _bits(idx, 2) + _bits(take - 1, SIZES[idx]) + _bits(int(values[s]), 8))
            n -= take
    flush()
    bits = "".join(out)
    bits += "0" * (-len(bits) % 8)
    return [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]


def test_hand_assembled_rle() -> None:
    """A 2x1 image: pixel 0 clear (four 0 values), pixel 1 set (four 255 values)."""
    bits = (
        _bits(8, 32)  # 8 values = 2 pixels x RGBA
        + _bits(7, 5)  # word size 8
        + _bits(3, 4) * 4  # every run-length field is 4 bits
        + "1" + "00" + _bits(3, 4) + _bits(0, 8)  # repeat 0 four times
        + "1" + "00" + _bits(3, 4) + _bits(255, 8)  # repeat 255 four times
    )
    bits += "0" * (-len(bits) % 8)
    rle = [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]
    np.testing.assert_array_equal(decode_rle(rle, 2, 1), [[False, True]])


def test_rle_round_trip_with_repeat_and_literal_runs() -> None:
    rng = np.random.default_rng(1)
    mask = np.zeros((37, 53), bool)
    mask[5:30, 8:40] = True
    mask[rng.random(mask.shape) < 0.02] ^= True  # isolated pixels force literal runs
    np.testing.assert_array_equal(decode_rle(encode_rle(mask), 53, 37), mask)


def test_rle_literal_runs_of_any_length_and_word_size() -> None:
    """Long literal runs (the decoder reads their alpha words in bulk) and short ones (one by
    one), any alignment with the RGBA values, and word sizes under 8 bits."""
    rng = np.random.default_rng(2)
    for word in (8, 5):
        values = rng.integers(0, 1 << word, 37 * 23 * 4) * (rng.random(37 * 23 * 4) < 0.6)
        bits, i = [_bits(values.size, 32), _bits(word - 1, 5), *(_bits(s - 1, 4) for s in (2, 5, 9, 16))], 0
        while i < values.size:
            n = int(min(values.size - i, rng.choice([1, 3, 7, 40, 500, 3000])))
            index = next(k for k, s in enumerate((2, 5, 9, 16)) if n - 1 < (1 << s))
            bits.append("0" + _bits(index, 2) + _bits(n - 1, (2, 5, 9, 16)[index])
                        + "".join(_bits(int(v), word) for v in values[i : i + n]))
            i += n
        stream = "".join(bits)
        stream += "0" * (-len(stream) % 8)
        rle = [int(stream[k : k + 8], 2) for k in range(0, len(stream), 8)]
        np.testing.assert_array_equal(decode_rle(rle, 23, 37), values.reshape(37, 23, 4)[..., 3] > 0)


def test_rle_of_the_wrong_length_or_damaged_is_refused() -> None:
    rle = encode_rle(np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="holds 64 values but a 5x4 RGBA image needs 80"):
        decode_rle(rle, 5, 4)
    with pytest.raises(ValueError, match="ends early"):
        decode_rle(rle[:-1], 4, 4)
    with pytest.raises(ValueError, match="larger than sam3roto accepts"):  # before any allocation
        decode_rle(rle, 20_000, 20_000)


def _image_task(results: list[dict], image: str = "/data/upload/3/frame_00000003.png", task_id: int = 7) -> dict:
    return {"id": task_id, "data": {"image": image},
            "annotations": [{"id": 70, "was_cancelled": False, "result": results}], "predictions": []}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data))
    return path


def test_image_task_every_label_type(tmp_path: Path) -> None:
    brush = np.zeros((100, 200), bool)
    brush[60:90, 120:180] = True
    results = [
        {"id": "r1", "type": "rectanglelabels", "original_width": 200, "original_height": 100,
         "value": {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["car"]}},
        {"id": "k1", "type": "keypointlabels",
         "value": {"x": 50, "y": 25, "width": 0.5, "keypointlabels": ["car"]}},
        {"id": "p1", "type": "polygonlabels",
         "value": {"points": [[5, 10], [25, 10], [25, 50], [5, 50]], "polygonlabels": ["person"], "closed": True}},
        {"id": "b1", "type": "brushlabels", "original_width": 200, "original_height": 100,
         "value": {"format": "rle", "rle": encode_rle(brush), "brushlabels": ["person"]}},
        {"id": "c1", "type": "choices", "value": {"choices": ["day"]}},
    ]
    task = choose_task(read_export(_write(tmp_path, [_image_task(results)])), None)
    assert task.kind == "image" and task.media.endswith("frame_00000003.png")
    decoded = decode_task(task, 200, 100, [1, 2, 3, 4, 5])  # the file name's number 3 is index 2
    car, person = decoded.labels
    assert (car.label, person.label) == ("car", "person")
    assert car.prompts == {2: [BoxPrompt(20.0, 20.0, 80.0, 60.0), PointPrompt(100.0, 25.0, True)]}
    expected = brush.copy()
    expected[10:50, 10:50] = True  # polygon x 5..25 % of 200 px, y 10..50 % of 100 px
    np.testing.assert_array_equal(person.masks[2], expected)
    assert decoded.skipped == {"choices": 1}


def test_video_task_boxes_land_on_their_frames(tmp_path: Path) -> None:
    task = {"id": 3, "data": {"video": "/data/upload/3/clip.mp4"}, "annotations": [{"id": 1, "result": [
        {"id": "v1", "type": "videorectangle", "value": {"framesCount": 10, "duration": 0.4, "labels": ["dog"],
         "sequence": [{"frame": 1, "enabled": True, "x": 0, "y": 0, "width": 50, "height": 50, "rotation": 0},
                      {"frame": 4, "enabled": False, "x": 50, "y": 50, "width": 25, "height": 50, "rotation": 0}]}},
    ]}]}
    decoded = decode_task(choose_task(read_export(_write(tmp_path, task)), 3), 80, 40, list(range(1001, 1011)))
    assert decoded.task.kind == "video"
    assert decoded.labels[0].prompts == {0: [BoxPrompt(0, 0, 40, 20)], 3: [BoxPrompt(40, 20, 60, 40)]}
    with pytest.raises(LabelStudioError,
                       match=r"task 3, result v1 \(videorectangle\): sequence entry 2: frame 4 is beyond .* 3 frames"):
        decode_task(decoded.task, 80, 40, [1, 2, 3])


def test_rotated_rectangles_become_their_bounds() -> None:
    from sam3roto.interchange.labelstudio import Task

    value = {"x": 50, "y": 10, "width": 20, "height": 10, "rotation": 90, "rectanglelabels": ["a"]}
    task = Task(1, "image", "a.png", ({"type": "rectanglelabels", "value": value},), None)
    (label,) = decode_task(task, 100, 100, [1]).labels
    box = label.prompts[0][0]
    np.testing.assert_allclose(box.xyxy_px, (40, 10, 50, 30), atol=1e-9)


def test_the_user_picks_among_several_tasks_and_cancelled_annotations_are_ignored(tmp_path: Path) -> None:
    box = {"type": "rectanglelabels", "value": {"x": 0, "y": 0, "width": 10, "height": 10, "rectanglelabels": ["a"]}}
    second = _image_task([], task_id=8)
    second["annotations"] = [{"id": 1, "was_cancelled": True, "result": [box]},
                             {"id": 2, "was_cancelled": False, "result": []}]
    legacy = {"id": 9, "data": {"image": "x_0001.jpg"}, "completions": [{"id": 5, "result": [box]}]}
    tasks = read_export(_write(tmp_path, [_image_task([box]), second, legacy]))
    with pytest.raises(LabelStudioError, match=r"holds 3 tasks; choose one by id: task 7 .*task 8 .*task 9"):
        choose_task(tasks, None)
    assert choose_task(tasks, "8").results == ()
    assert len(choose_task(tasks, 9).results) == 1  # exports from before Label Studio 1.0
    with pytest.raises(LabelStudioError, match="no task with id 4"):
        choose_task(tasks, 4)


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ('{"version": 2}', "unknown Label Studio export format"),
    ('[{"id": 1, "image": "a.png", "label": [{"x": 1}]}]', "JSON-MIN"),
    ("[]", "holds no tasks"),
    ('[{"id": 1, "data": {}, "annotations": [{"result": {"x": 1}}]}]', "'result' must be a list"),
])
def test_malformed_exports_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(LabelStudioError, match=message) as err:
        read_export(path)
    assert str(path) in str(err.value)


def test_bad_results_name_the_task_and_result(tmp_path: Path) -> None:
    brush = {"id": "b9", "type": "brushlabels", "original_width": 10, "original_height": 10,
             "value": {"format": "rle", "rle": encode_rle(np.ones((9, 10), bool)), "brushlabels": ["x"]}}
    task = choose_task(read_export(_write(tmp_path, [_image_task([brush], image="shot.0003.png")])), None)
    with pytest.raises(LabelStudioError, match=r"task 7, result b9 \(brushlabels\): the RLE holds 360 values"):
        decode_task(task, 10, 10, [1, 2, 3])
    with pytest.raises(LabelStudioError, match="frame number 3, which the media does not have"):
        decode_task(task, 10, 10, [10, 11])
    point = {"id": "k", "type": "keypointlabels", "value": {"x": "left", "y": 3, "keypointlabels": ["x"]}}
    task = choose_task(read_export(_write(tmp_path, [_image_task([point], image="no-number.png")])), None)
    with pytest.raises(LabelStudioError, match="cannot tell which frame"):
        decode_task(task, 10, 10, [1, 2])
    with pytest.raises(LabelStudioError, match="'x' must be a number"):
        decode_task(task, 10, 10, [1, 2], frame=1)

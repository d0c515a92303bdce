"""Label Studio JSON exports (seed 002) turned into prompts and masks, one object per label.

Read from an export (Project > Export > JSON): a list of tasks, each with ``data`` (the
media reference, reported but never opened or fetched) and ``annotations`` (or
``completions`` in exports from Label Studio before 1.0). The newest annotation that was
not cancelled is used. Result types:

* ``rectanglelabels``: a box; ``x``/``y``/``width``/``height`` in percent of the image,
  rotated about the top-left corner by ``rotation`` degrees (the box prompt is its bounds);
* ``keypointlabels``: a positive point at ``x``/``y`` percent;
* ``brushlabels``: a mask in Label Studio's RLE (``format: "rle"``): a bit stream that
  decodes to ``original_width * original_height * 4`` RGBA bytes, whose alpha is the mask;
* ``polygonlabels``: a filled polygon, ``points`` in percent;
* ``videorectangle`` (video tasks): one box per enabled keyframe of ``sequence``, whose
  ``frame`` numbers count from 1.

Image tasks land on one frame: the one given by the caller, the only frame of a still, or
the frame whose number is the last number in the image's file name (``00000012.png`` is
frame number 12, as seed 002's ZIPs of frames are named). Other result types (choices,
text...) are listed in :attr:`TaskImport.skipped`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt
from sam3roto.errors import Sam3RotoError
from sam3roto.interchange.jsonfile import read_json

RESULT_TYPES = ("rectanglelabels", "keypointlabels", "brushlabels", "polygonlabels", "videorectangle")


class LabelStudioError(Sam3RotoError):
    """A Label Studio export that cannot be read; the message names the task and result."""


@dataclass(frozen=True)
class Task:
    """One task of an export: its id, ``kind`` (``image`` or ``video``), the media
    reference as written (never fetched), and the results of its chosen annotation."""

    id: int | str
    kind: str
    media: str
    results: tuple[dict[str, Any], ...]
    annotation: int | str | None

    def describe(self) -> str:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[str(r.get("type"))] = counts.get(str(r.get("type")), 0) + 1
        what = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "no results"
        return f"task {self.id} ({self.kind}, {self.media or 'no media'}): {what}"


@dataclass
class LabelImport:
    """What one label becomes: prompts and masks by frame index."""

    label: str
    prompts: dict[int, list[Prompt]] = field(default_factory=dict)
    masks: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class TaskImport:
    """A decoded task: labels in order of first appearance, and skipped result types."""

    task: Task
    labels: list[LabelImport]
    skipped: dict[str, int] = field(default_factory=dict)


# -- reading the file -------------------------------------------------------------------------
def read_export(path: str | Path) -> list[Task]:
    """The tasks of a Label Studio JSON export; :class:`LabelStudioError` naming the file
    and the task for anything malformed or of an unknown format."""
    path = Path(path)
    data = read_json(path, "the Label Studio export", LabelStudioError)
    if isinstance(data, dict) and ("data" in data or "annotations" in data):
        data = [data]  # a single task
    if not isinstance(data, list):
        raise LabelStudioError("unknown Label Studio export format: expected a list of tasks", path=path,
                               hint="export with Label Studio's 'JSON' format")
    tasks = [_task(item, n, path) for n, item in enumerate(data)]
    if not tasks:
        raise LabelStudioError("the export holds no tasks", path=path)
    return tasks


def _task(item: Any, n: int, path: Path) -> Task:
    where = f"task #{n + 1}"
    if not isinstance(item, dict):
        raise LabelStudioError(f"{where} is not a JSON object", path=path)
    task_id = item.get("id", n + 1)
    where = f"task {task_id}"
    if "annotations" in item:
        annotations = item["annotations"]
    elif "completions" in item:  # Label Studio < 1.0
        annotations = item["completions"]
    elif "data" in item:  # a task nobody annotated
        annotations = []
    else:
        raise LabelStudioError(f"{where}: unknown Label Studio export format (no 'data' or 'annotations'); this "
                               "looks like the JSON-MIN or CSV export", path=path,
                               hint="export with Label Studio's 'JSON' format")
    data = item.get("data", {})
    if not isinstance(data, dict) or not isinstance(annotations, list):
        raise LabelStudioError(f"{where}: 'data' must be an object and 'annotations' a list", path=path)
    media_key = next((k for k in ("video", "image") if isinstance(data.get(k), str)), None)
    if media_key is None:
        media_key = next((k for k, v in data.items() if isinstance(v, str)), "")
    media = str(data.get(media_key, "")) if media_key else ""
    usable = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled", False)]
    chosen = max(usable, key=lambda a: (str(a.get("updated_at", "")), str(a.get("id", "")))) if usable else None
    results = chosen.get("result", []) if chosen else []
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise LabelStudioError(f"{where}: 'result' must be a list of objects", path=path)
    is_video = media_key == "video" or any(r.get("type") == "videorectangle" for r in results)
    return Task(task_id, "video" if is_video else "image", media, tuple(results),
                chosen.get("id") if chosen else None)


def choose_task(tasks: Sequence[Task], task_id: str | int | None) -> Task:
    """The task with ``task_id``, or the only one; several without an id is an error that
    lists them (the user picks)."""
    if task_id is None:
        if len(tasks) == 1:
            return tasks[0]
        listing = "; ".join(t.describe() for t in tasks)
        raise LabelStudioError(f"the export holds {len(tasks)} tasks; choose one by id: {listing}")
    for task in tasks:
        if str(task.id) == str(task_id):
            return task
    raise LabelStudioError(f"no task with id {task_id}; the export has {', '.join(str(t.id) for t in tasks)}")


# -- the brush RLE ----------------------------------------------------------------------------
#: Largest brush mask decoded (a hostile original_width/height must not exhaust memory).
MAX_BRUSH_PIXELS = 200_000_000

class _Bits:
    """Most-significant-bit-first reader over Label Studio's RLE bytes."""

    def __init__(self, data: np.ndarray) -> None:
        self.bits = np.unpackbits(data)
        self.pos = 0

    def read(self, n: int) -> int:
        if self.pos + n > self.bits.size:
            raise ValueError("ends early")
        chunk = self.bits[self.pos : self.pos + n]
        self.pos += n
        return int(chunk.dot(1 << np.arange(n - 1, -1, -1, dtype=np.int64))) if n else 0

    def read_many(self, count: int, n: int) -> np.ndarray:
        if self.pos + count * n > self.bits.size:
            raise ValueError("ends early")
        chunk = self.bits[self.pos : self.pos + count * n].reshape(count, n).astype(np.int64)
        self.pos += count * n
        return chunk.dot(1 << np.arange(n - 1, -1, -1, dtype=np.int64))


def decode_rle(rle: Sequence[int], width: int, height: int) -> np.ndarray:
    """Label Studio's brush RLE -> ``bool (height, width)``. The stream holds a 32-bit value
    count, a 5-bit word size, four 4-bit run-length sizes, then runs: one flag bit (1:
    repeat one word, 0: literal words), a 2-bit size index and the run length minus one.
    The values are RGBA bytes; the mask is alpha > 0. ``ValueError`` when the stream is
    damaged or its length is not ``width * height * 4``."""
    if width * height > MAX_BRUSH_PIXELS:
        raise ValueError(f"a {width}x{height} brush mask is larger than sam3roto accepts "
                         f"({MAX_BRUSH_PIXELS // 1_000_000} Mpx)")
    data = np.asarray(rle, dtype=np.int64)
    if data.ndim != 1 or data.size < 7 or data.min() < 0 or data.max() > 255:
        raise ValueError("the RLE must be a list of byte values (0..255) with a header")
    bits = _Bits(data.astype(np.uint8))
    count = bits.read(32)
    if count != width * height * 4:
        raise ValueError(f"the RLE holds {count} values but a {width}x{height} RGBA image needs {width * height * 4}")
    word = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    if word > 8:
        raise ValueError(f"the RLE word size is {word} bits; Label Studio brushes use 8-bit RGBA values")
    out = np.zeros(count, dtype=np.uint8)
    i = 0
    while i < count:
        repeat = bits.read(1)
        j = i + 1 + bits.read(sizes[bits.read(2)])
        if j > count:
            raise ValueError(f"a run at value {i} goes past the {count} values")
        if repeat:
            out[i:j] = bits.read(word)
        else:
            out[i:j] = bits.read_many(j - i, word)
        i = j
    return out.reshape(height, width, 4)[..., 3] > 0


# -- results -> prompts and masks -----------------------------------------------------------
def _label(value: dict[str, Any], kind: str) -> str:
    names = value.get(kind) or value.get("labels")
    if not isinstance(names, list) or not names or not isinstance(names[0], str):
        raise ValueError(f"'{kind}' must name a label")
    return names[0]


def _pct(value: dict[str, Any], key: str) -> float:
    v = value.get(key)
    if not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"'{key}' must be a number (percent of the image)")
    return float(v)


def _box(value: dict[str, Any], width: int, height: int) -> BoxPrompt:
    x, y = _pct(value, "x") / 100 * width, _pct(value, "y") / 100 * height
    w, h = _pct(value, "width") / 100 * width, _pct(value, "height") / 100 * height
    angle = math.radians(float(value.get("rotation", 0) or 0))
    c, s = math.cos(angle), math.sin(angle)
    corners = [(x + dx * c - dy * s, y + dx * s + dy * c) for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    box = BoxPrompt(max(0.0, min(xs)), max(0.0, min(ys)), min(float(width), max(xs)), min(float(height), max(ys)))
    box.validate(width, height)
    return box


def _polygon(value: dict[str, Any], width: int, height: int) -> np.ndarray:
    points = value.get("points")
    if not isinstance(points, list) or len(points) < 3:
        raise ValueError("'points' must hold at least 3 [x, y] pairs")
    try:
        xy = np.array([[float(p[0]) / 100 * width, float(p[1]) / 100 * height] for p in points], dtype=np.float64)
    except (TypeError, ValueError, IndexError):
        raise ValueError("'points' must hold [x, y] pairs of numbers") from None
    return fill_polygon(xy, width, height)


#: Polygons are rasterised at this many samples per pixel side; a pixel is inside when
#: more than half of it is covered (so shared edges of adjacent polygons do not overlap).
POLYGON_SUPERSAMPLE = 4


def fill_polygon(xy_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """``bool (height, width)``: pixels more than half covered by the polygon with vertices
    ``xy_px`` (``(N, 2)`` float, continuous pixel coordinates, pixel ``i`` spans [i, i+1))."""
    s = POLYGON_SUPERSAMPLE
    mask = np.zeros((height, width), bool)
    x0, y0 = (max(0, int(np.floor(v))) for v in xy_px.min(axis=0))
    x1 = min(width, int(np.ceil(xy_px[:, 0].max())))
    y1 = min(height, int(np.ceil(xy_px[:, 1].max())))
    if x1 <= x0 or y1 <= y0:
        return mask
    fine = np.zeros(((y1 - y0) * s, (x1 - x0) * s), np.uint8)
    # sample centres of the fine grid sit at +0.5; OpenCV's integer vertex is a sample centre
    pts = (xy_px - (x0, y0)) * s - 0.5
    cv2.fillPoly(fine, [np.round(pts * 16).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
    coverage = cv2.resize(fine, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    mask[y0:y1, x0:x1] = coverage > 127
    return mask


def _brush(result: dict[str, Any], value: dict[str, Any], width: int, height: int) -> np.ndarray:
    if value.get("format") != "rle":
        raise ValueError(f"brush format {value.get('format')!r} is not supported; Label Studio exports 'rle'")
    ow, oh = result.get("original_width"), result.get("original_height")
    if not isinstance(ow, int) or not isinstance(oh, int) or ow <= 0 or oh <= 0:
        raise ValueError("a brush result needs original_width and original_height")
    mask = decode_rle(value.get("rle") or [], ow, oh)
    if (ow, oh) != (width, height):
        mask = cv2.resize(mask.view(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    return mask


_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def image_frame(media: str, frame_numbers: Sequence[int]) -> int | None:
    """The frame index whose number is the last number in the image's file name, or None."""
    name = media.replace("\\", "/").rsplit("/", 1)[-1].split("?")[0]
    stem = name.rsplit(".", 1)[0]
    match = _NUMBER.search(stem)
    if match is None:
        return None
    number = int(match.group(1))
    if number not in frame_numbers:
        raise ValueError(f"the image {name} is frame number {number}, which the media does not have "
                         f"(frames {frame_numbers[0]}..{frame_numbers[-1]})")
    return list(frame_numbers).index(number)


def decode_task(
    task: Task, width: int, height: int, frame_numbers: Sequence[int], *, frame: int | None = None
) -> TaskImport:
    """Turn ``task``'s results into prompts and masks on a ``width`` x ``height`` media with
    ``frame_numbers``. ``frame`` (an index) places an image task's results; otherwise see
    the module notes. Errors name the task, the result and the problem."""
    frame_count = len(frame_numbers)
    labels: dict[str, LabelImport] = {}
    skipped: dict[str, int] = {}
    image_index = frame
    if task.kind == "image" and image_index is None:
        if frame_count == 1:
            image_index = 0
        else:
            try:
                image_index = image_frame(task.media, frame_numbers)
            except ValueError as exc:
                raise LabelStudioError(f"task {task.id}: {exc}") from None
    for n, result in enumerate(task.results):
        kind = str(result.get("type", ""))
        where = f"task {task.id}, result {result.get('id', n + 1)} ({kind})"
        if kind not in RESULT_TYPES:
            skipped[kind] = skipped.get(kind, 0) + 1
            continue
        value = result.get("value")
        try:
            if not isinstance(value, dict):
                raise ValueError("'value' must be an object")
            key = "labels" if kind == "videorectangle" else kind
            item = labels.setdefault(_label(value, key), LabelImport(_label(value, key)))
            if kind == "videorectangle":
                _video_boxes(value, item, width, height, frame_count)
                continue
            index = _result_frame(value, image_index, frame_count, task)
            if kind == "rectanglelabels":
                item.prompts.setdefault(index, []).append(_box(value, width, height))
            elif kind == "keypointlabels":
                x, y = _pct(value, "x") / 100 * width, _pct(value, "y") / 100 * height
                point = PointPrompt(min(x, width - 0.5), min(y, height - 0.5), True)
                point.validate(width, height)
                item.prompts.setdefault(index, []).append(point)
            else:
                mask = _brush(result, value, width, height) if kind == "brushlabels" else \
                    _polygon(value, width, height)
                item.masks[index] = item.masks[index] | mask if index in item.masks else mask
        except (ValueError, Sam3RotoError) as exc:
            message = exc.message if isinstance(exc, Sam3RotoError) else str(exc)
            raise LabelStudioError(f"{where}: {message}") from None
    return TaskImport(task, [v for v in labels.values() if v.prompts or v.masks], skipped)


def _result_frame(value: dict[str, Any], image_index: int | None, frame_count: int, task: Task) -> int:
    if "frame" in value:  # a per-frame result inside a video task (1-based, like sequences)
        index = int(value["frame"]) - 1
    elif image_index is not None:
        index = image_index
    else:
        raise ValueError("cannot tell which frame this result is on; choose the frame explicitly")
    if not 0 <= index < frame_count:
        raise ValueError(f"frame {index + 1} is beyond the media's {frame_count} frames")
    return index


def _video_boxes(value: dict[str, Any], item: LabelImport, width: int, height: int, frame_count: int) -> None:
    sequence = value.get("sequence")
    if not isinstance(sequence, list) or not sequence:
        raise ValueError("'sequence' must list the box keyframes")
    for key in sequence:
        if not isinstance(key, dict) or not isinstance(key.get("frame"), int):
            raise ValueError("every sequence entry needs an integer 'frame'")
        if not key.get("enabled", True) and not {"x", "y", "width", "height"} <= key.keys():
            continue
        index = key["frame"] - 1
        if not 0 <= index < frame_count:
            raise ValueError(f"frame {key['frame']} is beyond the media's {frame_count} frames")
        item.prompts.setdefault(index, []).append(_box(key, width, height))

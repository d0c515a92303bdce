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
text...) are counted in :attr:`TaskImport.skipped`, and so are polygon and brush results
that cover no pixel of the media (see below).

Everything read from the file is checked where it is read, and every error names the file,
the task and the result:

* labels are at most 100 characters (they become object names, and those file names);
* numbers are finite (the strict JSON of :mod:`sam3roto.interchange.jsonfile`; a refused
  number is located in the file), coordinates lie within one image size of the image
  (-100..200 percent; a key point inside it, 0..100), rotations within -360..360 degrees,
  frame numbers are whole numbers of the media's frames;
* a polygon has at most ``SAM3ROTO_MAX_POLYGON_POINTS`` points and is filled with OpenCV;
* a brush mask declares at most ``SAM3ROTO_MAX_MASK_PIXELS`` pixels and was drawn on the
  media's shape (its size, or a scaled copy: the same aspect ratio within 1%, at most 4x
  larger), checked before anything is decoded; the RLE is decoded within the declared size;
* a polygon or brush mask that covers no pixel of the media (a sliver of a polygon, a
  brush whose strokes were all erased) is never an empty key mask: it is skipped, counted in
  :attr:`TaskImport.skipped` with why (``polygonlabels (covering no pixel)``...), and the
  rest of the task is imported; a task with nothing else to import is an error that names
  it and its empty results. A polygon point beyond -100..200 percent, or a value that is
  not finite, stays an error.

A large export is read task by task: :func:`read_export` keeps the text and each task's
place in it, not every task's objects, and a :class:`Task` parses its results when they
are asked for (:func:`choose_task` returns the chosen task with its results loaded).
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

from sam3roto.core import limits, safejson
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt
from sam3roto.errors import Hint, Sam3RotoError
from sam3roto.interchange.jsonfile import (
    MAX_NAME_CHARS,
    KeyPath,
    Locate,
    decode_at,
    iter_list,
    keypath_text,
    loads,
    read_text,
    show_value,
)
from sam3roto.interchange.jsonfile import kind_of as _kind
from sam3roto.interchange.jsonfile import show as _short

RESULT_TYPES = ("rectanglelabels", "keypointlabels", "brushlabels", "polygonlabels", "videorectangle")
#: How far outside the image a coordinate may lie, in percent of the image's size (one image
#: size either side): a box or polygon point further out is refused, not silently clipped.
OUTSIDE_PCT = 100.0
#: A brush mask may have been drawn on an image up to this many times the media's width.
BRUSH_MAX_SCALE = 4
#: How far a brush mask's image may differ from the media's aspect ratio (1%).
BRUSH_ASPECT_TOLERANCE = 0.01
#: How many choices an error lists (tasks, task ids) before "... and N more".
LISTED = 10
#: Longest image file name read for a frame number (file systems' NAME_MAX).
NAME_MAX = 255


class LabelStudioError(Sam3RotoError):
    """A Label Studio export that cannot be read; the message names the task and result."""


class Task:
    """One task of an export: its ``id``, ``kind`` (``image`` or ``video``), the media
    reference as written (never fetched), the ``results`` of its chosen ``annotation``, and
    ``path``, the export it came from (named in errors).

    A task read by :func:`read_export` keeps only its place in the export's text and parses
    its results again each time they are asked for; :meth:`loaded` is a copy that holds them.
    """

    __slots__ = ("_index", "_results", "_start", "_summary", "_text", "annotation", "id", "kind", "media", "path")

    def __init__(self, id: int | str, kind: str, media: str, results: Sequence[dict[str, Any]] = (),
                 annotation: int | str | None = None, path: str | Path | None = None) -> None:
        self.id = id
        self.kind = kind
        self.media = media
        self.annotation = annotation
        self.path = path if path is None or isinstance(path, Path) else Path(path)
        self._results: tuple[dict[str, Any], ...] | None = tuple(results)
        self._text: str | None = None  # the export's text, when the results are read from it
        self._start = self._index = 0  # where the task starts in it, and its index
        self._summary = _summary(self._results)

    @property
    def results(self) -> tuple[dict[str, Any], ...]:
        return self._results if self._results is not None else self.loaded().results

    def loaded(self) -> Task:
        """This task with its results in memory (itself when it holds them)."""
        if self._text is None:
            return self
        return _task(decode_at(self._text, self._start), self._index, self.path)

    def _keep_place(self, text: str, start: int, n: int, summaries: dict[str, str]) -> Task:
        """Drop the results, keeping where they are in ``text`` (``summaries`` shares equal summaries)."""
        self._results = None
        self._text, self._start, self._index = text, start, n
        self._summary = summaries.setdefault(self._summary, self._summary)
        return self

    def describe(self) -> str:
        media = _short(self.media, 80) if self.media else "no media"
        return f"task {_short(self.id)} ({self.kind}, {media}): {self._summary}"

    def __repr__(self) -> str:
        return f"Task({self.describe()})"


def _summary(results: Sequence[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        kind = _short(r.get("type"))
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "no results"


@dataclass
class LabelImport:
    """What one label becomes: prompts and masks by frame index."""

    label: str
    prompts: dict[int, list[Prompt]] = field(default_factory=dict)
    masks: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class TaskImport:
    """A decoded task: labels in order of first appearance, and the results skipped, counted
    by what they are (a result type sam3roto does not import, ``choices``) or why
    (``polygonlabels (covering no pixel)``, ``brushlabels (empty mask)``)."""

    task: Task
    labels: list[LabelImport]
    skipped: dict[str, int] = field(default_factory=dict)


# -- reading the file -------------------------------------------------------------------------
def read_export(path: str | Path) -> list[Task]:
    """The tasks of a Label Studio JSON export; :class:`LabelStudioError` naming the file
    and the task (and the result, for a refused number) for anything malformed or of an
    unknown format. The tasks are read one by one and keep only their place in the text."""
    path = Path(path)
    text = read_text(path, "the Label Studio export", LabelStudioError)
    elements = iter_list(text, path, LabelStudioError, lambda n: f"task #{n + 1}", _locator)
    if elements is None:
        data = loads(text, path, LabelStudioError, _locator(0))
        if isinstance(data, dict) and ("data" in data or "annotations" in data):
            return [_task(data, 0, path)]  # a single task
        raise LabelStudioError("unknown Label Studio export format: expected a list of tasks", path=path,
                               hint="export with Label Studio's 'JSON' format")
    tasks: list[Task] = []
    summaries: dict[str, str] = {}
    for n, item, start, _ in elements:
        tasks.append(_task(item, n, path)._keep_place(text, start, n, summaries))
        del item
    if not tasks:
        raise LabelStudioError("the export holds no tasks", path=path)
    return tasks


def _locator(n: int) -> Locate:
    """Names the task, and the result, of a refused number in task ``n`` (0-based)."""

    def locate(keys: KeyPath, doc: Any) -> str:
        task_id = doc.get("id") if isinstance(doc, dict) else None
        where = f"task {_short(task_id)}" if _is_id(task_id) else f"task #{n + 1}"
        if len(keys) >= 4 and keys[0] in ("annotations", "completions", "predictions") and keys[2] == "result" \
                and isinstance(keys[1], int) and isinstance(keys[3], int):
            result = doc[keys[0]][keys[1]]["result"][keys[3]]
            prefix = "prediction " if keys[0] == "predictions" else ""
            if isinstance(result, dict):
                return f"{where}, {prefix}result {_result_name(result, keys[3])}: {keypath_text(keys[4:])}"
        return f"{where}: {keypath_text(keys)}"

    return locate


def _is_id(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def _task(item: Any, n: int, path: Path | None) -> Task:
    if not isinstance(item, dict):
        raise LabelStudioError(f"task #{n + 1} is not a JSON object", path=path)
    task_id = item.get("id", n + 1)
    if not _is_id(task_id):
        raise LabelStudioError(f"task #{n + 1}: 'id' must be a number or a string, not {_short(task_id)}", path=path)
    if "annotations" in item:
        annotations = item["annotations"]
    elif "completions" in item:  # Label Studio < 1.0
        annotations = item["completions"]
    elif "data" in item:  # a task nobody annotated
        annotations = []
    else:
        raise LabelStudioError(f"task {_short(task_id)}: unknown Label Studio export format (no 'data' or "
                               "'annotations'); this looks like the JSON-MIN or CSV export", path=path,
                               hint="export with Label Studio's 'JSON' format")
    data = item.get("data", {})
    if not isinstance(data, dict) or not isinstance(annotations, list):
        raise LabelStudioError(f"task {_short(task_id)}: 'data' must be an object and 'annotations' a list", path=path)
    if isinstance(data.get("video"), str):
        media_key = "video"
    elif isinstance(data.get("image"), str):
        media_key = "image"
    else:
        media_key = next((k for k, v in data.items() if isinstance(v, str)), "")
    media = data[media_key] if media_key else ""
    usable = [a for a in annotations if isinstance(a, dict) and a.get("was_cancelled", False) is not True]
    chosen = (usable[0] if len(usable) == 1 else max(usable, key=_newest)) if usable else None
    results = chosen.get("result", []) if chosen else []
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise LabelStudioError(f"task {_short(task_id)}: 'result' must be a list of objects", path=path)
    is_video = media_key == "video" or any(r.get("type") == "videorectangle" for r in results)
    annotation = chosen.get("id") if chosen else None
    return Task(task_id, "video" if is_video else "image", media, results,
                annotation if _is_id(annotation) else None, path)


def _newest(annotation: dict[str, Any]) -> tuple[str, str]:
    updated, ident = annotation.get("updated_at"), annotation.get("id")
    return (updated if isinstance(updated, str) else "", str(ident) if _is_id(ident) else "")


#: How to pick one task of an export with several.
CHOOSE_TASK_HINT = Hint(cli="give the task's id (--task ID); --list lists every task",
                        window="export only the task you want from Label Studio")


def choose_task(tasks: Sequence[Task], task_id: str | int | None) -> Task:
    """The task with ``task_id``, or the only one, with its results loaded; several without
    an id is an error that lists the first few (the user picks)."""
    path = tasks[0].path if tasks else None
    if task_id is None:
        if len(tasks) == 1:
            return tasks[0].loaded()
        listing = "; ".join(t.describe() for t in tasks[:LISTED]) + _more(len(tasks))
        raise LabelStudioError(f"the export holds {len(tasks)} tasks; choose one by id: {listing}", path=path,
                               hint=CHOOSE_TASK_HINT)
    for task in tasks:
        if str(task.id) == str(task_id):
            return task.loaded()
    ids = ", ".join(_short(t.id) for t in tasks[:LISTED]) + _more(len(tasks))
    raise LabelStudioError(f"no task with id {_short(task_id)}; the export has {ids}", path=path,
                           hint=CHOOSE_TASK_HINT)


def _more(count: int) -> str:
    return f" ... and {count - LISTED} more" if count > LISTED else ""


# -- the brush RLE ----------------------------------------------------------------------------
def _rle_bytes(rle: object) -> bytes:
    """The RLE's byte values as bytes; ``ValueError`` naming the first value that is not one."""
    if not isinstance(rle, list):
        raise ValueError(f"'rle' must be a list of byte values (0..255), not {_kind(rle)}")
    if len(rle) < 7:
        raise ValueError(f"the RLE holds {len(rle)} bytes, too few for its 53-bit header")
    try:
        data = np.array(rle)
    except (ValueError, TypeError, OverflowError):  # ragged lists
        data = np.zeros(0)
    if data.ndim == 1 and data.size == len(rle) and data.dtype.kind in "iu" and data.min() >= 0 and data.max() <= 255:
        return data.astype(np.uint8).tobytes()
    k = next((k for k, v in enumerate(rle) if type(v) is not int or not 0 <= v <= 255), 0)
    raise ValueError(f"the RLE's byte {k + 1} of {len(rle)} is {show_value(rle[k])}, not a byte value (0..255)")


def decode_rle(rle: object, width: int, height: int) -> np.ndarray:
    """Label Studio's brush RLE -> ``bool (height, width)``. The stream holds a 32-bit value
    count, a 5-bit word size, four 4-bit run-length sizes, then runs: one flag bit (1:
    repeat one word, 0: literal words), a 2-bit size index and the run length minus one.
    The values are RGBA bytes; the mask is alpha > 0, and only alpha is kept (one byte per
    pixel). ``ValueError`` when the declared size is over ``SAM3ROTO_MAX_MASK_PIXELS``, the
    stream is damaged, a run goes past the end, or its length is not ``width * height * 4``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"a {width}x{height} brush mask holds no pixels")
    pixels = width * height
    limit = limits.current().mask_pixels
    if pixels > limit:
        raise ValueError(f"a {width}x{height} brush mask ({pixels} pixels) is larger than sam3roto accepts "
                         f"({limit} pixels, {limits.ENV['mask_pixels']})")
    data = _rle_bytes(rle)
    total = len(data) * 8
    buf = data + bytes(8)

    def field(pos: int, n: int) -> int:  # n <= 32 bits from bit ``pos``, most significant first
        b = pos >> 3
        return (int.from_bytes(buf[b : b + 8], "big") >> (64 - (pos & 7) - n)) & ((1 << n) - 1)

    count = field(0, 32)
    if count != pixels * 4:
        raise ValueError(f"the RLE holds {count} values but a {width}x{height} RGBA image needs {pixels * 4}")
    word = field(32, 5) + 1
    if word > 8:
        raise ValueError(f"the RLE word size is {word} bits; Label Studio brushes use 8-bit RGBA values")
    sizes = [field(37 + 4 * k, 4) + 1 for k in range(4)]
    alpha = np.zeros(pixels, bool)
    pos, i = 53, 0
    while i < count:
        if pos + 3 > total:
            raise ValueError(f"the RLE ends early, at value {i} of {count}")
        head = field(pos, 3)
        size = sizes[head & 3]
        if pos + 3 + size > total:
            raise ValueError(f"the RLE ends early, at value {i} of {count}")
        j = i + 1 + field(pos + 3, size)
        pos += 3 + size
        if j > count:
            raise ValueError(f"a run at value {i} goes past the {count} values the RLE declares")
        if head >> 2:  # one word repeated over values i..j-1
            if pos + word > total:
                raise ValueError(f"the RLE ends early, at value {i} of {count}")
            if field(pos, word) and j // 4 > i // 4:
                alpha[i // 4 : j // 4] = True  # the alpha values of i..j-1 are those of pixels i//4..j//4-1
            pos += word
        else:  # j - i literal words; only the alpha ones (value index 4p+3) are read
            if pos + (j - i) * word > total:
                raise ValueError(f"the RLE ends early, at value {i} of {count}")
            first = i + (3 - i) % 4
            m = (j - 1 - first) // 4 + 1 if first < j else 0
            if 0 < m <= 8:
                for t in range(m):
                    if field(pos + (first - i + 4 * t) * word, word):
                        alpha[first // 4 + t] = True
            elif m:
                b0, b1 = pos >> 3, (pos + (j - i) * word + 7) >> 3
                bits = np.unpackbits(np.frombuffer(buf, np.uint8, b1 - b0, b0))
                offsets = (pos - 8 * b0) + (first - i + 4 * np.arange(m)) * word
                values = np.zeros(m, np.int64)
                for b in range(word):
                    values = (values << 1) | bits[offsets + b]
                alpha[first // 4 : first // 4 + m] = values > 0
            pos += (j - i) * word
        i = j
    return alpha.reshape(height, width)


# -- results -> prompts and masks -----------------------------------------------------------
def _number(value: Any, what: str, low: float, high: float, unit: str = "") -> float:
    try:
        return safejson.finite(value, what, None, LabelStudioError, low, high)
    except LabelStudioError as exc:
        raise ValueError(exc.message + unit) from None


def _whole(value: Any, what: str, low: int = -(2**53), high: int = 2**53) -> int:
    try:
        return safejson.whole(value, what, None, LabelStudioError, low, high)
    except LabelStudioError as exc:
        raise ValueError(exc.message) from None


def _pct(value: dict[str, Any], key: str, low: float = -OUTSIDE_PCT, high: float = 100 + OUTSIDE_PCT) -> float:
    return _number(value.get(key), f"'{key}'", low, high, " (percent of the image)")


def _label(value: dict[str, Any], kind: str) -> str:
    names = value.get(kind) or value.get("labels")
    if not isinstance(names, list) or not names or not isinstance(names[0], str) or not names[0].strip():
        raise ValueError(f"'{kind}' must name a label")
    if len(names[0]) > MAX_NAME_CHARS:
        raise ValueError(f"the label is {len(names[0])} characters long, over the limit of {MAX_NAME_CHARS} (labels "
                         "become object names, and those file names)")
    return names[0]


def _box(value: dict[str, Any], width: int, height: int) -> BoxPrompt:
    x, y = _pct(value, "x") / 100 * width, _pct(value, "y") / 100 * height
    w = _pct(value, "width", 0, 100 + 2 * OUTSIDE_PCT) / 100 * width
    h = _pct(value, "height", 0, 100 + 2 * OUTSIDE_PCT) / 100 * height
    rotation = value.get("rotation")
    angle = math.radians(0.0 if rotation is None else _number(rotation, "'rotation'", -360, 360, " (degrees)"))
    c, s = math.cos(angle), math.sin(angle)
    corners = [(x + dx * c - dy * s, y + dx * s + dy * c) for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    BoxPrompt(min(xs), min(ys), max(xs), max(ys)).validate(width, height)  # empty, or off the image
    return BoxPrompt(max(0.0, min(xs)), max(0.0, min(ys)), min(float(width), max(xs)), min(float(height), max(ys)))


def _point(value: dict[str, Any], width: int, height: int) -> PointPrompt:
    x, y = _pct(value, "x", 0, 100) / 100 * width, _pct(value, "y", 0, 100) / 100 * height
    point = PointPrompt(min(x, width - 0.5), min(y, height - 0.5), True)
    point.validate(width, height)
    return point


_NUMBER_TYPES = (int, float)


class _CoversNoPixel(ValueError):
    """A polygon or brush result that covers no pixel of the media: :func:`decode_task`
    skips it, counting it in :attr:`TaskImport.skipped` under ``reason``."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


#: Keys of :attr:`TaskImport.skipped` for results that cover no pixel.
SKIPPED_EMPTY_POLYGON = "polygonlabels (covering no pixel)"
SKIPPED_EMPTY_BRUSH = "brushlabels (empty mask)"
SKIPPED_SCALED_BRUSH = "brushlabels (covering no pixel once scaled)"


def _polygon(value: dict[str, Any], width: int, height: int) -> np.ndarray:
    points = value.get("points")
    if not isinstance(points, list):
        raise ValueError(f"'points' must be a list of [x, y] pairs (percent of the image), not {_kind(points)}")
    limit = limits.current().polygon_points
    if len(points) > limit:
        raise LabelStudioError(f"the polygon has {len(points)} points, over the limit of {limit}",
                               hint=limits.raise_hint("polygon_points"))
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, not {len(points)}")
    for k, p in enumerate(points):
        if type(p) is not list or len(p) != 2 or type(p[0]) not in _NUMBER_TYPES or type(p[1]) not in _NUMBER_TYPES:
            raise ValueError(f"point {k + 1} of {len(points)} must be [x, y], two numbers (percent of the image), "
                             f"not {show_value(p)}")
    xy = np.array(points, dtype=np.float64)
    low, high = -OUTSIDE_PCT, 100 + OUTSIDE_PCT
    outside = ~((xy >= low) & (xy <= high)).all(axis=1)
    if outside.any():
        k = int(np.argmax(outside))
        raise ValueError(f"point {k + 1} of {len(points)} is at ({xy[k, 0]:g}, {xy[k, 1]:g}) percent, more than one "
                         f"image size outside the image (points must lie within {low:g}..{high:g} percent)")
    mask = fill_polygon(xy * (width / 100, height / 100), width, height)
    if not mask.any():
        raise _CoversNoPixel(f"the polygon covers no pixel of the {width}x{height} media (it lies outside the image "
                             "or is thinner than half a pixel)", SKIPPED_EMPTY_POLYGON)
    return mask


#: Polygons are rasterised at this many samples per pixel side; a pixel is inside when
#: more than half of it is covered (so shared edges of adjacent polygons do not overlap).
POLYGON_SUPERSAMPLE = 4
#: Samples of the supersampled grid filled at once: 128 Mi, so a polygon on a frame up to 4K UHD
#: is filled in one pass; one with larger bounds is filled in bands of rows (OpenCV clips the
#: edges at each band's top, which may move an edge pixel that is half covered).
POLYGON_BAND_SAMPLES = 1 << 27


def fill_polygon(xy_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """``bool (height, width)``: pixels more than half covered by the polygon with vertices
    ``xy_px`` (``(N, 2)`` float, continuous pixel coordinates, pixel ``i`` spans [i, i+1)).
    OpenCV fills the supersampled grid over the polygon's bounds, in bands of rows when it
    is larger than ``POLYGON_BAND_SAMPLES``, so the memory used is bounded whatever the frame
    size. ``ValueError`` for vertices that are not
    finite or too far from the frame for OpenCV's fixed-point coordinates."""
    s = POLYGON_SUPERSAMPLE
    mask = np.zeros((height, width), bool)
    xy_px = np.asarray(xy_px, dtype=np.float64)
    if xy_px.ndim != 2 or xy_px.shape[1] != 2 or len(xy_px) < 3 or not np.isfinite(xy_px).all():
        raise ValueError("a polygon needs at least 3 vertices with finite coordinates")
    x0, y0 = (max(0, int(np.floor(v))) for v in xy_px.min(axis=0))
    x1 = min(width, int(np.ceil(xy_px[:, 0].max())))
    y1 = min(height, int(np.ceil(xy_px[:, 1].max())))
    if x1 <= x0 or y1 <= y0:
        return mask
    # sample centres of the fine grid sit at +0.5; OpenCV's integer vertex is a sample centre
    fixed = np.round(((xy_px - (x0, y0)) * s - 0.5) * 16)  # 4 fractional bits (shift=4)
    if np.abs(fixed).max() + (y1 - y0) * s * 16 >= 2**31:
        raise ValueError(f"a polygon vertex lies too far from the {width}x{height} frame to be filled")
    fine_w, fine_h = (x1 - x0) * s, (y1 - y0) * s
    band = max(s, POLYGON_BAND_SAMPLES // fine_w // s * s)
    for top in range(0, fine_h, band):
        rows = min(band, fine_h - top)
        fine = np.zeros((rows, fine_w), np.uint8)
        pts = (fixed - (0, top * 16)).astype(np.int32)
        cv2.fillPoly(fine, [pts], 255, lineType=cv2.LINE_8, shift=4)
        coverage = cv2.resize(fine, (x1 - x0, rows // s), interpolation=cv2.INTER_AREA)
        mask[y0 + top // s : y0 + (top + rows) // s, x0:x1] = coverage > 127
    return mask


def _brush(result: dict[str, Any], value: dict[str, Any], width: int, height: int) -> np.ndarray:
    if value.get("format") != "rle":
        raise ValueError(f"brush format {show_value(value.get('format'))} is not supported; Label Studio exports "
                         "'rle'")
    ow = _whole(result.get("original_width"), "'original_width'", 1, 2**31)
    oh = _whole(result.get("original_height"), "'original_height'", 1, 2**31)
    limit = limits.current().mask_pixels
    if ow * oh > limit:
        raise LabelStudioError(f"the brush mask declares {ow}x{oh} = {ow * oh} pixels, over the limit of {limit}",
                               hint=limits.raise_hint("mask_pixels"))
    expected_h = ow * height / width
    if ow > BRUSH_MAX_SCALE * width or abs(oh - expected_h) > max(1.0, BRUSH_ASPECT_TOLERANCE * expected_h):
        raise LabelStudioError(
            f"the brush mask was drawn on a {ow}x{oh} image, which is neither the {width}x{height} media nor a "
            f"scaled copy of it (the same aspect ratio within {BRUSH_ASPECT_TOLERANCE:.0%}, at most "
            f"{BRUSH_MAX_SCALE}x larger)", hint="import the task onto the media it was annotated on")
    mask = decode_rle(value.get("rle"), ow, oh)
    if not mask.any():
        raise _CoversNoPixel("the brush mask is empty (no pixel painted)", SKIPPED_EMPTY_BRUSH)
    if (ow, oh) != (width, height):
        mask = cv2.resize(mask.view(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
        if not mask.any():
            raise _CoversNoPixel(f"the brush mask, drawn on a {ow}x{oh} image, covers no pixel once scaled to the "
                                 f"{width}x{height} media", SKIPPED_SCALED_BRUSH)
    return mask


_DIGITS = re.compile(r"\d+")


def image_frame(media: str, frame_numbers: Sequence[int]) -> int | None:
    """The frame index whose number is the last number in the image's file name, or None."""
    name = media.replace("\\", "/").rsplit("/", 1)[-1].split("?")[0]
    if len(name) > NAME_MAX:
        raise ValueError(f"the image's file name is {len(name)} characters long, too long to hold a frame number")
    stem = name.rsplit(".", 1)[0]
    runs = _DIGITS.findall(stem)
    if not runs:
        return None
    if len(runs[-1]) > 12:
        raise ValueError(f"the number {runs[-1][:20]}... in the image's name {_short(name, 80)} is not a frame number")
    number = int(runs[-1])
    if number not in frame_numbers:
        raise ValueError(f"the image {_short(name, 80)} is frame number {number}, which the media does not have "
                         f"(frames {frame_numbers[0]}..{frame_numbers[-1]})")
    return list(frame_numbers).index(number)


def decode_task(
    task: Task, width: int, height: int, frame_numbers: Sequence[int], *, frame: int | None = None
) -> TaskImport:
    """Turn ``task``'s results into prompts and masks on a ``width`` x ``height`` media with
    ``frame_numbers``. ``frame`` (an index) places an image task's results; otherwise see
    the module notes. Errors name the export, the task, the result and the problem.

    A polygon or brush result that covers no pixel is skipped and counted in
    :attr:`TaskImport.skipped`; when the task then has nothing to import, that is an error
    naming the task and its first empty result."""
    task = task.loaded()
    frame_count = len(frame_numbers)
    if frame is not None and not 0 <= frame < frame_count:
        raise LabelStudioError(f"task {_short(task.id)}: frame index {frame} is not one of the media's "
                               f"{frame_count} frames", path=task.path)
    labels: dict[str, LabelImport] = {}
    skipped: dict[str, int] = {}
    first_empty, empties = "", 0  # the first result covering no pixel (why it was skipped), and how many
    image_index = frame
    if task.kind == "image" and image_index is None:
        if frame_count == 1:
            image_index = 0
        else:
            try:
                image_index = image_frame(task.media, frame_numbers)
            except ValueError as exc:
                raise LabelStudioError(f"task {_short(task.id)}: {exc}", path=task.path,
                                       hint=Hint(cli="give the frame number (--frame N)",
                                                 window="name the image after its frame number")) from None
    for n, result in enumerate(task.results):
        kind = result.get("type")
        if not isinstance(kind, str) or kind not in RESULT_TYPES:
            skipped[_short(kind)] = skipped.get(_short(kind), 0) + 1
            continue
        try:
            _decode_result(kind, result, labels, width, height, frame_count, image_index)
        except _CoversNoPixel as exc:
            skipped[exc.reason] = skipped.get(exc.reason, 0) + 1
            first_empty = first_empty or f"result {_result_name(result, n)}: {exc}"
            empties += 1
            continue
        except (ValueError, Sam3RotoError) as exc:
            message = exc.message if isinstance(exc, Sam3RotoError) else str(exc)
            raise LabelStudioError(f"task {_short(task.id)}, result {_result_name(result, n)}: {message}",
                                   path=task.path, hint=exc.hint if isinstance(exc, Sam3RotoError) else None) from None
    found = [v for v in labels.values() if v.prompts or v.masks]
    if not found and empties:
        more = f" (and {empties - 1} more {'result' if empties == 2 else 'results'} covering no pixel)" \
            if empties > 1 else ""
        raise LabelStudioError(f"task {_short(task.id)} has nothing to import: {first_empty}{more}; no empty key mask "
                               "was made", path=task.path,
                               hint="redraw the region in Label Studio, or choose another task")
    return TaskImport(task, found, skipped)


def _decode_result(kind: str, result: dict[str, Any], labels: dict[str, LabelImport], width: int, height: int,
                   frame_count: int, image_index: int | None) -> None:
    value = result.get("value")
    if not isinstance(value, dict):
        raise ValueError(f"'value' must be an object, not {_kind(value)}")
    name = _label(value, "labels" if kind == "videorectangle" else kind)
    item = labels.setdefault(name, LabelImport(name))
    if kind == "videorectangle":
        _video_boxes(value, item, width, height, frame_count)
        return
    index = _result_frame(value, image_index, frame_count)
    if kind == "rectanglelabels":
        item.prompts.setdefault(index, []).append(_box(value, width, height))
    elif kind == "keypointlabels":
        item.prompts.setdefault(index, []).append(_point(value, width, height))
    else:
        mask = _brush(result, value, width, height) if kind == "brushlabels" else _polygon(value, width, height)
        item.masks[index] = item.masks[index] | mask if index in item.masks else mask


def _frame_number(value: Any, frame_count: int) -> int:
    """A 1-based frame number of the media (video results count frames from 1) as an index."""
    number = _number(value, "'frame'", -math.inf, math.inf)
    if number != int(number):
        raise ValueError(f"'frame' must be a whole number, not {_short(value)}")
    if number < 1:
        raise ValueError(f"frame {_short(value)} is not a frame number (they count from 1)")
    if number > frame_count:
        raise ValueError(f"frame {_short(value)} is beyond the media's {frame_count} frames")
    return int(number) - 1


def _result_frame(value: dict[str, Any], image_index: int | None, frame_count: int) -> int:
    if "frame" in value:  # a per-frame result inside a video task (1-based, like sequences)
        return _frame_number(value["frame"], frame_count)
    if image_index is None:
        raise ValueError("cannot tell which frame this result is on; choose the frame explicitly")
    return image_index


def _video_boxes(value: dict[str, Any], item: LabelImport, width: int, height: int, frame_count: int) -> None:
    sequence = value.get("sequence")
    if not isinstance(sequence, list) or not sequence:
        raise ValueError("'sequence' must list the box keyframes")
    for k, key in enumerate(sequence, start=1):
        if not isinstance(key, dict):
            raise ValueError(f"sequence entry {k} must be an object, not {_kind(key)}")
        if not key.get("enabled", True) and not {"x", "y", "width", "height"} <= key.keys():
            continue
        try:
            index = _frame_number(key.get("frame"), frame_count)
            box = _box(key, width, height)
        except (ValueError, Sam3RotoError) as exc:
            message = exc.message if isinstance(exc, Sam3RotoError) else str(exc)
            raise ValueError(f"sequence entry {k}: {message}") from None
        item.prompts.setdefault(index, []).append(box)


# -- naming values in messages ----------------------------------------------------------------
def _result_name(result: dict[str, Any], n: int) -> str:
    """``r1 (polygonlabels)``: a result's id (or its position) and type, shortened."""
    ident = result.get("id", n + 1)
    return f"{_short(ident) if _is_id(ident) else n + 1} ({_short(result.get('type', ''))})"


"""The prompts file for headless tracking and segmenting (``run.py track`` and
``run.py segment``): points, boxes and text per object and frame, and the frames where an
object is out of shot.

Schema (JSON; frames are the shot's frame numbers; coordinates in source pixels)::

    {"objects": [
       {"name": "person",
        "keyframes": [
          {"frame": 1001, "points": [[640, 360], [700, 300, false]], "boxes": [[500, 200, 800, 700]]},
          {"frame": 1040, "points": [[655, 372]]}],
        "absent": [[1010, 1025]]},
       {"name": "car", "keyframes": [{"frame": 1001, "text": "red car"}]},
       {"name": "cup",
        "keyframes": [
          {"frame": 1001, "boxes": [[100, 80, 300, 260]],
           "strokes": [{"kind": "brush", "mode": "subtract", "points": [[120, 90], [160, 95]], "radius": 6}]},
          {"frame": 1020, "strokes": [{"kind": "shape", "mode": "add",
                                       "points": [[110, 85], [290, 85], [290, 250], [110, 250]]}]}],
        "touchups": [{"first": 1001, "last": 1030, "strokes": [
          {"kind": "brush", "mode": "add", "points": [[200, 100]], "radius": 12, "softness": 0.5}]}]}]}

A point is ``[x, y]`` (positive) or ``[x, y, positive]``; a box is ``[x0, y0, x1, y1]``.
``strokes`` (optional, on a keyframe) are hand corrections in source pixels, painted in
order over the keyframe's mask (its prompts' mask, or nothing): a ``brush`` path of
``points`` with a ``radius`` (px) and ``softness`` (0-1, optional ``pressure`` per point)
or a closed ``shape`` (polygon), each ``add`` or ``subtract``; tracking anchors on the
corrected mask (:mod:`sam3roto.core.strokes`). ``touchups`` (optional, per object) are
strokes painted over the final matte after post on frames ``first`` to ``last``
(frame numbers, inclusive), without re-tracking.
``absent`` (optional) lists inclusive ``[first, last]`` frame-number ranges where the object
is out of shot: its masks there are empty and tracking resumes from the keyframes on either
side. Each range must be two integers with ``first <= last``, both frame numbers of the
shot (checked by :func:`absent_indices` once the shot is known). An object needs keyframes,
absent ranges, or both.

Every value is checked where it is read, and an error names the file, the object and the
keyframe (or range): object names are at most 100 characters (they become file names),
frame numbers are whole numbers 0..2147483647, coordinates finite
numbers of at most a million pixels, ``positive`` true or false, ``text`` a string; a number
the strict JSON reader refuses (``Infinity``, ``1e400``, a 5000-digit integer) is located in
the file. Given the shot (``frame_numbers`` and ``size``), :func:`read_prompts` also checks
that every frame is one of the shot's, every point lies inside the frame and every box
within one frame size of it (as Label Studio imports do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sam3roto.core import safejson
from sam3roto.core.strokes import Stroke, TouchUp, strokes_from_list
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt, TextPrompt
from sam3roto.errors import InvalidPromptError, Sam3RotoError
from sam3roto.interchange.jsonfile import MAX_NAME_CHARS, KeyPath, keypath_text, read_json, show_value
from sam3roto.interchange.jsonfile import kind_of as _kind
from sam3roto.interchange.jsonfile import show as _short

#: Largest frame number a prompts file may give.
MAX_FRAME_NUMBER = 2**31 - 1
#: Largest coordinate (pixels, either sign) a prompts file may give before the shot is known.
MAX_COORDINATE = 1_000_000


@dataclass(frozen=True)
class ObjectPrompts:
    """One object's prompts: frame number -> prompts, and inclusive frame-number ranges
    ``(first, last)`` where it is out of shot."""

    name: str
    keyframes: dict[int, list[Prompt]]
    absent: list[tuple[int, int]] = field(default_factory=list)
    #: frame number -> correction strokes on that keyframe
    strokes: dict[int, list[Stroke]] = field(default_factory=dict)
    #: touch-ups over the final matte, ``first``/``last`` as frame numbers
    touchups: list[TouchUp] = field(default_factory=list)


def _number(value: Any, what: str, low: float = -MAX_COORDINATE, high: float = MAX_COORDINATE) -> float:
    try:
        return safejson.finite(value, what, None, Sam3RotoError, low, high)
    except Sam3RotoError as exc:
        raise ValueError(exc.message) from None


def _frame(value: Any, what: str) -> int:
    try:
        return safejson.whole(value, what, None, Sam3RotoError, 0, MAX_FRAME_NUMBER)
    except Sam3RotoError as exc:
        raise ValueError(exc.message) from None


def _point(item: Any, k: int, size: tuple[int, int] | None) -> PointPrompt:
    where = f"point #{k}"
    if not isinstance(item, list) or len(item) not in (2, 3):
        raise ValueError(f"a point must be [x, y] or [x, y, positive]; {where} is {_short(item)}")
    x, y = _number(item[0], f"{where}: x"), _number(item[1], f"{where}: y")
    positive = item[2] if len(item) == 3 else True
    if not (isinstance(positive, bool) or (type(positive) is int and positive in (0, 1))):  # true/false, or 1/0
        raise ValueError(f"{where}: positive must be true or false, not {show_value(positive)}")
    point = PointPrompt(x, y, bool(positive))
    if size is not None:
        _validate(point, size, where)
    return point


def _box(item: Any, k: int, size: tuple[int, int] | None) -> BoxPrompt:
    where = f"box #{k}"
    if not isinstance(item, list) or len(item) != 4:
        raise ValueError(f"a box must be [x0, y0, x1, y1]; {where} is {_short(item)}")
    box = BoxPrompt(*(_number(v, f"{where}: {name}") for v, name in zip(item, ("x0", "y0", "x1", "y1"), strict=True)))
    if size is not None:
        width, height = size
        x0, y0, x1, y1 = box.xyxy_px
        if x0 < -width or y0 < -height or x1 > 2 * width or y1 > 2 * height:
            raise ValueError(f"{where} ({x0:g}, {y0:g})-({x1:g}, {y1:g}) reaches more than one frame size outside "
                             f"the {width}x{height} frame (corners must lie within {-width}..{2 * width} by "
                             f"{-height}..{2 * height})")
        _validate(box, size, where)
    return box


def _validate(prompt: PointPrompt | BoxPrompt, size: tuple[int, int], where: str) -> None:
    try:
        prompt.validate(*size)
    except InvalidPromptError as exc:
        raise ValueError(f"{where}: {exc.message}") from None


def _list(key: dict[str, Any], name: str) -> list[Any]:
    value = key.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f'"{name}" must be a list, not {_kind(value)}')
    return value


def read_prompts(path: str | Path, *, frame_numbers: Sequence[int] | None = None,
                 size: tuple[int, int] | None = None) -> list[ObjectPrompts]:
    """Parse a prompts file; :class:`Sam3RotoError` naming the file, the object and the
    keyframe (or absent range) for anything wrong. With the shot's ``frame_numbers`` every
    frame and absent range must be the shot's; with its ``size`` (width, height) every point
    must lie inside the frame and every box within one frame size of it."""
    path = Path(path)
    data = read_json(path, "the prompts file", Sam3RotoError, _locate)
    objects = data.get("objects") if isinstance(data, dict) else None
    if not isinstance(objects, list) or not objects:
        raise Sam3RotoError('expected {"objects": [...]} with at least one object', path=path,
                            hint="see the prompts file schema in the README")
    shot = set(frame_numbers) if frame_numbers is not None else None
    out: list[ObjectPrompts] = []
    for n, obj in enumerate(objects, start=1):
        name = obj.get("name") if isinstance(obj, dict) else None
        if not isinstance(obj, dict) or not isinstance(name, str) or not name.strip():
            raise Sam3RotoError(f"object #{n} needs a \"name\"", path=path)
        if len(name) > MAX_NAME_CHARS:
            raise Sam3RotoError(f"object #{n}: the name is {len(name)} characters long, over the limit of "
                                f"{MAX_NAME_CHARS} (object names become file names)", path=path)
        keys: dict[int, list[Prompt]] = {}
        strokes: dict[int, list[Stroke]] = {}
        label = f"object {name!r}"  # at most MAX_NAME_CHARS
        try:
            keyframes = _list(obj, "keyframes")
        except ValueError as exc:
            raise Sam3RotoError(f"{label}: {exc}", path=path) from None
        for k, key in enumerate(keyframes, start=1):
            where = f"{label}, keyframe #{k}"
            try:
                if not isinstance(key, dict):
                    raise ValueError(f"must be an object with a \"frame\", not {_kind(key)}")
                if key.get("frame") is None:
                    raise ValueError('needs an integer "frame" (a frame number of the shot)')
                number = _frame(key["frame"], '"frame"')
                if frame_numbers is not None and shot is not None and number not in shot:
                    raise ValueError(f"frame {number} is not in the shot ({_span(frame_numbers)})")
                prompts: list[Prompt] = [_point(p, i, size) for i, p in enumerate(_list(key, "points"), start=1)]
                prompts += [_box(b, i, size) for i, b in enumerate(_list(key, "boxes"), start=1)]
                text = key.get("text")
                if text is not None and not isinstance(text, str):
                    raise ValueError(f'"text" must be a string, not {_kind(text)}')
                if text and text.strip():
                    prompts.append(TextPrompt(text))
                drawn = _strokes(key.get("strokes"), size)
                if not prompts and not drawn:
                    raise ValueError("has no points, boxes, text or strokes")
            except ValueError as exc:
                raise Sam3RotoError(f"{where}: {exc}", path=path) from None
            keys.setdefault(number, []).extend(prompts)
            if drawn:
                strokes.setdefault(number, []).extend(drawn)
        touchups = _touchups(_list_or_error(obj, "touchups", label, path), label, path, frame_numbers, size)
        absent = _absent(obj.get("absent", []), label, path)
        if not keys and not absent and not touchups:
            raise Sam3RotoError(f"{label} has no keyframes (and no absent ranges or touch-ups)", path=path)
        item = ObjectPrompts(name, {n: keys.get(n, []) for n in sorted(set(keys) | set(strokes))}, absent,
                             strokes, touchups)
        if frame_numbers is not None:
            absent_indices(item, frame_numbers, path)
        out.append(item)
    return out


def _touchups(items: list[Any], label: str, path: Path, frame_numbers: Sequence[int] | None,
              size: tuple[int, int] | None) -> list[TouchUp]:
    """``"touchups": [{"first", "last", "strokes"}, ...]`` (frame numbers) as TouchUps;
    with ``frame_numbers`` both ends must be frames of the shot."""
    shot = set(frame_numbers) if frame_numbers is not None else None
    out = []
    for k, item in enumerate(items, start=1):
        where = f"{label}, touch-up #{k}" if label else f"touch-up #{k}"
        try:
            if not isinstance(item, dict):
                raise ValueError(f'must be an object with "first", "last" and "strokes", not {_kind(item)}')
            first, last = (_frame(item.get(name), f'"{name}"') for name in ("first", "last"))
            if first > last:
                raise ValueError(f"ends ({last}) before it starts ({first})")
            for number in (first, last):
                if shot is not None and number not in shot:
                    raise ValueError(f"frame {number} is not in the shot ({_span(frame_numbers or [])})")
            drawn = _strokes(item.get("strokes"), size)
            if not drawn:
                raise ValueError('has no "strokes"')
        except ValueError as exc:
            raise Sam3RotoError(f"{where}: {exc}", path=path) from None
        out.append(TouchUp(first, last, drawn))
    return out


def read_touchups(path: str | Path, *, frame_numbers: Sequence[int], size: tuple[int, int]) -> list[TouchUp]:
    """A touch-ups file, ``{"touchups": [{"first", "last", "strokes"}, ...]}`` (frame
    numbers of the shot, strokes as in a prompts file), as touch-ups over frame
    *indices*; :class:`Sam3RotoError` naming the file and the touch-up otherwise."""
    path = Path(path)
    data = read_json(path, "the touch-ups file", Sam3RotoError, lambda keys, doc: keypath_text(keys))
    items = data.get("touchups") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise Sam3RotoError('expected {"touchups": [...]} with at least one touch-up', path=path,
                            hint="see the prompts file schema in the README (touchups)")
    index = {number: i for i, number in enumerate(frame_numbers)}
    return [TouchUp(index[t.first], index[t.last], t.strokes)
            for t in _touchups(items, "", path, frame_numbers, size)]


def _list_or_error(obj: dict[str, Any], name: str, label: str, path: Path) -> list[Any]:
    try:
        return _list(obj, name)
    except ValueError as exc:
        raise Sam3RotoError(f"{label}: {exc}", path=path) from None


def _strokes(value: Any, size: tuple[int, int] | None) -> list[Stroke]:
    """A keyframe's or touch-up's ``"strokes"`` (absent: none); with the shot's ``size``
    every stroke must touch the frame."""
    if value is None:
        return []
    out = strokes_from_list(value)
    if size is not None:
        width, height = size
        for n, stroke in enumerate(out, start=1):
            x0, y0, x1, y1 = stroke.bounds()
            if x1 < 0 or y1 < 0 or x0 >= width or y0 >= height:
                raise ValueError(f"stroke {n} lies outside the {width}x{height} frame")
    return out


def _absent(value: Any, where: str, path: Path) -> list[tuple[int, int]]:
    """``"absent": [[first, last], ...]`` (frame numbers, inclusive) as sorted pairs."""
    if not isinstance(value, list):
        raise Sam3RotoError(f'{where}: "absent" must be a list of [first, last] frame-number ranges, not '
                            f'{_short(value)}', path=path)
    out: list[tuple[int, int]] = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
            raise Sam3RotoError(f"{where}: absent range {_short(item)} must be [first, last], two integer frame "
                                "numbers", path=path)
        if not all(0 <= v <= MAX_FRAME_NUMBER for v in item):
            raise Sam3RotoError(f"{where}: absent range {_short(item)} holds a frame number outside "
                                f"0..{MAX_FRAME_NUMBER}", path=path)
        if item[0] > item[1]:
            raise Sam3RotoError(f"{where}: absent range [{item[0]}, {item[1]}] ends before it starts", path=path)
        out.append((item[0], item[1]))
    return sorted(out)


def absent_indices(obj: ObjectPrompts, frame_numbers: Sequence[int], path: str | Path) -> list[tuple[int, int]]:
    """``obj``'s absent ranges as inclusive frame-index ranges of the shot whose frame
    numbers are ``frame_numbers``; :class:`Sam3RotoError` naming the file, object and range
    when a range's end is not a frame of the shot."""
    index = {number: i for i, number in enumerate(frame_numbers)}
    out: list[tuple[int, int]] = []
    for first, last in obj.absent:
        where = f"object {_short(obj.name)!r}: absent range [{first}, {last}]"
        for number in (first, last):
            if number not in index:
                raise Sam3RotoError(f"{where}: frame {number} is not in the shot ({_span(frame_numbers)})", path=path)
        out.append((index[first], index[last]))
    return out


def frame_index(number: int, frame_numbers: Sequence[int], where: str) -> int:
    """The index of frame ``number``; ``ValueError`` naming the shot's range otherwise."""
    try:
        return list(frame_numbers).index(number)
    except ValueError:
        raise ValueError(f"{where}: frame {number} is not in the shot ({_span(frame_numbers)})") from None


def _span(frame_numbers: Sequence[int]) -> str:
    return f"{frame_numbers[0]}..{frame_numbers[-1]}" if len(frame_numbers) else "no frames"


def _locate(keys: KeyPath, doc: Any) -> str:
    """Names the object and keyframe of a refused number (see :mod:`.jsonfile`)."""
    if len(keys) >= 2 and keys[0] == "objects" and isinstance(keys[1], int):
        obj = doc["objects"][keys[1]]
        name = obj.get("name") if isinstance(obj, dict) else None
        where = f"object {_short(name)!r}" if isinstance(name, str) else f"object #{keys[1] + 1}"
        if len(keys) >= 4 and keys[2] == "keyframes" and isinstance(keys[3], int):
            return f"{where}, keyframe #{keys[3] + 1}: {keypath_text(keys[4:])}"
        return f"{where}: {keypath_text(keys[2:])}"
    return keypath_text(keys)


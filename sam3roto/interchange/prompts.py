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
       {"name": "car", "keyframes": [{"frame": 1001, "text": "red car"}]}]}

A point is ``[x, y]`` (positive) or ``[x, y, positive]``; a box is ``[x0, y0, x1, y1]``.
``absent`` (optional) lists inclusive ``[first, last]`` frame-number ranges where the object
is out of shot: its masks there are empty and tracking resumes from the keyframes on either
side. Each range must be two integers with ``first <= last``, both frame numbers of the
shot (checked by :func:`absent_indices` once the shot is known). An object needs keyframes,
absent ranges, or both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt, TextPrompt
from sam3roto.errors import Sam3RotoError
from sam3roto.interchange.jsonfile import read_json


@dataclass(frozen=True)
class ObjectPrompts:
    """One object's prompts: frame number -> prompts, and inclusive frame-number ranges
    ``(first, last)`` where it is out of shot."""

    name: str
    keyframes: dict[int, list[Prompt]]
    absent: list[tuple[int, int]] = field(default_factory=list)


def _point(item: Any) -> PointPrompt:
    if not isinstance(item, list) or len(item) not in (2, 3) or not all(isinstance(v, int | float) for v in item[:2]):
        raise ValueError(f"a point must be [x, y] or [x, y, positive], got {item!r}")
    positive = bool(item[2]) if len(item) == 3 else True
    return PointPrompt(float(item[0]), float(item[1]), positive)


def _box(item: Any) -> BoxPrompt:
    if not isinstance(item, list) or len(item) != 4 or not all(isinstance(v, int | float) for v in item):
        raise ValueError(f"a box must be [x0, y0, x1, y1], got {item!r}")
    return BoxPrompt(*(float(v) for v in item))


def read_prompts(path: str | Path) -> list[ObjectPrompts]:
    """Parse a prompts file; :class:`Sam3RotoError` naming the file, object and keyframe."""
    path = Path(path)
    data = read_json(path, "the prompts file")
    objects = data.get("objects") if isinstance(data, dict) else None
    if not isinstance(objects, list) or not objects:
        raise Sam3RotoError('expected {"objects": [...]} with at least one object', path=path,
                            hint="see the prompts file schema in the README")
    out: list[ObjectPrompts] = []
    for n, obj in enumerate(objects, start=1):
        name = obj.get("name") if isinstance(obj, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise Sam3RotoError(f"object #{n} needs a \"name\"", path=path)
        keys: dict[int, list[Prompt]] = {}
        for k, key in enumerate(obj.get("keyframes") or [], start=1):
            where = f"object {name!r}, keyframe #{k}"
            try:
                if not isinstance(key, dict) or not isinstance(key.get("frame"), int):
                    raise ValueError('needs an integer "frame" (a frame number of the shot)')
                prompts: list[Prompt] = [_point(p) for p in key.get("points") or []]
                prompts += [_box(b) for b in key.get("boxes") or []]
                if key.get("text"):
                    prompts.append(TextPrompt(str(key["text"])))
                if not prompts:
                    raise ValueError("has no points, boxes or text")
            except ValueError as exc:
                raise Sam3RotoError(f"{where}: {exc}", path=path) from None
            keys.setdefault(key["frame"], []).extend(prompts)
        absent = _absent(obj.get("absent", []), f"object {name!r}", path)
        if not keys and not absent:
            raise Sam3RotoError(f"object {name!r} has no keyframes (and no absent ranges)", path=path)
        out.append(ObjectPrompts(name, keys, absent))
    return out


def _absent(value: Any, where: str, path: Path) -> list[tuple[int, int]]:
    """``"absent": [[first, last], ...]`` (frame numbers, inclusive) as sorted pairs."""
    if not isinstance(value, list):
        raise Sam3RotoError(f'{where}: "absent" must be a list of [first, last] frame-number ranges, got {value!r}',
                            path=path)
    out: list[tuple[int, int]] = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
            raise Sam3RotoError(f"{where}: absent range {item!r} must be [first, last], two integer frame numbers",
                                path=path)
        if item[0] > item[1]:
            raise Sam3RotoError(f"{where}: absent range [{item[0]}, {item[1]}] ends before it starts", path=path)
        out.append((item[0], item[1]))
    return sorted(out)


def absent_indices(obj: ObjectPrompts, frame_numbers: Sequence[int], path: str | Path) -> list[tuple[int, int]]:
    """``obj``'s absent ranges as inclusive frame-index ranges of the shot whose frame
    numbers are ``frame_numbers``; :class:`Sam3RotoError` naming the file, object and range
    when a range's end is not a frame of the shot."""
    out: list[tuple[int, int]] = []
    for first, last in obj.absent:
        where = f"object {obj.name!r}: absent range [{first}, {last}]"
        try:
            out.append((frame_index(first, frame_numbers, where), frame_index(last, frame_numbers, where)))
        except ValueError as exc:
            raise Sam3RotoError(str(exc), path=path) from None
    return out


def frame_index(number: int, frame_numbers: Sequence[int], where: str) -> int:
    """The index of frame ``number``; ``ValueError`` naming the shot's range otherwise."""
    try:
        return list(frame_numbers).index(number)
    except ValueError:
        raise ValueError(f"{where}: frame {number} is not in the shot ({frame_numbers[0]}..{frame_numbers[-1]})") \
            from None

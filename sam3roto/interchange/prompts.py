"""The prompts file for headless tracking: points, boxes and text per object and frame.

Schema (JSON; frames are the shot's frame numbers; coordinates in source pixels)::

    {"objects": [
       {"name": "person",
        "keyframes": [
          {"frame": 1001, "points": [[640, 360], [700, 300, false]], "boxes": [[500, 200, 800, 700]]},
          {"frame": 1040, "points": [[655, 372]]}]},
       {"name": "car", "keyframes": [{"frame": 1001, "text": "red car"}]}]}

A point is ``[x, y]`` (positive) or ``[x, y, positive]``; a box is ``[x0, y0, x1, y1]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt, TextPrompt
from sam3roto.errors import Sam3RotoError
from sam3roto.interchange.jsonfile import read_json


@dataclass(frozen=True)
class ObjectPrompts:
    """One object's prompts: frame number -> prompts."""

    name: str
    keyframes: dict[int, list[Prompt]]


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
        if not keys:
            raise Sam3RotoError(f"object {name!r} has no keyframes", path=path)
        out.append(ObjectPrompts(name, keys))
    return out


def frame_index(number: int, frame_numbers: Sequence[int], where: str) -> int:
    """The index of frame ``number``; ``ValueError`` naming the shot's range otherwise."""
    try:
        return list(frame_numbers).index(number)
    except ValueError:
        raise ValueError(f"{where}: frame {number} is not in the shot ({frame_numbers[0]}..{frame_numbers[-1]})") \
            from None

"""The project model: plain dataclasses with ``to_dict`` / ``from_dict``.

A project is one *Shot* (its media and timing), the *Objects* being rotoscoped, and
their *Keyframes* (the prompts an artist placed on a frame). Masks are not in here:
they live in the on-disk :class:`~sam3roto.core.maskstore.MaskStore` beside the file.
Frames are addressed by frame index into the shot; ``Shot.frame_numbers`` maps an index
to the source's frame number for display and export.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from sam3roto.core import safejson
from sam3roto.core.strokes import Stroke, TouchUp, strokes_from_list
from sam3roto.core.types import MAX_TEXT_CHARS, BoxPrompt, PointPrompt, Prompt, TextPrompt
from sam3roto.errors import Hint, InvalidPromptError, ProjectError

SCHEMA_VERSION = 2

#: Bounds on what a project file may hold (see :meth:`Project.from_dict`): generous for
#: real work, tight enough that a damaged or hostile value is refused where it is read.
#: Object ids start at 1 and are never reused; engines keep them in 32-bit integers.
MAX_OBJECT_ID = 2**31 - 1
#: Object names become file and folder names in renders (file names stop at 255 bytes).
MAX_NAME_CHARS = 100
#: Longest name a project file may hold (shortened to MAX_NAME_CHARS when loaded).
MAX_LOADED_NAME_CHARS = 100_000
#: Longest media or depth-cache path (PATH_MAX on Linux).
MAX_PATH_CHARS = 4096
#: Most frames of a shot, and the widest or highest frame, in pixels.
MAX_FRAMES = 10**8
MAX_SIZE_PX = 1 << 20
#: A frame rate's numerator and denominator stay below this (media rates are 32-bit rationals).
MAX_RATE_TERM = 10**12
MAX_FPS = 10**6

#: What an identity (a project's or object's uid, a store token) may be made of.
_TOKEN = re.compile(r"[0-9A-Za-z_-]{1,128}")


def object_name(base: str, suffix: str = "") -> str:
    """``base`` followed by ``suffix``, within :data:`MAX_NAME_CHARS`: a long ``base`` (a
    long text prompt, a pasted name) is cut and marked with an ellipsis, the suffix (an
    object's number) kept, so every name the project makes also loads."""
    room = MAX_NAME_CHARS - len(suffix)
    if len(base) > room:
        base = " ".join(base.split())[:max(0, room - 1)].rstrip() + "\u2026"
    return (base + suffix)[:MAX_NAME_CHARS]


#: The hint of every entry a project file holds that cannot be right.
ENTRY_HINT = "the file was damaged or edited by hand; correct that entry, or open a saved copy or the autosave"


class _InvalidEntry(ProjectError):
    """An entry of a project file that cannot be right: ``invalid entry: WHERE ...``."""

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | Hint | None = None) -> None:
        super().__init__(f"invalid entry: {message}", path=path, hint=hint or ENTRY_HINT)


def _show(value: object) -> str:
    """``value`` as a short phrase for a message: JSON for scalars, the kind for the rest."""
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list | tuple):
        return "a list"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):  # not JSON, or an integer too long to print
        text = type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _label(obj_id: int, name: str) -> str:
    """``object 3 'swan'``: how messages name an object."""
    return f"object {obj_id} {name[:40]!r}"


def _dict(value: object, what: str, path: str | Path | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _InvalidEntry(f"{what} must be a JSON object, not {_show(value)}", path=path)
    return value


def _list(value: object, what: str, path: str | Path | None) -> list[Any]:
    if not isinstance(value, list):
        raise _InvalidEntry(f"{what} must be a list, not {_show(value)}", path=path)
    return value


def _bool(value: object, what: str, path: str | Path | None) -> bool:
    if not isinstance(value, bool):
        raise _InvalidEntry(f"{what} must be true or false, not {_show(value)}", path=path)
    return value


def _text(value: object, what: str, path: str | Path | None, *, max_chars: int, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise _InvalidEntry(f"{what} must be a string, not {_show(value)}", path=path)
    if not value and not empty:
        raise _InvalidEntry(f"{what} must not be empty", path=path)
    if len(value) > max_chars:
        raise _InvalidEntry(f"{what} is {len(value)} characters long, over the limit of {max_chars}", path=path)
    return value


def _path_text(value: object, what: str, path: str | Path | None) -> str:
    text = _text(value, what, path, max_chars=MAX_PATH_CHARS, empty=False)
    if "\0" in text:
        raise _InvalidEntry(f"{what} holds a NUL character, which no path can", path=path)
    return text


def _token(value: object, what: str, path: str | Path | None) -> str:
    if not isinstance(value, str) or _TOKEN.fullmatch(value) is None:
        raise _InvalidEntry(f"{what} must be an identity of 1 to 128 letters, digits, '-' or '_', not "
                            f"{_show(value)}", path=path)
    return value


def _whole(value: object, what: str, path: str | Path | None, low: int, high: int) -> int:
    return safejson.whole(value, what, path, _InvalidEntry, low, high)


def _number(value: object, what: str, path: str | Path | None) -> float:
    return safejson.finite(value, what, path, _InvalidEntry)


def _required(data: dict[str, Any], key: str, what: str, path: str | Path | None) -> Any:
    if key not in data:
        raise _InvalidEntry(f"{what} is missing", path=path)
    return data[key]


def new_uid() -> str:
    """A fresh identity for a project or an object (32 hex digits)."""
    return uuid.uuid4().hex


def derived_uid(parent: str, name: str) -> str:
    """A stable identity derived from ``parent``'s (for files written before identities
    existed: the same file gives the same identities every time it is read)."""
    try:
        namespace = uuid.UUID(hex=parent)
    except ValueError:
        namespace = uuid.uuid5(uuid.NAMESPACE_URL, parent)
    return uuid.uuid5(namespace, name).hex

#: Distinct, colour-blind-friendly overlay colours (Okabe-Ito), cycled for new objects.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66),
    (0, 114, 178), (213, 94, 0), (204, 121, 167), (255, 255, 255),
)


def _fps(value: object, path: str | Path | None) -> Fraction:
    """A frame rate as written in a project (``"30000/1001"``, ``24``, ``23.976``)."""
    problem = (f"shot.fps is {_show(value)}, not a frame rate: it must be a positive number or fraction "
               "(e.g. 24 or 30000/1001)")
    if isinstance(value, bool) or not isinstance(value, str | int | float) or len(str(value)) > 64:
        raise _InvalidEntry(problem, path=path)
    try:
        fps = Fraction(str(value))
    except (ValueError, ZeroDivisionError, OverflowError):
        raise _InvalidEntry(problem, path=path) from None
    if not 0 < fps <= MAX_FPS or fps.numerator >= MAX_RATE_TERM or fps.denominator >= MAX_RATE_TERM:
        raise _InvalidEntry(problem, path=path)
    return fps


@dataclass
class Shot:
    """The media of a project and how its frames are numbered and timed.

    ``media`` is the path as the user gave it (made relative to the project on save).
    ``in_index``/``out_index`` bound tracking and export (inclusive frame indices).
    ``start_frame``, when set, renumbers exports from that number (1001 on plates).
    ``input_colorspace``: the OpenColorIO colour space the plates are in (set from a guess
    when the shot is made; None in projects older than colour management: guessed again
    from the media when opened, see ``sam3roto.media.colour``).
    """

    media: str
    frame_count: int
    fps: Fraction
    width: int
    height: int
    frame_numbers: list[int]
    in_index: int = 0
    out_index: int | None = None
    start_frame: int | None = None
    input_colorspace: str | None = None

    def __post_init__(self) -> None:
        if self.frame_count <= 0:
            raise ValueError(f"frame_count must be > 0, got {self.frame_count}")
        if len(self.frame_numbers) != self.frame_count:
            raise ValueError(f"frame_numbers has {len(self.frame_numbers)} entries for {self.frame_count} frames")
        last = self.frame_count - 1
        out = last if self.out_index is None else self.out_index
        if not 0 <= self.in_index <= out <= last:
            raise ValueError(f"frame range {self.in_index}..{out} must lie within 0..{last}")

    @property
    def frame_range(self) -> range:
        """Indices from in to out, inclusive."""
        out = self.frame_count - 1 if self.out_index is None else self.out_index
        return range(self.in_index, out + 1)

    def output_number(self, index: int) -> int:
        """The frame number written on export for frame ``index``."""
        if self.start_frame is None:
            return self.frame_numbers[index]
        return self.start_frame + index - self.in_index

    def to_dict(self) -> dict[str, Any]:
        return {
            "media": self.media, "frame_count": self.frame_count, "fps": f"{self.fps.numerator}/{self.fps.denominator}",
            "width": self.width, "height": self.height, "frame_numbers": list(self.frame_numbers),
            "in_index": self.in_index, "out_index": self.out_index, "start_frame": self.start_frame,
            "input_colorspace": self.input_colorspace,
        }

    @classmethod
    def from_dict(cls, data: Any, path: str | Path | None = None) -> Shot:
        """The shot of a project file; :class:`~sam3roto.errors.ProjectError` naming ``path``
        and the entry for anything that cannot be right."""
        data = _dict(data, "shot", path)
        media = _path_text(_required(data, "media", "shot.media", path), "shot.media", path)
        frame_count = _whole(_required(data, "frame_count", "shot.frame_count", path), "shot.frame_count", path,
                             1, MAX_FRAMES)
        fps = _fps(_required(data, "fps", "shot.fps", path), path)
        width = _whole(_required(data, "width", "shot.width", path), "shot.width", path, 1, MAX_SIZE_PX)
        height = _whole(_required(data, "height", "shot.height", path), "shot.height", path, 1, MAX_SIZE_PX)
        raw_numbers = _list(_required(data, "frame_numbers", "shot.frame_numbers", path), "shot.frame_numbers", path)
        if len(raw_numbers) != frame_count:
            raise _InvalidEntry(f"shot.frame_numbers has {len(raw_numbers)} entries for {frame_count} frames "
                                "(shot.frame_count)", path=path)
        frame_numbers = [_whole(n, f"shot.frame_numbers[{i}]", path, -(2**53), 2**53)
                         for i, n in enumerate(raw_numbers)]
        last = frame_count - 1
        in_index = _whole(data.get("in_index", 0), "shot.in_index", path, 0, last)
        out_index = data.get("out_index")
        if out_index is not None:
            out_index = _whole(out_index, "shot.out_index", path, in_index, last)
        start_frame = data.get("start_frame")
        if start_frame is not None:
            start_frame = _whole(start_frame, "shot.start_frame", path, -(2**53), 2**53)
        colorspace = data.get("input_colorspace")
        if colorspace is not None and (not isinstance(colorspace, str) or not colorspace.strip()
                                       or len(colorspace) > 200):
            raise _InvalidEntry("shot.input_colorspace must be a colour space name (up to 200 characters), not "
                                f"{str(colorspace)[:40]!r}", path=path)
        return cls(media=media, frame_count=frame_count, fps=fps, width=width, height=height,
                   frame_numbers=frame_numbers, in_index=in_index, out_index=out_index, start_frame=start_frame,
                   input_colorspace=colorspace)


@dataclass
class RotoObject:
    """One thing being rotoscoped: a person, a car. ``id`` never changes or gets reused
    within its project; ``uid`` is unique everywhere, and the mask store records it beside
    the object's masks so that they can never attach to another object.

    ``post`` holds the object's post settings as a plain dict (``PostSettings.to_dict``);
    empty means the defaults. It is validated where it is used (``PostSettings.from_dict``).
    """

    id: int
    name: str
    color: tuple[int, int, int]
    visible: bool = True
    post: dict[str, Any] = field(default_factory=dict)
    uid: str = field(default_factory=new_uid)
    #: Frame-index ranges ``(first, last)`` (inclusive) where the object is out of shot:
    #: its masks there are empty and tracking resumes from the keyframes on either side.
    absent: list[tuple[int, int]] = field(default_factory=list)
    #: Matte settings keyed over the shot: frame index -> post settings (a plain dict as
    #: ``post``). With keys, frames between two take values interpolated linearly
    #: (``sam3roto.post.keyed``); ``post`` holds the values shown when none is keyed.
    post_keys: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Strokes painted over the final matte (after post), see :class:`TouchUp`.
    touchups: list[TouchUp] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "uid": self.uid, "name": self.name, "color": list(self.color),
                "visible": self.visible, "post": dict(self.post)}
        if self.absent:
            data["absent"] = [list(r) for r in self.absent]
        if self.post_keys:
            data["post_keys"] = {str(f): dict(v) for f, v in sorted(self.post_keys.items())}
        if self.touchups:
            data["touchups"] = [t.to_dict() for t in self.touchups]
        return data

    def is_absent(self, frame: int) -> bool:
        return any(a <= frame <= b for a, b in self.absent)

    @classmethod
    def from_dict(cls, data: Any, project_uid: str | None = None, *, path: str | Path | None = None,
                  where: str = "object", frame_count: int | None = None) -> RotoObject:
        """``project_uid`` derives a stable ``uid`` for objects saved without one. Anything
        that cannot be right is a :class:`~sam3roto.errors.ProjectError` naming ``path`` and
        the object (``where`` until its id and name are read); with ``frame_count``, absent
        ranges must lie within the shot. ``post`` is checked where it is used
        (``PostSettings.from_dict``)."""
        data = _dict(data, where, path)
        obj_id = _whole(_required(data, "id", f"{where}: id", path), f"{where}: id", path, 1, MAX_OBJECT_ID)
        where = f"object {obj_id}"
        # A longer name (saved before names were bounded) is shortened, not refused.
        name = object_name(_text(_required(data, "name", f"{where}: name", path), f"{where}: name", path,
                                 max_chars=MAX_LOADED_NAME_CHARS))
        where = _label(obj_id, name)
        color = _list(_required(data, "color", f"{where}: color", path), f"{where}: color", path)
        if len(color) != 3:
            raise _InvalidEntry(f"{where}: color must be [red, green, blue], not a list of {len(color)}", path=path)
        r, g, b = (_whole(c, f"{where}: color[{i}]", path, 0, 255) for i, c in enumerate(color))
        visible = _bool(data.get("visible", True), f"{where}: visible", path)
        post = _dict(data.get("post", {}), f"{where}: post settings", path)
        uid = data.get("uid")
        if uid is None:
            uid = derived_uid(project_uid, f"object:{obj_id}") if project_uid else new_uid()
        else:
            uid = _token(uid, f"{where}: uid", path)
        last = 2**53 if frame_count is None else frame_count - 1
        absent = parse_ranges(data.get("absent", []), f"{where}: absent", path=path,
                              last=None if frame_count is None else frame_count - 1)
        post_keys: dict[int, dict[str, Any]] = {}
        for frame_text, values in _dict(data.get("post_keys", {}), f"{where}: post_keys", path).items():
            if not (frame_text.isascii() and frame_text.isdigit() and len(frame_text) <= 16):
                raise _InvalidEntry(f"{where}: post_keys: {frame_text[:20]!r} is not a frame index", path=path)
            frame = _whole(int(frame_text), f"{where}: post_keys frame", path, 0, last)
            post_keys[frame] = dict(_dict(values, f"{where}: post_keys[{frame}]", path))
        touchups = [_touchup(t, f"{where}: touch-up {n + 1}", path, last)
                    for n, t in enumerate(_list(data.get("touchups", []), f"{where}: touchups", path))]
        return cls(id=obj_id, name=name, color=(r, g, b), visible=visible, post=dict(post), uid=uid, absent=absent,
                   post_keys=post_keys, touchups=touchups)


def _strokes(value: Any, where: str, path: str | Path | None, shot: Shot | None = None) -> list[Stroke]:
    """Strokes of a project file; with ``shot``, each must touch its frame."""
    try:
        strokes = strokes_from_list(value)
    except ValueError as exc:
        raise _InvalidEntry(f"{where}: {exc}", path=path) from None
    if shot is not None:
        for n, stroke in enumerate(strokes, start=1):
            x0, y0, x1, y1 = stroke.bounds()
            if x1 < 0 or y1 < 0 or x0 >= shot.width or y0 >= shot.height:
                raise _InvalidEntry(f"{where}: stroke {n} lies outside the {shot.width}x{shot.height} frame",
                                    path=path)
    return strokes


def _touchup(data: Any, where: str, path: str | Path | None, last: int) -> TouchUp:
    data = _dict(data, where, path)
    unknown = set(data) - {"first", "last", "strokes"}
    if unknown:
        raise _InvalidEntry(f"{where}: unknown fields {', '.join(sorted(map(str, unknown)))[:200]}", path=path)
    first = _whole(_required(data, "first", f"{where}: first", path), f"{where}: first", path, 0, last)
    end = _whole(_required(data, "last", f"{where}: last", path), f"{where}: last", path, first, last)
    return TouchUp(first, end, _strokes(data.get("strokes", []), f"{where}: strokes", path))


def parse_ranges(value: Any, where: str, *, path: str | Path | None = None,
                 last: int | None = None) -> list[tuple[int, int]]:
    """``[[first, last], ...]`` (whole numbers, ``0 <= first <= last``, and ``last`` at most
    ``last`` when given) as sorted, merged tuples; a :class:`~sam3roto.errors.ProjectError`
    naming ``path`` and ``where`` otherwise."""
    if not isinstance(value, list):
        raise _InvalidEntry(f"{where} must be a list of [first, last] pairs, not {_show(value)}", path=path)
    high = 2**53 if last is None else last
    out: list[tuple[int, int]] = []
    for n, item in enumerate(value):
        if not (isinstance(item, list) and len(item) == 2):
            raise _InvalidEntry(f"{where}: range {n + 1} must be [first, last], not {_show(item)}", path=path)
        a = _whole(item[0], f"{where}: range {n + 1} first frame", path, 0, high)
        b = _whole(item[1], f"{where}: range {n + 1} last frame", path, a, high)
        out.append((a, b))
    return merge_ranges(out)


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Inclusive ranges sorted, with overlapping and touching ones joined."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@dataclass
class Keyframe:
    """The prompts placed for one object on one frame index. ``mask`` says the object also
    has a given mask on this frame (painted, or imported from Label Studio), kept in the
    mask store's key masks (:meth:`~sam3roto.core.maskstore.MaskStore.key_masks`)."""

    object_id: int
    frame: int
    prompts: list[Prompt] = field(default_factory=list)
    mask: bool = False
    #: Brush strokes and shapes correcting this frame's mask (see :mod:`sam3roto.core.strokes`):
    #: painted over the key mask (or the prompts' mask), in order; tracking anchors on the result.
    strokes: list[Stroke] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"object_id": self.object_id, "frame": self.frame,
                                "prompts": [p.to_dict() for p in self.prompts]}
        if self.mask:
            data["mask"] = True
        if self.strokes:
            data["strokes"] = [s.to_dict() for s in self.strokes]
        return data

    @classmethod
    def from_dict(cls, data: Any, *, path: str | Path | None = None, where: str = "keyframe",
                  objects: dict[int, str] | None = None, shot: Shot | None = None) -> Keyframe:
        """A keyframe of a project file. ``objects`` (id -> how messages name it) are the
        project's objects, one of which it must belong to; with ``shot``, its frame must be
        one of the shot's and its prompts must lie on the frame. Anything that cannot be
        right is a :class:`~sam3roto.errors.ProjectError` naming ``path`` and the entry."""
        data = _dict(data, where, path)
        obj_id = _whole(_required(data, "object_id", f"{where}: object_id", path), f"{where}: object_id", path,
                        1, MAX_OBJECT_ID)
        if objects is not None and obj_id not in objects:
            known = ", ".join(str(i) for i in sorted(objects)[:20]) or "none"
            raise _InvalidEntry(f"{where} is for object {obj_id}, which the project does not have (objects: {known})",
                                path=path)
        label = objects[obj_id] if objects is not None else f"object {obj_id}"
        last = 2**53 if shot is None else shot.frame_count - 1
        frame = _whole(_required(data, "frame", f"{label}: keyframe frame", path), f"{label}: keyframe frame", path,
                       0, last)
        where = f"{label}: keyframe on frame index {frame}"
        prompts = [_prompt(p, f"{where}: prompt {n + 1}", path, shot)
                   for n, p in enumerate(_list(data.get("prompts", []), f"{where}: prompts", path))]
        mask = _bool(data.get("mask", False), f"{where}: mask", path)
        strokes = _strokes(data.get("strokes", []), f"{where}: strokes", path, shot)
        return cls(object_id=obj_id, frame=frame, prompts=prompts, mask=mask, strokes=strokes)


def _prompt(data: Any, where: str, path: str | Path | None, shot: Shot | None) -> Prompt:
    """One prompt of a keyframe (``Prompt.to_dict``'s form), checked to lie on the frame."""
    data = _dict(data, where, path)
    kind = data.get("kind")
    prompt: Prompt
    if kind == "point":
        x, y = (_number(_required(data, k, f"{where} (point): {k}", path), f"{where} (point): {k}", path)
                for k in ("x", "y"))
        prompt = PointPrompt(x, y, _bool(data.get("positive", True), f"{where} (point): positive", path))
    elif kind == "box":
        x0, y0, x1, y1 = (_number(_required(data, k, f"{where} (box): {k}", path), f"{where} (box): {k}", path)
                          for k in ("x0", "y0", "x1", "y1"))
        prompt = BoxPrompt(x0, y0, x1, y1)
    elif kind == "text":
        prompt = TextPrompt(_text(_required(data, "text", f"{where} (text): text", path), f"{where} (text): text",
                                  path, max_chars=MAX_TEXT_CHARS))
    else:
        raise _InvalidEntry(f"{where}: kind must be \"point\", \"box\" or \"text\", not {_show(kind)}", path=path)
    try:
        prompt.validate(shot.width if shot else MAX_SIZE_PX, shot.height if shot else MAX_SIZE_PX)
    except InvalidPromptError as exc:
        raise _InvalidEntry(f"{where}: {exc.message}", path=path) from None
    return prompt


@dataclass
class Project:
    """Everything saved in a ``.sam3roto`` file. ``settings`` holds per-feature settings
    (post, export) by section name; ``depth_cache`` names the depth cache folder.

    ``uid`` is the project's identity, recorded in its mask store, so a store is never
    taken for another project's (a new project on the same media has another uid).
    ``store_token`` names the mask store folder the file was saved with: a save that
    moves the store writes a new token into both, which tells after a crash which folder
    belongs to the file (:mod:`sam3roto.core.workspace`)."""

    shot: Shot | None = None
    objects: list[RotoObject] = field(default_factory=list)
    keyframes: list[Keyframe] = field(default_factory=list)
    active_object: int | None = None
    next_object_id: int = 1
    depth_cache: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    uid: str = field(default_factory=new_uid)
    store_token: str | None = None

    # -- objects ---------------------------------------------------------------------------
    def add_object(self, name: str | None = None, color: tuple[int, int, int] | None = None) -> RotoObject:
        """Create an object with a fresh id, make it active and return it (a name longer
        than :data:`MAX_NAME_CHARS` is shortened, see :func:`object_name`)."""
        obj_id = self.next_object_id
        self.next_object_id += 1
        obj = RotoObject(id=obj_id, name=object_name(name) if name else f"object{obj_id}",
                         color=color or PALETTE[(obj_id - 1) % len(PALETTE)])
        self.objects.append(obj)
        self.active_object = obj_id
        return obj

    def object(self, obj_id: int) -> RotoObject:
        """The object with ``obj_id``; ``KeyError`` naming the known ids otherwise."""
        for obj in self.objects:
            if obj.id == obj_id:
                return obj
        raise KeyError(f"no object with id {obj_id}; known ids: {[o.id for o in self.objects]}")

    def object_uid(self, obj_id: int) -> str | None:
        """The ``uid`` of object ``obj_id``, or None when the project has no such object."""
        for obj in list(self.objects):  # a copy: worker threads ask while the window edits
            if obj.id == obj_id:
                return obj.uid
        return None

    def remove_object(self, obj_id: int) -> None:
        """Remove the object and its keyframes (its masks are the store's business)."""
        self.object(obj_id)
        self.objects = [o for o in self.objects if o.id != obj_id]
        self.keyframes = [k for k in self.keyframes if k.object_id != obj_id]
        render = self.settings.get("render")
        if isinstance(render, dict):  # the render choices (Export tab) forget it too
            for name in ("objects", "combine"):
                if isinstance(render.get(name), list) and obj_id in render[name]:
                    render[name] = [i for i in render[name] if i != obj_id]
                    if not render[name]:
                        del render[name]  # unset: every object, as when nothing was chosen
        if self.active_object == obj_id:
            self.active_object = self.objects[-1].id if self.objects else None

    # -- keyframes -------------------------------------------------------------------------
    def keyframe(self, obj_id: int, frame: int) -> Keyframe | None:
        for key in self.keyframes:
            if key.object_id == obj_id and key.frame == frame:
                return key
        return None

    def keyframes_of(self, obj_id: int) -> list[Keyframe]:
        """The object's keyframes by frame index."""
        return sorted((k for k in self.keyframes if k.object_id == obj_id), key=lambda k: k.frame)

    def set_prompts(self, obj_id: int, frame: int, prompts: list[Prompt]) -> Keyframe | None:
        """Replace the prompts of ``obj_id`` on ``frame``; an empty list removes the keyframe
        (unless it holds a key mask)."""
        self.object(obj_id)
        self._check_frame(frame)
        if self.shot is not None:
            for prompt in prompts:
                prompt.validate(self.shot.width, self.shot.height)
        old = self.keyframe(obj_id, frame)
        return self._replace_keyframe(Keyframe(obj_id, frame, list(prompts), mask=old is not None and old.mask,
                                               strokes=list(old.strokes) if old is not None else []))

    def set_key_mask(self, obj_id: int, frame: int, present: bool = True) -> Keyframe | None:
        """Mark (or unmark) ``obj_id``'s key mask on ``frame``; the mask itself goes to the
        mask store's key masks. A keyframe with neither prompts nor mask is removed."""
        self.object(obj_id)
        self._check_frame(frame)
        old = self.keyframe(obj_id, frame)
        return self._replace_keyframe(Keyframe(obj_id, frame, list(old.prompts) if old else [], mask=present,
                                               strokes=list(old.strokes) if old else []))

    def set_strokes(self, obj_id: int, frame: int, strokes: list[Stroke], *, key_mask: bool | None = None) -> \
            Keyframe | None:
        """Replace the correction strokes of ``obj_id`` on ``frame`` (``key_mask`` also sets
        whether the keyframe holds a key mask, the base the strokes paint over). A
        keyframe left with no prompts, mask or strokes is removed."""
        self.object(obj_id)
        self._check_frame(frame)
        old = self.keyframe(obj_id, frame)
        mask = (old is not None and old.mask) if key_mask is None else key_mask
        return self._replace_keyframe(Keyframe(obj_id, frame, list(old.prompts) if old else [], mask=mask,
                                               strokes=list(strokes)))

    def add_touchup(self, obj_id: int, first: int, last: int, stroke: Stroke) -> None:
        """Paint ``stroke`` over ``obj_id``'s final matte on frames ``first..last`` (the
        touch-up of exactly that range gets it; a new one is made otherwise)."""
        obj = self.object(obj_id)
        first, last = min(first, last), max(first, last)
        self._check_frame(first)
        self._check_frame(last)
        for touch in obj.touchups:
            if (touch.first, touch.last) == (first, last):
                touch.strokes.append(stroke)
                return
        obj.touchups.append(TouchUp(first, last, [stroke]))

    def clear_touchups(self, obj_id: int, frame: int) -> None:
        """Remove every touch-up of ``obj_id`` that covers ``frame``."""
        obj = self.object(obj_id)
        obj.touchups = [t for t in obj.touchups if not t.covers(frame)]

    def set_absent(self, obj_id: int, first: int, last: int, absent: bool = True) -> None:
        """Mark frames ``first..last`` (indices, inclusive) as out of shot for ``obj_id``
        (``absent=False`` clears them)."""
        obj = self.object(obj_id)
        first, last = min(first, last), max(first, last)
        self._check_frame(first)
        self._check_frame(last)
        if absent:
            obj.absent = merge_ranges([*obj.absent, (first, last)])
            return
        kept: list[tuple[int, int]] = []
        for a, b in obj.absent:
            if a < first:
                kept.append((a, min(b, first - 1)))
            if b > last:
                kept.append((max(a, last + 1), b))
        obj.absent = merge_ranges(kept)

    def _check_frame(self, frame: int) -> None:
        if self.shot is not None and not 0 <= frame < self.shot.frame_count:
            raise ValueError(f"frame index {frame} is outside the shot 0..{self.shot.frame_count - 1}")

    def _replace_keyframe(self, key: Keyframe) -> Keyframe | None:
        self.keyframes = [k for k in self.keyframes if not (k.object_id == key.object_id and k.frame == key.frame)]
        if not key.prompts and not key.mask and not key.strokes:
            return None
        self.keyframes.append(key)
        return key

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "uid": self.uid,
            "store_token": self.store_token,
            "shot": self.shot.to_dict() if self.shot else None,
            "objects": [o.to_dict() for o in self.objects],
            "keyframes": [k.to_dict() for k in sorted(self.keyframes, key=lambda k: (k.object_id, k.frame))],
            "active_object": self.active_object,
            "next_object_id": self.next_object_id,
            "depth_cache": self.depth_cache,
            "settings": self.settings,
        }

    @classmethod
    def from_dict(cls, data: Any, path: str | Path | None = None) -> Project:
        """Build from a dict already upgraded to :data:`SCHEMA_VERSION` (a missing ``uid``
        gets a fresh one; objects without one get one derived from the project's).

        Every entry is checked as it is read: anything that cannot be right (a wrong type,
        a number out of range, a frame outside the shot, a keyframe of no object, a repeated
        id) is a :class:`~sam3roto.errors.ProjectError` naming ``path`` (the project file)
        and where in it the entry is, e.g. ``invalid entry: object 3 'swan': keyframe frame
        must be a whole number, not 1.5``."""
        data = _dict(data, "the project", path)
        uid = _token(data.get("uid") or new_uid(), "uid", path)
        token = data.get("store_token")
        if token is not None:
            token = _token(token, "store_token", path)
        shot = None if data.get("shot") is None else Shot.from_dict(data["shot"], path)
        frame_count = shot.frame_count if shot is not None else None
        objects: list[RotoObject] = []
        labels: dict[int, str] = {}
        uids: dict[str, str] = {}
        for i, item in enumerate(_list(data.get("objects", []), "objects", path)):
            obj = RotoObject.from_dict(item, uid, path=path, where=f"objects[{i}]", frame_count=frame_count)
            label = _label(obj.id, obj.name)
            if obj.id in labels:
                raise _InvalidEntry(f"{label}: id {obj.id} is also {labels[obj.id]}'s (ids are never shared)",
                                    path=path)
            if obj.uid in uids:
                raise _InvalidEntry(f"{label}: uid {obj.uid} is also {uids[obj.uid]}'s", path=path)
            labels[obj.id], uids[obj.uid] = label, label
            objects.append(obj)
        keyframes: list[Keyframe] = []
        seen: set[tuple[int, int]] = set()
        for i, item in enumerate(_list(data.get("keyframes", []), "keyframes", path)):
            key = Keyframe.from_dict(item, path=path, where=f"keyframes[{i}]", objects=labels, shot=shot)
            if (key.object_id, key.frame) in seen:
                raise _InvalidEntry(f"{labels[key.object_id]}: two keyframes on frame index {key.frame}", path=path)
            seen.add((key.object_id, key.frame))
            keyframes.append(key)
        active = data.get("active_object")
        if active is not None:  # naming no object is allowed: then none is active (Document.active)
            active = _whole(active, "active_object", path, 1, MAX_OBJECT_ID)
        highest = max(labels, default=0)
        next_id = _whole(data.get("next_object_id", highest + 1), "next_object_id", path, 1, MAX_OBJECT_ID + 1)
        # ids are never reused: a counter not above every id (a hand edit) moves past them
        next_id = max(next_id, highest + 1)
        depth_cache = data.get("depth_cache")
        if depth_cache is not None:
            depth_cache = _path_text(depth_cache, "depth_cache", path)
        settings = _dict(data.get("settings", {}), "settings", path)
        for section in ("render", "depth"):
            if section in settings:
                _dict(settings[section], f"settings.{section}", path)
        return cls(uid=uid, store_token=token, shot=shot, objects=objects, keyframes=keyframes,
                   active_object=active, next_object_id=next_id, depth_cache=depth_cache, settings=dict(settings))

"""The project model: plain dataclasses with ``to_dict`` / ``from_dict``.

A project is one *Shot* (its media and timing), the *Objects* being rotoscoped, and
their *Keyframes* (the prompts an artist placed on a frame). Masks are not in here:
they live in the on-disk :class:`~sam3roto.core.maskstore.MaskStore` beside the file.
Frames are addressed by frame index into the shot; ``Shot.frame_numbers`` maps an index
to the source's frame number for display and export.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sam3roto.core.types import Prompt, prompt_from_dict

SCHEMA_VERSION = 2


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


def _fraction(text: str | int | float) -> Fraction:
    return Fraction(str(text))


@dataclass
class Shot:
    """The media of a project and how its frames are numbered and timed.

    ``media`` is the path as the user gave it (made relative to the project on save).
    ``in_index``/``out_index`` bound tracking and export (inclusive frame indices).
    ``start_frame``, when set, renumbers exports from that number (1001 on plates).
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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shot:
        return cls(
            media=str(data["media"]), frame_count=int(data["frame_count"]), fps=_fraction(data["fps"]),
            width=int(data["width"]), height=int(data["height"]),
            frame_numbers=[int(n) for n in data["frame_numbers"]], in_index=int(data.get("in_index", 0)),
            out_index=None if data.get("out_index") is None else int(data["out_index"]),
            start_frame=None if data.get("start_frame") is None else int(data["start_frame"]),
        )


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

    def to_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "uid": self.uid, "name": self.name, "color": list(self.color),
                "visible": self.visible, "post": dict(self.post)}
        if self.absent:
            data["absent"] = [list(r) for r in self.absent]
        return data

    def is_absent(self, frame: int) -> bool:
        return any(a <= frame <= b for a, b in self.absent)

    @classmethod
    def from_dict(cls, data: dict[str, Any], project_uid: str | None = None) -> RotoObject:
        """``project_uid`` derives a stable ``uid`` for objects saved without one."""
        r, g, b = (int(c) for c in data["color"])
        post = data.get("post", {})
        if not isinstance(post, dict):
            raise ValueError(f"object {data.get('name')!r}: post settings must be a JSON object")
        obj_id = int(data["id"])
        uid = data.get("uid")
        if uid is None:
            uid = derived_uid(project_uid, f"object:{obj_id}") if project_uid else new_uid()
        elif not isinstance(uid, str) or not uid:
            raise ValueError(f"object {data.get('name')!r}: uid must be a non-empty string")
        return cls(id=obj_id, name=str(data["name"]), color=(r, g, b),
                   visible=bool(data.get("visible", True)), post=dict(post), uid=uid,
                   absent=parse_ranges(data.get("absent", []), f"object {data.get('name')!r}: absent"))


def parse_ranges(value: Any, where: str) -> list[tuple[int, int]]:
    """``[[first, last], ...]`` (integers, first <= last) as sorted, merged tuples;
    ``ValueError`` naming ``where`` otherwise."""
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list of [first, last] pairs, got {value!r}")
    out: list[tuple[int, int]] = []
    for item in value:
        if not (isinstance(item, list | tuple) and len(item) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
            raise ValueError(f"{where}: each range must be [first, last] (integers), got {item!r}")
        a, b = int(item[0]), int(item[1])
        if a > b or a < 0:
            raise ValueError(f"{where}: range [{a}, {b}] must have 0 <= first <= last")
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

    def to_dict(self) -> dict[str, Any]:
        data = {"object_id": self.object_id, "frame": self.frame, "prompts": [p.to_dict() for p in self.prompts]}
        if self.mask:
            data["mask"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Keyframe:
        return cls(object_id=int(data["object_id"]), frame=int(data["frame"]),
                   prompts=[prompt_from_dict(p) for p in data.get("prompts", [])], mask=bool(data.get("mask", False)))


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
        """Create an object with a fresh id, make it active and return it."""
        obj_id = self.next_object_id
        self.next_object_id += 1
        obj = RotoObject(id=obj_id, name=name or f"object{obj_id}",
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
        return self._replace_keyframe(Keyframe(obj_id, frame, list(prompts), mask=old is not None and old.mask))

    def set_key_mask(self, obj_id: int, frame: int, present: bool = True) -> Keyframe | None:
        """Mark (or unmark) ``obj_id``'s key mask on ``frame``; the mask itself goes to the
        mask store's key masks. A keyframe with neither prompts nor mask is removed."""
        self.object(obj_id)
        self._check_frame(frame)
        old = self.keyframe(obj_id, frame)
        return self._replace_keyframe(Keyframe(obj_id, frame, list(old.prompts) if old else [], mask=present))

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
        if not key.prompts and not key.mask:
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
    def from_dict(cls, data: dict[str, Any]) -> Project:
        """Build from a dict already upgraded to :data:`SCHEMA_VERSION` (a missing ``uid``
        gets a fresh one; objects without one get one derived from the project's)."""
        uid = data.get("uid") or new_uid()
        if not isinstance(uid, str):
            raise ValueError(f"uid must be a string, got {uid!r}")
        token = data.get("store_token")
        if token is not None and not isinstance(token, str):
            raise ValueError(f"store_token must be a string, got {token!r}")
        objects = [RotoObject.from_dict(o, uid) for o in data.get("objects", [])]
        return cls(
            uid=uid, store_token=token,
            shot=Shot.from_dict(data["shot"]) if data.get("shot") else None,
            objects=objects,
            keyframes=[Keyframe.from_dict(k) for k in data.get("keyframes", [])],
            active_object=data.get("active_object"),
            next_object_id=int(data.get("next_object_id", max((o.id for o in objects), default=0) + 1)),
            depth_cache=data.get("depth_cache"),
            settings=dict(data.get("settings", {})),
        )

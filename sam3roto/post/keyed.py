"""Matte settings keyed over a shot: values on keyed frames, linear in between.

An object's ``post`` holds its settings; ``post_keys`` (frame index -> settings, see
:class:`~sam3roto.core.project.RotoObject`) keys them over the shot. On a frame between
two keys every number is interpolated linearly (whole-number settings rounded); choices,
switches and threshold stages hold the value of the key before (a step, as a compositor's
constant keys). Before the first key the first key's values hold, after the last the
last's. Without keys ``post`` applies everywhere. Threshold stages interpolate their
``low``/``high`` too when both keys have the same stages (channel, op, invert).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, fields
from typing import Any

from sam3roto.post.settings import PostSettings
from sam3roto.post.sources import ThresholdStage

#: Settings whose value is a number (interpolated); the rest step.
_NUMBERS = tuple(f.name for f in fields(PostSettings)
                 if f.type in ("int", "float") or f.type in (int, float))
_WHOLE = tuple(f.name for f in fields(PostSettings) if f.type in ("int", int))


def _lerp_stages(a: tuple[ThresholdStage, ...], b: tuple[ThresholdStage, ...], t: float) -> tuple[ThresholdStage, ...]:
    if len(a) != len(b) or any((x.channel, x.op, x.invert) != (y.channel, y.op, y.invert) for x, y in zip(a, b,
                                                                                                         strict=True)):
        return a
    out = []
    for x, y in zip(a, b, strict=True):
        low = x.low + (y.low - x.low) * t
        high = max(low, x.high + (y.high - x.high) * t)
        out.append(ThresholdStage(channel=x.channel, low=low, high=high, invert=x.invert, op=x.op))
    return tuple(out)


def interpolate(a: PostSettings, b: PostSettings, t: float) -> PostSettings:
    """Settings ``t`` of the way (0-1) from ``a`` to ``b``: numbers linear (whole ones
    rounded), the rest from ``a`` (``b`` when ``t`` is 1)."""
    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    changes: dict[str, Any] = {}
    for name in _NUMBERS:
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            value = va + (vb - va) * t
            changes[name] = math.floor(value + 0.5) if name in _WHOLE else float(value)
    stages = _lerp_stages(a.thresholds, b.thresholds, t)
    if stages != a.thresholds:
        changes["thresholds"] = stages
    return a.with_values(**changes) if changes else a


@dataclass(frozen=True)
class KeyedPost:
    """One object's post settings over the shot: :meth:`at` gives a frame's."""

    base: PostSettings
    keys: tuple[tuple[int, PostSettings], ...] = ()

    @classmethod
    def from_dicts(cls, post: dict[str, Any], keys: dict[int, dict[str, Any]] | None = None) -> KeyedPost:
        """From an object's ``post`` and ``post_keys``; ``ValueError``/``TypeError`` naming
        the keyed frame whose settings are wrong (as ``PostSettings.from_dict``)."""
        base = PostSettings.from_dict(post)
        parsed = []
        for frame in sorted(keys or {}, key=int):
            try:
                parsed.append((int(frame), PostSettings.from_dict(keys[frame])))  # type: ignore[index]
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"matte settings keyed on frame index {frame}: {exc}") from None
        return cls(base, tuple(parsed))

    @classmethod
    def of(cls, obj: Any) -> KeyedPost:
        """An object's (anything with ``post`` and ``post_keys``)."""
        return cls.from_dicts(obj.post, getattr(obj, "post_keys", None))

    @property
    def keyed(self) -> bool:
        return bool(self.keys)

    @property
    def frames(self) -> list[int]:
        return [f for f, _ in self.keys]

    def at(self, frame: int) -> PostSettings:
        """The settings on frame index ``frame``."""
        if not self.keys:
            return self.base
        frames = self.frames
        i = bisect.bisect_right(frames, frame)
        if i == 0:
            return self.keys[0][1]
        if i == len(frames):
            return self.keys[-1][1]
        (f0, a), (f1, b) = self.keys[i - 1], self.keys[i]
        return interpolate(a, b, (frame - f0) / (f1 - f0))

    def every(self) -> list[PostSettings]:
        """Every distinct setting in use (the base, or each key): what a render checks once."""
        return [s for _, s in self.keys] or [self.base]

    @property
    def uses_neighbours(self) -> bool:
        return any(s.uses_neighbours for s in self.every())

    @property
    def changes_rgb(self) -> bool:
        return any(s.changes_rgb for s in self.every())

    @property
    def uses_depth(self) -> bool:
        return any(s.depth_mode != "off" for s in self.every())

    def to_dict(self) -> dict[str, Any]:
        """The base settings' dict, with ``"keys": {frame: settings}`` when keyed (manifests)."""
        out = self.base.to_dict()
        if self.keys:
            out["keys"] = {str(f): s.to_dict() for f, s in self.keys}
        return out

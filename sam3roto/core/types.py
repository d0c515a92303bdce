"""Value types shared by every layer.

Coordinates are source pixels (x right, y down, origin at the top-left corner of the
top-left pixel). A *Mask* is ``bool (H, W)``; a *Matte* is ``float32 (H, W)`` in [0, 1].
Time is an integer frame index into the shot plus ``fps`` as a :class:`fractions.Fraction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sam3roto.errors import InvalidPromptError


@dataclass(frozen=True)
class PointPrompt:
    """A click: ``positive`` True for foreground (+), False for background (-)."""

    x: float
    y: float
    positive: bool = True

    def validate(self, width: int, height: int) -> None:
        """Raise :class:`InvalidPromptError` when the point lies outside a ``width`` x ``height`` frame."""
        if not (0 <= self.x < width and 0 <= self.y < height):
            raise InvalidPromptError(
                f"point ({self.x:g}, {self.y:g}) lies outside the {width}x{height} frame"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "point", "x": self.x, "y": self.y, "positive": self.positive}


@dataclass(frozen=True)
class BoxPrompt:
    """A box ``(x0, y0)``-``(x1, y1)`` in source pixels, corners in any order."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def xyxy_px(self) -> tuple[float, float, float, float]:
        """The box with ``x0 <= x1`` and ``y0 <= y1``."""
        return (min(self.x0, self.x1), min(self.y0, self.y1), max(self.x0, self.x1), max(self.y0, self.y1))

    def validate(self, width: int, height: int) -> None:
        """Raise :class:`InvalidPromptError` for an empty box or one that misses the frame."""
        x0, y0, x1, y1 = self.xyxy_px
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise InvalidPromptError(f"box ({x0:g}, {y0:g})-({x1:g}, {y1:g}) is empty (less than 1 px wide or high)")
        if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
            raise InvalidPromptError(f"box ({x0:g}, {y0:g})-({x1:g}, {y1:g}) lies outside the {width}x{height} frame")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "box", "x0": self.x0, "y0": self.y0, "x1": self.x1, "y1": self.y1}


#: Longest text prompt (a concept is a few words; a project file admits no longer ones).
MAX_TEXT_CHARS = 10_000


@dataclass(frozen=True)
class TextPrompt:
    """A concept to find, e.g. ``"person"``; every instance found becomes an object."""

    text: str

    def validate(self, width: int, height: int) -> None:
        """Raise :class:`InvalidPromptError` for blank text or text over
        :data:`MAX_TEXT_CHARS` (what a project file admits)."""
        if not self.text.strip():
            raise InvalidPromptError("text prompt is empty")
        if len(self.text) > MAX_TEXT_CHARS:
            raise InvalidPromptError(f"text prompt is {len(self.text)} characters long, over the limit of "
                                     f"{MAX_TEXT_CHARS}", hint="describe the object in a few words")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "text", "text": self.text}


Prompt = PointPrompt | BoxPrompt | TextPrompt


def prompt_from_dict(data: dict[str, Any]) -> Prompt:
    """Inverse of ``Prompt.to_dict``; raises ``ValueError`` naming an unknown kind."""
    kind = data.get("kind")
    if kind == "point":
        return PointPrompt(float(data["x"]), float(data["y"]), bool(data.get("positive", True)))
    if kind == "box":
        return BoxPrompt(float(data["x0"]), float(data["y0"]), float(data["x1"]), float(data["y1"]))
    if kind == "text":
        return TextPrompt(str(data["text"]))
    raise ValueError(f"unknown prompt kind {kind!r}; expected 'point', 'box' or 'text'")

"""The post settings of one object: one frozen dataclass, validated on construction,
round-tripped through plain dicts for project files and the command line."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from sam3roto.post.checks import check_choice, check_range
from sam3roto.post.matte import MAX_AREA_PX, MAX_RADIUS_PX, REFINE_METHODS
from sam3roto.post.rgb import DESPILL_MODES, EDGE_EXTEND_METHODS
from sam3roto.post.sources import ThresholdStage
from sam3roto.post.vitmatte import DEFAULT_MODEL_ID as VITMATTE_MODEL_ID

DEPTH_MODES = ("off", "replace", "intersect", "union")


@dataclass(frozen=True)
class PostSettings:
    """Everything between an engine's mask and a rendered frame, in the order applied.

    Mask sources: ``thresholds`` (stages applied inside the object's mask), ``depth_mode``
    (combine the mask with the Otsu depth foreground). Cleanup: ``fill_holes_px`` and
    ``remove_dots_px`` (areas, px^2), ``border_fix_px``, ``grow_px`` (negative shrinks).
    Edges: ``refine_band_px`` (trimap band, 0 = off), ``refine_method``,
    ``refine_softness``, ``refine_model`` (the ViTMatte checkpoint of the ``"vitmatte"``
    method: a Hugging Face model id or a folder), ``feather_px``. Time: ``temporal_pct``
    (0-100), ``motion_blur_shutter`` (fraction of a frame, 0 = off). RGB: ``despill``,
    ``despill_strength``, ``luminance_restore``, ``edge_extend``, ``premultiply``.
    Every default leaves the mask as it is.
    """

    thresholds: tuple[ThresholdStage, ...] = field(default_factory=tuple)
    depth_mode: str = "off"
    depth_near_is_large: bool = False
    fill_holes_px: int = 0
    remove_dots_px: int = 0
    border_fix_px: int = 0
    grow_px: int = 0
    refine_band_px: int = 0
    refine_method: str = "guided"
    refine_softness: float = 0.5
    refine_model: str = VITMATTE_MODEL_ID
    feather_px: float = 0.0
    temporal_pct: float = 0.0
    motion_blur_shutter: float = 0.0
    despill: str = "off"
    despill_strength: float = 1.0
    luminance_restore: float = 0.0
    edge_extend: str = "off"
    premultiply: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", tuple(self.thresholds))
        for stage in self.thresholds:
            if not isinstance(stage, ThresholdStage):
                raise TypeError(f"thresholds must hold ThresholdStage, got {type(stage).__name__}")
        check_choice("depth_mode", self.depth_mode, DEPTH_MODES)
        check_range("fill_holes_px", self.fill_holes_px, 0, MAX_AREA_PX, integer=True)
        check_range("remove_dots_px", self.remove_dots_px, 0, MAX_AREA_PX, integer=True)
        check_range("border_fix_px", self.border_fix_px, 0, MAX_RADIUS_PX, integer=True)
        check_range("grow_px", self.grow_px, -MAX_RADIUS_PX, MAX_RADIUS_PX, integer=True)
        check_range("refine_band_px", self.refine_band_px, 0, MAX_RADIUS_PX, integer=True)
        check_choice("refine_method", self.refine_method, REFINE_METHODS)
        check_range("refine_softness", self.refine_softness, 0.0, 1.0)
        if not isinstance(self.refine_model, str):
            raise TypeError(f"refine_model must be a model id or a folder (text), not {_kind(self.refine_model)}")
        if not self.refine_model.strip():
            raise ValueError("refine_model must be a model id or a folder, not empty")
        check_range("feather_px", self.feather_px, 0.0, MAX_RADIUS_PX)
        check_range("temporal_pct", self.temporal_pct, 0.0, 100.0)
        check_range("motion_blur_shutter", self.motion_blur_shutter, 0.0, 2.0)
        check_choice("despill", self.despill, ("off", *DESPILL_MODES))
        check_range("despill_strength", self.despill_strength, 0.0, 1.0)
        check_range("luminance_restore", self.luminance_restore, 0.0, 1.0)
        check_choice("edge_extend", self.edge_extend, ("off", *EDGE_EXTEND_METHODS))
        for name in ("depth_near_is_large", "premultiply"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be true or false, got {getattr(self, name)!r}")

    @property
    def uses_neighbours(self) -> bool:
        """Whether a frame's result depends on its neighbouring frames."""
        return self.temporal_pct > 0 or self.motion_blur_shutter > 0

    @property
    def changes_rgb(self) -> bool:
        return self.despill != "off" or self.edge_extend != "off" or self.premultiply

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = [s.to_dict() for s in value] if f.name == "thresholds" else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PostSettings:
        """Settings from a dict; unknown keys are an error naming them (a typo must not be
        silently ignored on a farm render)."""
        if not isinstance(data, dict):
            raise TypeError(f"post settings must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown post settings: {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
        values = dict(data)
        if "thresholds" in values:
            stages = values["thresholds"]
            if not isinstance(stages, list | tuple):
                raise TypeError("thresholds must be a list of stages")
            parsed = []
            for n, stage in enumerate(stages, start=1):
                if isinstance(stage, ThresholdStage):
                    parsed.append(stage)
                elif not isinstance(stage, dict):
                    raise TypeError(f"thresholds: stage {n} must be a JSON object "
                                    '({"channel", "low", "high", "invert", "op"}), not ' + _kind(stage))
                elif not isinstance(stage.get("invert", False), bool):
                    raise TypeError(f"thresholds: stage {n}: invert must be true or false, not "
                                    + _kind(stage["invert"]))
                else:
                    try:
                        parsed.append(ThresholdStage.from_dict(stage))
                    except (TypeError, ValueError) as exc:
                        raise type(exc)(f"thresholds: stage {n}: {exc}") from None
            values["thresholds"] = tuple(parsed)
        return cls(**values)

    def with_values(self, **changes: Any) -> PostSettings:
        """A copy with some values changed (validated)."""
        return replace(self, **changes)


def _kind(value: object) -> str:
    """What ``value`` is, for a message: ``a list``, ``3``, ``"x"``."""
    if isinstance(value, list | tuple | dict):
        return "a list" if not isinstance(value, dict) else "a JSON object"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"grow_px=3"`` -> ``("grow_px", 3)``: the value is read as JSON when it parses
    (numbers, true/false, lists), else as a plain string (``despill=green``)."""
    import json

    if "=" not in text:
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    name, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip(), value

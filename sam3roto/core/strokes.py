"""Hand corrections: brush strokes and filled shapes, kept as vectors in source pixels.

A :class:`Stroke` is what the artist drew: a brush path (points, a radius, a softness
and, from a tablet, a pressure per point) or a closed shape (a polygon or lasso), each
adding to or subtracting from a mask. Strokes are resolution independent (source pixel
coordinates, rasterised on demand at any size) and live in the project:

* **corrections** on a keyframe (``Keyframe.strokes``) edit the mask tracking anchors on;
* **touch-ups** (``RotoObject.touchups``, :class:`TouchUp`) paint over the final matte
  after post on one frame or a range, without re-tracking.

Rasterising is OpenCV: hard edges drawn supersampled and averaged down (anti-aliased,
the true area), softness as a linear falloff in the distance to the edge (a distance
transform); :func:`apply_to_mask` gives a ``bool`` mask (the hard edge where coverage is
one half, drawn directly), :func:`apply_to_matte` a ``float32`` matte in [0, 1]. Bounds
checks keep a hostile project file from asking for millions of points
(:data:`MAX_STROKE_POINTS`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

KINDS = ("brush", "shape")
MODES = ("add", "subtract")
#: Most points one stroke may hold (a long, slow stroke at 1000 Hz for a minute).
MAX_STROKE_POINTS = 100_000
#: Most strokes on one keyframe or touch-up (far beyond any hand correction).
MAX_STROKES = 10_000
#: Brush radius range in source pixels.
MIN_RADIUS_PX, MAX_RADIUS_PX = 0.5, 2048.0
#: Sub-pixel precision of rasterised points (OpenCV ``shift``): 1/16 px.
_SHIFT = 4
#: Most pixels of the supersampled canvas of a hard stroke (see :func:`coverage`).
_FINE_PIXELS = 1 << 22


@dataclass(frozen=True)
class Stroke:
    """A brush path (``kind="brush"``) or a closed shape (``kind="shape"``) that adds to
    (``mode="add"``) or subtracts from (``"subtract"``) a mask, in source pixels.

    ``radius`` is the brush radius at full pressure; ``softness`` (0-1) is the share of
    the radius that fades out, from the edge inwards (0: a hard edge; shapes feather
    across their edge by ``softness * radius``). ``pressure`` is one value in (0, 1] per
    point, scaling the radius there (empty: full pressure everywhere)."""

    kind: str
    mode: str
    points: tuple[tuple[float, float], ...]
    radius: float = 8.0
    softness: float = 0.0
    pressure: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", tuple((float(x), float(y)) for x, y in self.points))
        object.__setattr__(self, "pressure", tuple(float(p) for p in self.pressure))
        problem = self.problem()
        if problem:
            raise ValueError(problem)

    def problem(self) -> str | None:
        """What is wrong with this stroke, or None."""
        if self.kind not in KINDS:
            return f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}"
        if self.mode not in MODES:
            return f"mode must be one of {', '.join(MODES)}, not {self.mode!r}"
        if not self.points:
            return "a stroke needs at least one point"
        if len(self.points) > MAX_STROKE_POINTS:
            return f"{len(self.points)} points, over the limit of {MAX_STROKE_POINTS}"
        if self.kind == "shape" and len(self.points) < 3:
            return f"a shape needs at least 3 points, not {len(self.points)}"
        if not all(math.isfinite(v) and abs(v) < 2**24 for p in self.points for v in p):
            return "point coordinates must be finite numbers within 16,777,216 px of the frame"
        if not (math.isfinite(self.radius) and MIN_RADIUS_PX <= self.radius <= MAX_RADIUS_PX):
            return f"radius must be {MIN_RADIUS_PX:g} to {MAX_RADIUS_PX:g} px, not {self.radius!r}"
        if not (math.isfinite(self.softness) and 0.0 <= self.softness <= 1.0):
            return f"softness must be 0 to 1, not {self.softness!r}"
        if self.pressure and len(self.pressure) != len(self.points):
            return f"pressure has {len(self.pressure)} values for {len(self.points)} points"
        if not all(math.isfinite(p) and 0.0 < p <= 1.0 for p in self.pressure):
            return "pressure values must lie in (0, 1]"
        return None

    @property
    def adds(self) -> bool:
        return self.mode == "add"

    def bounds(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` covering every pixel the stroke may touch (feather included)."""
        pts = np.asarray(self.points, np.float64)
        pad = self.radius + 2.0 if self.kind == "brush" else self.radius * self.softness + 2.0
        return (float(pts[:, 0].min() - pad), float(pts[:, 1].min() - pad),
                float(pts[:, 0].max() + pad), float(pts[:, 1].max() + pad))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "mode": self.mode,
                                "points": [[round(x, 3), round(y, 3)] for x, y in self.points]}
        if self.kind == "brush" or self.softness:
            data["radius"] = round(self.radius, 3)
        if self.softness:
            data["softness"] = round(self.softness, 4)
        if self.pressure:
            data["pressure"] = [round(p, 4) for p in self.pressure]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Stroke:
        """Inverse of :meth:`to_dict`; ``ValueError`` saying what is wrong otherwise (the
        caller names the file and the entry)."""
        if not isinstance(data, dict):
            raise ValueError("a stroke must be a JSON object")
        unknown = set(data) - {"kind", "mode", "points", "radius", "softness", "pressure"}
        if unknown:
            raise ValueError(f"unknown stroke fields: {', '.join(sorted(unknown))}")
        points = data.get("points")
        if not isinstance(points, list):
            raise ValueError("points must be a list of [x, y] pairs")
        if len(points) > MAX_STROKE_POINTS:
            raise ValueError(f"{len(points)} points, over the limit of {MAX_STROKE_POINTS}")
        pairs = []
        for n, p in enumerate(points):
            if not (isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p)):
                raise ValueError(f"points[{n}] must be [x, y] numbers")
            pairs.append((float(p[0]), float(p[1])))
        pressure = data.get("pressure", [])
        if not isinstance(pressure, list) or not all(_is_number(v) for v in pressure):
            raise ValueError("pressure must be a list of numbers")
        for name in ("radius", "softness"):
            if name in data and not _is_number(data[name]):
                raise ValueError(f"{name} must be a number")
        kind, mode = data.get("kind"), data.get("mode", "add")
        if not isinstance(kind, str) or not isinstance(mode, str):
            raise ValueError("kind and mode must be strings")
        return cls(kind=kind, mode=mode, points=tuple(pairs), radius=float(data.get("radius", 8.0)),
                   softness=float(data.get("softness", 0.0)), pressure=tuple(float(v) for v in pressure))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def strokes_from_list(data: Any) -> list[Stroke]:
    """A JSON list of strokes; ``ValueError`` naming the stroke that is wrong."""
    if not isinstance(data, list):
        raise ValueError("strokes must be a list")
    if len(data) > MAX_STROKES:
        raise ValueError(f"{len(data)} strokes, over the limit of {MAX_STROKES}")
    out = []
    for n, item in enumerate(data):
        try:
            out.append(Stroke.from_dict(item))
        except ValueError as exc:
            raise ValueError(f"stroke {n + 1}: {exc}") from None
    return out


@dataclass
class TouchUp:
    """Strokes painted over an object's final matte (after post) on frames ``first`` to
    ``last`` (indices, inclusive): no re-tracking, what MatteDesk calls Final Touch."""

    first: int
    last: int
    strokes: list[Stroke] = field(default_factory=list)

    def covers(self, frame: int) -> bool:
        return self.first <= frame <= self.last

    def to_dict(self) -> dict[str, Any]:
        return {"first": self.first, "last": self.last, "strokes": [s.to_dict() for s in self.strokes]}


def touchups_at(touchups: Iterable[TouchUp], frame: int) -> list[Stroke]:
    """The touch-up strokes that apply on ``frame``, in the order painted (ranges in the
    order they were made)."""
    return [s for t in touchups if t.covers(frame) for s in t.strokes]


# -- rasterising -------------------------------------------------------------------------


def coverage(stroke: Stroke, shape: tuple[int, int], *, scale: float = 1.0,
             offset: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The stroke's coverage, ``float32`` in [0, 1], over the bounding box it touches in
    an image of ``shape`` (H, W) whose pixel ``(i, j)`` is source point
    ``((j + 0.5) / scale + offset_x, ...)``: ``(alpha, (x0, y0, x1, y1))``, or None when it
    misses the image. ``scale`` and ``offset`` rasterise for a display crop.

    The hard shape (discs of the radius, scaled by pressure, joined by tapered segments;
    or the polygon) covers the pixels whose centres it holds. Softness fades a brush from
    its full radius inwards, over ``softness * radius`` (the centre line stays at full
    strength), and a shape across its edge over ``softness * radius``, both linear in the
    distance to the edge. The raster reaches a little beyond the image (by the feather), so
    a stroke is as strong at the frame's edge, or a crop's, as inside."""
    import cv2  # (OpenCV loads with the first stroke: project files import this module)

    h, w = shape
    ox, oy = offset
    bx0, by0, bx1, by1 = stroke.bounds()
    feather = stroke.radius * stroke.softness * scale
    pad = math.ceil(feather) + 2
    cx0 = max(-pad, math.floor((bx0 - ox) * scale))
    cy0 = max(-pad, math.floor((by0 - oy) * scale))
    cx1 = min(w + pad, math.ceil((bx1 - ox) * scale) + 1)
    cy1 = min(h + pad, math.ceil((by1 - oy) * scale) + 1)
    x0, y0, x1, y1 = max(cx0, 0), max(cy0, 0), min(cx1, w), min(cy1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    size = (cy1 - cy0, cx1 - cx0)
    pts = (np.asarray(stroke.points, np.float64) - (ox, oy)) * scale - (cx0, cy0) - 0.5
    if feather < 0.5:
        # a hard edge: drawn at up to 8x (less on a large canvas: at most 4 M pixels) and
        # averaged down, so the rim is anti-aliased and the area the true one
        ss = next(f for f in (8, 4, 2, 1) if f == 1 or size[0] * size[1] * f * f <= _FINE_PIXELS)
        fine = _draw(stroke, (pts + 0.5) * ss - 0.5, (size[0] * ss, size[1] * ss), scale * ss)
        if ss > 1:
            fine = cv2.resize(fine, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        alpha = fine.astype(np.float32) * np.float32(1.0 / 255.0)
    else:
        canvas = _draw(stroke, pts, size, scale)
        inside = cv2.distanceTransform(canvas, cv2.DIST_L2, cv2.DIST_MASK_5)
        if stroke.kind == "brush":
            alpha = np.clip(inside / np.float32(feather), 0.0, 1.0)
        else:
            outside = cv2.distanceTransform(np.uint8(255) - canvas, cv2.DIST_L2, cv2.DIST_MASK_5)
            signed = np.where(canvas > 0, inside - 0.5, 0.5 - outside)
            alpha = np.clip(0.5 + signed / np.float32(feather), 0.0, 1.0)
    crop = np.ascontiguousarray(alpha[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0], dtype=np.float32)
    return crop, (x0, y0, x1, y1)


def _draw(stroke: Stroke, pts: np.ndarray, size: tuple[int, int], scale: float) -> np.ndarray:
    """The hard stroke, 255 on the pixels whose centres it holds, on a ``size`` canvas
    where ``pts`` are its points in pixel units and ``scale`` turns radii into them."""
    import cv2

    canvas = np.zeros(size, np.uint8)
    unit = 1 << _SHIFT
    fixed = np.round(pts * unit).astype(np.int32)
    if stroke.kind == "shape":
        cv2.fillPoly(canvas, [fixed], 255, cv2.LINE_8, _SHIFT)
        return canvas
    pressures = stroke.pressure or (1.0,) * len(stroke.points)
    radii = [max(0.5, stroke.radius * p * scale) for p in pressures]
    for n, (pt, r) in enumerate(zip(pts, radii, strict=True)):
        cv2.circle(canvas, (int(fixed[n][0]), int(fixed[n][1])), round(r * unit), 255, -1, cv2.LINE_8, _SHIFT)
        if n:  # the segment from the previous point, tapering from its radius to this one's
            prev, r0 = pts[n - 1], radii[n - 1]
            d = pt - prev
            length = math.hypot(d[0], d[1])
            if length > 1e-6:
                normal = np.array([-d[1], d[0]]) / length
                quad = np.array([prev + normal * r0, pt + normal * r, pt - normal * r, prev - normal * r0])
                cv2.fillConvexPoly(canvas, np.round(quad * unit).astype(np.int32), 255, cv2.LINE_8, _SHIFT)
    return canvas


def apply_to_matte(matte: np.ndarray, strokes: Sequence[Stroke], *, scale: float = 1.0,
                   offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """``float32`` matte with ``strokes`` painted over it in order: ``add`` raises the
    matte towards 1 by the stroke's coverage, ``subtract`` lowers it towards 0. A copy:
    ``matte`` is not changed."""
    out = np.array(matte, dtype=np.float32, copy=True)
    for stroke in strokes:
        got = coverage(stroke, out.shape[:2], scale=scale, offset=offset)
        if got is None:
            continue
        alpha, (x0, y0, x1, y1) = got
        region = out[y0:y1, x0:x1]
        if stroke.adds:
            region += (1.0 - region) * alpha
        else:
            region *= 1.0 - alpha
    return out


def apply_to_mask(mask: np.ndarray | None, strokes: Sequence[Stroke], shape: tuple[int, int]) -> np.ndarray:
    """``bool (H, W)`` mask with ``strokes`` painted over it in order (a pixel is in when
    its coverage reaches one half: a soft brush's hard edge lies half its feather inside
    its radius; a shape's stays on the polygon). ``mask``
    None starts from an empty one. A copy: ``mask`` is not changed."""
    out = np.zeros(shape, bool) if mask is None else np.array(mask, dtype=bool, copy=True)
    if out.shape != tuple(shape):
        raise ValueError(f"mask is {out.shape[1]}x{out.shape[0]}, the frame {shape[1]}x{shape[0]}")
    for stroke in strokes:
        got = coverage(hard_edge(stroke), shape)
        if got is None:
            continue
        alpha, (x0, y0, x1, y1) = got
        if stroke.adds:
            out[y0:y1, x0:x1] |= alpha >= 0.5
        else:
            out[y0:y1, x0:x1] &= alpha < 0.5
    return out


def hard_edge(stroke: Stroke) -> Stroke:
    """The hard stroke whose edge is ``stroke``'s half-coverage line: a soft brush's lies
    half its feather inside its radius, a soft shape's on the polygon (no distance
    transform needed for a mask)."""
    if stroke.softness == 0:
        return stroke
    radius = max(MIN_RADIUS_PX, stroke.radius * (1 - stroke.softness / 2)) if stroke.kind == "brush" else stroke.radius
    return Stroke(stroke.kind, stroke.mode, stroke.points, radius=radius, pressure=stroke.pressure)

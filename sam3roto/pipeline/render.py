"""The render job: for every frame, read each object's mask, run the object's post
settings, and hand the result to every requested exporter (render = post + write).

* Output goes to a new version folder ``ROOT/v001``, ``v002``... built under a hidden
  staging name and published only when complete, so earlier versions are never touched
  and a cancelled or failed render leaves nothing behind.
* Sequence exporters (PNG, EXR) write frames in parallel on a thread pool (their
  encoders release the GIL); movie and archive exporters get frames in order.
* Post that looks at neighbouring frames (temporal smoothing, motion blur) is fed one
  frame of context on each side of the rendered range, so rendering a shot in chunks
  (a farm) gives the same files as rendering it whole.
* A ``manifest.json`` in the version folder records the frames, objects, post settings,
  options and every file written.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sam3roto import __version__
from sam3roto.core.depthcache import DepthCache, known_depth
from sam3roto.core.jobs import CancelToken, Job, Progress
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.pixels import COMBINE_OPS
from sam3roto.core.project import Project, RotoObject
from sam3roto.errors import RUN_DEPTH_HINT, Hint, Sam3RotoError
from sam3roto.export.base import DepthPlan, Exporter, FrameOutput, ObjectOut, RenderPlan
from sam3roto.export.depth import DEPTH_ENCODINGS
from sam3roto.export.exr import EXR_COMPRESSIONS
from sam3roto.export.ffmpeg import check_ffmpeg, find_ffmpeg
from sam3roto.export.maskzip import ZIP_MODES
from sam3roto.export.naming import (
    PART_MANIFEST,
    discard_staging,
    file_token,
    frame_padding,
    layer_name,
    merge_part,
    part_manifests,
    publish_version,
    reserve_part,
    reserve_version,
    settle_parts,
    unique,
    version_name,
    write_error,
    write_manifest,
)
from sam3roto.export.registry import exporter_class
from sam3roto.geometry.pointcloud import KEEP_CHOICES
from sam3roto.media.cache import CachedReader
from sam3roto.media.colour import ColourConfig, ColourSource, Converter, load_config, output_spaces, plates_of
from sam3roto.media.source import FrameSource
from sam3roto.pipeline.post import RefineModels
from sam3roto.post import PostResult, apply_sequence
from sam3roto.post.keyed import KeyedPost
from sam3roto.post.stack import finish_rgb

#: Outputs that write RGB, and how they hold it (``media.colour.RGB_KINDS``): EXR's half
#: floats hold values beyond [0, 1]; the others are 8/10/16-bit and get display-referred
#: RGB, ProRes in Rec.709 as its tags say (``media.colour.output_spaces``). ``exr``
#: writes RGB only with ``exr_rgb``. Mattes, masks, depth and normals are data.
RGB_OUTPUTS: dict[str, str] = {"exr": "float", "png-rgba": "display", "prores": "rec709", "postshot": "display",
                               "ply": "display"}
#: Outputs that write each object's cleaned-up RGB (``FrameOutput.rgb``); the others that
#: write RGB write the plate itself (``FrameOutput.image``).
OBJECT_RGB_OUTPUTS = ("png-rgba", "prores")


@dataclass(frozen=True)
class RenderOptions:
    """What to render. ``objects``: object ids (None: every visible object). ``combine``:
    ids merged into combined mattes, Postshot alpha and the composited mask ZIP (None: the
    rendered objects), by ``combine_op``: union, intersection, difference (the first object
    minus the others) or xor of their mattes. ``indices``: frame indices (None: the shot's in/out range).
    ``start_frame``: number of the first rendered frame (None: the shot's start frame if
    set, else the source frame numbers). ``workers``: write threads (0: one per core).
    ``depth_encoding`` and ``ply_*``: see :class:`sam3roto.export.base.DepthPlan`.
    ``part``: a farm task: write ``indices`` into ``version``'s shared staging folder
    beside other tasks; :func:`publish_parts` publishes the version when all are done.
    ``output_colorspace``: the OpenColorIO colour space RGB outputs are written in (None:
    each output's default, see :func:`sam3roto.media.colour.output_spaces`)."""

    outputs: tuple[str, ...] = ("png-alpha",)
    objects: tuple[int, ...] | None = None
    combine: tuple[int, ...] | None = None
    combine_op: str = "union"
    name: str | None = None
    bit_depth: int = 16
    exr_compression: str = "zip"
    exr_rgb: bool = False
    zip_mode: str = "single"
    depth_encoding: str = "inverse"
    ply_keep: str = "all"
    ply_stride: int = 4
    ply_min_confidence: float = 0.0
    ply_max_points: int = 2_000_000
    start_frame: int | None = None
    indices: tuple[int, ...] | None = None
    version: int | None = None
    workers: int = 0
    part: bool = False
    output_colorspace: str | None = None

    #: Longest ``name`` (it starts every file name; file names stop at 255 bytes).
    MAX_NAME_CHARS = 100
    #: Most write threads and highest version number a render takes.
    MAX_WORKERS = 1024
    MAX_VERSION = 10**6

    def __post_init__(self) -> None:
        # Types first, each error naming its option: the values may come from a project
        # file's "render" settings (from_dict), where anything can be written.
        self._check_tuple("outputs", self.outputs, str)
        self._check_tuple("objects", self.objects, int, optional=True)
        self._check_tuple("combine", self.combine, int, optional=True)
        self._check_tuple("indices", self.indices, int, optional=True)
        for name in ("combine_op", "exr_compression", "zip_mode", "depth_encoding", "ply_keep"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, not {self._show(getattr(self, name))}")
        if self.name is not None and not isinstance(self.name, str):
            raise ValueError(f"name must be a string, not {self._show(self.name)}")
        if self.output_colorspace is not None and (not isinstance(self.output_colorspace, str)
                                                   or not self.output_colorspace.strip()
                                                   or len(self.output_colorspace) > 200):
            raise ValueError("output_colorspace must be a colour space name (up to 200 characters), not "
                             f"{self._show(self.output_colorspace)}")
        if self.name is not None and len(self.name) > self.MAX_NAME_CHARS:
            raise ValueError(f"name is {len(self.name)} characters long, over the limit of {self.MAX_NAME_CHARS} "
                             "(it starts every file name)")
        for name in ("exr_rgb", "part"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, not {self._show(getattr(self, name))}")
        whole = (("bit_depth", -(2**53), 2**53, False), ("ply_stride", 1, 2**31, False),
                 ("ply_max_points", 1, 2**53, False), ("workers", 0, self.MAX_WORKERS, False),
                 ("start_frame", -(2**53), 2**53, True), ("version", 1, self.MAX_VERSION, True))
        for name, low, high, optional in whole:
            value = getattr(self, name)
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, not {self._show(value)}")
            if not low <= value <= high:
                raise ValueError(f"{name} must be in {low}..{high}, got {value}")
        if isinstance(self.ply_min_confidence, bool) or not isinstance(self.ply_min_confidence, int | float) \
                or not float("-inf") < self.ply_min_confidence < float("inf"):
            raise ValueError(f"ply_min_confidence must be a finite number, not {self._show(self.ply_min_confidence)}")
        # then values
        if not self.outputs:
            raise ValueError("outputs is empty: choose at least one output")
        twice = [o for n, o in enumerate(self.outputs) if o in self.outputs[:n]]
        if twice:
            raise ValueError(f"outputs names {self._show(twice[0])} twice")
        for output in self.outputs:
            try:
                exporter_class(output)
            except ValueError as exc:  # the registry's message lists the outputs; shorten a long id in it
                raise ValueError(f"outputs: {str(exc).replace(repr(output), self._show(output))}") from None
        if any(i < 0 for i in self.indices or ()):
            raise ValueError(f"indices must be frame indices (0 or more), got {min(self.indices or ())}")
        if self.bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {self.bit_depth}")
        if self.exr_compression not in EXR_COMPRESSIONS:
            raise ValueError(f"exr_compression must be one of {', '.join(EXR_COMPRESSIONS)}, "
                             f"got {self._show(self.exr_compression)}")
        if self.zip_mode not in ZIP_MODES:
            raise ValueError(f"zip_mode must be one of {', '.join(ZIP_MODES)}, got {self._show(self.zip_mode)}")
        if self.depth_encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"depth_encoding must be one of {', '.join(DEPTH_ENCODINGS)}, "
                             f"got {self._show(self.depth_encoding)}")
        if self.combine_op not in COMBINE_OPS:
            raise ValueError(f"combine_op must be one of {', '.join(COMBINE_OPS)}, got {self._show(self.combine_op)}")
        if self.ply_keep not in KEEP_CHOICES:
            raise ValueError(f"ply_keep must be one of {', '.join(KEEP_CHOICES)}, got {self._show(self.ply_keep)}")
        if self.part and self.version is None:
            raise ValueError("part: a part of a farm render needs the version it belongs to")

    def _check_tuple(self, name: str, value: object, kind: type, optional: bool = False) -> None:
        """``value`` is a tuple of ``kind`` (ints: not bools), or None when ``optional``."""
        if value is None and optional:
            return
        if not isinstance(value, tuple):
            raise ValueError(f"{name} must be a list, not {self._show(value)}")
        for item in value:
            if isinstance(item, bool) or not isinstance(item, kind):
                wanted = "whole numbers" if kind is int else "strings"
                raise ValueError(f"{name} must hold {wanted}, not {self._show(item)}")

    @staticmethod
    def _show(value: object) -> str:
        """``value`` as a short phrase for a message."""
        if isinstance(value, dict | list | tuple):
            return f"a {'JSON object' if isinstance(value, dict) else 'list'}"
        text = repr(value) if not isinstance(value, int) or abs(value) < 10**40 else "a number too long to print"
        return text if len(text) <= 40 else text[:37] + "..."

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> RenderOptions:
        """Options from a dict (lists for tuples; ``outputs`` may be ``"exr, prores"``): a
        ``ValueError`` naming the option for an unknown key or a wrong value. ``where``
        prefixes option names in messages (``"settings.render"`` names the project's
        render settings: ``settings.render.name must be a string, not 5``)."""
        prefix = f"{where}." if where else ""
        if not isinstance(data, dict):
            raise ValueError(f"{where or 'render options'} must be a JSON object, not {cls._show(data)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in set(data) - known)
        if unknown:
            raise ValueError(f"unknown render option(s) {', '.join(prefix + k[:40] for k in unknown[:10])}; "
                             f"known: {', '.join(sorted(known))}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        if isinstance(values.get("outputs"), str):
            values["outputs"] = tuple(p.strip() for p in values["outputs"].split(",") if p.strip())
        try:
            return cls(**values)
        except ValueError as exc:
            raise ValueError(f"{prefix}{exc}") from None


@dataclass
class RenderResult:
    """A finished render: its version folder and number, frame numbers, files per output,
    the names of objects that had no mask on any rendered frame (empty mattes), and by
    object name the frame numbers rendered without a mask of it (not marked out of shot)."""

    folder: Path
    version: int
    numbers: list[int]
    files: dict[str, list[Path]] = field(default_factory=dict)
    untracked: list[str] = field(default_factory=list)
    untracked_frames: dict[str, list[int]] = field(default_factory=dict)

    @property
    def file_count(self) -> int:
        return sum(len(v) for v in self.files.values())


def _chosen_objects(project: Project, ids: Sequence[int] | None, required: bool = True) -> list[RotoObject]:
    if ids is None:
        chosen = [o for o in project.objects if o.visible]
        if not chosen and required:
            raise Sam3RotoError("the project has no visible objects to render")
        return chosen
    out = []
    for obj_id in ids:
        try:
            out.append(project.object(obj_id))
        except KeyError as exc:
            raise Sam3RotoError(str(exc.args[0])) from None
    return out


def _object_outs(objects: Sequence[RotoObject]) -> tuple[ObjectOut, ...]:
    tokens = unique(file_token(o.name) for o in objects)
    layers = unique(layer_name(o.name) for o in objects)
    return tuple(ObjectOut(o.id, o.name, t, ly) for o, t, ly in zip(objects, tokens, layers, strict=True))


def _settings(obj: RotoObject) -> KeyedPost:
    """The object's post settings over the shot (keyed ones interpolated per frame)."""
    try:
        return KeyedPost.of(obj)
    except (ValueError, TypeError) as exc:
        raise Sam3RotoError(f"object {obj.name!r}: {exc}") from None


def _post_stream(
    frames: Callable[[int], np.ndarray], store: MaskStore, obj: RotoObject, settings: KeyedPost, span: Sequence[int],
    cancel: CancelToken | None, depth: DepthCache | None = None, refine_models: RefineModels | None = None,
) -> Iterator[tuple[int, PostResult]]:
    """Mattes of one object over ``span`` (its settings on each frame, its touch-ups over
    the final matte) from ``frames(index)``, the frames the analysis sees (sRGB); ``depth``
    feeds the depth foreground (``depth_mode``) with the cached depth, unknown pixels
    counted as far. The RGB cleanup runs later, on the plates each output writes."""
    def feed() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        for index in span:
            if cancel is not None:
                cancel.raise_if_cancelled()
            image = frames(index)
            mask = store.get(obj.id, index)
            here = settings.at(index)
            d = None
            if depth is not None and here.depth_mode != "off":
                d = known_depth(depth.get(index).depth, here.depth_near_is_large)
            yield image, (mask if mask is not None else np.zeros(image.shape[:2], dtype=bool)), d

    return zip(span, apply_sequence(feed(), settings, indices=span, touchups=list(obj.touchups),
                                    refine_models=refine_models, with_rgb=False), strict=True)


class _Plates:
    """The frames of a render as each reader needs them, by key: ``"analysis"`` (what the
    post stack analyses, the models' sRGB) and one per output colour space (clipped to
    [0, 1] for the integer outputs, so premultiplying never makes RGB brighter than its
    alpha); each converted once from the plate (the last few kept: every object's stream
    and every output asks for the same frame). A conversion that changes nothing hands
    out the plate itself (no float round trip). Used from the render's own thread only."""

    KEEP = 3

    def __init__(self, reader: CachedReader, converters: dict[str, Converter]) -> None:
        self.reader = reader
        self.converters = converters
        self._done: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    def get(self, key: str, index: int) -> np.ndarray:
        plate = self.reader.get(index)
        convert = self.converters[key]
        if convert.passes(plate):
            return plate
        out = self._done.get((key, index))
        if out is None:
            out = self._done[(key, index)] = convert(plate)
            while len(self._done) > self.KEEP * len(self.converters):
                self._done.popitem(last=False)
        return out

    def analysis(self, index: int) -> np.ndarray:
        return self.get("analysis", index)


@dataclass(frozen=True)
class _Colour:
    """A render's colour: the config, the plates' space, each RGB output's space."""

    config: ColourConfig
    input_space: str
    spaces: dict[str, str]

    def keys(self) -> dict[str, str]:
        """Output id -> the key of its frames in :class:`_Plates` (its space, clipped for
        integer outputs)."""
        return {o: f"{space} [{'float' if RGB_OUTPUTS[o] == 'float' else 'clipped'}]"
                for o, space in self.spaces.items()}

    def converters(self) -> dict[str, Converter]:
        """:class:`_Plates`' conversions: the analysis frames and each output key's."""
        out = {"analysis": self.config.to_model(self.input_space)}
        for o, key in self.keys().items():
            out[key] = self.config.converter(self.input_space, self.spaces[o], clip=RGB_OUTPUTS[o] != "float")
        return out

    def describe(self) -> dict[str, Any]:
        return {"config": self.config.name, "config_source": self.config.source, "input": self.input_space,
                "outputs": dict(self.spaces), "analysis": self.config.model_space,
                "data": "mattes, masks, depth, confidence and normals are data: written as computed, never converted"}


def _frame_output(key: str | None, index: int, number: int, frames: CachedReader, plates: _Plates,
                  mattes: dict[int, np.ndarray], settings: dict[int, KeyedPost], rgb: bool,
                  depth: Any) -> FrameOutput:
    """The frame as the outputs of :class:`_Plates` key ``key`` see it (None: the plate,
    for outputs without RGB): the image in their colour space and, with ``rgb``, each
    object's RGB cleaned up on it."""
    image = frames.get(index) if key is None else plates.get(key, index)
    out: dict[int, np.ndarray] = {}
    here = {k: settings[k].at(index) for k in mattes}
    if rgb:
        for k, matte in mattes.items():
            # objects whose settings change no RGB carry the image itself (no float round trip)
            out[k] = finish_rgb(image, matte, here[k]) if here[k].changes_rgb else image
    premultiplied = {k: here[k].premultiply and here[k].changes_rgb for k in mattes}
    return FrameOutput(index=index, number=number, image=image, mattes=mattes, rgb=out,
                       premultiplied=premultiplied, depth=depth)


def _colour_plan(source: FrameSource, shot_space: str | None, outputs: Sequence[str],
                 options: RenderOptions) -> _Colour:
    """Which colour space each RGB output of this render writes (names checked first).
    The plates' space: the source's when it is a :class:`ColourSource`, else the shot's
    (``shot_space``), else guessed."""
    if isinstance(source, ColourSource):
        config, input_space = source.config, source.input_space
    else:
        config = load_config()
        input_space = config.resolve(shot_space) if shot_space else config.guess(source.info)
    rgb = {o: RGB_OUTPUTS[o] for o in outputs if o in RGB_OUTPUTS and (o != "exr" or options.exr_rgb)}
    return _Colour(config, input_space, output_spaces(config, input_space, options.output_colorspace, rgb))


def _numbers(shot: Any, options: RenderOptions, indices: Sequence[int]) -> list[int]:
    """The frame numbers written for ``indices``: from ``options.start_frame`` on, or the
    shot's own numbering."""
    if options.start_frame is not None:
        return [options.start_frame + i - indices[0] for i in indices]
    return [shot.output_number(i) for i in indices]


def _first_timecode(source: FrameSource, fps: Any, index: int, number: int) -> str:
    """The timecode of the first rendered frame: the source's own timecode counted on to
    frame ``index`` when it declares one, else the frame number ``number`` counted from
    00:00:00:00 (frame 1001 at 24 fps is 00:00:41:17)."""
    from sam3roto.core.timecode import frames_to_timecode, timecode_at

    start = source.info.start_timecode
    if start:
        return timecode_at(index, fps, start)
    return frames_to_timecode(max(0, number), fps)


def _untracked(objects: Sequence[RotoObject], store: MaskStore, indices: Sequence[int],
               numbers: Sequence[int]) -> dict[str, list[int]]:
    """Object name -> the frame numbers among those rendered where the object has no mask
    and is not marked out of shot: its mattes there are empty (tracking never reached them)."""
    out: dict[str, list[int]] = {}
    for obj in objects:
        have = set(store.frames(obj.id))
        missing = [n for i, n in zip(indices, numbers, strict=True) if i not in have and not obj.is_absent(i)]
        if missing:
            out[obj.name] = missing
    return out


def untracked_frames(project: Project, store: MaskStore, options: RenderOptions) -> dict[str, list[int]]:
    """What a render with ``options`` would write empty for want of masks: object name ->
    frame numbers (see :class:`RenderResult`); the window warns with it before rendering."""
    shot = project.shot
    if shot is None:
        return {}
    indices = sorted(set(options.indices if options.indices is not None else shot.frame_range))
    objects = _chosen_objects(project, options.objects, required=False)
    return _untracked(objects, store, indices, _numbers(shot, options, indices))


def number_ranges(numbers: Sequence[int]) -> list[list[int]]:
    """Sorted frame numbers as ``[first, last]`` runs (what manifests list)."""
    from sam3roto.core.tracking import ranges

    return [[a, b] for a, b in ranges(sorted(numbers))]


def _stream_span(indices: Sequence[int], frame_count: int, context: int) -> list[int]:
    """The indices a post stream walks: the requested ones, or with ``context`` the whole
    span between them plus ``context`` frames either side (within the shot)."""
    if context == 0:
        return list(indices)
    return list(range(max(0, indices[0] - context), min(frame_count - 1, indices[-1] + context) + 1))


def render_job(
    project: Project,
    source: FrameSource,
    store: MaskStore,
    root: str | Path,
    options: RenderOptions,
    *,
    project_path: str | Path | None = None,
    cancel: CancelToken | None = None,
    depth: DepthCache | None = None,
    refine_models: RefineModels | None = None,
) -> Job[RenderResult]:
    """Render ``options.outputs`` for the project's objects into the next version folder
    under ``root``; returns the :class:`RenderResult`. Depth, normals, camera and point
    cloud outputs read ``depth`` (the project's depth cache). ``refine_models`` loads
    ViTMatte for objects refined with it (default: a new :class:`RefineModels`). Everything
    that can be checked is checked before the version folder is created."""
    shot = project.shot
    if shot is None:
        raise Sam3RotoError("the project has no shot to render")
    indices = sorted(set(options.indices if options.indices is not None else shot.frame_range))
    bad = [i for i in indices if not 0 <= i < shot.frame_count]
    if bad or not indices:
        raise Sam3RotoError(f"frame indices {bad[:5] or '(none)'} are outside the shot 0..{shot.frame_count - 1}")
    classes = [exporter_class(x) for x in options.outputs]
    whole = [c.info.id for c in classes if not c.info.parallel]
    if options.part and whole and options.indices is not None and indices != list(shot.frame_range):
        raise Sam3RotoError(f"outputs {', '.join(whole)} are one file for the whole shot and cannot be split "
                            "across farm tasks; render them in one task over the whole range")
    # depth-only renders (depth, normals, camera) need no objects; a point cloud cut by a matte does
    needs_objects = any(not c.info.depth for c in classes) or options.ply_keep != "all"
    objects = _chosen_objects(project, options.objects, required=needs_objects) if needs_objects else []
    outs = _object_outs(objects)
    merged = _chosen_objects(project, options.combine) if options.combine and needs_objects else objects
    combine = tuple(o.id for o in merged)
    # combined mattes may name objects that get no output of their own: post them too
    processed = objects + [o for o in merged if o not in objects]
    settings = {o.id: _settings(o) for o in processed}
    depth_plan = _depth_plan(classes, options, depth, indices)
    _check_post_depth(processed, settings, depth, indices, shot.frame_count)
    models = refine_models if refine_models is not None else RefineModels()
    models.check(s for keyed in settings.values() for s in keyed.every())
    if "prores" in options.outputs:
        check_ffmpeg(find_ffmpeg())  # found, and new enough (4.4), before any folder is made
    colour = _colour_plan(source, shot.input_colorspace, options.outputs, options)
    # the post RGB (despill, edge extend, premultiply) of the objects written with RGB
    wants_rgb = any(c.info.id in ("png-rgba", "prores") for c in classes)
    numbers = _numbers(shot, options, indices)
    name = file_token(options.name) if options.name else file_token(Path(shot.media).name.split(".")[0])
    plan = RenderPlan(
        name=name, width=shot.width, height=shot.height, fps=(shot.fps.numerator, shot.fps.denominator),
        numbers=tuple(numbers), padding=frame_padding(numbers), objects=outs, combine=combine,
        combine_op=options.combine_op, source_dtype=source.info.dtype, bit_depth=options.bit_depth,
        exr_compression=options.exr_compression, exr_rgb=options.exr_rgb, zip_mode=options.zip_mode,
        outputs=options.outputs, depth=depth_plan, timecode=_first_timecode(source, shot.fps, indices[0], numbers[0]),
        colorspaces=dict(colour.spaces),
    )
    workers = options.workers or os.cpu_count() or 1
    if options.part:
        version = options.version or 0
        shared, staging = reserve_part(Path(root), version, indices[0], indices[-1])
    else:
        version, staging = reserve_version(Path(root), options.version)
    exporters: list[Exporter] = []
    pending: list[Future[None]] = []
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="render-write")
    # decodes the next plates on its own thread while this one runs post (streams run a frame apart)
    plate_source, _ = plates_of(source)
    frames = CachedReader(plate_source, budget_bytes=8 * plate_source.info.frame_bytes, ahead=2, behind=2)
    plates = _Plates(frames, colour.converters())
    published = False
    try:
        exporters = [cls(staging, plan) for cls in classes]
        parallel = [e for e in exporters if e.info.parallel]
        ordered = [e for e in exporters if not e.info.parallel]
        streams = {
            o.id: _post_stream(plates.analysis, store, o, settings[o.id],
                               _stream_span(indices, shot.frame_count, 1 if settings[o.id].uses_neighbours else 0),
                               cancel, depth, models)
            for o in processed
        }
        # each output gets the frame in its colour space; outputs without RGB, the plate
        keys = colour.keys()
        by_key = {e.info.id: keys.get(e.info.id) for e in exporters}
        # the cleaned-up RGB is made only for the frames of outputs that write it
        rgb_keys = {by_key[o] for o in OBJECT_RGB_OUTPUTS if o in by_key} if wants_rgb else set()
        yield Progress(0, len(indices), f"render {version_name(version)}: {len(indices)} frames")
        for done, (index, number) in enumerate(zip(indices, numbers, strict=True), start=1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            results: dict[int, PostResult] = {}
            for obj_id, stream in streams.items():
                for at, post in stream:
                    if at == index:
                        results[obj_id] = post
                        break
            mattes = {k: r.matte for k, r in results.items()}
            frame_depth = depth.get(index) if depth_plan is not None and depth is not None else None
            made = {key: _frame_output(key, index, number, frames, plates, mattes, settings,
                                       key in rgb_keys, frame_depth)
                    for key in set(by_key.values())}
            pending.extend(pool.submit(e.write, made[by_key[e.info.id]]) for e in parallel)
            for exporter in ordered:
                exporter.write(made[by_key[exporter.info.id]])
            while len(pending) > 2 * workers * max(1, len(parallel)):
                pending.pop(0).result()
            yield Progress(done, len(indices), f"frame {number}")
        for future in pending:
            future.result()
        pending.clear()
        for exporter in exporters:
            exporter.finish()
        wanted = set(indices)
        result = RenderResult(staging, version, numbers, {e.info.id: sorted(e.files) for e in exporters},
                              [o.name for o in objects if not wanted.intersection(store.frames(o.id))],
                              _untracked(objects, store, indices, numbers))
        manifest = _manifest(project, project_path, options, plan, settings, result, indices)
        manifest["colour"] = colour.describe()
        if options.part:
            (staging / PART_MANIFEST.format(first=indices[0], last=indices[-1])).write_text(
                json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
            merge_part(staging, shared)
            final = shared
        else:
            write_manifest(staging, manifest)
            final = publish_version(staging, version)
        published = True
        result.folder = final
        result.files = {k: [final / p.relative_to(staging) for p in v] for k, v in result.files.items()}
        return result
    except OSError as exc:  # a folder, manifest or file the exporters did not name: a full disk...
        raise write_error(Path(exc.filename) if exc.filename else staging, exc, None) from None
    finally:
        if not published:
            for future in pending:
                future.cancel()
        pool.shutdown(wait=True)
        frames.close()
        if not published:
            for exporter in exporters:
                exporter.abort()
            discard_staging(staging)


def _check_post_depth(objects: list[RotoObject], settings: dict[int, KeyedPost], depth: DepthCache | None,
                      indices: list[int], frame_count: int) -> None:
    """Objects whose post uses the depth foreground need depth on every frame they post."""
    for obj in objects:
        post = settings[obj.id]
        span = _stream_span(indices, frame_count, 1 if post.uses_neighbours else 0)
        span = [i for i in span if post.at(i).depth_mode != "off"]
        if not span:
            continue
        missing = depth.missing(span) if depth is not None else span
        if missing:
            mode = post.at(missing[0]).depth_mode
            raise Sam3RotoError(f"object {obj.name!r} uses depth_mode {mode!r}, which needs depth on "
                                f"frame indices {missing[:5]}{' ...' if len(missing) > 5 else ''}",
                                hint=RUN_DEPTH_HINT)


def _depth_plan(classes: list[type[Exporter]], options: RenderOptions, depth: DepthCache | None,
                indices: list[int]) -> DepthPlan | None:
    """The depth side of the plan, after checking the cache covers every rendered frame."""
    wanting = [c.info.id for c in classes if c.info.depth]
    if not wanting:
        return None
    if depth is None or not depth.frames():
        raise Sam3RotoError(f"outputs {', '.join(wanting)} need depth, and the project has none",
                            hint=RUN_DEPTH_HINT)
    missing = depth.missing(indices)
    if missing:
        raise Sam3RotoError(f"outputs {', '.join(wanting)} need depth on frame indices {missing[:5]}"
                            f"{' ...' if len(missing) > 5 else ''} ({len(missing)} frames), which the depth cache "
                            "lacks", path=depth.root, hint=RUN_DEPTH_HINT + ", over the frames you render")
    meta = depth.meta()
    has_camera = bool(meta.get("has_camera", True))
    cameras = [c.info.id for c in classes if c.info.camera]
    if cameras and not has_camera:
        raise Sam3RotoError(f"outputs {', '.join(cameras)} need estimated cameras, and the depth preset "
                            f"{meta.get('preset')!r} estimates none",
                            hint=Hint(cli="run depth with --preset nested-1.1, giant-1.1, large-1.1, base or small",
                                      window="choose nested-1.1, giant-1.1, large-1.1, base or small in the Depth / "
                                      'Camera tab\'s "Preset" menu and run depth again'))
    # one range for the whole cached shot, so farm chunks encode 16-bit depth identically
    near, far = depth.depth_range([int(i) for i in depth.cameras()["indices"]])
    return DepthPlan(near=near, far=far, encoding=options.depth_encoding, is_metric=bool(meta.get("is_metric")),
                     has_camera=has_camera, preset=str(meta.get("preset", "")), ply_keep=options.ply_keep,
                     ply_stride=options.ply_stride, ply_min_confidence=options.ply_min_confidence,
                     ply_max_points=options.ply_max_points)


def _manifest(
    project: Project, project_path: str | Path | None, options: RenderOptions, plan: RenderPlan,
    settings: dict[int, KeyedPost], result: RenderResult, indices: list[int],
) -> dict[str, Any]:
    shot = project.shot
    if shot is None:  # render_job checked this first
        raise Sam3RotoError("the project has no shot")
    obj_of = {o.id: o for o in project.objects}
    return {
        "sam3roto": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": version_name(result.version),
        "project": str(project_path) if project_path is not None else None,
        "media": shot.media,
        "size": [shot.width, shot.height],
        "fps": f"{shot.fps.numerator}/{shot.fps.denominator}",
        "frames": {"indices": indices, "numbers": list(plan.numbers), "padding": plan.padding},
        "alpha": "straight unless an object's post settings premultiply (then the file name says premult)",
        "objects": [{"id": o.id, "name": o.name, "file_name": o.token, "exr_layer": o.layer,
                     "post": settings[o.id].to_dict(),
                     "touchups": sum(len(t.strokes) for t in obj_of[o.id].touchups)} for o in plan.objects],
        "combined_objects": list(plan.combine),
        "combine_op": plan.combine_op,
        "untracked_objects": result.untracked,
        "untracked_frames": {name: number_ranges(n) for name, n in result.untracked_frames.items()},
        "options": options.to_dict(),
        "outputs": {k: [p.relative_to(result.folder).as_posix() for p in v] for k, v in result.files.items()},
        "depth": None if plan.depth is None else {
            "preset": plan.depth.preset, "near": plan.depth.near, "far": plan.depth.far,
            "png16_encoding": plan.depth.encoding, "metric": plan.depth.is_metric,
            "cameras": plan.depth.has_camera,
            "world": "OpenCV axes in camera-npz; Y-up GL axes (first camera at the origin) in chan, ply, blender",
        },
    }


def publish_parts(root: str | Path, version: int, expected: Sequence[int]) -> Path:
    """Publish a farm render: check the tasks' manifests in ``version``'s staging folder
    cover every frame index in ``expected``, merge them into one ``manifest.json``, and
    rename the folder to ``vNNN``. Missing frames (a failed task) are an error naming them,
    and so is a task still writing; the folders of killed tasks are removed, never published."""
    shared = Path(root) / f".{version_name(version)}.partial"
    parts = part_manifests(shared)
    if not parts:
        raise Sam3RotoError(f"no finished farm tasks for {version_name(version)}", path=shared)
    manifests = [json.loads(p.read_text(encoding="utf-8")) for p in parts]
    done = {i for m in manifests for i in m["frames"]["indices"]}
    missing = sorted(set(expected) - done)
    if missing:
        raise Sam3RotoError(f"{len(missing)} frames were not rendered by any task (indices {missing[:5]}"
                            f"{' ...' if len(missing) > 5 else ''}); re-run those tasks, then publish", path=shared)
    running = settle_parts(shared)
    if running:
        raise Sam3RotoError(f"a task is still writing {'; '.join(running)}; publish when it has finished",
                            path=shared)
    merged = dict(manifests[0])
    order = sorted({(i, n) for m in manifests for i, n in zip(m["frames"]["indices"], m["frames"]["numbers"],
                                                                strict=True)})
    merged["frames"] = {"indices": [i for i, _ in order], "numbers": [n for _, n in order],
                        "padding": max(m["frames"]["padding"] for m in manifests)}
    outputs: dict[str, list[str]] = {}
    for m in manifests:
        for key, files in m["outputs"].items():
            outputs.setdefault(key, []).extend(files)
    merged["outputs"] = {k: sorted(set(v)) for k, v in outputs.items()}
    merged["untracked_objects"] = sorted(set.intersection(*(set(m["untracked_objects"]) for m in manifests)))
    gaps: dict[str, list[int]] = {}
    for m in manifests:
        for name, runs in m.get("untracked_frames", {}).items():
            gaps.setdefault(name, []).extend(n for a, b in runs for n in range(a, b + 1))
    merged["untracked_frames"] = {name: number_ranges(n) for name, n in sorted(gaps.items())}
    colours = [m["colour"] for m in manifests if isinstance(m.get("colour"), dict)]
    if colours:
        differ = {(c.get("config"), c.get("input")) for c in colours}
        if len(differ) > 1:
            seen = sorted(map(str, differ))
            raise Sam3RotoError(f"the farm tasks read the plates in different colour settings ({seen}): every task "
                                "must use the same OpenColorIO config ($OCIO) and input colour space; re-run the "
                                "tasks that differ", path=shared)
        merged["colour"] = {**colours[0], "outputs": {k: v for c in colours for k, v in c.get("outputs", {}).items()}}
    merged["farm_tasks"] = len(manifests)
    merged["options"] = {**merged["options"], "outputs": list(outputs), "indices": None, "part": False}
    write_manifest(shared, merged)
    for p in parts:
        p.unlink()
    return publish_version(shared, version)

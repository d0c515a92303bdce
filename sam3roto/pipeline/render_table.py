"""The render options as one table, shared by the command line and the window: for every
:class:`sam3roto.pipeline.render.RenderOptions` field the ``render`` command exposes, its
flag, argparse dest, kind, choices (from the modules that define them), default, help
text, and the Export tab's label, tooltip and group. ``cli/render.py`` builds its options
from :data:`RENDER_SETTINGS` and the Export tab builds its controls from it, so flags,
choices and help cannot drift apart (``tests/test_render_table.py`` checks every field is
here and every default and range matches what ``RenderOptions`` validates).

Also here, because both faces need them: which saved settings a render starts from (never
the one-shot version and farm part, :data:`ONE_SHOT`), where a project's renders go (the
project's ``render_folder`` setting, else ``renders/`` beside it; ``render``, ``farm`` and
the window alike) and frame-number text (``1001-1050, 1060``) for the window's frames
field and the untracked-frames warnings.

This module is imported when the command line builds its parser, so it imports only the
modules that define the choices, never the render job itself (post pulls in numba).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam3roto.core.pixels import COMBINE_OPS
from sam3roto.core.project import ENTRY_HINT
from sam3roto.core.project_io import renders_dir
from sam3roto.errors import ProjectError
from sam3roto.export.depth import DEPTH_ENCODINGS
from sam3roto.export.exr import EXR_COMPRESSIONS
from sam3roto.export.maskzip import ZIP_MODES
from sam3roto.export.registry import EXPORTERS
from sam3roto.geometry.pointcloud import KEEP_CHOICES

#: PNG bit depths (``RenderOptions.bit_depth``).
BIT_DEPTHS = (8, 16)

#: What a setting holds, which decides its flag's parsing and its control in the window:
#: ``outputs`` (output ids: comma-separated / check boxes), ``objects`` (object names or ids
#: / a checklist), ``frames`` (frame numbers like ``1001-1050,1060``, kept as frame
#: indices), ``choice`` (one of ``choices`` / a menu), ``int`` and ``float`` (a number in
#: ``minimum..maximum`` / a number field), ``bool`` (a flag / a check box), ``text`` (a
#: string / a text field), ``colorspace`` (an OpenColorIO colour space name / a menu of the
#: config's spaces; the names depend on the config, so they are checked when rendering).
KINDS = ("outputs", "objects", "frames", "choice", "int", "float", "bool", "text", "colorspace")

#: The window's groups, in the order the Export tab shows them.
GROUPS = ("Outputs", "Objects", "Frames & naming", "Combined matte", "EXR", "Depth & point cloud", "Colour",
          "Farm")


@dataclass(frozen=True)
class RenderSetting:
    """One render option. ``name``: the ``RenderOptions`` field; ``flag``/``dest``: the
    ``render`` command's option and its argparse dest; ``default``: the field's default
    (None: unset, see ``help``); ``choices``: the allowed values of a ``choice`` (the
    output ids of ``outputs``); ``minimum``/``maximum``: the range ``RenderOptions``
    validates for a number; ``optional``: None is allowed (a number field's lowest value
    means it, shown as ``special``); ``special``: the window's text for a number field's
    lowest value; ``window``: whether the Export tab has a control for it."""

    name: str
    flag: str
    dest: str
    kind: str
    default: Any
    help: str
    label: str
    tooltip: str
    group: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    optional: bool = False
    special: str | None = None
    window: bool = True
    metavar: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"render setting {self.name}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.group not in GROUPS:
            raise ValueError(f"render setting {self.name}: group must be one of {', '.join(GROUPS)}, "
                             f"not {self.group!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"render setting {self.name}: a choice needs its choices")


#: Every render option the command line exposes, in its help's order; each row is
#: ``name, flag, dest, kind, default, CLI help, window label, window tooltip, window group``
#: then the keywords. The Export tab shows them by group (:data:`GROUPS`), in this order.
RENDER_SETTINGS: tuple[RenderSetting, ...] = (
    RenderSetting(
        "outputs", "--outputs", "outputs", "outputs", ("png-alpha",),
        "comma-separated output ids (see --list-outputs); default png-alpha",
        "Outputs", "what the render writes: one folder or file per output in the version folder", "Outputs",
        choices=tuple(EXPORTERS), metavar="IDS"),
    RenderSetting(
        "objects", "--objects", "objects", "objects", None,
        "objects by name or id, comma-separated (default: every visible object)",
        "Objects", "the objects rendered; none checked: every visible object", "Objects", metavar="NAMES"),
    RenderSetting(
        "combine", "--combine", "combine", "objects", None,
        "objects merged into combined/Postshot/ZIP mattes (default: --objects)",
        "Combined matte", "the objects merged into png-combined, Postshot alpha, the mask ZIP and the point "
        "cloud cut, in this order (drag to reorder); none checked: the rendered objects", "Combined matte",
        metavar="NAMES"),
    RenderSetting(
        "combine_op", "--combine-op", "combine_op", "choice", "union",
        "how the --combine objects merge (default union; difference: the first minus the others)",
        "Combine by", "how the checked objects merge; difference: the first checked object minus the others",
        "Combined matte", choices=COMBINE_OPS),
    RenderSetting(
        "indices", "--frames", "frames", "frames", None,
        "frame numbers, e.g. 1001-1100 (default: the shot's in/out range)",
        "Frames", "frame numbers to render, e.g. 1001-1100, 1120 (empty: the shot's in/out range)",
        "Frames & naming", metavar="NUMBERS"),
    RenderSetting(
        "start_frame", "--start-frame", "start_frame", "int", None,
        "number the first frame (e.g. 1001)",
        "Start frame", "the number of the first rendered frame, the rest counted on from it (lowest value: the "
        "shot's start frame if set, else the source's frame numbers)", "Frames & naming",
        minimum=-(2**53), maximum=2**53, optional=True, special="source numbers", metavar="N"),
    RenderSetting(
        "name", "--name", "name", "text", None,
        "file name stem (default: the media's name)",
        "Name", "file name stem of every file written (empty: the media's name)", "Frames & naming",
        metavar="STEM"),
    RenderSetting(
        "bit_depth", "--bits", "bit_depth", "choice", 16,
        "PNG bit depth (default 16)",
        "PNG bits", "bits per channel of PNG mattes and RGBA (16 keeps soft edges smooth)", "Outputs",
        choices=BIT_DEPTHS),
    RenderSetting(
        "exr_compression", "--exr-compression", "exr_compression", "choice", "zip",
        "EXR compression (default zip; dwaa is lossy)",
        "Compression", "zip and piz are lossless, dwaa is lossy and smaller, none is fastest to write", "EXR",
        choices=EXR_COMPRESSIONS),
    RenderSetting(
        "exr_rgb", "--exr-rgb", "exr_rgb", "bool", False,
        "also write the plate's RGB into the EXRs (--no-exr-rgb: without, even when the project's settings say with)",
        "Plate RGB in the EXRs", "also write the plate's RGB as the EXRs' main R G B layer", "EXR"),
    RenderSetting(
        "zip_mode", "--zip-mode", "zip_mode", "choice", "single",
        "mask ZIP: one composited mask per frame, or a folder per object",
        "Mask ZIP", "mask-zip: single, one mask per frame with every combined object composited; per_label, a "
        "folder of masks per object", "Outputs", choices=ZIP_MODES),
    RenderSetting(
        "depth_encoding", "--depth-encoding", "depth_encoding", "choice", "inverse",
        "depth-png16 code values: inverse depth (default; near is bright) or depth",
        "Depth PNG encoding", "depth-png16 code values: inverse (1/depth, near is bright) or depth (far is "
        "bright)", "Depth & point cloud", choices=DEPTH_ENCODINGS),
    RenderSetting(
        "ply_keep", "--ply-keep", "ply_keep", "choice", "all",
        "point cloud: every pixel (default), or only inside / outside the --combine objects' matte",
        "Point cloud keeps", "all: every pixel; object / background: only the pixels inside / outside the "
        "combined matte",
        "Depth & point cloud", choices=KEEP_CHOICES),
    RenderSetting(
        "ply_stride", "--ply-stride", "ply_stride", "int", 4,
        "point cloud: every Nth pixel (default 4)",
        "Point stride", "point cloud: one point every N pixels across and down", "Depth & point cloud",
        minimum=1, maximum=2**31, metavar="N"),
    RenderSetting(
        "ply_min_confidence", "--ply-min-confidence", "ply_min_confidence", "float", 0.0,
        "point cloud: drop pixels whose depth confidence is lower (default 0)",
        "Minimum confidence", "point cloud: pixels whose depth confidence is lower are left out",
        "Depth & point cloud", metavar="C"),
    RenderSetting(
        "ply_max_points", "--ply-max-points", "ply_max_points", "int", 2_000_000,
        "point cloud size cap (default 2000000)",
        "Most points", "point cloud: at most this many points over the whole render (each frame gives its share, a "
        "repeatable random subset)",
        "Depth & point cloud", minimum=1, maximum=2**53, metavar="N"),
    RenderSetting(
        "output_colorspace", "--output-colorspace", "output_colorspace", "colorspace", None,
        "OpenColorIO colour space the RGB outputs are written in, from the config ($OCIO, else the built-in "
        "studio config) (default: EXR in the shot's input colour space; PNG and ProRes in it when it is "
        "display-referred, else sRGB)",
        "Output colour space", "the colour space RGB outputs are written in; Automatic: EXR as the input, PNG "
        "and ProRes display-referred. Mattes, depth and normals are data and never converted", "Colour",
        metavar="NAME"),
    RenderSetting(
        "workers", "--workers", "workers", "int", 0,
        "write threads (default: one per core)",
        "Write threads", "threads writing PNG and EXR frames; lowest value: one per core", "Farm",
        minimum=0, maximum=1024, special="one per core", metavar="N"),
    RenderSetting(
        "version", "--version", "version", "int", None,
        "write this version number (refused if it exists)",
        "Version", "the version number to write (refused if that version exists); lowest value: the next free "
        "one", "Farm", minimum=1, maximum=10**6, optional=True, special="next free", metavar="N"),
    # A farm task's share of a version (the farm job's render tasks pass it with --version
    # and --frames): rendered from the window it would leave a version unpublished until a
    # `render --publish`, so the window has no control for it and never uses a saved one.
    RenderSetting(
        "part", "--part", "part", "bool", False,
        "farm task: add these --frames to --version's unpublished folder beside other tasks",
        "Farm part", "", "Farm", window=False),
)

#: The settings by ``RenderOptions`` field name.
BY_NAME: dict[str, RenderSetting] = {s.name: s for s in RENDER_SETTINGS}


def window_settings() -> tuple[RenderSetting, ...]:
    """The settings the Export tab has a control for, in table order."""
    return tuple(s for s in RENDER_SETTINGS if s.window)


#: Choices for one render, never taken from the project's saved ``render`` settings (nor
#: kept there by the window): the version number (a saved one would make the first render
#: write it and every later one be refused as existing) and a farm part (only a farm
#: task's command line gives it, with its version).
ONE_SHOT = ("version", "part")


def saved_settings(settings: Mapping[str, Any], *, part: bool = False) -> Any:
    """The project's saved ``render`` settings (``settings["render"]``, ``{}`` when unset)
    a render starts from: without the :data:`ONE_SHOT` choices, and for a farm part
    (``part``) without the frames too: a farm task renders the frames its command line
    gives, else the whole shot, never a range saved for renders from the window. A value
    that is not a JSON object comes back as it is, for ``RenderOptions.from_dict`` to
    report."""
    saved = settings.get("render", {})
    if not isinstance(saved, dict):
        return saved
    dropped = (*ONE_SHOT, "indices") if part else ONE_SHOT
    return {k: v for k, v in saved.items() if k not in dropped}


# -- where renders go ----------------------------------------------------------------------

#: The project setting naming the folder holding its render versions (beside ``render``,
#: not in it: ``RenderOptions`` takes only its own fields).
RENDER_FOLDER = "render_folder"
MAX_FOLDER_CHARS = 4096


def saved_render_folder(settings: Mapping[str, Any]) -> str | None:
    """The project's ``render_folder`` setting (None: unset or empty, ``renders/`` beside
    the project); a ``ValueError`` naming the setting when it is not a folder path."""
    value = settings.get(RENDER_FOLDER)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_FOLDER_CHARS or "\0" in value:
        shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
        raise ValueError(f"settings.{RENDER_FOLDER} must be a folder path (a string up to {MAX_FOLDER_CHARS} "
                         f"characters), not {shown}")
    return value


def render_root(settings: Mapping[str, Any], project_path: str | Path | None) -> Path | None:
    """The folder holding the project's render versions: its ``render_folder`` setting
    (relative to the project file's folder when relative), else ``renders/`` beside the
    project. None for an unsaved project without an absolute ``render_folder``."""
    folder = saved_render_folder(settings)
    if folder is not None:
        chosen = Path(os.path.expanduser(folder))
        if chosen.is_absolute():
            return chosen
        if project_path is not None:
            return Path(project_path).resolve().parent / chosen
        return None
    return renders_dir(project_path) if project_path is not None else None


def versions_folder(settings: Mapping[str, Any], project_path: str | Path, given: str | Path | None = None) -> Path:
    """Where a render of the project saved at ``project_path`` puts its versions, for every
    command that renders (``render``, ``track --render``, ``farm``): ``given`` (the
    command's ``--out``/``--renders``), else the project's ``render_folder`` setting
    (relative to the project file's folder), else ``renders/`` beside the project; a
    :class:`ProjectError` naming the project file when the setting is not a folder path."""
    if given:
        return Path(given)
    try:
        root = render_root(settings, project_path)
    except ValueError as exc:
        raise ProjectError(f"invalid entry: {exc}", path=project_path, hint=ENTRY_HINT) from None
    return root if root is not None else renders_dir(project_path)  # (never None: the project has a file)


def folder_setting(folder: str | Path, project_path: str | Path | None) -> str:
    """How ``folder`` is kept in a project at ``project_path``: relative to the project
    file's folder when inside it (the renders move with the project), else absolute."""
    chosen = Path(os.path.expanduser(str(folder)))
    if project_path is None:
        return str(chosen.resolve()) if not chosen.is_absolute() else str(chosen)
    base = Path(project_path).resolve().parent
    chosen = (base / chosen).resolve() if not chosen.is_absolute() else chosen.resolve()
    try:
        return chosen.relative_to(base).as_posix() or "."
    except ValueError:
        return str(chosen)


# -- frame numbers as text -----------------------------------------------------------------

def number_ranges_text(numbers: Sequence[int], limit: int | None = None) -> str:
    """Frame numbers as ranges for people, ``1002-1050, 1060``; past ``limit`` ranges the
    rest is counted (``... and 12 more ranges``)."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    shown = runs if limit is None else runs[:limit]
    text = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in shown)
    rest = len(runs) - len(shown)
    if rest:
        text += f" ... and {rest} more range{'s' if rest > 1 else ''}"
    return text


def frames_text(indices: Sequence[int], frame_numbers: Sequence[int]) -> str:
    """Frame indices as the frame numbers' ranges (what the window's frames field shows)."""
    return number_ranges_text([frame_numbers[i] for i in indices if 0 <= i < len(frame_numbers)])


def frame_indices(text: str, frame_numbers: Sequence[int]) -> tuple[int, ...] | None:
    """The frame indices of the frame numbers in ``text`` (``1001-1050, 1060``; None when
    empty: the shot's in/out range); a ``ValueError`` saying what cannot be read or which
    numbers the shot lacks."""
    wanted: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        span = re.fullmatch(r"(-?\d{1,16})(?:\s*-\s*(-?\d{1,16}))?", part)
        if span is None or (span[2] is not None and int(span[2]) < int(span[1])):
            raise ValueError(f"cannot read {part[:40]!r}; use e.g. 1001-1100 or 1001, 1005")
        first, last = int(span[1]), int(span[2] or span[1])
        if last - first >= 10_000_000:
            raise ValueError(f"{part[:40]!r} spans more frames than a shot has")
        wanted.update(range(first, last + 1))
    if not wanted:
        return None
    by_number = {n: i for i, n in enumerate(frame_numbers)}
    missing = sorted(n for n in wanted if n not in by_number)
    if missing:
        raise ValueError(f"frames {number_ranges_text(missing, 5)} are not in the shot "
                         f"({number_ranges_text(frame_numbers, 5)})")
    return tuple(sorted(by_number[n] for n in wanted))

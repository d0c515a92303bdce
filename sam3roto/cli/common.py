"""Helpers shared by the commands: frame-number lists, loading a project, driving a job
with a progress bar."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from sam3roto.core.jobs import Job, Progress, run_sync
from sam3roto.errors import Sam3RotoError

R = TypeVar("R")


def format_numbers(numbers: Sequence[int]) -> str:
    """``1-3,5,7-9`` for a sorted list of ints."""
    parts: list[str] = []
    start = prev = None
    for n in numbers:
        if start is None:
            start = prev = n
        elif prev is not None and n == prev + 1:
            prev = n
        else:
            parts.append(f"{start}-{prev}" if start != prev else f"{start}")
            start = prev = n
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else f"{start}")
    return ",".join(parts)


def parse_numbers(text: str) -> list[int]:
    """``1001-1010,1020`` -> the frame numbers, sorted, without repeats."""
    out: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        span = re.fullmatch(r"(-?\d+)(?:-(-?\d+))?", part)
        if span is None or (span[2] is not None and int(span[2]) < int(span[1])):
            raise ValueError(f"--frames: cannot read {part!r}; use e.g. 1001-1100 or 1,5,9")
        out.update(range(int(span[1]), int(span[2] or span[1]) + 1))
    return sorted(out)


def indices_of(text: str, frame_numbers: Sequence[int], where: str | Path) -> list[int]:
    """Frame indices for the frame numbers in ``text``; an error lists numbers the shot lacks."""
    wanted = parse_numbers(text)
    by_number = {n: i for i, n in enumerate(frame_numbers)}
    missing = [n for n in wanted if n not in by_number]
    if missing:
        raise Sam3RotoError(f"frames {format_numbers(missing)} are not in the shot ({format_numbers(frame_numbers)})",
                            path=where)
    return [by_number[n] for n in wanted]


def drive(job: Job[R], total: int, *, quiet: bool, unit: str = "frame") -> R:
    """Run ``job`` to the end with a tqdm bar (on stderr) unless ``quiet``."""
    from tqdm import tqdm

    with tqdm(total=total, unit=unit, disable=quiet) as bar:

        def show(p: Progress) -> None:
            if p.total and p.total != bar.total:
                bar.total = p.total
            bar.update(p.done - bar.n)

        return run_sync(job, show)


def project_and_store(path: str | Path) -> tuple[Any, Any]:
    """Load the project at ``path`` and its mask store."""
    from sam3roto.core.project_io import load_project, open_mask_store

    project = load_project(path)
    return project, open_mask_store(path, project)


def object_ids(project: Any, text: str, path: str | Path | None = None) -> tuple[int, ...]:
    """``person,2`` -> the project's object ids, by name or id, in the given order."""
    ids: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = [o.id for o in project.objects if o.name == part or str(o.id) == part]
        if not match:
            known = ", ".join(f"{o.id} {o.name!r}" for o in project.objects) or "none"
            raise Sam3RotoError(f"no object {part!r} in the project (objects: {known})", path=path)
        if match[0] not in ids:
            ids.append(match[0])
    return tuple(ids)


def format_ranges(indices: Sequence[int], frame_numbers: Sequence[int], limit: int | None = None) -> str:
    """Frame indices as frame-number ranges for people: ``1041-1048, 1060``; past ``limit``
    ranges, the rest is counted (``... and 1995 more ranges, 49875 frames``) so that a long
    shot does not print thousands of them."""
    from sam3roto.core.tracking import ranges

    runs = ranges(sorted(set(indices)))
    shown = runs if limit is None else runs[:limit]
    text = ", ".join(f"{frame_numbers[a]}-{frame_numbers[b]}" if a != b else f"{frame_numbers[a]}" for a, b in shown)
    rest = runs[len(shown):]
    if rest:
        count = sum(b - a + 1 for a, b in rest)
        text += f" ... and {len(rest)} more range{'s' if len(rest) > 1 else ''}, {count} frame"
        text += "s" if count > 1 else ""
    return text


def add_engine_arguments(parser: Any) -> None:
    """``--engine`` (choices from the engine registry), ``--device`` and ``--sam3-dir``."""
    from sam3roto.backends.registry import DEFAULT_ENGINE, SEGMENTATION_ENGINES, engine_choices

    try:
        choices = engine_choices()
    except Exception:  # an engine that cannot be imported must not break every command; using it reports why
        choices = [(name, name) for name in SEGMENTATION_ENGINES]
    listed = "; ".join(f"{name}: {label}" + (" (default)" if name == DEFAULT_ENGINE else "")
                       for name, label in choices)
    parser.add_argument("--engine", default=DEFAULT_ENGINE, choices=[name for name, _ in choices],
                        help="segmentation engine; " + listed.replace("%", "%%"))
    parser.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    parser.add_argument("--sam3-dir", dest="sam3_dir", metavar="DIR",
                        help="with --engine sam3: the weights folder (config.json + model.safetensors); default: the "
                        "Hugging Face cache")


def engine_options(args: Any) -> dict[str, Any]:
    """The engine's keyword options from ``--device``, ``--sam3-dir`` and (``track``)
    ``--compile``."""
    if args.sam3_dir and args.engine != "sam3":
        raise Sam3RotoError(f"--sam3-dir is for --engine sam3, not {args.engine}")
    options: dict[str, Any] = {"device": args.device} if args.device else {}
    if args.sam3_dir:
        options["model_dir"] = args.sam3_dir
    if getattr(args, "compile", False):
        if args.engine != "sam3":
            raise Sam3RotoError(f"--compile is for --engine sam3, not {args.engine}")
        options["compile"] = True
    return options


def apply_absent(project: Any, obj_id: int, item: Any, path: str | Path) -> None:
    """Mark the absent ranges of a prompts-file object (``item``) on ``obj_id``."""
    from sam3roto.interchange.prompts import absent_indices

    if project.shot is None:
        raise Sam3RotoError("the project has no shot", path=path)
    for first, last in absent_indices(item, project.shot.frame_numbers, path):
        project.set_absent(obj_id, first, last)


def apply_touchups(project: Any, obj_id: int, item: Any, frame_numbers: Any) -> None:
    """Set the touch-ups of a prompts-file object (``item``, frame numbers) on ``obj_id``:
    each replaces the object's touch-up of the same range (running the file again adds
    nothing twice)."""
    from sam3roto.core.strokes import TouchUp

    index = {number: i for i, number in enumerate(frame_numbers)}
    obj = project.object(obj_id)
    for touch in item.touchups:
        first, last = index[touch.first], index[touch.last]
        obj.touchups = [t for t in obj.touchups if (t.first, t.last) != (first, last)]
        obj.touchups.append(TouchUp(first, last, list(touch.strokes)))


def shot_frame_index(number: int, frame_numbers: list[int], where: str | Path) -> int:
    """The index of frame ``number`` in the shot; an error names the shot's frames."""
    if number not in frame_numbers:
        raise Sam3RotoError(f"frame {number} is not in the shot (frames {format_numbers(frame_numbers)})",
                            path=where, hint="give a frame number of the shot, as `info` lists them")
    return frame_numbers.index(number)


INPUT_COLORSPACE_HELP = ("the OpenColorIO colour space the plates are in (default: the project's, else guessed from "
                         "the media: EXR and float images scene-linear, other files sRGB); it is kept in the project. "
                         "python run.py colorspaces lists the names")


#: The same for commands that do not save the project: the name holds for that run.
INPUT_COLORSPACE_RUN_HELP = ("the OpenColorIO colour space the plates are in, for this run only (default: the "
                             "project's, else guessed from the media: EXR and float images scene-linear, other files "
                             "sRGB); python run.py colorspaces lists the names")


def add_colour_argument(parser: Any, help: str = INPUT_COLORSPACE_HELP) -> None:
    """``--input-colorspace NAME`` (see :data:`INPUT_COLORSPACE_HELP`)."""
    parser.add_argument("--input-colorspace", dest="input_colorspace", metavar="NAME", help=help)


def apply_input_colorspace(project: Any, args: Any) -> None:
    """Set the project's shot to ``--input-colorspace`` when given (the config's own name;
    an unknown name is an error naming the config)."""
    name = getattr(args, "input_colorspace", None)
    if name and project.shot is not None:
        from sam3roto.media.colour import load_config

        project.shot.input_colorspace = load_config().resolve(name, "input colour space")

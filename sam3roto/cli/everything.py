"""``everything MEDIA|PROJECT --frame N --out regions.png``: segment everything on one frame.

The frame is cut into regions (the Segment tab's "Segment everything", through the same
interactive session and job, :func:`sam3roto.pipeline.interactive.everything_job`): every
pixel belongs to one region, numbered 0..n-1 largest first. ``--out`` gets them as a 16-bit
grey PNG at source size whose pixel value is the region number, and beside it (same name,
``.json``) the list of regions with their area and bounding box, so a script can pick
regions (the union of picked regions is a mask, as clicks on them make it in the window).
Files are written atomically and never overwritten unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from sam3roto.cli.common import (
    INPUT_COLORSPACE_RUN_HELP,
    add_colour_argument,
    add_engine_arguments,
    apply_input_colorspace,
    drive,
    engine_options,
    shot_frame_index,
)
from sam3roto.errors import EngineError, Sam3RotoError

#: Region numbers a 16-bit PNG can hold.
MAX_REGIONS = 1 << 16


def output_paths(out: str, *, force: bool) -> tuple[Path, Path]:
    """The PNG ``--out`` names and its JSON beside it; refuses existing files unless ``force``."""
    png = Path(out)
    if png.suffix.lower() != ".png" or out.endswith(("/", "\\")) or png.is_dir():
        raise Sam3RotoError(f"--out {out}: give a .png file for the region numbers (the region list goes "
                            "beside it as .json)")
    sidecar = png.with_suffix(".json")
    existing = [p for p in (png, sidecar) if p.exists()]
    if existing and not force:
        raise Sam3RotoError("the file exists; everything never overwrites files: give another --out, or add "
                            "--force to replace it", path=existing[0])
    return png, sidecar


def check_engine(engine: str) -> None:
    """Refuse an engine that does not offer segment everything, before any model loads."""
    from sam3roto.backends.registry import SEGMENTATION_ENGINES, engine_class

    if not engine_class(engine).capabilities.everything:
        others = [n for n in SEGMENTATION_ENGINES if n != engine and engine_class(n).capabilities.everything]
        instead = f": use --engine {' or '.join(others)}" if others else ""
        raise EngineError(f"the {engine} engine does not offer segment everything{instead}")


def region_table(labels: np.ndarray) -> list[dict[str, Any]]:
    """Each region of ``labels`` (``int32 (H, W)``, 0..n-1): ``number``, ``area_px`` and
    ``bbox_xyxy`` (``[x0, y0, x1, y1]`` pixel edges in source pixels, x1 and y1 exclusive:
    ``x1 - x0`` is the width; the box a box prompt on the region takes)."""
    n = int(labels.max()) + 1
    h, w = labels.shape
    flat = labels.ravel()
    ys, xs = np.divmod(np.arange(flat.size), w)
    areas = np.bincount(flat, minlength=n)
    x0 = np.full(n, w)
    y0 = np.full(n, h)
    x1 = np.zeros(n, np.int64)
    y1 = np.zeros(n, np.int64)
    np.minimum.at(x0, flat, xs)
    np.minimum.at(y0, flat, ys)
    np.maximum.at(x1, flat, xs + 1)
    np.maximum.at(y1, flat, ys + 1)
    return [{"number": k, "area_px": int(areas[k]), "bbox_xyxy": [int(x0[k]), int(y0[k]), int(x1[k]), int(y1[k])]}
            for k in range(n)]


def write_regions(png: Path, sidecar: Path, labels: np.ndarray, about: dict[str, Any]) -> list[dict[str, Any]]:
    """``labels`` as a 16-bit PNG at ``png`` and the region list (with ``about``) as JSON at
    ``sidecar``, each atomically; a PNG whose list could not be written is removed."""
    import cv2

    from sam3roto.core.atomic import atomic_write_text
    from sam3roto.export.base import write_atomic

    n = int(labels.max()) + 1
    if n > MAX_REGIONS:
        raise Sam3RotoError(f"{n} regions do not fit a 16-bit PNG (at most {MAX_REGIONS})", path=png)
    ok, data = cv2.imencode(".png", labels.astype(np.uint16))
    if not ok:
        raise Sam3RotoError("could not encode the regions as PNG", path=png)
    regions = region_table(labels)
    head = json.dumps({**about, "png": png.name, "width": labels.shape[1], "height": labels.shape[0],
                       "pixel_value": "region number", "count": n}, indent=1)
    rows = ",\n".join(f"  {json.dumps(r)}" for r in regions)  # one region a line
    text = f'{head[:-1].rstrip()},\n "regions": [\n{rows}\n ]\n}}\n'
    png.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(png, data.tobytes())
    try:
        atomic_write_text(sidecar, text)
    except BaseException:
        png.unlink(missing_ok=True)
        raise
    return regions


def cmd_everything(args: argparse.Namespace) -> int:
    from sam3roto.core.project_io import load_project
    from sam3roto.pipeline.interactive import InteractiveSession, everything_job
    from sam3roto.pipeline.shot import new_project

    options = engine_options(args)
    png, sidecar = output_paths(args.out, force=args.force)
    check_engine(args.engine)
    if str(args.target).endswith(".sam3roto"):
        if not Path(args.target).exists():
            raise Sam3RotoError("the project does not exist", path=args.target)
        project = load_project(args.target)
        apply_input_colorspace(project, args)  # for this run: the project is not saved
    else:
        project, source = new_project(args.target, args.input_colorspace)
        source.close()
    shot = project.shot
    if shot is None:
        raise Sam3RotoError("the project has no shot", path=args.target)
    index = shot_frame_index(args.frame, shot.frame_numbers, args.target)
    interactive = InteractiveSession()
    try:
        labels = drive(everything_job(interactive, project, index, engine=args.engine, options=options), 1,
                       quiet=args.quiet)
    finally:
        interactive.close()
    about = {"media": str(shot.media), "frame": args.frame, "engine": args.engine}
    regions = write_regions(png, sidecar, labels, about)
    print(f"frame {args.frame}: {len(regions)} region{'s' if len(regions) != 1 else ''} "
          f"(largest {regions[0]['area_px']} px) -> {png} + {sidecar.name}")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "everything", help="cut one frame into regions to pick from (segment everything)",
        description="Segment everything on one frame: every pixel goes to one region, numbered 0..n-1 largest "
        "first (classic: colour and texture regions; engines offering it through their model: the model's masks). "
        "--out writes a 16-bit grey PNG at source size whose pixel value is the region number, and beside it "
        "(same name, .json) each region's number, area_px and bbox_xyxy ([x0, y0, x1, y1], x1 and y1 exclusive). "
        "Existing files are never overwritten unless --force.",
    )
    p.add_argument("target", metavar="MEDIA|PROJECT", help="media, or a .sam3roto project (its shot's media)")
    add_colour_argument(p, INPUT_COLORSPACE_RUN_HELP)  # the project is not saved
    p.add_argument("--frame", type=int, required=True, metavar="N",
                   help="the frame number to cut (as `info` lists them)")
    p.add_argument("--out", required=True, metavar="FILE.png", help="the region numbers (16-bit PNG); "
                   "the region list goes beside it as FILE.json")
    p.add_argument("--force", action="store_true", help="replace the files --out names when they exist")
    add_engine_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_everything)

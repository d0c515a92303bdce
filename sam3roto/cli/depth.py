"""``depth PROJECT``: Depth Anything 3 over the shot into the project's depth cache
(depth, confidence, cameras), chunk by chunk; then ``render --outputs depth-exr,ply,...``."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from sam3roto.cli.common import add_colour_argument, apply_input_colorspace, drive, format_numbers, indices_of
from sam3roto.errors import Sam3RotoError


def cmd_depth(args: argparse.Namespace) -> int:
    from sam3roto.backends.da3 import Da3Estimator
    from sam3roto.core.depthcache import DepthCache
    from sam3roto.core.project_io import depth_cache_dir, load_project, save_project
    from sam3roto.pipeline.depth import DepthOptions, depth_job
    from sam3roto.pipeline.shot import open_shot_media

    project = load_project(args.project)
    apply_input_colorspace(project, args)
    shot = project.shot
    if shot is None:
        raise Sam3RotoError("the project has no shot", path=args.project)
    base = project.settings.get("depth", {})
    if not isinstance(base, dict):
        raise Sam3RotoError("the project's depth settings must be a JSON object", path=args.project)
    try:
        options = DepthOptions(**base)
    except TypeError as exc:
        raise Sam3RotoError(f"the project's depth settings are not valid ({exc})", path=args.project) from None
    changes: dict[str, Any] = {k: getattr(args, k) for k in ("preset", "model_dir", "process_res", "chunk",
                                                              "overlap", "device") if getattr(args, k) is not None}
    options = replace(options, **changes)
    indices = indices_of(args.frames, shot.frame_numbers, args.project) if args.frames else list(shot.frame_range)
    estimator = Da3Estimator(options.preset, model_dir=options.model_dir, device=options.device,
                             process_res=options.process_res)
    try:
        with open_shot_media(project) as source:
            result = drive(depth_job(source, DepthCache(depth_cache_dir(args.project)), indices, estimator, options),
                           len(indices), quiet=args.quiet)
    finally:
        estimator.close()
    project.settings["depth"] = options.to_dict()
    save_project(project, args.project)
    numbers = [shot.frame_numbers[i] for i in result.frames]
    kind = "metric (metres)" if result.is_metric else "relative"
    print(f"depth for frames {format_numbers(numbers)}: {kind}, "
          f"{'cameras estimated' if result.has_camera else 'no cameras (this preset estimates none)'}; "
          f"stored in {depth_cache_dir(args.project)}")
    if result.invalid_pixels:
        print(f"note: {result.invalid_pixels} pixels came back without valid depth (NaN, inf or <= 0); "
              "they are stored as unknown (0) with zero confidence")
    return 0


def add_parser(sub: Any) -> None:
    from sam3roto.backends.da3 import PRESETS

    p = sub.add_parser(
        "depth", help="Depth Anything 3 depth, confidence and cameras for a project's shot",
        description="Estimate depth, confidence and the camera of every frame with Depth Anything 3, in "
        "overlapping chunks aligned into one continuous camera path, into the project's depth cache (NAME.depth/). "
        "Then render depth, normals, cameras and point clouds with: render PROJECT --outputs depth-exr,ply,chan,... "
        "Options not given come from the project's 'depth' settings (saved after each run), then the defaults.",
    )
    p.add_argument("project", help="the .sam3roto project")
    add_colour_argument(p)
    p.add_argument("--preset", choices=tuple(PRESETS), help="model preset (default small)")
    p.add_argument("--depth-dir", dest="model_dir",
                   help="weights folder (config.json + model.safetensors); default: the Hugging Face cache")
    p.add_argument("--process-res", dest="process_res", type=int, help="longest side the model sees (default 504)")
    p.add_argument("--chunk", type=int, help="frames seen together (default 16; 1 = each frame alone, no camera path)")
    p.add_argument("--overlap", type=int, help="frames shared by consecutive chunks for alignment (default 4)")
    p.add_argument("--device", help="auto (default), cpu, cuda, mps")
    p.add_argument("--frames", help="frame numbers, e.g. 1001-1100 (default: the shot's in/out range)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_depth)

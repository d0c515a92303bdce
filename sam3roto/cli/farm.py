"""``farm PROJECT --outputs ...``: write an Open Job Description job template that tracks,
estimates depth and renders the project on a farm, split into tasks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sam3roto.cli.common import project_and_store
from sam3roto.errors import Sam3RotoError


def validate(template: dict[str, Any]) -> str | None:
    """Check ``template`` with openjd-model when it is installed; returns its version or None."""
    try:
        from importlib.metadata import version

        from openjd.model import decode_job_template
    except ImportError:
        return None
    try:
        decode_job_template(template=template)
    except Exception as exc:  # openjd's DecodeValidationError lists every problem
        raise Sam3RotoError(f"the job template does not validate: {exc}") from None
    return version("openjd-model")


def cmd_farm(args: argparse.Namespace) -> int:
    from sam3roto.core.project_io import atomic_write_text
    from sam3roto.export.naming import existing_versions
    from sam3roto.export.registry import parse_outputs
    from sam3roto.pipeline.farm import job_template
    from sam3roto.pipeline.render_table import versions_folder

    project, _ = project_and_store(args.project)
    path = Path(args.project)
    renders = versions_folder(project.settings, path, args.renders)  # where `render` would put them
    version = args.version if args.version is not None else max(existing_versions(renders), default=0) + 1
    if args.bundle and args.template:
        print("error: give --bundle or --template, not both", file=sys.stderr)
        return 2
    if args.bundle:  # a Deadline Cloud job bundle: DIR/template.json + DIR/parameter_values.json
        target = Path(args.bundle) / "template.json"
        target.parent.mkdir(parents=True, exist_ok=True)
    else:
        target = Path(args.template) if args.template else path.with_name(path.stem + ".job.json")
    template = job_template(project, path, outputs=parse_outputs(args.outputs), version=version, chunk=args.chunk,
                            renders=renders, track=args.track, depth=args.depth, python=args.python,
                            template_dir=target.resolve().parent)
    checked = validate(template)
    atomic_write_text(target, json.dumps(template, indent=1) + "\n")
    if args.bundle:
        values = {"parameterValues": [{"name": "Project", "value": str(path.resolve())},
                                      {"name": "Renders", "value": str(renders.resolve())}]}
        atomic_write_text(target.parent / "parameter_values.json", json.dumps(values, indent=1) + "\n")
    steps = ", ".join(f"{s['name']} ({len(s['parameterSpace']['taskParameterDefinitions'][0]['range'])} tasks)"
                      if "parameterSpace" in s else s["name"] for s in template["steps"])
    print(f"wrote {target}: {steps}; renders into v{version:03d} under {renders}")
    print(f"validated with openjd-model {checked}" if checked else
          "note: openjd-model is not installed, so the template was not validated here")
    if args.bundle:
        print(f"submit it: deadline bundle submit {target.parent}")
        given = f"-p Project={path.resolve()} -p Renders={renders.resolve()}"
    else:
        needed = [p["name"] for p in template["parameterDefinitions"] if p["type"] == "PATH" and "default" not in p]
        if needed:
            print(f"note: {', '.join(needed)} lie outside the template's folder, so they have no default: give "
                  "them when submitting")
        given = " ".join(f"-p {n}=..." for n in needed)
    print(f"run it locally: openjd run {target} --step Publish --run-dependencies {given}".rstrip())
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "farm", help="write an Open Job Description job template to track/depth/render on a farm",
        description="Write an Open Job Description (OpenJD) job template for the project: tracking split per "
        "object (--track), depth (--depth), the render split into chunks of frames, outputs that are one file "
        "for the shot in one task, then a publish step. Submit it to any scheduler that reads OpenJD (e.g. AWS "
        "Deadline Cloud: deadline bundle submit), or run it here with openjd-cli.",
    )
    p.add_argument("project", help="the .sam3roto project")
    p.add_argument("--outputs", required=True, help="comma-separated output ids (see render --list-outputs)")
    p.add_argument("--chunk", type=int, default=10, help="frames per render task (default 10)")
    p.add_argument("--track", action="store_true", help="track every object with keyframes first, one task each")
    p.add_argument("--depth", action="store_true", help="run depth (one task) before rendering")
    p.add_argument("--renders", help="folder holding the versions (default: the project's render folder, chosen in "
                   "the window's Export tab, else renders/ beside the project)")
    p.add_argument("--version", type=int, help="version the job writes (default: the next free one now)")
    p.add_argument("--python", help="python interpreter on the workers (default: this one)")
    p.add_argument("--template", help="template file to write (default: NAME.job.json beside the project)")
    p.add_argument("--bundle", help="write a Deadline Cloud job bundle folder instead (template.json + "
                   "parameter_values.json); submit it with: deadline bundle submit DIR")
    p.set_defaults(func=cmd_farm)

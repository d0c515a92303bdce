"""Farm jobs: an Open Job Description job template that runs a project's work on a render
farm (AWS Deadline Cloud and any other scheduler that reads OpenJD), with this CLI as the
task command.

Steps, each task an ordinary ``run.py`` command:

* ``Track`` (with ``track=True``): one task per object (``track PROJECT --objects NAME``);
  objects write their own mask folders, so tasks run in parallel.
* ``Depth`` (with ``depth=True``): one task; chunk alignment runs through the shot in order.
* ``Render``: one task per chunk of frames (``render --part --version N --frames A-B``),
  for outputs written a file per frame.
* ``RenderWhole``: one task for outputs that are one file for the shot (movies, ZIPs,
  cameras, point clouds), written with ``--part`` into the same version.
* ``Publish``: checks every frame was rendered and publishes ``vNNN`` (``render --publish``).

A chunked render gives the same files as a single-process one (post that looks at
neighbouring frames is fed context across chunk edges), so splitting changes nothing but time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from sam3roto.core.project import Project
from sam3roto.errors import Sam3RotoError
from sam3roto.export.registry import exporter_class
from sam3roto.pipeline.render_table import versions_folder

SPECIFICATION = "jobtemplate-2023-09"


def frame_chunks(numbers: list[int], chunk: int) -> list[str]:
    """Frame numbers in ``chunk``-sized runs, as ``--frames`` arguments (``1001-1010``)."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    out = []
    for i in range(0, len(numbers), chunk):
        part = numbers[i:i + chunk]
        out.append(f"{part[0]}-{part[-1]}" if len(part) > 1 else str(part[0]))
    return out


def _path_parameter(name: str, kind: str, flow: str, path: Path, base: Path, description: str) -> dict[str, Any]:
    """A PATH job parameter. OpenJD defaults must lie inside the template's folder (given
    relative to it); a path elsewhere has no default and must be given at submission."""
    param: dict[str, Any] = {"name": name, "type": "PATH", "objectType": kind, "dataFlow": flow,
                             "description": description}
    rel = os.path.relpath(path, base)
    if not rel.startswith(".."):
        param["default"] = rel
    return param


def _command(*args: str) -> dict[str, Any]:
    return {"actions": {"onRun": {"command": "{{Param.Python}}", "args": ["{{Param.RunPy}}", *args]}}}


def job_template(
    project: Project,
    project_path: str | Path,
    *,
    outputs: tuple[str, ...],
    version: int,
    chunk: int = 10,
    renders: str | Path | None = None,
    track: bool = False,
    depth: bool = False,
    python: str | None = None,
    run_py: str | Path | None = None,
    template_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The job template (a JSON-ready dict) for ``project``, to be saved in ``template_dir``
    (default: the project's folder). Paths are job parameters whose defaults are this
    machine's files written relative to the template (OpenJD joins them to its folder), so
    a farm remaps them (path mapping) or overrides them at submission. ``renders``: the
    folder holding the versions (default: where ``render`` puts them, the project's render
    folder else ``renders/`` beside it, :func:`~sam3roto.pipeline.render_table.versions_folder`)."""
    shot = project.shot
    if shot is None:
        raise Sam3RotoError("the project has no shot", path=project_path)
    if not outputs:
        raise ValueError("choose at least one output")
    classes = [exporter_class(o) for o in outputs]
    per_frame = [c.info.id for c in classes if c.info.parallel]
    whole = [c.info.id for c in classes if not c.info.parallel]
    project_path = Path(project_path).resolve()
    renders = versions_folder(project.settings, project_path, renders).resolve()
    run_py = Path(run_py).resolve() if run_py is not None else Path(__file__).resolve().parents[2] / "run.py"
    base = Path(template_dir).resolve() if template_dir is not None else project_path.parent
    numbers = [shot.frame_numbers[i] for i in shot.frame_range]
    common = ["--version", "{{Param.Version}}", "--out", "{{Param.Renders}}", "--quiet"]
    steps: list[dict[str, Any]] = []
    before: list[str] = []
    if track:
        names = [o.name for o in project.objects if any(k.object_id == o.id for k in project.keyframes)]
        if not names:
            raise Sam3RotoError("no object has a keyframe to track from", path=project_path)
        if len(set(names)) != len(names):
            raise Sam3RotoError("object names must be unique to split tracking per object", path=project_path)
        steps.append({
            "name": "Track",
            "parameterSpace": {"taskParameterDefinitions": [{"name": "Object", "type": "STRING", "range": names}]},
            "script": _command("track", "{{Param.Project}}", "--objects", "{{Task.Param.Object}}", "--quiet"),
        })
        before.append("Track")
    if depth:
        steps.append({"name": "Depth", "script": _command("depth", "{{Param.Project}}", "--quiet")})
        before.append("Depth")
    after: list[str] = []
    deps = [{"dependsOn": s} for s in before]
    if per_frame:
        step: dict[str, Any] = {
            "name": "Render",
            "parameterSpace": {"taskParameterDefinitions": [
                {"name": "Frames", "type": "STRING", "range": frame_chunks(numbers, chunk)}]},
            "script": _command("render", "{{Param.Project}}", "--outputs", ",".join(per_frame), "--part",
                               "--frames", "{{Task.Param.Frames}}", *common),
        }
        if deps:
            step["dependencies"] = deps
        steps.append(step)
        after.append("Render")
    if whole:
        step = {"name": "RenderWhole",
                "script": _command("render", "{{Param.Project}}", "--outputs", ",".join(whole), "--part", *common)}
        if deps:
            step["dependencies"] = deps
        steps.append(step)
        after.append("RenderWhole")
    steps.append({"name": "Publish", "dependencies": [{"dependsOn": s} for s in after],
                  "script": _command("render", "{{Param.Project}}", "--publish", "--outputs", ",".join(outputs),
                                     *common)})
    return {
        "specificationVersion": SPECIFICATION,
        "name": f"sam3roto {project_path.stem} v{version:03d}",
        "description": f"{', '.join(outputs)} for frames {numbers[0]}-{numbers[-1]} of {shot.media}",
        "parameterDefinitions": [
            _path_parameter("Project", "FILE", "INOUT", project_path, base,
                            "the .sam3roto project (its .masks/.depth folders beside it)"),
            _path_parameter("Renders", "DIRECTORY", "OUT", renders, base, "folder holding the versions"),
            {"name": "Version", "type": "INT", "default": version, "minValue": 1,
             "description": "version folder all tasks write (vNNN)"},
            {"name": "Python", "type": "STRING", "default": python or sys.executable,
             "description": "python interpreter with sam3roto's requirements on the workers"},
            {"name": "RunPy", "type": "STRING", "default": str(run_py),
             "description": "sam3roto's run.py on the workers"},
        ],
        "steps": steps,
    }

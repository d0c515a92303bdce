"""Seeded fuzzing of project files: mutations of a real saved project (tests/fuzz.py) through
``load_project`` and through the render path, where only sam3roto's own errors may come
out. ``SAM3ROTO_FUZZ_CASES=10000 python -m pytest -m fuzz tests/core/test_fuzz_project.py``
for the full run."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from sam3roto.cli import build_parser
from sam3roto.cli.render import cmd_render, open_project_media, render_options
from sam3roto.core.depthcache import DepthCache
from sam3roto.core.project_io import depth_cache_dir, load_project, mask_store_dir, open_mask_store
from sam3roto.errors import ProjectError, Sam3RotoError
from sam3roto.pipeline.render import render_job
from tests.core.test_hostile_project import make_saved_project
from tests.fuzz import FUZZ_CASES, check_parser, mutations
from tests.hostile import assert_clean_error, run_cli

pytestmark = pytest.mark.fuzz

#: One case in this many goes all the way: the whole render, files written and published.
FULL_RENDER_EVERY = 10


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The saved seed project and its JSON data."""
    path = make_saved_project(tmp_path_factory.mktemp("fuzz-project"))
    return path, json.loads(path.read_text(encoding="utf-8"))


def _target(seed_path: Path) -> Path:
    """The file every case is written to, beside the seed (its media), with the seed's masks."""
    target = seed_path.with_name("fuzzed.sam3roto")
    if not mask_store_dir(target).exists():
        shutil.copytree(mask_store_dir(seed_path), mask_store_dir(target))
    return target


def test_the_mutator_reaches_every_part_of_the_project(seed: tuple[Path, dict]) -> None:
    """The cases edit the shot, the objects, the keyframes' prompts and the settings (so a
    parser that refused everything at the top would not pass unnoticed)."""
    _, data = seed
    texts = list(mutations(data, 300))
    parsed = [_parsed(t) for t in texts]
    changed = {key for doc in parsed if isinstance(doc, dict) for key in data if doc.get(key) != data[key]}
    assert {"shot", "objects", "keyframes", "settings"} <= changed, changed


def _parsed(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # truncated, deep or huge: not an edit of one part
        return None


def test_load_project_raises_only_project_errors_naming_the_file(seed: tuple[Path, dict]) -> None:
    seed_path, data = seed
    target = _target(seed_path)
    outcomes = {"loaded": 0, "refused": 0}

    def parse(text: str, case: int) -> None:
        target.write_text(text, encoding="utf-8")
        try:
            load_project(target)
        except ProjectError as exc:
            outcomes["refused"] += 1
            assert target.name in str(exc), f"case {case}: the error does not name the file: {exc}"
            raise
        outcomes["loaded"] += 1

    assert check_parser(parse, mutations(data, FUZZ_CASES), ProjectError) == FUZZ_CASES
    # both sides are exercised: mutations the model must accept (a name, a colour) and refuse
    assert outcomes["loaded"] > FUZZ_CASES // 20 and outcomes["refused"] > FUZZ_CASES // 4, outcomes


def test_the_render_path_raises_only_sam3roto_errors(seed: tuple[Path, dict], tmp_path: Path) -> None:
    """Each case is loaded, its render settings and post settings read, its media opened
    and its render planned (every check render_job makes before writing, the version folder
    reserved, then abandoned); one case in FULL_RENDER_EVERY, and the first of every
    FULL_RENDER_EVERY cases that passed so far (so that full renders do not depend on where
    the mutations fall), renders the 2-frame shot and publishes the version, through the
    command's own function (``cmd_render``)."""
    seed_path, data = seed
    target = _target(seed_path)
    out = tmp_path / "renders"
    parser = build_parser()
    outcomes = {"planned": 0, "rendered": 0, "refused": 0}

    def parse(text: str, case: int) -> None:
        target.write_text(text, encoding="utf-8")
        args = parser.parse_args(["render", str(target), "--out", str(out), "--quiet"])
        full = case % FULL_RENDER_EVERY == 0 or outcomes["planned"] % FULL_RENDER_EVERY == 1
        try:
            if full:
                assert cmd_render(args) == 0
                assert any(out.glob("v*/manifest.json")), f"case {case}: no version published"
                outcomes["rendered"] += 1
            else:
                _plan(target, args)
            outcomes["planned"] += 1
        except Sam3RotoError as exc:
            outcomes["refused"] += 1
            if full:  # the command's errors always name the project
                assert target.name in str(exc), f"case {case}: the error does not name the file: {exc}"
            raise
        finally:
            leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")] if out.is_dir() else []
            shutil.rmtree(out, ignore_errors=True)
            assert not leftovers, f"case {case}: an unfinished version was left: {leftovers}"

    assert check_parser(parse, mutations(data, FUZZ_CASES), Sam3RotoError) == FUZZ_CASES
    assert outcomes["rendered"] > 0 and outcomes["planned"] > FUZZ_CASES // 20, outcomes


def _plan(path: Path, args: argparse.Namespace) -> None:
    """Everything ``render`` does before its first frame: load, options, media, and the
    render job's checks and plan (it runs to its first progress report, then is closed,
    which removes the version folder it reserved)."""
    project = load_project(path)
    store = open_mask_store(path, project)
    options = render_options(project, path, args)
    with open_project_media(project, path) as source:
        job = render_job(project, source, store, args.out, options, project_path=path,
                         depth=DepthCache(depth_cache_dir(path)))
        next(job)
        job.close()


#: Mutated projects run through ``python run.py render`` in a child process (a second each).
CLI_CASES = 8


def test_render_command_on_mutated_projects_fails_cleanly(seed: tuple[Path, dict], tmp_path: Path) -> None:
    """What the in-process cases show, end to end: ``run.py render`` on a mutated project
    either renders or exits 1 with one ``error:`` line naming the project file."""
    seed_path, data = seed
    target = seed_path.with_name("fuzzed_cli.sam3roto")
    shutil.copytree(mask_store_dir(seed_path), mask_store_dir(target), dirs_exist_ok=True)
    failed = 0
    for text in mutations(data, CLI_CASES, seed=7):
        target.write_text(text, encoding="utf-8")
        proc = run_cli("render", target, "--out", tmp_path / "out", "--quiet")
        if proc.returncode != 0:
            assert_clean_error(proc, target.name)
            failed += 1
    assert failed > 0

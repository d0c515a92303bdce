"""``track`` killed with SIGKILL at 20 points of its run (a seeded schedule): after every
kill the project loads, its mask store opens consistent (every mask readable, every
``track.json`` parses, no temporary file left once it is open) and a last track
completes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from sam3roto.cli import main
from sam3roto.core.project_io import load_project, mask_store_dir, open_mask_store
from tests.export.test_kill_render import tiny_project
from tests.kill import calibrate, kill_schedule, run_and_kill

FRAMES, SIZE = 24, 64


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tiny_project(tmp_path, frames=FRAMES, size=SIZE)
    capsys.readouterr()
    return path


def _check_consistent(project: Path) -> None:
    loaded = load_project(project)
    assert [o.name for o in loaded.objects] == ["disc", "copy"]
    store = open_mask_store(project, loaded)
    leftovers = sorted(p.name for p in project.parent.rglob("*") if p.name.endswith(".tmp"))
    assert not leftovers, leftovers
    root = mask_store_dir(project)
    for obj in loaded.objects:
        frames = store.frames(obj.id)
        assert frames, obj.name  # the first track's masks: a kill loses none
        for frame in frames:
            mask = store.get(obj.id, frame)
            assert mask is not None and mask.shape == (SIZE, SIZE)
        records = json.loads((root / f"obj_{obj.id:04d}" / "track.json").read_text(encoding="utf-8"))
        assert isinstance(records["frames"], dict)
    for png in root.rglob("*.png"):  # every file in the store, not only those the store lists
        assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED) is not None, png


def test_killed_tracks_leave_a_project_that_opens_whole(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("track", str(project), "--quiet")
    seen = {"mtime": project.stat().st_mtime_ns}

    def ready() -> bool:  # the track rewrote the project file: its work began
        return project.stat().st_mtime_ns != seen["mtime"]

    to_ready, work = calibrate(args, ready)
    killed = 0
    for after_ready, delay in kill_schedule(seed=21, count=20, early=4, to_ready=to_ready, work=work):
        seen["mtime"] = project.stat().st_mtime_ns
        killed += run_and_kill(args, ready, after_ready, delay)
        _check_consistent(project)
    assert killed >= 10, f"only {killed} of 20 runs were killed before they finished"
    assert main(list(args)) == 0
    out = capsys.readouterr().out
    assert all(f"object {i} '{name}': frames 1001-{1000 + FRAMES}" in out for i, name in ((1, "disc"), (2, "copy")))
    _check_consistent(project)
    store = open_mask_store(project, load_project(project))
    assert store.frames(1) == store.frames(2) == list(range(FRAMES))

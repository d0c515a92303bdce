"""``render`` killed with SIGKILL at 20 points of its run (a seeded schedule): every kill
leaves at most its own staging folder, the next render removes it and takes the next
number after the last finished version, and finished versions are never touched."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import cv2
import pytest

from sam3roto.cli import main
from tests.backends.test_classic import moving_object_clip
from tests.kill import calibrate, kill_schedule, run_and_kill
from tests.test_cli_track import _prompts_file

#: Several files per frame and object (mattes, RGBA, EXR) and one archive written as it goes.
OUTPUTS = "png-alpha,png-rgba,exr,mask-zip"
_VERSION = re.compile(r"^v(\d{3})$")


def tiny_project(root: Path, frames: int = 24, size: int = 64) -> Path:
    """``root/shot.sam3roto`` on a ``size``-pixel plate of ``frames`` frames (1001...) with
    two tracked objects (``disc`` and ``copy``), made by ``track`` in this process."""
    clip = moving_object_clip(n=frames, width=size, height=size, radius=size // 5)
    plate = root / "plate"
    plate.mkdir(parents=True)
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(plate / f"plate.{1001 + i}.png"), frame[..., ::-1])
    spec = json.loads(_prompts_file(clip.masks[0], root / "one.json").read_text())
    spec["objects"].append({**spec["objects"][0], "name": "copy"})
    (root / "prompts.json").write_text(json.dumps(spec))
    project = root / "shot.sam3roto"
    assert main(["track", str(plate), "--project", str(project), "--prompts", str(root / "prompts.json"),
                 "--quiet"]) == 0
    return project


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tiny_project(tmp_path)
    capsys.readouterr()
    return path


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _check_complete(folder: Path) -> None:
    """A published version: its manifest lists every file in it, each readable, and
    nothing else (no owner record, no temporary file)."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    listed = {f for files in manifest["outputs"].values() for f in files} | {"manifest.json"}
    assert set(_hashes(folder)) == listed, folder
    assert len(listed) == 24 * 2 * 2 + 24 + 1 + 1
    for name in listed:
        if name.endswith(".png"):
            assert cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED) is not None, name


def test_killed_renders_leave_nothing_and_cost_no_version_number(project: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = project.parent / "renders"
    args = ("render", str(project), "--outputs", OUTPUTS, "--quiet")
    assert main(list(args)) == 0
    capsys.readouterr()
    finished = {"v001": _hashes(root / "v001")}

    def ready() -> bool:  # the render made its staging folder
        return any(p.name.startswith(".v") for p in root.iterdir())

    to_ready, work = calibrate(args, ready, lambda: not ready())  # work: while the staging folder lives
    finished["v002"] = _hashes(root / "v002")
    mid_render = 0
    for after_ready, delay in kill_schedule(seed=20, count=20, early=4, to_ready=to_ready, work=work):
        run_and_kill(args, ready, after_ready, delay)
        hidden = [p.name for p in root.iterdir() if p.name.startswith(".")]
        assert all(re.fullmatch(r"\.v\d{3}\.(partial|new-[0-9a-f]{8}-\d+-[0-9a-f]+)", n) for n in hidden), hidden
        mid_render += bool(hidden)
        for folder in sorted(root.iterdir()):  # a render killed after it published is a whole version
            if _VERSION.match(folder.name) and folder.name not in finished:
                assert not hidden, hidden
                _check_complete(folder)
                finished[folder.name] = _hashes(folder)
        expected = f"v{len(finished) + 1:03d}"  # dense: the kills used up no number
        assert main(list(args)) == 0
        assert f"wrote {expected}:" in capsys.readouterr().out
        assert sorted(p.name for p in root.iterdir()) == sorted([*finished, expected])
        _check_complete(root / expected)
        finished[expected] = _hashes(root / expected)
    for name, files in finished.items():  # earlier versions byte for byte as they were published
        assert _hashes(root / name) == files, name
    assert mid_render >= 5, f"only {mid_render} of 20 kills landed while a version was being written"

"""The command line: info output, JSON, exit codes, and `import sam3roto` staying light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_info_table(synthetic_mp4: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(synthetic_mp4)]) == 0
    out = capsys.readouterr().out
    assert "frames         48" in out and "24 = 24/1" in out and "320x240" in out and "0-47" in out


def test_info_json_reports_gaps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for n in (1001, 1002, 1005):
        cv2.imwrite(str(tmp_path / f"plate.{n}.png"), np.zeros((6, 8), np.uint16))
    assert main(["info", "--json", str(tmp_path / "plate.####.png")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["frames"] == 3 and data["gaps"] == [1003, 1004] and data["frame_numbers"] == "1001-1002,1005"
    assert data["bit_depth"] == 16 and data["fps_is_default"] is True


def test_errors_exit_1_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "nope.mov")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.mov" in err and "Traceback" not in err


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert main([]) == 2


def test_subprocess_help_and_info(synthetic_mp4: Path) -> None:
    run = subprocess.run([sys.executable, "run.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "info" in run.stdout
    run = subprocess.run([sys.executable, "run.py", "info", str(synthetic_mp4)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and "48" in run.stdout
    run = subprocess.run([sys.executable, "run.py", "info", "/no/such/file.mp4"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 1 and run.stderr.startswith("error: ")


def test_import_is_light() -> None:
    code = ("import sys, sam3roto, sam3roto.core.project, sam3roto.media, sam3roto.cli; "
            "heavy = [m for m in ('av', 'cv2', 'torch', 'PySide6', 'OpenEXR', 'transformers') if m in sys.modules]; "
            "print(','.join(heavy))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ""

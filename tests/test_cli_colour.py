"""The command line's colour: ``info`` says the guessed colour space, ``colorspaces`` lists
the config, ``--input-colorspace`` sets the shot's (kept in the project), and a name the
config lacks is one clean error naming the config."""

from __future__ import annotations

import json
from pathlib import Path

from sam3roto.core.project_io import load_project
from tests.hostile import assert_clean_error, run_cli
from tests.media.test_colour import write_exr_plates


def test_info_and_colorspaces(tmp_path: Path) -> None:
    pattern, _ = write_exr_plates(tmp_path / "plates", count=1)
    proc = run_cli("info", pattern)
    assert proc.returncode == 0, proc.stderr
    assert "colour space   ACEScg (guessed; OpenColorIO config studio-config" in proc.stdout
    data = json.loads(run_cli("info", pattern, "--json").stdout)
    assert data["colorspace_guess"] == "ACEScg"
    listed = json.loads(run_cli("colorspaces", "--json").stdout)
    names = {c["name"]: c["encoding"] for c in listed["colorspaces"]}
    assert names["ACEScg"] == "scene-linear" and names["Raw"] == "data"
    assert listed["models"] == "sRGB Encoded Rec.709 (sRGB)" and "sRGB - Display" in listed["displays"]
    assert "Un-tone-mapped" in listed["displays"]["sRGB - Display"]
    text = run_cli("colorspaces").stdout
    assert text.startswith("config: studio-config") and "  ARRI LogC4  [log]" in text


def test_input_colorspace_is_kept_in_the_project_and_checked(tmp_path: Path) -> None:
    pattern, _ = write_exr_plates(tmp_path / "plates", count=2)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"objects": [{"name": "swan", "keyframes": [
        {"frame": 1001, "boxes": [[250, 120, 620, 380]]}]}]}))
    project = tmp_path / "swan.sam3roto"
    bad = run_cli("track", pattern, "--project", project, "--prompts", prompts, "--input-colorspace", "Kodak 2383",
                  "--quiet", timeout=120)
    text = assert_clean_error(bad, "Kodak 2383", "studio-config")
    assert "colorspaces" in text and not project.exists()
    good = run_cli("track", pattern, "--project", project, "--prompts", prompts, "--input-colorspace", "lin_rec709",
                   "--quiet", timeout=120)
    assert good.returncode == 0, good.stderr
    assert load_project(project).shot.input_colorspace == "Linear Rec.709 (sRGB)"
    again = run_cli("depth", project, "--input-colorspace", "nope", timeout=120)
    assert_clean_error(again, "'nope' is not in the OpenColorIO config")
    assert load_project(project).shot.input_colorspace == "Linear Rec.709 (sRGB)"

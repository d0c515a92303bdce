"""Post over a shot from the command line: real PNG sequences in, 16-bit PNGs read back."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.cli import main


@pytest.fixture
def shot(tmp_path: Path) -> tuple[Path, Path]:
    """Six frames of an orange square moving on a green screen, and 8-bit masks a bit small."""
    plate, masks = tmp_path / "plate", tmp_path / "masks"
    plate.mkdir()
    masks.mkdir()
    for i in range(6):
        image = np.zeros((90, 120, 3), np.uint8)
        image[:] = (50, 180, 60)
        image[20:70, 30 + 2 * i : 90 + 2 * i] = (200, 130, 80)
        mask = np.zeros((90, 120), np.uint8)
        mask[22:68, 32 + 2 * i : 88 + 2 * i] = 255
        mask[40:42, 50 + 2 * i : 52 + 2 * i] = 0  # a hole
        cv2.imwrite(str(plate / f"plate.{1001 + i:04d}.png"), image[..., ::-1])
        cv2.imwrite(str(masks / f"mask.{1001 + i:04d}.png"), mask)
    return plate, masks


def _read(path: Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert data is not None, path
    return data


def test_post_writes_16_bit_mattes_and_rgba_with_the_frame_numbers(shot, tmp_path: Path) -> None:
    plate, masks = shot
    settings = tmp_path / "post.json"
    settings.write_text(json.dumps({"fill_holes_px": 10, "grow_px": 2, "despill": "green"}))
    out = tmp_path / "out"
    rc = main(["post", str(plate), "--masks", str(masks), "--out", str(out), "--settings", str(settings),
               "--set", "premultiply=true", "--rgba", "--frames", "1002-1004", "--quiet"])
    assert rc == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"matte.{n}.png" for n in (1002, 1003, 1004)] + [
        f"matte_rgba_premult.{n}.png" for n in (1002, 1003, 1004)]
    matte = _read(out / "matte.1003.png")
    assert matte.dtype == np.uint16 and matte.ndim == 2
    assert matte[41, 55] == 65535  # the hole is filled
    assert matte[45, 30 + 4] == 65535 and matte[45, 28 + 4] == 0  # grown by 2 onto the square's edge
    rgba = _read(out / "matte_rgba_premult.1003.png")
    assert rgba.dtype == np.uint16 and rgba.shape == (90, 120, 4)
    b, g, r, a = (rgba[..., c].astype(np.int64) for c in range(4))
    assert (a == matte).all()
    assert (r <= a).all() and (g <= a).all() and (b <= a).all()  # premultiplied
    assert (r[~(a > 0)] == 0).all()
    assert abs(int(r[45, 60]) - round(200 / 255 * 65535)) <= 1  # the object's colour, exact where alpha is 1
    assert not list(out.glob(".*partial*"))


def test_post_never_overwrites_and_reports_bad_input(shot, tmp_path: Path, capsys) -> None:
    plate, masks = shot
    out = tmp_path / "out"
    assert main(["post", str(plate), "--masks", str(masks), "--out", str(out), "--quiet"]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["post", str(plate), "--masks", str(masks), "--out", str(out), "--quiet"]) == 1
    assert "output folder is not empty" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert main(["post", str(plate), "--masks", str(masks), "--out", str(tmp_path / "o2"), "--set", "grow=3"]) == 1
    assert "unknown post settings: grow" in capsys.readouterr().err
    assert main(["post", str(plate), "--masks", str(masks), "--out", str(tmp_path / "o3"),
                 "--set", "feather_px=-1"]) == 1
    assert "feather_px must be in [0, 1000]" in capsys.readouterr().err
    assert main(["post", str(plate), "--masks", str(masks), "--out", str(tmp_path / "o4"), "--frames", "900"]) == 1
    assert "frames 900 are not in the shot" in capsys.readouterr().err
    (masks / "mask.1006.png").unlink()
    assert main(["post", str(plate), "--masks", str(masks), "--out", str(tmp_path / "o5")]) == 1
    assert "the masks have 5 frames but the media has 6" in capsys.readouterr().err
    assert not (tmp_path / "o5").exists()


def test_print_settings_lists_every_setting(capsys) -> None:
    assert main(["post", "--set", "despill=blue", "--print-settings"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["despill"] == "blue" and {"grow_px", "refine_band_px", "temporal_pct", "edge_extend"} <= set(data)

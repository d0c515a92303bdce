"""Renders of real EXR plates (DAVIS frames in ACEScg): RGB outputs in their colour
spaces, converted exactly as OpenColorIO converts, mattes written as data, the manifest
saying which space each output is in; the models and the post stack see sRGB."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest

from sam3roto.core.jobs import run_sync
from sam3roto.core.maskstore import MaskStore
from sam3roto.errors import Sam3RotoError
from sam3roto.pipeline.render import RenderOptions, render_job
from sam3roto.pipeline.shot import new_project, open_shot_media
from tests.media.test_colour import _ocio, write_exr_plates

SRGB = "sRGB Encoded Rec.709 (sRGB)"


@pytest.fixture
def exr_shot(tmp_path: Path):  # type: ignore[no-untyped-def]
    pattern, _ = write_exr_plates(tmp_path / "plates", count=2)
    project, source = new_project(pattern)
    source.close()
    store = MaskStore(tmp_path / "masks")
    swan = project.add_object("swan")
    mask = np.zeros((480, 854), bool)
    mask[150:350, 300:600] = True
    for i in range(2):
        store.put(swan.id, i, mask)
    yield project, store, mask


def _render(project, store, root: Path, **options):  # type: ignore[no-untyped-def]
    with open_shot_media(project) as source:
        return run_sync(render_job(project, source, store, root, RenderOptions(**options)))


def _exr(path: Path) -> dict[str, np.ndarray]:
    with OpenEXR.File(str(path), separate_channels=True) as exr:
        return {name: np.asarray(ch.pixels) for name, ch in exr.channels().items()}


def _exr_header(path: Path) -> dict[str, object]:
    with OpenEXR.File(str(path), header_only=True) as exr:
        return dict(exr.header())


def test_exr_rgb_keeps_the_scene_linear_plate_and_png_rgba_is_srgb(exr_shot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, store, mask = exr_shot
    result = _render(project, store, tmp_path / "out", outputs=("exr", "png-rgba", "png-alpha"), exr_rgb=True)
    manifest = json.loads((result.folder / "manifest.json").read_text())
    colour = manifest["colour"]
    assert colour["input"] == "ACEScg" and colour["analysis"] == SRGB
    assert colour["outputs"] == {"exr": "ACEScg", "png-rgba": SRGB}
    assert colour["config"].startswith("studio-config") and "never converted" in colour["data"]
    with open_shot_media(project) as source:
        plate = source.read_plate(1).astype(np.float32)
    channels = _exr(result.folder / "exr" / "plate.1002.exr")
    rgb = np.stack([channels[c] for c in "RGB"], -1).astype(np.float32)
    np.testing.assert_array_equal(rgb, plate)  # what came in goes out (half to half)
    np.testing.assert_array_equal(channels["swan.A"], mask.astype(np.float16))  # mattes: data
    header = _exr_header(result.folder / "exr" / "plate.1002.exr")
    assert header["oiio:ColorSpace"] == "ACEScg" and "ACEScg" in str(header["sam3roto_rgb"])
    png = cv2.imread(str(result.folder / "swan" / "plate_swan_rgba_straight.1002.png"), cv2.IMREAD_UNCHANGED)
    png = png[..., [2, 1, 0, 3]].astype(np.float64) / 65535.0
    expected = np.clip(_ocio("ACEScg", SRGB, plate), 0, 1)
    assert np.abs(png[..., :3][mask] - expected[mask]).max() <= 1 / 65535 + 1e-6
    np.testing.assert_array_equal(png[..., 3], mask.astype(np.float64))
    alpha = cv2.imread(str(result.folder / "swan" / "plate_swan.1002.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(alpha, mask * 65535)


def test_a_chosen_output_colour_space_and_premultiplying_over_values_above_one(exr_shot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, store, _ = exr_shot
    project.object(1).post = {"premultiply": True, "feather_px": 6}
    result = _render(project, store, tmp_path / "out", outputs=("exr", "png-rgba"), exr_rgb=True,
                     output_colorspace="lin_rec709", indices=(0,))
    manifest = json.loads((result.folder / "manifest.json").read_text())
    # EXR takes the chosen linear space; an 8/16-bit PNG cannot hold it: sRGB
    assert manifest["colour"]["outputs"] == {"exr": "Linear Rec.709 (sRGB)", "png-rgba": SRGB}
    assert manifest["options"]["output_colorspace"] == "lin_rec709"
    with open_shot_media(project) as source:
        plate = source.read_plate(0).astype(np.float32)
    channels = _exr(result.folder / "exr" / "plate.1001.exr")
    rgb = np.stack([channels[c] for c in "RGB"], -1).astype(np.float32)
    expected = _ocio("ACEScg", "Linear Rec.709 (sRGB)", plate).astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(rgb, expected)
    png = cv2.imread(str(result.folder / "swan" / "plate_swan_rgba_premult.1001.png"), cv2.IMREAD_UNCHANGED)
    png = png[..., [2, 1, 0, 3]].astype(np.float64) / 65535.0
    alpha = png[..., 3:]
    # premultiplied RGB never exceeds its alpha, bright plates included (clipped, then premultiplied)
    assert np.all(png[..., :3] <= alpha + 1 / 65535)
    srgb = np.clip(_ocio("ACEScg", SRGB, plate), 0, 1)
    inside = alpha[..., 0] == 1.0
    assert inside.sum() > 1000 and np.abs(png[..., :3][inside] - srgb[inside]).max() <= 1 / 65535 + 1e-6
    assert np.all(png[..., :3][alpha[..., 0] == 0] == 0)


def test_premultiplied_rgba_of_a_bright_linear_plate_stays_below_alpha(tmp_path: Path) -> None:
    import OpenEXR as exr_module

    folder = tmp_path / "hot"
    folder.mkdir()
    hot = np.full((64, 96, 3), 4.0, np.float16)  # a light source: scene-linear 4.0
    for i in range(2):
        channels = {c: np.ascontiguousarray(hot[..., k]) for k, c in enumerate("RGB")}
        with exr_module.File({"compression": exr_module.ZIP_COMPRESSION, "type": exr_module.scanlineimage},
                             channels) as f:
            f.write(str(folder / f"hot.{1001 + i}.exr"))
    project, source = new_project(folder / "hot.####.exr")
    source.close()
    store = MaskStore(tmp_path / "masks")
    obj = project.add_object("light")
    obj.post = {"premultiply": True, "feather_px": 6}
    mask = np.zeros((64, 96), bool)
    mask[16:48, 24:72] = True
    for i in range(2):
        store.put(obj.id, i, mask)
    result = _render(project, store, tmp_path / "out", outputs=("png-rgba",), indices=(0,))
    png = cv2.imread(str(result.folder / "light" / "hot_light_rgba_premult.1001.png"), cv2.IMREAD_UNCHANGED)
    png = png.astype(np.float64) / 65535.0
    soft = (png[..., 3] > 0.05) & (png[..., 3] < 0.95)
    assert soft.sum() > 50
    np.testing.assert_allclose(png[..., :3][soft], np.repeat(png[..., 3:][soft], 3, axis=-1), atol=2 / 65535)


def test_an_unknown_output_colour_space_writes_nothing(exr_shot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, store, _ = exr_shot
    with pytest.raises(Sam3RotoError, match="output colour space 'Kodak 2383' is not in the OpenColorIO config"):
        _render(project, store, tmp_path / "out", outputs=("png-rgba",), output_colorspace="Kodak 2383")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_models_see_srgb_through_the_window_s_session(exr_shot) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = exr_shot
    from sam3roto.pipeline.interactive import InteractiveSession

    interactive = InteractiveSession()
    try:
        session = interactive.session(project, "classic")
        seen = session.source.read(0)  # type: ignore[attr-defined]
        with open_shot_media(project) as source:
            expected = np.clip(_ocio("ACEScg", SRGB, source.read_plate(0)), 0, 1)
        np.testing.assert_array_equal(seen, expected)
        opened = interactive.opened
        assert project.shot is not None
        project.shot.input_colorspace = "ACES2065-1"  # another input colour space: a new session
        interactive.session(project, "classic")
        assert interactive.opened == opened + 1
    finally:
        interactive.close()


def test_a_farm_published_manifest_names_every_task_s_output_spaces(exr_shot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sam3roto.pipeline.render import publish_parts

    project, store, _ = exr_shot
    root = tmp_path / "farm"
    _render(project, store, root, outputs=("png-rgba",), indices=(0,), part=True, version=1)
    _render(project, store, root, outputs=("exr",), exr_rgb=True, indices=(1,), part=True, version=1)
    final = publish_parts(root, 1, [0, 1])
    colour = json.loads((final / "manifest.json").read_text())["colour"]
    assert colour["outputs"] == {"png-rgba": SRGB, "exr": "ACEScg"} and colour["input"] == "ACEScg"

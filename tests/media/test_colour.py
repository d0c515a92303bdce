"""Colour management: real EXR plates (DAVIS frames converted to ACEScg with the built-in
OpenColorIO config) read back, guessed, and converted exactly as OpenColorIO's own
processors convert them; names checked; the project keeps the shot's colour space."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import PyOpenColorIO as ocio
import pytest

from sam3roto.core.project import Project
from sam3roto.media.colour import (
    BUILTIN_CONFIG,
    ColourError,
    ColourSource,
    colour_source,
    load_config,
    output_spaces,
    plates_of,
)
from sam3roto.media.source import open_media
from sam3roto.pipeline.shot import new_project, open_shot_media

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SWAN = DATA / "davis2016" / "JPEGImages" / "480p" / "blackswan"
BEDROOM = DATA / "sam2_bedroom" / "bedroom.mp4"


def _ocio(src: str, dst: str, pixels: np.ndarray) -> np.ndarray:
    """``pixels`` converted by OpenColorIO itself (the reference)."""
    config = ocio.Config.CreateFromFile(BUILTIN_CONFIG)
    out = np.ascontiguousarray(pixels, dtype=np.float32).copy()
    config.getProcessor(src, dst).getDefaultCPUProcessor().applyRGB(out)
    return out


def write_exr_plates(folder: Path, count: int = 3, space: str = "ACEScg") -> tuple[Path, list[np.ndarray]]:
    """DAVIS blackswan frames (sRGB JPEGs) converted to ``space`` by OpenColorIO and written
    as half-float EXRs ``plate.1001.exr``...; returns the pattern and the sRGB originals."""
    import OpenEXR

    if not SWAN.is_dir():
        pytest.skip(f"real footage not found: {SWAN}")
    folder.mkdir(parents=True, exist_ok=True)
    originals = []
    for i in range(count):
        rgb = cv2.imread(str(SWAN / f"{i:05d}.jpg"))[..., ::-1].astype(np.float32) / 255.0
        originals.append(rgb)
        linear = _ocio("sRGB Encoded Rec.709 (sRGB)", space, rgb).astype(np.float16)
        channels = {c: np.ascontiguousarray(linear[..., k]) for k, c in enumerate("RGB")}
        with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, channels) as exr:
            exr.write(str(folder / f"plate.{1001 + i}.exr"))
    return folder / "plate.####.exr", originals


def test_exr_plates_are_scene_linear_and_the_models_see_ocio_srgb(tmp_path: Path) -> None:
    pattern, originals = write_exr_plates(tmp_path / "exr")
    project, source = new_project(pattern)
    with source:
        assert project.shot is not None and project.shot.input_colorspace == "ACEScg"  # the scene_linear role
        assert isinstance(source, ColourSource) and source.info.dtype == "float32"
        plate = source.read_plate(1)
        assert plate.dtype in (np.float16, np.float32) and float(plate.max()) <= 1.5
        seen = source.read(1)
        expected = np.clip(_ocio("ACEScg", "sRGB Encoded Rec.709 (sRGB)", plate), 0.0, 1.0)
        np.testing.assert_array_equal(seen, expected)
        # and that is the frame the JPEG held, within half-float precision
        assert np.abs(seen - originals[1]).max() < 4 / 255
        assert [i for i, _ in source.read_span(0, 2)] == [0, 1]
        clone = source.clone()
        try:
            np.testing.assert_array_equal(clone.read(1), seen)
        finally:
            clone.close()


def test_8bit_video_is_srgb_and_nothing_is_converted() -> None:
    if not BEDROOM.is_file():
        pytest.skip(f"real footage not found: {BEDROOM}")
    project, source = new_project(BEDROOM)
    with source:
        assert project.shot is not None and project.shot.input_colorspace == "sRGB Encoded Rec.709 (sRGB)"
        assert source.to_model.identity and source.info.dtype == "uint8"
        _, read = plates_of(source)
        np.testing.assert_array_equal(source.read(5), read(5))
        assert source.read(5).dtype == np.uint8


def test_an_ocio_config_from_the_environment_decides_by_its_file_rules(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pattern, _ = write_exr_plates(tmp_path / "exr", count=1)
    monkeypatch.setenv("OCIO", "ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5")
    config = load_config()
    assert config.name.startswith("studio-config-v4.0.0")
    with open_media(pattern) as plate:
        assert config.guess(plate.info) == "ACES2065-1"  # the config's rule for *.exr
    if BEDROOM.is_file():
        with open_media(BEDROOM) as movie:
            assert config.guess(movie.info) == "Rec.1886 Rec.709 - Display"  # its rule for movies


def test_names_are_checked_and_aliases_resolve() -> None:
    config = load_config()
    assert config.resolve("lin_rec709") == "Linear Rec.709 (sRGB)"
    assert config.resolve("srgb_tx") == config.model_space
    with pytest.raises(ColourError, match=r"'Kodak 2383' is not in the OpenColorIO config 'studio-config") as err:
        config.resolve("Kodak 2383")
    assert "colorspaces" in str(err.value.hint_for("cli"))
    with pytest.raises(ColourError, match="view 'Filmic'"):
        config.display("ACEScg", config.default_display(), "Filmic")


def test_an_unloadable_config_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "config.ocio"
    bad.write_text("ocio_profile_version: 2\nroles: [this is not yaml for ocio\n")
    monkeypatch.setenv("OCIO", str(bad))
    with pytest.raises(ColourError, match="could not be loaded") as err:
        load_config()
    assert err.value.path == bad


def test_output_spaces_follow_the_rules() -> None:
    config = load_config()
    rgb = {"exr": "float", "png-rgba": "display", "prores": "rec709"}
    srgb = config.model_space
    assert output_spaces(config, "ACEScg", None, rgb) == {"exr": "ACEScg", "png-rgba": srgb, "prores": srgb}
    assert output_spaces(config, "srgb_tx", None, rgb) == dict.fromkeys(rgb, srgb)
    assert output_spaces(config, "ACEScct", None, {"exr": "float"})["exr"] == "ACEScct"
    # a chosen space: floats take it; integer outputs only when it is display-referred
    assert output_spaces(config, "ACEScg", "lin_rec709", rgb) == {
        "exr": "Linear Rec.709 (sRGB)", "png-rgba": srgb, "prores": srgb}
    assert output_spaces(config, "ACEScg", "Gamma 2.4 Encoded Rec.709", rgb) == dict.fromkeys(
        rgb, "Gamma 2.4 Encoded Rec.709")
    # ProRes is tagged Rec.709: a P3 plate's ProRes is converted, its PNG keeps P3
    p3 = output_spaces(config, "Display P3 - Display", None, rgb)
    assert p3 == {"exr": "Display P3 - Display", "png-rgba": "Display P3 - Display", "prores": srgb}
    assert output_spaces(config, "srgb_tx", "Camera Rec.709", {"prores": "rec709"}) == {"prores": "Camera Rec.709"}
    with pytest.raises(ColourError, match="output colour space 'nope'"):
        output_spaces(config, "ACEScg", "nope", rgb)


def test_display_transforms_match_ocio_and_plain_views_show_video_as_it_is() -> None:
    config = load_config()
    display = config.default_display()
    assert config.default_view(display, "srgb_tx") == "Un-tone-mapped"
    assert config.display("srgb_tx", display, "Un-tone-mapped").identity  # no 10-bit code value changes
    view = config.default_view(display, "ACEScg")
    assert view == str(ocio.Config.CreateFromFile(BUILTIN_CONFIG).getDefaultView(display))
    pixels = np.random.default_rng(1).random((8, 9, 3), dtype=np.float32) * 2
    shown = config.display("ACEScg", display, view)(pixels)
    reference = pixels.copy()
    transform = ocio.DisplayViewTransform(src="ACEScg", display=display, view=view)
    ocio.Config.CreateFromFile(BUILTIN_CONFIG).getProcessor(transform).getDefaultCPUProcessor().applyRGB(reference)
    np.testing.assert_array_equal(shown, np.clip(reference, 0, 1))


def test_the_project_keeps_the_shot_colour_space(tmp_path: Path) -> None:
    pattern, _ = write_exr_plates(tmp_path / "exr", count=1)
    project, source = new_project(pattern, "lin_rec709")
    source.close()
    assert project.shot is not None and project.shot.input_colorspace == "Linear Rec.709 (sRGB)"
    again = Project.from_dict(json.loads(json.dumps(project.to_dict())))
    assert again.shot is not None and again.shot.input_colorspace == "Linear Rec.709 (sRGB)"
    with open_shot_media(again) as opened:
        assert opened.input_space == "Linear Rec.709 (sRGB)"
        expected = np.clip(_ocio("Linear Rec.709 (sRGB)", "sRGB Encoded Rec.709 (sRGB)", opened.read_plate(0)), 0, 1)
        np.testing.assert_array_equal(opened.read(0), expected)
    data = project.to_dict()
    data["shot"]["input_colorspace"] = 7
    from sam3roto.errors import ProjectError

    with pytest.raises(ProjectError, match=r"shot\.input_colorspace must be a colour space name"):
        Project.from_dict(data)
    # a project from before colour management: guessed when opened
    data["shot"].pop("input_colorspace")
    with open_shot_media(Project.from_dict(data)) as opened:
        assert opened.input_space == "ACEScg"


def test_colour_source_wraps_any_source() -> None:
    if not BEDROOM.is_file():
        pytest.skip(f"real footage not found: {BEDROOM}")
    with colour_source(open_media(BEDROOM), "ACEScct") as source:
        assert not source.to_model.identity and source.info.dtype == "float32"
        frame = source.read(0)
        assert frame.dtype == np.float32 and frame.min() >= 0.0 and frame.max() <= 1.0
        assert source.info.extra["colorspace"] == "ACEScct"


def test_the_viewer_s_baked_display_transform_is_within_four_codes_on_real_frames(tmp_path: Path) -> None:
    pattern, _ = write_exr_plates(tmp_path / "exr", count=3)
    config = load_config()
    with open_media(pattern) as plates:
        frames = [plates.read(i).astype(np.float32) * np.float32(2.0) for i in range(3)]  # and a stop over
    # two displays one after the other: each gets its own LUT (OpenColorIO's processor
    # cache once handed the first display's back for the second)
    for display in ("sRGB - Display", "Display P3 - Display", "sRGB - Display"):
        view = config.default_view(display, "ACEScg")
        fast, exact = config.display("ACEScg", display, view, fast=True), config.display("ACEScg", display, view)
        assert not fast.identity
        for plate in frames:
            diff = np.abs(np.round(fast(plate) * 255) - np.round(exact(plate) * 255))
            assert diff.max() <= 4 and diff.mean() < 0.2, (display, diff.max(), diff.mean())

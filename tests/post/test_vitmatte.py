"""The ``"vitmatte"`` refine method on a tiny random ViTMatte (tests/post/vitmatte_tiny.py)
through the real code: transformers' model and processor, the edge tiles, the blend, the
weights lookup and the post and render jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

# torch and transformers are test requirements (requirements-dev.txt): a missing install fails loudly
import torch  # noqa: F401
import transformers  # noqa: F401

from sam3roto.core.jobs import run_sync
from sam3roto.errors import WINDOW_INSTALL, ModelNotInstalledError
from sam3roto.post import PostSettings, apply
from sam3roto.post import matte as M
from sam3roto.post.keyed import KeyedPost
from sam3roto.post.vitmatte import DEFAULT_MODEL_ID, VitMatte, edge_tiles, estimate_alpha, tile_starts
from tests.post.vitmatte_tiny import build_tiny_vitmatte, save_tiny_vitmatte

TILE, OVERLAP = 64, 16


@pytest.fixture(scope="module")
def net() -> VitMatte:
    return build_tiny_vitmatte()


def _disc(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _plate(h: int, w: int, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    rgb = np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)
    if dtype is np.float32:
        return rgb
    top = np.iinfo(dtype).max
    return (rgb * top + 0.5).astype(dtype)


def _read(path: Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert data is not None, path
    return data


class TileCounter:
    """Counts the tiles through the model's forward passes (a forward pre-hook on the real
    module) and records each batch's input shape."""

    def __init__(self, net: VitMatte) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self._handle = net.model.register_forward_pre_hook(self._seen, with_kwargs=True)

    def _seen(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        pixels = kwargs["pixel_values"] if "pixel_values" in kwargs else args[0]
        self.shapes.append(tuple(pixels.shape))

    @property
    def tiles(self) -> int:
        return sum(s[0] for s in self.shapes)

    def close(self) -> None:
        self._handle.remove()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_alpha_shape_dtype_range_and_known_pixels_untouched(net: VitMatte, dtype: type) -> None:
    mask = _disc(150, 200, 70, 95, 45)
    trimap = M.trimap(mask, band_px=12)
    alpha = estimate_alpha(net, _plate(150, 200, dtype), trimap, tile_px=TILE, overlap_px=OVERLAP)
    assert alpha.dtype == np.float32 and alpha.shape == (150, 200)
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert np.all(alpha[trimap == 255] == 1.0) and np.all(alpha[trimap == 0] == 0.0)
    band = alpha[trimap == 128]
    assert band.std() > 0.01  # the model's alpha, following the image, not the mask's 0/1
    assert not np.isin(band, (0.0, 1.0)).all()


def test_sample_types_give_the_same_alpha(net: VitMatte) -> None:
    trimap = M.trimap(_disc(96, 128, 48, 64, 30), band_px=10)
    as_float = _plate(96, 128, np.float32)
    alphas = [estimate_alpha(net, image, trimap, tile_px=TILE, overlap_px=OVERLAP)
              for image in (as_float, (as_float * 65535 + 0.5).astype(np.uint16))]
    np.testing.assert_allclose(alphas[0], alphas[1], atol=1e-3)


def test_only_the_edge_tiles_run(net: VitMatte) -> None:
    h, w = 320, 480
    mask = _disc(h, w, 100, 130, 40)
    trimap = M.trimap(mask, band_px=10)
    unknown = trimap == 128
    counter = TileCounter(net)
    try:
        estimate_alpha(net, _plate(h, w), trimap, tile_px=TILE, overlap_px=OVERLAP)
    finally:
        counter.close()
    grid = len(tile_starts(h, TILE, OVERLAP)) * len(tile_starts(w, TILE, OVERLAP))
    tiles = edge_tiles(unknown, tile_px=TILE, overlap_px=OVERLAP)
    assert counter.tiles == len(tiles) and 0 < counter.tiles < grid // 4
    assert all(s[1:] == (4, TILE, TILE) for s in counter.shapes)  # RGB + trimap, whole tiles
    assert all(s[0] <= net.batch for s in counter.shapes) and len(counter.shapes) == -(-len(tiles) // net.batch)
    covered = np.zeros((h, w), bool)
    for y, x in tiles:
        assert unknown[y : y + TILE, x : x + TILE].any()  # every tile run holds some of the band
        covered[y : y + TILE, x : x + TILE] = True
    assert covered[unknown].all()  # and together they hold all of it


def test_no_band_runs_nothing(net: VitMatte) -> None:
    counter = TileCounter(net)
    try:
        trimap = np.where(_disc(80, 80, 40, 40, 20), np.uint8(255), np.uint8(0))
        alpha = estimate_alpha(net, _plate(80, 80), trimap, tile_px=TILE, overlap_px=OVERLAP)
    finally:
        counter.close()
    assert counter.tiles == 0
    np.testing.assert_array_equal(alpha, (trimap == 255).astype(np.float32))


def test_small_crops_run_as_one_padded_tile(net: VitMatte) -> None:
    trimap = M.trimap(_disc(50, 70, 25, 35, 15), band_px=6)
    counter = TileCounter(net)
    try:
        alpha = estimate_alpha(net, _plate(50, 70), trimap)  # the default 512 px tile is larger
    finally:
        counter.close()
    assert counter.shapes == [(1, 4, 64, 96)]  # padded to multiples of 32 by the processor
    assert alpha.shape == (50, 70) and np.all(alpha[trimap == 255] == 1.0)


def test_overlapping_tiles_blend_without_seams() -> None:
    """A model whose alpha is 0.3 everywhere: every band pixel, wherever tiles overlap
    (a band crossing many tile borders), is 0.3."""
    flat = build_tiny_vitmatte(constant=0.3)
    mask = np.zeros((200, 260), bool)
    mask[30:170, 40:220] = True
    mask[90:110, :] = True  # reaches the frame's edges
    trimap = M.trimap(mask, band_px=24)
    alpha = estimate_alpha(flat, _plate(200, 260), trimap, tile_px=TILE, overlap_px=OVERLAP)
    assert len(edge_tiles(trimap == 128, tile_px=TILE, overlap_px=OVERLAP)) > 8
    np.testing.assert_allclose(alpha[trimap == 128], 0.3, atol=1e-6)


def test_parameters_are_checked(net: VitMatte) -> None:
    trimap = M.trimap(_disc(64, 64, 32, 32, 16), band_px=6)
    with pytest.raises(ValueError, match="tile_px must be a multiple of 32"):
        estimate_alpha(net, _plate(64, 64), trimap, tile_px=100)
    with pytest.raises(ValueError, match="overlap_px must be in"):
        estimate_alpha(net, _plate(64, 64), trimap, tile_px=64, overlap_px=32)
    with pytest.raises(TypeError, match="trimap must be uint8"):
        estimate_alpha(net, _plate(64, 64), trimap.astype(np.float32))
    with pytest.raises(ValueError, match="must match"):
        estimate_alpha(net, _plate(64, 65), trimap)


def test_refine_edges_with_vitmatte_changes_only_the_band(net: VitMatte) -> None:
    mask = _disc(120, 160, 60, 80, 35)
    image = _plate(120, 160, np.float32)
    out = M.refine_edges(mask, image, band_px=10, method="vitmatte", vitmatte=net)
    trimap = M.trimap(mask, band_px=10)
    assert out.dtype == np.float32 and out.shape == mask.shape
    np.testing.assert_array_equal(out[trimap != 128], mask[trimap != 128].astype(np.float32))
    assert out[trimap == 128].std() > 0.01
    with pytest.raises(ValueError, match="needs the ViTMatte model"):
        M.refine_edges(mask, image, band_px=10, method="vitmatte")


def test_the_post_stack_asks_for_the_model_by_refine_model(net: VitMatte) -> None:
    settings = PostSettings(refine_band_px=8, refine_method="vitmatte", refine_model="studio/matting", feather_px=1.0)
    asked: list[str] = []

    def models(name: str) -> VitMatte:
        asked.append(name)
        return net

    mask = _disc(90, 120, 45, 60, 25)
    result = apply(_plate(90, 120), mask, settings, refine_models=models)
    assert asked == ["studio/matting"]
    assert result.matte.dtype == np.float32 and 0.0 < result.matte[mask].mean() < 1.0
    with pytest.raises(ValueError, match=r"needs the ViTMatte model \(studio/matting\)"):
        apply(_plate(90, 120), mask, settings)
    apply(_plate(90, 120), mask, settings.with_values(refine_band_px=0))  # no band: no model needed


def test_refine_method_and_model_round_trip_through_settings() -> None:
    assert "vitmatte" in M.REFINE_METHODS
    assert PostSettings().refine_model == DEFAULT_MODEL_ID == "hustvl/vitmatte-small-composition-1k"
    settings = PostSettings(refine_band_px=16, refine_method="vitmatte", refine_model="/models/vitmatte-b")
    data = json.loads(json.dumps(settings.to_dict()))
    assert data["refine_method"] == "vitmatte" and data["refine_model"] == "/models/vitmatte-b"
    assert PostSettings.from_dict(data) == settings
    keyed = KeyedPost.from_dicts({}, {0: {"refine_model": "a/b"}, 10: {"refine_model": "c/d"}})
    assert keyed.at(5).refine_model == "a/b" and keyed.at(10).refine_model == "c/d"  # a choice: it steps
    with pytest.raises(TypeError, match="refine_model must be a model id or a folder"):
        PostSettings(refine_model=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="refine_model must be a model id or a folder, not empty"):
        PostSettings.from_dict({"refine_model": " "})


def test_missing_weights_name_the_place_and_the_install_command(tmp_path: Path) -> None:
    from sam3roto.pipeline.post import RefineModels, vitmatte_status

    models = RefineModels(cache_dir=tmp_path / "hub")
    uses = [PostSettings(refine_method="vitmatte")]
    with pytest.raises(ModelNotInstalledError) as cached:
        models.check(uses)
    err = cached.value
    assert err.path == tmp_path / "hub" / "models--hustvl--vitmatte-small-composition-1k"
    assert "'hustvl/vitmatte-small-composition-1k' are not in the Hugging Face cache" in err.message
    assert "./install_models.sh" in str(err) and str(err.hint_for("window")).startswith(WINDOW_INSTALL)
    folder = tmp_path / "nowhere"
    with pytest.raises(ModelNotInstalledError, match="ViTMatte weights folder does not exist") as given:
        models(str(folder))
    assert given.value.path == folder
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    status = vitmatte_status(str(partial))
    assert not status.present and status.missing == ("model.safetensors",)
    with pytest.raises(ModelNotInstalledError, match=r"no model\.safetensors in the ViTMatte weights folder"):
        models.check([PostSettings(refine_method="vitmatte", refine_model=str(partial))])
    models.check([PostSettings(), PostSettings(refine_method="guided", refine_model=str(folder))])  # not used: fine


def test_unreadable_weights_name_the_folder(tmp_path: Path) -> None:
    from sam3roto.post.vitmatte import load

    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "vitmatte"}))
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelNotInstalledError, match="ViTMatte weights could not be read") as err:
        load(folder)
    assert err.value.path == folder and "install_models.sh" in str(err.value)


def test_weights_that_do_not_fit_the_model_are_refused_naming_the_keys(tmp_path: Path) -> None:
    from sam3roto.post.vitmatte import load

    folder = save_tiny_vitmatte(tmp_path / "other")
    config = json.loads((folder / "config.json").read_text())
    config["backbone_config"]["mlp_ratio"] = 3  # the checkpoint's MLPs are ratio 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelNotInstalledError, match=r"weights do not fit the model: .*wrong shape") as err:
        load(folder)
    assert err.value.path == folder and "mlp" in err.value.message


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model written as a weights folder; its alpha is 0.25 everywhere."""
    return save_tiny_vitmatte(tmp_path_factory.mktemp("weights") / "vitmatte-tiny", constant=0.25)


def test_a_model_id_loads_from_the_hugging_face_cache(weights: Path, tmp_path: Path) -> None:
    from sam3roto.pipeline.post import RefineModels
    from tests.backends.test_weights import fake_snapshot

    cache = tmp_path / "hub"
    fake_snapshot(cache, "studio/vitmatte-tiny", {p.name: p.read_bytes() for p in weights.iterdir()})
    models = RefineModels(device="cpu", cache_dir=cache)
    settings = PostSettings(refine_band_px=6, refine_method="vitmatte", refine_model="studio/vitmatte-tiny")
    models.check([settings])
    mask = _disc(60, 80, 30, 40, 18)
    matte = apply(_plate(60, 80), mask, settings, refine_models=models).matte
    np.testing.assert_allclose(matte[M.trimap(mask, band_px=6) == 128], 0.25, atol=1e-6)


def test_post_command_refines_with_vitmatte_from_a_weights_folder(weights: Path, tmp_path: Path) -> None:
    from sam3roto.cli import main

    plate, masks = tmp_path / "plate", tmp_path / "masks"
    plate.mkdir()
    masks.mkdir()
    for i in range(3):
        image = np.full((90, 120, 3), 40, np.uint8)
        mask = _disc(90, 120, 45, 50 + 5 * i, 25)
        image[mask] = (200, 150, 90)
        cv2.imwrite(str(plate / f"plate.{1001 + i:04d}.png"), image)
        cv2.imwrite(str(masks / f"mask.{1001 + i:04d}.png"), mask.astype(np.uint8) * 255)
    out = tmp_path / "out"
    rc = main(["post", str(plate), "--masks", str(masks), "--out", str(out), "--quiet", "--set", "refine_band_px=8",
               "--set", "refine_method=vitmatte", "--set", f"refine_model={weights}"])
    assert rc == 0
    for i in range(3):
        matte = _read(out / f"matte.{1001 + i}.png")
        trimap = M.trimap(_disc(90, 120, 45, 50 + 5 * i, 25), band_px=8)
        assert matte.dtype == np.uint16
        assert np.all(matte[trimap == 128] == round(0.25 * 65535))  # the model's alpha in the band
        assert np.all(matte[trimap == 255] == 65535) and np.all(matte[trimap == 0] == 0)


def test_post_job_loads_the_model_once_and_checks_it_before_writing(weights: Path, tmp_path: Path) -> None:
    from sam3roto.media.memory import ArraySource
    from sam3roto.pipeline.post import RefineModels, post_job

    frames = np.stack([_plate(60, 80, seed=s) for s in range(4)])
    masks = np.stack([np.repeat(_disc(60, 80, 30, 40, 18)[..., None], 3, 2).astype(np.uint8) * 255] * 4)
    models = RefineModels(device="cpu")
    settings = PostSettings(refine_band_px=6, refine_method="vitmatte", refine_model=str(weights))
    run = run_sync(post_job(ArraySource(frames), ArraySource(masks), settings, tmp_path / "out",
                            refine_models=models))
    assert len(run.files) == 4
    assert models(str(weights)) is models(str(weights))  # loaded once, kept for every frame
    counter = TileCounter(models(str(weights)))
    try:
        run_sync(post_job(ArraySource(frames), ArraySource(masks), settings, tmp_path / "again",
                          refine_models=models))
    finally:
        counter.close()
    assert counter.tiles == 4  # one tile per frame: the object is smaller than a tile
    missing = settings.with_values(refine_model=str(tmp_path / "absent"))
    with pytest.raises(ModelNotInstalledError, match="does not exist"):
        run_sync(post_job(ArraySource(frames), ArraySource(masks), missing, tmp_path / "never"))
    assert not (tmp_path / "never").exists()


def test_render_refines_objects_with_vitmatte(weights: Path, tmp_path: Path) -> None:
    from sam3roto.pipeline.render import RenderOptions, render_job
    from tests.export.conftest import make_render_shot

    shot = make_render_shot(tmp_path / "shot", n=3)
    try:
        person = shot.project.objects[0]
        person.post = {"refine_band_px": 6, "refine_method": "vitmatte", "refine_model": str(weights)}
        result = run_sync(render_job(shot.project, shot.source, shot.store, tmp_path / "out",
                                     RenderOptions(outputs=("png-alpha",), bit_depth=16)))
        for i, number in enumerate(result.numbers):
            mattes = sorted((result.folder / "person").glob(f"*.{number}.png"))
            matte = _read(mattes[0])
            trimap = M.trimap(shot.masks[person.id][i], band_px=6)
            assert np.all(matte[trimap == 128] == round(0.25 * 65535))
            assert np.all(matte[trimap == 255] == 65535) and np.all(matte[trimap == 0] == 0)
        manifest = json.loads((result.folder / "manifest.json").read_text())
        assert str(weights) in json.dumps(manifest)  # the checkpoint is on record
        person.post = {**person.post, "refine_model": str(tmp_path / "absent")}
        with pytest.raises(ModelNotInstalledError):
            run_sync(render_job(shot.project, shot.source, shot.store, tmp_path / "out",
                                RenderOptions(outputs=("png-alpha",))))
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["v001"]  # no version started
    finally:
        shot.source.close()

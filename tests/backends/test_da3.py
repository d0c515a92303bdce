"""Depth Anything 3 through the real adapter on a randomly initialised ``da3-small`` at a
low processing resolution: shapes, dtypes, resize to the source, the weights folder
round trip, and the errors users see."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the ML stack (torch) is not installed")
pytest.importorskip("depth_anything_3", reason="depth-anything-3 is not installed (see install_models.sh)")

from sam3roto.backends.da3 import (  # noqa: E402
    Da3Estimator,
    build_network,
    load_network,
    process_size,
    resolve_model_dir,
)
from sam3roto.errors import EngineError, ModelNotInstalledError  # noqa: E402


@pytest.fixture(scope="module")
def network():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return build_network("da3-small")


@pytest.fixture(scope="module")
def estimator(network):
    mp = pytest.MonkeyPatch()
    mp.setenv("SAM3ROTO_DTYPE", "float32")
    est = Da3Estimator("small", device="cpu", process_res=70, network=network)
    mp.undo()
    torch.set_num_threads(1)
    return est


def frames(n: int, h: int = 90, w: int = 160, dtype: type = np.uint8) -> list[np.ndarray]:
    rng = np.random.default_rng(n)
    out = rng.integers(0, 255, (n, h, w, 3)).astype(np.uint8)
    if dtype == np.float32:
        return [f.astype(np.float32) / 255 for f in out]
    return list(out)


def test_process_size_keeps_aspect_in_patch_multiples() -> None:
    assert process_size(1920, 1080, 504) == (504, 280)
    assert process_size(160, 90, 70) == (70, 42)
    assert process_size(90, 160, 70) == (42, 70)
    with pytest.raises(ValueError, match="at least 14"):
        process_size(10, 10, 5)


def test_prediction_shapes_dtypes_and_resize_to_source(estimator) -> None:
    pred = estimator.predict(frames(3))
    assert pred.depth.shape == (3, 42, 70) and pred.depth.dtype == np.float32
    assert pred.confidence.shape == (3, 42, 70) and pred.confidence.dtype == np.float32
    assert pred.extrinsics.shape == (3, 4, 4) and pred.intrinsics.shape == (3, 3, 3)
    np.testing.assert_allclose(pred.extrinsics[:, 3], np.tile([0, 0, 0, 1], (3, 1)))
    assert pred.has_camera and not pred.is_metric and pred.source_size == (160, 90)
    assert np.isfinite(pred.depth).all() and (pred.depth >= 0).all()
    depth, conf = pred.at_source(1)
    assert depth.shape == (90, 160) and conf.shape == (90, 160) and depth.dtype == np.float32
    k = pred.intrinsics_at_source()
    np.testing.assert_allclose(k[:, 0, 0], pred.intrinsics[:, 0, 0] * 160 / 70)
    np.testing.assert_allclose(k[:, 1, 2], pred.intrinsics[:, 1, 2] * 90 / 42)


def test_single_frame_and_float_frames_work(estimator) -> None:
    pred = estimator.predict(frames(1, dtype=np.float32))
    assert pred.depth.shape == (1, 42, 70) and pred.extrinsics.shape == (1, 4, 4)


def test_frames_of_different_sizes_are_refused(estimator) -> None:
    with pytest.raises(ValueError, match="share one size"):
        estimator.predict([np.zeros((90, 160, 3), np.uint8), np.zeros((80, 160, 3), np.uint8)])
    with pytest.raises(ValueError, match="no frames"):
        estimator.predict([])


def test_non_finite_depth_becomes_unknown_with_zero_confidence(estimator, monkeypatch) -> None:
    real = estimator.forward

    def spoiled(pixels):
        out = real(pixels)
        depth = out["depth"].clone()
        depth[..., 0, :5] = float("nan")
        depth[..., 1, :5] = float("inf")
        return {**out, "depth": depth}

    monkeypatch.setattr(estimator, "forward", spoiled)
    pred = estimator.predict(frames(2))
    assert pred.invalid_pixels >= 20
    assert (pred.depth[:, 0, :5] == 0).all() and (pred.confidence[:, 1, :5] == 0).all()


def test_weights_folder_round_trip_loads_every_tensor(network, tmp_path: Path) -> None:
    from safetensors.torch import save_model

    folder = tmp_path / "DA3-SMALL"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_name": "da3-small"}))
    # the published layout (PyTorchModelHubMixin.save_pretrained): the network under "model."
    wrapper = torch.nn.Module()
    wrapper.model = network
    save_model(wrapper, str(folder / "model.safetensors"))
    assert resolve_model_dir("small", folder) == folder
    loaded, name = load_network(folder)
    assert name == "da3-small"
    for (k, a), b in zip(network.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    with pytest.raises(ModelNotInstalledError, match="holds da3-small, not the 'base' preset"):
        Da3Estimator("base", model_dir=folder, device="cpu")


def test_missing_and_corrupt_weights_name_the_place_and_the_fix(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ModelNotInstalledError, match="DA3-LARGE' are not in the Hugging Face cache") as e:
        resolve_model_dir("large")
    assert "install_models.sh" in str(e.value)
    with pytest.raises(ModelNotInstalledError, match="does not exist"):
        resolve_model_dir("small", tmp_path / "nowhere")
    folder = tmp_path / "w"
    folder.mkdir()
    with pytest.raises(ModelNotInstalledError, match=r"no config\.json"):
        resolve_model_dir("small", folder)
    (folder / "config.json").write_text('{"model_name": "da3-small"}')
    with pytest.raises(ModelNotInstalledError, match=r"no model\.safetensors"):
        resolve_model_dir("small", folder)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelNotInstalledError, match="could not be read") as e:
        load_network(folder)
    assert "model.safetensors" in str(e.value)
    (folder / "config.json").write_text("{}")
    with pytest.raises(ModelNotInstalledError, match="does not name"):
        load_network(folder)
    with pytest.raises(EngineError, match="unknown depth preset"):
        Da3Estimator("huge", device="cpu")

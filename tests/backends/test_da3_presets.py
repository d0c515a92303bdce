"""Every Depth Anything 3 preset's network builds from the package's configs with only
what ``install_models.sh`` installs: on the meta device (no weights, no memory, well under
a second each), with its depth head and without the Gaussian-splatting head, whose module
imports ``evo`` (an exporter dependency the app never installs). Also: the ``-1.1``
presets beside the original names, and checkpoints that hold the Gaussian head's tensors
still load."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# torch and depth-anything-3 are test requirements: a missing install fails loudly
import depth_anything_3  # noqa: F401
import pytest
import torch

from sam3roto.backends.da3 import GAUSSIAN_KEYS, PRESETS, build_network, load_network, preset
from sam3roto.errors import EngineError, ModelNotInstalledError

#: What building the Gaussian-splatting branch imports; None in sys.modules makes an
#: import of it fail, whether or not it is installed or already imported.
GAUSSIAN_MODULES = ("evo", "depth_anything_3.model.gs_adapter", "depth_anything_3.model.gsdpt")


def branches(network) -> list:
    """The any-view/metric networks inside ``network`` (two for the nested presets)."""
    return [network.da3, network.da3_metric] if hasattr(network, "da3_metric") else [network]


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_without_the_gaussian_head(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in GAUSSIAN_MODULES:
        monkeypatch.setitem(sys.modules, module, None)
    spec = preset(name)
    network = build_network(spec.model_name, meta=True)
    assert not network.training
    state = network.state_dict()
    assert state and {t.device.type for t in state.values()} == {"meta"}
    assert not [k for k in state if "gs_head" in k or "gs_adapter" in k]
    nets = branches(network)
    assert len(nets) == (2 if name.startswith("nested") else 1)
    for net in nets:
        assert net.backbone is not None and net.head is not None
        assert net.gs_head is None and net.gs_adapter is None
    # what the preset promises is what the network has: a camera decoder on the any-view
    # branch for camera presets; a metric branch (or a metric-only network) for metric ones
    assert (nets[0].cam_dec is not None) == spec.camera
    assert (name.startswith("nested") or spec.model_name.startswith("da3metric")) == spec.metric


def test_meta_build_leaves_torch_as_it_was() -> None:
    register_parameter = torch.nn.Module.register_parameter
    with pytest.raises(EngineError, match="no model"):
        build_network("da3-huge", meta=True)
    build_network("da3-small", meta=True)
    assert torch.nn.Module.register_parameter is register_parameter
    assert torch.nn.Linear(2, 2).weight.device.type == "cpu"


def test_presets_know_the_1_1_repositories_and_keep_the_old_names() -> None:
    for old, repo in (("large", "DA3-LARGE"), ("giant", "DA3-GIANT"), ("nested", "DA3NESTED-GIANT-LARGE")):
        new = preset(f"{old}-1.1")
        assert new.repo_id == f"depth-anything/{repo}-1.1"
        assert preset(old).repo_id == f"depth-anything/{repo}"
        assert preset(old).superseded_by == f"{old}-1.1"
        # the same network, retrained: built from the same package config
        assert (new.model_name, new.metric, new.camera) == (preset(old).model_name, preset(old).metric,
                                                              preset(old).camera)
        assert new.superseded_by is None
    assert all(p.superseded_by is None or p.superseded_by in PRESETS for p in PRESETS.values())
    with pytest.raises(EngineError, match="unknown depth preset") as info:
        preset("giant-2")
    assert "giant-1.1" in str(info.value.hint)


@pytest.fixture(scope="module")
def small_state(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A random ``da3-small`` as the published files hold it: the network under
    ``model.``, tensors shared between its heads stored once (``save_model``)."""
    from safetensors.torch import load_file, save_model

    torch.manual_seed(0)
    wrapper = torch.nn.Module()
    wrapper.model = build_network("da3-small")
    path = tmp_path_factory.mktemp("da3") / "model.safetensors"
    save_model(wrapper, str(path))
    return load_file(str(path))


def write_weights(folder: Path, state: dict) -> Path:
    from safetensors.torch import save_file

    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_name": "da3-small"}))
    save_file(state, str(folder / "model.safetensors"))
    return folder


def test_gaussian_head_tensors_in_the_file_are_dropped(small_state: dict, tmp_path: Path) -> None:
    # the published giant/nested files hold model.gs_head.* / model.da3.gs_head.*
    extra = {prefix + "scratch.output_conv1.weight": torch.ones(2, 2) for prefix in GAUSSIAN_KEYS}
    folder = write_weights(tmp_path / "with_gs", {**small_state, **extra})
    network, name = load_network(folder)
    assert name == "da3-small"
    key = "backbone.pretrained.patch_embed.proj.weight"
    assert torch.equal(network.state_dict()[key], small_state["model." + key])


def test_other_unexpected_or_missing_tensors_are_refused(small_state: dict, tmp_path: Path) -> None:
    folder = write_weights(tmp_path / "extra", {**small_state, "model.head.surprise": torch.ones(1)})
    with pytest.raises(ModelNotInstalledError, match=r"holds 1 it has no place for \(model\.head\.surprise\)"):
        load_network(folder)
    missing = dict(small_state)
    del missing["model.head.projects.0.weight"]
    folder = write_weights(tmp_path / "missing", missing)
    with pytest.raises(ModelNotInstalledError, match="1 of its tensors are not in the file") as info:
        load_network(folder)
    assert info.value.path == folder / "model.safetensors"

"""Loading SAM3 from a folder in the ``facebook/sam3`` layout, on tiny random checkpoints.

The checkpoint is a tiny ``Sam3VideoModel`` saved with ``save_pretrained`` (keys
``detector_model.*``, ``tracker_model.*``, ``tracker_neck.*``, as in the real repository)
plus a ``Sam3VideoProcessor``; ``load_models`` reads the tracker and the detector out of it.
Damaged variants are the same file rewritten with safetensors.
"""

from __future__ import annotations

import fnmatch
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from sam3roto.backends.sam3_models import (
    ALLOW_PATTERNS,
    Sam3Models,
    load_models,
    share_backbone,
)
from sam3roto.errors import ModelNotInstalledError
from tests.backends.sam3_tiny import build_tiny_models

BACKBONE = "detector_model.vision_encoder.backbone."
Weights = dict[str, torch.Tensor]


def save_tiny_checkpoint(folder: Path) -> Path:
    """A tiny SAM3 checkpoint in the real repository's layout: config.json (a sam3_video
    config), model.safetensors (a random ``Sam3VideoModel``), processor and tokenizer files."""
    tiny = build_tiny_models(text=True)  # installs the torchvision shim transformers' SAM3 needs
    from safetensors.torch import load_file, save_file
    from transformers import Sam3VideoConfig, Sam3VideoModel, Sam3VideoProcessor

    config = Sam3VideoConfig(detector_config=tiny.detector.config.to_dict(),
                             tracker_config=tiny.tracker.config.to_dict())
    Sam3VideoModel(config).save_pretrained(folder)
    Sam3VideoProcessor(tiny.tracker_processor.image_processor, tiny.tracker_processor.video_processor,
                       tiny.detector_processor.tokenizer).save_pretrained(folder)
    # transformers 5.23 saves the tracker's keys as tracker_model.tracker_model.* (its
    # sam3_tracker key mapping reversed on top of the submodule's prefix); transformers'
    # conversion script names them tracker_model.* once, as other readers of facebook/sam3
    # expect. Both load (test_the_doubled_tracker_prefix_...); the fixture keeps the latter.
    weights = load_file(folder / "model.safetensors")
    fixed = {k.replace("tracker_model.tracker_model.", "tracker_model.", 1): v for k, v in weights.items()}
    assert {k.split(".")[0] for k in fixed} == {"detector_model", "tracker_model", "tracker_neck"}
    assert not any(k.startswith("tracker_model.tracker_model.") for k in fixed)
    save_file(fixed, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return save_tiny_checkpoint(tmp_path_factory.mktemp("sam3"))


def rewritten(checkpoint: Path, tmp_path: Path, edit: Callable[[Weights], Weights]) -> Path:
    """A copy of ``checkpoint`` whose model.safetensors is ``edit(state_dict)``."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "sam3"
    shutil.copytree(checkpoint, folder)
    weights = load_file(folder / "model.safetensors")
    save_file(edit(weights), folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def tensor_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def test_a_complete_checkpoint_loads_with_one_backbone_holding_the_saved_weights(checkpoint):
    from safetensors.torch import load_file

    models = load_models(checkpoint, device="cpu", dtype=torch.float32)
    assert models.backbone_shared
    assert models.tracker.vision_encoder.backbone is models.detector.vision_encoder.backbone
    assert not models.tracker.training and not models.detector.training
    saved = load_file(checkpoint / "model.safetensors")
    backbone = models.tracker.vision_encoder.backbone.state_dict()
    assert backbone and all(torch.equal(t, saved[BACKBONE + k]) for k, t in backbone.items())
    neck = models.tracker.vision_encoder.neck.state_dict()  # the tracker's own neck, not the detector's
    assert all(torch.equal(t, saved["tracker_neck." + k]) for k, t in neck.items())
    decoder = models.tracker.mask_decoder.state_dict()
    assert all(torch.equal(t, saved["tracker_model.mask_decoder." + k]) for k, t in decoder.items())
    assert models.tracker_processor.video_processor is not None
    assert models.detector_processor.tokenizer is not None


def test_sharing_the_backbone_counts_it_once(checkpoint):
    from transformers import Sam3Model, Sam3TrackerVideoModel

    tracker = Sam3TrackerVideoModel.from_pretrained(checkpoint, dtype=torch.float32)
    detector = Sam3Model.from_pretrained(checkpoint, dtype=torch.float32)
    models = Sam3Models(tracker, None, detector, None)
    assert tracker.vision_encoder is not None
    backbone = tensor_bytes(tracker.vision_encoder.backbone)
    before = models.resident_bytes()
    assert before == tensor_bytes(tracker) + tensor_bytes(detector)
    assert share_backbone(models)
    assert models.resident_bytes() == before - backbone
    assert share_backbone(models), "sharing twice is a no-op"
    assert models.resident_bytes() == before - backbone


def test_the_shared_backbone_moves_once_and_stays_shared(checkpoint):
    models = load_models(checkpoint, device="cpu", dtype=torch.float32).to("cpu", torch.bfloat16)
    assert models.backbone_shared
    assert {p.dtype for m in models.modules() for p in m.parameters()} == {torch.bfloat16}


def test_the_doubled_tracker_prefix_of_a_transformers_5_save_loads_too(checkpoint, tmp_path):
    """Whether the published file has tracker_model.* or (saved by a transformers with the
    doubled prefix) tracker_model.tracker_model.*, the tracker loads whole."""
    folder = rewritten(checkpoint, tmp_path, lambda w: {
        k.replace("tracker_model.", "tracker_model.tracker_model.", 1): v for k, v in w.items()})
    models = load_models(folder, device="cpu", dtype=torch.float32, text=False)
    decoder = load_models(checkpoint, device="cpu", dtype=torch.float32, text=False).tracker.mask_decoder
    assert all(torch.equal(t, decoder.state_dict()[k]) for k, t in models.tracker.mask_decoder.state_dict().items())


def test_tracker_only_loads_without_a_detector(checkpoint):
    models = load_models(checkpoint, device="cpu", dtype=torch.float32, text=False)
    assert models.detector is None and models.detector_processor is None
    assert not models.backbone_shared
    assert not share_backbone(models)


def test_missing_tracker_keys_are_named_with_the_folder_and_the_install_hint(checkpoint, tmp_path, capfd):
    prefix = "tracker_model.mask_decoder."
    folder = rewritten(checkpoint, tmp_path, lambda w: {k: v for k, v in w.items() if not k.startswith(prefix)})
    with pytest.raises(ModelNotInstalledError, match=r"tracker weights are incomplete.*keys missing") as e:
        load_models(folder, device="cpu", dtype=torch.float32)
    message = str(e.value)
    assert str(folder) in message and "install_models.sh" in message
    assert "mask_decoder." in message  # the removed keys, in the model's naming
    assert " more)" in message, "a long list is cut to a few keys and a count"
    # transformers' own MISSING table is not printed (the error says it)
    assert "LOAD REPORT" not in capfd.readouterr().err


def test_missing_detector_keys_fail_text_but_not_the_tracker_alone(checkpoint, tmp_path):
    prefix = "detector_model.text_encoder."
    folder = rewritten(checkpoint, tmp_path, lambda w: {k: v for k, v in w.items() if not k.startswith(prefix)})
    with pytest.raises(ModelNotInstalledError, match=r"text detector weights are incomplete.*text_encoder\."):
        load_models(folder, device="cpu", dtype=torch.float32)
    assert load_models(folder, device="cpu", dtype=torch.float32, text=False).detector is None


def test_a_weight_of_the_wrong_shape_is_named(checkpoint, tmp_path):
    def widen(w: Weights) -> Weights:
        t = w["tracker_model.no_memory_embedding"]
        w["tracker_model.no_memory_embedding"] = torch.zeros(*t.shape[:-1], t.shape[-1] + 1)
        return w

    folder = rewritten(checkpoint, tmp_path, widen)
    with pytest.raises(ModelNotInstalledError, match=r"1 key with the wrong shape \(no_memory_embedding"):
        load_models(folder, device="cpu", dtype=torch.float32, text=False)


def test_unexpected_keys_are_an_error_unless_ignored_by_design(checkpoint, tmp_path):
    # detector_model.* beyond the backbone and tracker_model.* are ignored by design (the
    # complete checkpoint loads); a key that belongs to neither model is not
    folder = rewritten(checkpoint, tmp_path, lambda w: {**w, "tracker_model.stray.weight": torch.zeros(2)})
    with pytest.raises(ModelNotInstalledError, match=r"1 unexpected key \(stray\.weight\)"):
        load_models(folder, device="cpu", dtype=torch.float32, text=False)


def test_backbones_that_differ_stay_separate_and_say_why(caplog):
    models = build_tiny_models(text=True)  # built with one backbone's weights in both
    torch.nn.init.normal_(models.detector.vision_encoder.backbone.layer_norm.weight)  # now they differ
    with caplog.at_level(logging.WARNING, logger="sam3roto.backends.sam3_models"):
        assert not share_backbone(models)
    assert "different weights" in caplog.text
    tracker_backbone = models.tracker.vision_encoder.backbone
    models.detector.vision_encoder.backbone.load_state_dict(tracker_backbone.state_dict())
    models.detector.vision_encoder.backbone.config.window_size += 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sam3roto.backends.sam3_models"):
        assert not share_backbone(models)
    assert "window_size" in caplog.text
    models.detector.vision_encoder.backbone.config.window_size -= 1
    layer_norm = models.detector.vision_encoder.backbone.layer_norm
    layer_norm.weight = torch.nn.Parameter(torch.ones(layer_norm.weight.shape[0] + 1))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sam3roto.backends.sam3_models"):
        assert not share_backbone(models)
    assert "layer_norm.weight" in caplog.text
    assert models.tracker.vision_encoder.backbone is tracker_backbone


def test_the_downloaded_files_are_the_ones_loading_reads(checkpoint):
    def allowed(name: str) -> bool:
        return any(fnmatch.fnmatch(name, p) for p in ALLOW_PATTERNS)

    saved = sorted(p.name for p in checkpoint.iterdir())
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json"} <= set(saved)
    assert all(allowed(name) for name in saved), saved
    # the real repository's other files: read by transformers, or shards of larger checkpoints
    for name in ("preprocessor_config.json", "video_preprocessor_config.json", "tokenizer_config.json",
                 "special_tokens_map.json", "vocab.json", "merges.txt", "model.safetensors.index.json",
                 "model-00001-of-00002.safetensors"):
        assert allowed(name), name
    for name in ("sam3.pt", "README.md", ".gitattributes", "LICENSE"):
        assert not allowed(name), name

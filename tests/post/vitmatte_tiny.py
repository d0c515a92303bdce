"""A tiny randomly initialised ViTMatte built from a config (no weights), for CPU tests.

It runs through exactly the code real weights use (``VitMatteForImageMatting`` and
``VitMatteImageProcessor``): a 2-layer VitDet backbone of hidden size 32 (patch 16, one
windowed and one global block with relative positions, as ViTMatte-S has), a small detail
capture decoder. A forward pass on a 128 px tile takes a few ms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.torchvision_shim import install as install_torchvision_shim

HIDDEN = 32


def tiny_config() -> Any:
    from transformers import VitMatteConfig

    backbone = dict(model_type="vitdet", num_channels=4, image_size=128, pretrain_image_size=64, patch_size=16,
                    hidden_size=HIDDEN, num_attention_heads=2, num_hidden_layers=2, mlp_ratio=2,
                    use_absolute_position_embeddings=True, use_relative_position_embeddings=True, window_size=4,
                    window_block_indices=[0], residual_block_indices=[1], out_features=["stage2"])
    # lists, not tuples: transformers 5.23 concatenates fusion_hidden_sizes to a list
    return VitMatteConfig(backbone_config=backbone, hidden_size=HIDDEN, convstream_hidden_sizes=[8, 8, 16],
                          fusion_hidden_sizes=[16, 8, 8, 8])


def build_tiny_vitmatte(*, seed: int = 0, constant: float | None = None) -> Any:
    """A :class:`~sam3roto.post.vitmatte.VitMatte` on the CPU in float32.

    transformers' init leaves the batch norms' scales and the convolutions near 0 (alpha
    ~0.5 everywhere); scales of 1 and He-initialised convolutions make alpha follow the
    input. With ``constant`` the matting head's last layer
    outputs that alpha everywhere instead (its weights 0, its bias the logit).
    """
    install_torchvision_shim()
    import math

    import torch
    from transformers import VitMatteForImageMatting, VitMatteImageProcessor

    from sam3roto.post.vitmatte import VitMatte

    torch.manual_seed(seed)
    model = VitMatteForImageMatting(tiny_config()).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.fill_(1.0)
            elif isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight)
        if constant is not None:
            last = model.decoder.matting_head.matting_convs[-1]
            last.weight.zero_()
            last.bias.fill_(math.log(constant / (1.0 - constant)))
    return VitMatte(model, VitMatteImageProcessor(), "cpu", torch.float32, batch=3)


def save_tiny_vitmatte(folder: Path, **kwargs: Any) -> Path:
    """Write the tiny model as a weights folder (``config.json``, ``model.safetensors``,
    ``preprocessor_config.json``), the layout install_models.sh fetches; returns ``folder``."""
    net = build_tiny_vitmatte(**kwargs)
    net.model.save_pretrained(folder)
    net.processor.save_pretrained(folder)
    return folder

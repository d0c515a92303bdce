"""Test-environment fix for a CPU torch paired with PyPI's CUDA torchvision wheel.

On these CI machines torch is a CPU build and the only torchvision 0.28.0 on PyPI is a CUDA
build whose C++ ops cannot load, so ``import torchvision`` fails with ``operator
torchvision::nms does not exist``. transformers' SAM3 classes require torchvision. Users
install a matching torch/torchvision pair (install_models.sh), so this belongs to the test
setup only: it declares the two op schemas, gives ``nms`` a pure-PyTorch CPU kernel, and
lets torchvision fall back to its Python ``roi_align``.
"""

from __future__ import annotations


def _nms(boxes, scores, iou_threshold):  # type: ignore[no-untyped-def]
    import torch

    order = scores.argsort(descending=True)
    keep = []
    x0, y0, x1, y1 = boxes.unbind(1)
    areas = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(x1[i], x1) - torch.maximum(x0[i], x0)).clamp(min=0)
        h = (torch.minimum(y1[i], y1) - torch.maximum(y0[i], y0)).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas - inter).clamp(min=1e-9)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.long)


def install() -> str:
    """Make ``import torchvision`` work; returns "native" when nothing was needed."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("torchvision") is None:
        return "absent"
    try:
        importlib.import_module("torchvision")
        return "native"
    except RuntimeError:
        pass
    import sys

    import torch

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.impl("nms", _nms, "CPU")
    install._lib = lib  # type: ignore[attr-defined]
    import torchvision.extension as ext
    import torchvision.ops.boxes as boxes

    ext._has_ops = lambda: True
    boxes._assert_has_ops = lambda: None
    return "shim"

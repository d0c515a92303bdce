"""SAM3's weights: where they are, how complete they are, and loading them.

The tracker (``Sam3TrackerVideoModel``) and the text detector (``Sam3Model``) load from one
folder in transformers' format (``config.json`` + ``model.safetensors``, the layout of the
``facebook/sam3`` repository). Both read the same ViT backbone from it; after loading, the
tracker uses the detector's copy (:func:`share_backbone`), so it is resident once. Heavy
imports happen in the functions that need them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam3roto.backends.weights import WeightsStatus, find_weights
from sam3roto.errors import WINDOW_INSTALL, Hint, ModelNotInstalledError

DEFAULT_MODEL_ID = "facebook/sam3"
INSTALL_HINT = Hint(
    cli="run ./install_models.sh (or ./install_models.sh --sam3-id MODEL_ID), or pass --sam3-dir DIR to run.py track",
    window=WINDOW_INSTALL + ' (with the model id in "SAM3 model id")',
)
#: SAM3 checkpoints in transformers' format: one file or shards, safetensors or pickle.
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
#: What install_models.sh downloads from a SAM3 repository (``snapshot_download``'s
#: ``allow_patterns``): the config, processor and tokenizer files (json, vocab/merges txt)
#: and the safetensors weights (or shards and their index), not the original ``sam3.pt``
#: (3.45 GB) that transformers never reads.
ALLOW_PATTERNS: tuple[str, ...] = ("*.json", "*.txt", "*.safetensors")
#: Keys named in a loading error before "and N more".
SHOWN_KEYS = 5

log = logging.getLogger(__name__)


@dataclass
class Sam3Models:
    """The loaded models and processors (real weights or tiny test models alike)."""

    tracker: Any  # Sam3TrackerVideoModel
    tracker_processor: Any  # Sam3TrackerVideoProcessor
    detector: Any = None  # Sam3Model (text prompts)
    detector_processor: Any = None  # Sam3Processor

    def modules(self) -> list[Any]:
        """The loaded torch modules: the tracker, and the detector when there is one."""
        return [m for m in (self.tracker, self.detector) if m is not None]

    def to(self, device: str, dtype: Any = None) -> Sam3Models:
        """Move (and cast) the tracker and the detector in place; a backbone they share
        moves once. Returns ``self``."""
        for module in self.modules():
            module.to(device=device, dtype=dtype)
        return self

    def compiled_encoder(self) -> Any:
        """The tracker's vision encoder under ``torch.compile`` (compiled once per model on
        first use, again per input shape: the read-ahead keeps one shape per session by
        padding the last batch)."""
        compiled = getattr(self, "_compiled_encoder", None)
        if compiled is None or getattr(self, "_compiled_of", None) is not self.tracker.vision_encoder:
            import torch

            compiled = torch.compile(self.tracker.vision_encoder, dynamic=False)
            self._compiled_encoder, self._compiled_of = compiled, self.tracker.vision_encoder
        return compiled

    def resident_bytes(self) -> int:
        """Bytes held by the models' parameters and buffers, counting memory that several
        tensors share (a tied backbone) once."""
        seen: dict[tuple[str, int], int] = {}
        for module in self.modules():
            for tensor in (*module.parameters(), *module.buffers()):
                if tensor.device.type == "meta":
                    continue
                storage = tensor.untyped_storage()
                key = (str(tensor.device), storage.data_ptr())
                seen[key] = max(seen.get(key, 0), storage.nbytes())
        return sum(seen.values())

    @property
    def backbone_shared(self) -> bool:
        """Whether the tracker runs the detector's ViT backbone (one resident copy)."""
        vision = getattr(self.tracker, "vision_encoder", None)
        return (self.detector is not None and vision is not None
                and vision.backbone is self.detector.vision_encoder.backbone)


def weights_status(model_id: str = DEFAULT_MODEL_ID, model_dir: str | Path | None = None, *,
                   cache_dir: str | Path | None = None) -> WeightsStatus:
    """Whether SAM3's weights are present (``model_dir``, else the Hugging Face cache
    snapshot of ``model_id``) and where, without loading them or importing torch."""
    return find_weights("SAM3", model_id, model_dir, weight_patterns=WEIGHT_PATTERNS,
                        weight_words="model.safetensors", cache_dir=cache_dir)


def resolve_model_dir(model_id: str = DEFAULT_MODEL_ID, model_dir: str | Path | None = None) -> Path:
    """The folder holding the weights: ``model_dir`` when given, else the Hugging Face cache
    snapshot of ``model_id`` (never downloads). Raises :class:`ModelNotInstalledError`."""
    return weights_status(model_id, model_dir).resolved(INSTALL_HINT)


#: Config entries that do not change what a backbone computes.
_CONFIG_BOOKKEEPING = frozenset({"dtype", "torch_dtype", "transformers_version", "architectures"})


def _backbone_config(backbone: Any) -> dict[str, Any]:
    return {k: v for k, v in backbone.config.to_dict().items()
            if not k.startswith("_") and k not in _CONFIG_BOOKKEEPING}


def backbone_difference(tracker_backbone: Any, detector_backbone: Any) -> str | None:
    """Why two ViT backbones cannot be one module (config, tensor names, shapes, dtypes or
    values differ), or ``None`` when they are interchangeable."""
    import torch

    if type(tracker_backbone) is not type(detector_backbone):
        return f"different classes ({type(tracker_backbone).__name__} vs {type(detector_backbone).__name__})"
    a_cfg, b_cfg = _backbone_config(tracker_backbone), _backbone_config(detector_backbone)
    if a_cfg != b_cfg:
        keys = sorted(k for k in a_cfg.keys() | b_cfg.keys() if a_cfg.get(k) != b_cfg.get(k))
        return "different configs (" + ", ".join(f"{k}: {a_cfg.get(k)!r} vs {b_cfg.get(k)!r}" for k in keys[:3]) + ")"
    a = dict((*tracker_backbone.named_parameters(), *tracker_backbone.named_buffers()))
    b = dict((*detector_backbone.named_parameters(), *detector_backbone.named_buffers()))
    if a.keys() != b.keys():
        names = sorted(a.keys() ^ b.keys())
        return f"{len(names)} tensors only in one of them (e.g. {names[0]})"
    for name, t in a.items():
        u = b[name]
        if t.shape != u.shape or t.dtype != u.dtype:
            return f"{name} is {tuple(t.shape)} {t.dtype} vs {tuple(u.shape)} {u.dtype}"
    with torch.no_grad():
        for name, t in a.items():
            if t.device != b[name].device:
                return f"{name} is on {t.device} vs {b[name].device}"
            if not torch.equal(t, b[name]):
                return f"different weights ({name})"
    return None


def share_backbone(models: Sam3Models) -> bool:
    """Make the tracker run the detector's ViT backbone, so it is resident once (the SAM3
    checkpoint stores one backbone; transformers loads a copy into each model). Only when
    the two are interchangeable (same config, tensor shapes, dtypes and values); otherwise
    they stay separate and the reason is logged. Call it before moving the models to a
    device, so the shared module moves once. Returns whether the backbone is shared."""
    if models.backbone_shared:
        return True
    vision = getattr(models.tracker, "vision_encoder", None)
    if models.detector is None or vision is None:
        return False
    reason = backbone_difference(vision.backbone, models.detector.vision_encoder.backbone)
    if reason is not None:
        log.warning("SAM3: the tracker and the detector keep separate backbones (more memory): %s", reason)
        return False
    vision.backbone = models.detector.vision_encoder.backbone
    return True


def _keys(keys: Iterable[str]) -> str:
    names = sorted(keys)
    shown = ", ".join(names[:SHOWN_KEYS])
    return shown + (f" and {len(names) - SHOWN_KEYS} more" if len(names) > SHOWN_KEYS else "")


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what.replace('key', 'keys', 1)}"


def loading_problems(info: dict[str, Any]) -> list[str]:
    """What ``from_pretrained(..., output_loading_info=True)`` reported wrong, one phrase per
    kind (missing, wrong shape, unexpected, errors), each naming up to :data:`SHOWN_KEYS`
    keys; empty when the weights loaded whole. Unexpected keys the model ignores by design
    (the other model's part of the checkpoint) are already left out by transformers."""
    problems = []
    if missing := info.get("missing_keys"):
        problems.append(f"{_count(len(missing), 'key missing')} ({_keys(missing)})")
    if mismatched := info.get("mismatched_keys"):
        shapes = [f"{k} {tuple(found)} instead of {tuple(wanted)}" for k, found, wanted in mismatched]
        problems.append(f"{_count(len(shapes), 'key with the wrong shape')} ({_keys(shapes)})")
    if unexpected := info.get("unexpected_keys"):
        problems.append(f"{_count(len(unexpected), 'unexpected key')} ({_keys(unexpected)})")
    if errors := info.get("error_msgs"):
        problems.append(f"{_count(len(errors), 'loading error')} ({'; '.join(errors[:2])})")
    return problems


def _not_a_load_report(record: logging.LogRecord) -> bool:
    return "LOAD REPORT" not in record.getMessage()


@contextmanager
def _quiet_load_report() -> Iterator[None]:
    """Drop transformers' MISSING/UNEXPECTED load-report table: :func:`load_models` checks
    the loading info itself and raises with the keys that matter. A filter, not a level:
    transformers runs an extra check that logs every tensor name when that logger's level
    is WARNING or above."""
    report = logging.getLogger("transformers.modeling_utils")
    report.addFilter(_not_a_load_report)
    try:
        yield
    finally:
        report.removeFilter(_not_a_load_report)


def _load_checked(cls: Any, folder: Path, dtype: Any, role: str) -> Any:
    """``cls.from_pretrained(folder)`` on the CPU, raising :class:`ModelNotInstalledError`
    unless every weight the model needs is in the checkpoint with the right shape."""
    # ignore_mismatched_sizes: mismatches land in the loading info (raised below with the
    # keys) instead of a RuntimeError pointing at the silenced report
    model, info = cls.from_pretrained(folder, dtype=dtype, output_loading_info=True, ignore_mismatched_sizes=True)
    problems = loading_problems(info)
    if problems:
        raise ModelNotInstalledError(
            f"the SAM3 {role} weights are incomplete or do not fit the model: " + "; ".join(problems),
            path=folder, hint="the download is partial or not a SAM3 checkpoint in transformers' format; "
            + INSTALL_HINT)
    return model.eval()


def load_models(folder: Path, *, device: str, dtype: Any, text: bool = True) -> Sam3Models:
    """Load the tracker (and the detector, for text prompts) from ``folder``, share their
    backbone (:func:`share_backbone`) and move them to ``device``. Missing, misshapen or
    unexpected weights and unreadable files raise :class:`ModelNotInstalledError` naming
    the folder."""
    from transformers import Sam3Model, Sam3Processor, Sam3TrackerVideoModel, Sam3TrackerVideoProcessor

    try:
        with _quiet_load_report():
            tracker = _load_checked(Sam3TrackerVideoModel, folder, dtype, "tracker")
            tracker_processor = Sam3TrackerVideoProcessor.from_pretrained(folder)
            detector = detector_processor = None
            if text:
                detector = _load_checked(Sam3Model, folder, dtype, "text detector")
                detector_processor = Sam3Processor.from_pretrained(folder)
    except ModelNotInstalledError:
        raise
    except Exception as exc:  # OSError, SafetensorError, ValueError from a bad config, ...
        raise ModelNotInstalledError(f"SAM3 weights could not be read: {exc}", path=folder,
                                     hint="the files are incomplete or corrupt; " + INSTALL_HINT) from exc
    models = Sam3Models(tracker, tracker_processor, detector, detector_processor)
    share_backbone(models)  # on the CPU, before moving: the shared module moves once
    return models.to(device, dtype)

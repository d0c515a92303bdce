"""SAM3's weights: where they are, how complete they are, and loading them.

The tracker (``Sam3TrackerVideoModel``) and the text detector (``Sam3Model``) load from one
folder in transformers' format (``config.json`` + ``model.safetensors``, the layout of the
``facebook/sam3`` repository). Heavy imports happen in the functions that need them.
"""

from __future__ import annotations

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


@dataclass
class Sam3Models:
    """The loaded models and processors (real weights or tiny test models alike)."""

    tracker: Any  # Sam3TrackerVideoModel
    tracker_processor: Any  # Sam3TrackerVideoProcessor
    detector: Any = None  # Sam3Model (text prompts)
    detector_processor: Any = None  # Sam3Processor


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


def load_models(folder: Path, *, device: str, dtype: Any, text: bool = True) -> Sam3Models:
    """Load tracker (and detector for text) from ``folder``; unreadable files raise
    :class:`ModelNotInstalledError` naming the folder."""
    from transformers import Sam3Model, Sam3Processor, Sam3TrackerVideoModel, Sam3TrackerVideoProcessor

    try:
        tracker = Sam3TrackerVideoModel.from_pretrained(folder, dtype=dtype).to(device).eval()  # type: ignore[arg-type]
        tracker_processor = Sam3TrackerVideoProcessor.from_pretrained(folder)
        detector = detector_processor = None
        if text:
            detector = Sam3Model.from_pretrained(folder, dtype=dtype).to(device).eval()  # type: ignore[arg-type]
            detector_processor = Sam3Processor.from_pretrained(folder)
    except Exception as exc:  # OSError, SafetensorError, ValueError from a bad config, ...
        if isinstance(exc, ModelNotInstalledError):
            raise
        raise ModelNotInstalledError(f"SAM3 weights could not be read: {exc}", path=folder,
                                     hint="the files are incomplete or corrupt; " + INSTALL_HINT) from exc
    return Sam3Models(tracker, tracker_processor, detector, detector_processor)

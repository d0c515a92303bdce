"""Where a model's weights are and whether they are complete, without loading them.

A model's weights are a folder with ``config.json`` and the weight files: a folder the
user gives, or the Hugging Face cache snapshot of a model id (found with
``snapshot_download(local_files_only=True)``: never downloads). Both the engines (before
loading) and Settings (to show it) ask :func:`find_weights`; nothing here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sam3roto.errors import Hint, ModelNotInstalledError


@dataclass(frozen=True)
class WeightsStatus:
    """What :func:`find_weights` found for one model.

    ``folder`` is the weights folder when one exists (complete or not), else None;
    ``looked_in`` is where the weights were looked for (the given folder, or the model's
    folder in the Hugging Face cache); ``missing`` says in words what is absent or
    incomplete (empty when the weights are present). ``in_cache`` tells the two kinds of
    search apart.
    """

    model: str
    model_id: str | None
    folder: Path | None
    looked_in: Path
    missing: tuple[str, ...]
    in_cache: bool

    @property
    def present(self) -> bool:
        """The folder exists and holds every file the model needs, none of them empty."""
        return self.folder is not None and not self.missing

    def describe(self) -> str:
        """One line for a person: ``weights found in FOLDER`` or
        ``no weights: looked in X (missing: ...)``."""
        if self.present:
            return f"weights found in {self.folder}"
        return f"no weights: looked in {self.folder or self.looked_in} (missing: {', '.join(self.missing)})"

    def error(self, hint: str | Hint) -> ModelNotInstalledError:
        """The error to raise when the weights are not :attr:`present`, naming the place."""
        if self.folder is None and not self.in_cache:
            return ModelNotInstalledError(f"{self.model} weights folder does not exist", path=self.looked_in,
                                          hint=hint)
        if self.folder is None:
            return ModelNotInstalledError(f"{self.model} weights '{self.model_id}' are not in the Hugging Face "
                                          f"cache (missing: {', '.join(self.missing)})", path=self.looked_in,
                                          hint=hint)
        return ModelNotInstalledError(f"no {' and no '.join(self.missing)} in the {self.model} weights folder",
                                      path=self.folder, hint=hint)

    def resolved(self, hint: str | Hint) -> Path:
        """The complete weights folder; :class:`ModelNotInstalledError` (see :meth:`error`) otherwise."""
        if self.folder is None or self.missing:
            raise self.error(hint)
        return self.folder


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (``HF_HUB_CACHE``, then
    ``HF_HOME/hub``), else huggingface_hub's default."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    try:
        from huggingface_hub import constants
    except ImportError:
        return Path("~/.cache/huggingface/hub").expanduser()
    return Path(constants.HF_HUB_CACHE)


def _file_problem(folder: Path, patterns: Sequence[str], words: str) -> str | None:
    """None when ``folder`` holds a non-empty file matching one of ``patterns``;
    otherwise what is wrong, in words."""
    found = [p for pattern in patterns for p in sorted(folder.glob(pattern)) if p.is_file()]
    if not found:
        return words
    empty = [p.name for p in found if p.stat().st_size == 0]
    if empty:
        return f"{words} ({', '.join(empty)} is empty: incomplete download?)"
    return None


def find_weights(
    model: str,
    model_id: str,
    model_dir: str | Path | None = None,
    *,
    weight_patterns: Sequence[str] = ("model.safetensors",),
    weight_words: str = "model.safetensors",
    cache_dir: str | Path | None = None,
) -> WeightsStatus:
    """Look for ``model``'s weights: in ``model_dir`` when given, else in the Hugging Face
    cache (``cache_dir``, default :func:`hf_cache_dir`) under ``model_id``. The folder is
    complete when it holds a non-empty ``config.json`` and a non-empty file matching one of
    ``weight_patterns`` (described as ``weight_words``)."""
    if model_dir is not None:
        folder = Path(model_dir).expanduser()
        if not folder.is_dir():
            return WeightsStatus(model, None, None, folder, ("the folder itself",), in_cache=False)
        looked_in, in_cache, given_id = folder, False, None
    else:
        cache = Path(cache_dir).expanduser() if cache_dir is not None else hf_cache_dir()
        looked_in, in_cache, given_id = cache / f"models--{model_id.replace('/', '--')}", True, model_id
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(model_id, cache_dir=cache, local_files_only=True))
        except ImportError:
            return WeightsStatus(model, model_id, None, looked_in, ("the huggingface_hub package",), in_cache=True)
        except Exception:  # LocalEntryNotFoundError, offline mode, a malformed id
            return WeightsStatus(model, model_id, None, looked_in, ("a downloaded snapshot",),
                                 in_cache=True)
    missing = [problem for problem in (_file_problem(folder, ("config.json",), "config.json"),
                                       _file_problem(folder, weight_patterns, weight_words)) if problem]
    return WeightsStatus(model, given_id, folder, looked_in, tuple(missing), in_cache)

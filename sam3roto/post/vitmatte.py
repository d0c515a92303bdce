"""Learned edge matting with ViTMatte (transformers' ``VitMatteForImageMatting``): the
``"vitmatte"`` refine method.

The model sees the frame and a trimap (0 background, 128 unknown, 255 object) and predicts
alpha. Only square tiles that hold unknown pixels are run, in batches; overlapping tiles
are blended with weights that ramp down towards the shared sides (no seams), and the result
is used in the unknown band only: known pixels stay exactly 0 or 1.

The model is loaded by the caller and handed in (a :class:`VitMatte`): post stays pure
functions without globals or model lookups (which live above it, in
``sam3roto.pipeline.post.RefineModels``). torch and transformers are imported only by
:func:`load` and :func:`estimate_alpha`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sam3roto.errors import WINDOW_INSTALL, Hint, ModelNotInstalledError
from sam3roto.post.checks import check_range, check_rgb_source, check_same_size, to_float_rgb

#: The checkpoint used unless the settings name another (``refine_model``).
DEFAULT_MODEL_ID = "hustvl/vitmatte-small-composition-1k"
#: What a weights folder must hold besides ``config.json`` (``find_weights``' patterns).
WEIGHT_PATTERNS: tuple[str, ...] = ("*.safetensors",)
#: What install_models.sh downloads from a ViTMatte repository (``snapshot_download``'s
#: ``allow_patterns``): the model config, the image processor's settings and the weights.
ALLOW_PATTERNS: tuple[str, ...] = ("config.json", "preprocessor_config.json", "*.safetensors")
INSTALL_HINT = Hint(
    cli="run ./install_models.sh (VITMATTE_ID=MODEL_ID ./install_models.sh for another checkpoint), "
    "or set refine_model to a folder holding config.json and model.safetensors",
    window=WINDOW_INSTALL + ' (or choose another "Refine method")',
)
#: Tile side (px) the model runs on: ViTMatte's training crop; a multiple of 32.
TILE_PX = 512
#: Overlap (px) of neighbouring tiles, blended over this width.
OVERLAP_PX = 64
#: Tiles per forward pass.
BATCH_GPU = 8
BATCH_CPU = 2
#: The model pads its input to a multiple of this (the patch grid of its ViT).
SIZE_DIVISOR = 32


@dataclass(frozen=True)
class VitMatte:
    """A loaded ViTMatte: ``model`` (``VitMatteForImageMatting``, eval mode, on ``device`` in
    ``dtype``), its image processor (``VitMatteImageProcessor``) and how many tiles go
    through one forward pass (``batch``)."""

    model: Any
    processor: Any
    device: str = "cpu"
    dtype: Any = None
    batch: int = BATCH_CPU


def _not_a_load_report(record: logging.LogRecord) -> bool:
    return "LOAD REPORT" not in record.getMessage()


def load(folder: str | Path, *, device: str = "cpu", dtype: Any = None) -> VitMatte:
    """Load ViTMatte from a weights folder (``config.json``, ``*.safetensors`` and, when
    present, ``preprocessor_config.json``; transformers' defaults otherwise) onto ``device``
    in ``dtype`` (None: the checkpoint's, float32). Weights that are missing, misshapen or
    unreadable raise :class:`ModelNotInstalledError` naming the folder."""
    from transformers import VitMatteForImageMatting, VitMatteImageProcessor

    path = Path(folder)
    # transformers logs a table of every missing or misshapen key: the error below names them
    report = logging.getLogger("transformers.modeling_utils")
    report.addFilter(_not_a_load_report)
    try:
        loaded: Any = VitMatteForImageMatting.from_pretrained(path, dtype=dtype, output_loading_info=True,
                                                              ignore_mismatched_sizes=True)
        model, info = loaded
        if (path / "preprocessor_config.json").is_file():
            processor = VitMatteImageProcessor.from_pretrained(path)
        else:
            processor = VitMatteImageProcessor()
    except Exception as exc:  # OSError, SafetensorError, a config of another model, ...
        raise ModelNotInstalledError(f"ViTMatte weights could not be read: {exc}", path=path,
                                     hint="the files are incomplete or not a ViTMatte checkpoint; " + INSTALL_HINT
                                     ) from exc
    finally:
        report.removeFilter(_not_a_load_report)
    problems = [f"{len(keys)} {what} ({', '.join(str(k) for k in list(keys)[:3])})"
                for what, keys in (("missing keys", info.get("missing_keys")),
                                   ("keys with the wrong shape", info.get("mismatched_keys")),
                                   ("unexpected keys", info.get("unexpected_keys"))) if keys]
    if problems:
        raise ModelNotInstalledError("the ViTMatte weights do not fit the model: " + "; ".join(problems), path=path,
                                     hint="the download is partial or not a ViTMatte checkpoint; " + INSTALL_HINT)
    model = model.to(device).eval()
    return VitMatte(model, processor, device, dtype if dtype is not None else model.dtype,
                    BATCH_GPU if device.startswith("cuda") else BATCH_CPU)


def tile_starts(length: int, tile_px: int, overlap_px: int) -> list[int]:
    """Starts of the tiles covering ``length`` px: every ``tile_px - overlap_px``, the last
    one flush with the end (one tile of the whole length when it is shorter than a tile)."""
    if length <= tile_px:
        return [0]
    step = tile_px - overlap_px
    return [*range(0, length - tile_px, step), length - tile_px]


def edge_tiles(unknown: np.ndarray, *, tile_px: int = TILE_PX, overlap_px: int = OVERLAP_PX) -> list[tuple[int, int]]:
    """``(y0, x0)`` of the tiles of the grid over ``unknown`` (``bool (h, w)``) that hold an
    unknown pixel. Tiles are ``min(tile_px, h)`` x ``min(tile_px, w)``."""
    h, w = unknown.shape
    th, tw = min(tile_px, h), min(tile_px, w)
    # Rows of tiles without an unknown pixel are skipped without reading their tiles.
    rows = np.flatnonzero(unknown.any(axis=1))
    if rows.size == 0:
        return []
    return [(y, x) for y in tile_starts(h, tile_px, overlap_px)
            if rows[(rows >= y) & (rows < y + th)].size
            for x in tile_starts(w, tile_px, overlap_px)
            if unknown[y : y + th, x : x + tw].any()]


def _ramp(n: int, start: int, length: int, overlap_px: int) -> np.ndarray:
    """Blend weights (> 0) along one side of a tile at ``start`` of ``n`` px in ``length``:
    1 inside, falling linearly over ``overlap_px`` towards a side that another tile shares."""
    out = np.ones(n, np.float32)
    k = min(overlap_px, n)
    if k == 0:
        return out
    ramp = np.arange(1, k + 1, dtype=np.float32) / np.float32(k + 1)
    if start > 0:
        out[:k] = ramp
    if start + n < length:
        out[n - k :] = np.minimum(out[n - k :], ramp[::-1])
    return out


def estimate_alpha(
    net: VitMatte, image: np.ndarray, trimap: np.ndarray, *, tile_px: int = TILE_PX, overlap_px: int = OVERLAP_PX
) -> np.ndarray:
    """Alpha from ViTMatte in the trimap's unknown band, run on the edge tiles only.

    ``image``: ``(h, w, 3)`` uint8/uint16/float (float clipped to [0, 1]); ``trimap``:
    ``uint8 (h, w)``, 0 background, 255 object, anything else unknown. Returns
    ``float32 (h, w)`` in [0, 1]: exactly 0 and 1 on the known pixels, the model's alpha on
    the unknown ones. ``tile_px`` (a multiple of 32) is the tile side, ``overlap_px`` (less
    than half a tile) how much neighbouring tiles share.
    """
    check_rgb_source(image)
    if not isinstance(trimap, np.ndarray) or trimap.ndim != 2 or trimap.dtype != np.uint8:
        raise TypeError(f"trimap must be uint8 (H, W), got {getattr(trimap, 'dtype', type(trimap).__name__)} "
                        f"{getattr(trimap, 'shape', '')}")
    check_same_size(image, "image", trimap, "trimap")
    check_range("tile_px", tile_px, SIZE_DIVISOR, 4096, integer=True)
    if tile_px % SIZE_DIVISOR:
        raise ValueError(f"tile_px must be a multiple of {SIZE_DIVISOR}, got {tile_px}")
    check_range("overlap_px", overlap_px, 0, tile_px // 2 - 1, integer=True)
    out = (trimap == 255).astype(np.float32)
    unknown = (trimap != 0) & (trimap != 255)
    tiles = edge_tiles(unknown, tile_px=tile_px, overlap_px=overlap_px)
    if not tiles:
        return out
    import torch

    h, w = trimap.shape
    th, tw = min(tile_px, h), min(tile_px, w)
    total = np.zeros((h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    for first in range(0, len(tiles), max(1, net.batch)):
        batch = tiles[first : first + max(1, net.batch)]
        rgb = [np.clip(to_float_rgb(image[y : y + th, x : x + tw]), 0.0, 1.0) for y, x in batch]
        # The processor rescales the trimap with the image: both go in as [0, 1] floats.
        tri = [trimap[y : y + th, x : x + tw].astype(np.float32) / np.float32(255.0) for y, x in batch]
        inputs = net.processor(images=rgb, trimaps=tri, do_rescale=False, return_tensors="pt")
        pixels = inputs["pixel_values"].to(device=net.device, dtype=net.dtype)
        with torch.inference_mode():
            alphas = net.model(pixel_values=pixels).alphas[:, 0, :th, :tw].float().cpu().numpy()
        for (y, x), alpha in zip(batch, alphas, strict=True):
            ramp = np.outer(_ramp(th, y, h, overlap_px), _ramp(tw, x, w, overlap_px))
            total[y : y + th, x : x + tw] += ramp * alpha
            weight[y : y + th, x : x + tw] += ramp
    # Every unknown pixel lies in some tile that ran, where every weight is positive.
    out[unknown] = np.clip(total[unknown] / weight[unknown], 0.0, 1.0)
    return out

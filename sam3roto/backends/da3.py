"""Depth Anything 3: depth, confidence and (for the any-view presets) the camera of every
frame of a group of frames seen together.

The network is built from the ``depth-anything-3`` package's own model configs and run
directly; the package's ``api`` module is not imported, because it pulls in exporters we
do not use (gsplat, COLMAP, GLB, evo pose alignment). Weights come from a local folder or
the Hugging Face cache (``config.json`` naming the model + ``model.safetensors``), never
from the network here.

Precision: CUDA runs bf16 autocast; the CPU runs bf16 where the processor has native bf16,
fp32 otherwise, and never fp16 (the package's default on a CPU build, measured 3-4x
slower). Outputs come back at the processing resolution; :meth:`Prediction.at_source`
resizes one frame back to the source size and :meth:`Prediction.intrinsics_at_source`
scales the intrinsics to match.

Conventions: depth is distance along the optical axis (not inverse depth); extrinsics are
OpenCV world-to-camera ``4x4`` (+X right, +Y down, +Z forward); intrinsics are in pixels
of the image they belong to, principal point in the continuous convention (the image
centre of a ``W``-wide image is ``W / 2``).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sam3roto.backends.device import pick_device, pick_dtype, set_threads
from sam3roto.backends.weights import WeightsStatus, find_weights
from sam3roto.core.pixels import to_uint8
from sam3roto.errors import WINDOW_INSTALL, DeviceMemoryError, EngineError, Hint, ModelNotInstalledError

INSTALL_HINT = Hint(
    cli="run ./install_models.sh --da3-id REPO_ID, or pass --depth-dir DIR (config.json + model.safetensors) "
    "to run.py depth",
    window=WINDOW_INSTALL + ' (with the preset\'s repository in "Depth Anything 3 model id"), or choose a folder '
    'with config.json + model.safetensors in the Depth / Camera tab\'s "Weights" field',
)
PATCH = 14
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class Preset:
    """A published model: the package's config name, its Hugging Face repository, whether
    its depth is metric (metres) and whether it estimates cameras. ``superseded_by`` names
    the preset upstream recommends instead (the ``-1.1`` repositories were retrained after
    a training bug; the originals stay available but are deprecated)."""

    model_name: str
    repo_id: str
    metric: bool
    camera: bool
    superseded_by: str | None = None


# A "-1.1" repository holds the same network as its original, retrained: upstream added no
# package config for it, so it is built from the original's (same model_name).
PRESETS: dict[str, Preset] = {
    "small": Preset("da3-small", "depth-anything/DA3-SMALL", metric=False, camera=True),
    "base": Preset("da3-base", "depth-anything/DA3-BASE", metric=False, camera=True),
    "large": Preset("da3-large", "depth-anything/DA3-LARGE", metric=False, camera=True,
                    superseded_by="large-1.1"),
    "large-1.1": Preset("da3-large", "depth-anything/DA3-LARGE-1.1", metric=False, camera=True),
    "giant": Preset("da3-giant", "depth-anything/DA3-GIANT", metric=False, camera=True,
                    superseded_by="giant-1.1"),
    "giant-1.1": Preset("da3-giant", "depth-anything/DA3-GIANT-1.1", metric=False, camera=True),
    "metric": Preset("da3metric-large", "depth-anything/DA3METRIC-LARGE", metric=True, camera=False),
    "mono": Preset("da3mono-large", "depth-anything/DA3MONO-LARGE", metric=False, camera=False),
    "nested": Preset("da3nested-giant-large", "depth-anything/DA3NESTED-GIANT-LARGE", metric=True, camera=True,
                     superseded_by="nested-1.1"),
    "nested-1.1": Preset("da3nested-giant-large", "depth-anything/DA3NESTED-GIANT-LARGE-1.1", metric=True,
                         camera=True),
}
DEFAULT_PRESET = "small"
#: Checkpoint keys of the Gaussian-splatting head (giant; ``da3.`` inside nested), which
#: the published files hold but :func:`build_network` leaves out: read and dropped.
GAUSSIAN_KEYS = ("model.gs_head.", "model.gs_adapter.", "model.da3.gs_head.", "model.da3.gs_adapter.")


def preset(name: str) -> Preset:
    """The preset called ``name`` (``small`` ... ``nested-1.1``); :class:`EngineError` otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise EngineError(f"unknown depth preset {name!r}", hint=f"choose one of: {', '.join(PRESETS)}") from None


def _quiet_package() -> None:
    # the package prints coloured INFO lines to stdout on every forward; keep warnings
    os.environ.setdefault("DA3_LOG_LEVEL", "WARN")


@contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Modules built inside get their parameters and buffers on the meta device (shapes
    only: no memory, no initialisation), the way ``accelerate.init_empty_weights`` does it.
    ``with torch.device("meta")`` cannot be used: the package's ViT calls ``.item()`` on a
    tensor while building. Patches ``torch.nn.Module`` for the duration, so it is for checks
    and tests, not while another thread builds modules."""
    import torch

    meta = torch.device("meta")
    module_cls = torch.nn.Module
    register_parameter, register_buffer = module_cls.register_parameter, module_cls.register_buffer

    def parameter(module: Any, name: str, param: Any) -> None:
        register_parameter(module, name, param)
        if param is not None:
            module._parameters[name] = type(param)(param.to(meta), requires_grad=param.requires_grad)

    def buffer(module: Any, name: str, tensor: Any, persistent: bool = True) -> None:
        register_buffer(module, name, tensor, persistent)
        if tensor is not None:
            module._buffers[name] = module._buffers[name].to(meta)

    module_cls.register_parameter = parameter  # type: ignore[method-assign,assignment]
    module_cls.register_buffer = buffer  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        module_cls.register_parameter = register_parameter  # type: ignore[method-assign]
        module_cls.register_buffer = register_buffer  # type: ignore[method-assign]


def _without_gaussian_head(config: Any) -> Any:
    """``config`` with every ``gs_head``/``gs_adapter`` entry removed, at any depth (the
    giant config has them at the top, the nested one under ``anyview``). The package's
    ``DepthAnything3Net`` takes both as optional and builds no Gaussian-splatting branch
    without them; building it would import ``model.gs_adapter`` -> ``utils.pose_align`` ->
    ``evo``, an exporter dependency the app never installs or uses."""
    for key in ("gs_head", "gs_adapter"):
        config.pop(key, None)
    for key in list(config.keys()):
        child = config.get(key)
        if hasattr(child, "keys") and hasattr(child, "pop"):
            _without_gaussian_head(child)
    return config


def build_network(model_name: str, *, meta: bool = False) -> Any:
    """The package's network for ``model_name`` (``da3-small``...), randomly initialised,
    in eval mode, without the Gaussian-splatting head (see :data:`GAUSSIAN_KEYS`).
    ``meta=True`` builds it on the meta device (structure only, no memory, fast: what the
    install check and the tests use). Raises :class:`ModelNotInstalledError` when the
    package is missing."""
    _quiet_package()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # omegaconf deprecation noise from the package's cfg module
            from depth_anything_3.cfg import create_object, load_config
            from depth_anything_3.registry import MODEL_REGISTRY
    except ImportError as exc:
        raise ModelNotInstalledError(f"the depth-anything-3 package is not installed ({exc})",
                                     hint=Hint(cli="run ./install_models.sh", window=WINDOW_INSTALL)) from None
    if model_name not in MODEL_REGISTRY:
        raise EngineError(f"depth-anything-3 has no model {model_name!r}", hint=f"known: {', '.join(MODEL_REGISTRY)}")
    config = _without_gaussian_head(load_config(MODEL_REGISTRY[model_name]))
    with _parameters_on_meta() if meta else nullcontext():
        return create_object(config).eval()


def weights_status(name: str = DEFAULT_PRESET, model_dir: str | Path | None = None, *,
                   cache_dir: str | Path | None = None) -> WeightsStatus:
    """Whether the weights of ``name`` (a preset such as ``small``, or a Hugging Face
    repository id such as ``depth-anything/DA3-SMALL``) are present, in ``model_dir`` or
    the Hugging Face cache, and where; without loading them or importing torch."""
    repo_id = name if "/" in name else preset(name).repo_id
    return find_weights("Depth Anything 3", repo_id, model_dir, cache_dir=cache_dir)


def resolve_model_dir(name: str = DEFAULT_PRESET, model_dir: str | Path | None = None) -> Path:
    """The folder holding the weights of preset ``name``: ``model_dir`` when given, else
    the Hugging Face cache snapshot of the preset's repository (never downloads)."""
    spec = preset(name)
    hint = INSTALL_HINT.replace("REPO_ID", spec.repo_id).replace("the preset's repository", spec.repo_id)
    return weights_status(name, model_dir).resolved(hint)


def load_network(folder: Path) -> tuple[Any, str]:
    """Build the network named by ``folder/config.json`` and load ``model.safetensors``
    into it: every tensor of the network must be in the file, and the file may hold no
    others except the Gaussian-splatting head's (:data:`GAUSSIAN_KEYS`, dropped). Returns
    ``(network, model_name)``."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        model_name = str(config["model_name"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelNotInstalledError(f"config.json does not name a Depth Anything 3 model ({exc})",
                                     path=folder / "config.json", hint=INSTALL_HINT) from None
    network = build_network(model_name)
    try:
        import torch
        from safetensors.torch import load_model

        # the published files hold the package wrapper's state (the network under "model.",
        # tensors shared between heads stored once): load through the same shape of module
        wrapper = torch.nn.Module()
        wrapper.model = network
        missing, unexpected = load_model(wrapper, str(folder / "model.safetensors"), strict=False)
    except Exception as exc:  # SafetensorError, OSError, RuntimeError on a shape mismatch
        raise ModelNotInstalledError(f"Depth Anything 3 weights could not be read: {exc}",
                                     path=folder / "model.safetensors",
                                     hint="the file is incomplete or corrupt; " + INSTALL_HINT) from None
    unused = sorted(k for k in unexpected if not k.startswith(GAUSSIAN_KEYS))
    if missing or unused:
        found = [f"{len(missing)} of its tensors are not in the file ({', '.join(sorted(missing)[:3])})"
                 if missing else "",
                 f"the file holds {len(unused)} it has no place for ({', '.join(unused[:3])})" if unused else ""]
        raise ModelNotInstalledError(
            f"Depth Anything 3 weights do not fit {model_name}: " + "; ".join(f for f in found if f),
            path=folder / "model.safetensors",
            hint="config.json names another model than the file holds, or the file is incomplete; " + INSTALL_HINT)
    return network, model_name


def process_size(width: int, height: int, process_res: int) -> tuple[int, int]:
    """``(w, h)`` the network sees: the longest side scaled to ``process_res``, then each
    side rounded to the nearest multiple of the patch size (the package's
    ``upper_bound_resize``)."""
    if process_res < PATCH:
        raise ValueError(f"process_res must be at least {PATCH}, got {process_res}")
    scale = process_res / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    return max(PATCH, round(w / PATCH) * PATCH), max(PATCH, round(h / PATCH) * PATCH)


def default_intrinsics(width: int, height: int) -> np.ndarray:
    """``float64 (3, 3)``: the intrinsics used when a preset estimates no camera: focal
    length equal to the longer side (about 53 degrees across it), centred principal point."""
    f = float(max(width, height))
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


@dataclass
class Prediction:
    """One group of frames at the processing resolution.

    ``depth``/``confidence``: ``float32 (N, h, w)``; non-finite depth is replaced by 0 with
    confidence 0. ``intrinsics``: ``float64 (N, 3, 3)`` for ``(h, w)``. ``extrinsics``:
    ``float64 (N, 4, 4)`` world-to-camera. ``has_camera`` is false for presets that estimate
    no camera (then intrinsics are :func:`default_intrinsics` and extrinsics identity).
    """

    depth: np.ndarray
    confidence: np.ndarray
    intrinsics: np.ndarray
    extrinsics: np.ndarray
    is_metric: bool
    has_camera: bool
    source_size: tuple[int, int]  # (width, height)
    invalid_pixels: int = 0

    def at_source(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``i``'s ``(depth, confidence)`` resized (bilinear) to the source size,
        ``float32 (H, W)`` each."""
        width, height = self.source_size
        depth = cv2.resize(self.depth[i], (width, height), interpolation=cv2.INTER_LINEAR)
        conf = cv2.resize(self.confidence[i], (width, height), interpolation=cv2.INTER_LINEAR)
        return depth, conf

    def intrinsics_at_source(self) -> np.ndarray:
        """``float64 (N, 3, 3)``: the intrinsics scaled per axis to the source size."""
        width, height = self.source_size
        h, w = self.depth.shape[1:]
        k = self.intrinsics.copy()
        k[:, 0, :] *= width / w
        k[:, 1, :] *= height / h
        return k


def _mismatch_hint(model_name: str) -> Hint:
    """What to do when a weights folder holds another preset's model."""
    match = next((key for key, p in PRESETS.items() if p.model_name == model_name and p.superseded_by is None),
                 None)  # the current repository's name (a -1.1 one) over its deprecated original
    if match is None:
        return Hint(cli="pass another --depth-dir folder", window='choose another folder in the Depth / Camera '
                    'tab\'s "Weights" field')
    return Hint(cli=f"pass --preset {match} for these weights, or another --depth-dir folder",
                window=f'choose {match} in the Depth / Camera tab\'s "Preset" menu for these weights, or another '
                'folder in its "Weights" field')


class Da3Estimator:
    """A loaded Depth Anything 3 network that turns a group of frames into a
    :class:`Prediction`. ``network`` may be given (tests build small random ones with
    :func:`build_network`); otherwise the preset's weights are loaded from ``model_dir``
    or the Hugging Face cache."""

    def __init__(self, name: str = DEFAULT_PRESET, *, model_dir: str | Path | None = None,
                 device: str | None = None, process_res: int = 504, network: Any = None) -> None:
        self.preset = preset(name)
        self.name = name
        self.process_res = process_res
        process_size(16, 16, process_res)  # validates
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device)
        set_threads(self.device)
        if network is None:
            network, model_name = load_network(resolve_model_dir(name, model_dir))
            if model_name != self.preset.model_name:
                raise ModelNotInstalledError(
                    f"the weights folder holds {model_name}, not the '{name}' preset ({self.preset.model_name})",
                    path=model_dir, hint=_mismatch_hint(model_name))
        self.network = network.to(self.device).eval()

    def forward(self, pixels: Any) -> dict[str, Any]:
        """The bare network forward on ``(1, N, 3, h, w)`` normalised pixels, in this
        estimator's precision (what the benchmark times as the baseline)."""
        import torch

        cast = (torch.autocast(device_type=self.device.split(":")[0], dtype=self.dtype)
                if self.dtype != torch.float32 else nullcontext())
        try:
            with torch.inference_mode(), cast:
                return dict(self.network(pixels, None, None, [], False, False, "saddle_balanced"))
        except RuntimeError as exc:
            if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
                raise DeviceMemoryError(f"out of memory running Depth Anything 3 on {pixels.shape[1]} frames "
                                        f"at {pixels.shape[-1]}x{pixels.shape[-2]} ({self.device})",
                                        hint=Hint(cli="use a smaller --chunk or --process-res",
                                                  window='lower "Chunk (frames)" or "Process resolution" in the '
                                                  "Depth / Camera tab")) from None
            raise

    def pixels(self, frames: list[np.ndarray]) -> Any:
        """``(1, N, 3, h, w)`` float tensor on the device from RGB frames of one size."""
        import torch

        if not frames:
            raise ValueError("no frames to estimate depth on")
        height, width = frames[0].shape[:2]
        for i, f in enumerate(frames):
            if f.ndim != 3 or f.shape[2] != 3:
                raise ValueError(f"frame {i} must be RGB (H, W, 3), got shape {f.shape}")
            if f.shape[:2] != (height, width):
                raise ValueError(f"frames must share one size: frame 0 is {width}x{height}, "
                                 f"frame {i} is {f.shape[1]}x{f.shape[0]}")
        w, h = process_size(width, height, self.process_res)
        batch = np.empty((len(frames), 3, h, w), dtype=np.float32)
        for i, f in enumerate(frames):
            small = cv2.resize(to_uint8(f), (w, h), interpolation=cv2.INTER_AREA)
            batch[i] = ((small.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
        return torch.from_numpy(batch)[None].to(self.device)

    def predict(self, frames: list[np.ndarray]) -> Prediction:
        """Depth, confidence and cameras of ``frames`` (RGB, one size, any dtype), seen
        together. A single frame works (its camera is the identity)."""
        return self.predict_prepared(self.prepare(frames))

    def prepare(self, frames: list[np.ndarray]) -> tuple[Any, tuple[int, int]]:
        """What :meth:`predict_prepared` takes: the frames as :meth:`pixels` and their
        source size ``(width, height)`` (the depth job prepares the next chunk on a reader
        thread while the network runs)."""
        pixels = self.pixels(frames)
        height, width = frames[0].shape[:2]
        return pixels, (width, height)

    def predict_prepared(self, prepared: tuple[Any, tuple[int, int]]) -> Prediction:
        """:meth:`predict` on frames already prepared (:meth:`prepare`)."""
        pixels, (width, height) = prepared
        out = self.forward(pixels)
        n, h, w = pixels.shape[1], pixels.shape[-2], pixels.shape[-1]
        depth = out["depth"].float().reshape(n, h, w).cpu().numpy()
        conf_t = out.get("depth_conf")
        conf = (conf_t.float().reshape(n, h, w).cpu().numpy() if conf_t is not None
                else np.ones((n, h, w), dtype=np.float32))
        bad = ~np.isfinite(depth) | (depth <= 0) | ~np.isfinite(conf)
        invalid = int(bad.sum())
        if invalid:
            depth[bad] = 0.0
            conf[bad] = 0.0
        has_camera = "extrinsics" in out and "intrinsics" in out and out["extrinsics"] is not None
        if has_camera:
            ext = out["extrinsics"].double().reshape(n, -1, 4).cpu().numpy()
            extrinsics = np.tile(np.eye(4), (n, 1, 1))
            extrinsics[:, :3, :] = ext[:, :3, :]
            intrinsics = out["intrinsics"].double().reshape(n, 3, 3).cpu().numpy()
            if not (np.isfinite(extrinsics).all() and np.isfinite(intrinsics).all()):
                raise EngineError("Depth Anything 3 returned a camera with NaN or infinite values",
                                  hint="check the weights; try another preset")
        else:
            extrinsics = np.tile(np.eye(4), (n, 1, 1))
            intrinsics = np.tile(default_intrinsics(w, h), (n, 1, 1))
        metric = self.preset.metric or bool(out.get("is_metric", False))
        return Prediction(depth.astype(np.float32), conf.astype(np.float32), intrinsics, extrinsics,
                          is_metric=metric, has_camera=has_camera, source_size=(width, height),
                          invalid_pixels=invalid)

    def close(self) -> None:
        """Free the network (and the accelerator memory it holds)."""
        self.network = None

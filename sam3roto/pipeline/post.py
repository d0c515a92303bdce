"""Post a shot: the media's frames and a mask per frame through the post stack, written
as 16-bit PNG mattes (and RGBA) with the source frame numbers.

Every file is written to a temporary name and renamed when complete, so an interrupted
run leaves only whole frames; an output folder that already holds files is refused, so
earlier results are never overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from sam3roto.backends.device import pick_device, pick_dtype
from sam3roto.backends.weights import WeightsStatus, find_weights
from sam3roto.core.jobs import CancelToken, Job, Progress
from sam3roto.core.strokes import TouchUp
from sam3roto.errors import Sam3RotoError
from sam3roto.media.source import FrameSource
from sam3roto.post import PostSettings, apply_sequence
from sam3roto.post import vitmatte as V
from sam3roto.post.keyed import KeyedPost


@dataclass
class PostRun:
    """What a post run wrote: frame numbers and the files, in order."""

    out_dir: Path
    frames: list[int] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def vitmatte_status(model: str = V.DEFAULT_MODEL_ID, *, cache_dir: str | Path | None = None) -> WeightsStatus:
    """Where the ViTMatte weights of ``model`` (a settings' ``refine_model``) are: a folder
    when ``model`` names one (an existing folder, or a path: starting with ``/``, ``.`` or
    ``~``, or holding ``\\`` or ``:``, which model ids never do), else the Hugging Face cache
    snapshot of the model id (never downloads)."""
    folder_like = (model.startswith(("/", ".", "~")) or "\\" in model or ":" in model
                   or Path(model).expanduser().is_dir())
    return find_weights("ViTMatte", model, model if folder_like else None, weight_patterns=V.WEIGHT_PATTERNS,
                        weight_words="model.safetensors", cache_dir=cache_dir)


class RefineModels:
    """The learned refine models of a job or a session, by ``refine_model``: calling it
    with a model id or folder loads that ViTMatte on first use (on ``device``: ``auto`` is
    the GPU when there is one; bf16 or fp32 as :func:`pick_dtype` says) and keeps it for
    the next frames. This is what the post stack's ``refine_models`` wants."""

    def __init__(self, device: str = "auto", *, cache_dir: str | Path | None = None) -> None:
        self.device = device
        self.cache_dir = cache_dir
        self._loaded: dict[str, V.VitMatte] = {}

    def check(self, settings: Iterable[PostSettings]) -> None:
        """Raise :class:`~sam3roto.errors.ModelNotInstalledError` (naming where it looked
        and how to install) when some of ``settings`` refines with ViTMatte and its weights
        are not there; nothing is loaded. Jobs call it before writing anything."""
        for model in sorted({s.refine_model for s in settings if s.refine_method == "vitmatte"}):
            if model not in self._loaded:
                vitmatte_status(model, cache_dir=self.cache_dir).resolved(V.INSTALL_HINT)

    def __call__(self, model: str) -> V.VitMatte:
        net = self._loaded.get(model)
        if net is None:
            folder = vitmatte_status(model, cache_dir=self.cache_dir).resolved(V.INSTALL_HINT)
            device = pick_device(self.device)
            net = self._loaded[model] = V.load(folder, device=device, dtype=pick_dtype(device))
        return net


def mask_from_frame(frame: np.ndarray) -> np.ndarray:
    """``bool (H, W)`` from a black-and-white matte frame (any bit depth): above half range."""
    half = {np.dtype(np.uint8): 127, np.dtype(np.uint16): 32767}.get(frame.dtype, 0.5)
    return np.asarray(frame.max(axis=2) > half if frame.ndim == 3 else frame > half)


def _write_png16(path: Path, rgb_or_grey: np.ndarray) -> None:
    data = (np.clip(rgb_or_grey, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    if data.ndim == 3:
        data = cv2.cvtColor(data, cv2.COLOR_RGBA2BGRA if data.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    tmp = path.with_name(f".{path.name}.partial.png")
    try:
        if not cv2.imwrite(str(tmp), data):
            raise Sam3RotoError("could not write the PNG", path=path)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_out_dir(out_dir: Path) -> None:
    """Create ``out_dir``; refuse one that already holds files (never overwrite results)."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise Sam3RotoError("the output folder is not empty; choose a new folder so earlier results are kept",
                            path=out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def post_job(
    media: FrameSource,
    masks: FrameSource,
    settings: PostSettings | KeyedPost,
    out_dir: str | Path,
    *,
    name: str = "matte",
    rgba: bool = False,
    indices: Sequence[int] | None = None,
    cancel: CancelToken | None = None,
    touchups: Sequence[TouchUp] = (),
    refine_models: RefineModels | None = None,
) -> Job[PostRun]:
    """Post every frame index in ``indices`` (default: all) of ``media`` with the masks of
    ``masks`` (a black-and-white matte per frame), writing ``NAME.####.png`` (16-bit grey
    matte) and with ``rgba`` ``NAME_rgba_straight.####.png`` or ``..._rgba_premult...``
    (16-bit RGBA, the RGB cleanup applied) into ``out_dir``. ``settings`` may be keyed
    over the shot (:class:`KeyedPost`, by frame index); ``touchups`` (frame indices) paint
    over the final mattes. ``refine_models`` loads ViTMatte for the ``"vitmatte"`` refine
    method (default: a new :class:`RefineModels`); its weights are checked before anything
    is written."""
    out = Path(out_dir)
    info, minfo = media.info, masks.info
    if (minfo.width, minfo.height) != (info.width, info.height):
        raise Sam3RotoError(f"the masks are {minfo.width}x{minfo.height} but the media is {info.width}x{info.height}",
                            path=minfo.path)
    if minfo.frame_count != info.frame_count:
        raise Sam3RotoError(f"the masks have {minfo.frame_count} frames but the media has {info.frame_count}",
                            path=minfo.path)
    chosen = list(range(info.frame_count) if indices is None else indices)
    for i in chosen:
        media.check_index(i)
    keyed = settings if isinstance(settings, KeyedPost) else KeyedPost(settings)
    models = refine_models if refine_models is not None else RefineModels()
    models.check(keyed.every())
    check_out_dir(out)
    result = PostRun(out)
    pad = max(4, len(str(max(info.frame_numbers, default=0))))

    def frames() -> Iterator[tuple[np.ndarray, np.ndarray, None]]:
        for i in chosen:
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield media.read(i), mask_from_frame(masks.read(i)), None

    yield Progress(0, len(chosen), f"post {len(chosen)} frames")
    stream = apply_sequence(frames(), keyed, always_rgb=rgba, indices=chosen, touchups=list(touchups),
                            refine_models=models)
    for k, post in enumerate(stream):
        number = info.frame_numbers[chosen[k]]
        kind = "premult" if keyed.at(chosen[k]).premultiply else "straight"
        path = out / f"{name}.{number:0{pad}d}.png"
        _write_png16(path, post.matte)
        result.files.append(path)
        if rgba and post.rgb is not None:
            rgba_path = out / f"{name}_rgba_{kind}.{number:0{pad}d}.png"
            _write_png16(rgba_path, np.dstack([post.rgb, post.matte]))
            result.files.append(rgba_path)
        result.frames.append(number)
        yield Progress(k + 1, len(chosen), f"frame {number}")
    return result

"""Post a shot: the media's frames and a mask per frame through the post stack, written
as 16-bit PNG mattes (and RGBA) with the source frame numbers.

Every file is written to a temporary name and renamed when complete, so an interrupted
run leaves only whole frames; an output folder that already holds files is refused, so
earlier results are never overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from sam3roto.core.jobs import CancelToken, Job, Progress
from sam3roto.core.strokes import TouchUp
from sam3roto.errors import Sam3RotoError
from sam3roto.media.source import FrameSource
from sam3roto.post import PostSettings, apply_sequence
from sam3roto.post.keyed import KeyedPost


@dataclass
class PostRun:
    """What a post run wrote: frame numbers and the files, in order."""

    out_dir: Path
    frames: list[int] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


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
) -> Job[PostRun]:
    """Post every frame index in ``indices`` (default: all) of ``media`` with the masks of
    ``masks`` (a black-and-white matte per frame), writing ``NAME.####.png`` (16-bit grey
    matte) and with ``rgba`` ``NAME_rgba_straight.####.png`` or ``..._rgba_premult...``
    (16-bit RGBA, the RGB cleanup applied) into ``out_dir``. ``settings`` may be keyed
    over the shot (:class:`KeyedPost`, by frame index); ``touchups`` (frame indices) paint
    over the final mattes."""
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
    check_out_dir(out)
    result = PostRun(out)
    pad = max(4, len(str(max(info.frame_numbers, default=0))))
    keyed = settings if isinstance(settings, KeyedPost) else KeyedPost(settings)

    def frames() -> Iterator[tuple[np.ndarray, np.ndarray, None]]:
        for i in chosen:
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield media.read(i), mask_from_frame(masks.read(i)), None

    yield Progress(0, len(chosen), f"post {len(chosen)} frames")
    stream = apply_sequence(frames(), keyed, always_rgb=rgba, indices=chosen, touchups=list(touchups))
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

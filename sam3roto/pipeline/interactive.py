"""The interactive session: one shot's media and engine session kept open between clicks.

Every click, box or text prompt in the window (and ``run.py segment``) asks for masks on
one frame. Opening the media and a new engine session for each request would decode the
frame and, with SAM3, encode it again every time; an :class:`InteractiveSession` keeps
the open source and one engine session per shot instead, so the engine's per-frame
caches (decoded frames, image features; bounded by the engine) stay warm. It is
invalidated, and reopened on the next request, when the media, the engine or the
engine's options (the device) change.

Not thread-safe: the window drives it from its model thread only, like the engines. The
requests are jobs (generators yielding :class:`~sam3roto.core.jobs.Progress`) so the
window and the CLI run them the same way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from sam3roto.backends import registry
from sam3roto.backends.base import Engine, PackedMask, SegmentationSession
from sam3roto.backends.registry import DEFAULT_ENGINE
from sam3roto.core.jobs import Progress
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project
from sam3roto.core.strokes import apply_to_mask
from sam3roto.core.tracking import TrackBasis, tracked_record
from sam3roto.core.types import Prompt, TextPrompt
from sam3roto.errors import InvalidPromptError
from sam3roto.media.source import FrameSource
from sam3roto.pipeline.shot import open_shot_media

Options = dict[str, Any]


def _options_key(options: Options | None) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((options or {}).items()))


class Engines:
    """Loaded engines by name and options, loaded on first use and kept (model thread)."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, tuple[tuple[str, Any], ...]], Engine] = {}

    def get(self, name: str = DEFAULT_ENGINE, options: Options | None = None) -> Engine:
        key = (name, _options_key(options))
        if key not in self._loaded:
            self._loaded[key] = registry.create_engine(name, **(options or {}))
        return self._loaded[key]

    def close(self) -> None:
        for engine in self._loaded.values():
            engine.close()
        self._loaded.clear()


class InteractiveSession:
    """The open media and engine session of one shot (see the module docstring)."""

    def __init__(self, engines: Engines | None = None) -> None:
        self.engines = engines if engines is not None else Engines()
        self._key: tuple[Any, ...] | None = None
        self._source: FrameSource | None = None
        self._session: SegmentationSession | None = None
        # the tracked mask a correction started from, per (project, object, frame): later
        # clicks there correct the same mask, though the store now holds the correction
        self._tracked: OrderedDict[tuple[str, str, int], PackedMask] = OrderedDict()
        #: how many engine sessions were opened (tests check that clicks reuse one)
        self.opened = 0

    # -- the open session -------------------------------------------------------------
    def session(self, project: Project, engine: str = DEFAULT_ENGINE,
                options: Options | None = None) -> SegmentationSession:
        """The engine session on ``project``'s shot, opened when the media, engine or
        options differ from the last request's."""
        shot = project.shot
        if shot is None:
            raise ValueError("the project has no shot")
        key = (str(shot.media), shot.frame_count, shot.width, shot.height, shot.input_colorspace, engine,
               _options_key(options))
        if key != self._key or self._session is None:
            self.invalidate()
            source = open_shot_media(project)
            try:
                self._session = self.engines.get(engine, options).open_session(source)
            except BaseException:
                source.close()
                raise
            self._source, self._key = source, key
            self.opened += 1
        return self._session

    def invalidate(self) -> None:
        """Forget the open session and media (the next request opens them again)."""
        if self._session is not None:
            self._session.close()
        if self._source is not None:
            self._source.close()
        self._session = self._source = self._key = None

    def close(self) -> None:
        """Close the session, the media and the loaded engines."""
        self.invalidate()
        self.engines.close()

    # -- requests ---------------------------------------------------------------------
    def segment(self, project: Project, frame: int, obj_id: int, prompts: list[Prompt],
                engine: str = DEFAULT_ENGINE, options: Options | None = None,
                tracked: np.ndarray | None = None) -> dict[int, np.ndarray]:
        """``obj_id``'s mask on ``frame`` from ``prompts`` (points and boxes): ``{obj_id:
        bool (H, W)}``, every positive point inside and no negative point (the engines
        obey prompts). The result depends only on these prompts: prompts the session
        holds for the object on other frames are dropped first. ``tracked``: the mask
        tracking gave this frame, which the prompts then correct (where the engine can)."""
        if any(isinstance(p, TextPrompt) for p in prompts):
            raise InvalidPromptError("text prompts find objects: use find_text")
        session = self.session(project, engine, options)
        if obj_id in session.object_ids() and set(session.keyframes(obj_id)) - {frame}:
            session.remove_object(obj_id)
        if tracked is not None:
            session.set_tracked(frame, obj_id, tracked)
        if not prompts:
            if obj_id in session.object_ids():
                session.set_prompts(frame, obj_id, [])
            return {}
        masks = session.set_prompts(frame, obj_id, list(prompts))
        return {obj_id: masks[obj_id]} if obj_id in masks else {}

    def tracked_mask(self, project: Project, store: MaskStore, obj_id: int, frame: int) -> np.ndarray | None:
        """The mask tracking stored for ``obj_id`` on ``frame``, kept from the first
        correction there on (the store then holds the corrections), or None."""
        key = (project.uid, project.object_uid(obj_id) or str(obj_id), frame)
        record = store.track_records(obj_id).get(frame)
        if record is not None and tracked_record(record[1]):
            mask = store.get(obj_id, frame)
            if mask is not None:
                self._tracked[key] = PackedMask(mask)
        packed = self._tracked.get(key)
        if packed is None:
            return None
        self._tracked.move_to_end(key)
        while len(self._tracked) > 16:
            self._tracked.popitem(last=False)
        return packed.unpack()

    def find_text(self, project: Project, frame: int, text: str, first_id: int,
                  engine: str = DEFAULT_ENGINE, options: Options | None = None) -> dict[int, np.ndarray]:
        """Every instance of ``text`` on ``frame``: ``{id: mask}``, ids from ``first_id`` up."""
        session = self.session(project, engine, options)
        for obj_id in [o for o in session.object_ids() if o >= first_id]:
            session.remove_object(obj_id)  # instances of an earlier search
        return session.add_prompt(frame, TextPrompt(text), first_id)

    def everything(self, project: Project, frame: int, engine: str = DEFAULT_ENGINE,
                   options: Options | None = None) -> np.ndarray:
        """Candidate regions of ``frame`` as ``int32 (H, W)`` region numbers."""
        return self.session(project, engine, options).segment_everything(frame)


# -- jobs ------------------------------------------------------------------------------
def segment_job(
    interactive: InteractiveSession, project: Project, store: MaskStore, frame: int, obj_id: int,
    prompts: list[Prompt], *, engine: str = DEFAULT_ENGINE, options: Options | None = None,
    current: Callable[[], bool] = lambda: True,
) -> Generator[Progress, None, dict[int, np.ndarray] | None]:
    """Segment ``obj_id`` on ``frame`` and store the mask (or forget the stored one when
    ``prompts`` is empty). When ``project`` holds these prompts as the keyframe, the mask
    is recorded as that keyframe's (tracking then anchors on it as it is). ``current()``
    says whether this request is still the newest: one overtaken by a later click is
    skipped, and a result that arrives after a newer request was made is not stored (the
    newer one will be). Returns the masks, or None
    when skipped."""
    if not current():
        return None
    number = project.shot.frame_numbers[frame] if project.shot is not None else frame
    yield Progress(0, 1, f"segmenting frame {number}")
    tracked = interactive.tracked_mask(project, store, obj_id, frame)
    masks = interactive.segment(project, frame, obj_id, prompts, engine, options, tracked=tracked)
    if not current():
        return None
    if not prompts:
        if tracked is not None:  # every correction taken back: the tracked mask returns
            store.put(obj_id, frame, tracked)
        else:
            store.delete(obj_id, frame)
    key = project.keyframe(obj_id, frame)
    for oid, mask in masks.items():
        if oid == obj_id and key is not None and key.strokes:
            # the prompts' mask is the base this keyframe's correction strokes paint over
            store.key_masks().put(oid, frame, mask)
            mask = apply_to_mask(mask, key.strokes, mask.shape)
        store.put(oid, frame, mask)
    made_from = TrackBasis(project, obj_id).segmented(frame) if obj_id in masks else None
    if made_from is not None:  # tracking anchors on this mask while the keyframe stays as it is
        store.record_track(obj_id, {frame: (1.0, made_from)})
    yield Progress(1, 1, f"segmented frame {number}")
    return masks


def text_job(
    interactive: InteractiveSession, project: Project, frame: int, text: str, first_id: int, *,
    engine: str = DEFAULT_ENGINE, options: Options | None = None,
) -> Generator[Progress, None, dict[int, np.ndarray]]:
    """Every instance of ``text`` on ``frame`` (not stored: the caller makes the objects
    first, then stores their masks)."""
    yield Progress(0, 1, f"finding every {text!r}")
    masks = interactive.find_text(project, frame, text, first_id, engine, options)
    yield Progress(1, 1, f"found {len(masks)}")
    return masks


def everything_job(
    interactive: InteractiveSession, project: Project, frame: int, *, engine: str = DEFAULT_ENGINE,
    options: Options | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """Candidate regions of ``frame`` for the artist to pick."""
    yield Progress(0, 1, "segmenting everything")
    labels = interactive.everything(project, frame, engine, options)
    yield Progress(1, 1, f"{int(labels.max()) + 1} regions: click to pick")
    return labels

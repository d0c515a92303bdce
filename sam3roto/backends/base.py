"""The segmentation engine protocol.

An *engine* is a factory that opens a *session* on one frame source. A session holds
prompts on keyframes for any number of objects and turns them into masks: at once on the
prompted frame (:meth:`SegmentationSession.add_prompt`), and over the shot with
:meth:`SegmentationSession.propagate`, a generator that yields one :class:`FrameMasks`
per frame so callers can store each frame as it arrives and stop between frames.

Point and box prompts are constraints, whatever the engine: the mask
:meth:`SegmentationSession.set_prompts` returns holds every positive click, no negative
click and nothing outside the box (:func:`~sam3roto.backends.constraints.obey_prompts`),
and the engine tracks from that mask.

Masks are ``bool (H, W)`` at the source resolution.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from sam3roto.backends.constraints import obey_prompts
from sam3roto.core.tracking import LOW_CONFIDENCE  # noqa: F401 - the threshold scores are read against
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt, TextPrompt
from sam3roto.errors import EngineError, InvalidPromptError

if TYPE_CHECKING:
    from sam3roto.media.source import FrameSource

Direction = Literal["forward", "backward", "both"]
DIRECTIONS: tuple[Direction, ...] = ("forward", "backward", "both")


@dataclass(frozen=True)
class Capabilities:
    """What an engine can take as input; the UI offers only these tools."""

    text: bool
    points: bool
    boxes: bool
    video: bool
    masks: bool = True
    everything: bool = False

    def accepts(self, prompt: Prompt) -> bool:
        """True when ``prompt``'s kind is supported."""
        if isinstance(prompt, TextPrompt):
            return self.text
        if isinstance(prompt, PointPrompt):
            return self.points
        if isinstance(prompt, BoxPrompt):
            return self.boxes
        return False


@dataclass
class FrameMasks:
    """Masks of every object tracked on one frame: ``masks[obj_id]`` is ``bool (H, W)``.

    ``scores[obj_id]`` (0..1) says how far to trust that mask: 1.0 on keyframes, lower where
    the engine sees signs of a lost or leaking track (below :data:`LOW_CONFIDENCE`, have a
    look). ``final`` False marks a provisional result: the same frame comes again later in
    the same propagation with ``final`` True (and masks for the same objects or more),
    which replaces it. Every frame of a propagation is yielded final exactly once.
    """

    frame: int
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)
    final: bool = True


class PackedMask:
    """A ``bool (h, w)`` mask stored as bits (1/8 of the bytes), for keyframes and results
    sessions keep in memory."""

    __slots__ = ("bits", "shape")

    def __init__(self, mask: np.ndarray) -> None:
        self.shape = mask.shape
        self.bits = np.packbits(mask, axis=None)

    @classmethod
    def from_bits(cls, bits: np.ndarray, shape: tuple[int, int]) -> PackedMask:
        """A mask already packed (``np.packbits`` order, e.g. on a GPU)."""
        out = cls.__new__(cls)
        out.shape, out.bits = shape, bits
        return out

    def unpack(self) -> np.ndarray:
        n = self.shape[0] * self.shape[1]
        return np.unpackbits(self.bits, count=n).astype(bool).reshape(self.shape)


class SegmentationSession(ABC):
    """Prompts and masks for one shot. Not thread-safe: drive it from one thread."""

    capabilities: Capabilities

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        info = source.info
        self.width, self.height, self.frame_count = info.width, info.height, info.frame_count
        self._prompts: dict[int, dict[int, list[Prompt]]] = {}
        #: Messages for the user about how the work went (e.g. a fall-back to the CPU);
        #: jobs pass them on with their progress (see :meth:`take_notices`).
        self.notices: list[str] = []

    def take_notices(self) -> list[str]:
        """The notices gathered since the last call (and forget them)."""
        out, self.notices = self.notices, []
        return out

    # -- prompts ---------------------------------------------------------------------
    def check_prompt(self, frame: int, prompt: Prompt) -> None:
        """Raise a clear error when ``prompt`` cannot be used on ``frame``."""
        self.check_frame(frame)
        if not self.capabilities.accepts(prompt):
            kind = type(prompt).__name__.replace("Prompt", "").lower()
            raise InvalidPromptError(
                f"the {self.engine_name} engine does not take {kind} prompts",
            )
        if not isinstance(prompt, TextPrompt):
            prompt.validate(self.width, self.height)

    def check_frame(self, frame: int) -> None:
        if not 0 <= frame < self.frame_count:
            raise InvalidPromptError(f"frame index {frame} is outside the shot (0-{self.frame_count - 1})")

    def check_object(self, obj_id: int) -> None:
        if obj_id not in self.object_ids():
            known = ", ".join(str(o) for o in self.object_ids()) or "none"
            raise EngineError(f"unknown object id {obj_id} (objects in this session: {known})")

    @property
    def engine_name(self) -> str:
        return type(self).__name__.replace("Session", "").lower()

    def prompts(self, obj_id: int) -> dict[int, list[Prompt]]:
        """Keyframe prompts of ``obj_id``: frame -> prompts (a copy)."""
        return {f: list(p) for f, p in self._prompts.get(obj_id, {}).items()}

    def keyframes(self, obj_id: int) -> list[int]:
        return sorted(self._prompts.get(obj_id, {}))

    def object_ids(self) -> list[int]:
        return sorted(self._prompts)

    def add_prompt(self, frame: int, prompt: Prompt, obj_id: int) -> dict[int, np.ndarray]:
        """Add ``prompt`` to ``obj_id``'s keyframe at ``frame``; return the new masks on that
        frame (``obj_id -> bool (H, W)``). A text prompt may create several objects, numbered
        from ``obj_id`` upward."""
        self.check_prompt(frame, prompt)
        return self.set_prompts(frame, obj_id, [*self._prompts.get(obj_id, {}).get(frame, []), prompt])

    def set_prompts(self, frame: int, obj_id: int, prompts: list[Prompt]) -> dict[int, np.ndarray]:
        """Replace ``obj_id``'s prompts on ``frame`` (an empty list removes the keyframe);
        return the new masks on that frame.

        Point and box prompts are constraints: the engine's mask is edited with
        :func:`~sam3roto.backends.constraints.obey_prompts`, and when that changed it the
        engine is told (:meth:`_constrained`) so it tracks from the mask returned here.
        """
        for p in prompts:
            self.check_prompt(frame, p)
        masks = self._set_prompts(frame, obj_id, list(prompts))
        if prompts and obj_id in masks and not any(isinstance(p, TextPrompt) for p in prompts):
            mask = masks[obj_id]
            fixed = obey_prompts(mask, prompts)
            if not np.array_equal(fixed, mask):
                self._constrained(frame, obj_id, fixed)
                masks[obj_id] = fixed
        return masks

    @abstractmethod
    def _set_prompts(self, frame: int, obj_id: int, prompts: list[Prompt]) -> dict[int, np.ndarray]:
        """The engine's part of :meth:`set_prompts` (prompts already checked): store the
        keyframe and return the masks as the engine sees them."""

    @abstractmethod
    def _constrained(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        """Make ``mask`` (``bool (H, W)``, the engine's mask edited to obey the prompts)
        ``obj_id``'s keyframe mask on ``frame``, keeping the prompts there."""

    @abstractmethod
    def add_mask(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        """Make ``mask`` (``bool (H, W)``) a keyframe of ``obj_id`` on ``frame``."""

    def add_found(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        """A new object ``obj_id`` found on ``frame`` while a forward walk waits there
        (concept tracking): ``mask`` becomes its keyframe and the walk tracks it from the
        next frame on. Engines that can leave the other objects' step on that frame as it
        was do so; by default this is :meth:`add_mask`."""
        self.add_mask(frame, obj_id, mask)

    @abstractmethod
    def propagate(
        self, start: int, direction: Direction = "forward", end: int | None = None
    ) -> Iterator[FrameMasks]:
        """Track every object from its keyframes, yielding one :class:`FrameMasks` per frame.

        ``forward`` walks ``start``..``end`` (default: last frame), ``backward`` walks
        ``start`` down to ``end`` (default: 0), re-anchoring on every keyframe met.
        ``both`` re-tracks the whole range between ``start`` and ``end`` (default: the
        whole shot) from every keyframe: each frame takes the result of the keyframes on
        either side, the nearer one weighing more. It may yield a frame twice: first a
        provisional result (``final`` False) as soon as one side is known, then the final
        one. Closing the generator stops between frames; everything yielded so far stays
        valid.
        """

    def set_tracked(self, frame: int, obj_id: int, mask: np.ndarray) -> None:  # noqa: B027 - optional hook
        """``mask`` (``bool (H, W)``) is what tracking gave ``obj_id`` on ``frame`` (in an
        earlier session): prompts placed there correct it rather than start afresh, where
        the engine can. Engines that cannot ignore it."""

    def find_instances(self, frame: int, text: str) -> list[np.ndarray]:
        """Every instance of ``text`` on ``frame`` as ``bool (H, W)`` masks, most confident
        first, without making objects of them (concept tracking compares them with the
        tracked masks); only engines whose capabilities say ``text``."""
        raise EngineError(f"the {self.engine_name} engine does not take text prompts",
                          hint="choose the sam3 engine for text, or use points and boxes")

    def segment_everything(self, frame: int) -> np.ndarray:
        """Candidate regions of ``frame`` for the artist to pick by click, as ``int32 (H, W)``
        region numbers (0..n-1, largest first); only engines whose capabilities say
        ``everything``."""
        raise EngineError(f"the {self.engine_name} engine does not offer segment everything",
                          hint="use points, boxes or text on the objects instead")

    @abstractmethod
    def remove_object(self, obj_id: int) -> None:
        """Forget ``obj_id``'s prompts and state."""

    def reset(self) -> None:
        """Forget every object."""
        for obj_id in self.object_ids():
            self.remove_object(obj_id)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models and buffers. The session is unusable afterwards."""

    def __enter__(self) -> SegmentationSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """``mask`` as ``bool (H, W)``, or a ValueError naming the expected size."""
    m = np.asarray(mask)
    if m.shape != (height, width):
        raise ValueError(f"mask is {m.shape[1] if m.ndim > 1 else '?'}x{m.shape[0]}, the shot is {width}x{height}")
    return m.astype(bool, copy=False)


def frame_range(start: int, direction: Direction, end: int | None, frame_count: int) -> list[int]:
    """Frame indices visited by a propagation, in the order they are yielded."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if not 0 <= start < frame_count:
        raise InvalidPromptError(f"start frame {start} is outside the shot (0-{frame_count - 1})")
    if end is not None and not 0 <= end < frame_count:
        raise InvalidPromptError(f"end frame {end} is outside the shot (0-{frame_count - 1})")
    if direction == "forward":
        return list(range(start, (frame_count - 1 if end is None else end) + 1))
    if direction == "backward":
        return list(range(start, (0 if end is None else end) - 1, -1))
    if end is None:
        return list(range(frame_count))
    lo, hi = min(start, end), max(start, end)
    return list(range(lo, hi + 1))


class Engine(ABC):
    """A named segmentation engine. Subclasses set ``name``, ``label`` and ``capabilities``."""

    name: str = ""
    label: str = ""
    capabilities: Capabilities

    @abstractmethod
    def open_session(self, source: FrameSource) -> SegmentationSession:
        """A new session on ``source`` (frames are read from it on demand)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model."""

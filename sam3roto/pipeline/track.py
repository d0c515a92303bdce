"""The tracking job: project keyframes -> engine session -> masks in the mask store.

The same generator runs under the CLI (tqdm) and the GUI (a worker). Every frame's masks
are written to the store as soon as the engine yields them, so cancelling keeps the frames
already finished.

A frame that cannot be decoded (a truncated PNG, a damaged block of a movie) stops the run
that reaches it, at that frame: no retries, no skipping ahead. The frames that run finished
stay stored and recorded, the other runs go on, and the job ends with one
:class:`~sam3roto.errors.CorruptMediaError` naming the frame by its source frame number
and file, and how many frames were tracked and kept.

*Finished* means final. Both ways, a frame the forward pass reaches before the backward
pass comes back to it is provisional (``FrameMasks.final`` False): its mask is stored at
once (the window shows it) but recorded with a :data:`PROVISIONAL` basis, which never
matches a frame's real basis, so until the backward pass replaces it the frame counts as
out of date (orange on the timeline; ``track --changed`` and Ctrl+T re-track it). A run
that stops in its forward pass therefore keeps its final frames as final and its
provisional frames as provisional masks marked out of date. (Engines mark whole frames: on
a provisional frame, an object whose mask is already final there is recorded provisional
too, and re-tracked with the rest.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from sam3roto.backends.base import Direction, Engine, FrameMasks, SegmentationSession, frame_range
from sam3roto.backends.registry import DEFAULT_ENGINE, create_engine
from sam3roto.core.jobs import Progress
from sam3roto.core.maskstore import MaskStore, TrackRecord
from sam3roto.core.project import Project, object_name
from sam3roto.core.strokes import apply_to_mask
from sam3roto.core.tracking import LOW_CONFIDENCE, TrackBasis, stale_stretches
from sam3roto.core.types import Prompt, TextPrompt
from sam3roto.errors import CorruptMediaError, Hint, MediaError, ProjectError
from sam3roto.media.source import FrameSource, MediaInfo

#: Prefix of the basis recorded with a provisional mask (the forward pass of a both-ways
#: run): it never equals a frame's basis, so the frame stays out of date until its final
#: mask replaces it.
PROVISIONAL = "provisional:"

#: What to do after a frame that cannot be decoded stopped tracking.
DAMAGED_FRAME_HINT = Hint(
    cli="to track the rest, repair the media and run track again with --changed, or track only the frames before "
    "the damaged one with --frames",
    window="to track the rest, repair the media and track changes (Ctrl+T), or set the out point before the "
    "damaged frame",
)


@dataclass
class TrackResult:
    """What a tracking run wrote: frames per object, and objects a text prompt created."""

    frames: dict[int, list[int]] = field(default_factory=dict)
    new_objects: list[int] = field(default_factory=list)
    #: object -> frame -> confidence (0..1), for the frames the engine scored
    scores: dict[int, dict[int, float]] = field(default_factory=dict)
    #: object -> frames whose confidence is low: where the artist should look
    low: dict[int, list[int]] = field(default_factory=dict)
    #: object -> the frame where its track stopped (``stop_below``)
    stopped: dict[int, int] = field(default_factory=dict)


#: Concept tracking's hook (see :func:`track_job`): ``(session, frame masks) -> {new id: mask}``.
Discover = Callable[[SegmentationSession, FrameMasks], dict[int, np.ndarray]]

#: ``all``: every frame; ``changed``: only stale stretches and objects never tracked.
TrackMode = Literal["all", "changed"]


def load_keyframes(
    session: SegmentationSession, project: Project, result: TrackResult, keys: MaskStore | None = None,
    objects: set[int] | None = None, frames: set[int] | None = None, masks: MaskStore | None = None,
) -> None:
    """Give ``session`` every keyframe of ``project`` (of ``objects`` only, on ``frames``
    only, when given): key masks (from ``keys``) first, then prompts. A text prompt whose
    instances are known already (its keyframe holds a key mask, see
    :func:`load_text_objects`) is not run again; one that is not yet creates one project
    object per extra instance it finds. A keyframe whose mask the window already made from
    these very prompts (recorded in ``masks``, see ``TrackBasis.segmented``) gives that
    mask instead: the engine anchors on what the artist saw, without segmenting again."""
    bases: dict[int, TrackBasis] = {}
    for kf in sorted(project.keyframes, key=lambda k: (k.frame, k.object_id)):
        if objects is not None and kf.object_id not in objects:
            continue
        if frames is not None and kf.frame not in frames:
            continue
        mask = None
        if kf.mask:
            mask = keys.get(kf.object_id, kf.frame) if keys is not None else None
            if mask is None:
                raise ProjectError(f"object {kf.object_id} has a key mask on frame index {kf.frame} but it is "
                                   "missing from the mask store", path=keys.root if keys is not None else None)
            if not kf.strokes:
                session.add_mask(kf.frame, kf.object_id, mask)
        if kf.strokes:
            # corrections paint over the key mask, else over what the prompts give (the
            # window captures the mask the artist painted over as the key mask)
            if mask is None and any(not isinstance(p, TextPrompt) for p in kf.prompts):
                others: list[Prompt] = [p for p in kf.prompts if not isinstance(p, TextPrompt)]
                made = _segmented_mask(masks, bases, project, kf.object_id, kf.frame)
                mask = made if made is not None else session.set_prompts(kf.frame, kf.object_id, others).get(
                    kf.object_id)
            info = session.source.info
            session.add_mask(kf.frame, kf.object_id, apply_to_mask(mask, kf.strokes, (info.height, info.width)))
            continue
        if not kf.prompts:
            continue
        texts = [] if kf.mask else [p for p in kf.prompts if isinstance(p, TextPrompt)]
        others = [p for p in kf.prompts if not isinstance(p, TextPrompt)]
        made = _segmented_mask(masks, bases, project, kf.object_id, kf.frame) if others else None
        if made is not None:
            session.add_mask(kf.frame, kf.object_id, made)
        elif others:
            session.set_prompts(kf.frame, kf.object_id, list[Prompt](others))
        for text in texts:
            first = project.next_object_id if others else kf.object_id
            found = session.add_prompt(kf.frame, text, first)
            for obj_id in sorted(found):
                if all(o.id != obj_id for o in project.objects):
                    project.next_object_id = max(project.next_object_id, obj_id)
                    obj = project.add_object(object_name(text.text, f" {obj_id}"))
                    result.new_objects.append(obj.id)


def _segmented_mask(masks: MaskStore | None, bases: dict[int, TrackBasis], project: Project, obj_id: int,
                    frame: int) -> np.ndarray | None:
    """The mask live segmentation stored for ``obj_id``'s keyframe on ``frame`` from its
    current prompts, or None."""
    if masks is None:
        return None
    basis = bases.setdefault(obj_id, TrackBasis(project, obj_id)).segmented(frame)
    record = masks.track_records(obj_id).get(frame)
    if basis is None or record is None or record[1] != basis:
        return None
    return masks.get(obj_id, frame)


@dataclass(frozen=True)
class Run:
    """One propagation of a tracking job: ``objects`` over ``frames`` (in walk order)."""

    frames: tuple[int, ...]
    direction: Direction
    objects: frozenset[int]


def plan_runs(
    project: Project, store: MaskStore, frames: list[int], direction: Direction, objects: set[int],
    mode: TrackMode = "all",
) -> tuple[list[Run], dict[int, list[int]]]:
    """The propagations that track ``objects`` over ``frames`` (walk order), and the
    frames where each object is absent (its masks there are empty).

    ``all`` tracks each object over every frame it is in shot; ``changed`` tracks only
    what is out of date: the stale stretches of objects tracked before (re-tracked both
    ways between the keyframes that bound them) and the whole range of objects never
    tracked. An object's absent ranges split its frames: each piece is tracked from the
    keyframes inside it (pieces without one are left alone). Objects with the same pieces
    share one propagation (an engine tracks them together)."""
    groups: dict[tuple[tuple[int, ...], Direction], set[int]] = {}
    absent: dict[int, list[int]] = {}
    wanted = set(frames)
    for obj in project.objects:
        if obj.id not in objects:
            continue
        keys = {k.frame for k in project.keyframes_of(obj.id)}
        if not keys:
            continue
        gone = {f for f in frames if obj.is_absent(f)}
        if gone:
            absent[obj.id] = sorted(gone)
        if mode == "changed" and _tracked_before(store, obj.id, keys):
            pieces = []
            for lo, hi in stale_stretches(project, store, obj.id, frames):
                span = [f for f in range(lo, hi + 1) if f in wanted]
                pieces += [(p, "both") for p in _split(span, gone)]
        else:
            how: Direction = "both" if mode == "changed" else direction
            pieces = [(p, how) for p in _split(frames, gone)]
        start = frames[0]
        for piece, how in pieces:
            seeded = how != "both" and piece[0] == start and store.has(obj.id, start)
            if keys.isdisjoint(piece) and not seeded:
                continue
            groups.setdefault((tuple(piece), how), set()).add(obj.id)
    runs = [Run(f, d, frozenset(o)) for (f, d), o in groups.items()]
    runs.sort(key=lambda r: (min(r.frames), min(r.objects)))
    return runs, absent


def _tracked_before(store: MaskStore, obj_id: int, keys: set[int]) -> bool:
    return any(f not in keys for f in store.track_records(obj_id)) or any(f not in keys for f in store.frames(obj_id))


def _split(frames: list[int], gone: set[int]) -> list[list[int]]:
    """``frames`` cut into the runs between the ``gone`` frames."""
    pieces: list[list[int]] = [[]]
    for f in frames:
        if f in gone:
            if pieces[-1]:
                pieces.append([])
        else:
            pieces[-1].append(f)
    return [p for p in pieces if p]


def track_job(
    project: Project,
    source: FrameSource,
    store: MaskStore,
    *,
    engine: str = DEFAULT_ENGINE,
    direction: Direction = "both",
    start: int | None = None,
    end: int | None = None,
    engine_options: dict[str, Any] | None = None,
    objects: set[int] | None = None,
    chunk: int = 0,
    engine_instance: Engine | None = None,
    session: SegmentationSession | None = None,
    mode: TrackMode = "all",
    stop_below: float | None = None,
    low_below: float = LOW_CONFIDENCE,
    discover: Discover | None = None,
) -> Generator[Progress, None, TrackResult]:
    """Track the objects of ``project`` over its shot range and store the masks.

    ``start``/``end`` default to the shot's in/out range (``start`` is where a forward or
    backward run begins; a run from a frame that is no keyframe starts from the mask
    stored there: "track from here"). The engine is created and closed here, or
    ``engine_instance`` is used and left open (the window keeps its loaded models).
    ``objects`` limits tracking to those object ids (a farm tracks objects on separate
    machines); ``mode="changed"`` re-tracks only what is out of date (:func:`plan_runs`).
    An open ``session`` the caller gave its keyframes is walked as it is (and left open).

    Every frame is stored as soon as the engine yields it, with its confidence and basis
    (:mod:`sam3roto.core.tracking`), and reported, so progress moves from the first
    frame and cancelling (closing the generator) keeps every frame already done. Both
    ways, the forward pass stores provisional masks, recorded as out of date
    (:data:`PROVISIONAL`), that the backward pass replaces.
    A frame that cannot be decoded stops the run reaching it there; the other runs go on,
    and the job then raises :class:`~sam3roto.errors.CorruptMediaError` naming the frame
    (its ``frame`` is the index), with every finished frame kept (see the module docstring).
    ``stop_below``: an object stops at its first frame below that confidence (in the
    direction of travel) instead of leaking onto something else; the frames past it keep
    what they had. Frames below ``low_below`` are listed in the result.

    ``chunk`` (frames, 0 = off) bounds memory on long shots for any engine: the frames are
    tracked in runs of ``chunk``, each in a fresh session that gets the keyframes inside it
    and, at its first frame, the masks the previous run ended with (consecutive runs share
    that seam frame).

    ``discover`` (concept tracking, :mod:`sam3roto.pipeline.concept`) is called with the
    session and each frame's masks as the walk yields them and returns objects it found
    there (already in the project, keyframed and given to the session): they are stored
    and tracked from there on. Forward runs only, not chunked.
    """
    if project.shot is None:
        raise ValueError("the project has no shot")
    if discover is not None and (direction != "forward" or chunk or session is not None):
        raise ValueError("discovering objects while tracking walks forward in one session of its own")
    shot_range = project.shot.frame_range
    lo, hi = shot_range.start, shot_range.stop - 1
    if direction == "backward":
        first, last = (hi if start is None else start), (lo if end is None else end)
    else:
        first, last = (lo if start is None else start), (hi if end is None else end)
    frames = frame_range(first, direction, last, source.info.frame_count)
    result = TrackResult()
    wanted = {o.id for o in project.objects} if objects is None else set(objects)
    watch = _ReadWatch(source)
    yield Progress(0, len(frames), "planning")
    if session is not None:
        if chunk:
            raise ValueError("chunked tracking opens its own sessions; do not pass one")
        runs = [Run(tuple(frames), direction, frozenset(session.object_ids()))]
        absent: dict[int, list[int]] = {}
    else:
        try:
            load_text_objects(project, watch, store, result, wanted, frames, engine, engine_options, engine_instance)
        except MediaError as exc:
            raise _stopped(project, watch, [exc], None, {}) from exc
        wanted |= set(result.new_objects)
        runs, absent = plan_runs(project, store, frames, direction, wanted, mode)
        if discover is not None and not runs:  # nothing to track yet: walk the range to look
            runs = [Run(tuple(frames), direction, frozenset(wanted))]
    total = sum(len(r.frames) * (2 if r.direction == "both" else 1) for r in runs) + sum(map(len, absent.values()))
    if total == 0:
        return result
    borrowed = engine_instance is not None or session is not None
    eng = engine_instance if borrowed else create_engine(engine, **(engine_options or {}))
    bases = {o: TrackBasis(project, o) for o in wanted}
    writer = _Writer(store, result, bases, low_below)
    planned: dict[int, set[int]] = {}
    for run in runs:
        for obj_id in run.objects:
            planned.setdefault(obj_id, set()).update(run.frames)
    failures: list[MediaError] = []
    done = 0
    try:
        for obj_id, gone in absent.items():
            empty = np.zeros((source.info.height, source.info.width), bool)
            for f in gone:
                writer.put(obj_id, f, empty, None)
                done += 1
            yield Progress(done, total, f"object {obj_id}: out of shot on {len(gone)} frames")
        for run in runs:
            run_end = done + len(run.frames) * (2 if run.direction == "both" else 1)
            whole = len(run.frames) == len(frames) and not absent and mode == "all"
            spans = _chunks(list(run.frames), chunk) if chunk else [list(run.frames)]
            try:
                for n, span in enumerate(spans):
                    sess = session if session is not None else eng.open_session(watch)  # type: ignore[union-attr]
                    try:
                        window = None if whole and not chunk else set(span)
                        if session is None:
                            load_keyframes(sess, project, result, store.key_masks(), set(run.objects), window,
                                           masks=store)
                        keys = {k.frame for k in project.keyframes if k.object_id in run.objects}
                        if n:  # re-seed at the seam from the previous chunk's masks
                            _seed(sess, store, span[0], set(run.objects))
                        elif run.direction != "both" and span[0] not in keys and session is None:
                            _seed(sess, store, span[0], set(run.objects))  # track from here
                        # stop_below: frames an object may not take any more, from its first
                        # doubtful frame to its next keyframe in the direction of travel
                        blocked: dict[int, tuple[int, int]] = {}
                        walked: dict[bool, int] = {}
                        members = set(run.objects)
                        for fm in sess.propagate(span[0], run.direction, span[-1]):
                            final = bool(getattr(fm, "final", True))
                            if n and fm.frame == span[0]:
                                continue  # the seam frame was stored by the previous chunk
                            scores: dict[int, float] = getattr(fm, "scores", {}) or {}
                            backward = fm.frame < walked.get(final, fm.frame) or run.direction == "backward"
                            walked[final] = fm.frame
                            shown = False
                            for obj_id, mask in fm.masks.items():
                                lo_hi = blocked.get(obj_id)
                                if obj_id not in members or (lo_hi and lo_hi[0] <= fm.frame <= lo_hi[1]):
                                    continue
                                score = scores.get(obj_id)
                                if stop_below is not None and score is not None and score < stop_below \
                                        and obj_id not in blocked:
                                    blocked[obj_id] = _until_key(project, obj_id, fm.frame, backward)
                                    if final:  # no later pass replaces the forward pass's masks there
                                        writer.settle(obj_id, *blocked[obj_id])
                                    result.stopped.setdefault(obj_id, fm.frame)
                                    writer.note(obj_id, fm.frame, score)  # a red tick where it stopped
                                    continue
                                writer.put(obj_id, fm.frame, mask, score, final=final)
                                shown = True
                            if discover is not None:
                                for obj_id, mask in discover(sess, fm).items():
                                    members.add(obj_id)
                                    bases[obj_id] = TrackBasis(project, obj_id)
                                    result.new_objects.append(obj_id)
                                    writer.put(obj_id, fm.frame, mask, 1.0)
                                    shown = True
                            if run.direction != "both" and blocked and members <= set(blocked):
                                done = run_end
                                break  # every object stopped: nothing more to walk
                            done += 1
                            what = "frame" if final else "forward pass: frame"
                            message = f"{what} {project.shot.output_number(fm.frame)}"
                            notices = sess.take_notices()
                            if notices:
                                message += ": " + "; ".join(notices)
                            yield Progress(min(done, total), total, message, frame=fm.frame if shown else None)
                    finally:
                        if session is None:
                            sess.close()
                        writer.flush()
            except MediaError as exc:
                # A frame that cannot be decoded ends this run there (what it finished stays);
                # the other runs go on, and the job reports the frame at the end.
                failures.append(exc)
                done = run_end
                index = watch.index_of(exc)
                where = f"frame {project.shot.frame_numbers[index]}" if index is not None else "a frame"
                verb = "cannot be decoded" if isinstance(exc, CorruptMediaError) else "cannot be read"
                yield Progress(min(done, total), total, f"{where} {verb}: this run stopped there")
                continue
            if done < run_end:  # an engine that had nothing to walk twice
                done = run_end
                yield Progress(done, total, f"frame {project.shot.output_number(run.frames[-1])}")
    finally:
        writer.flush()
        if eng is not None and not borrowed:
            eng.close()
    if failures:
        raise _stopped(project, watch, failures, writer, planned) from failures[0]
    return result


class _ReadWatch(FrameSource):
    """The shot's source as engines see it during a job: every read passes through, and a
    read that fails is remembered with its frame index, so the job can name the frame
    whatever the reader put in its error."""

    def __init__(self, source: FrameSource, owner: _ReadWatch | None = None) -> None:
        self.source = source
        self.info: MediaInfo = source.info
        self._failed: list[tuple[BaseException, int]] = []
        #: the watch this one is a clone of (another thread's reader): failures go there
        self._owner = owner

    def read(self, index: int) -> np.ndarray:
        try:
            return self.source.read(index)
        except MediaError as exc:
            watch = self._owner or self
            watch._failed = [*watch._failed[-7:], (exc, int(index))]
            raise

    def keyframe_before(self, index: int) -> int:
        return self.source.keyframe_before(index)

    def clone(self) -> FrameSource:
        """A watched reader of its own (an engine's read-ahead thread): its failures are
        remembered here too."""
        return _ReadWatch(self.source.clone(), owner=self)

    def close(self) -> None:
        """Nothing for the job's own watch (the source belongs to the caller of the job);
        a clone closes its reader."""
        if self._owner is not None:
            self.source.close()

    def __getattr__(self, name: str) -> Any:  # a reader's own extras (frame_path, frame_time)
        if name == "source":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.source, name)

    def index_of(self, exc: MediaError) -> int | None:
        """The frame index ``exc`` is about: the reader's own ``frame`` when it names one,
        else the read that raised it, else None."""
        frame = getattr(exc, "frame", None)
        if isinstance(frame, int) and 0 <= frame < self.info.frame_count:
            return frame
        return next((i for e, i in reversed(self._failed) if e is exc), None)

    def file_of(self, exc: MediaError, index: int | None) -> str | None:
        """The file holding the frame ``exc`` is about: the error's own path, else the
        frame's file in a sequence, else the media."""
        if exc.path is not None:
            return str(exc.path)
        frame_path = getattr(self.source, "frame_path", None)
        if index is not None and callable(frame_path):
            return str(frame_path(index))
        return str(self.info.path)


def _stopped(project: Project, watch: _ReadWatch, failures: list[MediaError], writer: _Writer | None,
             planned: dict[int, set[int]]) -> CorruptMediaError:
    """The error that ends a job whose runs stopped at frames that cannot be decoded: the
    first such frame by its source frame number and file, what was wrong with it, and how
    many frames each object kept."""
    assert project.shot is not None
    numbers = project.shot.frame_numbers
    exc = failures[0]
    index = watch.index_of(exc)
    path = watch.file_of(exc, index)
    reason = exc.message
    verb = "cannot be decoded" if isinstance(exc, CorruptMediaError) else "cannot be read"
    if index is None:
        message = f"a frame {verb}: {reason}; tracking stopped there"
    else:
        reason = re.sub(rf"^frame {index}(?: cannot be \w+)?: ", "", reason)  # a reader naming the index itself
        message = f"frame {numbers[index]} {verb}: {reason}; tracking stopped there"
    others = sorted({numbers[i] for e in failures[1:] if (i := watch.index_of(e)) is not None} -
                    ({numbers[index]} if index is not None else set()))
    if others:
        message += f" (and at frame{'s' if len(others) > 1 else ''} {', '.join(map(str, others))})"
    message += ": " + _kept(project, writer, planned)
    return CorruptMediaError(message, path=path, frame=index, hint=_damaged_frame_hint(exc.hint))


def _damaged_frame_hint(given: str | Hint | None) -> str | Hint:
    """:data:`DAMAGED_FRAME_HINT` after the reader's own hint, if it gave one."""
    if not given:
        return DAMAGED_FRAME_HINT
    if isinstance(given, str):
        return given + "; " + DAMAGED_FRAME_HINT
    return Hint(f"{given.cli}; {DAMAGED_FRAME_HINT.cli}", f"{given.window}; {DAMAGED_FRAME_HINT.window}")


def _kept(project: Project, writer: _Writer | None, planned: dict[int, set[int]]) -> str:
    """``6 of 12 frames were tracked and kept`` (per object when they differ), and the
    provisional masks kept besides."""
    if writer is None or not planned:
        return "no frame was tracked"
    counts = {o: (len(writer.finished.get(o, set()) & frames), len(frames)) for o, frames in sorted(planned.items())}
    extra = sum(len(writer.provisional.get(o, set()) & frames) for o, frames in planned.items())
    if len(set(counts.values())) == 1:
        kept, of = next(iter(counts.values()))
        text = f"{kept} of {of} frames were tracked and kept"
        if len(counts) > 1:
            text += f" for each of the {len(counts)} objects"
    else:
        text = ", ".join(f"{project.object(o).name!r} {kept} of {of} frames" for o, (kept, of) in counts.items())
        text += " were tracked and kept"
    if extra:
        text += (f"; {extra} more keep{'s' if extra == 1 else ''} the forward pass's provisional mask"
                 f"{'' if extra == 1 else 's'}, marked out of date")
    return text


class _Writer:
    """Stores masks with their tracking records (flushed in batches) and fills the result.

    Records are flushed every 50 masks at first, then less often as an object's record file
    grows (once it grows by an eighth, or every 5 s), so a long shot of tiny frames does
    not rewrite an ever longer file for every 50 frames; :meth:`flush` at the end of each
    run, on cancel and on errors writes the rest."""

    def __init__(self, store: MaskStore, result: TrackResult, bases: dict[int, TrackBasis], low: float) -> None:
        self.store, self.result, self.bases, self.low = store, result, bases, low
        self.pending: dict[int, dict[int, TrackRecord]] = {}
        self.seen: set[tuple[int, int]] = set()
        self.lows: set[tuple[int, int]] = set()
        #: frames stored final, and those stored provisional (until a final mask replaces them)
        self.finished: dict[int, set[int]] = {}
        self.provisional: dict[int, set[int]] = {}
        self.count = 0
        self.flushed_at = time.monotonic()

    def put(self, obj_id: int, frame: int, mask: np.ndarray, score: float | None, *, final: bool = True) -> None:
        made = self.bases[obj_id].segmented(frame) if obj_id in self.bases else None
        if made is not None and self.store.track_records(obj_id).get(frame, (None, ""))[1] == made:
            return  # a keyframe's mask the artist made from its prompts stays as it is
        self.store.put(obj_id, frame, mask)
        basis = self.bases[obj_id].of(frame) if obj_id in self.bases else ""
        if final:
            self.finished.setdefault(obj_id, set()).add(frame)
            self.provisional.get(obj_id, set()).discard(frame)
        else:
            basis = PROVISIONAL + basis
            self.provisional.setdefault(obj_id, set()).add(frame)
            self.finished.get(obj_id, set()).discard(frame)
        self.pending.setdefault(obj_id, {})[frame] = (score, basis)
        if (obj_id, frame) not in self.seen:
            self.seen.add((obj_id, frame))
            self.result.frames.setdefault(obj_id, []).append(frame)
        low = self.result.low.setdefault(obj_id, [])
        if score is not None and score < self.low:
            if (obj_id, frame) not in self.lows:
                self.lows.add((obj_id, frame))
                low.append(frame)
        elif (obj_id, frame) in self.lows:
            self.lows.discard((obj_id, frame))
            low.remove(frame)
        if score is not None:
            self.result.scores.setdefault(obj_id, {})[frame] = score
        self.count += 1
        if self.count % 50 == 0 and self._due():
            self.flush()

    def _due(self) -> bool:
        """Whether the pending records are worth writing now (see the class docstring)."""
        if time.monotonic() - self.flushed_at >= 5.0:
            return True
        return any(8 * len(records) >= len(self.store.track_records(obj_id))
                   for obj_id, records in self.pending.items())

    def note(self, obj_id: int, frame: int, score: float) -> None:
        """Record ``frame``'s confidence without storing its mask (a track stopped there)."""
        basis = self.bases[obj_id].of(frame) if obj_id in self.bases else ""
        self.pending.setdefault(obj_id, {})[frame] = (score, basis)
        if (obj_id, frame) not in self.lows and score < self.low:
            self.lows.add((obj_id, frame))
            self.result.low.setdefault(obj_id, []).append(frame)

    def settle(self, obj_id: int, lo: int, hi: int) -> None:
        """Frames ``lo..hi`` that hold a provisional mask and that no final pass will reach
        (it stopped at low confidence before them) keep that mask as their result: it is
        recorded with the frame's real basis, so the frame is up to date, not orange."""
        frames = sorted(f for f in self.provisional.get(obj_id, set()) if lo <= f <= hi)
        if not frames:
            return
        records = self.store.track_records(obj_id)
        pending = self.pending.setdefault(obj_id, {})
        for frame in frames:
            score = pending.get(frame, records.get(frame, (None, "")))[0]
            pending[frame] = (score, self.bases[obj_id].of(frame) if obj_id in self.bases else "")
            self.provisional[obj_id].discard(frame)
            self.finished.setdefault(obj_id, set()).add(frame)

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        self.flushed_at = time.monotonic()
        for obj_id, records in pending.items():
            self.store.record_track(obj_id, records)


def load_text_objects(
    project: Project, source: FrameSource, store: MaskStore, result: TrackResult, objects: set[int],
    frames: list[int], engine: str, engine_options: dict[str, Any] | None, engine_instance: Engine | None,
) -> None:
    """Text keyframes in the tracked frames are run before tracking is planned: every
    instance found becomes an object with its mask as a key mask there (the first instance
    is the keyframe's own object, unless the keyframe also holds points or boxes), so
    instances track like any object and a second run does not look for them again."""
    window = set(frames)
    texts = [k for k in project.keyframes if k.object_id in objects and k.frame in window and not k.mask
             and any(isinstance(p, TextPrompt) for p in k.prompts)]
    if not texts:
        return
    eng = engine_instance if engine_instance is not None else create_engine(engine, **(engine_options or {}))
    keys = store.key_masks()
    try:
        with eng.open_session(source) as sess:
            for kf in texts:
                others: list[Prompt] = [p for p in kf.prompts if not isinstance(p, TextPrompt)]
                for text in [p for p in kf.prompts if isinstance(p, TextPrompt)]:
                    # the session numbers instances from a fresh id up (never onto an
                    # existing object); the first becomes the keyframe's own object
                    found = sess.add_prompt(kf.frame, text, max(project.next_object_id, _free_id(sess)))
                    for n, (_, mask) in enumerate(sorted(found.items())):
                        if n == 0 and not others:
                            obj_id = kf.object_id
                        else:
                            named = object_name(text.text, f" {project.next_object_id}")
                            obj_id = project.add_object(named).id
                            result.new_objects.append(obj_id)
                        keys.put(obj_id, kf.frame, mask)
                        project.set_key_mask(obj_id, kf.frame)
                if others:  # the instances are objects of their own now
                    project.set_prompts(kf.object_id, kf.frame, list[Prompt](others))
    finally:
        if engine_instance is None:
            eng.close()


def _until_key(project: Project, obj_id: int, frame: int, backward: bool) -> tuple[int, int]:
    """Frames from ``frame`` up to (not including) ``obj_id``'s next keyframe in the
    direction of travel, as an inclusive ``(lo, hi)``."""
    keys = [k.frame for k in project.keyframes_of(obj_id)]
    if backward:
        before = [k for k in keys if k < frame]
        return (before[-1] + 1 if before else 0, frame)
    after = [k for k in keys if k > frame]
    return (frame, after[0] - 1 if after else 1 << 30)


def _free_id(session: SegmentationSession) -> int:
    """An object id no object of ``session`` has."""
    return max(session.object_ids(), default=0) + 1


def _chunks(frames: list[int], chunk: int) -> list[list[int]]:
    """``frames`` (in propagation order) in runs of ``chunk``; consecutive runs share their
    seam frame (the last of one is the first of the next)."""
    if chunk < 2:
        raise ValueError(f"chunk must be at least 2 frames, got {chunk}")
    spans, start = [], 0
    while True:
        span = frames[start:start + chunk]
        spans.append(span)
        if start + chunk >= len(frames):
            return spans
        start += chunk - 1


def _seed(session: SegmentationSession, store: MaskStore, frame: int, objects: set[int]) -> None:
    for obj_id in sorted(objects):
        mask = store.get(obj_id, frame)
        if mask is not None and mask.any():
            session.add_mask(frame, obj_id, mask)

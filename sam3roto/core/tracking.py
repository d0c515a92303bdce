"""What a tracked mask was made from, and which tracked frames a later edit made stale.

A tracked frame depends on the object's keyframes on either side of it (the nearest one
before and the nearest one after) and on the absent ranges between them. The *basis* of a
frame is a short digest of those; the tracking job records it with every mask it stores
(``MaskStore.record_track``). When a keyframe is added, changed or removed, or an absent
range changes, the basis of the frames in its stretch changes too: those frames are
*stale*, and re-tracking only their stretch (from the keyframe before to the keyframe
after) brings them up to date. Frames stored without a record (imported, or tracked
before records existed) are never called stale.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Keyframe, Project

#: Frames whose confidence is below this are marked for the artist to check.
LOW_CONFIDENCE = 0.5
#: Concept tracking: the text detector looks for new instances every this many frames.
DEFAULT_EVERY = 10
#: Prefix of the basis of a keyframe's mask segmented from its prompts (see ``segmented``).
SEGMENTED = "segmented:"
#: Prefix of the basis of a keyframe's mask as a tracking run gave it.
KEYFRAME = "key:"


def _key_digest(key: Keyframe) -> str:
    parts: list[object] = [key.frame, [p.to_dict() for p in key.prompts], key.mask]
    if key.strokes:  # (keyframes without strokes keep the digests tracked before strokes existed)
        parts.append([s.to_dict() for s in key.strokes])
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class Stretch:
    """Frames ``lo..hi`` of one object lying between two neighbouring keyframes (or a
    keyframe and the end of the shot); one basis covers them all."""

    lo: int
    hi: int
    basis: str


class TrackBasis:
    """The keyframe stretches of one object, to look up any frame's basis quickly."""

    def __init__(self, project: Project, obj_id: int) -> None:
        keys = project.keyframes_of(obj_id)
        self.keys = [k.frame for k in keys]
        self._digests = [_key_digest(k) for k in keys]
        obj = next((o for o in project.objects if o.id == obj_id), None)
        self.absent = list(obj.absent) if obj is not None else []
        count = project.shot.frame_count if project.shot is not None else 0
        self.last = max(count - 1, self.keys[-1] if self.keys else 0)

    def stretch(self, frame: int) -> Stretch:
        """The stretch holding ``frame``: the frames between the keyframes on either side
        (a keyframe's stretch is the keyframe alone). ``basis`` is ``frame``'s own."""
        i = bisect.bisect_left(self.keys, frame)
        if i < len(self.keys) and self.keys[i] == frame:
            return Stretch(frame, frame, KEYFRAME + self._digests[i])
        lo = self.keys[i - 1] + 1 if i > 0 else 0
        hi = self.keys[i] - 1 if i < len(self.keys) else self.last
        # A chain reaches ``frame`` from the keyframe before it unless an absent range lies
        # between them, and from the one after it likewise: the frame depends on the
        # keyframes that reach it, and on whether it is itself out of shot.
        before = self._digests[i - 1] if i > 0 and not self._gap(lo, frame) else "-"
        after = self._digests[i] if i < len(self.keys) and not self._gap(frame, hi) else "-"
        digest = hashlib.sha1(json.dumps([before, after, self._gap(frame, frame)]).encode()).hexdigest()[:12]
        return Stretch(lo, hi, digest)

    def _gap(self, lo: int, hi: int) -> bool:
        return any(a <= hi and b >= lo for a, b in self.absent)

    def of(self, frame: int) -> str:
        """The basis of ``frame`` now."""
        return self.stretch(frame).basis


    def segmented(self, frame: int) -> str | None:
        """The basis recorded with a keyframe's mask made from its prompts on that frame
        (live segmentation): tracking anchors on that mask as it is, instead of segmenting
        the keyframe again, while the keyframe is unchanged. None off keyframes."""
        i = bisect.bisect_left(self.keys, frame)
        if i < len(self.keys) and self.keys[i] == frame:
            return SEGMENTED + self._digests[i]
        return None


def tracked_record(basis: str) -> bool:
    """Whether a mask recorded with ``basis`` came from tracking (not a keyframe's own)."""
    return not basis.startswith((SEGMENTED, KEYFRAME))


def stale_frames(project: Project, store: MaskStore, obj_id: int) -> list[int]:
    """Tracked frames of ``obj_id`` whose keyframes changed since they were tracked."""
    basis = TrackBasis(project, obj_id)
    keys = set(basis.keys)
    return [frame for frame, (_, made_from) in sorted(store.track_records(obj_id).items())
            if frame not in keys and basis.of(frame) != made_from]


def stale_stretches(project: Project, store: MaskStore, obj_id: int,
                    expected: Iterable[int] = ()) -> list[tuple[int, int]]:
    """The runs to re-track so that no frame of ``obj_id`` stays stale: each stale frame's
    stretch widened to the keyframes that bound it (the run anchors on them), as sorted
    ``(lo, hi)`` frame-index pairs. Frames of ``expected`` (where a mask should be) that
    have none count as out of date too (a track stopped or cancelled before them), unless
    the object is out of shot there."""
    basis = TrackBasis(project, obj_id)
    keys = set(basis.keys)
    have = set(store.frames(obj_id))
    todo = set(stale_frames(project, store, obj_id))
    todo |= {f for f in expected if f not in have and f not in keys
             and not any(a <= f <= b for a, b in basis.absent)}
    groups: dict[tuple[int, int], list[int]] = {}
    for frame in sorted(todo):
        s = basis.stretch(frame)
        groups.setdefault((s.lo, s.hi), []).append(frame)
    runs = []
    for (lo, hi), frames in groups.items():
        # from the keyframe before to the one after (both chains); without a keyframe on
        # one side, only as far as the last frame to do on that side
        start = lo - 1 if (lo - 1) in keys else frames[0]
        end = hi + 1 if (hi + 1) in keys else frames[-1]
        runs.append((start, end))
    return sorted(runs)


def low_confidence_frames(store: MaskStore, obj_id: int, threshold: float = LOW_CONFIDENCE) -> list[int]:
    """Tracked frames of ``obj_id`` whose recorded confidence is below ``threshold``."""
    return sorted(f for f, (score, _) in store.track_records(obj_id).items()
                  if score is not None and score < threshold)


def ranges(frames: list[int]) -> list[tuple[int, int]]:
    """Sorted frame indices as inclusive ``(first, last)`` runs."""
    out: list[tuple[int, int]] = []
    for f in frames:
        if out and f == out[-1][1] + 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return out

"""SMPTE timecode: ``HH:MM:SS:FF`` labels for frame counts at a frame rate (Qt-free).

A timecode counts frames at the *nominal* rate, the rate rounded to a whole number (24
for 23.976, 30 for 29.97). At 29.97 and 59.94 (``30000/1001``, ``60000/1001``) that
label drifts from the clock by 3.6 s an hour, so those rates use drop-frame timecode
(SMPTE 12M): labels ``;00`` and ``;01`` (``;00..;03`` at 59.94) are skipped at the start
of every minute except each tenth, and the last separator is ``;``. Every other rate is
non-drop, ``:`` throughout. Labels roll over after 23:59:59.

A source may declare the timecode of its first frame (a movie's ``timecode`` tag, written
by ``ffmpeg -timecode 01:00:00:00``); frame index ``i`` is then that label plus ``i``
frames, counted as the label says: its last separator ``;`` (or ``.``, ``,``) means
drop-frame, ``:`` non-drop (a 29.97 source may carry either). Without one, index 0 is
``00:00:00:00``.
"""

from __future__ import annotations

import re
from fractions import Fraction

#: Rates that use drop-frame timecode, and how many labels each minute drops.
DROP_FRAME_RATES: dict[Fraction, int] = {Fraction(30000, 1001): 2, Fraction(60000, 1001): 4}

_PATTERN = re.compile(r"^\s*(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.,])(\d{2,3})\s*$")


def nominal_rate(fps: Fraction) -> int:
    """Frames per timecode second: ``fps`` rounded (24 for 24000/1001), at least 1."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    return max(1, round(fps))


def is_drop_frame(fps: Fraction) -> bool:
    """True for 29.97 and 59.94 (``30000/1001``, ``60000/1001``), which count drop-frame."""
    return Fraction(fps) in DROP_FRAME_RATES


def frames_to_timecode(frames: int, fps: Fraction, drop_frame: bool | None = None) -> str:
    """The label of the ``frames``-th frame after ``00:00:00:00`` at ``fps``.

    ``drop_frame`` defaults to :func:`is_drop_frame`; drop-frame labels use ``;`` before
    the frames. ``frames_to_timecode(1800, Fraction(30000, 1001)) == "00:01:00;02"``."""
    if frames < 0:
        raise ValueError(f"a frame count must be >= 0, got {frames}")
    fps = Fraction(fps)
    rate = nominal_rate(fps)
    drop = _dropped_per_minute(fps, drop_frame)
    if drop:
        per_ten = 600 * rate - 9 * drop  # labels in ten minutes (the tenth minute drops none)
        per_minute = 60 * rate - drop
        tens, rest = divmod(frames, per_ten)
        frames += 9 * drop * tens + (drop * ((rest - drop) // per_minute) if rest > drop else 0)
    seconds, ff = divmod(frames, rate)
    minutes, ss = divmod(seconds, 60)
    hours, mm = divmod(minutes, 60)
    return f"{hours % 24:02d}:{mm:02d}:{ss:02d}{';' if drop else ':'}{ff:02d}"


def timecode_to_frames(timecode: str, fps: Fraction, drop_frame: bool | None = None) -> int:
    """Frames from ``00:00:00:00`` to the label ``timecode`` (``HH:MM:SS:FF``; ``;`` and
    ``.`` are accepted as separators) at ``fps``. Drop-frame as :func:`frames_to_timecode`
    counts it: ``drop_frame``, or by default the rate decides. A label that does not exist
    at that rate (frame 30 at 30 fps, ``00:01:00;00`` drop-frame) is a ValueError."""
    match = _PATTERN.match(timecode) if isinstance(timecode, str) else None
    if match is None:
        raise ValueError(f"a timecode is HH:MM:SS:FF (e.g. 01:00:00:00), got {timecode!r}")
    hh, mm, ss, _sep, ff = match.groups()
    hours, minutes, seconds, frame = int(hh), int(mm), int(ss), int(ff)
    fps = Fraction(fps)
    rate = nominal_rate(fps)
    drop = _dropped_per_minute(fps, drop_frame)
    if hours > 23 or minutes > 59 or seconds > 59 or frame >= rate:
        raise ValueError(f"timecode {timecode!r} does not exist at {_fps_text(fps)} fps: hours go to 23, minutes "
                         f"and seconds to 59, frames to {rate - 1:02d}")
    if drop and seconds == 0 and frame < drop and minutes % 10:
        raise ValueError(f"timecode {timecode!r} does not exist in drop-frame timecode: frames 00..{drop - 1:02d} "
                         "are skipped at the start of every minute except each tenth")
    total_minutes = 60 * hours + minutes
    return ((total_minutes * 60 + seconds) * rate + frame) - drop * (total_minutes - total_minutes // 10)


def label_drop_frame(timecode: str, fps: Fraction) -> bool:
    """Whether the label ``timecode`` counts drop-frame: its last separator is ``;``,
    ``.`` or ``,`` and drop-frame exists at ``fps`` (a nominal 30 or 60)."""
    match = _PATTERN.match(timecode) if isinstance(timecode, str) else None
    if match is None or match.group(4) == ":":
        return False
    rate = nominal_rate(Fraction(fps))
    return rate % 30 == 0


def parse_timecode(timecode: str, fps: Fraction) -> int:
    """The frame count of a start timecode read from a file, drop-frame or not as its
    separator says (see :func:`label_drop_frame`, :func:`timecode_to_frames`)."""
    return timecode_to_frames(timecode, fps, label_drop_frame(timecode, fps))


def timecode_at(index: int, fps: Fraction, start: str | None = None) -> str:
    """The label of frame index ``index`` of a source at ``fps`` whose first frame is
    labelled ``start`` (None or unreadable: ``00:00:00:00``, drop-frame as the rate
    says), counted drop-frame or not as ``start`` is."""
    if index < 0:
        raise ValueError(f"a frame index must be >= 0, got {index}")
    first, drop = 0, None
    if start:
        try:
            first, drop = parse_timecode(start, fps), label_drop_frame(start, fps)
        except ValueError:
            first, drop = 0, None
    return frames_to_timecode(first + index, fps, drop)


def fps_label(fps: Fraction) -> str:
    """A rate as artists write it: ``24``, ``25``, ``23.976``, ``29.97``, ``59.94``."""
    return _fps_text(Fraction(fps))


def _fps_text(fps: Fraction) -> str:
    if fps.denominator == 1:
        return str(fps.numerator)
    return f"{float(fps):.3f}".rstrip("0").rstrip(".")


def _dropped_per_minute(fps: Fraction, drop_frame: bool | None) -> int:
    if drop_frame is None:
        return DROP_FRAME_RATES.get(fps, 0)
    if not drop_frame:
        return 0
    if fps in DROP_FRAME_RATES:
        return DROP_FRAME_RATES[fps]
    rate = nominal_rate(fps)
    if rate % 30:
        raise ValueError(f"drop-frame timecode exists for 29.97 and 59.94 fps, not {_fps_text(fps)}")
    return 2 * rate // 30

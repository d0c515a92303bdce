"""SMPTE timecode against known values: non-drop at film and PAL rates, drop-frame at
29.97 and 59.94 (SMPTE 12M's skipped labels), parsing, round trips, and the errors."""

from __future__ import annotations

from fractions import Fraction

import pytest

from sam3roto.core.timecode import (
    fps_label,
    frames_to_timecode,
    is_drop_frame,
    nominal_rate,
    parse_timecode,
    timecode_at,
    timecode_to_frames,
)

NTSC = Fraction(30000, 1001)
NTSC60 = Fraction(60000, 1001)
FILM = Fraction(24000, 1001)


@pytest.mark.parametrize(("frames", "fps", "label"), [
    (0, Fraction(24), "00:00:00:00"),
    (23, Fraction(24), "00:00:00:23"),
    (24, Fraction(24), "00:00:01:00"),
    (86400, Fraction(24), "01:00:00:00"),
    (41 * 24 + 17, FILM, "00:00:41:17"),  # 23.976 counts 24 labels a second, non-drop
    (90000, Fraction(25), "01:00:00:00"),
    (1799, Fraction(30), "00:00:59:29"),
    (1800, Fraction(30), "00:01:00:00"),
    (24 * 86400, Fraction(24), "00:00:00:00"),  # rolls over after 23:59:59:23
    # drop-frame 29.97: ;00 and ;01 skipped each minute but every tenth
    (1799, NTSC, "00:00:59;29"),
    (1800, NTSC, "00:01:00;02"),
    (3597, NTSC, "00:01:59;29"),
    (3598, NTSC, "00:02:00;02"),
    (17981, NTSC, "00:09:59;29"),
    (17982, NTSC, "00:10:00;00"),
    (17983, NTSC, "00:10:00;01"),
    (19781, NTSC, "00:10:59;29"),
    (19782, NTSC, "00:11:00;02"),
    (107892, NTSC, "01:00:00;00"),  # an hour of 29.97 is 107892 frames
    # drop-frame 59.94: ;00 to ;03 skipped
    (3599, NTSC60, "00:00:59;59"),
    (3600, NTSC60, "00:01:00;04"),
    (35964, NTSC60, "00:10:00;00"),
    (215784, NTSC60, "01:00:00;00"),
])
def test_frames_to_timecode_known_values(frames: int, fps: Fraction, label: str) -> None:
    assert frames_to_timecode(frames, fps) == label
    day = 24 * timecode_to_frames("01:00:00:00", fps)
    assert timecode_to_frames(label, fps) == frames % day


@pytest.mark.parametrize("fps", [Fraction(24), FILM, Fraction(25), NTSC, Fraction(30), Fraction(50), NTSC60])
def test_every_label_of_an_hour_round_trips(fps: Fraction) -> None:
    step = 7
    hour = timecode_to_frames("01:00:00:00", fps)
    labels = [frames_to_timecode(n, fps) for n in range(0, hour, step)]
    assert [timecode_to_frames(label, fps) for label in labels] == list(range(0, hour, step))
    assert len(set(labels)) == len(labels)


def test_drop_frame_only_for_29_97_and_59_94() -> None:
    assert is_drop_frame(NTSC) and is_drop_frame(NTSC60)
    assert not any(is_drop_frame(f) for f in (FILM, Fraction(24), Fraction(25), Fraction(30), Fraction(60)))
    assert frames_to_timecode(1800, NTSC, drop_frame=False) == "00:01:00:00"  # non-drop 29.97 when asked
    assert nominal_rate(FILM) == 24 and nominal_rate(NTSC) == 30 and nominal_rate(Fraction(1, 2)) == 1
    assert [fps_label(f) for f in (FILM, NTSC, NTSC60, Fraction(25), Fraction(24))] == \
        ["23.976", "29.97", "59.94", "25", "24"]


def test_parse_accepts_the_usual_separators() -> None:
    assert parse_timecode("01:00:00:00", Fraction(24)) == 86400
    assert parse_timecode("01:00:00;00", NTSC) == 107892
    assert parse_timecode(" 00:00:01.12 ", Fraction(25)) == 37
    assert parse_timecode("1:00:00:00", Fraction(25)) == 90000


@pytest.mark.parametrize(("label", "fps", "words"), [
    ("garbage", Fraction(24), "HH:MM:SS:FF"),
    ("01:00:00", Fraction(24), "HH:MM:SS:FF"),
    ("00:00:00:24", Fraction(24), "frames to 23"),
    ("00:60:00:00", Fraction(24), "minutes"),
    ("24:00:00:00", Fraction(24), "hours go to 23"),
    ("00:01:00;00", NTSC, "skipped at the start of every minute"),
    ("00:01:00;03", NTSC60, "skipped"),
])
def test_labels_that_do_not_exist_are_refused_with_a_reason(label: str, fps: Fraction, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        timecode_to_frames(label, fps)


def test_timecode_at_a_frame_index_from_the_source_start() -> None:
    assert timecode_at(0, Fraction(24)) == "00:00:00:00"  # no start timecode: index 0 is zero
    assert timecode_at(41 * 24 + 17, FILM) == "00:00:41:17"
    assert timecode_at(0, Fraction(24), "01:00:00:00") == "01:00:00:00"
    assert timecode_at(25, Fraction(24), "01:00:00:00") == "01:00:01:01"
    assert timecode_at(2, NTSC, "00:00:59;28") == "00:01:00;02"  # drop-frame across the skipped labels
    assert timecode_at(3, Fraction(24), "not a timecode") == "00:00:00:03"  # unreadable: from zero
    with pytest.raises(ValueError, match=">= 0"):
        timecode_at(-1, Fraction(24))
    with pytest.raises(ValueError, match="fps must be > 0"):
        frames_to_timecode(1, Fraction(0))


def test_a_start_label_says_whether_a_29_97_source_counts_drop_frame() -> None:
    from sam3roto.core.timecode import label_drop_frame, timecode_at

    ntsc = Fraction(30000, 1001)
    assert timecode_at(1800, ntsc, "01:00:00:00") == "01:01:00:00"  # non-drop: ":" throughout
    assert timecode_at(1800, ntsc, "01:00:00;00") == "01:01:00;02"  # drop-frame
    assert timecode_at(0, ntsc, "00:01:00:00") == "00:01:00:00"  # a label only non-drop has
    assert label_drop_frame("01:00:00.00", ntsc) and not label_drop_frame("01:00:00;00", Fraction(25))

"""The timecode a render gives its movies: the source's own timecode counted on to the
first rendered frame, else the first frame number counted from 00:00:00:00; read back
from the ProRes with the movie reader (PyAV), the way the source's was read."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from sam3roto.core.jobs import run_sync
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.timecode import frames_to_timecode
from sam3roto.media.source import open_media
from sam3roto.pipeline.render import RenderOptions, render_job
from sam3roto.pipeline.shot import new_project, open_shot_media
from tests.export.conftest import RenderShot
from tests.media.test_timecode import encode


def _movie_timecode(folder: Path) -> str | None:
    movies = sorted(folder.rglob("*.mov"))
    assert movies, f"no movie in {folder}"
    with open_media(movies[0]) as movie:
        return movie.info.start_timecode


def test_a_source_timecode_is_counted_on_to_the_first_rendered_frame(tmp_path: Path) -> None:
    movie = encode(tmp_path / "tc.mov", "24", "-timecode", "01:00:00:00", frames=12)
    project, source = new_project(movie)
    source.close()
    store = MaskStore(tmp_path / "masks")
    obj = project.add_object("thing")
    mask = np.zeros((48, 64), bool)
    mask[10:30, 10:40] = True
    for i in range(12):
        store.put(obj.id, i, mask)
    with open_shot_media(project) as opened:
        result = run_sync(render_job(project, opened, store, tmp_path / "out",
                                     RenderOptions(outputs=("prores",), indices=tuple(range(5, 9)))))
    assert _movie_timecode(result.folder) == "01:00:00:05"


def test_without_a_source_timecode_the_first_frame_number_counts(render_shot: RenderShot, tmp_path: Path) -> None:
    result = run_sync(render_job(render_shot.project, render_shot.source, render_shot.store, tmp_path / "out",
                                 RenderOptions(outputs=("prores",), objects=(1,))))
    assert result.numbers[0] == 1001
    assert _movie_timecode(result.folder) == frames_to_timecode(1001, Fraction(24)) == "00:00:41:17"

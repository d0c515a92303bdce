"""Jobs as generators: progress, results, cancel runs cleanup."""

from __future__ import annotations

import pytest

from sam3roto.core.jobs import CancelToken, Job, Progress, run_sync
from sam3roto.errors import Cancelled


def counting_job(n: int, log: list[str]) -> Job[int]:
    try:
        for i in range(n):
            yield Progress(i + 1, n, f"step {i + 1}")
            log.append(f"did {i + 1}")
        return n * 10
    finally:
        log.append("cleanup")


def test_run_sync_returns_result_and_reports_progress() -> None:
    log: list[str] = []
    seen: list[Progress] = []
    assert run_sync(counting_job(3, log), on_progress=seen.append) == 30
    assert [p.done for p in seen] == [1, 2, 3] and seen[-1].fraction == 1.0
    assert log[-1] == "cleanup"


def test_cancel_stops_between_steps_and_cleans_up() -> None:
    log: list[str] = []
    token = CancelToken()

    def on_progress(p: Progress) -> None:
        if p.done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        run_sync(counting_job(10, log), on_progress=on_progress, cancel=token)
    assert log == ["did 1", "cleanup"]
    assert token.cancelled
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()


def test_progress_fraction_with_unknown_total() -> None:
    assert Progress(3, 0).fraction == 0.0
    assert Progress(5, 4).fraction == 1.0

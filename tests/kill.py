"""Killing the command line mid-run with SIGKILL (what ``kill -9``, the OOM killer or a
farm's preemption do): nothing runs on the way out, so whatever the run leaves on disk is
what the next run finds.

``start_cli(*args)`` starts ``python run.py ARGS`` the way :func:`tests.hostile.run_cli`
runs it (address-space limit, one OpenMP thread). ``calibrate`` times one whole run: how
long until ``ready()`` says its work began (a staging folder appeared, the project was
rewritten), and how long the work took after that. ``kill_schedule`` spreads kill times
over both phases from a seed, and ``run_and_kill`` runs once and kills at one of them.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from tests.hostile import CHILD_MEMORY, ROOT, _limit

#: Seconds a run may take before it counts as a hang.
HANG = 60.0


def start_cli(*args: str) -> subprocess.Popen[str]:
    """``python run.py ARGS`` in a child process (stdout dropped, stderr kept)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: _limit(CHILD_MEMORY))


def _wait(proc: subprocess.Popen[str], until: Callable[[], bool], started: float) -> None:
    while proc.poll() is None and not until():
        if time.monotonic() - started > HANG:
            proc.kill()
            proc.wait()
            raise AssertionError(f"run.py ran over {HANG} s (a hang)")
        time.sleep(0.001)


def _finish(proc: subprocess.Popen[str], args: tuple[str, ...]) -> None:
    """Wait for a run that was not killed; it must have succeeded."""
    _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 0, (args, proc.returncode, err[-3000:])


def calibrate(args: tuple[str, ...], ready: Callable[[], bool],
              done: Callable[[], bool] | None = None) -> tuple[float, float]:
    """Run ``args`` to the end once: seconds until ``ready()`` first held, and seconds of
    work after that, until ``done()`` held (or the run ended); both at least a millisecond."""
    started = time.monotonic()
    proc = start_cli(*args)
    _wait(proc, ready, started)
    at_ready = time.monotonic()
    _wait(proc, done or (lambda: False), started)
    at_done = time.monotonic()
    _finish(proc, args)
    return max(at_ready - started, 1e-3), max(at_done - at_ready, 1e-3)


def kill_schedule(seed: int, count: int, early: int, to_ready: float, work: float) -> list[tuple[bool, float]]:
    """``count`` kill points from ``seed``: ``(after_ready, delay)``. The first ``early``
    kill before the work begins (``delay`` seconds after the start, within ``to_ready``);
    the others ``delay`` seconds after it began, over the work and a little past its end
    (a run that finishes first is a run killed after it published)."""
    rng = random.Random(seed)
    points = [(False, rng.uniform(0.05, 0.95) * to_ready) for _ in range(early)]
    points += [(True, rng.uniform(0.0, 1.1) * work) for _ in range(count - early)]
    rng.shuffle(points)
    return points


def run_and_kill(args: tuple[str, ...], ready: Callable[[], bool], after_ready: bool, delay: float) -> bool:
    """Run ``args`` and SIGKILL it ``delay`` seconds after its start (or, ``after_ready``,
    after ``ready()`` first held). Returns whether it was killed (False: it finished first,
    successfully). The child is reaped before this returns."""
    started = time.monotonic()
    proc = start_cli(*args)
    try:
        if after_ready:
            _wait(proc, ready, started)
        anchor = time.monotonic()
        _wait(proc, lambda: time.monotonic() - anchor >= delay, started)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=HANG)
            if proc.returncode == -signal.SIGKILL:
                return True
            # it ended between the last look and the signal: it must have succeeded
            assert proc.returncode == 0, (args, proc.returncode, err[-3000:])
            return False
        _finish(proc, args)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

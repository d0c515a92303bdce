"""Running the command line on hostile input under the limits a tester's harness sets.

``run_cli(*args)`` runs ``python run.py ARGS`` in a child process with an address-space
limit (``resource.RLIMIT_AS``) and a wall-clock timeout, and returns the finished process.
``assert_clean_error(proc, name)`` checks that it ended the way every bad input must: exit
status 1, one ``error: ...`` line naming the file, no traceback.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Address space a child may map: enough for numpy/OpenCV/PyAV and a 1080p shot, far below
#: what a decompression bomb asks for.
CHILD_MEMORY = 6 * 1024**3


def _limit(memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def run_cli(*args: str | Path, memory: int = CHILD_MEMORY, timeout: float = 60.0,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python run.py ARGS`` with ``memory`` bytes of address space, killed after ``timeout`` s
    (which fails the test: a hang)."""
    child_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    try:
        return subprocess.run([sys.executable, str(ROOT / "run.py"), *map(str, args)], cwd=ROOT, env=child_env,
                              capture_output=True, text=True, timeout=timeout,
                              preexec_fn=lambda: _limit(memory))
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"run.py {' '.join(map(str, args))} ran over {timeout} s (a hang)") from exc


def assert_clean_error(proc: subprocess.CompletedProcess[str], *names: str) -> str:
    """The run failed cleanly: exit 1, an ``error:`` line, no traceback, each of ``names``
    (a file name, a frame) in the message. Returns the error text."""
    err = proc.stderr
    assert "Traceback" not in err, err[-3000:]
    assert proc.returncode == 1, (proc.returncode, err[-3000:], proc.stdout[-1000:])
    assert "error:" in err, err[-3000:]
    text = err[err.index("error:"):]
    assert len(text) < 5000, f"error message of {len(text)} characters"
    for name in names:
        assert name in text, (name, text)
    return text

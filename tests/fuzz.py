"""A seeded mutator for the parsers that take user files, and a runner that checks them.

``mutations(seed_doc, n)`` yields ``n`` JSON texts made from a valid document by the edits
a person, a script or an attacker makes: a number replaced by ``Infinity``/``NaN``/a huge
or negative or fractional number, a value by ``null``/a string/a list/an object, a key
removed, a list emptied or grown, a string made huge, deep nesting, truncation. The cases
are the same on every run (one ``random.Random`` per seed).

``check_parser(parse, texts, allowed)`` feeds each text to ``parse`` and fails on any
exception other than ``allowed`` (the project's own errors) or on a case slower than
``per_case_s`` (a hang). ``FUZZ_CASES`` cases per parser: 300 by default (CI); set
``SAM3ROTO_FUZZ_CASES=10000`` for the full run (``python -m pytest -m fuzz``).
"""

from __future__ import annotations

import copy
import json
import os
import random
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

FUZZ_CASES = int(os.environ.get("SAM3ROTO_FUZZ_CASES", "300"))

_HOSTILE_NUMBERS: list[Any] = [
    float("inf"), float("-inf"), float("nan"), 10**30, -(10**30), 2**63, -(2**63) - 1, 1e308, -1e308, 1e-320,
    0, -1, -0.5, 0.5, 1.5, 2**31, 65535, 99999, 10**12, -(10**12), True, False,
]
_HOSTILE_VALUES: list[Any] = [
    None, "", "x", "1/0", "Infinity", "NaN", "-1", "../../etc/passwd", "\u0000", "\ufffd",
    [], {}, [None], [[]], {"": None}, [1, 2], [[0, 0]], [float("inf"), 1], {"x": float("nan")},
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node[:50]):
            yield from _paths(value, (*prefix, i))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    parent[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return doc
    parent = _get(doc, path[:-1])
    del parent[path[-1]]
    return doc


def mutate(doc: Any, rng: random.Random) -> Any:
    """One to three random edits of a deep copy of ``doc``."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = list(_paths(doc))
        path = rng.choice(paths)
        target = _get(doc, path)
        roll = rng.random()
        if isinstance(target, (int, float)) and not isinstance(target, bool) and roll < 0.6:
            doc = _set(doc, path, rng.choice([*_HOSTILE_NUMBERS, target * rng.choice([-1, 1000, 1e9]), -target]))
        elif roll < 0.75:
            doc = _set(doc, path, copy.deepcopy(rng.choice(_HOSTILE_VALUES + _HOSTILE_NUMBERS)))
        elif roll < 0.85 and path:
            doc = _delete(doc, path)
        elif isinstance(target, list) and target and roll < 0.92:
            doc = _set(doc, path, target * rng.choice([0, 2, 50]))
        elif isinstance(target, str):
            doc = _set(doc, path, target * rng.choice([0, 2, 1000]))
        elif path:
            # Swap in another part of the document (a list where a dict belongs, and so on).
            doc = _set(doc, path, copy.deepcopy(_get(doc, rng.choice(paths))))
    return doc


def mutations(seed_doc: Any, n: int = FUZZ_CASES, seed: int = 0) -> Iterator[str]:
    """``n`` JSON texts made from ``seed_doc`` (see the module docstring)."""
    rng = random.Random(seed)
    for i in range(n):
        roll = rng.random()
        if roll < 0.04:
            depth = rng.choice([100, 1000, 100_000])
            yield "[" * depth + "]" * depth if i % 2 else '{"a":' * depth + "1" + "}" * depth
        elif roll < 0.08:
            text = json.dumps(seed_doc)
            yield text[: rng.randint(0, max(0, len(text) - 1))]
        elif roll < 0.10:
            yield json.dumps(seed_doc).replace("1", "1" + "0" * rng.choice([20, 400, 5000]), 1)
        else:
            yield json.dumps(mutate(seed_doc, rng), allow_nan=True)


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Hang


def check_parser(parse: Callable[[str, int], object], texts: Iterator[str],
                 allowed: type[BaseException] | tuple[type[BaseException], ...], per_case_s: float = 10.0) -> int:
    """Run ``parse(text, case_number)`` on every text; raise AssertionError naming the first
    case that raised something other than ``allowed`` or ran longer than ``per_case_s``.
    Returns the number of cases run."""
    count = 0
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i, text in enumerate(texts):
            count += 1
            signal.setitimer(signal.ITIMER_REAL, per_case_s)
            start = time.perf_counter()
            try:
                parse(text, i)
            except allowed:
                pass
            except _Hang:
                raise AssertionError(f"case {i} ran over {per_case_s} s: {text[:300]!r}") from None
            except BaseException as exc:  # the point: anything else fails the case
                raise AssertionError(f"case {i} raised {type(exc).__name__}: {exc}\n{text[:500]!r}\n"
                                     f"{traceback.format_exc()}") from None
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            assert time.perf_counter() - start < per_case_s
    finally:
        signal.signal(signal.SIGALRM, old)
    return count

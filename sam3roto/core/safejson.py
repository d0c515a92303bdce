"""Parsing JSON a user gives (projects, prompts, Label Studio exports) without surprises.

Python's ``json`` accepts ``Infinity``/``NaN``, turns ``1e400`` into ``inf``, recurses once
per nesting level (``RecursionError`` on ``[[[[...``) and raises ``ValueError`` on an
integer of more than 4300 digits. Here every one of those is an error of the caller's
class naming the file, the file's size and depth are checked against the limits
(:mod:`sam3roto.core.limits`) before it is parsed, and numbers are finite.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from sam3roto.core import limits
from sam3roto.errors import LimitError, Sam3RotoError


class Refused(ValueError):
    """Raised inside the parser's hooks; turned into the caller's error."""


def refuse_constant(name: str) -> Any:
    """``parse_constant`` hook: ``Infinity``, ``-Infinity`` and ``NaN`` are refused."""
    raise Refused(f"{name} is not a JSON number (numbers must be finite)")


def strict_float(text: str) -> float:
    """``parse_float`` hook: a float that overflows to infinity (``1e400``) is refused."""
    value = float(text)
    if not math.isfinite(value):
        raise Refused(f"the number {text[:40]} is out of range")
    return value


def strict_int(text: str) -> int:
    """``parse_int`` hook: an integer of more than 100 digits is refused."""
    if len(text.lstrip("-")) > 100:
        raise Refused(f"an integer of {len(text.lstrip('-'))} digits is out of range")
    return int(text)


#: A JSON string (exact on valid JSON; on broken JSON :func:`nesting` may misjudge, see there).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = np.zeros(256, np.int8)
_BRACKETS[[ord("["), ord("{")]] = 1
_BRACKETS[[ord("]"), ord("}")]] = -1
_CHUNK = 1 << 20


def nesting(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside strings in JSON ``text``, without recursion:
    strings are cut out with a regular expression, the brackets counted with NumPy (a 10 MB
    project in tens of milliseconds). Exact for valid JSON; for broken JSON (an unclosed
    string) it may be off, which the parser then reports as the error it is."""
    skeleton = _STRING.sub("", text).encode("utf-8", "surrogatepass")
    depth = deepest = 0
    for start in range(0, len(skeleton), _CHUNK):
        steps = _BRACKETS[np.frombuffer(skeleton, np.uint8, min(_CHUNK, len(skeleton) - start), start)]
        levels = np.cumsum(steps, dtype=np.int64) + depth
        deepest = max(deepest, int(levels.max()))
        depth = int(levels[-1])
    return deepest


def loads(text: str, path: str | Path | None, error: type[Sam3RotoError] = Sam3RotoError) -> Any:
    """Parse ``text`` (read from ``path``, named in errors) strictly; see the module docstring."""
    limit = limits.current().json_depth
    if text.count("[") + text.count("{") > limit and nesting(text) > limit:
        raise error(f"not valid JSON: nested more than {limit} levels deep", path=path,
                    hint=limits.raise_hint("json_depth"))
    try:
        return json.loads(text, parse_constant=refuse_constant, parse_float=strict_float, parse_int=strict_int)
    except Refused as exc:
        raise error(f"not valid JSON: {exc}", path=path) from None
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON ({exc})", path=path) from None
    except (RecursionError, ValueError) as exc:
        raise error(f"not valid JSON ({type(exc).__name__}: {str(exc)[:200]})", path=path) from None


def read_text(path: str | Path, what: str, error: type[Sam3RotoError] = Sam3RotoError) -> str:
    """The text of the JSON file ``path``, checked against the ``json_bytes`` limit before it
    is read: ``error`` naming the file when it is missing, too large, a folder, unreadable or
    not UTF-8 (``what`` names the file's role, e.g. "the prompts file")."""
    path = Path(path)
    try:
        limits.check_file_bytes(path, "json_bytes", what[:1].upper() + what[1:])
    except LimitError as exc:
        raise error(exc.message, path=path, hint=exc.hint) from None
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} does not exist", path=path) from None
    except IsADirectoryError:
        raise error(f"{what} is a folder, not a file", path=path) from None
    except UnicodeDecodeError as exc:
        raise error(f"not valid JSON (not UTF-8 text: {exc.reason} at byte {exc.start})", path=path) from None
    except OSError as exc:
        raise error(f"{what} cannot be read ({exc.strerror or exc})", path=path) from None


def read(path: str | Path, what: str, error: type[Sam3RotoError] = Sam3RotoError) -> Any:
    """The parsed content of the JSON file ``path``: ``error`` naming the file when it is
    missing, too large, not UTF-8 or not strict JSON (:func:`read_text`, :func:`loads`)."""
    return loads(read_text(path, what, error), path, error)


def finite(value: object, what: str, path: str | Path | None, error: type[Sam3RotoError] = Sam3RotoError,
           low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a float when it is a finite number in ``low..high`` (bools are not
    numbers); else ``error`` saying which value (``what``) is wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{what} must be a number, not {_show(value)}", path=path)
    try:
        number = float(value)
    except OverflowError:
        raise error(f"{what} is out of range ({_show(value)})", path=path) from None
    if not math.isfinite(number) or not low <= number <= high:
        raise error(f"{what} is {_show(value)}, outside {_bound(low)}..{_bound(high)}", path=path)
    return number


def whole(value: object, what: str, path: str | Path | None, error: type[Sam3RotoError] = Sam3RotoError,
          low: int = -(2**53), high: int = 2**53) -> int:
    """``value`` as an int when it is a whole number in ``low..high`` (``3.0`` counts)."""
    number = finite(value, what, path, error, low, high)
    if number != int(number):
        raise error(f"{what} must be a whole number, not {_show(value)}", path=path)
    return int(number)


def _bound(value: float) -> str:
    return "" if math.isinf(value) else (str(int(value)) if value == int(value) else str(value))


def _show(value: object) -> str:
    try:
        text = json.dumps(value) if isinstance(value, (int, float, str, bool, type(None))) else type(value).__name__
    except ValueError:  # an integer too long to print
        text = "a number too long to print"
    return text if len(text) <= 40 else text[:37] + "..."

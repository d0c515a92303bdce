"""Reading a JSON file a user gives, with errors that name the file and the place in it.

As strict as :mod:`sam3roto.core.safejson` (the same number rules: no ``Infinity``/``NaN``,
finite floats, integers of at most 100 digits; the file-size and nesting-depth limits of
:mod:`sam3roto.core.limits`), with these additions for interchange files:

* a refused number is *located*: the file is parsed once more, leniently, and the error
  says where the value sits (``task 7, result r2 (polygonlabels): value.points[3][0]``)
  through a ``locate`` callback the caller gives;
* a file whose top level is a list (a Label Studio export) can be read element by element
  (:func:`iter_list`), so only one element's Python objects exist at a time and each
  element is remembered by its place in the text;
* the nesting depth is measured with a regular expression and NumPy rather than a Python
  loop over every character, and ASCII text is scanned with NumPy for the tokens a refused
  number needs (a run of over 100 digits, an exponent of three digits or more): parts
  without one are parsed by the json module's C fast paths, the rest with the strict hooks.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sam3roto.core import limits, safejson

# The strict number rules are safejson's hooks, so both readers refuse the same values.
from sam3roto.core.safejson import Refused, refuse_constant, strict_float, strict_int
from sam3roto.errors import Sam3RotoError

#: Longest object name (a label, a prompts file's object) an interchange file may give: names
#: become file and folder names in renders, and a project file admits no longer ones.
MAX_NAME_CHARS = 100

#: Keys and list indices from a document's root to one value.
KeyPath = tuple[str | int, ...]
#: Names the place of a refused value: given its key path inside the document (or the list
#: element) and that document parsed leniently (refused numbers as :class:`BadNumber`),
#: returns e.g. ``"task 7, result r2 (polygonlabels): value.points[3][0]"``.
Locate = Callable[[KeyPath, Any], str]


class BadNumber:
    """A refused number in a leniently parsed document; ``reason`` says why."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return "<refused number>"


def _lenient(hook: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return hook(text)
        except Refused as exc:
            return BadNumber(str(exc))

    return parse


_STRICT = json.JSONDecoder(parse_constant=refuse_constant, parse_float=strict_float, parse_int=strict_int)
# Floats and integers by the C fast paths; only for text without a suspect token (see _suspects).
_FAST = json.JSONDecoder(parse_constant=refuse_constant)
_LENIENT = json.JSONDecoder(parse_constant=_lenient(refuse_constant), parse_float=_lenient(strict_float),
                            parse_int=_lenient(strict_int))
_SPACE = re.compile(r"[ \t\n\r]*")
_CHUNK = 1 << 20
_LOOKAHEAD = 112  # characters past a chunk that _suspects looks at (101 digits and some)
# Each byte's class for _suspects: digits "1", e/E "e", signs "s", anything else "0".
_CLASSES = bytes(ord("1") if chr(c).isdigit() and c < 128 else ord("e") if chr(c) in "eE"
                 else ord("s") if chr(c) in "+-" else ord("0") for c in range(256))
_LONG_RUN = b"1" * 101
_DIGIT, _E, _SIGN = ord("1"), ord("e"), ord("s")


def read_json(path: str | Path, what: str, error: type[Sam3RotoError] = Sam3RotoError,
              locate: Locate | None = None) -> Any:
    """The parsed content of ``path``; ``error`` naming the file when it is missing, over the
    size or depth limits, or is not strict JSON (``what`` names the file's role, e.g. "the
    prompts file"), and naming the place of a refused number through ``locate``."""
    return loads(read_text(path, what, error), path, error, locate)


def read_text(path: str | Path, what: str, error: type[Sam3RotoError] = Sam3RotoError) -> str:
    """The text of ``path``, checked against the ``json_bytes`` limit before it is read
    (:func:`safejson.read_text`)."""
    return safejson.read_text(path, what, error)


def loads(text: str, path: str | Path | None, error: type[Sam3RotoError] = Sam3RotoError,
          locate: Locate | None = None) -> Any:
    """``text`` (read from ``path``) parsed strictly; see the module docstring."""
    try:
        value, end = _decode(text, _skip(text, 0), _suspects(text))
        if _skip(text, end) != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
    except Refused as exc:
        raise error(f"not valid JSON: {_where_refused(text, _skip(text, 0), locate, str(exc))}", path=path) from None
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON ({exc})", path=path) from None
    except RecursionError:
        raise _too_deep(error, path, "") from None
    except ValueError as exc:
        raise error(f"not valid JSON ({type(exc).__name__}: {str(exc)[:200]})", path=path) from None
    check_depth(text, 0, len(text), path, error, "")
    return value


def iter_list(text: str, path: str | Path, error: type[Sam3RotoError], item: Callable[[int], str],
              locate: Callable[[int], Locate]) -> Iterator[tuple[int, Any, int, int]] | None:
    """When ``text``'s top level is a list, its elements one by one as ``(index, value,
    start, end)`` (``text[start:end]`` is the element's JSON); None otherwise. ``item(n)``
    names element ``n`` in errors ("task #3"), ``locate(n)`` locates a refused number in it.
    The list's own nesting level counts towards the depth limit."""
    start = _skip(text, 0)
    if text[start:start + 1] != "[":
        return None
    return _elements(text, start + 1, path, error, item, locate)


def _elements(text: str, pos: int, path: str | Path, error: type[Sam3RotoError], item: Callable[[int], str],
              locate: Callable[[int], Locate]) -> Iterator[tuple[int, Any, int, int]]:
    pos = _skip(text, pos)
    n = 0
    limit = limits.current().json_depth
    suspects = _suspects(text)
    if text[pos:pos + 1] == "]":
        pos = _skip(text, pos + 1)
    else:
        while True:
            try:
                value, end = _decode(text, pos, suspects)
            except Refused as exc:
                raise error(f"not valid JSON: {_where_refused(text, pos, locate(n), str(exc))}", path=path) from None
            except json.JSONDecodeError as exc:
                raise error(f"not valid JSON in {item(n)} ({exc})", path=path) from None
            except RecursionError:
                raise _too_deep(error, path, f" in {item(n)}") from None
            except ValueError as exc:
                raise error(f"not valid JSON in {item(n)} ({type(exc).__name__}: {str(exc)[:200]})",
                            path=path) from None
            check_depth(text, pos, end, path, error, f" in {item(n)}", outer=1, limit=limit)
            yield n, value, pos, end
            del value
            n += 1
            pos = _skip(text, end)
            if text[pos:pos + 1] == ",":
                pos = _skip(text, pos + 1)
                continue
            if text[pos:pos + 1] == "]":
                pos = _skip(text, pos + 1)
                break
            expecting = _decode_error(text, pos, "Expecting ',' delimiter")
            raise error(f"not valid JSON ({expecting})", path=path)
    if pos != len(text):
        raise error(f"not valid JSON ({_decode_error(text, pos, 'Extra data')})", path=path)


def _decode(text: str, pos: int, suspects: list[int] | None) -> tuple[Any, int]:
    """The JSON value at ``text[pos:]`` and where it ends: by the fast decoder when no
    suspect token lies in it, else (and for any error) by the strict one."""
    if suspects is not None:
        try:
            value, end = _FAST.raw_decode(text, pos)
        except (ValueError, RecursionError):
            pass  # the strict decoder says what is wrong
        else:
            k = bisect.bisect_left(suspects, pos)
            if k == len(suspects) or suspects[k] >= end:
                return value, end
    return _STRICT.raw_decode(text, pos)


def _suspects(text: str) -> list[int] | None:
    """Sorted positions in ``text`` where a number the strict rules refuse may start: a run
    of more than 100 digits, or ``e``/``E`` with an exponent of three digits or more (no
    other number can be too long or overflow a float). None when ``text`` is not ASCII
    (positions would not be character indices): then everything is parsed strictly."""
    if not text.isascii():
        return None
    found: list[int] = []
    for a in range(0, len(text), _CHUNK):
        owned = min(_CHUNK, len(text) - a)  # positions this chunk reports; it sees a little further
        classes = text[a : a + owned + _LOOKAHEAD].encode("ascii").translate(_CLASSES) + b"0000"
        i = classes.find(_LONG_RUN)
        while 0 <= i < owned:
            found.append(a + i)
            i = classes.find(_LONG_RUN, i + len(_LONG_RUN))
        c = np.frombuffer(classes, np.uint8)
        e = np.flatnonzero(c[:owned] == _E)
        d1, d2, d3, d4 = (c[e + k] == _DIGIT for k in range(1, 5))
        found.extend((e[(d1 & d2 & d3) | ((c[e + 1] == _SIGN) & d2 & d3 & d4)] + a).tolist())
    found.sort()
    return found


def decode_at(text: str, start: int) -> Any:
    """The JSON value at ``text[start:]``, which :func:`iter_list` has already checked."""
    return _STRICT.raw_decode(text, start)[0]


def check_depth(text: str, start: int, end: int, path: str | Path | None, error: type[Sam3RotoError], where: str,
                outer: int = 0, limit: int | None = None) -> None:
    """Refuse ``text[start:end]`` (valid JSON) when it nests deeper than ``limit`` (the
    ``json_depth`` limit by default; ``outer`` levels already enclose it)."""
    if limit is None:
        limit = limits.current().json_depth
    if text.count("[", start, end) + text.count("{", start, end) + outer <= limit:
        return
    if nesting(text[start:end]) + outer > limit:
        raise _too_deep(error, path, where, limit)


def nesting(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in valid JSON ``text`` (:func:`safejson.nesting`)."""
    return safejson.nesting(text)


def keypath_text(keys: KeyPath) -> str:
    """``("value", "points", 3, 0)`` -> ``"value.points[3][0]"``."""
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "the top level"


def kind_of(value: Any) -> str:
    """What a JSON value is, for a message: "an object", "a list", "a string", "null"..."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def show(value: Any, limit: int = 40) -> str:
    """A JSON value as text for a message, at most ``limit`` characters (a long list or
    object is named by its kind, a huge integer by its number of digits)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None:
        text = "null" if value is None else str(value).lower()
    elif isinstance(value, int):
        digits = int(value.bit_length() * 0.30103)
        text = str(value) if digits < 60 else f"a number of about {digits} digits"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list | dict) and len(value) < 8:
        text = repr(value)
    else:
        text = kind_of(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def show_value(value: Any, limit: int = 40) -> str:
    """Like :func:`show`, with strings in quotes (a value, not a name)."""
    if isinstance(value, str):
        text = json.dumps(value)
        return text if len(text) <= limit else text[: limit - 4] + '..."'
    return show(value, limit)


def find_bad(doc: Any) -> tuple[KeyPath, BadNumber] | None:
    """The first :class:`BadNumber` in ``doc`` and its key path (iteratively: no recursion)."""
    stack: list[tuple[KeyPath, Any]] = [((), doc)]
    while stack:
        keys, node = stack.pop()
        if isinstance(node, BadNumber):
            return keys, node
        if isinstance(node, dict):
            stack.extend(((*keys, k), v) for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend(((*keys, i), v) for i, v in reversed(list(enumerate(node))))
    return None


def _where_refused(text: str, start: int, locate: Locate | None, reason: str) -> str:
    try:
        doc, _ = _LENIENT.raw_decode(text, start)
    except (ValueError, RecursionError):  # another fault comes first; the reason alone then
        return reason
    found = find_bad(doc)
    if found is None:
        return reason
    keys, bad = found
    place = locate(keys, doc) if locate is not None else keypath_text(keys)
    return f"{place}: {bad.reason}"


def _skip(text: str, pos: int) -> int:
    return _SPACE.match(text, pos).end()  # type: ignore[union-attr]  # matches the empty string


def _decode_error(text: str, pos: int, message: str) -> str:
    return str(json.JSONDecodeError(message, text, pos))


def _too_deep(error: type[Sam3RotoError], path: str | Path | None, where: str,
              limit: int | None = None) -> Sam3RotoError:
    limit = limits.current().json_depth if limit is None else limit
    return error(f"not valid JSON{where}: nested more than {limit} levels deep", path=path,
                 hint=limits.raise_hint("json_depth"))

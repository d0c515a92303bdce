"""Reading a JSON file a user gives, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sam3roto.core import safejson
from sam3roto.errors import Sam3RotoError


def read_json(path: str | Path, what: str, error: type[Sam3RotoError] = Sam3RotoError) -> Any:
    """The parsed content of ``path``; ``error`` naming the file when it is missing, over the
    size or depth limits, or is not strict JSON (``what`` names the file's role, e.g. "the
    prompts file"). See :mod:`sam3roto.core.safejson`."""
    return safejson.read(path, what, error)

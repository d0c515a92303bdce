"""Reading a JSON file a user gives, with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sam3roto.errors import Sam3RotoError


def read_json(path: str | Path, what: str, error: type[Sam3RotoError] = Sam3RotoError) -> Any:
    """The parsed content of ``path``; ``error`` naming the file when it is missing or is
    not valid JSON (``what`` names the file's role, e.g. "the prompts file")."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} does not exist", path=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"not valid JSON ({exc})", path=path) from None

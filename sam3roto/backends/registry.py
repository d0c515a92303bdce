"""Engines by name, imported on first use so ``import sam3roto`` stays light."""

from __future__ import annotations

import importlib
from typing import Any

from sam3roto.backends.base import Engine
from sam3roto.errors import EngineError

#: name -> "module:Class". The first entry is the default.
SEGMENTATION_ENGINES: dict[str, str] = {
    "classic": "sam3roto.backends.classic:ClassicEngine",
    "sam3": "sam3roto.backends.sam3:Sam3Engine",
}
DEFAULT_ENGINE = "classic"


def engine_class(name: str) -> type[Engine]:
    """The engine class registered as ``name`` (imports its module)."""
    try:
        target = SEGMENTATION_ENGINES[name]
    except KeyError:
        raise EngineError(
            f"unknown engine {name!r}", hint=f"choose one of: {', '.join(SEGMENTATION_ENGINES)}"
        ) from None
    module_name, _, class_name = target.partition(":")
    cls: type[Engine] = getattr(importlib.import_module(module_name), class_name)
    return cls


def create_engine(name: str = DEFAULT_ENGINE, **options: Any) -> Engine:
    """Build engine ``name`` with its keyword ``options`` (for example ``device=``)."""
    return engine_class(name)(**options)


def engine_choices() -> list[tuple[str, str]]:
    """``(name, label)`` of every registered engine, the default first: the window's engine
    list and the CLI's ``--engine`` choices come from here."""
    return [(name, engine_class(name).label or name) for name in SEGMENTATION_ENGINES]

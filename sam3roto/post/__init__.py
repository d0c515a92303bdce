"""The matte and RGB post stack: pure numpy/OpenCV functions with explicit keyword
parameters (``matte``, ``sources``, ``temporal``, ``rgb``), one frozen
:class:`PostSettings`, and :func:`apply` / :func:`apply_sequence` composing them.

Importing this package is cheap; OpenCV loads with the submodules, pymatting (numba) only
when closed-form matting or ML edge extend runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sam3roto.post.settings import PostSettings
    from sam3roto.post.stack import PostResult, apply, apply_sequence, refine

__all__ = ["PostResult", "PostSettings", "apply", "apply_sequence", "refine"]


def __getattr__(name: str) -> Any:
    if name == "PostSettings":
        from sam3roto.post.settings import PostSettings

        return PostSettings
    if name in ("PostResult", "apply", "apply_sequence", "refine"):
        from sam3roto.post import stack

        return getattr(stack, name)
    raise AttributeError(name)

"""Validation shared by the post functions: clear ``ValueError``/``TypeError`` naming the
parameter, its shape or dtype, and what is allowed (docs/DESIGN.md section 7, rule 9)."""

from __future__ import annotations

import math

import numpy as np

from sam3roto.core.pixels import to_float


def _check_2d(array: np.ndarray, name: str, dtype: type, wanted: str) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (H, W), got shape {array.shape}")
    if array.dtype != dtype:
        raise TypeError(f"{name} must be {wanted}, got dtype {array.dtype}")
    return array


def check_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    """``mask`` must be ``bool (H, W)``."""
    return _check_2d(mask, name, np.bool_, "bool (H, W) (use matte > 0.5 for a matte)")


def check_matte(matte: np.ndarray, name: str = "matte") -> np.ndarray:
    """``matte`` must be ``float32 (H, W)``; values are expected in [0, 1] (not scanned, for speed)."""
    return _check_2d(matte, name, np.float32, "float32 (H, W) in [0, 1]")


def check_rgb(rgb: np.ndarray, name: str = "image") -> np.ndarray:
    """``rgb`` must be ``float32 (H, W, 3)`` (linear or display-referred, values in [0, 1]
    for display-referred footage; float EXR values above 1 are allowed)."""
    if not isinstance(rgb, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"{name} must be (H, W, 3) RGB, got shape {rgb.shape}")
    if rgb.dtype != np.float32:
        raise TypeError(f"{name} must be float32 (H, W, 3), got dtype {rgb.dtype}; see post.to_float_rgb")
    return rgb


def check_same_size(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(
            f"{a_name} is {a.shape[1]}x{a.shape[0]} but {b_name} is {b.shape[1]}x{b.shape[0]}; they must match"
        )


def check_range(name: str, value: float, low: float, high: float, *, integer: bool = False) -> None:
    """``low <= value <= high`` (and an int when ``integer``)."""
    span = f"[{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in {span}, got {value!r}")
    if integer and not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number in {span}, got {value}")
    if not math.isfinite(float(value)) or not low <= value <= high:
        raise ValueError(f"{name} must be in {span}, got {value}")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_rgb_source(image: np.ndarray, name: str = "image") -> np.ndarray:
    """``image`` must be a source frame: ``(H, W, 3)`` uint8, uint16 or float."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"{name} must be an (H, W, 3) RGB array, got shape {shape}")
    if image.dtype not in (np.uint8, np.uint16, np.float16, np.float32, np.float64):
        raise TypeError(f"{name} has dtype {image.dtype}; expected uint8, uint16 or float")
    return image


def to_float_rgb(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Any source frame (``uint8``, ``uint16``, float) as ``float32 (H, W, 3)`` in [0, 1] for
    integer input (float input is passed through as float32)."""
    check_rgb_source(image, name)
    return to_float(image)

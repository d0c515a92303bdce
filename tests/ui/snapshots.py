"""Screen grabs of widgets and golden-image comparisons for the window tests."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

GOLDEN = Path(__file__).parent / "golden"


def grab_rgb(widget: object) -> np.ndarray:
    """``uint8 (H, W, 3)`` RGB of what ``widget`` shows."""
    grabbed = widget.grab().toImage()  # type: ignore[attr-defined]
    image = grabbed.convertToFormat(grabbed.Format.Format_RGB888)
    rows = np.array(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def match_golden(name: str, shot: np.ndarray) -> None:
    """``shot`` must match ``golden/NAME`` (fewer than 0.2% of the pixels off by more than
    24 levels: fonts and anti-aliasing vary between machines); SAM3ROTO_REGEN_GOLDEN=1
    writes the golden image from this run instead."""
    path = GOLDEN / name
    if os.environ.get("SAM3ROTO_REGEN_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        cv2.imwrite(str(path), shot[..., ::-1])
    golden = cv2.imread(str(path))
    assert golden is not None, f"missing {path}: run with SAM3ROTO_REGEN_GOLDEN=1"
    golden = golden[..., ::-1]
    assert golden.shape == shot.shape
    diff = np.abs(golden.astype(np.int16) - shot.astype(np.int16)).max(axis=2)
    assert (diff > 24).mean() < 0.002, f"{(diff > 24).mean():.4f} of the pixels differ from {name}"

"""numpy -> QImage, in exactly one place."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def to_qimage(rgb: np.ndarray) -> QImage:
    """A ``uint8 (H, W, 3)`` RGB or ``(H, W, 4)`` RGBA array as a QImage that owns its
    pixels (the array may be freed afterwards)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError(f"expected uint8 (H, W, 3|4), got {rgb.dtype} {rgb.shape}")
    data = np.ascontiguousarray(rgb)
    h, w, c = data.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    return QImage(data.data, w, h, w * c, fmt).copy()

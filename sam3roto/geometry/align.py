"""Aligning overlapping groups of frames (chunks) estimated separately.

Each chunk of a multi-view depth run has its own world frame and scale. Frames shared by
two consecutive chunks (the overlap) are seen in both: their depth gives the scale ratio,
and their cameras give the rotation and translation that carry the new chunk's world into
the global one, so the camera path and depth stay continuous over a long shot.
"""

from __future__ import annotations

import numpy as np


def depth_scale(reference: np.ndarray, other: np.ndarray, valid: np.ndarray | None = None) -> float:
    """The factor ``s`` with ``reference ~= s * other``: the median of their ratio over
    pixels valid in both (positive, finite and ``valid``). Arrays ``(..., H, W)`` float."""
    ok = np.isfinite(reference) & np.isfinite(other) & (reference > 0) & (other > 0)
    if valid is not None:
        ok &= valid
    if ok.sum() < 16:
        raise ValueError("too few pixels with valid depth in the overlap to align the chunks")
    return float(np.median(reference[ok] / other[ok]))


def _nearest_rotation(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def similarity_from_cameras(reference_w2c: np.ndarray, other_w2c: np.ndarray, scale: float
                            ) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` with ``X_ref = scale * A @ X_other + b`` from the same frames' cameras in
    both worlds (``(K, 4, 4)`` world-to-camera each). Rotations are averaged (chordal mean),
    translations averaged."""
    rp, tp = reference_w2c[:, :3, :3], reference_w2c[:, :3, 3]
    rn, tn = other_w2c[:, :3, :3], other_w2c[:, :3, 3]
    a_each = np.swapaxes(rp, 1, 2) @ rn
    b_each = np.einsum("kji,kj->ki", rp, scale * tn - tp)
    return _nearest_rotation(a_each.sum(axis=0)), b_each.mean(axis=0)


def apply_similarity(w2c: np.ndarray, scale: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cameras of the other world ``(N, 4, 4)`` expressed in the reference world, for depth
    multiplied by ``scale`` (see :func:`similarity_from_cameras`)."""
    out = np.array(w2c, dtype=np.float64, copy=True)
    r, t = out[:, :3, :3], out[:, :3, 3]
    r_new = r @ a.T
    out[:, :3, 3] = scale * t - r_new @ b
    out[:, :3, :3] = r_new
    return out


def align_chunk(reference_w2c: np.ndarray, reference_depth: np.ndarray, chunk_w2c: np.ndarray,
                chunk_depth: np.ndarray, overlap: int, valid: np.ndarray | None = None
                ) -> tuple[np.ndarray, float]:
    """Bring a chunk into the reference world. ``reference_*`` hold the ``overlap`` shared
    frames as already aligned; the chunk's first ``overlap`` frames are the same frames.
    Returns the chunk's cameras in the reference world and the depth scale to apply."""
    if overlap < 1:
        raise ValueError("chunks need at least one shared frame to be aligned")
    s = depth_scale(reference_depth, chunk_depth[:overlap], valid)
    a, b = similarity_from_cameras(reference_w2c, chunk_w2c[:overlap], s)
    return apply_similarity(chunk_w2c, s, a, b), s

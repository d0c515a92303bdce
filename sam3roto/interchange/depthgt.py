"""Ground-truth depth samples in the Metric3D ``test_annotations.json`` layout (NYU-Depth-v2,
KITTI), and the standard depth-error measures to score predictions against them.

An annotations file lists ``{"rgb", "depth", "cam_in": [fx, fy, cx, cy], "depth_scale"}``
per sample; paths are as Metric3D writes them (``data/nyu_demo/rgb/x.jpg``), found beside the
annotations file or a few folders up. Ground-truth PNGs are 16-bit; ``value / depth_scale`` is
metres and 0 means no measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sam3roto.errors import Sam3RotoError
from sam3roto.interchange.jsonfile import read_json


@dataclass(frozen=True)
class DepthSample:
    """``rgb`` ``uint8 (H, W, 3)``; ``depth_m`` ``float32 (H, W)``, 0 = no measurement;
    ``intrinsics`` ``float64 (3, 3)`` in pixels."""

    name: str
    rgb: np.ndarray
    depth_m: np.ndarray
    intrinsics: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        return self.depth_m > 0


def _locate(annotations: Path, relative: str) -> Path:
    rel = Path(relative)
    # Metric3D writes "data/nyu_demo/rgb/x.jpg": try it whole and without "data/<set>/"
    tails = [rel] + ([Path(*rel.parts[2:])] if len(rel.parts) > 2 else [])
    for base in (annotations.parent, *list(annotations.parents)[:3]):
        for tail in tails:
            if (base / tail).is_file():
                return base / tail
    raise Sam3RotoError(f"the file {relative!r} it lists does not exist", path=annotations)


def read_depth_samples(annotations: str | Path) -> list[DepthSample]:
    """Every sample of a Metric3D-style annotations file, decoded."""
    path = Path(annotations)
    data = read_json(path, "the depth annotations file", Sam3RotoError)
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise Sam3RotoError('expected {"files": [...]} (Metric3D test_annotations.json)', path=path)
    out = []
    for i, item in enumerate(data["files"]):
        try:
            fx, fy, cx, cy = (float(v) for v in item["cam_in"])
            scale = float(item["depth_scale"])
            rgb_path, depth_path = _locate(path, item["rgb"]), _locate(path, item["depth"])
        except (KeyError, TypeError, ValueError) as exc:
            raise Sam3RotoError(f"sample {i}: needs rgb, depth, cam_in [fx, fy, cx, cy] and depth_scale ({exc})",
                                path=path) from None
        bgr = cv2.imread(str(rgb_path), cv2.IMREAD_COLOR)
        raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
        if bgr is None or raw is None:
            raise Sam3RotoError("cannot be decoded as an image", path=rgb_path if bgr is None else depth_path)
        if raw.dtype != np.uint16 or raw.ndim != 2:
            raise Sam3RotoError(f"ground-truth depth must be a 16-bit grey PNG, got {raw.dtype} {raw.shape}",
                                path=depth_path)
        if raw.shape != bgr.shape[:2]:
            raise Sam3RotoError(f"depth is {raw.shape[1]}x{raw.shape[0]} but the image is "
                                f"{bgr.shape[1]}x{bgr.shape[0]}", path=depth_path)
        k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        out.append(DepthSample(rgb_path.stem, np.ascontiguousarray(bgr[..., ::-1]),
                               (raw.astype(np.float32) / np.float32(scale)), k))
    return out


def depth_errors(pred: np.ndarray, truth_m: np.ndarray, *, align: str = "median") -> dict[str, float]:
    """AbsRel, RMSE (metres) and delta < 1.25 over pixels with ground truth and a valid
    prediction. ``align="median"`` scales a relative prediction by the ratio of medians
    (the usual protocol for scale-free depth); ``"none"`` scores metric depth as is."""
    if pred.shape != truth_m.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from the ground truth's {truth_m.shape}")
    ok = (truth_m > 0) & np.isfinite(pred) & (pred > 0)
    if not ok.any():
        raise ValueError("no pixel has both ground truth and a valid prediction")
    p, t = pred[ok].astype(np.float64), truth_m[ok].astype(np.float64)
    if align == "median":
        p = p * (np.median(t) / np.median(p))
    elif align != "none":
        raise ValueError(f"align must be 'median' or 'none', got {align!r}")
    ratio = np.maximum(p / t, t / p)
    return {"abs_rel": float(np.mean(np.abs(p - t) / t)), "rmse_m": float(np.sqrt(np.mean((p - t) ** 2))),
            "delta1": float(np.mean(ratio < 1.25)), "pixels": float(ok.sum())}

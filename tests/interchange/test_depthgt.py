"""The ground-truth depth reader on the real Metric3D samples (NYU and KITTI) in
../shared/data, and the depth-error measures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sam3roto.errors import Sam3RotoError
from sam3roto.geometry.pointcloud import frame_points
from sam3roto.interchange.depthgt import depth_errors, read_depth_samples


def test_nyu_samples_decode_to_metres_with_intrinsics(shared_data: Path) -> None:
    samples = read_depth_samples(shared_data / "metric3d_depth_gt" / "nyu_demo" / "test_annotations.json")
    assert len(samples) == 3
    for s in samples:
        assert s.rgb.shape == (480, 640, 3) and s.rgb.dtype == np.uint8
        assert s.depth_m.shape == (480, 640) and s.depth_m.dtype == np.float32
        assert 0.6 <= s.valid.mean() <= 0.8  # PROVENANCE: 67-75 % valid
        assert 0.3 < float(np.median(s.depth_m[s.valid])) < 10.0  # indoor rooms, metres
        assert s.intrinsics[0, 0] == pytest.approx(518.8579)
        # the real intrinsics back-project a room a few metres across
        pts = frame_points(s.depth_m, s.intrinsics, np.eye(4), stride=8)
        width = np.percentile(pts.xyz[:, 0], 95) - np.percentile(pts.xyz[:, 0], 5)
        assert 1.0 < width < 10.0


def test_kitti_lidar_is_sparse(shared_data: Path) -> None:
    samples = read_depth_samples(shared_data / "metric3d_depth_gt" / "kitti_demo" / "test_annotations.json")
    assert len(samples) == 3
    for s in samples:
        assert s.depth_m.shape == (375, 1242) and 0.15 <= s.valid.mean() <= 0.25
        assert float(s.depth_m.max()) < 120.0  # depth_scale 256: metres


def test_depth_errors_and_median_alignment() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(1, 5, (20, 30)).astype(np.float32)
    truth[:3] = 0
    perfect = depth_errors(truth, truth)
    assert perfect["abs_rel"] == 0 and perfect["delta1"] == 1 and perfect["pixels"] == 17 * 30
    # a relative prediction off by a global scale is perfect after median alignment, not without
    assert depth_errors(truth * 3.0, truth)["abs_rel"] == pytest.approx(0, abs=1e-6)
    assert depth_errors(truth * 3.0, truth, align="none")["abs_rel"] == pytest.approx(2.0, rel=1e-5)
    with pytest.raises(ValueError, match="no pixel"):
        depth_errors(np.zeros_like(truth), truth)


def test_bad_annotations_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "a.json"
    bad.write_text(json.dumps({"files": [{"rgb": "x.png", "depth": "y.png", "cam_in": [1, 1, 1, 1],
                                          "depth_scale": 1000}]}))
    with pytest.raises(Sam3RotoError, match=r"'x\.png' it lists does not exist") as e:
        read_depth_samples(bad)
    assert str(bad) in str(e.value)
    bad.write_text("[]")
    with pytest.raises(Sam3RotoError, match="expected"):
        read_depth_samples(bad)

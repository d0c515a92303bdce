"""Geometry against analytic cases: back-projection, normals of planes, point cloud
filters, camera conventions, Nuke Euler angles and chunk alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sam3roto.geometry.align import align_chunk, depth_scale
from sam3roto.geometry.camera import (
    camera_to_world_gl,
    chan_line,
    euler_zxy_degrees,
    invert_rigid,
    points_to_gl,
    rotation_zxy,
    vertical_fov_degrees,
)
from sam3roto.geometry.normals import encode_normals, normals_from_depth, to_gl
from sam3roto.geometry.pointcloud import PointSet, backproject, frame_points
from sam3roto.geometry.preview import depth_preview, depth_range, normals_preview

K = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 24.0], [0.0, 0.0, 1.0]])


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def test_backproject_known_intrinsics_gives_known_points() -> None:
    depth = np.full((48, 64), 2.0, np.float32)
    pts = backproject(depth, K)
    assert pts.shape == (48, 64, 3) and pts.dtype == np.float32
    # pixel (u=31, v=23) has its centre at (31.5, 23.5): half a pixel left/up of the principal point
    np.testing.assert_allclose(pts[23, 31], [2.0 * -0.5 / 100, 2.0 * -0.5 / 100, 2.0], rtol=1e-6)
    np.testing.assert_allclose(pts[0, 0], [2.0 * (0.5 - 32) / 100, 2.0 * (0.5 - 24) / 100, 2.0], rtol=1e-6)
    with pytest.raises(ValueError, match="positive focal"):
        backproject(depth, np.zeros((3, 3)))


def test_normals_of_a_fronto_parallel_plane_face_the_camera() -> None:
    depth = np.full((48, 64), 3.0, np.float32)
    n = normals_from_depth(depth, K)
    assert n.shape == (48, 64, 3) and n.dtype == np.float32
    np.testing.assert_allclose(n[5:-5, 5:-5], np.broadcast_to([0, 0, -1], (38, 54, 3)), atol=1e-5)
    gl = to_gl(n)
    np.testing.assert_allclose(gl[10, 10], [0, 0, 1], atol=1e-5)
    np.testing.assert_allclose(encode_normals(gl)[10, 10], [0.5, 0.5, 1.0], atol=1e-5)


def test_normals_of_a_tilted_plane_match_the_plane() -> None:
    # the plane z = 2 + 0.5 x (camera space) has normal ~ (0.5, 0, -1), facing the camera
    h, w = 48, 64
    _, u = np.mgrid[0:h, 0:w] + 0.5
    ray_x = (u - K[0, 2]) / K[0, 0]
    depth = (2.0 / (1.0 - 0.5 * ray_x)).astype(np.float32)  # z = 2 + 0.5 * z * ray_x
    n = normals_from_depth(depth, K)
    expected = np.array([0.5, 0.0, -1.0]) / math.sqrt(1.25)
    np.testing.assert_allclose(n[10:-10, 10:-10].reshape(-1, 3).mean(0), expected, atol=1e-3)


def test_normals_are_zero_where_depth_is_unknown() -> None:
    depth = np.full((20, 20), 2.0, np.float32)
    depth[5, 5] = 0.0
    depth[10, 10] = np.nan
    n = normals_from_depth(depth, K)
    assert not n[5, 5].any() and not n[4, 5].any() and not n[10, 10].any()
    assert np.isfinite(n).all()


def test_frame_points_with_identity_camera_equal_backprojection_and_filters_work() -> None:
    rng = np.random.default_rng(1)
    depth = rng.uniform(1, 5, (48, 64)).astype(np.float32)
    conf = rng.uniform(0, 1, (48, 64)).astype(np.float32)
    rgb = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    all_pts = frame_points(depth, K, np.eye(4), rgb=rgb, confidence=conf)
    assert len(all_pts) == 48 * 64
    np.testing.assert_allclose(all_pts.xyz, backproject(depth, K).reshape(-1, 3), rtol=1e-6)
    assert (all_pts.rgb == rgb.reshape(-1, 3)).all()
    confident = frame_points(depth, K, np.eye(4), confidence=conf, min_confidence=0.5)
    assert len(confident) == int((conf >= 0.5).sum()) and confident.confidence.min() >= 0.5
    assert len(frame_points(depth, K, np.eye(4), stride=4)) == 12 * 16
    matte = np.zeros((48, 64), np.float32)
    matte[10:20, 10:30] = 1.0
    inside = frame_points(depth, K, np.eye(4), matte=matte, keep="object")
    outside = frame_points(depth, K, np.eye(4), matte=matte, keep="background")
    assert len(inside) == 200 and len(inside) + len(outside) == 48 * 64
    with pytest.raises(ValueError, match="needs an object matte"):
        frame_points(depth, K, np.eye(4), keep="object")


def test_frame_points_land_in_one_world_from_two_cameras() -> None:
    rng = np.random.default_rng(2)
    world = np.array([[0.3, -0.2, 4.0]])
    for _ in range(3):
        w2c = np.eye(4)
        w2c[:3, :3] = random_rotation(rng) if _ else np.eye(3)
        w2c[:3, 3] = [0.1, 0.2, 0.0] if _ else 0.0
        cam = w2c[:3, :3] @ world[0] + w2c[:3, 3]
        if cam[2] <= 0:
            continue
        u, v = K[0, 0] * cam[0] / cam[2] + K[0, 2], K[1, 1] * cam[1] / cam[2] + K[1, 2]
        # a depth map holding that point at its (continuous) pixel centre
        k = K.copy()
        k[0, 2] += 31.5 - u
        k[1, 2] += 23.5 - v
        depth = np.zeros((48, 64), np.float32)
        depth[23, 31] = cam[2]
        pts = frame_points(depth, k, w2c)
        np.testing.assert_allclose(pts.xyz[0], world[0], atol=1e-5)


def test_pointset_limit_is_repeatable_and_bounded() -> None:
    pts = PointSet(np.arange(300, dtype=np.float32).reshape(100, 3), np.zeros((100, 3), np.uint8),
                   np.ones(100, np.float32))
    a, b = pts.limit(10, seed=3), pts.limit(10, seed=3)
    assert len(a) == 10 and (a.xyz == b.xyz).all()
    assert len(PointSet.concatenate([pts, a])) == 110


def test_first_camera_at_identity_becomes_a_y_up_camera_at_the_origin() -> None:
    np.testing.assert_allclose(camera_to_world_gl(np.eye(4)), np.eye(4))
    # a camera one unit forward (+Z OpenCV) sits at z = -1 in the GL world
    w2c = np.eye(4)
    w2c[2, 3] = -1.0
    np.testing.assert_allclose(camera_to_world_gl(w2c)[:3, 3], [0, 0, -1], atol=1e-12)
    # a point in front of the first camera lies on -Z in the GL world
    np.testing.assert_allclose(points_to_gl(np.array([[0.0, 1.0, 5.0]])), [[0.0, -1.0, -5.0]])


def test_gl_camera_maps_gl_points_like_the_opencv_camera_maps_opencv_points() -> None:
    rng = np.random.default_rng(4)
    w2c = np.eye(4)
    w2c[:3, :3] = random_rotation(rng)
    w2c[:3, 3] = rng.normal(size=3)
    point_cv = rng.normal(size=3)
    cam_cv = w2c[:3, :3] @ point_cv + w2c[:3, 3]
    c2w_gl = camera_to_world_gl(w2c)
    cam_gl = invert_rigid(c2w_gl)[:3, :3] @ points_to_gl(point_cv[None])[0] + invert_rigid(c2w_gl)[:3, 3]
    np.testing.assert_allclose(cam_gl, cam_cv * [1, -1, -1], atol=1e-9)


def test_nuke_zxy_euler_round_trip_including_gimbal_lock() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        r = random_rotation(rng)
        np.testing.assert_allclose(rotation_zxy(*euler_zxy_degrees(r)), r, atol=1e-9)
    locked = rotation_zxy(90.0, 30.0, 10.0)
    np.testing.assert_allclose(rotation_zxy(*euler_zxy_degrees(locked)), locked, atol=1e-9)
    # the order is Z first, then X, then Y
    np.testing.assert_allclose(rotation_zxy(0, 90, 0) @ [0, 0, 1], [1, 0, 0], atol=1e-12)


def test_chan_line_has_eight_fields_in_degrees() -> None:
    w2c = np.eye(4)
    line = chan_line(1001, w2c, K, 48)
    fields = line.split()
    assert len(fields) == 8 and fields[0] == "1001"
    assert [float(x) for x in fields[1:7]] == [0.0] * 6
    assert float(fields[7]) == pytest.approx(math.degrees(2 * math.atan(24 / 100)), abs=1e-5)
    with pytest.raises(ValueError, match="focal length"):
        vertical_fov_degrees(np.zeros((3, 3)), 48)


def synthetic_path(n: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth camera path: world-to-camera (n, 4, 4), first camera at the origin."""
    out = np.tile(np.eye(4), (n, 1, 1))
    for i in range(n):
        yaw = 0.03 * i
        c, s = math.cos(yaw), math.sin(yaw)
        out[i, :3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
        out[i, :3, 3] = [0.05 * i, 0.01 * math.sin(i), -0.02 * i]
    return out


def to_chunk_world(w2c: np.ndarray, depth: np.ndarray, scale: float, a: np.ndarray, b: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Express true cameras/depth in a chunk world X_true = scale * A X_chunk + b."""
    out = w2c.copy()
    r, t = w2c[:, :3, :3], w2c[:, :3, 3]
    out[:, :3, :3] = r @ a
    out[:, :3, 3] = (t + np.einsum("nij,j->ni", r, b)) / scale
    return out, depth / scale


def test_align_chunk_recovers_a_chunk_in_another_world_and_scale() -> None:
    rng = np.random.default_rng(6)
    truth = synthetic_path(8, rng)
    depth = rng.uniform(1, 4, (8, 6, 8)).astype(np.float32)
    s, a, b = 2.5, random_rotation(rng), rng.normal(size=3)
    chunk_w2c, chunk_depth = to_chunk_world(truth, depth, s, a, b)
    aligned, scale = align_chunk(truth[:3], depth[:3], chunk_w2c, chunk_depth, 3)
    assert scale == pytest.approx(s, rel=1e-5)
    np.testing.assert_allclose(aligned, truth, atol=1e-6)
    assert depth_scale(depth, chunk_depth) == pytest.approx(s, rel=1e-5)
    with pytest.raises(ValueError, match="too few pixels"):
        depth_scale(np.zeros((2, 2)), np.zeros((2, 2)))


def test_previews_are_uint8_rgb() -> None:
    depth = np.linspace(1, 10, 48 * 64, dtype=np.float32).reshape(48, 64)
    depth[0, 0] = 0
    img = depth_preview(depth)
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8 and not img[0, 0].any()
    near, far = depth_range(depth)
    assert 1.0 <= near < far <= 10.0
    assert depth_range(np.zeros((4, 4))) == (0.0, 1.0)
    normals = normals_preview(to_gl(normals_from_depth(np.full((8, 8), 2.0, np.float32), K)))
    assert normals.dtype == np.uint8 and tuple(normals[4, 4]) == (128, 128, 255)

"""Depth, normals, camera, point cloud and Blender outputs, read back from disk, from a
depth cache holding an analytic scene: a wall facing the camera at depth 2..4 (one per
frame), a known pinhole and a camera moving sideways."""

from __future__ import annotations

import ast
import json
import math
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.core.depthcache import DepthCache
from sam3roto.core.jobs import run_sync
from sam3roto.errors import Sam3RotoError
from sam3roto.export.blender import blender_script
from sam3roto.export.depth import decode_depth
from sam3roto.pipeline.render import RenderOptions, RenderResult, render_job
from tests.export.conftest import RenderShot

FX = 150.0


def fill_cache(root: Path, n: int, width: int, height: int, *, has_camera: bool = True) -> DepthCache:
    cache = DepthCache(root)
    cache.start({"preset": "small" if has_camera else "mono"})
    k = np.array([[FX, 0, width / 2], [0, FX, height / 2], [0, 0, 1.0]])
    ext, near, far = [], [], []
    for i in range(n):
        depth = np.full((height, width), 2.0 + 2.0 * i / max(1, n - 1), np.float32)
        depth[:2, :2] = 0.0  # unknown pixels
        cache.put(i, depth, np.full((height, width), 0.5 + 0.05 * i, np.float32))
        w2c = np.eye(4)
        w2c[0, 3] = -0.1 * i  # camera moves +X
        ext.append(w2c)
        near.append(float(depth[depth > 0].min()))
        far.append(float(depth.max()))
    cache.put_cameras(list(range(n)), np.tile(k, (n, 1, 1)), np.array(ext), np.array(near), np.array(far))
    cache.update_meta(is_metric=False, has_camera=has_camera)
    return cache


@pytest.fixture
def depth_cache(render_shot: RenderShot, tmp_path: Path) -> DepthCache:
    shot = render_shot.project.shot
    assert shot is not None
    return fill_cache(tmp_path / "plate.depth", shot.frame_count, shot.width, shot.height)


def _render(shot: RenderShot, root: Path, cache: DepthCache | None, **options: object) -> RenderResult:
    return run_sync(render_job(shot.project, shot.source, shot.store, root, RenderOptions(**options),  # type: ignore[arg-type]
                               depth=cache))


def test_depth_png16_is_linear_with_a_sidecar_that_decodes_it(render_shot, depth_cache, tmp_path) -> None:
    for encoding in ("inverse", "depth"):
        result = _render(render_shot, tmp_path / encoding, depth_cache, outputs=("depth-png16",),
                         depth_encoding=encoding)
        sidecar = json.loads((result.folder / "depth" / "plate_depth.json").read_text())
        assert sidecar["near"] == pytest.approx(2.0) and sidecar["far"] == pytest.approx(4.0)
        assert sidecar["values"] == ("inverse_depth" if encoding == "inverse" else "depth")
        assert "no gamma" in sidecar["transfer"]
        png = cv2.imread(str(result.folder / "depth" / "plate_depth.1004.png"), cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint16 and png.ndim == 2
        assert png[0, 0] == 0  # unknown depth
        back = decode_depth(png, sidecar["near"], sidecar["far"], encoding)
        np.testing.assert_allclose(back[5:, 5:], depth_cache.get(3).depth[5:, 5:], rtol=1e-4)
        first = cv2.imread(str(result.folder / "depth" / "plate_depth.1001.png"), cv2.IMREAD_UNCHANGED)
        assert first[10, 10] == (65535 if encoding == "inverse" else 0)  # the nearest frame


def test_depth_exr_is_float32_z_and_normals_face_the_camera(render_shot, depth_cache, tmp_path) -> None:
    import OpenEXR

    result = _render(render_shot, tmp_path / "o", depth_cache, outputs=("depth-exr", "normals-png", "normals-exr"))
    with OpenEXR.File(str(result.folder / "depth" / "plate_depth.1002.exr"), separate_channels=True) as exr:
        ch = {k: v.pixels for k, v in exr.channels().items()}
    assert sorted(ch) == ["Z", "confidence"] and ch["Z"].dtype == np.float32
    np.testing.assert_array_equal(ch["Z"], depth_cache.get(1).depth)
    png = cv2.imread(str(result.folder / "normals" / "plate_normals.1002.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape[2] == 3
    assert tuple(png[60, 80][::-1]) == (32768, 32768, 65535)  # RGB = 0.5 + 0.5 * (0, 0, 1)
    with OpenEXR.File(str(result.folder / "normals" / "plate_normals.1002.exr"), separate_channels=True) as exr:
        ch = {k: v.pixels for k, v in exr.channels().items()}
    assert sorted(ch) == ["N.B", "N.G", "N.R"]
    assert ch["N.B"][60, 80] == pytest.approx(1.0) and ch["N.R"][60, 80] == pytest.approx(0.0, abs=1e-3)


def test_camera_npz_and_chan(render_shot, depth_cache, tmp_path) -> None:
    result = _render(render_shot, tmp_path / "o", depth_cache, outputs=("camera-npz", "chan"), start_frame=1)
    with np.load(result.folder / "camera" / "plate_camera.npz") as z:
        data = {k: z[k] for k in z.files}
    assert set(data) == {"intrinsics", "extrinsics", "image_size", "frame_numbers", "frame_indices", "is_metric",
                         "convention"}
    assert data["intrinsics"].shape == (8, 3, 3) and data["extrinsics"].shape == (8, 4, 4)
    assert data["image_size"].tolist() == [160, 120] and data["frame_numbers"].tolist() == list(range(1, 9))
    assert "world-to-camera" in str(data["convention"])
    lines = (result.folder / "camera" / "plate_camera_ZXY.chan").read_text().splitlines()
    assert len(lines) == 8
    fields = [[float(x) for x in line.split()] for line in lines]
    assert all(len(f) == 8 for f in fields) and [f[0] for f in fields] == list(range(1, 9))
    # the camera moves +X in both worlds, does not rotate; vfov from fy=150 over 120 rows
    assert fields[3][1] == pytest.approx(0.3) and fields[3][2:7] == pytest.approx([0, 0, 0, 0, 0], abs=1e-9)
    assert fields[0][7] == pytest.approx(math.degrees(2 * math.atan(60 / FX)))


def test_ply_point_cloud_global_filtered_and_cut_by_the_matte(render_shot, depth_cache, tmp_path) -> None:
    from plyfile import PlyData

    result = _render(render_shot, tmp_path / "a", depth_cache, outputs=("ply",), ply_stride=4)
    ply = PlyData.read(str(result.folder / "pointcloud" / "plate_points.ply"))
    assert ply.header.count("binary_little_endian") == 1
    v = ply["vertex"]
    assert [p.name for p in v.properties] == ["x", "y", "z", "red", "green", "blue", "confidence"]
    per_frame = 30 * 40 - 1  # stride 4 over 120x160, minus the unknown corner
    assert v.count == 8 * per_frame
    assert (v["z"] < 0).all()  # in front of the Y-up camera: -Z
    # cut by the combined matte of "person" only
    inside = _render(render_shot, tmp_path / "b", depth_cache, outputs=("ply",), ply_stride=1, ply_keep="object",
                     combine=(1,))
    n_inside = PlyData.read(str(inside.folder / "pointcloud" / "plate_points.ply"))["vertex"].count
    assert n_inside == int(render_shot.masks[1].sum()) - int(render_shot.masks[1][:, :2, :2].sum())
    capped = _render(render_shot, tmp_path / "c", depth_cache, outputs=("ply",), ply_stride=1, ply_max_points=800)
    assert PlyData.read(str(capped.folder / "pointcloud" / "plate_points.ply"))["vertex"].count == 800
    with pytest.raises(Sam3RotoError, match="point cloud is empty"):
        _render(render_shot, tmp_path / "d", depth_cache, outputs=("ply",), ply_min_confidence=2.0)
    assert not (tmp_path / "d" / "v001").exists()


def test_blender_script_parses_and_names_cannot_inject_code(render_shot, depth_cache, tmp_path) -> None:
    result = _render(render_shot, tmp_path / "o", depth_cache, outputs=("blender", "ply"))
    text = (result.folder / "camera" / "plate_blender.py").read_text()
    tree = ast.parse(text)
    assigned = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}
    assert ast.literal_eval(assigned["POINT_CLOUD"]) == "../pointcloud/plate_points.ply"
    assert len(ast.literal_eval(assigned["FRAMES"])) == 8
    hostile = 'x"; import os; os.system("echo pwned") #\'\n__import__("os")'
    evil = blender_script(name=hostile, width=4, height=4, fps=(24, 1), frames=[1],
                          camera_to_world=[np.eye(4).tolist()], intrinsics=[(2.0, 2.0, 2.0, 2.0)], point_cloud=hostile)
    tree = ast.parse(evil)
    names = [n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "NAME"]
    assert ast.literal_eval(names[0].value) == hostile
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not any("system" in c or "__import__" in c for c in calls)


@pytest.mark.skipif(shutil.which("blender") is None, reason="no blender binary on PATH to run the script headless")
def test_blender_script_runs_headless(render_shot, depth_cache, tmp_path) -> None:
    result = _render(render_shot, tmp_path / "o", depth_cache, outputs=("blender", "ply"), start_frame=1001)
    outs = {k: tmp_path / f"scene.{k}" for k in ("blend", "fbx", "abc")}
    check = tmp_path / "check.py"
    check.write_text(
        "import bpy, json, sys\n"
        "s = bpy.context.scene\n"
        "cam = s.camera\n"
        "s.frame_set(1004)\n"
        "pts = [o for o in bpy.data.objects if o.name.startswith('plate_points')]\n"
        "print('CHECK', json.dumps({'range': [s.frame_start, s.frame_end], 'res': [s.render.resolution_x, "
        "s.render.resolution_y], 'cam': list(cam.matrix_world.translation), 'lens': cam.data.lens, "
        "'points': len(pts[0].data.vertices) if pts else 0}))\n")
    script = str(result.folder / "camera" / "plate_blender.py")
    run = subprocess.run(["blender", "-b", "--python-exit-code", "1", "-P", script, "--", "--blend",
                          str(outs["blend"]), "--fbx", str(outs["fbx"])], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert outs["blend"].stat().st_size > 0 and outs["fbx"].stat().st_size > 0
    run = subprocess.run(["blender", "-b", "--python-exit-code", "1", "-P", script, "--", "--abc", str(outs["abc"])],
                         capture_output=True, text=True, timeout=300)
    # Debian's Blender is built without Alembic: then the script must say so, not fail obscurely
    log = run.stdout + run.stderr
    assert (run.returncode == 0 and outs["abc"].stat().st_size > 0) or "built without Alembic" in log
    run = subprocess.run(["blender", "-b", str(outs["blend"]), "--python-exit-code", "1", "-P", str(check)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    got = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("CHECK "))[6:])
    assert got["range"] == [1001, 1008] and got["res"] == [160, 120]
    # frame 1004 (index 3): the camera moved +0.3 along X; Y-up -> Z-up keeps X
    assert got["cam"] == pytest.approx([0.3, 0.0, 0.0], abs=1e-5)
    assert got["lens"] == pytest.approx(FX * 36.0 / 160, rel=1e-5)
    assert got["points"] == 8 * (30 * 40 - 1)


def test_missing_depth_and_missing_cameras_are_clear_before_anything_is_written(render_shot, tmp_path) -> None:
    root = tmp_path / "o"
    with pytest.raises(Sam3RotoError, match="need depth, and the project has none"):
        _render(render_shot, root, DepthCache(tmp_path / "empty.depth"), outputs=("depth-exr",))
    shot = render_shot.project.shot
    partial = fill_cache(tmp_path / "p.depth", 3, shot.width, shot.height)
    with pytest.raises(Sam3RotoError, match=r"lacks") as e:
        _render(render_shot, root, partial, outputs=("depth-exr",))
    assert "python run.py depth" in str(e.value)
    mono = fill_cache(tmp_path / "m.depth", shot.frame_count, shot.width, shot.height, has_camera=False)
    with pytest.raises(Sam3RotoError, match="need estimated cameras"):
        _render(render_shot, root, mono, outputs=("chan",))
    assert not root.exists() or not any(root.iterdir())
    # a camera-less preset still gives depth and a point cloud (documented fallback intrinsics)
    assert _render(render_shot, root, mono, outputs=("depth-exr", "ply")).file_count == 9


def test_depth_only_render_needs_no_objects_and_records_depth_in_the_manifest(render_shot, depth_cache,
                                                                             tmp_path) -> None:
    for obj in render_shot.project.objects:
        obj.visible = False
    result = _render(render_shot, tmp_path / "o", depth_cache, outputs=("depth-png16",))
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["objects"] == [] and manifest["depth"]["png16_encoding"] == "inverse"
    assert manifest["depth"]["near"] == pytest.approx(2.0)


def test_depth_foreground_post_reads_the_depth_cache(render_shot, tmp_path) -> None:
    """Seed 000: an object's mask replaced by the Otsu near side of the cached depth."""
    shot = render_shot.project.shot
    cache = DepthCache(tmp_path / "fg.depth")
    cache.start({"preset": "small"})
    near_box = np.zeros((shot.height, shot.width), bool)
    near_box[30:70, 40:100] = True
    for i in range(shot.frame_count):
        depth = np.where(near_box, 1.5, 6.0).astype(np.float32)
        depth[0, :] = 0.0  # unknown counts as far
        cache.put(i, depth, np.ones_like(depth))
    n = shot.frame_count
    cache.put_cameras(list(range(n)), np.tile(np.eye(3) * 100, (n, 1, 1)), np.tile(np.eye(4), (n, 1, 1)),
                      np.full(n, 1.5), np.full(n, 6.0))
    person = render_shot.project.objects[0]
    person.post = {"depth_mode": "replace"}
    with pytest.raises(Sam3RotoError, match="uses depth_mode 'replace', which needs depth"):
        _render(render_shot, tmp_path / "none", None, outputs=("png-alpha",), objects=(person.id,))
    result = _render(render_shot, tmp_path / "o", cache, outputs=("png-alpha",), objects=(person.id,), bit_depth=8)
    matte = cv2.imread(str(result.folder / "person" / "plate_person.1003.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(matte > 127, near_box)


def test_archives_are_byte_identical_when_rendered_again_later(render_shot, depth_cache, tmp_path) -> None:
    """Farm chunks and re-renders must repeat exactly: no wall-clock time inside ZIP/NPZ."""
    import time

    first = _render(render_shot, tmp_path / "a", depth_cache, outputs=("mask-zip", "camera-npz"))
    time.sleep(2.1)  # ZIP times have a 2-second resolution
    second = _render(render_shot, tmp_path / "b", depth_cache, outputs=("mask-zip", "camera-npz"))
    for rel in ("plate_masks.zip", "camera/plate_camera.npz"):
        assert (first.folder / rel).read_bytes() == (second.folder / rel).read_bytes(), rel
    with np.load(first.folder / "camera" / "plate_camera.npz") as z:
        assert z["extrinsics"].shape == (8, 4, 4) and str(z["convention"]).startswith("extrinsics")

"""Render = post + write, every output read back from disk and checked against the plate
and the stored masks (default post settings leave a mask's matte exactly 0 or 1)."""

from __future__ import annotations

import errno
import json
import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.core.jobs import CancelToken, Progress, run_sync
from sam3roto.errors import Cancelled, Sam3RotoError
from sam3roto.export.ffmpeg import FfmpegError
from sam3roto.pipeline.render import RenderOptions, RenderResult, render_job
from tests.export.conftest import RenderShot, make_render_shot

PERSON, CAR = 1, 2


def _render(shot: RenderShot, root: Path, **options: object) -> RenderResult:
    return run_sync(render_job(shot.project, shot.source, shot.store, root, RenderOptions(**options)))  # type: ignore[arg-type]


def _read(path: Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert data is not None, path
    return data[..., [2, 1, 0, 3]] if data.ndim == 3 and data.shape[2] == 4 else data


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("bits", [8, 16])
def test_png_alpha_per_object_folder_bit_depth_and_exact_values(render_shot: RenderShot, tmp_path: Path,
                                                                bits: int) -> None:
    result = _render(render_shot, tmp_path / "out", outputs=("png-alpha",), bit_depth=bits)
    assert result.folder == tmp_path / "out" / "v001" and result.numbers == list(range(1001, 1009))
    top = 255 if bits == 8 else 65535
    for i, number in enumerate(result.numbers):
        person = _read(result.folder / "person" / f"plate_person.{number}.png")
        car = _read(result.folder / "2_car" / f"plate_2_car.{number}.png")
        assert person.dtype == (np.uint8 if bits == 8 else np.uint16) and person.ndim == 2
        np.testing.assert_array_equal(person, render_shot.masks[PERSON][i] * top)
        np.testing.assert_array_equal(car, render_shot.masks[CAR][i] * top)
    assert len(result.files["png-alpha"]) == 16


def test_rgba_straight_keeps_the_plate_and_premultiplied_scales_it(render_shot: RenderShot, tmp_path: Path) -> None:
    render_shot.project.object(CAR).post = {"premultiply": True, "feather_px": 3}
    result = _render(render_shot, tmp_path / "out", outputs=("png-rgba",), bit_depth=16)
    straight = _read(result.folder / "person" / "plate_person_rgba_straight.1003.png")
    premult = _read(result.folder / "2_car" / "plate_2_car_rgba_premult.1003.png")
    assert straight.dtype == np.uint16 and straight.shape == (120, 160, 4)
    plate = render_shot.frames[2].astype(np.float64) / 255.0
    inside = render_shot.masks[PERSON][2]
    np.testing.assert_allclose(straight[..., :3][inside] / 65535.0, plate[inside], atol=1 / 65535)
    np.testing.assert_array_equal(straight[..., 3], inside * 65535)
    alpha = premult[..., 3:].astype(np.float64) / 65535.0
    soft = (alpha[..., 0] > 0.05) & (alpha[..., 0] < 0.95)
    assert soft.sum() > 50  # the feather made a soft edge
    np.testing.assert_allclose(premult[..., :3][soft] / 65535.0, (plate * alpha)[soft], atol=2 / 65535)
    assert np.all(premult[..., :3][alpha[..., 0] == 0] == 0)


def test_combined_matte_and_postshot_rgba(tmp_path: Path) -> None:
    shot = make_render_shot(tmp_path / "deep", dtype="uint16")  # a 16-bit plate gives 16-bit Postshot PNGs
    try:
        result = _render(shot, tmp_path / "out", outputs=("png-combined", "postshot"))
        union = shot.masks[PERSON][4] | shot.masks[CAR][4]
        combined = _read(result.folder / "combined" / "plate_combined.1005.png")
        assert combined.dtype == np.uint8
        np.testing.assert_array_equal(combined, union * 255)
        postshot = _read(result.folder / "postshot" / "plate.1005.png")
        assert postshot.dtype == np.uint16 and postshot.shape[2] == 4
        np.testing.assert_array_equal(postshot[..., :3], shot.frames[4])  # RGB untouched, not premultiplied
        np.testing.assert_array_equal(postshot[..., 3], union * 65535)
        only = _render(shot, tmp_path / "out", outputs=("png-combined", "png-alpha"), objects=(PERSON,),
                       combine=(CAR,))  # the car is merged though it gets no output of its own
        np.testing.assert_array_equal(_read(only.folder / "combined" / "plate_combined.1005.png"),
                                      shot.masks[CAR][4] * 255)
        assert {p.parent.name for p in only.files["png-alpha"]} == {"person"}
    finally:
        shot.source.close()


@pytest.mark.parametrize(("op", "combine"), [("intersection", (PERSON, CAR)), ("difference", (PERSON, CAR)),
                                              ("difference", (CAR, PERSON)), ("xor", (PERSON, CAR))])
def test_combined_matte_by_each_operation(render_shot: RenderShot, tmp_path: Path, op: str,
                                          combine: tuple[int, ...]) -> None:
    overlapping = np.roll(render_shot.masks[PERSON], 25, axis=2)  # the car half over the person
    for i, mask in enumerate(overlapping):
        render_shot.store.put(CAR, i, mask)
    render_shot.masks[CAR] = overlapping
    result = _render(render_shot, tmp_path / "out", outputs=("png-combined", "mask-zip"), combine=combine,
                     combine_op=op)
    first, second = (render_shot.masks[i][3] for i in combine)
    want = {"intersection": first & second, "difference": first & ~second, "xor": first ^ second}[op]
    assert want.any() and (want != (first | second)).any()  # the shot tells the operations apart
    np.testing.assert_array_equal(_read(result.folder / "combined" / "plate_combined.1004.png"), want * 255)
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["combine_op"] == op and manifest["combined_objects"] == list(combine)
    with zipfile.ZipFile(result.files["mask-zip"][0]) as archive:
        name = next(n for n in sorted(archive.namelist()) if "1004" in n)
        member = cv2.imdecode(np.frombuffer(archive.read(name), np.uint8), cv2.IMREAD_UNCHANGED)
    assert ((member > 0) == want).all()


def test_an_unknown_combine_operation_is_refused() -> None:
    with pytest.raises(ValueError, match="combine_op must be one of union, intersection, difference, xor"):
        RenderOptions(combine_op="add")


def test_multilayer_exr_channels_half_float_and_values(render_shot: RenderShot, tmp_path: Path) -> None:
    import OpenEXR

    result = _render(render_shot, tmp_path / "out", outputs=("exr",), exr_rgb=True, exr_compression="piz")
    path = result.folder / "exr" / "plate.1002.exr"
    with OpenEXR.File(str(path), separate_channels=True) as exr:
        channels = {k: v.pixels for k, v in exr.channels().items()}
        compression = exr.header()["compression"]
    assert sorted(channels) == ["B", "G", "R", "obj_2_car.A", "person.A"]
    assert compression == OpenEXR.PIZ_COMPRESSION
    assert all(c.dtype == np.float16 for c in channels.values())
    np.testing.assert_array_equal(channels["person.A"], render_shot.masks[PERSON][1].astype(np.float16))
    np.testing.assert_allclose(channels["G"], render_shot.frames[1][..., 1] / 255.0, atol=1e-3)


def test_prores_4444_reads_back_with_native_alpha(render_shot: RenderShot, tmp_path: Path) -> None:
    import av

    render_shot.project.object(PERSON).post = {"feather_px": 4}
    result = _render(render_shot, tmp_path / "out", outputs=("prores", "png-alpha"))
    movie = result.folder / "person" / "plate_person_straight.mov"
    assert result.files["prores"] == sorted([movie, result.folder / "2_car" / "plate_2_car_straight.mov"])
    with av.open(str(movie)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "prores" and stream.codec_context.profile == "4444"
        assert stream.average_rate == 24
        frames = list(container.decode(video=0))
    assert len(frames) == 8
    for i, frame in enumerate(frames):
        assert frame.colorspace == 1 and frame.color_range == 1  # BT.709 matrix, video range
        ten = frame.reformat(format="yuva444p10le")
        alpha = np.frombuffer(ten.planes[3], np.uint16).reshape(ten.height, -1)[:, : ten.width]
        matte = _read(result.folder / "person" / f"plate_person.{1001 + i}.png").astype(np.float64) / 65535.0
        assert np.abs(alpha.astype(np.int64) - np.round(matte * 1023)).max() <= 1
        rgb = frame.to_ndarray(format="rgb24").astype(np.int16)
        inside = matte > 0.999
        assert np.abs(rgb[inside] - render_shot.frames[i][inside]).mean() < 1.5


def test_mask_zip_single_and_per_label(render_shot: RenderShot, tmp_path: Path) -> None:
    single = _render(render_shot, tmp_path / "out", outputs=("mask-zip",), start_frame=1)
    with zipfile.ZipFile(single.folder / "plate_masks.zip") as archive:
        names = archive.namelist()
        assert names == [f"plate.{n:04d}.png" for n in range(1, 9)]
        data = cv2.imdecode(np.frombuffer(archive.read("plate.0003.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert data.dtype == np.uint8 and set(np.unique(data)) == {0, 255}
    np.testing.assert_array_equal(data, (render_shot.masks[PERSON][2] | render_shot.masks[CAR][2]) * 255)
    per = _render(render_shot, tmp_path / "out", outputs=("mask-zip",), zip_mode="per_label")
    assert per.folder.name == "v002"
    with zipfile.ZipFile(per.folder / "plate_masks.zip") as archive:
        names = archive.namelist()
        car = cv2.imdecode(np.frombuffer(archive.read("2_car/plate_2_car.1008.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert len(names) == 16 and "person/plate_person.1001.png" in names
    np.testing.assert_array_equal(car, render_shot.masks[CAR][7] * 255)


def test_versions_never_overwrite_and_the_manifest_records_the_render(render_shot: RenderShot, tmp_path: Path) -> None:
    first = _render(render_shot, tmp_path / "out", outputs=("png-alpha",), indices=(2, 3, 4))
    before = _tree(first.folder)
    render_shot.project.object(PERSON).post = {"grow_px": 3}
    second = _render(render_shot, tmp_path / "out", outputs=("png-alpha",), indices=(2, 3, 4), name="roto")
    assert (first.folder.name, second.folder.name) == ("v001", "v002")
    assert _tree(first.folder) == before
    manifest = json.loads((second.folder / "manifest.json").read_text())
    assert manifest["version"] == "v002" and manifest["frames"]["numbers"] == [1003, 1004, 1005]
    assert manifest["objects"][0]["post"]["grow_px"] == 3 and manifest["objects"][1]["exr_layer"] == "obj_2_car"
    assert manifest["outputs"]["png-alpha"][0] == "2_car/roto_2_car.1003.png"
    assert len(manifest["outputs"]["png-alpha"]) == 6
    assert RenderOptions.from_dict(manifest["options"]) == RenderOptions(outputs=("png-alpha",), indices=(2, 3, 4),
                                                                         name="roto")
    assert RenderOptions.from_dict({"outputs": "exr, prores"}).outputs == ("exr", "prores")
    with pytest.raises(ValueError, match="unknown render option"):
        RenderOptions.from_dict({"output": "exr"})


def test_cancel_leaves_no_partial_version(render_shot: RenderShot, tmp_path: Path) -> None:
    root = tmp_path / "out"
    first = _render(render_shot, root, outputs=("png-alpha",))
    before = _tree(first.folder)
    token = CancelToken()

    def stop_after_three(p: Progress) -> None:
        if p.done == 3:
            token.cancel()

    job = render_job(render_shot.project, render_shot.source, render_shot.store, root,
                     RenderOptions(outputs=("png-alpha", "prores", "mask-zip", "exr")), cancel=token)
    with pytest.raises(Cancelled):
        run_sync(job, stop_after_three, token)
    assert sorted(p.name for p in root.iterdir()) == ["v001"]
    assert _tree(first.folder) == before


def test_disk_full_mid_render_stops_cleanly(render_shot: RenderShot, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "out"
    _render(render_shot, root, outputs=("png-alpha",))
    real_replace = os.replace
    calls = {"n": 0}

    def full_disk(src: str, dst: str) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr("sam3roto.export.base.os.replace", full_disk)
    with pytest.raises(Sam3RotoError, match="No space left on device") as err:
        _render(render_shot, root, outputs=("png-alpha",), workers=1)
    assert str(err.value).startswith(str(root / ".v002.partial"))  # names the file that failed
    assert sorted(p.name for p in root.iterdir()) == ["v001"]
    assert len(list((root / "v001").rglob("*.png"))) == 16


def test_ffmpeg_missing_or_failing_is_reported(render_shot: RenderShot, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "out"
    monkeypatch.setenv("SAM3ROTO_FFMPEG", str(tmp_path / "no-ffmpeg"))
    with pytest.raises(FfmpegError, match="SAM3ROTO_FFMPEG does not name an executable"):
        _render(render_shot, root, outputs=("prores",))
    assert not root.exists() or not any(root.iterdir())
    # an ffmpeg that cannot say its version is refused before anything is made
    broken = tmp_path / "ffmpeg"
    broken.write_text("#!/bin/sh\necho 'Unknown encoder prores_ks' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("SAM3ROTO_FFMPEG", str(broken))
    with pytest.raises(FfmpegError, match="Unknown encoder prores_ks"):
        _render(render_shot, root, outputs=("prores", "png-alpha"))
    assert not root.exists() or not any(root.iterdir())
    # one that fails while encoding leaves no version behind
    failing = tmp_path / "ffmpeg6"
    failing.write_text("#!/bin/sh\nif [ \"$1\" = -version ]; then echo 'ffmpeg version 6.1.1 Copyright'; exit 0; fi\n"
                       "echo 'Unknown encoder prores_ks' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("SAM3ROTO_FFMPEG", str(failing))
    with pytest.raises(FfmpegError, match="Unknown encoder prores_ks"):
        _render(render_shot, root, outputs=("prores", "png-alpha"))
    assert root.is_dir() and not any(root.iterdir())


def test_bad_render_requests_name_the_problem(render_shot: RenderShot, tmp_path: Path) -> None:
    with pytest.raises(Sam3RotoError, match=r"outside the shot 0\.\.7"):
        _render(render_shot, tmp_path / "out", indices=(6, 7, 8))
    with pytest.raises(ValueError, match="unknown output 'tiff'"):
        RenderOptions(outputs=("tiff",))
    with pytest.raises(Sam3RotoError, match="no object with id 9"):
        _render(render_shot, tmp_path / "out", objects=(9,))
    render_shot.project.object(PERSON).post = {"grow_px": "big"}
    with pytest.raises(Sam3RotoError, match="object 'person'"):
        _render(render_shot, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_chunked_render_equals_a_whole_render_with_temporal_post(render_shot: RenderShot, tmp_path: Path) -> None:
    render_shot.project.object(PERSON).post = {"temporal_pct": 60, "feather_px": 2}
    whole = _render(render_shot, tmp_path / "whole", outputs=("png-alpha",), workers=2)
    parts = [_render(render_shot, tmp_path / f"part{k}", outputs=("png-alpha",), indices=span, workers=1)
             for k, span in enumerate([(0, 1, 2), (3, 4, 5), (6, 7)])]
    merged: dict[str, bytes] = {}
    for part in parts:
        merged.update({k: v for k, v in _tree(part.folder).items() if k.endswith(".png")})
    assert merged == {k: v for k, v in _tree(whole.folder).items() if k.endswith(".png")}
    matte = _read(whole.folder / "person" / "plate_person.1004.png")
    assert len(np.unique(matte)) > 2  # temporal smoothing and feather made a soft matte

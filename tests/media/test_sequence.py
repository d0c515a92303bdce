"""Image sequences and stills: patterns, gaps, bit depths, EXR, large stills, bad frames."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.errors import CorruptMediaError, MediaNotFoundError, MixedFramesError
from sam3roto.media import open_media


def write_png(path: Path, rgb: np.ndarray) -> None:
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    assert cv2.imwrite(str(path), img)


def write_exr(path: Path, channels: dict[str, np.ndarray], **header: object) -> None:
    import OpenEXR

    hdr = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **header}
    with OpenEXR.File(hdr, channels) as exr:
        exr.write(str(path))


@pytest.fixture()
def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(6)]


def test_hash_pattern_with_gaps(tmp_path: Path, frames: list[np.ndarray]) -> None:
    numbers = [1001, 1002, 1003, 1005, 1006, 1009]
    for n, img in zip(numbers, frames, strict=True):
        write_png(tmp_path / f"plate.{n:04d}.png", img)
    for pattern in ("plate.####.png", "plate.%04d.png"):
        with open_media(tmp_path / pattern) as source:
            info = source.info
            assert (info.kind, info.frame_count, info.frame_numbers) == ("sequence", 6, tuple(numbers))
            assert info.gaps == (1004, 1007, 1008)
            assert info.fps_is_default
            for index, img in enumerate(frames):
                np.testing.assert_array_equal(source.read(index), img)


def test_folder_is_a_sequence(tmp_path: Path, frames: list[np.ndarray]) -> None:
    for n, img in enumerate(frames):
        write_png(tmp_path / f"shot_v2.{n + 1:04d}.png", img)
    (tmp_path / "notes.txt").write_text("not a frame")
    with open_media(tmp_path) as source:
        assert source.info.kind == "sequence" and source.info.frame_numbers == (1, 2, 3, 4, 5, 6)
        np.testing.assert_array_equal(source.read(5), frames[5])


def test_folder_of_unnumbered_stills(tmp_path: Path, frames: list[np.ndarray]) -> None:
    for name, img in zip(["b.png", "a.png", "c10.png", "c9.png"], frames, strict=False):
        write_png(tmp_path / name, img)
    with open_media(tmp_path) as source:
        assert source.info.kind == "stills" and source.info.frame_count == 4
        np.testing.assert_array_equal(source.read(0), frames[1])  # a.png, natural order a, b, c9, c10
        np.testing.assert_array_equal(source.read(2), frames[3])


def test_real_davis_folder(shared_data: Path) -> None:
    folder = shared_data / "davis2016" / "JPEGImages" / "480p" / "blackswan"
    with open_media(folder) as source:
        assert (source.info.frame_count, source.info.width, source.info.height) == (50, 854, 480)
        for index in (0, 17, 49):
            expected = cv2.cvtColor(cv2.imread(str(folder / f"{index:05d}.jpg")), cv2.COLOR_BGR2RGB)
            np.testing.assert_array_equal(source.read(index), expected)


def test_real_grey_masks_are_delivered_as_rgb(shared_data: Path) -> None:
    with open_media(shared_data / "davis2016" / "Annotations" / "480p" / "libby") as source:
        assert source.info.channels == 1
        frame = source.read(3)
        assert frame.shape == (480, 854, 3) and set(np.unique(frame)) <= {0, 255}


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_rgb_and_grey(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    grey = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    write_png(tmp_path / f"rgb{suffix}", rgb)
    write_png(tmp_path / f"grey{suffix}", grey)
    with open_media(tmp_path / f"rgb{suffix}") as source:
        assert (source.info.kind, source.info.dtype, source.info.bit_depth) == ("image", "uint16", 16)
        np.testing.assert_array_equal(source.read(0), rgb)
    with open_media(tmp_path / f"grey{suffix}") as source:
        np.testing.assert_array_equal(source.read(0), np.repeat(grey[..., None], 3, axis=2))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_exr_half_and_float(tmp_path: Path, dtype: type) -> None:
    rng = np.random.default_rng(3)
    rgb = (rng.random((16, 24, 3)) * 4).astype(dtype)  # scene-linear values above 1 survive
    write_exr(tmp_path / "plate.0001.exr", {"R": rgb[..., 0].copy(), "G": rgb[..., 1].copy(),
                                            "B": rgb[..., 2].copy(), "A": np.ones((16, 24), dtype)})
    with open_media(tmp_path / "plate.####.exr") as source:
        assert source.info.dtype == np.dtype(dtype).name and source.info.channels == 4
        np.testing.assert_array_equal(source.read(0), rgb)


def test_exr_luminance_and_data_window(tmp_path: Path) -> None:
    y = np.arange(6 * 8, dtype=np.float32).reshape(6, 8)
    # data window (2,1)-(9,6) inside a 12x8 display window: the rest reads as 0
    write_exr(tmp_path / "y.exr", {"Y": y}, dataWindow=((2, 1), (9, 6)), displayWindow=((0, 0), (11, 7)))
    with open_media(tmp_path / "y.exr") as source:
        frame = source.read(0)
    assert frame.shape == (8, 12, 3)
    np.testing.assert_array_equal(frame[1:7, 2:10, 1], y)
    assert frame[0].max() == 0 and frame[:, :2].max() == 0


def test_large_still_without_float64_copies(tmp_path: Path) -> None:
    height, width = 9000, 6000
    img = np.zeros((height, width, 3), np.uint8)
    img[::7, :, 0] = 200
    img[:, ::5, 2] = 100
    write_png(tmp_path / "big.png", img)
    del img
    tracemalloc.start()
    try:
        with open_media(tmp_path / "big.png") as source:
            frame = source.read(0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    frame_bytes = height * width * 3
    assert frame.shape == (height, width, 3) and frame.dtype == np.uint8
    assert frame[7, 3, 0] == 200 and frame[1, 5, 2] == 100
    # open + read decode the frame at most a few times in uint8; one float64 copy alone is 8x
    assert peak < 4 * frame_bytes, f"peak {peak / 1e6:.0f} MB for a {frame_bytes / 1e6:.0f} MB frame"


# -- bad input --------------------------------------------------------------------------------

def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(MediaNotFoundError, match="holds no images"):
        open_media(tmp_path)


def test_pattern_matching_nothing(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError, match="no files match"):
        open_media(tmp_path / "none.####.png")


def test_mixed_resolutions(tmp_path: Path, frames: list[np.ndarray]) -> None:
    for n, img in enumerate(frames):
        write_png(tmp_path / f"f.{n:04d}.png", img)
    write_png(tmp_path / "f.0003.png", np.zeros((30, 32, 3), np.uint8))
    with pytest.raises(MixedFramesError, match=r"f\.0003\.png.*mixed resolutions.*32x24.*found 32x30"):
        open_media(tmp_path)


def test_mixed_channels(tmp_path: Path, frames: list[np.ndarray]) -> None:
    for n, img in enumerate(frames):
        write_png(tmp_path / f"f.{n:04d}.png", img)
    write_png(tmp_path / "f.0002.png", np.zeros((24, 32), np.uint8))
    with pytest.raises(MixedFramesError, match=r"f\.0002\.png.*mixed channel counts"):
        open_media(tmp_path)


def test_corrupt_frame_in_the_middle(tmp_path: Path, frames: list[np.ndarray]) -> None:
    for n, img in enumerate(frames):
        write_png(tmp_path / f"f.{n:04d}.png", img)
    damaged = tmp_path / "f.0003.png"
    damaged.write_bytes(damaged.read_bytes()[:60])  # header intact, pixel data cut
    with open_media(tmp_path) as source:
        np.testing.assert_array_equal(source.read(2), frames[2])
        with pytest.raises(CorruptMediaError, match=r"f\.0003\.png"):
            source.read(3)
        np.testing.assert_array_equal(source.read(4), frames[4])


def test_garbage_frame_fails_at_open(tmp_path: Path, frames: list[np.ndarray]) -> None:
    for n, img in enumerate(frames):
        write_png(tmp_path / f"f.{n:04d}.png", img)
    (tmp_path / "f.0004.png").write_bytes(b"this is not a PNG at all")
    with pytest.raises(CorruptMediaError, match=r"f\.0004\.png"):
        open_media(tmp_path)


def test_corrupt_exr(tmp_path: Path) -> None:
    (tmp_path / "bad.exr").write_bytes(b"v/1\x01" + b"\x00" * 40)
    with pytest.raises(CorruptMediaError, match=r"bad\.exr"):
        open_media(tmp_path / "bad.exr")

"""ZIP of frames: read in memory, and hostile archives refused before any decode."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.errors import CorruptMediaError, MediaError, UnsafeArchiveError
from sam3roto.media import open_media
from sam3roto.media.archive import ArchiveLimits, open_zip


def _png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def test_zip_of_frames(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (16, 20, 3), dtype=np.uint8) for _ in range(4)]
    path = tmp_path / "frames.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i, img in enumerate(frames):
            zf.writestr(f"clip/{i + 1:08d}.png", _png_bytes(img))
        zf.writestr("__MACOSX/clip/._00000001.png", b"resource fork junk")
        zf.writestr("clip/readme.txt", "ignored")
    with open_media(path) as source:
        assert (source.info.kind, source.info.frame_count, source.info.frame_numbers) == ("archive", 4, (1, 2, 3, 4))
        for i, img in enumerate(frames):
            np.testing.assert_array_equal(source.read(i), img)


@pytest.mark.parametrize("name", ["../evil.png", "/etc/evil.png", "a/../../evil.png", "C:/evil.png", "..\\evil.png"])
def test_zip_slip_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "slip.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("00000001.png", _png_bytes(np.zeros((4, 4, 3), np.uint8)))
        zf.writestr(zipfile.ZipInfo(name), _png_bytes(np.zeros((4, 4, 3), np.uint8)))
    with pytest.raises(UnsafeArchiveError, match="zip slip"):
        open_media(path)
    assert not (tmp_path.parent / "evil.png").exists()


def test_symlink_member_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("00000001.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        open_media(path)


def test_decompression_bomb_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("00000001.png", b"\x00" * (20 * 1024**2))  # ~1000:1
    with pytest.raises(UnsafeArchiveError, match="decompression bomb"):
        open_media(path)


def test_member_count_and_total_limits(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    png = _png_bytes(np.zeros((4, 4, 3), np.uint8))
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(5):
            zf.writestr(f"{i:08d}.png", png)
    with pytest.raises(UnsafeArchiveError, match="over the limit of 3"):
        open_zip(path, ArchiveLimits(max_members=3))
    with pytest.raises(UnsafeArchiveError, match="in all"):
        open_zip(path, ArchiveLimits(max_total_bytes=len(png) * 2))


def test_not_a_zip_and_no_images(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 but not really")
    with pytest.raises(CorruptMediaError, match=r"bad\.zip"):
        open_media(bad)
    empty = tmp_path / "docs.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "no frames")
    with pytest.raises(MediaError, match="no image frames"):
        open_media(empty)


def test_damaged_member_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "frames.zip"
    good = _png_bytes(np.full((8, 8, 3), 7, np.uint8))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("00000001.png", good)
        zf.writestr("00000002.png", good[:50])
    with open_media(path) as source, pytest.raises(CorruptMediaError, match=r"00000002\.png"):
        source.read(1)

"""Shared fixtures: synthetic clips with known masks, and the real footage in ../shared/data."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# transformers imports torchvision whenever it is installed; on CI the PyPI torchvision is a
# CUDA build that cannot load next to the CPU torch. Fix that before any test imports it.
if importlib.util.find_spec("torch") is not None and importlib.util.find_spec("torchvision") is not None:
    from tests.torchvision_shim import install as _install_torchvision_shim

    _install_torchvision_shim()

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Unsaved projects made by tests go to a temporary data folder, not the user's."""
    os.environ["SAM3ROTO_DATA_DIR"] = str(tmp_path_factory.mktemp("sam3roto-data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real footage folder; tests using it skip, naming it, when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real footage folder {SHARED_DATA} is absent (see the README's Tests section)")
    return SHARED_DATA


@dataclass
class SyntheticClip:
    """Frames of a textured disc moving over a textured background, with its true masks."""

    frames: np.ndarray  # uint8 (N, H, W, 3)
    masks: np.ndarray  # bool (N, H, W)
    fps: Fraction


def make_synthetic(n: int = 48, width: int = 320, height: int = 240, radius: int = 40, seed: int = 0) -> SyntheticClip:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack([(xx * 2) % 256, (yy * 3) % 256, ((xx + yy) * 5) % 256], -1).astype(np.uint8)
    background = np.clip(background.astype(np.int16) + rng.integers(-20, 21, background.shape), 0, 255).astype(np.uint8)
    texture = rng.integers(60, 200, size=(height, width, 3), dtype=np.uint8)
    frames, masks = [], []
    for t in range(n):
        cx = radius + (width - 2 * radius) * t / max(1, n - 1)
        cy = height / 2 + (height / 4) * np.sin(t / 6)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
        frame = background.copy()
        frame[mask] = texture[mask] // 2 + np.array([120, 30, 30], np.uint8)
        frame[0:12, 0:40] = (t * 5) % 256  # a frame counter patch: every frame differs
        frames.append(frame)
        masks.append(mask)
    return SyntheticClip(np.stack(frames), np.stack(masks), Fraction(24))


def encode_video(path: Path, frames: np.ndarray, fps: Fraction = Fraction(24), *, codec: str = "libx264",
                 gop: int = 12, pts: list[int] | None = None, audio: bool = False) -> Path:
    """Encode RGB frames with PyAV (libx264, closed GOP, 2 B-frames by default)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "2", "crf": "16",
                              "preset": "veryfast"}
        if pts is not None:
            stream.time_base = Fraction(1, int(fps))
        audio_stream = out.add_stream("aac", rate=48000) if audio else None
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts is not None:
                frame.pts = pts[i]
                frame.time_base = Fraction(1, int(fps))
            for packet in stream.encode(frame):
                out.mux(packet)
            if audio_stream is not None:
                samples = np.zeros((1, 2000), dtype=np.float32)
                aframe = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                aframe.sample_rate = 48000
                for packet in audio_stream.encode(aframe):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if audio_stream is not None:
            for packet in audio_stream.encode():
                out.mux(packet)
    return path


@pytest.fixture(scope="session")
def synthetic() -> SyntheticClip:
    return make_synthetic()


@pytest.fixture(scope="session")
def synthetic_mp4(tmp_path_factory: pytest.TempPathFactory, synthetic: SyntheticClip) -> Path:
    return encode_video(tmp_path_factory.mktemp("clip") / "synthetic.mp4", synthetic.frames)


def sequential_decode(path: Path) -> list[np.ndarray]:
    """Every frame of ``path`` decoded front to back with plain PyAV (the reference)."""
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def clip() -> SyntheticClip:
    """A 12-frame synthetic clip (a textured disc moving over a panning background); test
    modules that need another clip define their own."""
    from tests.backends.test_classic import moving_object_clip

    return moving_object_clip(n=12)


@pytest.fixture
def plate(tmp_path: Path, clip: SyntheticClip) -> Path:
    """``clip`` written as ``plate.1001.png``... (frame numbers 1001-1012) in a folder."""
    import cv2

    folder = tmp_path / "plate"
    folder.mkdir()
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(folder / f"plate.{1001 + i}.png"), frame[..., ::-1])
    return folder

"""A small project for render tests: a PNG plate sequence (frames 1001-1008) and two
objects with stored masks (a disc and the same disc shifted right)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Project
from sam3roto.media.source import FrameSource
from sam3roto.pipeline.shot import new_project
from tests.conftest import make_synthetic


@dataclass
class RenderShot:
    project: Project
    source: FrameSource
    store: MaskStore
    frames: np.ndarray  # uint8 (N, H, W, 3) as written
    masks: dict[int, np.ndarray]  # object id -> bool (N, H, W)


def make_render_shot(root: Path, n: int = 8, dtype: str = "uint8") -> RenderShot:
    clip = make_synthetic(n=n, width=160, height=120, radius=22, seed=3)
    seq = root / "plate"
    seq.mkdir(parents=True)
    frames = clip.frames if dtype == "uint8" else clip.frames.astype(np.uint16) * np.uint16(257)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(seq / f"plate.{1001 + i:04d}.png"), frame[..., ::-1])
    project, source = new_project(seq / "plate.####.png")
    store = MaskStore(root / "masks")
    person = project.add_object("person")
    car = project.add_object("2 car!")
    masks = {person.id: clip.masks, car.id: np.roll(clip.masks, 50, axis=2)}
    for obj_id, stack in masks.items():
        for i, mask in enumerate(stack):
            store.put(obj_id, i, mask)
    return RenderShot(project, source, store, frames, masks)


@pytest.fixture
def render_shot(tmp_path: Path) -> RenderShot:
    shot = make_render_shot(tmp_path / "shot")
    yield shot
    shot.source.close()

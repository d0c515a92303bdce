"""Making a project's Shot from media, and checking media against a Shot on relink."""

from __future__ import annotations

from pathlib import Path

from sam3roto.core.project import Project, Shot
from sam3roto.errors import MixedFramesError
from sam3roto.media.source import FrameSource, MediaInfo, open_media


def shot_from_info(info: MediaInfo, media: str | Path | None = None) -> Shot:
    """A Shot covering every frame of the media described by ``info``."""
    return Shot(
        media=str(media if media is not None else info.path), frame_count=info.frame_count, fps=info.fps,
        width=info.width, height=info.height, frame_numbers=list(info.frame_numbers),
    )


def new_project(media: str | Path) -> tuple[Project, FrameSource]:
    """Open ``media`` and return a new project on it plus the open source."""
    source = open_media(media)
    return Project(shot=shot_from_info(source.info, media)), source


def open_shot_media(project: Project) -> FrameSource:
    """Open the project's media and check that it still matches the Shot (after a relink,
    a different frame count or size would misplace every stored mask)."""
    if project.shot is None:
        raise ValueError("the project has no shot")
    source = open_media(project.shot.media)
    shot, info = project.shot, source.info
    if (info.frame_count, info.width, info.height) != (shot.frame_count, shot.width, shot.height):
        source.close()
        raise MixedFramesError(
            "media does not match the project's shot", path=shot.media,
            expected=f"{shot.frame_count} frames of {shot.width}x{shot.height}",
            found=f"{info.frame_count} frames of {info.width}x{info.height}")
    return source

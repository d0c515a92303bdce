"""Making a project's Shot from media, and checking media against a Shot on relink.

Media opened for a project come wrapped in a :class:`~sam3roto.media.colour.ColourSource`:
its frames are what the models and analysis see (sRGB), its plates what outputs convert."""

from __future__ import annotations

from pathlib import Path

from sam3roto.core.project import Project, Shot
from sam3roto.errors import MixedFramesError
from sam3roto.media.colour import ColourSource, colour_source, load_config
from sam3roto.media.source import MediaInfo, open_media


def shot_from_info(info: MediaInfo, media: str | Path | None = None, input_colorspace: str | None = None) -> Shot:
    """A Shot covering every frame of the media described by ``info``, its plates in
    ``input_colorspace`` (None: guessed from the media, :meth:`ColourConfig.guess`)."""
    config = load_config()
    space = config.resolve(input_colorspace) if input_colorspace else config.guess(info)
    return Shot(
        media=str(media if media is not None else info.path), frame_count=info.frame_count, fps=info.fps,
        width=info.width, height=info.height, frame_numbers=list(info.frame_numbers), input_colorspace=space,
    )


def new_project(media: str | Path, input_colorspace: str | None = None) -> tuple[Project, ColourSource]:
    """Open ``media`` and return a new project on it plus the open source (frames for the
    models; plates in ``input_colorspace``, None: guessed)."""
    plate = open_media(media)
    try:
        shot = shot_from_info(plate.info, media, input_colorspace)
        return Project(shot=shot), colour_source(plate, shot.input_colorspace)
    except BaseException:
        plate.close()
        raise


def open_shot_media(project: Project) -> ColourSource:
    """Open the project's media and check that it still matches the Shot (after a relink,
    a different frame count or size would misplace every stored mask); its frames are
    converted from the shot's input colour space for the models. A shot without one (a
    project from before colour management) gets the guess, which a save keeps."""
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
    opened = colour_source(source, shot.input_colorspace)  # closes the media on an error
    if shot.input_colorspace is None:  # a project from before colour management: the guess, kept when saved
        shot.input_colorspace = opened.input_space
    return opened

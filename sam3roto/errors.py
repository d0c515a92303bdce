"""The one exception tree of sam3roto.

Every error a user can cause derives from :class:`Sam3RotoError` and carries data
(path, frame, expected vs found, a hint) so that the CLI and the GUI can each present it
their own way. ``str(err)`` is always a complete sentence a user can act on.
"""

from __future__ import annotations

from pathlib import Path


class Sam3RotoError(Exception):
    """Root of every error sam3roto raises on purpose."""

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.hint = hint
        super().__init__(self._compose())

    def _compose(self) -> str:
        text = f"{self.path}: {self.message}" if self.path is not None else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class MediaError(Sam3RotoError):
    """Media that cannot be opened or read."""


class MediaNotFoundError(MediaError):
    """The media path does not exist."""


class UnsupportedMediaError(MediaError):
    """A file type or codec sam3roto cannot read."""


class CorruptMediaError(MediaError):
    """A file that exists but cannot be decoded (truncated, damaged).

    ``frame`` is the frame index in the source when the damage is frame-specific.
    """

    def __init__(
        self, message: str, *, path: str | Path | None = None, frame: int | None = None, hint: str | None = None
    ) -> None:
        self.frame = frame
        super().__init__(message, path=path, hint=hint)


class MixedFramesError(MediaError):
    """Frames of one source that disagree in size, channels or bit depth."""

    def __init__(
        self, message: str, *, path: str | Path | None = None, expected: object = None, found: object = None
    ) -> None:
        self.expected = expected
        self.found = found
        super().__init__(f"{message}: expected {expected}, found {found}", path=path)


class UnsafeArchiveError(MediaError):
    """A ZIP that would escape its folder, holds links, or expands too much."""

    def __init__(self, message: str, *, path: str | Path | None = None, member: str | None = None) -> None:
        self.member = member
        if member is not None:
            message = f"member {member!r}: {message}"
        super().__init__(message, path=path, hint="the archive was not extracted")


class ProjectError(Sam3RotoError):
    """A project file that cannot be read or written."""


class ProjectVersionError(ProjectError):
    """A project written by a newer sam3roto (schema version higher than ours)."""

    def __init__(self, *, path: str | Path, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"project schema version {found} is newer than this sam3roto supports ({supported})",
            path=path,
            hint="upgrade sam3roto to open it; the file was left untouched",
        )


class MediaMovedError(ProjectError):
    """The project's media is not where the project says; relink to keep the masks."""

    def __init__(self, *, path: str | Path, media: str | Path) -> None:
        self.media = Path(media)
        super().__init__(
            f"the shot's media {media} is missing",
            path=path,
            hint="relink it to the moved media (sam3roto.core.project_io.load_project(..., relink=NEW_PATH)); "
            "the masks are kept",
        )


class Cancelled(Sam3RotoError):
    """A job stopped because its CancelToken was set."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class InvalidPromptError(Sam3RotoError):
    """A prompt that does not fit the frame or the object it is given to."""


class EngineError(Sam3RotoError):
    """A segmentation or depth engine cannot do what was asked (unknown engine or object,
    a prompt kind the engine does not support)."""


class ModelNotInstalledError(EngineError):
    """Model weights are missing or unreadable; ``hint`` gives the install command."""


class DeviceMemoryError(EngineError):
    """The accelerator ran out of memory even after the fallbacks were tried."""

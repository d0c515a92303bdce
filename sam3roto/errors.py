"""The one exception tree of sam3roto.

Every error a user can cause derives from :class:`Sam3RotoError` and carries data
(path, frame, expected vs found, a hint) so that the CLI and the GUI can each present it
their own way. ``str(err)`` is always a complete sentence a user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

#: The two ways sam3roto meets a person: the command line and the window.
Face = Literal["cli", "window"]
FACES: tuple[Face, ...] = get_args(Face)


@dataclass(frozen=True)
class Hint:
    """A hint worded for each face, when the fix is done differently in each: ``cli`` names
    command-line flags, ``window`` names the window's own menus and controls (never a
    flag). A hint that reads the same in both is a plain ``str``.

    ``+`` with a ``str`` and :meth:`replace` apply to both wordings, so a hint can be
    extended like a string (``"the file is damaged; " + INSTALL_HINT``).
    """

    cli: str
    window: str

    def for_face(self, face: Face) -> str:
        """The wording for ``face`` (``"cli"`` or ``"window"``)."""
        if face not in FACES:
            raise ValueError(f"face must be one of {FACES}, got {face!r}")
        return self.cli if face == "cli" else self.window

    def replace(self, old: str, new: str) -> Hint:
        """Both wordings with ``old`` replaced by ``new`` (like :meth:`str.replace`)."""
        return Hint(self.cli.replace(old, new), self.window.replace(old, new))

    def __add__(self, other: str) -> Hint:
        return Hint(self.cli + other, self.window + other)

    def __radd__(self, other: str) -> Hint:
        return Hint(other + self.cli, other + self.window)

    def __str__(self) -> str:
        return self.cli


#: The window's way to install the ML tools and fetch the weights. Tests check every menu,
#: tab and label a window hint names against the window itself.
WINDOW_INSTALL = 'open Edit > Settings... and press "Install / Reinstall ML tools"'

#: Depth missing from a project's depth cache.
RUN_DEPTH_HINT = Hint(
    cli="run: python run.py depth PROJECT",
    window='run depth in the Depth / Camera tab ("Run depth over the shot")',
)


class Sam3RotoError(Exception):
    """Root of every error sam3roto raises on purpose.

    ``message`` says what is wrong, ``path`` where, ``hint`` what to do: a plain string
    when the fix reads the same on every face, else a :class:`Hint`. ``str(err)`` is the
    command-line sentence (``path: message (hint)``); the window shows :attr:`headline`
    and :meth:`hint_for` ``("window")`` apart.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | Hint | None = None) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.hint = hint
        super().__init__(self.describe("cli"))

    @property
    def headline(self) -> str:
        """``path: message`` (or the message alone), without the hint."""
        return f"{self.path}: {self.message}" if self.path is not None else self.message

    def hint_for(self, face: Face) -> str | None:
        """The hint worded for ``face`` (``"cli"`` or ``"window"``); None when there is none."""
        if face not in FACES:
            raise ValueError(f"face must be one of {FACES}, got {face!r}")
        if self.hint is None or self.hint == "":
            return None
        return self.hint.for_face(face) if isinstance(self.hint, Hint) else self.hint

    def describe(self, face: Face) -> str:
        """The whole sentence for ``face``: :attr:`headline` and the hint in brackets."""
        hint = self.hint_for(face)
        return f"{self.headline} ({hint})" if hint else self.headline


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
        self,
        message: str,
        *,
        path: str | Path | None = None,
        frame: int | None = None,
        hint: str | Hint | None = None,
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


class LimitError(Sam3RotoError):
    """A file that declares more than the resource limits admit (a frame's decoded size, a
    JSON file's length or depth, a polygon's points): refused before the work starts.
    ``hint`` names the setting that raises the limit (:mod:`sam3roto.core.limits`)."""


class MediaTooLargeError(LimitError, MediaError):
    """Media whose frames would decode to more than the limits admit."""


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
            hint="put the media back where the project expects it and open the project again; the masks are kept "
            "(a script can relink it: sam3roto.core.project_io.load_project(..., relink=NEW_PATH))",
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
    """Model weights are missing or unreadable; ``hint`` says how to install them (the
    install script and weights flags on the command line, Settings in the window)."""


class DeviceMemoryError(EngineError):
    """The accelerator ran out of memory even after the fallbacks were tried."""

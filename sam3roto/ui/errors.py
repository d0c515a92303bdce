"""The window's one way to show an error: what went wrong and what to do in the box, the
traceback only behind Qt's "Show Details..." expander.

:func:`report_from_exception` is plain Python (worker threads build reports where the
traceback is still at hand); :func:`show_error` is the dialog.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from sam3roto.errors import Sam3RotoError

#: The hint of an error sam3roto did not expect: a bug, to be reported with the details.
BUG_HINT = ("This is a bug in sam3roto, not something you did wrong. Please report it with the text under "
            '"Show Details...", which holds what to report; your work so far is still open.')
#: The hint of a file-system error (a missing folder, permissions, a full disk).
OS_HINT = "Check that the path exists, that you may write there, and that the disk has free space."


@dataclass(frozen=True)
class ErrorReport:
    """An error as the window shows it: ``title`` (the dialog's title), ``message`` (what
    went wrong, one sentence, with the path when there is one), ``hint`` (what to do, in the
    window's words; None when there is nothing to add) and ``details`` (the traceback, for
    a bug report; None when there is none)."""

    title: str
    message: str
    hint: str | None = None
    details: str | None = None

    def with_title(self, title: str) -> ErrorReport:
        """The same report under another title (e.g. ``"depth failed"``)."""
        return replace(self, title=title)


def report_from_exception(exc: BaseException, *, title: str = "sam3roto", details: str | None = None) -> ErrorReport:
    """The report of ``exc``. A :class:`Sam3RotoError` gives its message (with its path)
    and its hint worded for the window; an ``OSError`` its reason and file; anything
    else is a bug: ``TypeName: text`` on one line and a hint saying so. ``details``
    defaults to ``exc``'s traceback (call this where it was caught, so it is complete)."""
    if details is None and exc.__traceback__ is not None:
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, Sam3RotoError):
        return ErrorReport(title, exc.headline, exc.hint_for("window"), details)
    if isinstance(exc, OSError) and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename is not None else exc.strerror
        return ErrorReport(title, message, OS_HINT, details)
    text = " ".join(str(exc).split())
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return ErrorReport(title, message, BUG_HINT, details)


#: Boxes shown without a parent, kept alive until closed (a parentless box that nothing
#: references would be collected and vanish).
_ORPHANS: set[QMessageBox] = set()


def show_error(parent: QWidget | None, report: ErrorReport) -> QMessageBox:
    """Show ``report`` in a critical message box, window-modal and non-blocking
    (``open()``), and return the box: text = the message, informative text = the hint, the
    traceback only in the detailed text."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(report.title)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(report.message)
    if report.hint:
        box.setInformativeText(report.hint)
    if report.details:
        box.setDetailedText(report.details)
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    if parent is None:
        _ORPHANS.add(box)
        box.finished.connect(lambda _result: _ORPHANS.discard(box))
    box.open()
    return box

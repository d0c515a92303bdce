"""A ZIP of 8-bit 0/255 PNG masks (seed 002): one composited mask per frame
(``NAME.####.png``) or a folder per label (``LABEL/NAME_LABEL.####.png``).

The archive is built under a temporary name and renamed when complete. PNG data is
already compressed, so members are stored, not deflated again. Member timestamps are
fixed, so the same render gives the same bytes (farm chunks included).
"""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path

import cv2
import numpy as np

from sam3roto.errors import Sam3RotoError
from sam3roto.export.base import Exporter, ExporterInfo, FrameOutput, RenderPlan
from sam3roto.export.naming import frame_file, write_error

ZIP_MODES = ("single", "per_label")
#: Member timestamp: fixed (the ZIP epoch, as reproducible builds do), so rendering the same
#: frames twice, or on a farm in chunks, gives byte-identical archives.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def add_member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Store ``data`` as ``name`` in ``archive`` with the fixed timestamp."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = archive.compression
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def _png(mask: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", mask.view(np.uint8) * np.uint8(255), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise Sam3RotoError("the PNG encoder failed on a mask")
    return data.tobytes()


class MaskZip(Exporter):
    """``NAME_masks.zip`` holding binary masks, composited or per label."""

    info = ExporterInfo("mask-zip", ".zip", "ZIP of 8-bit 0/255 PNG masks, composited or one folder per label",
                        alpha=False, bit_depths=(8,), kind="archive", per_object=False, parallel=False)

    def __init__(self, folder: Path, plan: RenderPlan) -> None:
        super().__init__(folder, plan)
        if plan.zip_mode not in ZIP_MODES:
            raise ValueError(f"zip mode must be one of {', '.join(ZIP_MODES)}, got {plan.zip_mode!r}")
        self.final = folder / f"{plan.name}_masks.zip"
        self.partial = folder / f".{plan.name}_masks.partial.zip"
        self._zip: zipfile.ZipFile | None = None

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.partial, "x", compression=zipfile.ZIP_STORED, allowZip64=True)
        return self._zip

    def write(self, frame: FrameOutput) -> None:
        try:
            archive = self._archive()
            if self.plan.zip_mode == "single":
                name = frame_file(self.plan.name, frame.number, self.plan.padding, ".png")
                add_member(archive, name, _png(self.combined(frame)))
                return
            for obj in self.plan.objects:
                if obj.id in frame.mattes:
                    name = frame_file(f"{self.plan.name}_{obj.token}", frame.number, self.plan.padding, ".png")
                    add_member(archive, f"{obj.token}/{name}", _png(frame.mattes[obj.id] > 0.5))
        except OSError as exc:
            raise write_error(self.final, exc, "the ZIP") from None

    def finish(self) -> None:
        try:
            self._archive().close()  # writes the central directory
            self._zip = None
            self.partial.rename(self.final)
        except OSError as exc:
            raise write_error(self.final, exc, "the ZIP") from None
        self.files.append(self.final)

    def abort(self) -> None:
        if self._zip is not None:
            with contextlib.suppress(OSError):
                self._zip.close()
            self._zip = None
        self.partial.unlink(missing_ok=True)

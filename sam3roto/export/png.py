"""PNG outputs: per-object alpha (8/16 bit), per-object RGBA (straight or premultiplied,
said in the file name), one combined binary matte, and Postshot RGBA (seed 003: the
plate's RGB untouched with the combined binary matte as straight alpha).

PNG alpha is straight by specification; premultiplied RGBA is written only on request
and is then named ``..._rgba_premult``. Frames are encoded in parallel (OpenCV's encoder
releases the GIL).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sam3roto.errors import Sam3RotoError
from sam3roto.export.base import Exporter, ExporterInfo, FrameOutput, ObjectOut, rgba_uint, to_uint, write_atomic

#: zlib level 1 and the PNG "up" filter for every row. Measured on a 4K 16-bit RGBA frame
#: (DAVIS blackswan upscaled): 0.69 s and 12.1 MB, against 1.25 s and 11.8 MB with libpng's
#: adaptive filter choice and several times longer at higher levels. Filters are lossless.
PNG_PARAMS = (cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP)


def encode_png(path: Path, pixels: np.ndarray, *, bgr: bool = False) -> None:
    """Encode ``pixels`` (grey ``(H, W)`` or ``(H, W, C)`` RGB/RGBA, or BGR/BGRA when
    ``bgr``; uint8/uint16) and write it atomically to ``path``."""
    if pixels.ndim == 3 and not bgr:
        code = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
        pixels = cv2.cvtColor(pixels, code)
    ok, data = cv2.imencode(".png", pixels, list(PNG_PARAMS))
    if not ok:
        raise Sam3RotoError("the PNG encoder failed", path=path)
    write_atomic(path, data.tobytes())


class _PerObject(Exporter):
    def objects(self, frame: FrameOutput) -> list[ObjectOut]:
        return [o for o in self.plan.objects if o.id in frame.mattes]


class PngAlpha(_PerObject):
    """``OBJECT/NAME_OBJECT.####.png``: the object's matte as grey, 8 or 16 bit."""

    info = ExporterInfo("png-alpha", ".png", "PNG matte per object (grey, 8/16 bit)", alpha=True,
                        bit_depths=(8, 16), kind="sequence", per_object=True, parallel=True)

    def write(self, frame: FrameOutput) -> None:
        for obj in self.objects(frame):
            path = self.frame_path(obj.token, f"{self.plan.name}_{obj.token}", frame.number)
            encode_png(path, to_uint(frame.mattes[obj.id], self.plan.bit_depth))
            self.files.append(path)


class PngRgba(_PerObject):
    """``OBJECT/NAME_OBJECT_rgba_straight.####.png`` (or ``_rgba_premult``): the cleaned RGB
    with the matte as alpha, 8 or 16 bit."""

    info = ExporterInfo("png-rgba", ".png", "PNG RGBA per object, straight or premultiplied (named)", alpha=True,
                        bit_depths=(8, 16), kind="sequence", per_object=True, parallel=True)

    def write(self, frame: FrameOutput) -> None:
        for obj in self.objects(frame):
            kind = "premult" if frame.premultiplied.get(obj.id, False) else "straight"
            path = self.frame_path(obj.token, f"{self.plan.name}_{obj.token}_rgba_{kind}", frame.number)
            bgra = rgba_uint(frame.rgb[obj.id], frame.mattes[obj.id], self.plan.bit_depth, bgra=True)
            encode_png(path, bgra, bgr=True)
            self.files.append(path)


class PngCombined(Exporter):
    """``combined/NAME_combined.####.png``: one binary matte (8-bit 0/255) of the chosen
    objects merged (seed 003)."""

    info = ExporterInfo("png-combined", ".png", "one binary matte of the chosen objects (8-bit 0/255)",
                        alpha=True, bit_depths=(8,), kind="sequence", per_object=False, parallel=True)

    def write(self, frame: FrameOutput) -> None:
        path = self.frame_path("combined", f"{self.plan.name}_combined", frame.number)
        encode_png(path, self.combined(frame).view(np.uint8) * np.uint8(255))
        self.files.append(path)


class Postshot(Exporter):
    """``postshot/NAME.####.png``: the plate's RGB (as read for sRGB plates, else in its
    output colour space: ``plan.colorspaces["postshot"]``), plus the combined binary
    matte as alpha, straight, never premultiplied (Postshot's Gaussian-splat input, seed
    003). 8-bit plates give 8-bit PNGs; deeper plates 16-bit."""

    info = ExporterInfo("postshot", ".png",
                        "Postshot RGBA: plate RGB (display-referred) + combined binary alpha, straight",
                        alpha=True, bit_depths=(8, 16), kind="sequence", per_object=False, parallel=True)

    def write(self, frame: FrameOutput) -> None:
        bits = 8 if frame.image.dtype == np.uint8 else 16
        alpha = self.combined(frame).astype(np.float32)
        path = self.frame_path("postshot", self.plan.name, frame.number)
        encode_png(path, rgba_uint(frame.image, alpha, bits, bgra=True), bgr=True)
        self.files.append(path)

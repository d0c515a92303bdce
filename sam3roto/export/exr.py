"""Multi-layer OpenEXR: one file per frame, one layer per object (``person.A``), half
float, ZIP/PIZ/DWAA compression, optionally the plate's RGB as the main ``R G B`` layer.

Layer names are Nuke-safe (letters, digits and ``_``, no leading digit; see
:func:`sam3roto.export.naming.layer_name`). Written with the OpenEXR bindings, which
release the GIL while compressing, so frames are written in parallel. The plate's RGB is
in the render's colour space for EXR (``plan.colorspaces["exr"]``: the input colour space
unless another was chosen), named in the header (``sam3roto_rgb`` and OpenImageIO's
``oiio:ColorSpace``); mattes are data, never converted.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sam3roto.core.pixels import to_float
from sam3roto.export.base import Exporter, ExporterInfo, FrameOutput
from sam3roto.export.naming import write_error

#: Compression choices by name (the ones Nuke and Flame read everywhere).
EXR_COMPRESSIONS = ("zip", "piz", "dwaa", "none")


def _compression(name: str) -> object:
    import OpenEXR

    table = {"zip": OpenEXR.ZIP_COMPRESSION, "piz": OpenEXR.PIZ_COMPRESSION,
             "dwaa": OpenEXR.DWAA_COMPRESSION, "none": OpenEXR.NO_COMPRESSION}
    if name not in table:
        raise ValueError(f"EXR compression must be one of {', '.join(EXR_COMPRESSIONS)}, got {name!r}")
    return table[name]


def write_exr(path: Path, channels: dict[str, np.ndarray], compression: str, attributes: dict[str, str]) -> None:
    """Write ``channels`` (name -> ``(H, W)`` array, half or float) to ``path`` atomically."""
    import OpenEXR

    header: dict[str, object] = {"compression": _compression(compression), "type": OpenEXR.scanlineimage}
    header.update(attributes)
    tmp = path.with_name(f".{path.name}.partial.exr")
    try:
        with OpenEXR.File(header, channels) as exr:
            exr.write(str(tmp))
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # the bindings report I/O failures (disk full) as RuntimeError
        raise write_error(path, exc, "the EXR") from None
    finally:
        tmp.unlink(missing_ok=True)


class ExrLayers(Exporter):
    """``exr/NAME.####.exr`` with ``OBJECT.A`` per object (half) and, when the plan asks,
    the plate as ``R G B``."""

    info = ExporterInfo("exr", ".exr", "multi-layer EXR: a half-float OBJECT.A layer per object, optional RGB",
                        alpha=True, bit_depths=(16,), kind="sequence", per_object=False, parallel=True)

    def write(self, frame: FrameOutput) -> None:
        channels: dict[str, np.ndarray] = {}
        if self.plan.exr_rgb:
            rgb = to_float(frame.image).astype(np.float16)
            for i, name in enumerate("RGB"):
                channels[name] = np.ascontiguousarray(rgb[..., i])
        for obj in self.plan.objects:
            if obj.id in frame.mattes:
                channels[f"{obj.layer}.A"] = frame.mattes[obj.id].astype(np.float16)
        attributes = {"sam3roto_layers": ",".join(o.layer + "=" + o.name for o in self.plan.objects),
                      "sam3roto_rgb": "none"}
        if self.plan.exr_rgb:
            space = self.plan.colorspaces.get("exr")
            attributes["sam3roto_rgb"] = f"the plate in the colour space {space}" if space else "the plate as read"
            if space:
                attributes["oiio:ColorSpace"] = space
        path = self.frame_path("exr", self.plan.name, frame.number)
        write_exr(path, channels, self.plan.exr_compression, attributes)
        self.files.append(path)

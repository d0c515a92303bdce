"""Exporters by id, imported on first use (``"module:Class"`` strings)."""

from __future__ import annotations

import importlib

from sam3roto.export.base import Exporter

#: id -> "module:Class". The order is the order outputs are listed to users.
EXPORTERS: dict[str, str] = {
    "png-alpha": "sam3roto.export.png:PngAlpha",
    "png-rgba": "sam3roto.export.png:PngRgba",
    "png-combined": "sam3roto.export.png:PngCombined",
    "postshot": "sam3roto.export.png:Postshot",
    "exr": "sam3roto.export.exr:ExrLayers",
    "prores": "sam3roto.export.prores:ProRes4444",
    "mask-zip": "sam3roto.export.maskzip:MaskZip",
    "depth-png16": "sam3roto.export.depth:DepthPng16",
    "depth-exr": "sam3roto.export.depth:DepthExr",
    "normals-png": "sam3roto.export.depth:NormalsPng",
    "normals-exr": "sam3roto.export.depth:NormalsExr",
    "camera-npz": "sam3roto.export.camera:CameraNpz",
    "chan": "sam3roto.export.camera:Chan",
    "ply": "sam3roto.export.ply:PointCloud",
    "blender": "sam3roto.export.blender:BlenderScript",
}


def exporter_class(exporter_id: str) -> type[Exporter]:
    """The exporter class registered as ``exporter_id``; ``ValueError`` listing the ids otherwise."""
    target = EXPORTERS.get(exporter_id)
    if target is None:
        raise ValueError(f"unknown output {exporter_id!r}; choose from {', '.join(EXPORTERS)}")
    module, _, name = target.partition(":")
    cls: type[Exporter] = getattr(importlib.import_module(module), name)
    return cls


def parse_outputs(text: str) -> tuple[str, ...]:
    """``"png-alpha,prores"`` -> the ids, checked, without repeats, in the given order."""
    ids: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        exporter_class(part)
        if part not in ids:
            ids.append(part)
    if not ids:
        raise ValueError(f"no outputs given; choose from {', '.join(EXPORTERS)}")
    return tuple(ids)

"""Colour management with OpenColorIO: which colour space a shot's plates are in, the
plates converted for the models and for analysis, for the viewer and for RGB outputs.

The rules (README, "Colour"):

* **Input**: each shot has an input colour space, guessed from the media when the shot is
  made (:func:`guess_input_colorspace`) and overridable. With ``$OCIO`` set, the config's
  file rules decide when they match the file; otherwise float images (EXR, float TIFF)
  are the config's ``scene_linear`` role and everything else (8/16-bit images, video) is
  sRGB-encoded Rec.709.
* **Models and analysis** (segmentation, tracking, depth, segment everything, matte
  refinement, flow) see the plate converted to sRGB-encoded Rec.709 in [0, 1]
  (:class:`ColourSource`); when the input already is that space nothing is converted.
* **Viewer**: input to a display and view of the config (:meth:`ColourConfig.display`).
* **RGB outputs** are written in an output colour space (:func:`output_spaces`); mattes,
  masks, depth and normals are data and never converted.

The config is ``$OCIO`` when set, else the studio config built into the ``opencolorio``
package (``ocio://studio-config-latest``). Colour spaces are stored by name; a name the
config does not know is a :class:`ColourError` naming the config.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sam3roto.core.pixels import to_float
from sam3roto.errors import Hint, Sam3RotoError
from sam3roto.media.source import FrameSource, MediaInfo

#: The config used when ``$OCIO`` is not set.
BUILTIN_CONFIG = "ocio://studio-config-latest"
#: What the models were trained on, by the names configs give it (first found wins).
MODEL_SPACE_NAMES = ("sRGB Encoded Rec.709 (sRGB)", "srgb_tx", "sRGB - Texture", "Utility - sRGB - Texture",
                     "sRGB", "srgb")
#: Linear Rec.709, for configs without a ``scene_linear`` role.
LINEAR_SPACE_NAMES = ("Linear Rec.709 (sRGB)", "lin_rec709", "Utility - Linear - sRGB", "linear", "lin_srgb")
#: Views that show display-referred plates as they are (preferred for sRGB and video inputs).
PLAIN_VIEW_NAMES = ("Un-tone-mapped", "Standard", "Video (colorimetric)", "sRGB")

COLOUR_HINT = Hint(
    cli="choose one of the config's colour spaces (python run.py colorspaces lists them), or set $OCIO to the "
        "config the name comes from",
    window='choose one of the config\'s colour spaces in View > Colour > "Input colour space...", or start '
           "sam3roto with $OCIO set to the config the name comes from")


class ColourError(Sam3RotoError):
    """A colour space, display or view the config does not have, or a config that cannot load."""


def _ocio() -> Any:
    import PyOpenColorIO

    return PyOpenColorIO


class Converter:
    """A colour conversion of RGB frames: ``(H, W, 3)`` uint8/uint16/float in, ``float32
    (H, W, 3)`` out (integers scaled to [0, 1] first). ``identity``: nothing to convert
    (the frame comes back as float, values unchanged). ``clip``: clamp to [0, 1] and NaN to
    0 (for the models' and the display's [0, 1] images). Thread-safe."""

    def __init__(self, processor: Any | None, *, clip: bool, src: str, dst: str) -> None:
        self._cpu = None if processor is None else processor.getDefaultCPUProcessor()
        self.clip = clip
        self.src, self.dst = src, dst

    @property
    def identity(self) -> bool:
        return self._cpu is None

    def passes(self, frame: np.ndarray) -> bool:
        """Whether ``frame`` comes out as it goes in (so it need not be converted at all):
        an identity on integers, or on floats when nothing is clipped."""
        return self._cpu is None and (not self.clip or frame.dtype.kind in "ui")

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        out = to_float(frame)
        if np.shares_memory(out, frame):  # converted in place below: never the caller's frame
            out = out.copy()
        if self._cpu is not None:
            self._cpu.applyRGB(out)
        if self.clip:
            np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
            np.clip(out, 0.0, 1.0, out=out)
        return out

    def __repr__(self) -> str:
        return f"Converter({self.src!r} -> {self.dst!r}{', identity' if self.identity else ''})"


@dataclass(frozen=True)
class ColourConfig:
    """An OpenColorIO config and the lookups sam3roto needs. ``source``: the ``$OCIO``
    path or the built-in config's URI; ``name``: the config's own name."""

    source: str
    name: str
    config: Any

    def names(self) -> list[str]:
        """Every colour space, in the config's order."""
        return [cs.getName() for cs in self.config.getColorSpaces()]

    def has(self, name: str) -> bool:
        return self.config.getColorSpace(name) is not None

    def resolve(self, name: str, what: str = "colour space") -> str:
        """The config's own name for ``name`` (an alias or role resolves to its colour
        space), or :class:`ColourError` naming the config."""
        cs = self.config.getColorSpace(name) if isinstance(name, str) and name else None
        if cs is None:
            raise ColourError(f"the {what} {str(name)[:80]!r} is not in the OpenColorIO config {self.name!r} "
                              f"({self.source})", hint=COLOUR_HINT)
        return str(cs.getName())

    def encoding(self, name: str) -> str:
        """How the space encodes light: ``scene-linear``, ``log``, ``sdr-video``,
        ``hdr-video``, ``data`` or ``""`` (unknown: the config does not say)."""
        cs = self.config.getColorSpace(name)
        if cs is None:
            return ""
        if cs.isData():
            return "data"
        return str(cs.getEncoding() or "")

    def is_display_referred(self, name: str) -> bool:
        """Values already meant for a screen in [0, 1] (what 8/16-bit files and ProRes hold)."""
        enc = self.encoding(name)
        if enc:
            return enc in ("sdr-video", "data")
        return not _looks_linear(name)

    def is_rec709_video(self, name: str) -> bool:
        """Display-referred values in Rec.709 primaries (sRGB, Rec.709 camera, gamma-
        encoded or display Rec.709), what a movie tagged Rec.709 may hold; wide-gamut
        (P3, AP1, Rec.2020, AdobeRGB, camera gamuts) and linear or log spaces are not."""
        if not self.has(name) or self.encoding(name) not in ("sdr-video", ""):
            return False
        canonical = self.resolve(name)
        if canonical == self.model_space:
            return True
        words = (canonical + " " + " ".join(self.config.getColorSpace(canonical).getAliases())).lower()
        wide = ("p3", "ap1", "2020", "adobe", "gamut", "aces", "linear", "log")
        return ("709" in words or "srgb" in words) and not any(w in words for w in wide) and \
            self.is_display_referred(canonical)

    @functools.cached_property
    def model_space(self) -> str:
        """sRGB-encoded Rec.709, the models' input space, by this config's name for it."""
        for name in MODEL_SPACE_NAMES:
            if self.has(name):
                return self.resolve(name)
        raise ColourError(f"the OpenColorIO config {self.name!r} ({self.source}) has no sRGB colour space "
                          f"(looked for {', '.join(MODEL_SPACE_NAMES[:4])})", hint=COLOUR_HINT)

    @functools.cached_property
    def linear_space(self) -> str:
        """The config's ``scene_linear`` role, else linear Rec.709."""
        role = self.config.getRoleColorSpace("scene_linear") if self.config.hasRole("scene_linear") else None
        if role:
            return self.resolve(role)
        for name in LINEAR_SPACE_NAMES:
            if self.has(name):
                return self.resolve(name)
        return self.model_space

    def converter(self, src: str, dst: str, *, clip: bool = False) -> Converter:
        """Frames from colour space ``src`` to ``dst`` (names checked)."""
        a, b = self.resolve(src), self.resolve(dst)
        if a == b:
            return Converter(None, clip=clip, src=a, dst=b)
        processor = self.config.getProcessor(a, b)
        return Converter(None if processor.isNoOp() else processor, clip=clip, src=a, dst=b)

    def to_model(self, src: str) -> Converter:
        """Frames from ``src`` to the models' sRGB, clipped to [0, 1]."""
        return self.converter(src, self.model_space, clip=True)

    def displays(self) -> list[str]:
        return list(self.config.getDisplays())

    def views(self, display: str) -> list[str]:
        return list(self.config.getViews(display)) if display in self.displays() else []

    def default_display(self) -> str:
        return str(self.config.getDefaultDisplay())

    def default_view(self, display: str, src: str) -> str:
        """The view a plate in ``src`` is shown with on ``display`` unless the artist picks
        one: the config's default for scene-linear and log plates; for display-referred
        plates (video, 8/16-bit images) a view that shows them as they are, when the
        config has one, so a movie looks in the viewer as in any player."""
        views = self.views(display)
        if self.is_display_referred(self.resolve(src)):
            for name in PLAIN_VIEW_NAMES:
                if name in views:
                    return name
        default = str(self.config.getDefaultView(display))
        return default if default in views else (views[0] if views else "")

    def display(self, src: str, display: str, view: str, *, fast: bool = False) -> Converter:
        """Frames from ``src`` through ``display``/``view`` to screen values in [0, 1].
        ``fast`` (the viewer's): the transform baked into a 65-point 3D LUT over the
        config's log space (``compositing_log`` role: ACEScct in the ACES configs), a tenth
        of the cost of an ACES 2.0 output transform and within 4 of 255 of it on real
        footage (``tests/media/test_colour.py``); the exact transform when the config has no
        log space. Renders never use it."""
        src = self.resolve(src)
        if display not in self.displays():
            raise ColourError(f"the display {display[:80]!r} is not in the OpenColorIO config {self.name!r}",
                              hint=COLOUR_HINT)
        if view not in self.views(display):
            raise ColourError(f"the view {view[:80]!r} is not one of the display {display!r}'s in the OpenColorIO "
                              f"config {self.name!r}", hint=COLOUR_HINT)
        ocio = _ocio()
        transform = ocio.DisplayViewTransform(src=src, display=display, view=view)
        processor = self.config.getProcessor(transform)
        plain = processor.isNoOp() or _near_identity(processor)
        if fast and not plain:
            baked = self._baked_display(src, display, view)
            if baked is not None:
                processor = baked
        return Converter(None if plain else processor, clip=True, src=src, dst=f"{display} / {view}")

    def _baked_display(self, src: str, display: str, view: str) -> Any | None:
        """``src`` -> the log space (exact, cheap) -> a tetrahedral 3D LUT of the log space
        through ``display``/``view``; None when the config has no log space."""
        ocio = _ocio()
        log = self.config.getRoleColorSpace("compositing_log") if self.config.hasRole("compositing_log") else None
        if not log or self.encoding(log) != "log":
            return None
        size = 65
        axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
        lattice = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(1, -1, 3).copy()
        self.config.getProcessor(ocio.DisplayViewTransform(src=log, display=display, view=view)) \
            .getDefaultCPUProcessor().applyRGB(lattice)  # OCIO's 3D LUTs run blue fastest, as meshgrid "ij" does
        lut = ocio.Lut3DTransform(gridSize=size)
        lut.setData(np.ascontiguousarray(lattice.reshape(-1)))
        lut.setInterpolation(ocio.INTERP_TETRAHEDRAL)
        return self.config.getProcessor(ocio.GroupTransform([ocio.ColorSpaceTransform(src=src, dst=log), lut]))

    def guess(self, info: MediaInfo, from_env: bool | None = None) -> str:
        """The input colour space of media described by ``info``: the config's file rules
        when the config comes from ``$OCIO`` and a rule other than the default matches the
        file; else the ``scene_linear`` role for float images and sRGB for the rest."""
        from_env = self.source != BUILTIN_CONFIG if from_env is None else from_env
        if from_env:
            path = str(info.path)
            if info.kind in ("sequence", "archive") and info.codec and not path.lower().endswith("." + info.codec):
                path = str(Path(path) / f"frame.{info.codec}")  # a folder of frames: the rules match their type
            try:
                if not self.config.filepathOnlyMatchesDefaultRule(path):
                    found = self.config.getColorSpaceFromFilepath(path)
                    found = found[0] if isinstance(found, tuple) else found  # (name, rule index) in Python
                    if found and self.has(found):
                        return self.resolve(found)
            except Exception:  # a config's rules are advice; the guess below stands
                pass
        if info.dtype in ("float16", "float32"):
            return self.linear_space
        return self.model_space

    def describe(self) -> dict[str, str]:
        return {"config": self.name, "source": self.source}


def _near_identity(processor: Any) -> bool:
    """The transform moves no value of [0, 1] by half a 10-bit code or more (an sRGB plate
    through an sRGB display's plain view: the round trip's float noise only), so showing
    the plate as it is shows the same picture, faster and exactly."""
    axis = np.linspace(0.0, 1.0, 17, dtype=np.float32)
    lattice = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(1, -1, 3).copy()
    out = lattice.copy()
    processor.getDefaultCPUProcessor().applyRGB(out)
    return bool(np.abs(out - lattice).max() < 0.5 / 1023)


def _looks_linear(name: str) -> bool:
    low = name.lower()
    return "linear" in low or low.startswith("lin_") or low in ("acescg", "aces2065-1", "scene_linear")


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load(source: str) -> ColourConfig:
    ocio = _ocio()
    try:
        config = ocio.Config.CreateFromFile(source)
        config.validate()
        # no processor cache: it takes two in-memory LUTs of one size (the viewer's baked
        # display transforms) for the same and would hand back the first one; sam3roto keeps
        # the processors it uses itself
        config.setProcessorCacheFlags(ocio.PROCESSOR_CACHE_OFF)
    except Exception as exc:  # OCIO raises its own Exception type for every failure
        raise ColourError(f"the OpenColorIO config could not be loaded: {str(exc)[:300]}", path=source,
                          hint=Hint(cli="set $OCIO to a valid config.ocio, or unset it to use the built-in "
                                        "studio config",
                                    window="start sam3roto with $OCIO set to a valid config.ocio, or unset")
                          ) from None
    return ColourConfig(source=source, name=str(config.getName() or Path(source).stem), config=config)


def load_config(source: str | None = None) -> ColourConfig:
    """The config at ``source``, else ``$OCIO``, else the built-in studio config (loaded
    once per process)."""
    chosen = source or os.environ.get("OCIO") or BUILTIN_CONFIG
    with _LOCK:
        return _load(chosen)


def guess_input_colorspace(info: MediaInfo, config: ColourConfig | None = None) -> str:
    """:meth:`ColourConfig.guess` with the current config."""
    return (config or load_config()).guess(info)


#: How an output holds RGB (``output_spaces``): ``float`` values beyond [0, 1] (EXR);
#: ``display`` 8/10/16-bit display-referred values (PNG, point colours); ``rec709``
#: display-referred values in a file tagged Rec.709 (ProRes).
RGB_KINDS = ("float", "display", "rec709")


def output_spaces(config: ColourConfig, input_space: str, chosen: str | None,
                  outputs: dict[str, str]) -> dict[str, str]:
    """Output id -> the colour space its RGB is written in. ``outputs``: the RGB outputs
    by id, each with its kind (:data:`RGB_KINDS`). Float outputs get ``chosen`` when set,
    else the input space (what comes in goes out, so the RGB comps back over the plate).
    Integer outputs get the same when it is display-referred, else sRGB (a scene-linear or
    log plate in an 8/16-bit file would be clipped or look flat); a ``rec709`` output
    (ProRes, tagged Rec.709) gets it only when it is Rec.709 display-referred video, else
    sRGB-encoded Rec.709, so the tags stay true."""
    wanted = config.resolve(chosen, "output colour space") if chosen else config.resolve(input_space)
    out: dict[str, str] = {}
    for key, kind in outputs.items():
        if kind not in RGB_KINDS:
            raise ValueError(f"an output's RGB kind is one of {', '.join(RGB_KINDS)}, not {kind!r}")
        if kind == "float":
            out[key] = wanted
        elif kind == "display":
            out[key] = wanted if config.is_display_referred(wanted) else config.model_space
        else:
            out[key] = wanted if config.is_rec709_video(wanted) else config.model_space
    return out


class ColourSource(FrameSource):
    """A source whose frames are its plates converted for the models and analysis
    (:meth:`ColourConfig.to_model`): ``read`` gives those, ``read_plate`` the plate as
    stored, ``plate`` the source underneath. ``input_space`` names the plates' space."""

    def __init__(self, plate: FrameSource, config: ColourConfig, input_space: str,
                 to_model: Converter | None = None) -> None:
        self.plate = plate
        self.config = config
        self.input_space = config.resolve(input_space, "input colour space")
        self.to_model = to_model if to_model is not None else config.to_model(self.input_space)
        info = plate.info
        extra = {**info.extra, "colorspace": self.input_space}
        self.info = replace(info, extra=extra) if self.to_model.identity else replace(info, dtype="float32",
                                                                                     extra=extra)

    def _convert(self, frame: np.ndarray) -> np.ndarray:
        return frame if self.to_model.passes(frame) else self.to_model(frame)

    def __getattr__(self, name: str) -> Any:
        # what a particular reader offers beyond FrameSource (a sequence's frame_path, for
        # errors naming the file of a frame) stays reachable through the wrapper
        if name == "plate":
            raise AttributeError(name)
        return getattr(self.plate, name)

    def read(self, index: int) -> np.ndarray:
        return self._convert(self.plate.read(index))

    def read_plate(self, index: int) -> np.ndarray:
        """The frame as the media stores it, in :attr:`input_space`."""
        return self.plate.read(index)

    def read_span(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        for index, frame in self.plate.read_span(start, stop):
            yield index, self._convert(frame)

    def keyframe_before(self, index: int) -> int:
        return self.plate.keyframe_before(index)

    def clone(self) -> ColourSource:
        return ColourSource(self.plate.clone(), self.config, self.input_space, self.to_model)

    def close(self) -> None:
        self.plate.close()


def plates_of(source: FrameSource) -> tuple[FrameSource, Callable[[int], np.ndarray]]:
    """The source of plates as stored beneath ``source`` and its reader (``source``
    itself when it converts nothing)."""
    if isinstance(source, ColourSource):
        return source.plate, source.read_plate
    return source, source.read


def colour_source(plate: FrameSource, input_space: str | None = None,
                  config: ColourConfig | None = None) -> ColourSource:
    """``plate`` wrapped for the models, its space ``input_space`` (None: guessed); on an
    error (a name the config lacks) ``plate`` is closed."""
    try:
        config = config or load_config()
        return ColourSource(plate, config, input_space or config.guess(plate.info))
    except BaseException:
        plate.close()
        raise

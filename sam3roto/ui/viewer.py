"""The viewer: the current frame composed at display resolution in one of the display
modes (``compose.MODES``), with every visible object's overlay (filled, outlined or both),
the prompts of the active object, zoom/pan/fit, and the prompt tools (point +, point -,
box; click a prompt to select it, drag to move, Delete to remove). View options: the
matte scope (the active object or all visible ones), the onion skin (the active object's
mask outline on the previous and next frame), the A/B wipe (the plate left of a line
dragged with the mouse, the mode right of it) and a heads-up display of the frame
number, timecode and frame rate."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QTabletEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from sam3roto.core.depthcache import known_depth
from sam3roto.core.strokes import touchups_at
from sam3roto.core.timecode import fps_label, timecode_at
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt
from sam3roto.errors import Sam3RotoError
from sam3roto.ui.compose import (
    MODES,
    ONION_NEXT,
    ONION_PREVIOUS,
    OVERLAY_STYLES,
    MatteLayer,
    compose,
    displayed_plate,
    visible_view,
)
from sam3roto.ui.document import Document
from sam3roto.ui.paint import PaintTool
from sam3roto.ui.qimage import to_qimage

PICK_RADIUS_PX = 9
#: A left press this close to the wipe line (widget pixels) drags it.
WIPE_GRAB_PX = 8
MATTE_SCOPES = ("active", "all")


class Viewer(QWidget):
    """The frame in one display mode. ``mode`` is one of ``compose.MODES``;
    ``overlay_style`` one of ``compose.OVERLAY_STYLES`` (the overlay mode's look);
    ``matte_scope`` "active" or "all" (which objects the matte, rgba and edge modes show);
    ``wipe`` and ``wipe_x`` (a fraction of the width) the A/B wipe; ``onion`` the onion
    skin; ``hud`` the heads-up display, which says "loop" while ``looping``. Every change
    of these emits ``viewChanged``."""

    painted = Signal()  # after every paint (tests and the UI benchmark wait on it)
    viewChanged = Signal()  # a display mode or view option changed (menus and the mode box follow)

    def __init__(self, doc: Document | None = None) -> None:
        super().__init__()
        self.setMinimumSize(320, 200)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setMouseTracking(True)
        self.doc: Document | None = None
        self.mode = "overlay"
        self.overlay_style = "fill"
        self.matte_scope = "active"
        self.wipe = False
        self.wipe_x = 0.5  # the wipe line, as a fraction of the widget's width
        self.onion = False
        self.hud = False  # the window turns it on; a viewer on its own shows only the frame
        self.looping = False  # said on the heads-up display (the window plays)
        self.paint = PaintTool(self)  # the brush and shape tools
        self._version = 0  # counts the document's changes (see _composed)
        self._shown: tuple[Any, Any] | None = None  # (state, QImage) last composed while painting
        self.scale = 1.0
        self.origin = QPointF(0, 0)  # source point at the widget's top-left
        self.fitted = True  # refit on resize until the user zooms or pans
        self.selected: int | None = None  # index into the active prompts
        self._drag: dict[str, Any] | None = None
        # object id -> (key, (matte, rgb), error): one entry per object, for the current frame
        self._matte_cache: dict[int, tuple[Any, tuple[Any, Any], str]] = {}
        self._colour_cache: tuple[Any, np.ndarray | None] | None = None
        self.preview_error = ""  # why the matte preview cannot be shown (painted on the view)
        self.regions: np.ndarray | None = None  # segment everything: region labels of ``regions_frame``
        self.regions_frame = -1
        self.picked: set[int] = set()
        #: the display and view the plate is shown through (None: the config's default
        #: display; the view that suits the input colour space, ColourConfig.default_view)
        self.display_name: str | None = None
        self.view_name: str | None = None
        self._display: tuple[Any, Any] | None = None  # (key, Converter)
        self._plate_shown: tuple[Any, np.ndarray] | None = None  # (frame, view, transform), pixels
        if doc is not None:
            self.set_document(doc)

    # -- wiring -------------------------------------------------------------------------------
    def set_document(self, doc: Document) -> None:
        self.doc = doc
        for signal in (doc.frameChanged, doc.projectChanged, doc.promptsChanged, doc.masksChanged, doc.activeChanged):
            signal.connect(self._changed)
        self.fit()

    def _changed(self, *args: object) -> None:
        self.selected = None if args and isinstance(args[0], int) else self.selected
        self._version += 1
        self.update()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown display mode {mode!r}: one of {', '.join(MODES)}")
        self._set("mode", mode)

    def set_overlay_style(self, style: str) -> None:
        """How the overlay mode draws objects: "fill", "outline" or "both"."""
        if style not in OVERLAY_STYLES:
            raise ValueError(f"unknown overlay style {style!r}: one of {', '.join(OVERLAY_STYLES)}")
        self._set("overlay_style", style)

    def cycle_overlay_style(self) -> None:
        """fill -> outline -> both -> fill."""
        self.set_overlay_style(OVERLAY_STYLES[(OVERLAY_STYLES.index(self.overlay_style) + 1) % len(OVERLAY_STYLES)])

    def set_matte_scope(self, scope: str) -> None:
        """Which objects the matte, rgba and edge modes show: "active" or "all" visible."""
        if scope not in MATTE_SCOPES:
            raise ValueError(f"unknown matte scope {scope!r}: one of {', '.join(MATTE_SCOPES)}")
        self._set("matte_scope", scope)

    def set_wipe(self, on: bool) -> None:
        self._set("wipe", bool(on))

    def set_wipe_x(self, fraction: float) -> None:
        """Put the wipe line at ``fraction`` (0..1, clamped) of the widget's width."""
        self._set("wipe_x", min(1.0, max(0.0, float(fraction))))

    def set_onion(self, on: bool) -> None:
        self._set("onion", bool(on))

    def set_hud(self, on: bool) -> None:
        self._set("hud", bool(on))

    def set_looping(self, on: bool) -> None:
        self._set("looping", bool(on))

    def _set(self, name: str, value: Any) -> None:
        if getattr(self, name) != value:
            setattr(self, name, value)
            self.viewChanged.emit()
        self.update()

    # -- geometry ---------------------------------------------------------------------------
    def set_display(self, display: str | None, view: str | None) -> None:
        """Show the plate through OpenColorIO's ``display``/``view`` (None: the defaults)."""
        if (display, view) != (self.display_name, self.view_name):
            self.display_name, self.view_name = display, view
            self._version += 1
            self.update()
            self.viewChanged.emit()

    def display_transform(self) -> Any:
        """The plate's transform to the screen (a ``sam3roto.media.colour.Converter``) for
        the document's input colour space and the chosen display and view, or None when
        the document has no colour space or the transform changes nothing."""
        doc = self.doc
        source = doc.colour_source() if doc is not None else None
        if source is None:
            return None
        config = source.config
        display = self.display_name if self.display_name in config.displays() else config.default_display()
        view = self.view_name if self.view_name in config.views(display) else \
            config.default_view(display, source.input_space)
        key = (source.input_space, display, view)
        if self._display is None or self._display[0] != key:
            self._display = (key, config.display(source.input_space, display, view, fast=True))
        convert = self._display[1]
        return None if convert.identity else convert

    def display_label(self) -> str:
        """``input -> display / view`` as the viewer shows the plate now."""
        doc = self.doc
        source = doc.colour_source() if doc is not None else None
        if source is None:
            return ""
        self.display_transform()
        key = self._display[0] if self._display is not None else ("", "", "")
        return f"{key[0]} -> {key[1]} / {key[2]}"

    def fit(self) -> None:
        if self.doc is None:
            return
        info = self.doc.source.info
        self.scale = min(self.width() / info.width, self.height() / info.height) or 1.0
        self.origin = QPointF((info.width - self.width() / self.scale) / 2,
                              (info.height - self.height() / self.scale) / 2)
        self.fitted = True
        self.update()

    def one_to_one(self) -> None:
        self.zoom_at(QPointF(self.width() / 2, self.height() / 2), 1.0 / self.scale)

    def zoom_at(self, pos: QPointF, factor: float) -> None:
        src = self.to_source(pos)
        self.scale = max(0.02, min(32.0, self.scale * factor))
        self.origin = QPointF(src.x() - pos.x() / self.scale, src.y() - pos.y() / self.scale)
        self.fitted = False
        self.update()

    def to_source(self, pos: QPointF) -> QPointF:
        return QPointF(self.origin.x() + pos.x() / self.scale, self.origin.y() + pos.y() / self.scale)

    def to_widget(self, x: float, y: float) -> QPointF:
        return QPointF((x - self.origin.x()) * self.scale, (y - self.origin.y()) * self.scale)

    def resizeEvent(self, event: Any) -> None:
        self.fit()

    # -- painting ---------------------------------------------------------------------------
    def _matte(self, obj: Any) -> tuple[Any, Any]:
        """``obj``'s post result on this frame, ``(matte, rgb)``, with its settings on this
        frame (keyed ones interpolated) and its touch-ups over the matte (None, None without
        a mask or when post fails: :attr:`preview_error` says why). Cached per object until
        the frame changes or the document says anything changed (masks, strokes, settings),
        so zooming, panning and the view options recompute nothing."""
        from sam3roto.post import apply
        from sam3roto.post.keyed import KeyedPost

        doc = self.doc
        assert doc is not None
        # the document's change count covers its masks (strokes, undo, tracking), settings,
        # keys and touch-ups: every signal it sends counts one
        key = (doc.frame, self._version)
        cached = self._matte_cache.get(obj.id)
        if cached is not None and cached[0] == key:
            if cached[2]:
                self.preview_error = cached[2]
            return cached[1]
        mask = doc.store.get(obj.id, doc.frame)
        touchups = touchups_at(obj.touchups, doc.frame)
        if mask is None and touchups:  # touch-ups paint over an empty matte
            mask = np.zeros((doc.source.info.height, doc.source.info.width), bool)
        error = ""
        result: tuple[Any, Any] = (None, None)
        if mask is not None:
            try:
                settings = KeyedPost.of(obj).at(doc.frame)  # keyed settings: this frame's
                depth = None
                cache = doc.depth_cache()
                if settings.depth_mode != "off" and cache is not None and cache.path(doc.frame).is_file():
                    depth = known_depth(cache.get(doc.frame).depth, settings.depth_near_is_large)
                post = apply(doc.image(), mask, settings, depth=depth, touchups=touchups,
                             refine_models=self._refine_models())
                rgb = post.rgb
                source = doc.colour_source()
                if rgb is not None and source is not None and not source.to_model.passes(doc.plate()):
                    # the matte comes from the analysis frame (sRGB); the RGB is cleaned up on
                    # the plate, as a render does, and shown through the same display transform
                    from sam3roto.post.stack import finish_rgb

                    rgb = finish_rgb(doc.plate(), post.matte, settings)
                result = (post.matte, rgb)
            except (ValueError, TypeError) as exc:  # e.g. a depth foreground without depth: say so
                error = str(exc)
            except Sam3RotoError as exc:  # ViTMatte weights missing: say what to install
                error = exc.describe("window")
        self._matte_cache[obj.id] = (key, result, error)
        if error:
            self.preview_error = error
        return result

    def _refine_models(self) -> Any:
        """The learned refine models of this viewer's previews (ViTMatte loads on first use
        and stays loaded: the preview is computed once per frame and settings, then cached)."""
        models = getattr(self, "_refine", None)
        if models is None:
            from sam3roto.pipeline.post import RefineModels

            models = self._refine = RefineModels()
        return models

    def _matte_layers(self) -> list[MatteLayer]:
        """The objects the matte, rgba and edge modes show (by :attr:`matte_scope`), each
        with its matte; :attr:`preview_error` says why one could not be made."""
        doc = self.doc
        assert doc is not None
        self.preview_error = ""
        objects = [o for o in doc.project.objects if o.visible] if self.matte_scope == "all" else \
            [o for o in [doc.active()] if o is not None]
        known = {o.id for o in doc.project.objects}
        for gone in [k for k in self._matte_cache if k not in known]:
            del self._matte_cache[gone]
        layers = []
        for obj in objects:
            matte, rgb = self._matte(obj)
            if matte is not None:
                layers.append(MatteLayer(matte, tuple(obj.color), rgb))
        return layers

    def _colour_image(self) -> np.ndarray | None:
        """Depth or normals false colour of this frame, computed once per frame and mode
        (zoom, pan and overlays repaint without recomputing normals at 4K)."""
        doc = self.doc
        assert doc is not None
        key = (doc.frame, self.mode, doc.path)
        if self._colour_cache is not None and self._colour_cache[0] == key:
            return self._colour_cache[1]
        image = self._make_colour_image()
        if image is not None:  # none yet (depth still running): look again on the next paint
            self._colour_cache = (key, image)
        return image

    def depth_changed(self) -> None:
        """The depth cache was rewritten: recompute the depth and normals views."""
        self._colour_cache = None
        self._version += 1
        self.update()

    def _make_colour_image(self) -> np.ndarray | None:
        doc = self.doc
        assert doc is not None
        cache = doc.depth_cache()
        if cache is None or not cache.path(doc.frame).is_file():
            return None
        from sam3roto.geometry.normals import normals_from_depth, to_gl
        from sam3roto.geometry.preview import depth_preview, normals_preview

        frame = cache.get(doc.frame)
        if self.mode == "depth":
            near, far = cache.depth_range([int(i) for i in cache.cameras()["indices"]])
            return depth_preview(frame.depth, near, far)
        return normals_preview(to_gl(normals_from_depth(frame.depth, frame.intrinsics)))

    def compose_now(self) -> np.ndarray:
        """The pixels the viewer shows for the current state (also what paintEvent draws)."""
        doc = self.doc
        assert doc is not None
        info = doc.source.info
        view = visible_view(info.width, info.height, self.scale, self.origin.x(), self.origin.y(),
                            self.width(), self.height())
        kwargs: dict[str, Any] = {"overlay_style": self.overlay_style}
        if self.mode == "overlay":
            kwargs["masks"] = [(m, tuple(o.color)) for o in doc.project.objects if o.visible
                               and (m := doc.store.get(o.id, doc.frame)) is not None]
        elif self.mode in ("matte", "rgba", "edge"):
            kwargs["mattes"] = self._matte_layers()
        elif self.mode in ("depth", "normals"):
            kwargs["colour_image"] = self._colour_image()
        if self.regions is not None and self.regions_frame == doc.frame:
            obj = doc.active()
            kwargs["regions"] = (self.regions, self.picked, tuple(obj.color) if obj is not None else (255, 200, 0))
        if self.onion:
            kwargs["onion"] = self._onion()
        if self.wipe:
            kwargs["wipe_px"] = self.wipe_column()
        display = self.display_transform()
        shown = None
        if display is not None:  # a colour transform costs: keep the shown plate while only masks change
            key = (doc.frame, view, self._display[0] if self._display is not None else None)
            if self._plate_shown is None or self._plate_shown[0] != key:
                self._plate_shown = (key, displayed_plate(doc.plate(), view, display))
            shown = self._plate_shown[1]
        pixels = compose(doc.plate(), view, self.mode, display=display, shown=shown, **kwargs)
        self._view = view
        return pixels

    def _composed(self) -> Any:
        """The QImage to draw (None for an empty view). While a brush or shape tool is
        active the last one is kept as long as nothing it shows changed, so a stroke being
        drawn repaints only itself over the frame, not the frame."""
        doc = self.doc
        assert doc is not None
        state = (self._version, doc.frame, doc.input_colorspace(), self.display_name, self.view_name,
                 self.mode, self.overlay_style, self.matte_scope, self.onion, self.wipe,
                 self.wipe_x, self.scale, self.origin.x(), self.origin.y(), self.width(), self.height(),
                 id(self.regions), self.regions_frame, frozenset(self.picked), doc.project.active_object)
        if self.paint.active and self._shown is not None and self._shown[0] == state:
            return self._shown[1]
        pixels = self.compose_now()
        image = to_qimage(pixels) if pixels.size else None
        self._shown = (state, image) if self.paint.active else None
        return image

    def _onion(self) -> list[tuple[np.ndarray, tuple[int, int, int]]]:
        """The active object's masks on the previous and the next frame, with their colours."""
        doc = self.doc
        assert doc is not None
        obj = doc.active()
        if obj is None:
            return []
        found = []
        for frame, colour in ((doc.frame - 1, ONION_PREVIOUS), (doc.frame + 1, ONION_NEXT)):
            if 0 <= frame < doc.frame_count and (mask := doc.store.get(obj.id, frame)) is not None:
                found.append((mask, colour))
        return found

    def wipe_column(self) -> int:
        """The wipe line's x in widget pixels."""
        return round(self.wipe_x * self.width())

    def hud_text(self) -> str:
        """What the heads-up display says: the source's frame number, the SMPTE timecode
        (from the source's start timecode, else 00:00:00:00 at the first frame), the frame
        rate, and "loop" while playback loops: ``1001  00:00:41:17  23.976 fps``."""
        doc = self.doc
        assert doc is not None
        info = doc.source.info
        start = info.extra.get("timecode") if isinstance(info.extra.get("timecode"), str) else None
        text = f"{doc.frame_number()}  {timecode_at(doc.frame, info.fps, start)}  {fps_label(info.fps)} fps"
        return text + "  loop" if self.looping else text

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(38, 38, 40))
        if self.doc is not None:
            try:
                image = self._composed()
            except (Sam3RotoError, ValueError, OSError) as exc:  # a damaged frame or cache: say it, keep going
                painter.setPen(QColor(255, 120, 90))
                painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                                 int(Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap), str(exc))
                painter.end()
                self.painted.emit()
                return
            if image is not None:
                painter.drawImage(self._view.left, self._view.top, image)
            self._paint_prompts(painter)
            self.paint.draw(painter)
            if self.wipe:
                self._paint_wipe(painter)
            if self.hud:
                self._paint_hud(painter)
            if self.preview_error and self.mode in ("matte", "rgba", "edge"):
                painter.setPen(QColor(255, 120, 90))
                painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                                 int(Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap),
                                 f"preview: {self.preview_error}")
        painter.end()
        self.painted.emit()

    def _small_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        return font

    def _paint_wipe(self, painter: QPainter) -> None:
        """The wipe line, its handle, and (with the heads-up display) what each side shows."""
        x = self.wipe_column()
        h = self.height()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
        painter.drawLine(x, 0, x, h)
        painter.setPen(QPen(QColor(255, 255, 255), 1))
        painter.drawLine(x, 0, x, h)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        handle = QRectF(x - 6, h / 2 - 18, 12, 36)
        painter.setPen(QPen(QColor(20, 20, 20), 1))
        painter.setBrush(QColor(235, 235, 235))
        painter.drawRoundedRect(handle, 4, 4)
        painter.setPen(QPen(QColor(60, 60, 60), 1))
        for dx in (-2, 2):
            painter.drawLine(QPointF(x + dx, h / 2 - 8), QPointF(x + dx, h / 2 + 8))
        if self.hud:  # what each side shows, with the heads-up display's text
            painter.setFont(self._small_font())
            metrics = QFontMetrics(painter.font())
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(x - 8 - metrics.horizontalAdvance("image"), 4 + metrics.ascent(), "image")
            painter.drawText(x + 8, 4 + metrics.ascent(), self.mode)

    def _paint_hud(self, painter: QPainter) -> None:
        """Frame number, timecode and rate, bottom left, on a dark translucent box."""
        text = self.hud_text()
        painter.setFont(self._small_font())
        metrics = QFontMetrics(painter.font())
        pad = 4
        box = QRectF(8, self.height() - 8 - metrics.height() - 2 * pad,
                     metrics.horizontalAdvance(text) + 2 * pad, metrics.height() + 2 * pad)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 3, 3)
        painter.setPen(QColor(235, 235, 235))
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(box.adjusted(pad, pad, -pad, -pad), int(align), text)

    def _paint_prompts(self, painter: QPainter) -> None:
        doc = self.doc
        assert doc is not None
        obj = doc.active()
        colour = QColor(*obj.color) if obj is not None else QColor(255, 255, 0)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for i, p in enumerate(doc.prompts()):
            selected = i == self.selected
            if isinstance(p, PointPrompt):
                c = self.to_widget(p.x, p.y)
                fill = QColor(40, 220, 90) if p.positive else QColor(235, 60, 60)
                painter.setPen(QPen(QColor(255, 255, 255) if selected else QColor(0, 0, 0), 3 if selected else 1.5))
                painter.setBrush(fill)
                painter.drawEllipse(c, 6, 6)
                painter.setPen(QPen(QColor(255, 255, 255), 2))
                painter.drawLine(QPointF(c.x() - 3, c.y()), QPointF(c.x() + 3, c.y()))
                if p.positive:
                    painter.drawLine(QPointF(c.x(), c.y() - 3), QPointF(c.x(), c.y() + 3))
            elif isinstance(p, BoxPrompt):
                x0, y0, x1, y1 = p.xyxy_px
                painter.setPen(QPen(QColor(255, 255, 255) if selected else colour, 3 if selected else 2))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(QRectF(self.to_widget(x0, y0), self.to_widget(x1, y1)))
        if self._drag is not None and self._drag.get("kind") == "box":
            painter.setPen(QPen(colour, 1, Qt.PenStyle.DashLine))
            painter.drawRect(QRectF(self._drag["start"], self._drag["now"]))

    # -- interaction ------------------------------------------------------------------------
    def _pick(self, pos: QPointF) -> int | None:
        best, best_d = None, float(PICK_RADIUS_PX)
        assert self.doc is not None
        for i, p in enumerate(self.doc.prompts()):
            handles = [(p.x, p.y)] if isinstance(p, PointPrompt) else \
                [(p.x0, p.y0), (p.x1, p.y1), (p.x0, p.y1), (p.x1, p.y0)] if isinstance(p, BoxPrompt) else []
            for hx, hy in handles:
                w = self.to_widget(hx, hy)
                d = math.hypot(w.x() - pos.x(), w.y() - pos.y())
                if d <= best_d:
                    best, best_d = i, d
        return best

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.doc is None:
            return
        pos = event.position()
        if self.wipe and event.button() == Qt.MouseButton.LeftButton and \
                abs(pos.x() - self.wipe_column()) <= WIPE_GRAB_PX:
            self._drag = {"kind": "wipe"}  # the wipe line before the prompt tools
            return
        if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and event.modifiers() & Qt.KeyboardModifier.AltModifier):
            self._drag = {"kind": "pan", "start": pos, "origin": QPointF(self.origin)}
            return
        if self.paint.press(pos, event.button()):
            return
        picked = self._pick(pos)
        if picked is not None and event.button() == Qt.MouseButton.LeftButton:
            self.selected = picked
            self._drag = {"kind": "move", "index": picked, "start": pos, "moved": False}
            self.update()
            return
        self.selected = None
        src = self.to_source(pos)
        if self.regions is not None and self.regions_frame == self.doc.frame and \
                event.button() == Qt.MouseButton.LeftButton:
            self.toggle_region(src.x(), src.y())
            return
        if self.doc.tool == "box" and event.button() == Qt.MouseButton.LeftButton:
            self._drag = {"kind": "box", "start": pos, "now": pos}
        elif event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            positive = self.doc.tool != "point-" and event.button() == Qt.MouseButton.LeftButton
            info = self.doc.source.info
            if 0 <= src.x() < info.width and 0 <= src.y() < info.height:
                self.doc.add_click(src.x(), src.y(), positive)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self.paint.move(pos) or (self._drag is None and self.paint.active):
            return
        if self._drag is None:
            near = self.wipe and abs(pos.x() - self.wipe_column()) <= WIPE_GRAB_PX
            if near:
                self.setCursor(Qt.CursorShape.SplitHCursor)
            else:
                self.unsetCursor()
            return
        if self._drag["kind"] == "wipe":
            self.set_wipe_x(pos.x() / max(1, self.width()))
            return
        if self._drag["kind"] == "pan":
            d = pos - self._drag["start"]
            self.origin = QPointF(self._drag["origin"].x() - d.x() / self.scale,
                                  self._drag["origin"].y() - d.y() / self.scale)
            self.fitted = False
        elif self._drag["kind"] == "box":
            self._drag["now"] = pos
        elif self._drag["kind"] == "move":
            self._drag["moved"] = True
            self._drag["now"] = pos
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.paint.release(event.position()):
            return
        drag, self._drag = self._drag, None
        if drag is None or self.doc is None:
            return
        if drag["kind"] == "box":
            a, b = self.to_source(drag["start"]), self.to_source(event.position())
            info = self.doc.source.info
            x0, x1 = sorted((min(max(a.x(), 0), info.width - 1), min(max(b.x(), 0), info.width - 1)))
            y0, y1 = sorted((min(max(a.y(), 0), info.height - 1), min(max(b.y(), 0), info.height - 1)))
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                self.doc.add_box(x0, y0, x1, y1)
        elif drag["kind"] == "move" and drag["moved"]:
            self._move_prompt(drag["index"], drag["start"], event.position())
        self.update()

    def _move_prompt(self, index: int, start: QPointF, end: QPointF) -> None:
        assert self.doc is not None
        prompts: list[Prompt] = self.doc.prompts()
        a, b = self.to_source(start), self.to_source(end)
        dx, dy = b.x() - a.x(), b.y() - a.y()
        p = prompts[index]
        if isinstance(p, PointPrompt):
            prompts[index] = PointPrompt(p.x + dx, p.y + dy, p.positive)
        elif isinstance(p, BoxPrompt):  # drag the corner nearest the press point
            corners = {"x0": p.x0, "y0": p.y0, "x1": p.x1, "y1": p.y1}
            kx = "x0" if abs(a.x() - p.x0) < abs(a.x() - p.x1) else "x1"
            ky = "y0" if abs(a.y() - p.y0) < abs(a.y() - p.y1) else "y1"
            corners[kx] += dx
            corners[ky] += dy
            prompts[index] = BoxPrompt(**corners)
        self.doc.set_prompts(prompts)

    def set_regions(self, labels: np.ndarray | None, frame: int = -1) -> None:
        """Show segment-everything regions on ``frame`` (None: hide them)."""
        self.regions, self.regions_frame, self.picked = labels, frame, set()
        self.update()

    def toggle_region(self, x: float, y: float) -> None:
        """Add the region under source point ``(x, y)`` to the picked ones, or take it out."""
        if self.regions is None:
            return
        h, w = self.regions.shape
        if 0 <= x < w and 0 <= y < h:
            label = int(self.regions[int(y), int(x)])
            self.picked ^= {label}
            self.update()

    def picked_mask(self) -> np.ndarray | None:
        """``bool (H, W)``: the union of the picked regions (None when nothing is picked)."""
        if self.regions is None or not self.picked:
            return None
        return np.isin(self.regions, list(self.picked))

    def delete_selected(self) -> bool:
        if self.doc is None or self.selected is None:
            return False
        prompts = self.doc.prompts()
        if 0 <= self.selected < len(prompts):
            del prompts[self.selected]
            self.selected = None
            self.doc.set_prompts(prompts)
            return True
        return False

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.paint.active and self.paint.polygon:
            self.paint.finish()  # a double-click closes the polygon
            return
        super().mouseDoubleClickEvent(event)

    def tabletEvent(self, event: QTabletEvent) -> None:
        """A pen: its pressure scales the brush (the mouse events Qt would make from it are
        not used while a paint tool is active)."""
        if not self.paint.active:
            event.ignore()
            return
        pos, kind = event.position(), event.type()
        self.paint.tablet = True
        if kind == QEvent.Type.TabletPress:
            self.paint.press(pos, event.button(), event.pressure())
            self.paint.tablet = True
        elif kind == QEvent.Type.TabletMove:
            self.paint.move(pos, event.pressure() if event.buttons() else 1.0)
        elif kind == QEvent.Type.TabletRelease:
            self.paint.release(pos)
        event.accept()

    def leaveEvent(self, event: QEvent) -> None:
        self.paint.hover = None  # no brush outline left behind
        self.update()
        super().leaveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.paint.key(event.key()):
            return
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.delete_selected():
            return
        super().keyPressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_at(event.position(), 1.25 ** steps)

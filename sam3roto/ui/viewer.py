"""The viewer: the current frame composed at display resolution, with every visible
object's overlay, the prompts of the active object, zoom/pan/fit, and the prompt tools
(point +, point -, box; click a prompt to select it, drag to move, Delete to remove)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QWidget

from sam3roto.core.depthcache import known_depth
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt
from sam3roto.errors import Sam3RotoError
from sam3roto.ui.compose import MODES, compose, visible_view
from sam3roto.ui.document import Document
from sam3roto.ui.qimage import to_qimage

PICK_RADIUS_PX = 9


class Viewer(QWidget):
    painted = Signal()  # after every paint (tests and the UI benchmark wait on it)

    def __init__(self, doc: Document | None = None) -> None:
        super().__init__()
        self.setMinimumSize(320, 200)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setMouseTracking(True)
        self.doc: Document | None = None
        self.mode = "overlay"
        self.scale = 1.0
        self.origin = QPointF(0, 0)  # source point at the widget's top-left
        self.fitted = True  # refit on resize until the user zooms or pans
        self.selected: int | None = None  # index into the active prompts
        self._drag: dict[str, Any] | None = None
        self._matte_cache: tuple[Any, Any] | None = None
        self._colour_cache: tuple[Any, np.ndarray | None] | None = None
        self.last_display: np.ndarray | None = None
        self.preview_error = ""  # why the matte preview cannot be shown (painted on the view)
        self.regions: np.ndarray | None = None  # segment everything: region labels of ``regions_frame``
        self.regions_frame = -1
        self.picked: set[int] = set()
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
        self.update()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown display mode {mode!r}")
        self.mode = mode
        self.update()

    # -- geometry ---------------------------------------------------------------------------
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
        """The active object's post result on this frame (cached per frame and settings)."""
        from sam3roto.post import PostSettings, apply

        doc = self.doc
        assert doc is not None
        key = (doc.frame, obj.id, json.dumps(obj.post, sort_keys=True), doc.store.has(obj.id, doc.frame))
        if self._matte_cache is not None and self._matte_cache[0] == key:
            return self._matte_cache[1]
        mask = doc.store.get(obj.id, doc.frame)
        self.preview_error = ""
        result: tuple[Any, Any] = (None, None)
        if mask is not None:
            try:
                settings = PostSettings.from_dict(obj.post)
                depth = None
                cache = doc.depth_cache()
                if settings.depth_mode != "off" and cache is not None and cache.path(doc.frame).is_file():
                    depth = known_depth(cache.get(doc.frame).depth, settings.depth_near_is_large)
                post = apply(doc.image(), mask, settings, depth=depth)
                result = (post.matte, post.rgb)
            except (ValueError, TypeError) as exc:  # e.g. a depth foreground without depth: say so
                self.preview_error = str(exc)
        self._matte_cache = (key, result)
        return result

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
        kwargs: dict[str, Any] = {}
        if self.mode == "overlay":
            kwargs["masks"] = [(m, tuple(o.color)) for o in doc.project.objects if o.visible
                               and (m := doc.store.get(o.id, doc.frame)) is not None]
        elif self.mode in ("matte", "rgba") and doc.active() is not None:
            kwargs["matte"], kwargs["rgb"] = self._matte(doc.active())
        elif self.mode in ("depth", "normals"):
            kwargs["colour_image"] = self._colour_image()
        if self.regions is not None and self.regions_frame == doc.frame:
            obj = doc.active()
            kwargs["regions"] = (self.regions, self.picked, tuple(obj.color) if obj is not None else (255, 200, 0))
        pixels = compose(doc.image(), view, self.mode, **kwargs)
        self._view = view
        return pixels

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(38, 38, 40))
        if self.doc is not None:
            try:
                pixels = self.compose_now()
            except (Sam3RotoError, ValueError, OSError) as exc:  # a damaged frame or cache: say it, keep going
                painter.setPen(QColor(255, 120, 90))
                painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                                 int(Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap), str(exc))
                painter.end()
                self.painted.emit()
                return
            self.last_display = pixels
            if pixels.size:
                painter.drawImage(self._view.left, self._view.top, to_qimage(pixels))
            self._paint_prompts(painter)
            if self.preview_error and self.mode in ("matte", "rgba"):
                painter.setPen(QColor(255, 120, 90))
                painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                                 int(Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap),
                                 f"preview: {self.preview_error}")
        painter.end()
        self.painted.emit()

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
        if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and event.modifiers() & Qt.KeyboardModifier.AltModifier):
            self._drag = {"kind": "pan", "start": pos, "origin": QPointF(self.origin)}
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
        if self._drag is None:
            return
        pos = event.position()
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

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.delete_selected():
            return
        super().keyPressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_at(event.position(), 1.25 ** steps)

"""The timeline: source frame numbers, the playhead, keyframe ticks per object in its
colour, tracked ranges, and the in/out range; per object, frames out of date since a
keyframe changed (orange), frames tracked with low confidence (red ticks: where to look)
and ranges marked out of shot (grey hatching); the active object's matte settings keys
(white diamonds). Click or drag to scrub. It never takes the
keyboard focus, so frame keys always reach the window's shortcuts."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from sam3roto.core.tracking import low_confidence_frames, ranges, stale_frames
from sam3roto.ui.document import Document

STALE = QColor(255, 150, 40)
LOW = QColor(235, 50, 50)


class Timeline(QWidget):
    def __init__(self, doc: Document) -> None:
        super().__init__()
        self.doc = doc
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMinimumHeight(52)
        self.setToolTip("white diamonds: the active object's matte settings keys; "
                        "orange: out of date since a keyframe changed (Ctrl+T re-tracks them); red ticks: "
                        "low confidence, check these frames; grey hatching: out of shot")
        for signal in (doc.frameChanged, doc.projectChanged, doc.promptsChanged, doc.masksChanged, doc.activeChanged):
            signal.connect(self.update)

    def _x(self, index: int) -> float:
        n = max(1, self.doc.frame_count - 1)
        return 8 + (self.width() - 16) * index / n

    def _index(self, x: float) -> int:
        n = max(1, self.doc.frame_count - 1)
        return round((x - 8) / max(1, self.width() - 16) * n)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 32))
        doc, h = self.doc, self.height()
        shot = doc.project.shot
        if shot is not None:  # in/out range
            lo, hi = shot.frame_range.start, shot.frame_range.stop - 1
            p.fillRect(QRectF(self._x(lo), 18, self._x(hi) - self._x(lo), h - 30), QColor(52, 52, 58))
        lane = 0
        for obj in doc.project.objects:
            if not obj.visible:
                continue
            colour = QColor(*obj.color)
            y = 20 + 6 * (lane % 4)
            for a, b in obj.absent:
                p.fillRect(QRectF(self._x(a) - 1, y - 1, max(3.0, self._x(b) - self._x(a) + 2), 5),
                           QBrush(QColor(150, 150, 150), Qt.BrushStyle.BDiagPattern))
            frames = doc.store.frames(obj.id)
            if frames:  # tracked ranges as thin bars
                colour.setAlpha(110)
                start = prev = frames[0]
                for f in [*frames[1:], None]:
                    if f is None or f != prev + 1:
                        p.fillRect(QRectF(self._x(start), y, max(1.5, self._x(prev) - self._x(start)), 3), colour)
                        start = f if f is not None else start
                    prev = f if f is not None else prev
                colour.setAlpha(255)
            for a, b in ranges(stale_frames(doc.project, doc.store, obj.id)):
                p.fillRect(QRectF(self._x(a) - 1, y, max(2.5, self._x(b) - self._x(a) + 2), 3), STALE)
            p.setPen(QPen(LOW, 1.5))
            for f in low_confidence_frames(doc.store, obj.id):
                x = self._x(f)
                p.drawLine(int(x), y - 2, int(x), y + 5)
            p.setPen(QPen(colour, 2))
            for key in doc.project.keyframes_of(obj.id):
                x = self._x(key.frame)
                p.drawLine(int(x), 16, int(x), h - 12)
            lane += 1
        active = doc.active()
        if active is not None:  # the active object's matte settings keys: small diamonds at the bottom
            p.setPen(QPen(QColor(20, 20, 20), 1))
            p.setBrush(QColor(235, 235, 235))
            for frame in sorted(active.post_keys):
                x = self._x(frame)
                p.drawPolygon(QPolygonF([QPointF(x, h - 13), QPointF(x + 4, h - 9), QPointF(x, h - 5),
                                         QPointF(x - 4, h - 9)]))
            p.setBrush(Qt.BrushStyle.NoBrush)
        x = self._x(doc.frame)
        p.setPen(QPen(QColor(250, 200, 60), 2))
        p.drawLine(int(x), 2, int(x), h - 2)
        p.setPen(QColor(220, 220, 220))
        info = doc.source.info
        p.drawText(6, h - 2, str(info.frame_numbers[0]))
        last = str(info.frame_numbers[-1])
        p.drawText(self.width() - 8 - 7 * len(last), h - 2, last)
        p.drawText(int(min(max(x + 4, 40), self.width() - 60)), 13, str(doc.frame_number()))
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.doc.set_frame(self._index(event.position().x()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.doc.set_frame(self._index(event.position().x()))

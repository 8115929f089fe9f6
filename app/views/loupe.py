"""The loupe: a small floating magnifier beside the cursor over an image pane.

It shows what the pane shows around the cursor: at actual size (one output pixel per device
pixel) while the pane is zoomed out, at LOUPE_ZOOM times (nearest-neighbour) once the pane is at
or above 100 %. It draws straight from the pane's image items' QImages (the part under the loupe
only: no image copy per mouse move), follows the cursor in every attached pane, stays on the
screen and hides when the cursor leaves the image. :class:`LoupeTool` is the on/off action (L),
remembered in QSettings.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QRectF, QSettings, QSize, Qt
from PySide6.QtGui import QAction, QColor, QGuiApplication, QKeySequence, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QWidget

from app.settings import APPLICATION, ORGANIZATION
from app.views.image_pane import BACKGROUND, ImagePane

LOUPE_SIZE = 160  # logical px a side
LOUPE_ZOOM = 4  # screen px per output px at or above 100 %
LOUPE_OFFSET = 24  # logical px between the cursor and the loupe's nearest corner
SETTING = "view/loupe"


def _image_layers(pane: ImagePane) -> list[pg.ImageItem]:
    """The pane's visible image items holding an image, bottom first (drawing order)."""
    items = pane.view.scene().items(pane.view.sceneBoundingRect(),
                                    Qt.ItemSelectionMode.IntersectsItemBoundingRect,
                                    Qt.SortOrder.AscendingOrder)
    return [it for it in items if isinstance(it, pg.ImageItem) and it.isVisible()
            and it.image is not None and pane.view.isAncestorOf(it)]


def _clip_in_view(pane: ImagePane, item: QGraphicsItem) -> QRectF | None:
    """The view rectangle an ancestor that clips its children leaves ``item`` (None: none)."""
    clip = None
    parent = item.parentItem()
    while parent is not None and parent is not pane.view:
        if parent.flags() & QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape:
            rect = pane.view.mapSceneToView(parent.sceneBoundingRect()).boundingRect()
            clip = rect if clip is None else clip.intersected(rect)
        parent = parent.parentItem()
    return clip


class Loupe(QWidget):
    """The floating magnifier (a frameless tool window that never takes the mouse or focus)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.ToolTip | Qt.WindowType.FramelessWindowHint)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setFixedSize(LOUPE_SIZE, LOUPE_SIZE)
        self.pane: ImagePane | None = None
        self.center = (0, 0)  # the output pixel (column, row) under the cursor
        self.zoom = 1.0  # logical px per output px

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(LOUPE_SIZE, LOUPE_SIZE)

    def follow(self, pane: ImagePane, x: float, y: float) -> None:
        """Show what ``pane`` shows around output (x, y), beside the cursor there; hidden when
        (x, y) is off the pane's image."""
        size = pane.output_size
        if size is None or not (0 <= x < size[0] and 0 <= y < size[1]):
            self.hide()
            return
        self.pane = pane
        self.center = (int(math.floor(x)), int(math.floor(y)))
        dpr = pane.devicePixelRatioF() or 1.0
        self.zoom = LOUPE_ZOOM if pane.units_per_pixel() <= 1.0 else 1.0 / dpr
        self.move(self.place(pane.global_point(x, y)))
        self.show()
        self.update()

    def place(self, cursor: QPoint) -> QPoint:
        """Top-left of the loupe beside ``cursor`` (below right, else the side that fits),
        kept inside the screen's available area."""
        screen = QGuiApplication.screenAt(cursor) or (self.pane.screen() if self.pane else None)
        area = screen.availableGeometry() if screen is not None else QRect(cursor, QSize(1, 1))
        w, h = self.width(), self.height()
        x = cursor.x() + LOUPE_OFFSET
        if x + w > area.right() + 1:
            x = cursor.x() - LOUPE_OFFSET - w
        y = cursor.y() + LOUPE_OFFSET
        if y + h > area.bottom() + 1:
            y = cursor.y() - LOUPE_OFFSET - h
        x = min(max(x, area.left()), area.right() + 1 - w)
        y = min(max(y, area.top()), area.bottom() + 1 - h)
        return QPoint(x, y)

    def window_rect(self) -> QRectF:
        """The output region the loupe shows (view coordinates), the cursor's pixel drawn from
        the loupe's centre."""
        span = self.width() / self.zoom, self.height() / self.zoom
        left = self.center[0] - math.floor(span[0] / 2)
        top = self.center[1] - math.floor(span[1] / 2)
        return QRectF(left, top, span[0], span[1])

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(BACKGROUND))
        if self.pane is not None:
            self._draw(painter, self.pane)
        pen = QPen(QColor("#d0d0d0"))
        pen.setWidth(1)
        painter.setPen(pen)
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()

    def _draw(self, painter: QPainter, pane: ImagePane) -> None:
        shown = self.window_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        for item in _image_layers(pane):
            if item.qimage is None:
                item.render()  # drawn lazily by pyqtgraph; the loupe may come first
            if item.qimage is None:
                continue
            rect = item.mapRectToView(item.boundingRect())
            part = rect.intersected(shown)
            clip = _clip_in_view(pane, item)
            if clip is not None:
                part = part.intersected(clip)
            if part.isEmpty():
                continue
            source = item.mapRectFromView(part)
            target = QRectF((part.left() - shown.left()) * self.zoom,
                            (part.top() - shown.top()) * self.zoom,
                            part.width() * self.zoom, part.height() * self.zoom)
            painter.setOpacity(item.opacity())
            painter.drawImage(target, item.qimage, source)
        painter.setOpacity(1.0)
        if self.zoom >= 2:  # frame the cursor's pixel, outside it
            x = (self.center[0] - shown.left()) * self.zoom
            y = (self.center[1] - shown.top()) * self.zoom
            painter.setPen(QPen(QColor("#ffd54a")))
            painter.drawRect(QRectF(x - 1, y - 1, self.zoom + 1, self.zoom + 1))


class LoupeTool(QObject):
    """The loupe's on/off action (checkable, L) and the panes it follows; the state is kept in
    QSettings under ``view/loupe`` (``store``: the app's settings, or a test's)."""

    def __init__(self, parent: QWidget, store: QSettings | None = None) -> None:
        super().__init__(parent)
        self.store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)
        self.loupe = Loupe(parent)
        self.action = QAction("&Loupe", parent)
        self.action.setCheckable(True)
        self.action.setShortcut(QKeySequence("L"))
        self.action.setStatusTip("A magnifier beside the cursor: actual size when zoomed out, "
                                 f"×{LOUPE_ZOOM} at 100 % and above")
        self.action.setChecked(self._stored())
        self.action.toggled.connect(self._on_toggled)

    def use_store(self, store: QSettings) -> None:
        """Keep the state in ``store`` (the window's settings, which may be a file of its own),
        taking the state stored there."""
        self.store = store
        self.action.setChecked(self._stored())

    def _stored(self) -> bool:
        value = self.store.value(SETTING, False)
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return value is True

    @property
    def enabled(self) -> bool:
        return self.action.isChecked()

    def set_enabled(self, on: bool) -> None:
        self.action.setChecked(bool(on))

    def _on_toggled(self, on: bool) -> None:
        self.store.setValue(SETTING, bool(on))
        if not on:
            self.loupe.hide()

    def attach(self, pane: ImagePane) -> None:
        """Follow the cursor over ``pane`` (while on); hide when it leaves or the pane hides
        (another tab, another layout)."""
        pane.hovered.connect(lambda x, y, pane=pane: self._on_hover(pane, x, y))
        pane.left.connect(self.loupe.hide)
        pane.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Hide and watched is self.loupe.pane:
            self.loupe.hide()
        return False

    def _on_hover(self, pane: ImagePane, x: float, y: float) -> None:
        if self.enabled:
            self.loupe.follow(pane, x, y)

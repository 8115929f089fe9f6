"""One image pane: a title bar and a pyqtgraph ViewBox showing an image at "output" coordinates.

Every pane of the compare view uses the same coordinate system: one unit = one pixel of the
output (upscaled) image. A smaller image (the low-resolution input) is stretched over the same
rectangle and drawn nearest-neighbour, so the same region shows in every pane.

Mouse: a plain left drag pans (pyqtgraph's ViewBox), the wheel zooms; a plain left click emits
``clicked(x, y)`` and a Shift+left drag draws a rectangle and emits ``regionDragged(x0, y0, x1,
y1)``, both in output-image pixels. Esc in a pane clears the rectangle (``regionCleared``);
:class:`RegionLink` shows one rectangle in every linked pane.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

BACKGROUND = "#1e1e1e"
CHECKER = 8  # output px of a transparency checkerboard square, the same in every pane
CHECKER_GREYS = (204, 153)
BACKDROP_OPACITY = 0.35  # of the input shown around a preview patch
REGION_COLOUR = "#4fc3f7"
MIN_REGION_SIDE = 2  # output px a dragged rectangle must span on each side to count
REGION_MODIFIER = Qt.KeyboardModifier.ShiftModifier
"""Held while dragging with the left button: draw a region instead of panning."""
STATUS_TIP = ("Drag to pan, wheel to zoom, click to choose a spot, Shift+drag to mark a region "
              "(Esc clears it)")


def to_display_u8(image: np.ndarray, keep_alpha: bool = False) -> np.ndarray:
    """Float [0, 1] (or uint8) HW / HWC image -> contiguous uint8 for display (alpha dropped
    unless ``keep_alpha``)."""
    if image.dtype != np.uint8:  # one float temporary (a 12 MP result's is 144 MB), in place
        scaled = np.multiply(image, 255.0, dtype=np.float32)
        scaled += 0.5
        image = np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)
        del scaled
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not keep_alpha:
        if image.ndim == 3 and image.shape[2] == 4:  # RGBA: alpha dropped
            image = image[:, :, :3]
        if image.ndim == 3 and image.shape[2] == 2:  # grey + alpha
            image = image[:, :, 0]
    return np.ascontiguousarray(image)


def composite_checker(image: np.ndarray, size: tuple[int, int] | None = None,
                      origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """uint8 image with alpha (HWx2 / HWx4) -> uint8 RGB over a grey checkerboard, as image
    editors show transparency; images without alpha are returned as they are.

    The squares are CHECKER *output* pixels: ``size`` = (w, h) is the output area the image is
    drawn over (default: its own size; the Input pane stretches a smaller image) and ``origin``
    its top-left output pixel (a preview patch), so every pane shows the same squares."""
    if image.ndim != 3 or image.shape[2] not in (2, 4):
        return image
    h, w = image.shape[:2]
    out_w, out_h = size or (w, h)
    rows = (((np.arange(h) + 0.5) * out_h / h).astype(np.int64) + origin[1]) // CHECKER
    cols = (((np.arange(w) + 0.5) * out_w / w).astype(np.int64) + origin[0]) // CHECKER
    board = np.where((rows[:, None] + cols[None, :]) % 2 == 0, *CHECKER_GREYS)
    alpha = image[..., -1:].astype(np.float32) / 255.0
    colour = image[..., :-1].astype(np.float32)
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    out = colour * alpha + board[..., None].astype(np.float32) * (1.0 - alpha)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def pixel_value(image: np.ndarray, size: tuple[int, int], x: float, y: float) -> str | None:
    """Value of ``image`` (drawn over ``size`` = (w, h) output pixels) at output (x, y)."""
    h, w = image.shape[:2]
    col = int(np.floor(x * w / size[0]))
    row = int(np.floor(y * h / size[1]))
    if not (0 <= col < w and 0 <= row < h):
        return None
    v = image[row, col]
    return f"{int(v)}" if np.ndim(v) == 0 else "(" + ",".join(str(int(c)) for c in v) + ")"


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when narrower than its text (the full text is the
    tooltip), instead of being cut off mid-word; it never widens its pane."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(20, super().minimumSizeHint().height())

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setToolTip(text)

    def elided(self) -> str:
        """The text as drawn."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             max(self.contentsRect().width(), 0))

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.drawText(self.contentsRect(), int(self.alignment()), self.elided())
        painter.end()


def region_box(a: QPointF, b: QPointF, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The output pixels a rectangle dragged from ``a`` to ``b`` (output coordinates) covers,
    as (x0, y0, x1, y1) with x1/y1 exclusive, clipped to an output of ``size`` = (w, h); None
    when it spans fewer than MIN_REGION_SIDE pixels on a side."""
    w, h = size
    x0 = max(int(np.floor(min(a.x(), b.x()))), 0)
    y0 = max(int(np.floor(min(a.y(), b.y()))), 0)
    x1 = min(int(np.floor(max(a.x(), b.x()))) + 1, w)
    y1 = min(int(np.floor(max(a.y(), b.y()))) + 1, h)
    if x1 - x0 < MIN_REGION_SIDE or y1 - y0 < MIN_REGION_SIDE:
        return None
    return x0, y0, x1, y1


class _PaneView(pg.ViewBox):
    """The pane's ViewBox: a plain left click and a Shift+left drag go to the pane; every other
    drag (a plain one pans) and the wheel stay pyqtgraph's."""

    def __init__(self, pane: ImagePane, **kwargs) -> None:
        super().__init__(**kwargs)
        self._pane = pane
        self._marking = False  # the drag in progress draws a region (decided at its start)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph override
        plain = ev.modifiers() == Qt.KeyboardModifier.NoModifier
        if ev.button() == Qt.MouseButton.LeftButton and plain:
            ev.accept()
            self._pane._on_click(self.mapToView(ev.pos()))
            return
        super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph override
        if ev.isStart():
            held = ev.modifiers() | self._pane._press_modifiers  # at the press or the move
            self._marking = (axis is None and ev.button() == Qt.MouseButton.LeftButton
                             and bool(held & REGION_MODIFIER)
                             and self._pane.output_size is not None)
        if not self._marking:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        start = self.mapToView(ev.buttonDownPos(Qt.MouseButton.LeftButton))
        self._pane._on_region_drag(start, self.mapToView(ev.pos()), finished=ev.isFinish())
        if ev.isFinish():
            self._marking = False


class ImagePane(QWidget):
    """A titled, zoomable view of one image.

    ``hovered(x, y)`` reports the cursor in output-pixel coordinates; ``left()`` when it leaves
    the image area or the pane. ``clicked(x, y)``: a plain left click on the image, as the
    output pixel (column, row) under the cursor. ``regionDragged(x0, y0, x1, y1)``: a Shift+left
    drag ended, the output pixels it covers (x1/y1 exclusive, clipped to the image, at least
    MIN_REGION_SIDE a side). ``regionCleared()``: Esc removed the rectangle. ``regionShown(box)``
    (a tuple or None) whenever this pane's user changes the rectangle shown, drags included, so
    that :class:`RegionLink` can show it in the other panes.
    """

    hovered = Signal(float, float)
    left = Signal()
    clicked = Signal(int, int)
    regionDragged = Signal(int, int, int, int)
    regionCleared = Signal()
    regionShown = Signal(object)

    def __init__(self, key: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self._title = title
        self._detail = ""
        self._image: np.ndarray | None = None
        self._size: tuple[int, int] | None = None  # (width, height) in output pixels

        self.title_label = ElidedLabel(title)
        self.title_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.title_label.setToolTip(title)
        self.title_label.setObjectName("paneTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.header = QHBoxLayout()
        self.header.setContentsMargins(4, 2, 4, 2)
        self.header.addWidget(self.title_label, 1)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(BACKGROUND)
        self.graphics.ci.setContentsMargins(0, 0, 0, 0)
        self.graphics.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # Files dropped on a pane go to the main window (a QGraphicsView would swallow them).
        self.graphics.setAcceptDrops(False)
        self.graphics.viewport().setAcceptDrops(False)
        self.view = _PaneView(self, lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(0.01)
        self.graphics.ci.addItem(self.view, 0, 0)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.item)
        # Behind a preview patch: the input (nearest), dimmed, so that the pane shows the same
        # region as the Input pane and the computed part stands out in its frame.
        self.backdrop_item = pg.ImageItem(axisOrder="row-major")
        self.backdrop_item.setOpacity(BACKDROP_OPACITY)
        self.backdrop_item.setZValue(-1)
        self.backdrop_item.hide()
        self.view.addItem(self.backdrop_item)
        # A part of the result (the DRRN preview of the visible region), framed.
        self.patch_item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.patch_item)
        self.patch_frame = QGraphicsRectItem()
        pen = QPen(Qt.GlobalColor.yellow)
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DashLine)
        self.patch_frame.setPen(pen)
        self.patch_frame.hide()
        self.view.addItem(self.patch_frame)
        self._patch: np.ndarray | None = None
        self._patch_box: tuple[int, int, int, int] | None = None
        self._backdrop_size: tuple[int, int] | None = None  # (w, h) under a dimmed backdrop
        # A region marked with Shift+drag (output pixels), drawn over every image item.
        self.region_frame = QGraphicsRectItem()
        pen = QPen(QColor(REGION_COLOUR))
        pen.setCosmetic(True)
        pen.setWidth(2)
        self.region_frame.setPen(pen)
        self.region_frame.setZValue(20)
        self.region_frame.hide()
        self.view.addItem(self.region_frame)
        self._region: tuple[int, int, int, int] | None = None
        self._press_modifiers = Qt.KeyboardModifier.NoModifier

        self.placeholder = QLabel("No image", self.graphics)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)  # a long note wraps instead of losing both ends
        self.placeholder.setContentsMargins(8, 0, 8, 0)
        self.placeholder.setStyleSheet("color: #9a9a9a; background: transparent; font-size: 13pt;")
        self.placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self.header)
        layout.addWidget(self.graphics, 1)
        self.setMinimumSize(160, 140)

        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.setStatusTip(STATUS_TIP)
        self._events = _PaneEvents(self)
        self.graphics.installEventFilter(self._events)
        self.graphics.viewport().installEventFilter(self._events)

    # -- content ---------------------------------------------------------------------------
    def set_title(self, title: str, detail: str = "") -> None:
        self._title, self._detail = title, detail
        self.title_label.setText(f"{title}   {detail}" if detail else title)

    @property
    def title(self) -> str:
        return self._title

    def title_text(self) -> str:
        return self.title_label.text()

    def set_image(self, image: np.ndarray | None, size: tuple[int, int] | None = None,
                  note: str = "") -> None:
        """Show ``image`` stretched to ``size`` = (width, height) output pixels (default: its own).

        ``None`` clears the pane and shows ``note`` (e.g. "Computing…") instead.
        """
        self.set_patch(None)
        self.set_backdrop(None)
        if image is None:
            self._image = None
            self.item.clear()
            self.placeholder.setText(note or "No image")
            self.placeholder.show()
            return
        self._image = to_display_u8(image, keep_alpha=True)
        h, w = self._image.shape[:2]
        if (size or (w, h)) != self._size:  # another image: its rectangle is not this one's
            self.set_region(None)
        self._size = size or (w, h)
        # levels=None: uint8 is drawn as it is (pyqtgraph's zero-copy path); levels=(0, 255)
        # made it rescale every pixel on the GUI thread, 0.1-0.4 s per 48 MP image
        self.item.setImage(composite_checker(self._image, self._size), autoLevels=False,
                           levels=None)
        self.item.setRect(QRectF(0, 0, self._size[0], self._size[1]))
        self.placeholder.hide()

    def displayed(self) -> np.ndarray | None:
        """The uint8 pixels drawn on screen (transparency over the checkerboard), or None."""
        return None if self._image is None else composite_checker(self._image, self._size)

    def set_patch(self, image: np.ndarray | None, box: tuple[int, int, int, int] | None = None,
                  size: tuple[int, int] | None = None) -> None:
        """Show ``image`` over output pixels ``box`` = (x0, y0, x1, y1) of an output of ``size``
        (the rest of the pane stays empty), framed; None removes it."""
        if image is None:
            self._patch, self._patch_box = None, None
            self.patch_item.clear()
            self.patch_frame.hide()
            return
        if box is None:
            raise ValueError("a patch needs the box it covers")
        self._patch = to_display_u8(image, keep_alpha=True)
        self._patch_box = box
        if size is not None:
            self._size = size
        x0, y0, x1, y1 = box
        self.patch_item.setImage(composite_checker(self._patch, origin=(x0, y0)),
                                 autoLevels=False, levels=None)
        self.patch_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.patch_frame.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.patch_frame.show()

    def set_backdrop(self, image: np.ndarray | None, size: tuple[int, int] | None = None) -> None:
        """Show ``image`` (uint8, e.g. the input) dimmed over ``size`` output pixels behind the
        patch; None removes it."""
        self._backdrop_size = None if image is None else size
        if image is None or size is None:
            self.backdrop_item.clear()
            self.backdrop_item.hide()
            return
        self.backdrop_item.setImage(composite_checker(image, size), autoLevels=False,
                                    levels=None)
        self.backdrop_item.setRect(QRectF(0, 0, size[0], size[1]))
        self.backdrop_item.show()

    def has_backdrop(self) -> bool:
        return self.backdrop_item.isVisible() and self.backdrop_item.image is not None

    def set_region(self, box: tuple[int, int, int, int] | None) -> None:
        """Show the rectangle around output pixels ``box`` = (x0, y0, x1, y1), x1/y1 exclusive;
        None hides it. Emits nothing (the user's drags and Esc do)."""
        if box is None:
            self._region = None
            self.region_frame.hide()
            return
        x0, y0, x1, y1 = (int(v) for v in box)
        self._region = (x0, y0, x1, y1)
        self.region_frame.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.region_frame.show()

    @property
    def region(self) -> tuple[int, int, int, int] | None:
        """The rectangle shown (output pixels, x1/y1 exclusive), or None."""
        return self._region

    @property
    def patch(self) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """(uint8 pixels, box) of the shown patch, or None."""
        if self._patch is None or self._patch_box is None:
            return None
        return self._patch, self._patch_box

    def set_note(self, note: str) -> None:
        """Show a note over the pane (keeps the image, if any, underneath)."""
        self.placeholder.setText(note)
        self.placeholder.setVisible(bool(note))

    def has_image(self) -> bool:
        return self._image is not None

    @property
    def image(self) -> np.ndarray | None:
        """The displayed uint8 array (HW or HWC), or None."""
        return self._image

    @property
    def output_size(self) -> tuple[int, int] | None:
        return self._size if (self._image is not None or self._patch is not None) else None

    def value_at(self, x: float, y: float) -> str | None:
        """The pixel value under output coordinates (x, y), formatted, or None if outside."""
        if self._image is None and self._patch is not None and self._patch_box is not None:
            x0, y0, x1, y1 = self._patch_box
            return pixel_value(self._patch, (x1 - x0, y1 - y0), x - x0, y - y0)
        if self._image is None or self._size is None:
            return None
        return pixel_value(self._image, self._size, x, y)

    # -- geometry --------------------------------------------------------------------------
    def image_rect(self) -> QRectF | None:
        if self._size is None:
            return None
        return QRectF(0, 0, self._size[0], self._size[1])

    def fit(self) -> None:
        rect = self.image_rect()
        if rect is not None:
            self.view.setRange(rect, padding=0.01)

    def units_per_pixel(self) -> float:
        """Output pixels per screen (logical) pixel along x."""
        width = max(self.view.width(), 1.0)
        return self.view.viewRect().width() / width

    def show_region(self, center: QPointF, upp: float) -> None:
        """Centre the view on ``center`` with ``upp`` output pixels per screen pixel."""
        w = max(self.view.width(), 1.0) * upp
        h = max(self.view.height(), 1.0) * upp
        self.view.setRange(
            xRange=(center.x() - w / 2, center.x() + w / 2),
            yRange=(center.y() - h / 2, center.y() + h / 2),
            padding=0,
        )

    # -- events ----------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.placeholder.setGeometry(self.graphics.rect())

    def global_point(self, x: float, y: float) -> QPoint:
        """The screen position (global logical pixels) of output coordinates (x, y)."""
        scene = self.view.mapViewToScene(QPointF(x, y))
        return self.graphics.viewport().mapToGlobal(self.graphics.mapFromScene(scene))

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if not self.view.sceneBoundingRect().contains(scene_pos):
            self.left.emit()
            return
        p = self.view.mapSceneToView(scene_pos)
        self.hovered.emit(p.x(), p.y())

    def _on_click(self, p: QPointF) -> None:
        size = self.output_size or self._backdrop_size  # tiles over the backdrop: clickable too
        if size is None:
            return
        col, row = int(np.floor(p.x())), int(np.floor(p.y()))
        if 0 <= col < size[0] and 0 <= row < size[1]:
            self.clicked.emit(col, row)

    def _on_region_drag(self, start: QPointF, end: QPointF, finished: bool) -> None:
        size = self.output_size
        box = None if size is None else region_box(start, end, size)
        self.set_region(box)
        self.regionShown.emit(box)
        if finished and box is not None:
            self.regionDragged.emit(*box)

    def _clear_region_key(self) -> bool:
        """Esc: remove the rectangle (True when there was one)."""
        if self._region is None:
            return False
        self.set_region(None)
        self.regionShown.emit(None)
        self.regionCleared.emit()
        return True


class _PaneEvents(QObject):
    """Esc clears a pane's rectangle before the window's Esc (Cancel) sees it; leaving the
    pane's image area reports ``left`` (the scene reports moves only); the modifiers held at a
    press decide what the drag that follows does."""

    def __init__(self, pane: ImagePane) -> None:
        super().__init__(pane)
        self._pane = pane

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind == QEvent.Type.Leave and watched is self._pane.graphics.viewport():
            self._pane.left.emit()
        elif (isinstance(event, QMouseEvent) and kind == QEvent.Type.MouseButtonPress
              and watched is self._pane.graphics.viewport()):
            self._pane._press_modifiers = event.modifiers()
        elif (isinstance(event, QKeyEvent)
              and kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
              and event.key() == Qt.Key.Key_Escape and self._pane.region is not None):
            event.accept()
            if kind == QEvent.Type.KeyPress:
                self._pane._clear_region_key()
            return True
        return False


class RegionLink:
    """One rectangle in several panes: what the user draws (or clears) in one shows in all."""

    def __init__(self, panes: list[ImagePane] | None = None) -> None:
        self.panes: list[ImagePane] = []
        for pane in panes or []:
            self.add(pane)

    def add(self, pane: ImagePane) -> None:
        self.panes.append(pane)
        pane.regionShown.connect(lambda box, source=pane: self._follow(source, box))

    def _follow(self, source: ImagePane, box: tuple[int, int, int, int] | None) -> None:
        for pane in self.panes:
            if pane is not source:
                pane.set_region(box)

    def set_region(self, box: tuple[int, int, int, int] | None) -> None:
        """Show ``box`` (None: nothing) in every pane."""
        for pane in self.panes:
            pane.set_region(box)

    @property
    def region(self) -> tuple[int, int, int, int] | None:
        return next((p.region for p in self.panes if p.region is not None), None)

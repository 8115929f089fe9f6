"""One image pane: a title bar and a pyqtgraph ViewBox showing an image at "output" coordinates.

Every pane of the compare view uses the same coordinate system: one unit = one pixel of the
output (upscaled) image. A smaller image (the low-resolution input) is stretched over the same
rectangle and drawn nearest-neighbour, so the same region shows in every pane.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

BACKGROUND = "#1e1e1e"


def to_display_u8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] (or uint8) HW / HWC image -> contiguous uint8 for display (alpha dropped)."""
    if image.dtype != np.uint8:
        image = np.clip(np.asarray(image, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:  # RGBA: alpha dropped
        image = image[:, :, :3]
    if image.ndim == 3 and image.shape[2] in (1, 2):  # grey (+ alpha)
        image = image[:, :, 0]
    return np.ascontiguousarray(image)


def pixel_value(image: np.ndarray, size: tuple[int, int], x: float, y: float) -> str | None:
    """Value of ``image`` (drawn over ``size`` = (w, h) output pixels) at output (x, y)."""
    h, w = image.shape[:2]
    col = int(np.floor(x * w / size[0]))
    row = int(np.floor(y * h / size[1]))
    if not (0 <= col < w and 0 <= row < h):
        return None
    v = image[row, col]
    return f"{int(v)}" if np.ndim(v) == 0 else "(" + ",".join(str(int(c)) for c in v) + ")"


class ImagePane(QWidget):
    """A titled, zoomable view of one image.

    ``hovered(x, y)`` reports the cursor in output-pixel coordinates; ``left()`` when it leaves.
    """

    hovered = Signal(float, float)
    left = Signal()

    def __init__(self, key: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self._title = title
        self._detail = ""
        self._image: np.ndarray | None = None
        self._size: tuple[int, int] | None = None  # (width, height) in output pixels

        self.title_label = QLabel(title)
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
        self.view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(0.01)
        self.graphics.ci.addItem(self.view, 0, 0)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.item)

        self.placeholder = QLabel("No image", self.graphics)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #9a9a9a; background: transparent; font-size: 13pt;")
        self.placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self.header)
        layout.addWidget(self.graphics, 1)
        self.setMinimumSize(160, 140)

        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

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
        if image is None:
            self._image = None
            self.item.clear()
            self.placeholder.setText(note or "No image")
            self.placeholder.show()
            return
        self._image = to_display_u8(image)
        h, w = self._image.shape[:2]
        self._size = size or (w, h)
        self.item.setImage(self._image, autoLevels=False, levels=(0, 255))
        self.item.setRect(QRectF(0, 0, self._size[0], self._size[1]))
        self.placeholder.hide()

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
        return self._size if self._image is not None else None

    def value_at(self, x: float, y: float) -> str | None:
        """The pixel value under output coordinates (x, y), formatted, or None if outside."""
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

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if not self.view.sceneBoundingRect().contains(scene_pos):
            self.left.emit()
            return
        p = self.view.mapSceneToView(scene_pos)
        self.hovered.emit(p.x(), p.y())

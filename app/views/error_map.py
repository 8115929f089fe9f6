"""Error-map panes: |result - ground truth| on Y (0-255 units) through a colour map."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QWidget

from app.views.image_pane import ImagePane

COLORMAP = "inferno"


class ErrorPane(ImagePane):
    """A pane showing a 2-D float error map; its colour scale is set by :class:`ErrorScale`."""

    def __init__(self, key: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(key, title, parent)
        self.item.setColorMap(pg.colormap.get(COLORMAP))
        self._error: np.ndarray | None = None

    def set_error(self, error: np.ndarray | None, note: str = "") -> None:
        """Show ``error`` (HxW, output size, values in 0-255 units) or clear with ``note``."""
        self._error = None if error is None else np.asarray(error, dtype=np.float32)
        if self._error is None:
            self.set_image(None, note=note)
            return
        h, w = self._error.shape
        self._image = self._error
        self._size = (w, h)
        self.item.setImage(self._error, autoLevels=False)
        self.item.setRect(QRectF(0, 0, w, h))
        self.placeholder.hide()

    @property
    def error(self) -> np.ndarray | None:
        """The error map shown (float32, 0-255 units), or None."""
        return self._error

    def value_at(self, x: float, y: float) -> str | None:
        if self._error is None:
            return None
        col, row = int(np.floor(x)), int(np.floor(y))
        h, w = self._error.shape
        if not (0 <= col < w and 0 <= row < h):
            return None
        return f"Δ{self._error[row, col]:.0f}"


class ErrorScale:
    """One colour bar shared by several error panes, in its own narrow widget (``widget``) that
    the grid places beside ``host``: the host's image area stays as large as every other
    pane's."""

    def __init__(self, host: ErrorPane, panes: list[ErrorPane]) -> None:
        self.host = host
        self.bar = pg.ColorBarItem(
            values=(0, 32), colorMap=pg.colormap.get(COLORMAP), interactive=False, width=14,
            label="|error| (Y, 0-255)", rounding=1,
        )
        self.bar.setImageItem([p.item for p in panes])
        self.widget = pg.GraphicsLayoutWidget()
        self.widget.setBackground(None)
        self.widget.ci.addItem(self.bar, 0, 0)
        # Level with the panes' image areas: below their title row.
        top = host.title_label.sizeHint().height() + 4
        self.widget.ci.setContentsMargins(0, top, 0, 4)
        self.widget.setFixedWidth(72)
        self.widget.setToolTip("Colour scale of the error maps: |result − ground truth| on Y, "
                               "in 0-255 units (top = 99.5th percentile)")

    def autoscale(self, errors: list[np.ndarray]) -> float:
        """Set the scale to the 99.5th percentile of the given maps (at least 1); return it."""
        values = [np.percentile(e, 99.5) for e in errors if e is not None and e.size]
        top = max([1.0, *values])
        self.bar.setLevels((0.0, float(np.ceil(top))))
        return float(np.ceil(top))

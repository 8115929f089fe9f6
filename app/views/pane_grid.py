"""A grid of image panes that move together: same centre and zoom in every pane.

Pan/zoom in any pane propagates to the others (centre + output-pixels-per-screen-pixel, so panes
of different sizes still show the same region). Fit, 100 % and zoom steps act on all panes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtWidgets import QGridLayout, QWidget

from app.views.image_pane import ImagePane, composite_checker, to_display_u8

Position = tuple[int, int, int, int]
"""A grid item's (row, column, rowSpan, columnSpan)."""

ZOOM_STEP = 1.25


class ViewSync:
    """Keeps the views of several panes on the same region."""

    def __init__(self) -> None:
        self.panes: list[ImagePane] = []
        self._busy = False

    def add(self, pane: ImagePane) -> None:
        self.panes.append(pane)
        pane.view.sigRangeChangedManually.connect(lambda *_: self.follow(pane))

    def visible(self) -> list[ImagePane]:
        return [p for p in self.panes if p.isVisible()] or self.panes

    def follow(self, source: ImagePane) -> None:
        """Give every other pane the source's centre and zoom."""
        if self._busy:
            return
        self._busy = True
        try:
            rect = source.view.viewRect()
            upp = source.units_per_pixel()
            for pane in self.panes:
                if pane is not source:
                    pane.show_region(rect.center(), upp)
        finally:
            self._busy = False

    def apply(self, center: QPointF, upp: float) -> None:
        self._busy = True
        try:
            for pane in self.panes:
                pane.show_region(center, upp)
        finally:
            self._busy = False

    def reference(self) -> ImagePane | None:
        for pane in self.visible():
            if pane.has_image():
                return pane
        return None

    def fit(self) -> None:
        """Fit the image into the smallest visible pane; all panes show the same zoom."""
        ref = self.reference()
        rect = ref.image_rect() if ref is not None else None
        if rect is None:
            return
        panes = self.visible()
        upp = max(
            max(rect.width() / max(p.view.width(), 1.0), rect.height() / max(p.view.height(), 1.0))
            for p in panes
        ) * 1.02
        self.apply(rect.center(), upp)

    def actual_size(self) -> None:
        """One output pixel per screen pixel, around the current centre."""
        ref = self.reference()
        if ref is not None:
            self.apply(ref.view.viewRect().center(), 1.0)

    def zoom(self, factor: float) -> None:
        """Zoom all panes by ``factor`` (> 1 magnifies) around the current centre."""
        ref = self.reference()
        if ref is not None:
            self.apply(ref.view.viewRect().center(), ref.units_per_pixel() / factor)

    def zoom_percent(self) -> float | None:
        ref = self.reference()
        return None if ref is None else 100.0 / max(ref.units_per_pixel(), 1e-9)


class TileLayer:
    """Finished tiles drawn over a pane, each its own image item at its output pixels: drawing
    a tile costs only its own pixels, however large the image (the pane's image stays as it
    is underneath, e.g. the dimmed input)."""

    Z = 0.5  # above the pane's image and backdrop

    def __init__(self, pane: ImagePane) -> None:
        self.pane = pane
        self.items: dict[tuple[int, int, int, int], pg.ImageItem] = {}

    def add(self, box: tuple[int, int, int, int], pixels: np.ndarray) -> None:
        """Show ``pixels`` (uint8 or float [0, 1]) over output pixels ``box`` = (x0, y0, x1, y1);
        a tile at the same box is replaced."""
        x0, y0, x1, y1 = box
        shown = composite_checker(to_display_u8(pixels, keep_alpha=True), origin=(x0, y0))
        item = self.items.get((x0, y0, x1, y1))
        if item is None:
            item = pg.ImageItem(axisOrder="row-major")
            item.setZValue(self.Z)
            self.pane.view.addItem(item)
            self.items[(x0, y0, x1, y1)] = item
        item.setImage(shown, autoLevels=False, levels=None)
        item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))

    def clear(self) -> None:
        for item in self.items.values():
            self.pane.view.removeItem(item)
        self.items.clear()

    def boxes(self) -> list[tuple[int, int, int, int]]:
        return list(self.items)


class PaneGrid(QWidget):
    """Lays out a set of panes in rows; forwards hover positions from any pane."""

    hovered = Signal(float, float)
    left = Signal()

    def __init__(self, panes: Iterable[ImagePane], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panes = {p.key: p for p in panes}
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        for pane in self.panes.values():
            pane.setParent(self)  # owned by the grid even while not laid out
            pane.hide()
            pane.hovered.connect(self.hovered)
            pane.left.connect(self.left)

    def arrange(self, rows: list[list[str]]) -> None:
        """Show the panes named in ``rows`` (a list of rows of keys); hide the rest."""
        for pane in self.panes.values():
            self.grid.removeWidget(pane)
            pane.hide()
        for r, row in enumerate(rows):
            for c, key in enumerate(row):
                pane = self.panes[key]
                self.grid.addWidget(pane, r, c)
                pane.show()
        for i in range(self.grid.rowCount()):
            self.grid.setRowStretch(i, 1 if i < len(rows) else 0)
        cols = max(len(r) for r in rows)
        for i in range(self.grid.columnCount()):
            self.grid.setColumnStretch(i, 1 if i < cols else 0)

    def place_beside(self, widget: QWidget, key: str | None) -> None:
        """Put ``widget`` (e.g. a colour bar) in an extra column right of pane ``key``'s row, so
        that no pane's image area shrinks; None (or a hidden pane) removes it."""
        self.grid.removeWidget(widget)
        pane = self.panes.get(key) if key else None
        index = self.grid.indexOf(pane) if pane is not None else -1
        if index < 0 or pane is None or pane.isHidden():
            widget.hide()
            return
        # PySide6's hints type getItemPosition's (row, column, rowSpan, columnSpan) as object.
        row, _col, _rs, _cs = cast(Position, self.grid.getItemPosition(index))
        cols = 0
        for i in range(self.grid.count()):
            item = self.grid.itemAt(i)
            if item is not None and any(item.widget() is p for p in self.panes.values()):
                _r, c, _rs, cs = cast(Position, self.grid.getItemPosition(i))
                cols = max(cols, c + cs)
        widget.setParent(self)
        self.grid.addWidget(widget, row, cols)
        self.grid.setColumnStretch(cols, 0)
        widget.show()

    def visible_panes(self) -> list[ImagePane]:
        return [p for p in self.panes.values() if p.isVisible()]

"""Before/after split pane: image A on the left of a draggable divider, image B on the right."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QComboBox, QGraphicsRectItem, QLabel, QWidget

from app.views.image_pane import ImagePane, composite_checker, pixel_value, to_display_u8


class SplitPane(ImagePane):
    """Shows two sources through one divider; the user picks A and B from the header combos.

    The owner supplies images with :meth:`set_sources` (key -> (label, array, size)).
    """

    choiceChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("split", "Split", parent)
        self.title_label.setText("Split:")
        self.combo_a = QComboBox()
        self.combo_b = QComboBox()
        self.combo_a.setToolTip("Left of the divider")
        self.combo_b.setToolTip("Right of the divider")
        self.header.setStretch(0, 0)
        self.header.addWidget(self.combo_a)
        self.header.addWidget(QLabel("|"))
        self.header.addWidget(self.combo_b)
        self.header.addStretch(1)
        self.combo_a.currentIndexChanged.connect(self._refresh)
        self.combo_b.currentIndexChanged.connect(self._refresh)
        self.combo_a.activated.connect(self._remember)
        self.combo_b.activated.connect(self._remember)
        self._wanted = ("bicubic", "drrn")

        self.clip = QGraphicsRectItem()
        self.clip.setFlag(QGraphicsRectItem.GraphicsItemFlag.ItemClipsChildrenToShape, True)
        self.clip.setPen(QPen(Qt.PenStyle.NoPen))
        self.view.addItem(self.clip)
        self.item_b = pg.ImageItem(axisOrder="row-major")
        self.item_b.setParentItem(self.clip)
        self.divider = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#ffd54a", width=2),
                                       hoverPen=pg.mkPen("#ffffff", width=3))
        self.divider.setZValue(10)
        self.view.addItem(self.divider)
        self.divider.sigPositionChanged.connect(self._update_clip)
        # key -> (label, the result offered, its display uint8, output size (w, h))
        self._sources: dict[str, tuple[str, np.ndarray, np.ndarray, tuple[int, int]]] = {}
        self._b_image: np.ndarray | None = None

    def set_sources(self, sources: dict[str, tuple[str, np.ndarray, tuple[int, int]]]) -> None:
        """Offer ``sources``; show the wanted A/B pair (default Bicubic | DRRN) when available,
        else the first and last sources."""
        kept = self._sources
        self._sources = {  # a result offered again keeps its conversion (one per Stage before)
            k: (label, a, kept[k][2] if k in kept and kept[k][1] is a else
                to_display_u8(a, keep_alpha=True), size)
            for k, (label, a, size) in sources.items()
        }
        keys = list(sources)
        for combo, wanted, fallback in ((self.combo_a, self._wanted[0], 0),
                                        (self.combo_b, self._wanted[1], len(keys) - 1)):
            combo.blockSignals(True)
            combo.clear()
            for key in keys:
                combo.addItem(sources[key][0], key)
            idx = combo.findData(wanted)
            combo.setCurrentIndex(idx if idx >= 0 else fallback)
            combo.blockSignals(False)
        self._refresh()

    def _remember(self) -> None:
        self._wanted = (self.combo_a.currentData(), self.combo_b.currentData())

    def choose(self, a: str, b: str) -> None:
        """Select sources by key (kept as the wanted pair for later results)."""
        self._wanted = (a, b)
        for combo, key in ((self.combo_a, a), (self.combo_b, b)):
            idx = combo.findData(key)
            if idx >= 0:
                combo.setCurrentIndex(idx)

    def choice(self) -> tuple[str | None, str | None]:
        return self.combo_a.currentData(), self.combo_b.currentData()

    def _refresh(self) -> None:
        a_key, b_key = self.choice()
        a = self._sources.get(a_key) if a_key else None
        b = self._sources.get(b_key) if b_key else None
        if a is None:
            self.set_image(None, note="Nothing to compare yet")
        else:
            self.set_image(a[2], a[3])
        if b is None:
            self._b_image = None
            self.item_b.clear()
        else:
            self._b_image = b[2]
            self.item_b.setImage(composite_checker(self._b_image, b[3]), autoLevels=False,
                                 levels=None)
            self.item_b.setRect(QRectF(0, 0, b[3][0], b[3][1]))
        size = self.output_size
        if size is not None and not 0 < self.divider.value() < size[0]:
            self.divider.setValue(size[0] / 2)
        self._update_clip()
        self.choiceChanged.emit()

    def set_divider(self, x: float) -> None:
        self.divider.setValue(x)

    def _update_clip(self) -> None:
        size = self.output_size
        if size is None:
            self.clip.setRect(QRectF())
            return
        x = min(max(self.divider.value(), 0.0), float(size[0]))
        self.clip.setRect(QRectF(x, 0, size[0] - x, size[1]))

    def value_at(self, x: float, y: float) -> str | None:
        a_key, b_key = self.choice()
        key = a_key if x < self.divider.value() else b_key
        if key is None or key not in self._sources:
            return None
        label, _, image, size = self._sources[key]
        value = pixel_value(image, size, x, y)
        return None if value is None else f"{label} {value}"

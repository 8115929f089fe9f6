"""The benchmark results as a Qt table model: one mean row per (dataset, scale, model), kept up to
date as results stream in (like the paper's tables) and listed first, then one row per image (one
per image, scale and model: a result computed again replaces its row)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont

from drrn_core.metrics.benchmark import format_score, mean_score
from drrn_core.metrics.protocol import ImageScore

COLUMNS = ("Dataset", "Image", "Scale", "Model", "PSNR (dB)", "SSIM", "IFC", "Time (s)")
MEAN_LABEL = "mean"
_Index = QModelIndex | QPersistentModelIndex


@dataclass
class BenchRow:
    """One table row: an image's scores and the seconds its restoration took, or (``is_mean``)
    the means over ``count`` of the ``of`` images of its dataset."""

    dataset: str
    image: str
    scale: int
    model: str
    psnr: float
    ssim: float
    ifc: float | None
    seconds: float = 0.0
    path: str | None = None
    is_mean: bool = False
    count: int = field(default=1, repr=False)
    of: int = field(default=1, repr=False)

    def values(self) -> tuple:
        return (self.dataset, self.image, self.scale, self.model, self.psnr, self.ssim, self.ifc,
                self.seconds)


class BenchTableModel(QAbstractTableModel):
    """Mean rows first, then image rows, each in arrival order; a group's mean row is added with
    its first image and updated with every later one."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[BenchRow] = []
        self._mean_of: dict[tuple[str, int, str], int] = {}
        self._groups: dict[tuple[str, int, str], list[BenchRow]] = {}
        self._bold = QFont()
        self._bold.setBold(True)
        self._mean_brush = QBrush(QColor(128, 128, 128, 40))

    # Qt model interface
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        value = row.values()[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if row.is_mean and index.column() == 1 and row.count < row.of:
                return f"{MEAN_LABEL} ({row.count} of {row.of})"  # partial: still running
            return _display(index.column(), value)
        if role == Qt.ItemDataRole.UserRole:  # the sort key: raw numbers, missing IFC last
            return -math.inf if value is None else value
        if role == Qt.ItemDataRole.FontRole and row.is_mean:
            return self._bold
        if role == Qt.ItemDataRole.BackgroundRole and row.is_mean:
            return self._mean_brush
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and row.path:
            return f"{row.path}\nDouble-click to open it in the evaluation view"
        return None

    # Ours
    def row_at(self, row: int) -> BenchRow:
        return self._rows[row]

    def rows(self, *, means: bool | None = None) -> list[BenchRow]:
        """All rows in table order; ``means`` True/False keeps only mean/image rows."""
        return [r for r in self._rows if means is None or r.is_mean == means]

    def clear(self) -> None:
        self.set_rows([])

    def set_rows(self, rows: list[BenchRow]) -> None:
        """Show exactly these image rows (and their means), in one reset (kept results coming
        back at start: thousands of rows would be thousands of insertions)."""
        self.beginResetModel()
        self._rows.clear()
        self._mean_of.clear()
        self._groups.clear()
        for row in rows:
            self._add(row, signals=False)
        self.endResetModel()

    def add_image(self, row: BenchRow) -> None:
        """Appends an image row, or replaces the row of the same image, scale and model, and
        creates or updates its group's mean row (the means are
        drrn_core.metrics.benchmark.mean_score's, as in `drrn bench`: an infinite PSNR makes the
        mean
        infinite, IFC only when every image has one)."""
        self._add(row, signals=True)

    def remove_group(self, dataset: str, scale: int, model: str) -> None:
        """Remove a group's image rows and its mean row (results computed under other weights,
        precision or IFC choice, replaced by a new run)."""
        key = (dataset, scale, model)
        if key not in self._groups:
            return
        self.set_rows([r for r in self._rows if not r.is_mean
                       and (r.dataset, r.scale, r.model) != key])

    def _add(self, row: BenchRow, signals: bool) -> None:
        key = (row.dataset, row.scale, row.model)
        group = self._groups.setdefault(key, [])
        same = next((i for i, r in enumerate(group) if r.image == row.image), None)
        if same is not None:  # the same cell computed again: its row is replaced in place
            at = next(i for i, r in enumerate(self._rows) if r is group[same])
            group[same] = row
            self._rows[at] = row
            if signals:
                self.dataChanged.emit(self.index(at, 0), self.index(at, len(COLUMNS) - 1))
        else:
            group.append(row)
            self._insert(len(self._rows), row, signals)
        mean = mean_score(ImageScore(r.psnr, r.ssim, r.ifc) for r in group)
        seconds = sum(r.seconds for r in group) / len(group)
        if key not in self._mean_of:
            position = len(self._mean_of)  # after the earlier mean rows, whose rows stay put
            self._mean_of[key] = position
            self._insert(position, BenchRow(row.dataset, MEAN_LABEL, row.scale, row.model,
                                            mean.psnr, mean.ssim, mean.ifc, seconds,
                                            is_mean=True, count=len(group), of=row.of),
                         signals)
            return
        i = self._mean_of[key]
        mean_row = self._rows[i]
        mean_row.psnr, mean_row.ssim, mean_row.ifc = mean.psnr, mean.ssim, mean.ifc
        mean_row.seconds, mean_row.count, mean_row.of = seconds, len(group), row.of
        if signals:
            self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))

    def _insert(self, position: int, row: BenchRow, signals: bool = True) -> None:
        if signals:
            self.beginInsertRows(QModelIndex(), position, position)
        self._rows.insert(position, row)
        if signals:
            self.endInsertRows()


class BenchProxyModel(QSortFilterProxyModel):
    """Sorts on raw values (UserRole) and can hide the per-image rows (means only)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSortRole(Qt.ItemDataRole.UserRole)
        self._images = True

    def set_show_images(self, show: bool) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9; invalidateRowsFilter is deprecated
            self.beginFilterChange()
            self._images = show
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._images = show
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:  # noqa: N802
        model = cast(BenchTableModel, self.sourceModel())  # the table this proxy filters
        return self._images or model.row_at(source_row).is_mean


_METRIC_COLUMNS = {4: "psnr", 5: "ssim", 6: "ifc"}


def _display(column: int, value) -> str:
    if column in _METRIC_COLUMNS:
        return format_score(_METRIC_COLUMNS[column], value, inf="∞", missing="–")
    if value is None:
        return "–"
    if column == 2:
        return f"×{value}"
    if column == 7:
        return f"{value:.3f}"
    return str(value)

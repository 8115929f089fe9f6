"""Small widgets the benchmark, batch and training tabs share: a path field, a folder drop list,
a one-line message banner, and for plots a "no data yet" placeholder and an integer axis."""

from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QWidget,
)


def scroll_panel(panel: QWidget, max_width: int = 460) -> QScrollArea:
    """``panel`` in a vertical scroll area as wide as the panel needs (at most ``max_width``):
    in a small window, or at 150 % scaling, the panel scrolls instead of squeezing its fields
    into 1-2 px strips, and the window's minimum size stays small enough for any screen."""
    scroll = QScrollArea(panel.parentWidget())
    scroll.setWidget(panel)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    panel.ensurePolished()
    width = panel.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4
    scroll.setMinimumWidth(min(width, max_width))
    scroll.setMaximumWidth(max(max_width, width))
    return scroll


class PathField(QWidget):
    """A line edit with a "Browse…" button, for one folder (default) or one file.

    Folders dropped onto the field fill it in. ``changed`` carries the edited text.
    """

    changed = Signal(str)

    def __init__(
        self,
        placeholder: str = "",
        *,
        folder: bool = True,
        file_filter: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._folder = folder
        self._filter = file_filter
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(self.changed)
        self.button = QPushButton("Browse…", self)
        self.button.clicked.connect(self._browse)
        if placeholder:
            self.edit.setToolTip(f"{placeholder} (type a path, browse, or drop a folder here)")
        self.button.setToolTip("Choose a folder" if folder else "Choose a file")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.button)
        self.setAcceptDrops(True)

    def path(self) -> Path | None:
        """The entered path (user-expanded), or None when the field is empty."""
        text = self.edit.text().strip()
        return Path(text).expanduser() if text else None

    def set_path(self, path: str | Path | None) -> None:
        self.edit.setText("" if path is None else str(path))

    def _browse(self) -> None:
        start = self.edit.text().strip()
        if self._folder:
            chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose a file", start, self._filter)
        if chosen:
            self.set_path(chosen)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if dropped_paths(event):
            accept_copy(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 (Qt override)
        if dropped_paths(event):
            accept_copy(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        paths = dropped_paths(event)
        if paths:
            self.set_path(paths[0])
            accept_copy(event)


class FolderList(QListWidget):
    """A list of distinct folders; folders dropped onto it are added (files are ignored)."""

    foldersChanged = Signal()  # noqa: N815 (Qt signal naming)
    refused = Signal(str)  # one line: a path that is not a folder, and why

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.setToolTip("Drop benchmark folders (e.g. Set5) here, or use “Add folder…”")

    def folders(self) -> list[Path]:
        return [Path(self.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.count())]

    def add_folder(self, folder: str | Path) -> bool:
        """Adds ``folder`` if it is a directory not listed yet; returns whether it was added.
        One that is not a folder (missing, a symbolic-link loop, a file) emits ``refused`` with
        one line saying why."""
        from drrn_core.filesystem import missing_reason, resolved

        path = resolved(Path(folder).expanduser())
        if not path.is_dir():
            why = "a file, not a folder" if path.is_file() else missing_reason(path)
            self.refused.emit(f"{folder}: {why}")
            return False
        if path in self.folders():
            return False
        self.addItem(path.name)
        item = self.item(self.count() - 1)
        item.setData(Qt.ItemDataRole.UserRole, str(path))
        item.setToolTip(str(path))
        self.foldersChanged.emit()
        return True

    def remove_selected(self) -> None:
        for item in self.selectedItems():
            self.takeItem(self.row(item))
        self.foldersChanged.emit()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if any(p.is_dir() for p in dropped_paths(event)):
            accept_copy(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 (Qt override)
        if any(p.is_dir() for p in dropped_paths(event)):
            accept_copy(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        for path in dropped_paths(event):
            if path.is_dir():
                self.add_folder(path)
        accept_copy(event)


class MessageLine(QLabel):
    """One line of feedback under a tab's controls: an error (red) or a neutral notice."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_error(self, text: str) -> None:
        self.setStyleSheet("color: #c62828; font-weight: bold;")
        self._show(text)

    def show_info(self, text: str) -> None:
        self.setStyleSheet("")
        self._show(text)

    def clear_message(self) -> None:
        self.clear()
        self.hide()

    def is_error(self) -> bool:
        return not self.isHidden() and "c62828" in self.styleSheet()

    def _show(self, text: str) -> None:
        self.setText(text)
        self.show()


def accept_copy(event: QDropEvent) -> None:
    """Accept a drag or drop as a copy, whatever the file manager proposes (a Move would let it
    delete the source): drops only ever read paths, as the main window's do."""
    event.setDropAction(Qt.DropAction.CopyAction)
    event.accept()


class PlotPlaceholder(QLabel):
    """Over an empty plot: ``text`` instead of axes that would show a meaningless 0-1 range;
    :meth:`set_empty` hides the axes (and their grid) until the plot has data."""

    def __init__(self, plot: pg.PlotWidget, text: str = "No data yet") -> None:
        super().__init__(text, plot)
        self.plot = plot
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("color: #8a8a8a; background: transparent; font-size: 12pt;")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._fit()
        plot.installEventFilter(self)
        self.set_empty(True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.plot and event.type() == QEvent.Type.Resize:
            self._fit()
        return False

    def _fit(self) -> None:
        """Cover the whole plot."""
        self.setGeometry(self.plot.rect())

    def set_empty(self, empty: bool) -> None:
        item = self.plot.getPlotItem()
        for name in ("left", "bottom"):
            item.showAxis(name, not empty)
        self.setVisible(empty)

    def is_empty(self) -> bool:
        return not self.isHidden()


class IntegerAxis(pg.AxisItem):
    """An axis of whole numbers (iterations, image indices): ticks only at integers, never
    1.5 when the range is short."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph override)
        levels = []
        for spacing, values in super().tickValues(minVal, maxVal, size):
            whole = [v for v in values if abs(v - round(v)) < 1e-9]
            if spacing >= 1 and whole:
                levels.append((spacing, whole))
        if not levels and math.isfinite(minVal) and math.isfinite(maxVal):
            lo, hi = math.ceil(minVal), math.floor(maxVal)
            levels = [(1.0, [float(v) for v in range(lo, hi + 1)])] if hi >= lo else []
        return levels


def dropped_paths(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    """Local file-system paths carried by a drag, in order."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]


def user_message(exc: BaseException) -> str:
    """One line for the user: a ValueError's message as it is (drrn_core writes them for users),
    else :func:`app.workers.describe_error` (user errors by type; unexpected ones named)."""
    from app.workers import describe_error

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if text and isinstance(exc, ValueError):
        return text
    return describe_error(exc)

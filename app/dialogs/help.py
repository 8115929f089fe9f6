"""Help > Keyboard shortcuts (every shortcut of the window's actions, listed from the actions
themselves) and Help > Getting started (the short manual shipped with the app, readable offline).
Both are non-modal: they can stay open beside the window."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.resources import files
from typing import TypeVar

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

GUIDE = ("help", "getting_started.md")
"""The manual, inside the app package (package data in the wheel and the bundle)."""


def action_label(action: QAction) -> str:
    """An action's text as a menu shows it: without the mnemonic '&' (a literal '&&' stays one
    '&') and without a trailing ellipsis."""
    text = action.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
    return text.removesuffix("…").removesuffix("...").strip()


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str, str]]:
    """(what it does, its shortcuts as this platform writes them, its longer description) of
    every action with a shortcut, in the order given; an action's several shortcuts are listed
    together, each once."""
    rows = []
    for action in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
        keys = [k for k in dict.fromkeys(keys) if k]
        if keys:
            rows.append((action_label(action), ", ".join(keys), action.statusTip()))
    return rows


class ShortcutsDialog(QDialog):
    """Every keyboard shortcut of ``actions`` (the window's), in a two-column table."""

    def __init__(self, actions: Iterable[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = shortcut_rows(actions)
        self.table = QTableWidget(len(self.rows), 2, self)
        self.table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setToolTip("Every shortcut of the window's menus and actions")
        for i, (label, keys, tip) in enumerate(self.rows):
            for j, text in enumerate((label, keys)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip or label)
                self.table.setItem(i, j, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        _body_and_close(self, self.table, "Close this list")
        self.resize(480, min(640, 90 + 30 * len(self.rows)))


def _body_and_close(dialog: QDialog, body: QWidget, tip: str) -> None:
    """Lay ``body`` out above a Close button (tooltip ``tip``) that closes ``dialog``."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    buttons.rejected.connect(dialog.reject)
    buttons.button(QDialogButtonBox.StandardButton.Close).setToolTip(tip)
    lay = QVBoxLayout(dialog)
    lay.addWidget(body)
    lay.addWidget(buttons)


def guide_text() -> str:
    """The Getting started manual (Markdown), read from the app package."""
    return files("app").joinpath(*GUIDE).read_text(encoding="utf-8")


class GettingStartedDialog(QDialog):
    """The short manual: upscale a photo, evaluate against ground truth, batch a folder,
    benchmark Set5/Set14/BSD100, train. Nothing is fetched: links are not followed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Getting started")
        self.browser = QTextBrowser(self)
        self.browser.setOpenLinks(False)
        self.browser.setOpenExternalLinks(False)
        self.browser.setMarkdown(guide_text())
        self.browser.setToolTip("How to upscale, evaluate, batch, benchmark and train")
        _body_and_close(self, self.browser, "Close the manual")
        self.resize(680, 720)


Dialog = TypeVar("Dialog", bound=QDialog)


def _show(window, kind: type[Dialog], make: Callable[[], Dialog]) -> Dialog:
    """The window's one dialog of ``kind`` (made on first use), shown and brought to the
    front."""
    dialog = window.findChild(kind)
    if dialog is None:
        dialog = make()
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


def show_shortcuts(window) -> ShortcutsDialog:
    """Help > Keyboard shortcuts: every shortcut of ``window.actions`` (its actions dict)."""
    return _show(window, ShortcutsDialog,
                 lambda: ShortcutsDialog(window.actions.values(), window))


def show_guide(window) -> GettingStartedDialog:
    """Help > Getting started."""
    return _show(window, GettingStartedDialog, lambda: GettingStartedDialog(window))

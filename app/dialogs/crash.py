"""The dialog the excepthook shows instead of letting the app die."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

_showing = False


def show_crash(parent: QWidget | None, summary: str, details: str) -> None:
    """Tell the user something went wrong (once at a time); the window stays usable."""
    global _showing
    if parent is not None and hasattr(parent, "show_message"):
        parent.show_message(f"Unexpected error: {summary} (details in the log)", 0)
    if _showing:
        return
    _showing = True
    try:
        box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error",
                          "Something went wrong, but DRRN Studio keeps running. The details "
                          "were written to the log.", parent=parent)
        box.setInformativeText(summary)
        box.setDetailedText(details)
        box.exec()
    finally:
        _showing = False

"""The window's status bar: long messages are elided before the pixel read-out."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QStatusBar, QWidget


class StatusBar(QStatusBar):
    """A status bar whose message is elided before the permanent widgets (the pixel read-out):
    Qt draws a long message straight through them. The full text is the tooltip."""

    def _message_rect(self) -> QRect:
        right = min([c.x() - 8 for c in self.findChildren(
            QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
            if c.isVisible() and c.x() > self.width() // 3] + [self.width() - 8])
        return QRect(6, 0, max(right - 6, 10), self.height())

    def elided_message(self) -> str:
        """The message as drawn: elided to the room left of the pixel read-out."""
        return self.fontMetrics().elidedText(self.currentMessage(), Qt.TextElideMode.ElideRight,
                                             self._message_rect().width())

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        text = self.currentMessage()
        if not text:
            super().paintEvent(event)
            return
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.drawText(self._message_rect(),
                         Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignVCenter,
                         self.elided_message())
        painter.end()
        self.setToolTip(text)

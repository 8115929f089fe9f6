"""DRRN Studio's desktop app (PySide6). Qt lives only in this package; the maths is drrn_core's."""

from app.qt_compat import patch_signal_emit
from drrn_core import __version__

patch_signal_emit()

__all__ = ["__version__"]

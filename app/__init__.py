"""DRRN Studio's desktop app (PySide6). Qt lives only in this package; the maths is drrn_core's."""

from app.qt_compat import immortalise_singletons
from drrn_core import __version__

immortalise_singletons()

__all__ = ["__version__"]

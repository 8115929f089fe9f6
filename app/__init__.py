"""DRRN Studio's desktop app (PySide6). Qt lives only in this package; the maths is drrn_core's."""

from drrn_core import __version__

__all__ = ["__version__"]

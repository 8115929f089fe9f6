"""PyInstaller run-time hook for DRRN Studio's bundle (runs before the entry script).

pyrtools/__init__.py does `from .tools.display import imshow, animshow, pyrshow, make_figure`,
and tools/display.py imports matplotlib.pyplot at import time. The bundle leaves matplotlib out
(DRRN Studio uses only pyrtools' filters and C convolutions, for IFC), so when matplotlib cannot
be found, pre-register a stand-in display module whose plotting functions raise a clear error.
The import system returns a module already in sys.modules without looking for its file.
"""

import importlib.util
import sys
import types


def _install_pyrtools_display_stub() -> None:
    if importlib.util.find_spec("matplotlib") is not None:
        return  # a bundle built with matplotlib: let pyrtools import the real module

    def _unavailable(*_args, **_kwargs):
        raise RuntimeError(
            "pyrtools plotting needs matplotlib, which the DRRN Studio bundle does not include"
        )

    stub = types.ModuleType("pyrtools.tools.display")
    stub.__doc__ = "Stand-in for pyrtools' matplotlib display helpers (see rthook_drrn.py)."
    for name in ("imshow", "animshow", "pyrshow", "make_figure", "PyrFigure"):
        setattr(stub, name, _unavailable)
    sys.modules[stub.__name__] = stub


_install_pyrtools_display_stub()

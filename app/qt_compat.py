"""Work-arounds for bugs in the installed Qt binding, applied once when ``app`` is imported.

PySide6 6.12.0: ``SignalInstance.emit`` returns ``True`` without taking a reference, so every
signal emitted from Python lowers the refcount of ``True`` by one; after enough emissions
CPython aborts ("bool_dealloc: deallocating True or False"), typically at exit. The fix is
detected, not assumed: emit() is probed and wrapped only where it leaks.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal, SignalInstance


class _Probe(QObject):
    sig = Signal()


def emit_leaks_a_reference() -> bool:
    """True if ``SignalInstance.emit`` loses a reference to its bool result."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.sig.emit()
    after = sys.getrefcount(True)
    if after < before:  # give back what the probe took
        for _ in range(before - after):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
        return True
    return False


def patch_signal_emit() -> bool:
    """Wrap ``SignalInstance.emit`` to restore the lost reference; True if it was needed."""
    if getattr(SignalInstance.emit, "_drrn_patched", False) or not emit_leaks_a_reference():
        return False
    original = SignalInstance.emit
    incref = ctypes.pythonapi.Py_IncRef
    incref.argtypes = [ctypes.py_object]

    def emit(self, *args):
        result = original(self, *args)
        if result is True or result is False:
            incref(result)
        return result

    emit._drrn_patched = True  # type: ignore[attr-defined]
    SignalInstance.emit = emit
    return True

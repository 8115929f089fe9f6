"""Work-around for a reference-counting bug of the installed Qt binding, applied on import of
``app``.

PySide6 6.12.0 on CPython 3.11 returns ``None`` (every void method: ``setText``,
``processEvents``, ...) and ``True`` (``Signal.emit``) without taking a reference, as if these
objects were immortal (they are, from CPython 3.12). Every such call lowers their refcount by
one; after some ten thousand calls CPython aborts ("none_dealloc: deallocating None" /
"bool_dealloc"). The leak is probed, not assumed; where it is present, ``None``, ``True`` and
``False`` are made effectively immortal (as 3.12 does) by raising their refcounts by 2**60.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_BOOST = 1 << 60
_SINGLETONS = (None, True, False)


class _Probe(QObject):
    sig = Signal()


def binding_leaks_references(calls: int = 16) -> bool:
    """True if void methods or ``emit`` lose references to None / True (probed)."""
    if sys.version_info >= (3, 12):  # immortal singletons: the bug is harmless
        return False
    probe = _Probe()
    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(calls):
        probe.setObjectName("probe")
        probe.sig.emit()
    after = sys.getrefcount(None), sys.getrefcount(True)
    for obj, b, a in zip((None, True), before, after, strict=True):
        _add_refs(obj, b - a)  # give back what the probe took
    return after < before


def _add_refs(obj: object, n: int) -> None:
    if n > 0:
        ctypes.c_ssize_t.from_address(id(obj)).value += n  # ob_refcnt is the first field


def immortalise_singletons() -> bool:
    """Apply the work-around where needed; True if it was applied (idempotent)."""
    if sys.getrefcount(None) > _BOOST // 2 or not binding_leaks_references():
        return False
    for obj in _SINGLETONS:
        _add_refs(obj, _BOOST)
    return True

"""Giving freed memory back to the operating system between images.

glibc's malloc keeps freed heap memory for reuse rather than returning it, and each image of a
new size frees buffers of new sizes: over a hundred upscales of varied sizes (PyTorch backend) a
process's resident memory grew by 150-200 MB it no longer used, all of it returned by one
``malloc_trim(0)`` (benchmarks/README.md, bench_soak.py). :func:`release_free_memory` is called
after each file of `drrn upscale` and after each app job: a few milliseconds next to an
upscale, and no result changes. Elsewhere (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return the C heap's free memory to the operating system (glibc ``malloc_trim(0)``);
    True when something was released."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False

"""Giving freed memory back to the operating system between images.

glibc's malloc keeps freed heap memory for reuse rather than returning it, and each image of a
new size frees buffers of new sizes: over a hundred upscales of varied sizes (PyTorch backend) a
process's resident memory grew by 150-200 MB it no longer used, all of it returned by one
``malloc_trim(0)`` (benchmarks/README.md, bench_soak.py). :func:`release_free_memory` is called
after each file of `drrn upscale` and after each app job: a few milliseconds next to an
upscale, and no result changes. Elsewhere (macOS, Windows, musl) it does nothing.

glibc also gives every new thread its own heap ("arena"), and each keeps its own freed memory:
the app runs each job on a new worker thread beside ncnn's and Qt's, and its peak resident memory
over 40 photos rose by 75-115 MB after the first photo; with one shared heap it stayed flat
for 36 photos, at no measured cost in time (benchmarks/README.md). :func:`share_one_heap` is
called first thing by the programs that own their process (the app, `drrn`), not by the
library on import.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, or None (another OS or C library)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    except (OSError, AttributeError):  # not glibc (musl has neither)
        return None
    return libc


M_ARENA_MAX = -8
"""glibc's mallopt parameter for the most heaps ("arenas") threads may spread over."""


def release_free_memory() -> bool:
    """Return the C heap's free memory to the operating system (glibc ``malloc_trim(0)``);
    True when something was released."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def share_one_heap() -> bool:
    """Make threads created from now on share the process's one C heap instead of each new one
    getting its own (glibc ``mallopt(M_ARENA_MAX, 1)``); True when set. Call it before other
    threads start: heaps made earlier stay."""
    libc = _libc()
    return bool(libc.mallopt(M_ARENA_MAX, 1)) if libc is not None else False

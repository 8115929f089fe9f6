"""drrn_core.memory: freed C heap memory goes back to the OS between images."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from drrn_core import memory

pytestmark = pytest.mark.skipif(memory._libc() is None,
                                reason="malloc_trim and mallopt are glibc's (Linux)")


def resident_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def test_freed_heap_memory_is_returned():
    """What a run of varied image sizes leaves: freed heap blocks below a block still in use,
    which glibc keeps resident until it is asked to trim."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free(libc.malloc(8 << 20))  # a freed 8 MB block raises the mmap threshold past 512 KB
    size = 512 << 10
    blocks = [libc.malloc(size) for _ in range(160)]  # 80 MB on the heap
    for block in blocks:
        ctypes.memset(block, 1, size)
    for block in blocks[:-1]:  # the last stays in use, so free() cannot shrink the heap itself
        libc.free(block)
    before = resident_mb()
    assert memory.release_free_memory()
    after = resident_mb()
    libc.free(blocks[-1])
    assert before - after > 40, (before, after)


def test_drrn_upscale_releases_after_every_file(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from drrn_core.cli import main
    from drrn_core.cli import upscale as cli_upscale

    for i in range(3):
        Image.fromarray(np.full((8 + i, 8, 3), 50 * i, np.uint8)).save(tmp_path / f"{i}.png")
    calls = []
    monkeypatch.setattr(cli_upscale, "release_free_memory", lambda: calls.append(1))
    assert main(["upscale", str(tmp_path), "-s", "2", "--model", "bicubic", "--out-dir",
                 str(tmp_path.parent / f"{tmp_path.name}-out")]) == 0
    assert len(calls) == 3


def test_ncnn_runs_of_new_tile_shapes_do_not_keep_their_buffers():
    """ncnn's default pools keep every blob of every tile shape for good (~+400 MB per new shape
    of a B1U9-sized tile); each run now has its own pools, emptied after it."""
    pytest.importorskip("ncnn", reason="ncnn is not installed (pip install ncnn)")
    import torch

    from drrn_core.engine.ncnn_backend import NcnnBackend
    from drrn_core.model import DRRN, DRRNConfig

    torch.manual_seed(0)
    backend = NcnnBackend(DRRN(DRRNConfig()).eval(), None, "fp32", threads=2)
    rng = np.random.default_rng(0)

    backend.run(rng.random((120, 120)).astype(np.float32))
    memory.release_free_memory()
    first = resident_mb()
    for h, w in [(140, 150), (160, 170), (180, 190), (200, 210)]:  # each needs larger buffers
        backend.run(rng.random((h, w)).astype(np.float32))
    memory.release_free_memory()
    assert resident_mb() - first < 150


THREADS_ALLOCATE = textwrap.dedent("""
    import ctypes, sys, threading
    from drrn_core import memory
    if sys.argv[1] == "shared":
        assert memory.share_one_heap()
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
    together = threading.Barrier(4)
    def work():  # four threads allocating at once, as a job's, ncnn's and Qt's do
        together.wait()
        block = libc.malloc(1 << 16)
        together.wait()
        libc.free(block)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc.malloc_stats()  # one "Arena N:" paragraph per heap, on stderr
""")


def heaps_used(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", THREADS_ALLOCATE, mode], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_threads_share_one_heap():
    """Each new thread gets its own glibc heap, which keeps its own freed memory (the app's peak
    grew 75-115 MB over 40 photos that way); after share_one_heap() they all use the one."""
    assert heaps_used("own") > 1
    assert heaps_used("shared") == 1


def test_the_app_and_drrn_share_one_heap_first(monkeypatch, capsys):
    """Both programs that own their process call it first, before any thread starts."""
    import app.__main__ as app_main
    from drrn_core.cli import main as drrn

    calls = []
    monkeypatch.setattr(memory, "share_one_heap", lambda: calls.append(1) or True)
    with pytest.raises(SystemExit):
        app_main.main(["--help"])
    assert calls == [1]
    with pytest.raises(SystemExit):
        drrn(["--version"])
    assert calls == [1, 1]

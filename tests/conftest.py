"""Shared fixtures: the ../shared reference data (skipped cleanly where absent) and small images."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Converted ncnn models and speed calibrations go to a throw-away folder, not the user's cache.
os.environ.setdefault("DRRN_CACHE_DIR", tempfile.mkdtemp(prefix="drrn-test-cache-"))
# `auto` follows the fixed rule in tests (a measured choice could differ between runs); the
# measured choice has its own tests (tests/core/test_autotune.py).
os.environ.setdefault("DRRN_AUTO", "rule")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DRRN_SHARED", ROOT.parent / "shared"))


@pytest.fixture(autouse=True)
def _idle_machine(monkeypatch):
    """Every test measures as on an idle machine, although other tests and programs keep this
    one busy: records taken under contention behave differently (engine.contention), and the
    tests about that inject it themselves."""
    from drrn_core.engine import contention

    monkeypatch.setattr(contention, "_ticks", lambda: None)


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt in this process, as under a terminal, also where the
    suite runs in the background: a shell starts background jobs with SIGINT ignored, and
    Python then leaves it ignored."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (or $DRRN_SHARED); the test is skipped with a reason where it is absent."""
    if not (SHARED / "data" / "benchmark").is_dir():
        pytest.skip(f"reference data not found at {SHARED} (set DRRN_SHARED to run this test)")
    return SHARED


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    """scikit-image's astronaut, uint8 RGB 512x512 (ships with scikit-image)."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def camera_grey() -> np.ndarray:
    """scikit-image's cameraman, uint8 greyscale 512x512."""
    from skimage import data

    return data.camera()


class SmallDisk:
    """A small tmpfs mounted at ``path`` (fault injection: a full disk). ``fill(leave)`` writes
    a hidden ``.filler`` file until the disk is full, then gives back ``leave`` bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / ".filler"

    def fill(self, leave: int = 0) -> None:
        import errno
        import shutil

        with open(self.filler, "ab", buffering=0) as f:
            for chunk in (1 << 16, 1 << 12, 1):
                try:
                    while True:
                        f.write(b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
        size = self.filler.stat().st_size
        os.truncate(self.filler, max(0, size - leave))
        assert leave or shutil.disk_usage(self.path).free == 0

    def free_space(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MB tmpfs under tmp_path, unmounted afterwards: Linux as root (this project's machines
    and CI containers). Elsewhere the test is skipped; the same faults also run through a writer
    patched to raise ENOSPC, which needs no mount."""
    import subprocess
    import sys

    mount = tmp_path / "small-disk"
    mount.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("a tmpfs needs Linux and root; the patched-writer variant covers this case")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        yield SmallDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)

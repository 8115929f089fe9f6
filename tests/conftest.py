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

"""`drrn` itself: version, help, usage errors, `train` registration, and the real console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_error_line
from PIL import Image

from drrn_core import __version__


def test_version(drrn):
    result = drrn("--version")
    assert result.code == 0 and result.out.strip() == f"drrn {__version__}"


def test_help_lists_every_command(drrn):
    result = drrn("--help")
    assert result.code == 0
    for command in ("upscale", "bench", "metrics", "models", "train"):
        assert command in result.out


@pytest.mark.parametrize("argv", [
    [],
    ["frobnicate"],
    ["upscale"],
    ["upscale", "a.png"],
    ["upscale", "a.png", "-s", "2", "--width", "10"],
    ["upscale", "a.png", "-s", "2", "--quality", "0"],
    ["upscale", "a.png", "-s", "2", "--tile", "0"],
    ["metrics", "a.png"],
    ["metrics", "a.png", "b.png", "--shave", "-1"],
])
def test_usage_errors_are_one_line(drrn, argv):
    result = drrn(*argv)
    assert_one_error_line(result)
    assert result.code == 2 and "usage:" not in result.err


def test_train_is_registered(drrn):
    result = drrn("train", "--help")
    assert result.code == 0 and "--recipe" in result.out


def _console_script() -> list[str]:
    """The installed `drrn` entry point (or the module when the script is not on PATH)."""
    script = shutil.which("drrn")
    return [script] if script else [sys.executable, "-m", "drrn_core.cli"]


def test_console_script_batch(tmp_path: Path, small_rgb, bad_files):
    good = tmp_path / "good.png"
    Image.fromarray(small_rgb).save(good)
    env = {**os.environ, "DRRN_RESOURCES": str(tmp_path / "res"),
           "DRRN_USER_DIR": str(tmp_path / "user")}
    proc = subprocess.run(
        [*_console_script(), "upscale", str(good), str(bad_files["truncated_png"]), "-s", "2",
         "--out-dir", str(tmp_path / "out"), "--model", "bicubic"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    out = tmp_path / "out" / "good_x2.png"
    assert proc.stdout.strip() == str(out)
    assert np.asarray(Image.open(out)).shape == (48, 40, 3)
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("drrn: error: ") and "truncated" in lines[0]
    assert lines[1] == f"drrn: 1 of 2 failed: {bad_files['truncated_png']}"
    assert len(lines) == 2 and "Traceback" not in proc.stderr

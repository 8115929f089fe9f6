"""Fixtures for the `drrn` CLI tests: tiny images, the bad files users feed a CLI, and a runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Result, save_tiny_model
from PIL import Image

from drrn_core.cli import main


@pytest.fixture
def drrn(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `drrn ARGS...` in-process; SystemExit (argparse, --version) becomes the exit code."""

    def run(*args: object) -> Result:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture(scope="session")
def small_rgb(astronaut_rgb: np.ndarray) -> np.ndarray:
    """A 24x20 uint8 RGB crop of astronaut (face region): fast and not flat."""
    return np.ascontiguousarray(astronaut_rgb[60:84, 190:210])


@pytest.fixture
def png(tmp_path: Path, small_rgb: np.ndarray) -> Path:
    """A valid tiny RGB PNG."""
    path = tmp_path / "small.png"
    Image.fromarray(small_rgb).save(path)
    return path


@pytest.fixture
def bad_files(tmp_path: Path, astronaut_rgb: np.ndarray) -> dict[str, Path]:
    """Broken inputs: zero-byte, truncated PNG and JPEG, a text file named .png, a directory."""
    folder = tmp_path / "bad"
    folder.mkdir()
    img = Image.fromarray(np.ascontiguousarray(astronaut_rgb[:64, :64]))
    files = {"empty": folder / "empty.png", "text": folder / "notes.png"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not an image\n")
    for kind, fmt in (("png", "PNG"), ("jpg", "JPEG")):
        full = folder / f"full.{kind}"
        img.save(full, fmt)
        data = full.read_bytes()
        files[f"truncated_{kind}"] = folder / f"truncated.{kind}"
        files[f"truncated_{kind}"].write_bytes(data[: len(data) // 2])
        full.unlink()
    files["directory"] = folder / "adir.png"
    files["directory"].mkdir()
    return files


@pytest.fixture(autouse=True)
def isolated_models(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Empty bundled and user model folders, so the machine's installed models never leak in."""
    root = tmp_path_factory.mktemp("models")
    monkeypatch.setenv("DRRN_RESOURCES", str(root / "resources"))
    monkeypatch.setenv("DRRN_USER_DIR", str(root / "user"))
    return root


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    """Path of a tiny DRRN weights file outside the registry."""
    return save_tiny_model(tmp_path / "weights", "tiny")

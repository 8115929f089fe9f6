"""Faults of the machine rather than of a file's content: a symbolic-link loop given as
an input, and `drrn upscale` onto a full disk. Each is one `drrn: error:` line, exit 1, and
nothing left behind; the full disk is refused before any pixel is computed."""

from __future__ import annotations

import errno
import os
import shutil
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import sha256
from hostile_files import assert_user_error
from PIL import Image

from drrn_core import batch, limits
from drrn_core.engine import Upscaler


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def loops(tmp_path):
    """``self -> self`` and ``a -> b -> a``: links that lead back to themselves."""
    (tmp_path / "self").symlink_to("self")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    return tmp_path


@pytest.mark.parametrize("name", ["self", "a"])
@pytest.mark.parametrize("command", [
    ("upscale", "{in}", "-s", "2", "--model", "bicubic", "-o", "{dir}/out.png"),
    ("upscale", "{in}", "-s", "2", "--model", "bicubic", "--out-dir", "{dir}/made/here"),
    ("upscale", "{in}", "-s", "2", "--model", "bicubic"),
    ("metrics", "{in}", "{in}"),
    ("bench", "{in}", "--scale", "2", "--model", "bicubic"),
])
def test_a_symlink_loop_as_the_input_is_one_line(drrn, loops, name, command):
    before = listing(loops)
    args = [a.format(**{"in": loops / name, "dir": loops}) for a in command]
    line = assert_user_error(drrn(*args), "symbolic-link loop")
    assert "RuntimeError" not in line
    assert listing(loops) == before  # no output, no output folder, no temporary file


def test_a_symlink_loop_in_a_batch_fails_alone(drrn, loops):
    good = loops / "good.png"
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(good)
    result = drrn("upscale", loops / "self", good, "-s", "2", "--model", "bicubic",
                  "--out-dir", loops / "out")
    assert result.code == 1
    assert "self: a symbolic-link loop" in result.err and "1 of 2 failed" in result.err
    assert listing(loops / "out") == ["good_x2.png"]


def test_a_symlink_loop_as_the_output_path_is_replaced(drrn, loops):
    """-o naming a link loop: the link is replaced by the result, as -o replaces a file."""
    image = loops / "in.png"
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(image)
    (loops / "out.png").symlink_to("out.png")
    result = drrn("upscale", image, "-s", "2", "--model", "bicubic", "-o", loops / "out.png")
    assert result.code == 0, result.err
    assert not (loops / "out.png").is_symlink()
    assert Image.open(loops / "out.png").size == (16, 16)


# --- a full disk -----------------------------------------------------------------------------

def photo(path, w=160, h=120):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), np.uint8)).save(path)
    return path


@pytest.fixture
def never_computed(monkeypatch):
    """Fails the test if a result is computed (the space check must come first)."""
    def upscale(*_a, **_k):
        raise AssertionError("the image was computed before the free space was checked")

    monkeypatch.setattr(Upscaler, "upscale", upscale)


def test_upscale_onto_a_full_disk_fails_before_computing(drrn, tmp_path, small_disk,
                                                         never_computed):
    image = photo(tmp_path / "photo.png")
    small_disk.fill()
    before = listing(small_disk.path)
    line = assert_user_error(
        drrn("upscale", image, "-s", "4", "--model", "bicubic", "-o", small_disk.path / "o.png"),
        "o.png: not enough free space in", str(small_disk.path), "nothing was computed")
    assert "0 bytes free" in line
    assert listing(small_disk.path) == before


def test_a_full_disk_keeps_the_existing_output_and_folder_batches_stop_nothing_else(
        drrn, tmp_path, small_disk, never_computed):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        photo(folder / f"p{i}.png", 40, 30)
    out = small_disk.path / "out"
    out.mkdir()
    (out / "p0_x4.png").write_bytes(b"an earlier result")
    small_disk.fill()
    before = sha256(out / "p0_x4.png")
    result = drrn("upscale", folder, "-s", "4", "--model", "bicubic", "--out-dir", out,
                  "--existing", "replace")
    assert result.code == 1 and "Traceback" not in result.err
    errors = [ln for ln in result.err.splitlines() if ln.startswith("drrn: error:")]
    assert len(errors) == 3 and all("not enough free space" in e for e in errors), result.err
    assert "the existing file is untouched" in errors[0]
    assert sha256(out / "p0_x4.png") == before
    assert listing(out) == ["p0_x4.png"]


def test_room_for_the_estimate_goes_ahead(drrn, tmp_path, small_disk):
    image = photo(tmp_path / "photo.png", 40, 30)
    small_disk.fill(leave=256 << 10)
    result = drrn("upscale", image, "-s", "2", "--model", "bicubic", "-o",
                  small_disk.path / "o.png")
    assert result.code == 0, result.err
    assert (small_disk.path / "o.png").stat().st_size > 0


Usage = namedtuple("Usage", "total used free")


def test_the_space_check_without_a_mount(drrn, tmp_path, monkeypatch, never_computed):
    """Where no tmpfs can be mounted: the file system reports 1 KB free."""
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: Usage(10 ** 9, 10 ** 9 - 1000, 1000))
    image = photo(tmp_path / "photo.png")
    line = assert_user_error(drrn("upscale", image, "-s", "4", "--model", "bicubic", "-o",
                                  tmp_path / "o.png"), "1.0 KB free", "not enough free space")
    needs = batch.estimated_output_bytes((480, 640), 3, 1, "PNG")
    assert needs == int(480 * 640 * 3 * limits.OUTPUT_BYTES_FLOOR["PNG"])
    assert f"needs about {needs / 1000:.1f} KB" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_a_write_that_still_fails_names_the_folder(drrn, tmp_path, monkeypatch):
    """Room for the estimate, but the disk fills while the file is written (patched writer)."""
    from drrn_core.imaging import io

    image = photo(tmp_path / "photo.png", 40, 30)
    (tmp_path / "o.png").write_bytes(b"before")

    def full(target, *_a, **_k):
        Path(target).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io, "_encode", full)
    assert_user_error(drrn("upscale", image, "-s", "2", "--model", "bicubic", "-o",
                           tmp_path / "o.png", "--existing", "replace"),
                      f"the disk holding {tmp_path} is full", "the existing file is untouched")
    assert (tmp_path / "o.png").read_bytes() == b"before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png", "photo.png"]

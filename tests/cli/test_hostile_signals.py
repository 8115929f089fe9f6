"""Signals and temporary files: `drrn upscale` removes its .part file on SIGINT and SIGTERM, and
stale .part files of a killed run (our naming pattern, dead writer) are removed by the next run;
nothing else is touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import sha256
from hostile_files import flat_png
from PIL import Image

from drrn_core.atomic import atomic_path, remove_stale_parts
from drrn_core.imaging import io


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"),
                                                  (signal.SIGINT, 130, "interrupted")])
def test_signal_while_writing_leaves_nothing(drrn, tmp_path, monkeypatch, sig, code, word,
                                             ctrl_c_raises):
    """The signal arrives while the output's temporary file is half written."""
    image = flat_png(tmp_path / "in.png", 32)
    before = sha256(image)
    seen: list[Path] = []
    real_encode = io._encode

    def encode_then_signal(target, *args, **kwargs):
        real_encode(target, *args, **kwargs)
        seen.append(Path(target))
        assert Path(target).exists() and Path(target).name.endswith(".part")
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("the signal was not delivered")

    monkeypatch.setattr(io, "_encode", encode_then_signal)
    result = drrn("upscale", image, "-s", "2", "--model", "bicubic")
    assert result.code == code and f"drrn: {word}" in result.err, result.err
    assert seen and not seen[0].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]
    assert sha256(image) == before
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or sig != signal.SIGTERM


def test_stale_parts_of_a_killed_run_are_removed(drrn, tmp_path):
    image = flat_png(tmp_path / "in.png", 32)
    dead, alive = _dead_pid(), os.getppid()
    stale = [tmp_path / f".in_x2.png.{dead}.abcd1234.part",
             tmp_path / f".in_x2-3.png.{dead}.zz_y9876.part"]
    keep = [tmp_path / f".in_x2.png.{alive}.abcd1234.part",  # a writer that still runs
            tmp_path / ".in_x2.png.abcd1234.part",  # not our pattern (no pid)
            tmp_path / f".other.png.{dead}.abcd1234.part",  # another file's
            tmp_path / "notes.part"]
    for p in stale + keep:
        p.write_bytes(b"half")
    result = drrn("upscale", image, "-s", "2", "--model", "bicubic")
    assert result.code == 0, result.err
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)
    assert (tmp_path / "in_x2.png").is_file()


def test_atomic_write_cleans_its_own_stale_parts(tmp_path):
    """Every atomic write (outputs, weights, checkpoints) removes its target's stale parts."""
    target = tmp_path / "last.safetensors"
    dead = _dead_pid()
    stale = tmp_path / f".last.safetensors.{dead}.q1w2e3r4.part"
    stale.write_bytes(b"x")
    with atomic_path(target) as tmp:
        assert f".{os.getpid()}." in tmp.name
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.safetensors"]
    assert remove_stale_parts(target) == []


def test_sigterm_in_a_real_process_exits_143_without_leftovers(tmp_path):
    """A real `drrn upscale` process stopped by SIGTERM at some point of its run."""
    import numpy as np

    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (1500, 1500, 3), np.uint8)).save(tmp_path / "big.png")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "DRRN_USER_DIR": str(tmp_path / "u"),
           "DRRN_RESOURCES": str(tmp_path / "r")}
    proc = subprocess.Popen([sys.executable, "-m", "drrn_core.cli", "upscale",
                             str(tmp_path / "big.png"), "-s", "3", "--model", "bicubic"],
                            env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.endswith(".part") for p in tmp_path.iterdir()):
            break  # writing has begun: stop it now
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before SIGTERM arrived (machine too fast)")
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in left if n.endswith(".part")], left
    if "big_x3.png" in left:  # SIGTERM arrived after the rename: the result is whole
        with Image.open(tmp_path / "big_x3.png") as im:
            im.load()
            assert im.size == (4500, 4500)
    assert set(left) <= {"big.png", "big_x3.png"}, left

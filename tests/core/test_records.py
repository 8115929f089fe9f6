"""The engine's records (engine.records): damaged files read as empty and are rebuilt, an
unwritable cache costs nothing but a re-measurement, and processes writing at once keep every
record (a lock that a killed process does not leave stuck)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from drrn_core.engine import Upscaler, records
from drrn_core.model import DRRN, DRRNConfig
from drrn_core.weights import save_weights


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DRRN_CACHE_DIR", str(tmp_path / "cache"))


def _tiny() -> DRRN:
    torch.manual_seed(0)
    return DRRN(DRRNConfig(U=2, channels=8)).eval()


@pytest.mark.parametrize("content", [b"", b"{\"version\": 6, \"net|x\": {\"poi", b"\x00\xff" * 40,
                                     b"[1, 2, 3]", b"{\"version\": 1, \"k\": {}}"])
def test_a_damaged_file_reads_as_empty_and_is_rebuilt(content):
    records.cache_dir().mkdir(parents=True)
    records.path().write_bytes(content)
    assert records.read() == {}
    up = Upscaler(_tiny(), device="cpu", precision="fp32")
    assert not up.calibrated
    assert up.estimate_seconds((40, 40), scale=2) > 0  # measured, and written anew
    data = json.loads(records.path().read_text())
    assert data["version"] == records.VERSION and up._path_key() in data
    assert up.calibrated


def test_an_unwritable_cache_only_costs_a_re_measurement(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    monkeypatch.setenv("DRRN_CACHE_DIR", str(blocker / "cache"))
    assert records.update("k", lambda old: {"v": 1}) == {"v": 1}
    assert records.get("k") is None
    up = Upscaler(_tiny(), device="cpu", precision="fp32")
    assert up.estimate_seconds((40, 40), scale=2) > 0
    out = up.upscale(np.random.default_rng(0).random((20, 20, 3)).astype(np.float32), scale=2)
    assert out.shape == (40, 40, 3) and blocker.read_text() == "not a folder\n"


WRITER = """
import sys
from drrn_core.engine import records
who, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    records.put(f"{who}-{i}", {"i": i})
"""


def test_processes_writing_at_once_keep_every_record():
    """Without the lock, read-modify-write cycles of two processes lose each other's records."""
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, who, "40"])
             for who in ("a", "b", "c")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    data = records.read()
    assert {f"{who}-{i}" for who in "abc" for i in range(40)} <= set(data)


HOLDER = """
import sys, time
from drrn_core.engine import records
with records._locked():
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_a_killed_writer_does_not_leave_the_lock_stuck():
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    t0 = time.monotonic()
    records.put("after", {"ok": True})
    assert records.get("after") == {"ok": True} and time.monotonic() - t0 < 30


UPSCALE = ["-m", "drrn_core.cli", "upscale"]


def test_two_upscales_on_a_fresh_cache_both_succeed(tmp_path):
    """Both measure auto and convert the model for ncnn at the same moment."""
    from PIL import Image

    model = tmp_path / "tiny.safetensors"
    save_weights(model, _tiny())
    photo = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (30, 40, 3), np.uint8)).save(photo)
    env = {**os.environ, "DRRN_NO_VULKAN_AUTO": "1"}
    env.pop("DRRN_AUTO", None)  # measured, as users run it
    procs = [subprocess.Popen([sys.executable, *UPSCALE, str(photo), "-s", "2", "--model",
                               str(model), "-o", str(tmp_path / f"out{i}.png")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    a, b = (np.asarray(Image.open(tmp_path / f"out{i}.png")) for i in range(2))
    assert a.shape == b.shape == (60, 80, 3)
    assert np.abs(a.astype(int) - b).max() <= 1  # each ran the path it measured fastest
    data = json.loads(records.path().read_text())
    assert sum(k.startswith("auto|") for k in data) == 1
    assert len(list((records.cache_dir() / "ncnn").glob("*.param"))) == 1
    assert not list(records.cache_dir().rglob("*.part"))

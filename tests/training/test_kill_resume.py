"""`drrn train` killed with SIGKILL and resumed loses at most one checkpoint interval and then
continues exactly as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from drrn_core.trainer import checkpoint as ckpt

RECIPE = Path(__file__).with_name("tiny_recipe.toml")
ITERS, EVERY = 300, 15


def train_cmd(folder: Path, run_dir: Path, cache: Path, resume: bool = False) -> list[str]:
    where = ["--resume", str(run_dir)] if resume else ["--out", str(run_dir)]
    return [sys.executable, "-m", "drrn_core.cli", "train", "--recipe", str(RECIPE), "--data",
            str(folder), *where, "--iters", str(ITERS), "--checkpoint-every", str(EVERY),
            "--threads", "1", "--device", "cpu", "--cache-dir", str(cache)]


def iteration_of(run_dir: Path) -> int:
    return ckpt.read_info(run_dir / ckpt.LAST)["iteration"]


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path: Path, tiny_folder) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cache = tmp_path / "cache"
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(train_cmd(tiny_folder, straight, cache), env=env, check=True,
                   capture_output=True, timeout=300)

    proc = subprocess.Popen(train_cmd(tiny_folder, killed, cache), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (killed / ckpt.LAST).exists() and iteration_of(killed) >= 2 * EVERY:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    log_rows = (killed / "log.csv").read_text().splitlines()[1:]
    reached = int(log_rows[-1].split(",")[0])
    saved = iteration_of(killed)
    assert saved < ITERS, "the run finished before it could be killed"
    assert reached - saved <= EVERY + 10  # at most one interval (+ one log period) lost

    done = subprocess.run(train_cmd(tiny_folder, killed, cache, resume=True), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resumed {killed} at iteration {saved}" in done.stderr
    a = ckpt.read_checkpoint(straight / ckpt.LAST)[0]
    b = ckpt.read_checkpoint(killed / ckpt.LAST)[0]
    assert iteration_of(killed) == iteration_of(straight) == ITERS
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith(("model.", "optim.")))


def start_training_without_checkpoints(folder: Path, run_dir: Path,
                                       cache: Path) -> subprocess.Popen:
    """`drrn train` whose only checkpoint will be the one its stop writes, once it has logged
    a few iterations."""
    cmd = train_cmd(folder, run_dir, cache)
    cmd[cmd.index("--checkpoint-every") + 1] = "100000"
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        log = run_dir / "log.csv"
        if log.exists() and len(log.read_text().splitlines()) > 2:
            break
        time.sleep(0.02)
    return proc


@pytest.mark.slow
def test_sigterm_checkpoints_where_it_stopped(tmp_path: Path, tiny_folder) -> None:
    run_dir = tmp_path / "run"
    proc = start_training_without_checkpoints(tiny_folder, run_dir, tmp_path / "cache")
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "checkpoint written" in err
    assert iteration_of(run_dir) >= 10


@pytest.mark.slow
def test_a_second_ctrl_c_does_not_cut_the_checkpoint_short(tmp_path: Path, tiny_folder) -> None:
    run_dir = tmp_path / "run"
    proc = start_training_without_checkpoints(tiny_folder, run_dir, tmp_path / "cache")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.001)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    saved = iteration_of(run_dir)
    assert saved >= 2
    assert f"checkpoint written (iteration {saved})" in err


@pytest.mark.slow
def test_sigterm_before_the_first_checkpoint_leaves_nothing_and_says_so(tmp_path: Path,
                                                                       tiny_folder) -> None:
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    proc = subprocess.Popen(train_cmd(tiny_folder, run_dir, cache),
                            env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not cache.exists():  # preparing the data
        time.sleep(0.005)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "before the first checkpoint" in err and "checkpoint written" not in err
    assert not run_dir.exists()


def test_train_leaves_nothing_in_tmpdir(tmp_path: Path, tiny_folder) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp),
           "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    cmd = train_cmd(tiny_folder, tmp_path / "run", tmp_path / "cache")
    cmd[cmd.index("--iters") + 1] = "2"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(tmp.iterdir()) == []

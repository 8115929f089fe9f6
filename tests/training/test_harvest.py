"""scripts/harvest.sh: start, status, pause/resume, SIGKILL (at most one checkpoint interval
lost), a restart that resumes, and a stop that checkpoints. Runs the tiny model on CPU."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drrn_core.trainer import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "harvest.sh"
EVERY = 5

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform != "linux", reason="the harvester is for Linux")]


def harvest(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def saved_iteration(run: Path) -> int:
    """The iteration a resume would start from: ``last``, else ``prev`` (a kill between the two
    renames of a checkpoint write leaves only ``prev``)."""
    for name in (ckpt.LAST, ckpt.PREV):
        try:
            return int(ckpt.read_info(run / name)["iteration"])
        except ckpt.CheckpointError:
            continue
    return 0


def logged(run: Path) -> list[int]:
    with open(run / "log.csv", newline="") as f:
        return [int(r["iteration"]) for r in csv.DictReader(f) if r["loss"]]


def wait_for(condition, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_harvester_survives_sigkill_and_stops_with_a_checkpoint(tmp_path: Path,
                                                                tiny_folder) -> None:
    recipe = tmp_path / "endless.toml"
    text = (ROOT / "tests" / "training" / "tiny_recipe.toml").read_text()
    recipe.write_text(text.replace("epochs = 10", "epochs = 100000"))
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HARVEST_RUN": str(run),
           "HARVEST_DATA": str(tiny_folder), "HARVEST_PYTHON": sys.executable,
           "HARVEST_RECIPE": str(recipe), "HARVEST_INIT": "",
           "HARVEST_ARGS": f"--checkpoint-every {EVERY} --threads 1 --device cpu "
                           f"--cache-dir {tmp_path / 'cache'} --val {tiny_folder}"}
    assert harvest(env, "status").stdout.startswith("stopped")
    started = harvest(env, "start")
    assert started.returncode == 0 and "started" in started.stdout, started.stderr
    try:
        wait_for(lambda: saved_iteration(run) >= 2 * EVERY)
        status = harvest(env, "status").stdout.splitlines()
        assert status[0].startswith("running") and "paused" not in status[0]
        assert any("patches seen" in line for line in status)

        assert "paused" in harvest(env, "pause").stdout
        assert harvest(env, "status").stdout.startswith("running (paused)")
        before = len(logged(run))
        time.sleep(1.0)
        assert len(logged(run)) == before  # nothing trains while paused
        harvest(env, "resume")
        wait_for(lambda: len(logged(run)) > before)

        pid = int((run / "harvest.pid").read_text())
        assert b"--compile" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")  # default
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{pid}").exists() or
                 Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z", 10)
        assert harvest(env, "status").stdout.startswith("stopped")
        saved, reached = saved_iteration(run), logged(run)[-1]
        assert reached - saved <= EVERY + 10  # one interval (+ one log period) at most

        restarted = harvest(env, "start")
        assert restarted.returncode == 0, restarted.stderr
        wait_for(lambda: saved_iteration(run) > saved + EVERY)
    finally:
        stopped = harvest(env, "stop")
    assert stopped.stdout.startswith("stopped (checkpoint written)"), stopped.stdout
    assert f"resumed {run} at iteration {saved}" in (run / "harvest.log").read_text()
    iterations = logged(run)
    assert iterations == sorted(set(iterations))  # the curve stays monotonic across the kill
    assert saved_iteration(run) >= iterations[-1] - 10
    assert harvest(env, "status").stdout.startswith("stopped")


def test_without_harvest_run_the_commands_find_a_branch_being_harvested(tmp_path: Path,
                                                                        tiny_folder) -> None:
    """A branch started with HARVEST_RUN=... is found by stop, pause and status without it (the
    session's stop hook knows no branch), and the canonical run is named when none runs."""
    runs = tmp_path / "runs"
    branch = runs / "branch"
    base = {**os.environ, "OMP_NUM_THREADS": "1", "HARVEST_RUNS": str(runs),
            "HARVEST_DATA": str(tiny_folder), "HARVEST_PYTHON": sys.executable,
            "HARVEST_RECIPE": str(ROOT / "tests" / "training" / "tiny_recipe.toml"),
            "HARVEST_INIT": "", "HARVEST_COMPILE": "0",
            "HARVEST_ARGS": f"--checkpoint-every {EVERY} --threads 1 --device cpu "
                            f"--cache-dir {tmp_path / 'cache'}"}
    base.pop("HARVEST_RUN", None)
    started = harvest({**base, "HARVEST_RUN": str(branch)}, "start")
    assert started.returncode == 0 and "started" in started.stdout, started.stderr
    try:
        wait_for(lambda: saved_iteration(branch) >= EVERY)
        assert "paused" in harvest(base, "pause").stdout
        assert harvest(base, "status").stdout.startswith("running (paused)")
        harvest(base, "resume")
    finally:
        stopped = harvest(base, "stop")
    assert stopped.stdout.startswith("stopped (checkpoint written)"), stopped.stdout
    assert not (branch / "harvest.pid").exists()
    assert harvest(base, "stop").stdout.startswith("stopped (was not running)")

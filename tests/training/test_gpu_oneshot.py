"""The GPU one-shot (training/gpu_oneshot.py, scripts/train_gpu.sh) run on the CPU with the tiny
model: it continues a run from packed data and writes a run folder the normal CPU path resumes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from drrn_core.trainer import checkpoint as ckpt
from drrn_core.trainer.loop import Finished, Notice, Progress, TrainSpec, iter_training
from drrn_core.trainer.recipe import load_recipe
from tests.training.conftest import TINY_MODEL

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "training" / "gpu_oneshot.py"


def oneshot(*args: str | Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ENTRY), "--device", "cpu", "--precision", "fp32", "--no-val",
           *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def start_run(run: Path, data: Path, recipe, steps: int) -> None:
    """A CPU run stopped after ``steps`` iterations (closing the loop writes its checkpoint)."""
    events = iter_training(TrainSpec(run_dir=run, data_dir=data, recipe=recipe, device="cpu",
                                     precision="fp32", log_every=1))
    done = 0
    for event in events:
        done += isinstance(event, Progress)
        if done == steps:
            events.close()
            break


def log_iterations(path: Path) -> list[int]:
    with open(path, newline="") as f:
        return [int(r["iteration"]) for r in csv.DictReader(f) if r["loss"]]


def anytime_tiny():
    """The canonical anytime recipe (constant rate, EMA) on the tiny model and tiny patches."""
    return load_recipe("anytime").with_overrides(
        model=TINY_MODEL, patch=16, batch=4, warmup_iters=2, validate_every=10**9,
        checkpoint_minutes=10**6, precision="fp32")


def test_oneshot_continues_a_run_that_the_cpu_path_resumes(tiny_folder: Path,
                                                           tmp_path: Path) -> None:
    run, carry, tiny_recipe = tmp_path / "run", tmp_path / "carry", anytime_tiny()
    start_run(run, tiny_folder, tiny_recipe, 4)
    before = (run / ckpt.LAST).read_bytes()
    res = oneshot("--run", run, "--data", tiny_folder, "--carry", carry, "--batch", 8,
                  "--max-steps", 3, "--warmup", 2, "--log-every", 1)
    assert res.returncode == 0, res.stderr
    assert "done: 3 steps x 8 = 24 patches" in res.stdout
    assert "iteration 4 -> 10" in res.stdout  # 3 steps of 8 = 6 steps of the run's batch of 4
    assert (carry / "train_y.npz").is_file()
    assert (run / ckpt.LAST).read_bytes() == before  # the run itself is only read

    out = carry / "gpu-result" / "run"
    assert (out / "recipe.json").read_text() == (run / "recipe.json").read_text()
    assert log_iterations(out / "log.csv") == [1, 2, 3, 4, 6, 8, 10]
    summary = json.loads((out / "gpu_oneshot.json").read_text())
    assert (summary["base_iteration"], summary["iteration"], summary["gpu_steps"]) == (4, 10, 3)
    assert summary["patches_seen"] == summary["patches_seen_total"] == 4 * 4 + 3 * 8
    tensors, info, _ = ckpt.read_checkpoint(out / ckpt.LAST)
    assert (info["iteration"], info["patches_seen"], info["patches_seen_total"]) == (10, 40, 40)
    assert info["recipe"] == "anytime" and info["ema"]
    work, _, _ = ckpt.read_checkpoint(carry / "gpu-work" / "run" / ckpt.LAST)
    assert tensors.keys() == work.keys()  # model, EMA, optimiser, RNG all carried over
    assert "ema.conv_rec.weight" in tensors
    assert all(torch.equal(tensors[k], work[k]) for k in tensors)
    start, _, _ = ckpt.read_checkpoint(run / ckpt.LAST)
    assert not torch.equal(tensors["model.conv_rec.weight"], start["model.conv_rec.weight"])

    # the normal CPU path (PatchSampler, the run's own batch of 4) continues the result
    events = list(iter_training(TrainSpec(run_dir=out, data_dir=tiny_folder, recipe=tiny_recipe,
                                          resume=True, max_iters=12, device="cpu",
                                          precision="fp32", log_every=1)))
    assert any(isinstance(e, Notice) and "at iteration 10" in e.message for e in events)
    assert [e.iteration for e in events if isinstance(e, Progress)] == [11, 12]
    assert isinstance(events[-1], Finished) and events[-1].iteration == 12
    info = ckpt.read_checkpoint(out / ckpt.LAST)[1]
    assert (info["patches_seen"], info["patches_seen_total"]) == (48, 48)

    # adopting the result into the run, once: the second time the run has moved on
    fresh = carry / "gpu-result" / "again"
    res = oneshot("--run", run, "--data", tiny_folder, "--carry", carry, "--batch", 8,
                  "--max-steps", 1, "--out", fresh)
    assert res.returncode == 0, res.stderr
    assert "packed data: " in res.stdout  # the pack of the same files is reused
    # never under a running harvester (its next checkpoint would overwrite the adopted one)
    harvester = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)",
                                  "drrn_core.cli", "train"])
    try:
        (run / "harvest.pid").write_text(f"{harvester.pid}\n")
        res = oneshot("--adopt", fresh, "--run", run)
        assert res.returncode == 2 and f"harvester (pid {harvester.pid})" in res.stderr
        assert ckpt.read_checkpoint(run / ckpt.LAST)[1]["iteration"] == 4
    finally:
        harvester.kill()
        harvester.wait()
    res = oneshot("--adopt", fresh, "--run", run)  # the PID file names a dead process now
    assert res.returncode == 0, res.stderr
    assert ckpt.read_checkpoint(run / ckpt.LAST)[1]["iteration"] == 6
    assert ckpt.read_checkpoint(run / ckpt.PREV)[1]["iteration"] == 4
    assert log_iterations(run / "log.csv") == [1, 2, 3, 4, 6]
    res = oneshot("--adopt", fresh, "--run", run)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "is at iteration 6" in res.stderr


def test_oneshot_starts_a_new_run_and_reports_bad_input(tiny_folder: Path, tmp_path: Path) -> None:
    carry, run = tmp_path / "carry", tmp_path / "b1u2-new"
    recipe = ROOT / "tests" / "training" / "tiny_recipe.toml"
    script = ROOT / "scripts" / "train_gpu.sh"  # the wrapper passes RUN_DIR and the options on
    res = subprocess.run(["bash", str(script), str(run), "--device", "cpu", "--data",
                          str(tmp_path / "absent"), "--carry", str(carry)], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHON": sys.executable})
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "no packed data" in res.stderr and "Traceback" not in res.stderr
    assert str(carry / "train_y.npz") in res.stderr  # the options reached the entry
    res = oneshot("--data", tiny_folder, "--carry", carry, "--pack-only")
    assert res.returncode == 0 and (carry / "train_y.npz").is_file() and not run.exists()
    res = oneshot("--run", run, "--data", tiny_folder, "--carry", carry)
    assert res.returncode == 2 and "give --recipe" in res.stderr
    res = oneshot("--run", run, "--data", tiny_folder, "--carry", carry, "--recipe", recipe,
                  "--batch", 12, "--max-steps", 2)
    assert res.returncode == 0, res.stderr
    out = carry / "gpu-result" / run.name
    assert ckpt.read_checkpoint(out / ckpt.LAST)[1]["iteration"] == 6  # 2 x 12 / 4
    assert json.loads((out / "recipe.json").read_text())["recipe"]["batch"] == 4
    assert not run.exists()  # nothing is written into the run folder itself
    spec = TrainSpec(run_dir=out, data_dir=tiny_folder, recipe=load_recipe(recipe), resume=True,
                     max_iters=7, device="cpu")
    events = list(iter_training(spec))
    assert isinstance(events[-1], Finished) and events[-1].iteration == 7
    # --in-place continues that run folder itself, keeping the previous checkpoint as prev
    res = oneshot("--run", out, "--data", tiny_folder, "--carry", carry, "--batch", 12,
                  "--max-steps", 1, "--in-place")
    assert res.returncode == 0, res.stderr
    assert ckpt.read_checkpoint(out / ckpt.LAST)[1]["iteration"] == 10  # 7 + 12 / 4
    assert ckpt.read_checkpoint(out / ckpt.PREV)[1]["iteration"] == 7
    assert log_iterations(out / "log.csv")[-2:] == [7, 10]
    assert json.loads((out / "recipe.json").read_text())["recipe"]["batch"] == 4
    res = oneshot("--run", run, "--carry", carry, "--budget", "9m")
    assert res.returncode == 2 and "at most 8 minutes" in res.stderr

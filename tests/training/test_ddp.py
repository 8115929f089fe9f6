"""Two CPU processes under torchrun (gloo): ranks stay in sync and only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _two_processes(*args: str) -> subprocess.CompletedProcess:
    """torchrun with two CPU processes running ``args`` (a script or ``-m module ...``)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _torchrun(tiny_folder: Path, run_dir: Path, out: Path, *extra: str) -> tuple[dict, dict]:
    """ddp_worker.py on two CPU processes; what each rank recorded."""
    # Prepare the patch cache once so the two ranks don't race to write it.
    from drrn_core.trainer.data import TrainingData

    TrainingData(tiny_folder, (2.0, 3.0), 16, cache_dir=out / "cache")
    _two_processes(str(HERE / "ddp_worker.py"), str(tiny_folder), str(run_dir), str(out), *extra)
    return (json.loads((out / "rank0.json").read_text()),
            json.loads((out / "rank1.json").read_text()))


@pytest.mark.slow
def test_two_process_ddp_stays_in_sync(tmp_path: Path, tiny_folder: Path) -> None:
    run_dir = tmp_path / "run"
    r0, r1 = _torchrun(tiny_folder, run_dir, tmp_path / "out")
    assert r0["world"] == r1["world"] == 2 and r0["steps"] == r1["steps"] == 6
    assert r0["params"] == r1["params"]  # identical weights after 6 synchronised steps
    assert r0["writes"] and not r1["writes"]  # only rank 0 writes checkpoints and weights
    assert (run_dir / "last.safetensors").is_file() and (run_dir / "log.csv").is_file()
    rows = (run_dir / "log.csv").read_text().splitlines()
    assert len(rows) == 1 + 6  # one writer: no duplicated log rows


@pytest.mark.slow
def test_an_interrupted_ddp_run_keeps_one_checkpoint_and_exits_cleanly(tmp_path: Path,
                                                                      tiny_folder: Path) -> None:
    """Both ranks cancelled after 2 of 6 steps (as Ctrl-C under torchrun): rank 0 alone writes
    the checkpoint of iteration 2 while rank 1, done first, leaves the run folder alone (it
    used to undo the "unstarted" run: rank 0's log and recipe deleted under it), and both
    processes exit 0 after tearing down the group."""
    from drrn_core.trainer import checkpoint as ckpt

    run_dir = tmp_path / "run"
    r0, r1 = _torchrun(tiny_folder, run_dir, tmp_path / "out", "2")
    assert r0["steps"] == r1["steps"] == 2 and r0["params"] == r1["params"]
    assert r0["writes"] == ["checkpoint"] and not r1["writes"]
    assert ckpt.read_checkpoint(run_dir / ckpt.LAST)[1]["iteration"] == 2


@pytest.mark.slow
def test_drrn_train_under_torchrun_speaks_once(tmp_path: Path, tiny_folder: Path) -> None:
    """`torchrun --nproc_per_node=2 -m drrn_core.cli train`: rank 0 alone reports (one final
    line, not one per rank) and the run is written once."""
    run_dir = tmp_path / "run"
    proc = _two_processes(
        "-m", "drrn_core.cli", "train", "--recipe", str(HERE / "tiny_recipe.toml"),
        "--data", str(tiny_folder), "--out", str(run_dir), "--iters", "3", "--device", "cpu",
        "--threads", "1", "--cache-dir", str(tmp_path / "cache"))
    assert proc.stdout.count("stopped at iteration 3 (max_iters)") == 1, proc.stdout
    rows = (run_dir / "log.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["3"]  # one writer: the final row, once


def test_drrn_train_leaves_the_process_group(tmp_path: Path, tiny_folder: Path) -> None:
    """`drrn train` tears down the process group it trained in before it returns (a one-process
    gloo group here; under torchrun the loop makes it)."""
    import torch.distributed as dist

    from drrn_core.cli import main

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    try:
        code = main(["train", "--recipe", str(HERE / "tiny_recipe.toml"), "--data",
                     str(tiny_folder), "--out", str(tmp_path / "run"), "--iters", "1",
                     "--device", "cpu", "--threads", "1", "--cache-dir", str(tmp_path / "c")])
        assert code == 0 and not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()

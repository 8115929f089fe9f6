"""training/ship.py: a run's EMA weights replace the bundled model only when they measure better
(Set5 x3 gain, no cell worse), with card, sidecar and results written; otherwise nothing moves."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from drrn_core.trainer import checkpoint as ckpt
from drrn_core.trainer.loop import TrainSpec, iter_training
from drrn_core.weights import load_weights

ROOT = Path(__file__).resolve().parents[2]
SHIP = ROOT / "training" / "ship.py"


def ship_module():
    spec = importlib.util.spec_from_file_location("ship", SHIP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_verdict_needs_the_gate_gain_and_no_cell_worse() -> None:
    verdict = ship_module().verdict
    old = {"Set5_x3": 33.00, "Set14_x2": 32.50}
    assert verdict(old, {"Set5_x3": 33.06, "Set14_x2": 32.49}, 0.05, 0.02)[0]
    ok, why = verdict(old, {"Set5_x3": 33.04, "Set14_x2": 32.60}, 0.05, 0.02)
    assert not ok and "Set5_x3" in why[0]
    ok, why = verdict(old, {"Set5_x3": 33.20, "Set14_x2": 32.47}, 0.05, 0.02)
    assert not ok and why == ["Set14_x2: 32.470 dB vs 32.500 dB (worse by more than 0.02 dB)"]
    assert not verdict(old, {"Set14_x2": 33.0}, 0.05, 0.02)[0]  # the gate was not measured


@pytest.mark.slow
def test_ship_replaces_only_when_better(tmp_path: Path, tiny_folder, tiny_recipe) -> None:
    from tests.training.conftest import write_tiny_folder

    bench_root = tmp_path / "benchmarks"
    write_tiny_folder(bench_root / "Set5")
    anytime = tiny_recipe.with_overrides(schedule="constant", ema_decay=0.9)
    run = tmp_path / "run"
    list(iter_training(TrainSpec(run_dir=run, data_dir=tiny_folder, recipe=anytime,
                                 device="cpu", threads=1, cache_dir=tmp_path / "cache",
                                 val_dir=None, max_iters=3)))
    bundled = tmp_path / "weights"
    bundled.mkdir()
    shutil.copy(run / "last_model.safetensors", bundled / "TINY.safetensors")
    results = tmp_path / "tiny.json"
    subprocess.run([sys.executable, "-m", "drrn_core.cli", "bench", str(bench_root / "Set5"),
                    "--scale", "3", "--model", str(bundled / "TINY.safetensors"), "--json",
                    str(results), "--no-ifc"], check=True, capture_output=True)
    list(iter_training(TrainSpec(run_dir=run, data_dir=tiny_folder, recipe=anytime,
                                 device="cpu", threads=1, cache_dir=tmp_path / "cache",
                                 val_dir=None, max_iters=6, resume=True)))
    before = (bundled / "TINY.safetensors").read_bytes()
    common = [sys.executable, str(SHIP), "--run", str(run), "--name", "TINY", "--bundled-dir",
              str(bundled), "--results", str(results), "--benchmarks", str(bench_root),
              "--sets", "Set5", "--scales", "3"]

    refused = subprocess.run([*common, "--min-gain", "100"], capture_output=True, text=True)
    assert refused.returncode == 3, refused.stderr
    assert "not shipped" in refused.stdout and "Set5_x3" in refused.stdout
    assert (bundled / "TINY.safetensors").read_bytes() == before
    assert not (bundled / "TINY.md").exists()

    shipped = subprocess.run([*common, "--min-gain", "-100", "--max-loss", "100"],
                             capture_output=True, text=True)
    assert shipped.returncode == 0, shipped.stderr[-2000:]
    tensors = ckpt.read_checkpoint(run / ckpt.LAST)[0]
    model = load_weights(bundled / "TINY.safetensors").model.state_dict()
    assert all(torch.equal(v, tensors[f"ema.{k}"]) for k, v in model.items())
    card = (bundled / "TINY.md").read_text()
    assert "an EMA of the weights" in card and "| Set5 | x3 |" in card
    for word in ("issue", "training/", "README", "PROTOCOL", "(ours)", "`", "ILR", "drrn bench"):
        assert word not in card, (word, card)  # users read it as it is (Help > About)
    assert "| Property | Value |" in card and "## Measured quality" in card
    sidecar = json.loads((bundled / "TINY.json").read_text())
    new_results = json.loads(results.read_text())
    new_results = new_results if isinstance(new_results, list) else [new_results]
    measured = next(r for r in new_results[0]["runs"] if r["model"] != "bicubic")
    assert sidecar["results"]["Set5_x3"]["psnr"] == measured["mean"]["psnr"]
    assert not list(bundled.glob("*.part"))

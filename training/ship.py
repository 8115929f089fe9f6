"""Ship a training run's weights only when they measure better than the bundled model.

    python training/ship.py --run training/runs/b1u9-anytime [--dry-run]

1. Export the run's newest checkpoint (its EMA weights when it keeps one) with its training
   metadata: patches seen in all, wall-clock, the hardware of every part of the run.
2. Gate: `drrn bench` on Set5 x3 (exact fp32). Unless it beats the bundled model's own figure
   by ``--min-gain`` dB (0.05), stop here: nothing is replaced.
3. `drrn bench` on Set5, Set14 and BSD100 x2/x3/x4 (with bicubic beside it); every cell is
   compared with the bundled model's results; one worse by more than ``--max-loss`` dB (0.02)
   stops the shipping.
4. Replace the bundled weights, write its card and sidecar (training/model_card.py) and the
   results JSON (docs/results/), each file atomically.
Exit status: 0 shipped, 3 not better (nothing changed), 1 an error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "benchmark"
NOT_BETTER = 3


def export_run(run: Path, out: Path) -> Path:
    """The run's shippable weights (EMA if kept) as a bundled-format model file at ``out``."""
    from drrn_core.model import DRRN, DRRNConfig
    from drrn_core.trainer import checkpoint as ckpt
    from drrn_core.trainer.loop import read_run_recipe, save_model_weights

    tensors, info, _ = ckpt.read_checkpoint(run / ckpt.LAST)
    recipe, _ = read_run_recipe(run / "recipe.json")
    model = DRRN(DRRNConfig.from_dict(info["model"]))
    prefix = "ema." if any(k.startswith("ema.") for k in tensors) else "model."
    model.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    return save_model_weights(out, model.eval(), recipe, info)


def bench(weights: Path, sets: list[Path], scales: list[int], out: Path,
          bicubic: bool) -> list[dict]:
    """Run `drrn bench` (exact fp32) and return its JSON."""
    models = ["--model", "bicubic"] if bicubic else []
    cmd = [sys.executable, "-m", "drrn_core.cli", "bench", *map(str, sets), "--scale",
           *map(str, scales), *models, "--model", str(weights), "--json", str(out),
           "--precision", "fp32"]
    print("$", " ".join(cmd[2:]), flush=True)
    done = subprocess.run(cmd, stdout=sys.stderr)
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"drrn bench failed (exit {done.returncode})")
    return json.loads(out.read_text())


def cells(bench_json: list[dict] | dict, skip_model: str = "bicubic") -> dict[str, float]:
    """{"Set5_x3": mean PSNR, ...} of the non-bicubic model in a `drrn bench --json` result
    (one dataset's object or a list of them)."""
    if isinstance(bench_json, dict):
        bench_json = [bench_json]
    return {f"{ds['dataset']}_x{run['scale']}": run["mean"]["psnr"]
            for ds in bench_json for run in ds["runs"]
            if run["model"] != skip_model and run["mean"].get("psnr") is not None}


def verdict(old: dict[str, float], new: dict[str, float], min_gain: float,
            max_loss: float, gate: str = "Set5_x3") -> tuple[bool, list[str]]:
    """(ship?, reasons): the gate cell must gain >= min_gain dB and no common cell may lose more
    than max_loss dB."""
    reasons = []
    if gate not in new or gate not in old:
        return False, [f"{gate} was not measured for both models"]
    gain = new[gate] - old[gate]
    if gain < min_gain:
        reasons.append(f"{gate}: {new[gate]:.3f} dB vs {old[gate]:.3f} dB ({gain:+.3f} dB, "
                       f"needs {min_gain:+.3f})")
    for key in sorted(set(old) & set(new)):
        if new[key] < old[key] - max_loss:
            reasons.append(f"{key}: {new[key]:.3f} dB vs {old[key]:.3f} dB (worse by more "
                           f"than {max_loss} dB)")
    return not reasons, reasons


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=ROOT / "training" / "runs" / "b1u9-anytime")
    ap.add_argument("--name", default="DRRN_B1U9", help="the bundled model to replace")
    ap.add_argument("--bundled-dir", type=Path, default=ROOT / "resources" / "weights")
    ap.add_argument("--results", type=Path, help="the bundled model's bench JSON "
                    "(default: docs/results/<name>.json)")
    ap.add_argument("--benchmarks", type=Path, default=SHARED,
                    help="folder holding Set5, Set14, BSD100")
    ap.add_argument("--sets", nargs="+", default=["Set5", "Set14", "BSD100"])
    ap.add_argument("--scales", nargs="+", type=int, default=[2, 3, 4])
    ap.add_argument("--min-gain", type=float, default=0.05)
    ap.add_argument("--max-loss", type=float, default=0.02)
    ap.add_argument("--paper-name", default="DRRN_B1U9")
    ap.add_argument("--dry-run", action="store_true", help="measure and decide; replace nothing")
    a = ap.parse_args(argv)
    results = a.results or ROOT / "docs" / "results" / f"{a.name.lower()}.json"
    sets = [a.benchmarks / s for s in a.sets]
    missing = [str(s) for s in sets if not s.is_dir()]
    if missing or not results.is_file() or not (a.run / "last.safetensors").is_file():
        what = missing or [str(p) for p in (results, a.run / "last.safetensors")
                           if not p.is_file()]
        print(f"ship: not found: {', '.join(what)}", file=sys.stderr)
        return 1
    old = cells(json.loads(results.read_text()))
    with tempfile.TemporaryDirectory(prefix="drrn-ship-") as tmp:
        stage = Path(tmp) / f"{a.name}.safetensors"
        export_run(a.run, stage)
        gate = f"{a.sets[0]}_x3" if 3 in a.scales else f"{a.sets[0]}_x{a.scales[0]}"
        quick = cells(bench(stage, sets[:1], [int(gate.rsplit('x', 1)[1])], Path(tmp) / "q.json",
                            bicubic=False))
        ok, reasons = verdict(old, quick, a.min_gain, a.max_loss, gate)
        if ok:
            full_json = bench(stage, sets, a.scales, Path(tmp) / "bench.json", bicubic=True)
            ok, reasons = verdict(old, cells(full_json), a.min_gain, a.max_loss, gate)
        if not ok:
            print("not shipped; the bundled model stays:\n  " + "\n  ".join(reasons))
            return NOT_BETTER
        if a.dry_run:
            print("better on every count; --dry-run: nothing replaced")
            return 0
        subprocess.run([sys.executable, str(ROOT / "training" / "model_card.py"), "--weights",
                        str(stage), "--bench", str(Path(tmp) / "bench.json"), "--default",
                        "--paper-name", a.paper_name], check=True)
        from drrn_core.atomic import atomic_path

        for src, dst in ((Path(tmp) / "bench.json", results),
                         (stage.with_suffix(".md"), a.bundled_dir / f"{a.name}.md"),
                         (stage.with_suffix(".json"), a.bundled_dir / f"{a.name}.json"),
                         (stage, a.bundled_dir / f"{a.name}.safetensors")):
            with atomic_path(dst) as part:
                shutil.copyfile(src, part)
    print(f"shipped: {a.bundled_dir / a.name}.safetensors, its card, and {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

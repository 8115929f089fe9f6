"""Compare training recipes at equal compute: every arm starts from the same weights and seed and
runs the same number of iterations over the same number of pixels per iteration; Set5 x3 PSNR of
the weights each arm would ship (its EMA where it keeps one) is measured along the way.

    python training/compare_arms.py --init resources/weights/DRRN_B1U9.safetensors \\
        --data ../shared/data/train --iters 800 --every 200 --out runs/arms

Arms: today's cosine warm restart (fast.toml over the budget), constant + EMA (anytime.toml),
the same with an L1 loss, and with 31x31 patches (batch raised to keep the pixels per step).
Each arm's run folder is kept, so a stopped comparison resumes; results go to
OUT/arms.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from drrn_core.trainer.loop import TrainSpec, Validation, iter_training
from drrn_core.trainer.recipe import Recipe, load_recipe

ROOT = Path(__file__).resolve().parents[1]


def arms(iters: int) -> dict[str, Recipe]:
    """The recipes compared, all with the same pixels per step as the anytime recipe."""
    anytime, fast = load_recipe("anytime"), load_recipe("fast")
    pixels = anytime.batch * anytime.patch ** 2
    return {
        "cosine restart (fast)": fast.with_overrides(iters_per_epoch=iters, epochs=1),
        "constant + EMA (anytime)": anytime,
        "constant + EMA, L1 loss": anytime.with_overrides(loss="l1"),
        "constant + EMA, 31x31 patches": anytime.with_overrides(
            patch=31, batch=round(pixels / 31 ** 2)),
    }


def run_arm(name: str, recipe: Recipe, args: argparse.Namespace) -> list[dict]:
    folder = args.out / name.split(" (")[0].replace(" + ", "-").replace(", ", "-").replace(
        " ", "_")
    resume = (folder / "last.safetensors").exists()
    spec = TrainSpec(run_dir=folder, data_dir=args.data, recipe=recipe.with_overrides(
        validate_every=args.every, val_scales=(3,), checkpoint_minutes=5.0),
        resume=resume, max_iters=args.iters, val_dir=args.val, cache_dir=args.cache_dir,
        init_from=None if resume else args.init, device=args.device)
    rows = []
    for event in iter_training(spec):
        if isinstance(event, Validation):
            rows.append({"arm": name, "iteration": event.iteration,
                         "patches": event.iteration * recipe.batch,
                         "pixels": event.iteration * recipe.batch * recipe.patch ** 2,
                         "set5_x3": event.psnr[3]})
            print(f"{name}: iteration {event.iteration}: {event.psnr[3]:.3f} dB", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    from platformdirs import user_cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", type=Path, required=True, help="weights every arm starts from")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--val", type=Path, default=ROOT.parent / "shared" / "data" / "benchmark" /
                    "Set5")
    ap.add_argument("--iters", type=int, default=800)
    ap.add_argument("--every", type=int, default=200)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--cache-dir", type=Path,
                    default=Path(user_cache_dir("drrn-studio")) / "datasets")
    ap.add_argument("--only", nargs="*", help="run only these arms (names as in the table)")
    args = ap.parse_args(argv)
    results_path = args.out / "arms.json"
    rows = json.loads(results_path.read_text()) if results_path.is_file() else []
    for name, recipe in arms(args.iters).items():
        if args.only and name not in args.only:
            continue
        done = [r for r in rows if r["arm"] == name]
        if done and done[-1]["iteration"] >= args.iters:
            continue
        rows = [r for r in rows if r["arm"] != name] + run_arm(name, recipe, args)
        args.out.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(rows, indent=1))
    steps = sorted({r["iteration"] for r in rows})
    print("| arm | " + " | ".join(f"{s} it" for s in steps) + " |")
    print("|---|" + "---|" * len(steps))
    for name in dict.fromkeys(r["arm"] for r in rows):
        by = {r["iteration"]: r["set5_x3"] for r in rows if r["arm"] == name}
        print(f"| {name} | " + " | ".join(f"{by[s]:.3f}" if s in by else "–" for s in steps)
              + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training throughput of DRRN_B1U9 on this machine: patches/s and effective TFLOP/s, bf16 autocast
against fp32 in the same run (each in its own subprocess), median of several timed iterations.

    python benchmarks/bench_training.py [--batch 64] [--patch 31] [--iters 5] [--json OUT]
    python benchmarks/bench_training.py --variants nchw,channels_last [--precisions fp32]
    python benchmarks/bench_training.py --harvester [--data ../shared/data/train] [--reps 2]

--variants compares ways of running the training step (NCHW, channels_last as the loop does, and
channels_last with torch.compile as `drrn train --compile` does) for fp32 and for bf16 autocast,
alternated round by round in one process per precision.

--harvester compares the harvester's priority (nice 19, idle I/O class) with a foreground run:
the real `drrn train` with the anytime recipe, alternating the two, patches/s read from each
run's log.csv (median of the rows after the first). Run it on an otherwise idle machine, with
the harvester paused (scripts/harvest.sh pause).

Effective FLOP counts the arithmetic the model needs (forward MACs x 2 x 3 for forward + backward),
not what a kernel happens to execute.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


VARIANTS = ("nchw", "channels_last", "channels_last+compile")


def _setup(variant: str, bf16: bool, batch: int, patch: int) -> Callable[[], None]:
    """One full training step of a fresh DRRN_B1U9 as the loop takes it with the anytime recipe
    (forward, the recipe's loss, backward, its gradient clipping, Adam) on a fixed random batch:
    the model and batch in NCHW or channels_last, the forward pass and loss through
    torch.compile for ``+compile`` (as ``drrn train --compile``)."""
    import torch

    from drrn_core.model import DRRN, DRRNConfig
    from drrn_core.trainer.loop import clip_gradients, loss_fn, make_optimizer
    from drrn_core.trainer.recipe import load_recipe

    torch.manual_seed(0)
    fmt = torch.contiguous_format if variant == "nchw" else torch.channels_last
    model = DRRN(DRRNConfig.parse("B1U9")).to(memory_format=fmt)
    recipe = load_recipe("anytime")
    optimizer = make_optimizer(model, recipe)
    params = list(model.parameters())
    x = torch.rand(batch, 1, patch, patch)
    y = (x + 0.01).clamp(0, 1)
    x = x.contiguous(memory_format=fmt)

    def forward_loss() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        return loss_fn(recipe, out, y)

    run = torch.compile(forward_loss) if variant.endswith("+compile") else forward_loss

    def step() -> None:
        loss = run()
        optimizer.zero_grad()
        loss.backward()
        clip_gradients(params, recipe, recipe.lr)
        optimizer.step()

    return step


def _step_times(step: Callable[[], None], iters: int) -> list[float]:
    """Seconds of each of ``iters`` steps after one untimed (which warms up, or compiles)."""
    times = []
    for i in range(iters + 1):
        t0 = time.perf_counter()
        step()
        if i:
            times.append(time.perf_counter() - t0)
    return times


def measure(precision: str, batch: int, patch: int, iters: int, threads: int) -> dict:
    """One precision in the training loop's layout (channels_last): s/step, patches/s, TFLOP/s."""
    import torch

    from drrn_core.engine.device import cpu_has_bf16_units
    from drrn_core.model import DRRNConfig

    torch.set_num_threads(threads)
    step = _setup("channels_last", precision == "bf16", batch, patch)
    t = statistics.median(_step_times(step, iters))
    flop = 3 * 2 * DRRNConfig.parse("B1U9").macs_per_pixel * batch * patch * patch
    return {"precision": precision, "batch": batch, "patch": patch, "iters": iters,
            "threads": threads, "s_per_iter": t, "patches_per_s": batch / t,
            "tflops": flop / t / 1e12, "cpu_bf16_units": cpu_has_bf16_units()}


def compare_variants(variants: list[str], precision: str, batch: int, patch: int, iters: int,
                     threads: int, rounds: int) -> dict:
    """The variants for one precision, all in this process and alternated round by round so that
    a change of load hits all alike; patches/s of each round (the median of its timed steps)
    and each variant's median over the first variant's."""
    import torch

    torch.set_num_threads(threads)
    steps = {v: _setup(v, precision == "bf16", batch, patch) for v in variants}
    rates: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(rounds):
        for v in variants:
            rates[v].append(batch / statistics.median(_step_times(steps[v], iters)))
    first = statistics.median(rates[variants[0]])
    return {"precision": precision, "batch": batch, "patch": patch, "iters": iters,
            "threads": threads, "rounds": rates,
            "over_first": {v: statistics.median(r) / first for v, r in rates.items()}}


def harvester_rate(low_priority: bool, data: Path, iters: int, folder: Path) -> float:
    """Patches/s of one `drrn train` run (anytime recipe), optionally at the harvester's
    priority; the median of its log rows after the first (which includes start-up)."""
    prefix = ["nice", "-n", "19", "ionice", "-c", "3"] if low_priority else []
    cmd = [*prefix, sys.executable, "-m", "drrn_core.cli", "train", "--recipe", "anytime",
           "--init-from", str(ROOT / "resources" / "weights" / "DRRN_B1U9.safetensors"),
           "--out", str(folder), "--data", str(data), "--iters", str(iters), "--val",
           str(data)]
    subprocess.run(cmd, check=True, capture_output=True)
    with open(folder / "log.csv", newline="") as f:
        rates = [float(r["patches_per_s"]) for r in csv.DictReader(f) if r["patches_per_s"]]
    return statistics.median(rates[1:])


def compare_harvester(data: Path, iters: int, reps: int) -> dict:
    rates: dict[str, list[float]] = {"foreground": [], "nice 19 + idle I/O": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(reps):
            for name, low in (("foreground", False), ("nice 19 + idle I/O", True)):
                rates[name].append(harvester_rate(low, data, iters, Path(tmp) / f"{i}{low}"))
                print(f"{name}: {rates[name][-1]:.1f} patches/s", flush=True)
    fg, bg = (statistics.median(v) for v in rates.values())
    print(f"harvester / foreground: {bg / fg:.3f} ({bg:.1f} vs {fg:.1f} patches/s)")
    return {"runs": rates, "ratio": bg / fg}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--patch", type=int, default=31)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--harvester", action="store_true",
                    help="compare the harvester's priority with a foreground run")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "train")
    ap.add_argument("--train-iters", type=int, default=60)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--variants", help="compare these, comma-separated, per precision: "
                    + ", ".join(VARIANTS) + " (the first is the reference)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--precisions", default="fp32,bf16",
                    help="comma-separated: fp32, bf16 (bf16 is emulated, so very slow, on CPUs "
                         "without bf16 units)")
    a = ap.parse_args()
    if not set(a.precisions.split(",")) <= {"fp32", "bf16"}:
        ap.error(f"--precisions: fp32 and/or bf16, not {a.precisions!r}")
    if a.variants and not set(a.variants.split(",")) <= set(VARIANTS):
        ap.error(f"--variants: some of {', '.join(VARIANTS)}, not {a.variants!r}")
    if a.harvester:
        result = compare_harvester(a.data, a.train_iters, a.reps)
        if a.json:
            Path(a.json).write_text(json.dumps(result, indent=1))
        return
    if a.child:
        result = (compare_variants(a.variants.split(","), a.child, a.batch, a.patch, a.iters,
                                   a.threads, a.rounds)
                  if a.variants else measure(a.child, a.batch, a.patch, a.iters, a.threads))
        print(json.dumps(result))
        return
    rows = []
    for precision in a.precisions.split(","):  # each in its own process
        cmd = [sys.executable, __file__, "--child", precision, "--batch", str(a.batch),
               "--patch", str(a.patch), "--iters", str(a.iters), "--threads", str(a.threads),
               "--rounds", str(a.rounds), *(["--variants", a.variants] if a.variants else [])]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        r = rows[-1]
        if a.variants:
            for v, rates in r["rounds"].items():
                print(f"{precision:5s} {v:22s} patches/s per round: "
                      + ", ".join(f"{x:.1f}" for x in rates)
                      + f"  ({r['over_first'][v]:.2f}x)", flush=True)
        else:
            print(f"{precision:5s} batch {a.batch} patch {a.patch}: {r['s_per_iter']:7.2f} s/iter"
                  f"  {r['patches_per_s']:7.2f} patches/s  {r['tflops']:.3f} TFLOP/s", flush=True)
    if not a.variants and len(rows) == 2:
        print(f"bf16 / fp32 speed: {rows[1]['patches_per_s'] / rows[0]['patches_per_s']:.2f}x "
              f"(CPU bf16 matrix units: {rows[0]['cpu_bf16_units']})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()

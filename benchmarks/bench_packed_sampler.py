"""Mini-batch throughput of the two training samplers on one device: ``PatchSampler`` (NumPy
crops from the prepared, memory-mapped cache) against ``PackedSampler`` (crops gathered on the
device from the packed file), patches/s: the median of all timed batches; the two alternate in
rounds of 20 batches each, each round after one untimed batch.

    python benchmarks/bench_packed_sampler.py [--data ../shared/data/train] [--batch 64]
        [--patch 41] [--batches 20] [--rounds 5] [--device cpu] [--json OUT]

It also reports the packed file's size and how long packing and building the (ILR, HR) pairs
take. The PatchSampler cache goes to a temporary folder (about a minute to prepare on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def timed_batches(fn, n: int, sync) -> list[float]:
    fn(0)  # warm-up
    times = []
    for i in range(1, n + 1):
        t0 = time.perf_counter()
        fn(i)
        sync()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    import torch

    from drrn_core.trainer.data import PatchSampler, TrainingData
    from drrn_core.trainer.packed import PackedSampler, pack_training_data
    from drrn_core.trainer.recipe import load_recipe

    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=root.parent / "shared" / "data" / "train")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--patch", type=int, default=41)
    ap.add_argument("--batches", type=int, default=20, help="timed batches per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json")
    a = ap.parse_args()
    if not a.data.is_dir():
        raise SystemExit(f"training folder not found: {a.data}")
    recipe = load_recipe("fast").with_overrides(batch=a.batch, patch=a.patch)
    device = torch.device(a.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    result: dict = {"batch": a.batch, "patch": a.patch, "device": str(device),
                    "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        packed = pack_training_data(a.data, Path(tmp) / "train_y.npz")
        result["pack_s"] = time.perf_counter() - t0
        result["packed_mb"] = packed.stat().st_size / 1e6
        t0 = time.perf_counter()
        ps = PackedSampler(packed, recipe, device)
        sync()
        result["packed_build_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        data = TrainingData(a.data, recipe.scales, recipe.patch, Path(tmp) / "cache")
        result["patchsampler_prepare_s"] = time.perf_counter() - t0
        sampler = PatchSampler(data, recipe.batch, "random", recipe.stride, recipe.augment,
                               recipe.seed)

        def cpu_batch(i: int) -> None:
            xb, yb = sampler.batch(i)
            torch.from_numpy(xb).to(device), torch.from_numpy(yb).to(device)

        # alternate the two in rounds, so a load spike from other jobs hits both alike
        packed_t, patch_t = [], []
        for _ in range(a.rounds):
            packed_t += timed_batches(ps.batch, a.batches, sync)
            patch_t += timed_batches(cpu_batch, a.batches, sync)
        result["packed_patches_per_s"] = a.batch / statistics.median(packed_t)
        result["patchsampler_patches_per_s"] = a.batch / statistics.median(patch_t)
    for key, value in result.items():
        print(f"{key:28s} {value:.3f}" if isinstance(value, float) else f"{key:28s} {value}")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

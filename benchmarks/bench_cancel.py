"""How long cancel takes to land: Upscaler.restore_y with the default tile size, cancelled at
random moments after its first tile, per backend.

DRRN_B1U9 with random weights (speed does not depend on the values), a 600x600 Y image, CPU.
Per backend: one calibration (``estimate_restore_seconds``, as the app does before a run), then
``--trials`` runs; each is cancelled at a
random moment 0-1.5 tile-times after its first tile finished. Reported: the tile size used,
the median seconds per tile, and the latency from ``cancel()`` turning True to ``Cancelled``
reaching the caller (median and worst).

    python benchmarks/bench_cancel.py [--backends torch ncnn] [--trials 5] [--precision auto]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's drrn_core


def trial(up, y: np.ndarray, tile_s: float, rng: random.Random) -> tuple[float, int]:
    """(seconds from the cancel flag to Cancelled, tiles finished after the flag)."""
    from drrn_core.engine import Cancelled

    first, flag = threading.Event(), threading.Event()
    when: list[float] = []
    tiles_after = [0]

    def progress(f: float) -> None:
        if f > 0:
            first.set()
            if flag.is_set():
                tiles_after[0] += 1

    def cancel() -> bool:
        return flag.is_set()

    result: list[float] = []

    def run() -> None:
        try:
            up.restore_y(y, progress=progress, cancel=cancel)
        except Cancelled:
            result.append(time.perf_counter())

    worker = threading.Thread(target=run)
    worker.start()
    first.wait()
    time.sleep(rng.uniform(0, 1.5 * tile_s))
    when.append(time.perf_counter())
    flag.set()
    worker.join()
    if not result:
        return float("nan"), tiles_after[0]
    return result[0] - when[0], tiles_after[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", nargs="+", default=["torch", "ncnn"])
    p.add_argument("--precision", default="auto")
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--size", type=int, default=600)
    args = p.parse_args()
    from drrn_core.engine import Upscaler
    from drrn_core.model import DRRN, DRRNConfig

    torch.manual_seed(0)
    net = DRRN(DRRNConfig(B=1, U=9)).eval()
    y = np.random.default_rng(0).random((args.size, args.size)).astype(np.float32)
    rng = random.Random(0)
    print("| backend | precision | tile (core px) | s / tile | cancel latency median / worst "
          "| tiles finished after cancel |")
    print("|---|---|---|---|---|---|")
    for backend in args.backends:
        precision = args.precision if backend == "torch" else "fp32"
        up = Upscaler(net, device="cpu", precision=precision, backend=backend)
        up.estimate_restore_seconds(y.shape)  # calibrates once (cached)
        tile = up.tile_size(y.shape)
        window = y[: (tile or args.size) + 2 * up.margin, : (tile or args.size) + 2 * up.margin]
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            up._backend.run(window)
            times.append(time.perf_counter() - t0)
        tile_s = min(times)
        lat, after = [], []
        for _ in range(args.trials):
            seconds, n = trial(up, y, tile_s, rng)
            lat.append(seconds)
            after.append(n)
        landed = [t for t in lat if t == t]  # NaN: the run ended before the flag was seen
        late = f" ({len(lat) - len(landed)} ended first)" if len(landed) < len(lat) else ""
        text = (f"{statistics.median(landed):.2f} / {max(landed):.2f} s" if landed else "-")
        print(f"| {up.backend} | {up.precision} | {tile} | {tile_s:.2f} | {text}{late} | "
              f"{after} |", flush=True)


if __name__ == "__main__":
    main()

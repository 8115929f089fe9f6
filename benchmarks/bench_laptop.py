"""The machines people own: ``auto`` against plain fp32 PyTorch eager, idle and with one other
program keeping a core busy; ncnn's OpenMP settings under contention; tiles against one tile.

Every figure is the median of ``--repeats`` runs (after a warm-up run) of ``restore_y`` on a
random 256x256 Y (DRRN_B1U9, the bundled weights), compared in the same run and under the same
load with the reference: ``Upscaler(model, device="cpu", precision="fp32", backend="torch")``,
plain fp32 eager PyTorch. "busy": a second process spins (``while True: pass``, normal priority)
for the whole measurement. Parts:

- ``ncnn``: ncnn fp32 with OpenMP block time 0 / 20 ms and 1 / 2 threads, and PyTorch fp32-fast
  (NNPACK), idle and busy (seconds and speed-up over the reference in the same load).
- ``auto``: fresh cache, first use busy (the measurement runs under load),
  then idle from that cache (a new engine, as a later run of the app); and fresh and idle.
- ``tiles``: a 512x512 Y through auto's automatic tiles against the same path as one tile.
- ``cancel``: ``drrn upscale`` of a 1200x900 photo x2 (auto, calibrated), interrupted (SIGINT)
  at ``--repeats`` random moments 2-6 s after its start: seconds from the signal to its exit.

    python benchmarks/bench_laptop.py [--parts ncnn auto tiles cancel] [--repeats 5] [--json FILE]

Run with the harvester paused (scripts/harvest.sh pause) and nothing else running; say which CPU
(``lscpu``) and whether laptop mode ($DRRN_CPU_ISA=avx2) was on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's drrn_core


@contextlib.contextmanager
def load(busy: bool):
    """One spinning process at normal priority while ``busy``."""
    if not busy:
        yield
        return
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)
    try:
        yield
    finally:
        spin.kill()
        spin.wait()


def median_s(run, y: np.ndarray, repeats: int) -> float:
    run(y)  # warm-up: allocations, kernels for this shape
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(y)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fresh_cache() -> None:
    os.environ["DRRN_CACHE_DIR"] = tempfile.mkdtemp(prefix="drrn-laptop-")


def part_ncnn(loaded, y, repeats: int) -> list[dict]:
    from drrn_core.engine import Upscaler
    from drrn_core.engine import ncnn_backend as nb

    rows = []
    for busy in (False, True):
        with load(busy):
            ref = median_s(Upscaler(loaded, "cpu", "fp32", backend="torch").restore_y, y, repeats)
            fast = Upscaler(loaded, "cpu", "fp32-fast", backend="torch")
            rows.append(row("torch fp32-fast (NNPACK)", busy, median_s(fast.restore_y, y,
                                                                          repeats), ref))
            for threads in (2, 1):
                for blocktime in (20, 0):
                    backend = nb.NcnnBackend(loaded.model, None, "fp32", threads,
                                             blocktime_ms=blocktime)
                    label = f"ncnn fp32, {threads} threads, blocktime {blocktime} ms"
                    rows.append(row(label, busy, median_s(backend.run, y, repeats), ref))
            rows.append(row("torch fp32 eager (reference)", busy, ref, ref))
    return rows


def row(label: str, busy: bool, seconds: float, ref: float) -> dict:
    r = {"what": label, "load": "busy" if busy else "idle", "seconds": round(seconds, 3),
         "speedup_vs_fp32_eager": round(ref / seconds, 2)}
    print(f"  {r['load']:4s}  {label:40s} {seconds:7.3f} s  x{ref / seconds:.2f}", flush=True)
    return r


def part_auto(loaded, y, repeats: int) -> list[dict]:
    from drrn_core.engine import Upscaler, autotune

    def auto_row(label: str, busy: bool) -> dict:
        t0 = time.perf_counter()
        up = Upscaler(loaded)
        setup = time.perf_counter() - t0
        choice = autotune.cached_choice(loaded.model, "auto")
        ref = median_s(Upscaler(loaded, "cpu", "fp32", backend="torch").restore_y, y, repeats)
        r = row(f"{label}: {up.run_info.text}", busy, median_s(up.restore_y, y, repeats), ref)
        r.update(setup_s=round(setup, 2), contended_record=bool(choice and choice.contended))
        return r

    rows = []
    fresh_cache()
    with load(True):
        rows.append(auto_row("fresh cache, first use busy", True))
    rows.append(auto_row("then idle, a new engine from that cache", False))
    fresh_cache()
    rows.append(auto_row("fresh cache, idle", False))
    return rows


def part_tiles(loaded, repeats: int) -> list[dict]:
    from drrn_core.engine import Upscaler
    from drrn_core.engine.tiling import plan_tiles

    y = np.random.default_rng(1).random((512, 512)).astype(np.float32)
    up = Upscaler(loaded)
    tiles = plan_tiles(y.shape, up.tile_size(y.shape), up.margin)
    tiled = median_s(up.restore_y, y, repeats)
    up.tile = 512
    whole = median_s(up.restore_y, y, repeats)
    r = {"what": f"512x512 Y, {up.run_info.text}", "tiles": len(tiles),
         "tiled_s": round(tiled, 3), "one_tile_s": round(whole, 3),
         "ratio": round(tiled / whole, 3)}
    print(f"  idle  {r['what']}: {len(tiles)} tiles {tiled:.3f} s, one tile {whole:.3f} s, "
          f"ratio {tiled / whole:.2f}", flush=True)
    return [r]


def part_cancel(repeats: int) -> list[dict]:
    import random
    import signal

    from PIL import Image

    folder = Path(tempfile.mkdtemp(prefix="drrn-cancel-"))
    photo = folder / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (900, 1200, 3), np.uint8)).save(photo)
    argv = [sys.executable, "-m", "drrn_core.cli", "upscale", str(photo), "-s", "2", "-o",
            str(folder / "out.png")]
    small = folder / "small.png"
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), np.uint8)).save(small)
    subprocess.run([*argv[:4], str(small), "-s", "2", "-o", str(folder / "warm.png")],
                   check=True, capture_output=True)  # auto measured once; later runs read it
    pick = random.Random(0)
    latencies = []
    for _ in range(repeats):
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(pick.uniform(2.0, 6.0))
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        proc.wait()
        latencies.append(time.perf_counter() - t0)
    r = {"what": "drrn upscale 1200x900 x2, SIGINT to exit", "median_s": round(
        statistics.median(latencies), 3), "worst_s": round(max(latencies), 3),
        "left_behind": sorted(p.name for p in folder.iterdir()
                              if p.name not in ("photo.png", "small.png", "warm.png"))}
    print(f"  idle  {r['what']}: median {r['median_s']} s, worst {r['worst_s']} s, "
          f"left behind {r['left_behind']}", flush=True)
    return [r]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["ncnn", "auto", "tiles", "cancel"],
                    choices=["ncnn", "auto", "tiles", "cancel"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ.pop("DRRN_AUTO", None)
    os.environ.setdefault("DRRN_NO_VULKAN_AUTO", "1")
    fresh_cache()
    from drrn_core.engine.device import cpu_isa, cpu_name, laptop_mode
    from drrn_core.weights import resolve_model

    loaded = resolve_model("DRRN_B1U9")
    y = np.random.default_rng(0).random((256, 256)).astype(np.float32)
    out = {"cpu": cpu_name(), "isa": cpu_isa(), "laptop_mode": laptop_mode(),
           "cores": os.cpu_count(), "repeats": args.repeats,
           "when": time.strftime("%Y-%m-%d %H:%M")}
    print(f"{out['cpu']} ({out['isa']}, {out['cores']} cores, laptop mode {laptop_mode()})")
    if "ncnn" in args.parts:
        print("ncnn settings and NNPACK, 256x256 Y:")
        out["ncnn"] = part_ncnn(loaded, y, args.repeats)
    if "auto" in args.parts:
        print("auto against plain fp32 eager, 256x256 Y:")
        out["auto"] = part_auto(loaded, y, args.repeats)
    if "tiles" in args.parts:
        print("tiles against one tile:")
        out["tiles"] = part_tiles(loaded, args.repeats)
    if "cancel" in args.parts:
        print("cancel in the command line:")
        out["cancel"] = part_cancel(args.repeats)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

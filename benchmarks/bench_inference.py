"""Inference benchmark: DRRN_B1U9 (the bundled weights when installed, else random weights: the
speed does not depend on them) on the CPU.

Cases, each timed in its own subprocess so that peak RSS values do not mix:
  y288      a 288x288 Y image (the paper's timing case): ILR in, restored Y out
  photo     a 2000x1500 RGB photo x2 (4000x3000 out) through Upscaler.upscale (engine only: the
            reference would need ~25 GB for its full-image feature maps). With --photo-tiles K
            the run is cancelled after K of its N tiles (the whole colour/bicubic pipeline at full
            size has run by then): the total is extrapolated as prep + N x median tile time.
  crop      a 200x150 RGB crop of that photo x2 (400x300 out), engine vs reference
Methods: ``reference`` = plain fp32 eager ``model(x)`` on the whole Y image under no_grad (how
public re-implementations run it); ``engine`` = Upscaler(device="cpu") with auto backend and
precision (PyTorch bf16 autocast on a CPU with bf16 matrix units, else ncnn fp32);
``engine-P`` = Upscaler(precision=P) for P in fp32 and fp32-fast (PyTorch);
``engine-compile`` = Upscaler(precision="auto", compile=True) (its compile happens in the untimed
warm-up run); ``engine-ncnn`` = ncnn on the CPU (fp32, Winograd); ``engine-vulkan`` /
``engine-vulkan-fp32`` = ncnn on Vulkan device 0 in fp16 / fp32 (not run by default: lavapipe,
a CPU Vulkan driver, takes minutes per 288x288 image; pass --methods to include them);
``engine-cuda`` = PyTorch auto (bf16/fp16) on CUDA device 0. On a machine with an NVIDIA GPU:
``--cases y288,photo --methods reference,engine-cuda,engine-vulkan,engine-vulkan-fp32``.

  python benchmarks/bench_inference.py [--runs 5] [--cases y288,crop,photo] [--photo-tiles K]
                                       [--methods engine,engine-ncnn,...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from drrn_core.engine import Cancelled, Upscaler
from drrn_core.imaging import imresize, rgb_to_ycbcr
from drrn_core.model import DRRN, DRRNConfig

MACS_PER_PX = 2.66e6  # DRRN_B1U9, per output pixel
CASES = {"y288": ["reference", "engine", "engine-compile", "engine-fp32-fast", "engine-fp32",
                  "engine-ncnn"],
         "crop": ["reference", "engine", "engine-ncnn"],
         "photo": ["engine", "engine-ncnn"]}
ENGINE_OPTIONS = {"engine": {}, "engine-compile": {"compile": True},
                  "engine-fp32-fast": {"precision": "fp32-fast"},
                  "engine-fp32": {"precision": "fp32"},
                  "engine-ncnn": {"backend": "ncnn"},
                  "engine-vulkan": {"device": "vulkan", "precision": "fp16"},
                  "engine-vulkan-fp32": {"device": "vulkan", "precision": "fp32"},
                  "engine-cuda": {"device": "cuda"}}
ALL_METHODS = ["reference", *ENGINE_OPTIONS]


def _upscaler(model: DRRN, method: str) -> Upscaler:
    opts = {"device": "cpu", **ENGINE_OPTIONS[method]}
    up = Upscaler(model, notice=lambda m: print(f"notice: {m}", file=sys.stderr), **opts)
    if ("ncnn" in method or "vulkan" in method) and up.run_info.backend != "ncnn":
        raise SystemExit(f"{method}: ncnn did not load ({up.description})")
    return up


def _b1u9() -> DRRN:
    """The bundled DRRN_B1U9 when installed, else seeded random weights (a bare network: the
    engine's ``auto`` is the rule here, engine.autotune measures loaded weights files only)."""
    from drrn_core import weights

    try:
        return weights.resolve_model("DRRN_B1U9").model.float().eval()
    except weights.WeightsError:
        torch.manual_seed(0)
        return DRRN(DRRNConfig.parse("B1U9")).eval()


def _photo(h: int, w: int) -> np.ndarray:
    """A float32 RGB 'photo': scikit-image's astronaut resized to HxW (content is irrelevant)."""
    from skimage import data

    return np.clip(imresize(data.astronaut().astype(np.float32) / 255, output_shape=(h, w)), 0, 1)


def _job(case: str, method: str):
    """(callable to time, output pixels, backend description) for one case and method."""
    model = _b1u9()
    if case == "y288":
        img = np.random.default_rng(0).random((288, 288)).astype(np.float32)
        scale = None
    else:
        img = _photo(1500, 2000)
        img = img if case == "photo" else img[600:750, 900:1100].copy()
        scale = 2.0
    if method == "reference":
        y = img if scale is None else imresize(rgb_to_ycbcr(img)[..., 0], scale=scale)
        x = torch.from_numpy(np.ascontiguousarray(y))[None, None]

        def run():
            with torch.no_grad():
                return model(x).clamp(0, 1)[0, 0].numpy()

        return run, y.size, "plain fp32 eager model(x), whole image"
    up = _upscaler(model, method)
    if scale is None:
        return (lambda: up.restore_y(img)), img.size, up.description
    pixels = int(np.prod(up.output_shape(img.shape[:2], scale)))
    return (lambda: up.upscale(img, scale=scale)), pixels, up.description


def _photo_partial(tiles: int, method: str) -> dict:
    """The photo case cancelled after ``tiles`` tiles; tile times from the progress callback."""
    up = _upscaler(_b1u9(), method)
    img = _photo(1500, 2000)
    out_hw = up.output_shape(img.shape[:2], 2.0)
    marks: list[float] = []
    t0 = time.perf_counter()
    with contextlib.suppress(Cancelled):
        up.upscale(img, scale=2.0, progress=lambda f: marks.append(time.perf_counter()),
                   cancel=lambda: len(marks) > tiles + 1)
    n = -(-out_hw[0] // up.tile_size(out_hw)) * -(-out_hw[1] // up.tile_size(out_hw))
    tile_s = statistics.median(b - a for a, b in zip(marks[1:], marks[2:], strict=False))
    prep = marks[1] - t0  # colour conversion + bicubic of all planes at 4000x3000
    total = prep + n * tile_s
    return {"runs": [total], "median_s": total, "measured_s": marks[-1] - t0, "tiles_run": tiles,
            "tiles_total": n, "tile_px": up.tile_size(out_hw), "tile_s": tile_s, "prep_s": prep,
            "out_mpx": out_hw[0] * out_hw[1] / 1e6, "backend": up.description,
            "gmacs_per_s": MACS_PER_PX * out_hw[0] * out_hw[1] / total / 1e9}


def _child(case: str, method: str, runs: int, photo_tiles: int) -> None:
    if case == "photo" and photo_tiles:
        r = _photo_partial(photo_tiles, method)
        r.update(case=case, method=method + f" ({photo_tiles}/{r['tiles_total']} tiles)",
                 peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                 threads=torch.get_num_threads())
        print(json.dumps(r))
        return
    run, pixels, backend = _job(case, method)
    times = []
    for i in range(runs + (1 if runs > 1 else 0)):  # one warm-up when timing several runs
        t0 = time.perf_counter()
        run()
        if runs == 1 or i > 0:
            times.append(time.perf_counter() - t0)
    print(json.dumps({
        "case": case, "method": method, "runs": times, "median_s": statistics.median(times),
        "out_mpx": pixels / 1e6, "gmacs_per_s": MACS_PER_PX * pixels / statistics.median(times)
        / 1e9, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(), "backend": backend,
    }))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per small case (median)")
    ap.add_argument("--photo-runs", type=int, default=1, help="timed runs of the photo case")
    ap.add_argument("--photo-tiles", type=int, default=0,
                    help="cancel the photo case after this many tiles and extrapolate (0: all)")
    ap.add_argument("--cases", default="y288,crop,photo")
    ap.add_argument("--methods", help=f"comma-separated subset of {','.join(ALL_METHODS)} "
                    "(default: each case's own list)")
    ap.add_argument("--json", help="also write every result, with details, to this file")
    ap.add_argument("--child", nargs=2, metavar=("CASE", "METHOD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child, args.photo_runs if args.child[0] == "photo" else args.runs,
               args.photo_tiles)
        return 0
    from drrn_core.engine.device import cpu_isa, cpu_name

    print(f"{cpu_name()} ({cpu_isa()}); torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, load average "
          f"{os.getloadavg()[0]:.1f}")
    results = []
    for case in args.cases.split(","):
        methods = CASES[case] if not args.methods else [
            m for m in args.methods.split(",") if m != "reference" or case != "photo"]
        for method in methods:
            out = subprocess.run([sys.executable, __file__, "--runs", str(args.runs),
                                  "--photo-runs", str(args.photo_runs), "--photo-tiles",
                                  str(args.photo_tiles), "--child", case, method],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(r)
            print(f"{case:6s} {r['method']:12s} median {r['median_s']:8.2f} s over "
                  f"{len(r['runs'])} run(s)  {r['gmacs_per_s']:6.1f} GMAC/s  "
                  f"peak RSS {r['peak_rss_mb']:6.0f} MB  {r['backend']}", flush=True)
    for case in args.cases.split(","):
        by = {r["method"].split()[0]: r for r in results if r["case"] == case}
        for method, r in by.items():
            if "reference" in by and method != "reference":
                print(f"{case}: {method} is {by['reference']['median_s'] / r['median_s']:.2f}x "
                      "faster than the fp32 eager reference")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

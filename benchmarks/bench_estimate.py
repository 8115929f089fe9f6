"""How close is Upscaler.estimate_seconds to the actual time? (the aim: within +-30 %)

For each method, in a fresh cache folder (so the calibration runs, and is timed), the estimate
for each case is taken before the run, then the case is run and timed. Cases: ``set5`` a 256x256
RGB image x2 (Set5's baby at its x2 LR size), ``1mp`` a 1152x864 RGB photo (1.0 MP) x2. The
image is scikit-image's astronaut resized (content does not change the time). DRRN_B1U9: the
bundled weights when installed, else random (a bare network: ``auto`` is the rule here).

  nice python benchmarks/bench_estimate.py [--methods auto,ncnn,torch-fp32] [--cases set5,1mp]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

CASES = {"set5": (256, 256), "1mp": (864, 1152), "small": (48, 64)}
METHODS = {"auto": {"device": "cpu"}, "ncnn": {"device": "cpu", "backend": "ncnn"},
           "torch-fp32": {"device": "cpu", "precision": "fp32"},
           "torch-bf16": {"device": "cpu", "precision": "bf16"},
           "vulkan": {"device": "vulkan", "precision": "fp16"}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="auto,ncnn")
    ap.add_argument("--cases", default="set5,1mp")
    ap.add_argument("--json")
    args = ap.parse_args()
    os.environ["DRRN_CACHE_DIR"] = tempfile.mkdtemp(prefix="drrn-estimate-")
    from skimage import data

    from drrn_core.engine import Upscaler
    from drrn_core.engine.device import cpu_isa, cpu_name
    from drrn_core.imaging import imresize
    from drrn_core.model import DRRN, DRRNConfig

    print(f"{cpu_name()} ({cpu_isa()}), {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    from drrn_core import weights

    try:
        model = weights.resolve_model("DRRN_B1U9").model.float().eval()
    except weights.WeightsError:
        torch.manual_seed(0)
        model = DRRN(DRRNConfig.parse("B1U9")).eval()
    astronaut = data.astronaut().astype(np.float32) / 255
    results = []
    for method in args.methods.split(","):
        up = Upscaler(model, **METHODS[method])
        t0 = time.perf_counter()
        up.estimate_seconds((64, 64), scale=2)
        calib = time.perf_counter() - t0
        print(f"{method}: {up.description}; calibration {calib:.1f} s", flush=True)
        for case in args.cases.split(","):
            img = np.clip(imresize(astronaut, output_shape=CASES[case]), 0, 1)
            est = up.estimate_seconds(img.shape[:2], scale=2)
            t0 = time.perf_counter()
            up.upscale(img, scale=2)
            actual = time.perf_counter() - t0
            r = {"method": method, "case": case, "estimate_s": est, "actual_s": actual,
                 "ratio": est / actual, "calibration_s": calib, "backend": up.description,
                 "load_avg": os.getloadavg()[0]}
            results.append(r)
            print(f"  {case:5s} estimate {est:7.1f} s, actual {actual:7.1f} s, estimate/actual "
                  f"{est / actual:.2f} (load {r['load_avg']:.1f})", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

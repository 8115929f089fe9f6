"""Protocol PSNR/SSIM of each backend against exact fp32 PyTorch (Set5 x2/x3/x4, DRRN_B1U9).

Methods: ``torch-fp32`` (the reference: what `drrn bench` reports), ``ncnn-cpu`` (ncnn fp32,
Winograd), ``vulkan-fp32`` and ``vulkan-fp16`` (ncnn on Vulkan device 0; with Debian's
mesa-vulkan-drivers that is lavapipe, a CPU driver: ~3 GMAC/s here, so about 25 minutes per
Vulkan method for Set5 x2-x4), ``torch-bf16`` (PyTorch bf16 autocast, for comparison).
Images run whole (tile larger than any Set5 image). Results, with the per-image deltas to the
reference, are rewritten to --json after every method, so a long run can be read as it goes.

  nice python benchmarks/bench_protocol_backends.py ../shared/data/benchmark/Set5 \\
      --methods torch-fp32,ncnn-cpu,vulkan-fp16,vulkan-fp32 --json set5_backends.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from drrn_core import weights
from drrn_core.atomic import atomic_path
from drrn_core.engine import Upscaler
from drrn_core.engine.device import cpu_isa, cpu_name
from drrn_core.imaging.io import list_images
from drrn_core.metrics.benchmark import iter_benchmark, mean_score

METHODS = {"torch-fp32": {"device": "cpu", "precision": "fp32"},
           "torch-bf16": {"device": "cpu", "precision": "bf16"},
           "ncnn-cpu": {"device": "cpu", "backend": "ncnn", "precision": "fp32"},
           "vulkan-fp32": {"device": "vulkan", "precision": "fp32"},
           "vulkan-fp16": {"device": "vulkan", "precision": "fp16"}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default="DRRN_B1U9")
    ap.add_argument("--scales", default="2,3,4")
    ap.add_argument("--methods", default="torch-fp32,ncnn-cpu,vulkan-fp16,vulkan-fp32")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args()
    loaded = weights.resolve_model(args.model)
    paths = list_images(args.folder)
    scales = [int(s) for s in args.scales.split(",")]
    methods = args.methods.split(",")
    if methods[0] != "torch-fp32":
        methods.insert(0, "torch-fp32")
    doc = {"dataset": args.folder.name, "model": args.model, "cpu": f"{cpu_name()} "
           f"({cpu_isa()})", "scales": scales, "methods": {}}
    rows: dict[str, dict] = {}
    for method in methods:
        notes: list[str] = []
        up = Upscaler(loaded, tile=4096, notice=notes.append, **METHODS[method])
        t0 = time.perf_counter()
        per = {(r.scale, r.image): r.score
               for r in iter_benchmark(paths, scales, {method: up.restore_y}, with_ifc=False)}
        seconds = time.perf_counter() - t0
        rows[method] = per
        ref = rows["torch-fp32"]
        entry = {"backend": up.description, "notices": notes, "seconds": round(seconds, 1),
                 "scales": {}}
        for s in scales:
            mine = [per[k] for k in sorted(per) if k[0] == s]
            base = [ref[k] for k in sorted(ref) if k[0] == s]
            m, b = mean_score(mine), mean_score(base)
            entry["scales"][str(s)] = {
                "psnr": m.psnr, "ssim": m.ssim, "d_psnr_mean": m.psnr - b.psnr,
                "d_ssim_mean": m.ssim - b.ssim,
                "d_psnr_max_image": max(abs(x.psnr - y.psnr) for x, y in zip(mine, base,
                                                                               strict=True)),
                "d_ssim_max_image": max(abs(x.ssim - y.ssim) for x, y in zip(mine, base,
                                                                               strict=True))}
            print(f"{method:12s} x{s}: PSNR {m.psnr:.4f} (d {m.psnr - b.psnr:+.4f} dB), SSIM "
                  f"{m.ssim:.5f} (d {m.ssim - b.ssim:+.6f}); worst image |dPSNR| "
                  f"{entry['scales'][str(s)]['d_psnr_max_image']:.4f} dB", flush=True)
        print(f"{method}: {seconds:.0f} s on {up.description}", flush=True)
        doc["methods"][method] = entry
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

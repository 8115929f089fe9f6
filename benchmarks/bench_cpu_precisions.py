"""Faster CPU precisions for ncnn: protocol PSNR loss on Set5 and speed against plain fp32 PyTorch.

Variants (DRRN_B1U9, the bundled weights, 2 threads):
  torch-fp32   exact fp32 PyTorch through the engine: the PSNR reference
  eager        plain fp32 PyTorch eager, ``model(x)`` under no_grad: the speed reference
  torch-bf16, torch-fp32-fast  the engine's PyTorch paths (for speed comparison)
  ncnn-fp32    the engine's ncnn CPU path (Winograd, fp32)
  ncnn-fp16    ncnn with use_fp16_storage / use_fp16_packed / use_fp16_arithmetic on the CPU
  ncnn-bf16    ncnn with use_bf16_storage / use_bf16_packed on the CPU
  ncnn-int8    ncnn int8 convolutions: per-output-channel weight scales (127 / max |w|) and a
               per-layer input scale (127 / max |input|) over ``--calib`` training images at
               x2/x3/x4 (the pip wheel has no ncnn2table/ncnn2int8, so the int8 .param/.bin
               are written here, in ncnn's format: ``8=2``, int8 weights tagged 0x000D4B38)

PSNR/SSIM: `drrn bench`'s protocol (``drrn_core.metrics.protocol``), Set5 x2/x3/x4, every image,
through the engine's tiles (ncnn CPU tiles: 192 px), IFC skipped. Speed: one 192x192 Y tile per
variant, rounds interleaved over the variants (so load from other programs hits all alike), one
untimed warm-up, median of ``--runs``. Calibration files and converted models go to a temporary
cache folder (nothing is written to the user's cache).

  nice python benchmarks/bench_cpu_precisions.py ../shared/data/benchmark/Set5 \\
      --calib ../shared/data/train/T91 --json /tmp/cpu_precisions.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ["DRRN_CACHE_DIR"] = tempfile.mkdtemp(prefix="drrn-bench-prec-")

from drrn_core import weights  # noqa: E402
from drrn_core.atomic import atomic_path  # noqa: E402
from drrn_core.engine import Upscaler  # noqa: E402
from drrn_core.engine import ncnn_backend as nb  # noqa: E402
from drrn_core.engine.device import cpu_isa, cpu_name, nnpack_available  # noqa: E402
from drrn_core.imaging import imresize  # noqa: E402
from drrn_core.metrics.protocol import (  # noqa: E402
    iter_benchmark,
    list_images,
    mean_score,
    prepare,
    read_gt,
)

VARIANTS = ("torch-fp32", "eager", "torch-bf16", "torch-fp32-fast", "ncnn-fp32", "ncnn-fp16",
            "ncnn-bf16", "ncnn-int8")


def conv_input_maxima(model, folder: Path, count: int) -> list[float]:
    """max |input| of every convolution use, in execution order (= export order), over the ILR Y
    of ``count`` training images at x2, x3 and x4 (the protocol's preparation)."""
    seen: list[torch.Tensor] = []
    hooks = [m.register_forward_pre_hook(lambda _m, inp: seen.append(inp[0].abs().amax()))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    best: list[float] | None = None
    try:
        for i, path in enumerate(list_images(folder)[:count]):
            ilr = prepare(read_gt(path), 2 + i % 3).ilr_y.astype(np.float32)
            seen.clear()
            with torch.no_grad():
                model(torch.from_numpy(ilr)[None, None])
            vals = [float(v) for v in seen]
            best = vals if best is None else [max(a, b) for a, b in zip(best, vals, strict=True)]
    finally:
        for h in hooks:
            h.remove()
    return best or []


def export_int8(model, maxima: list[float]) -> tuple[str, bytes]:
    """(.param, .bin) of ``model`` with int8 convolutions (see the module doc)."""
    index = [0]

    def conv8(self, x, conv, relu_after=False):
        k = index[0]
        index[0] += 1
        out = self.blob("conv")
        w = conv.weight.detach().float()
        bias = conv.bias is not None
        self.add("Convolution", [x], [out],
                 f"0={w.shape[0]} 1=3 11=3 2=1 12=1 3=1 13=1 4=1 14=1 15=1 16=1 "
                 f"5={int(bias)} 6={w.numel()} 8=2" + (" 9=1" if relu_after else ""))
        wscale = 127.0 / w.abs().flatten(1).amax(1).clamp_min(1e-12)
        q = torch.round(w * wscale[:, None, None, None]).clamp(-127, 127).to(torch.int8)
        raw = q.numpy().tobytes()
        self.weights.write(struct.pack("<I", 0x000D4B38) + raw + b"\0" * (-len(raw) % 4))
        if bias:
            self.weights.write(nb._f32(conv.bias))
        self.weights.write(wscale.numpy().astype("<f4").tobytes())
        self.weights.write(struct.pack("<f", 127.0 / max(maxima[k], 1e-12)))
        return out

    original = nb._ParamWriter.conv
    nb._ParamWriter.conv = conv8
    try:
        return nb.export_ncnn(model)
    finally:
        nb._ParamWriter.conv = original


def ncnn_upscaler(loaded, variant: str, folder: Path, maxima: list[float]) -> Upscaler:
    """The engine on ncnn CPU, its backend's net rebuilt with ``variant``'s options/files."""
    up = Upscaler(loaded, device="cpu", backend="ncnn", precision="fp32")
    if variant == "ncnn-fp32":
        return up
    import ncnn

    param, binf = nb.converted_files(loaded.model)
    if variant == "ncnn-int8":
        text, blob = export_int8(loaded.model, maxima)
        param, binf = folder / "int8.param", folder / "int8.bin"
        param.write_text(text, encoding="ascii")
        binf.write_bytes(blob)
    net = ncnn.Net()
    o = net.opt
    o.num_threads = torch.get_num_threads()
    o.use_vulkan_compute = False
    half, bf16 = variant == "ncnn-fp16", variant == "ncnn-bf16"
    o.use_fp16_packed = o.use_fp16_storage = o.use_fp16_arithmetic = half
    o.use_bf16_storage = o.use_bf16_packed = bf16
    o.use_int8_inference = variant == "ncnn-int8"
    o.use_winograd_convolution = o.use_packing_layout = o.lightmode = True
    if net.load_param(str(param)) != 0 or net.load_model(str(binf)) != 0:
        raise RuntimeError(f"ncnn could not load {variant}")
    up._backend.net = net
    return up


class Eager:
    """Plain fp32 PyTorch eager on a whole Y tile (the speed reference)."""

    def __init__(self, model) -> None:
        self.model = model.float().eval()

    def run(self, y: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.from_numpy(y)[None, None])[0, 0].numpy()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--calib", type=Path, required=True, help="training images for int8")
    ap.add_argument("--calib-count", type=int, default=30)
    ap.add_argument("--model", default="DRRN_B1U9")
    ap.add_argument("--scales", default="2,3,4")
    ap.add_argument("--variants", default=",".join(v for v in VARIANTS if v != "eager"))
    ap.add_argument("--protocol-variants", default=None,
                    help="variants scored on the protocol (default: all of --variants)")
    ap.add_argument("--skip-protocol", action="store_true", help="time only")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tile", type=int, default=192)
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args()
    nnpack_available()
    loaded = weights.resolve_model(args.model)
    scales = [int(s) for s in args.scales.split(",")]
    variants = [v for v in args.variants.split(",") if v != "torch-fp32"]
    work = Path(tempfile.mkdtemp(prefix="drrn-int8-"))
    maxima = (conv_input_maxima(loaded.model, args.calib, args.calib_count)
              if "ncnn-int8" in variants else [])
    ups = {"torch-fp32": Upscaler(loaded, device="cpu", precision="fp32")}
    for v in variants:
        if v.startswith("ncnn-"):
            ups[v] = ncnn_upscaler(loaded, v, work, maxima)
        elif v.startswith("torch-"):
            ups[v] = Upscaler(loaded, device="cpu", precision=v.removeprefix("torch-"))
    doc = {"dataset": args.folder.name, "model": args.model, "cpu": f"{cpu_name()} ({cpu_isa()})",
           "threads": torch.get_num_threads(), "load_start": os.getloadavg()[0],
           "scales": scales, "variants": {}}

    # speed: interleaved rounds on one tile
    rng = np.random.default_rng(0)
    gt = read_gt(list_images(args.folder)[0])
    y = prepare(gt, 2).ilr_y.astype(np.float32)
    tile = np.ascontiguousarray(y[:args.tile, :args.tile])
    if tile.shape != (args.tile, args.tile):
        tile = imresize(rng.random((args.tile // 2, args.tile // 2)), scale=2).astype(np.float32)
    runners = {"eager": Eager(loaded.model), **{v: u._backend for v, u in ups.items()}}
    times: dict[str, list[float]] = {v: [] for v in runners}
    for r in range(args.runs + 1):
        for v, b in runners.items():
            t0 = time.perf_counter()
            b.run(tile)
            if r:
                times[v].append(time.perf_counter() - t0)
    eager = statistics.median(times["eager"])
    for v, ts in times.items():
        med = statistics.median(ts)
        doc["variants"].setdefault(v, {}).update(
            tile_runs_s=[round(t, 3) for t in ts], tile_median_s=round(med, 3),
            speed_vs_eager=round(eager / med, 3))
        print(f"{v:10s} {args.tile}x{args.tile} tile: median {med:.3f} s "
              f"({eager / med:.2f}x plain fp32 eager) runs {[round(t, 3) for t in ts]}",
              flush=True)

    # protocol: every Set5 image and scale, each variant against exact fp32 PyTorch
    paths = list_images(args.folder)
    wanted = args.variants if args.protocol_variants is None else args.protocol_variants
    scored = [] if args.skip_protocol else ["torch-fp32", *(v for v in wanted.split(",")
                              if v in ups and v != "torch-fp32")]
    per: dict[str, dict] = {v: {} for v in scored}
    for r in iter_benchmark(paths if scored else [], scales,
                            {v: ups[v].restore_y for v in scored}, with_ifc=False):
        per[r.model][(r.scale, r.image)] = r.score
    ref = per.get("torch-fp32", {})
    for v in scored:
        entry = doc["variants"].setdefault(v, {})
        entry["scales"] = {}
        for s in scales:
            keys = sorted(k for k in ref if k[0] == s)
            mine, base = [per[v][k] for k in keys], [ref[k] for k in keys]
            m, b = mean_score(mine), mean_score(base)
            worst = max(abs(x.psnr - z.psnr) for x, z in zip(mine, base, strict=True))
            entry["scales"][str(s)] = {
                "psnr": m.psnr, "ssim": m.ssim, "d_psnr_mean": m.psnr - b.psnr,
                "d_psnr_worst_image": worst,
                "d_ssim_worst_image": max(abs(x.ssim - z.ssim)
                                          for x, z in zip(mine, base, strict=True))}
            print(f"{v:10s} x{s}: PSNR {m.psnr:.4f} (mean d {m.psnr - b.psnr:+.4f} dB, worst "
                  f"image |d| {worst:.4f} dB)", flush=True)
    doc["load_end"] = os.getloadavg()[0]
    with atomic_path(args.json) as tmp:
        tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(min(2, torch.get_num_threads()))
    sys.exit(main())

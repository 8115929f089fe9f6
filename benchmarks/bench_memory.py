"""Peak memory (RSS) of `drrn upscale` at x2 for 1, 6, 20 and 24 MP RGB inputs.

Each case runs the real CLI in a fresh process and reads its peak resident set size from
``os.wait4`` (Linux ru_maxrss, KiB), so imports, decoding, colour conversion, bicubic resizing,
the network's tiles, output assembly and encoding all count. Inputs are generated (a smooth
gradient plus noise, so PNG neither collapses nor explodes) in a temporary folder.

``--via engine`` runs the same steps as `drrn upscale` (load_image, Upscaler.upscale, save_image)
through the library in a fresh process, asking the engine for an 8-bit result
(``out_dtype=np.uint8``) instead of a float one. ``--bench`` measures `drrn bench --scale 2
--no-ifc` (``--ifc``: with IFC) on the same generated image of each size instead (the
protocol path).

20 MP (5400x3700) at x2 is the largest output the default 80 MP limit allows; 24 MP at x2 is a
96 MP output, over it: that case passes --max-pixels to show how memory grows past it. Default
model: bicubic (quick); ``--model DRRN_B1U9`` measures the network too (hours on 2 CPU cores for
24 MP).

    python benchmarks/bench_memory.py [--mp 1 6 20 24] [--model bicubic|NAME] [--format png|tif]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SIZES = {1: (1000, 1000), 6: (3000, 2000), 20: (5400, 3700), 24: (6000, 4000)}


def make_input(path: Path, width: int, height: int) -> None:
    """A smooth RGB gradient with mild noise, written as PNG (row bands: bounded memory here)."""
    rng = np.random.default_rng(0)
    out = np.empty((height, width, 3), np.uint8)
    x = np.linspace(0, 255, width, dtype=np.float32)
    for r in range(0, height, 256):
        rows = np.arange(r, min(height, r + 256), dtype=np.float32)[:, None]
        band = np.stack([x[None, :] + 0 * rows, rows * 255 / height + 0 * x[None, :],
                         (x[None, :] + rows) % 256], axis=2)
        band += rng.normal(0, 6, band.shape).astype(np.float32)
        out[r:r + len(rows)] = np.clip(band, 0, 255).astype(np.uint8)
    Image.fromarray(out).save(path, compress_level=1)


ENGINE = """
import sys
import numpy as np
from drrn_core.engine import Upscaler
from drrn_core.imaging import io
from drrn_core.weights import resolve_model
src, out, model, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
image = io.load_image(src, max_pixels=limit)
up = Upscaler(None if model == "bicubic" else resolve_model(model))
result = up.upscale(image.image, 2.0, out_dtype=np.uint16 if image.bit_depth == 16 else np.uint8)
like = io.LoadedImage(np.empty((0, 0), np.float32), None, image.bit_depth, image.mode,
                      image.exif, image.icc, image.format, image.path)
del image
io.save_image(out, result, like=like)
"""


def peak_rss(args: list[str], engine: bool = False) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit status) of one `drrn` run (or, ``engine``, of the library
    script ENGINE with ``args``) in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    cmd = ["-c", ENGINE] if engine else ["-m", "drrn_core.cli"]
    proc = subprocess.Popen([sys.executable, *cmd, *args], env=env,
                            stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - start, proc.returncode


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mp", nargs="+", type=int, default=[1, 6, 20, 24], choices=sorted(SIZES))
    p.add_argument("--model", default="bicubic")
    p.add_argument("--format", default="png", choices=["png", "tif"])
    p.add_argument("--via", default="cli", choices=["cli", "engine"])
    p.add_argument("--bench", action="store_true", help="measure `drrn bench` instead")
    p.add_argument("--ifc", action="store_true", help="with --bench: IFC too (default --no-ifc)")
    args = p.parse_args()
    if args.bench:
        return bench_cases(args.mp, args.ifc)
    baseline, _, _ = peak_rss(["--version"])
    print(f"python + imports (drrn --version): {baseline:.0f} MB")
    print("| input | output | model | peak RSS | time | exit |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for mp in args.mp:
            w, h = SIZES[mp]
            src = Path(tmp) / f"in_{mp}mp.png"
            make_input(src, w, h)
            out = Path(tmp) / f"out_{mp}mp.{args.format}"
            limit = max(80_000_000, 4 * w * h)
            if args.via == "engine":
                rss, seconds, code = peak_rss([str(src), str(out), args.model, str(limit)], True)
            else:
                run = ["upscale", str(src), "-s", "2", "--model", args.model, "-o", str(out)]
                if 4 * w * h > 80_000_000:
                    run += ["--max-pixels", str(limit)]
                rss, seconds, code = peak_rss(run)
            print(f"| {w}x{h} ({mp} MP) | {2 * w}x{2 * h} | {args.model} | {rss:.0f} MB | "
                  f"{seconds:.1f} s | {code} |", flush=True)
            out.unlink(missing_ok=True)
            src.unlink()


def bench_cases(sizes: list[int], ifc: bool) -> None:
    """Peak RSS of `drrn bench --scale 2 [--no-ifc]` (bicubic) on a generated PNG of each size
    (the same smooth gradient with noise, so every metric has real work to do)."""
    flags = ["--scale", "2"] + ([] if ifc else ["--no-ifc"])
    print("| input | command | peak RSS | time | exit |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for mp in sizes:
            w, h = SIZES[mp]
            src = Path(tmp) / f"photo_{mp}mp.png"
            make_input(src, w, h)
            rss, seconds, code = peak_rss(["bench", str(src), *flags])
            print(f"| {w}x{h} ({mp} MP) | drrn bench {' '.join(flags)} | {rss:.0f} MB "
                  f"| {seconds:.1f} s | {code} |", flush=True)
            src.unlink()


if __name__ == "__main__":
    main()

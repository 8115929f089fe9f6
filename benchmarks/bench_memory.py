"""Peak memory (RSS) of `drrn upscale` at x2 for 1, 6, 20 and 24 MP RGB inputs.

Each case runs the real CLI in a fresh process and reads its peak resident set size from
``os.wait4`` (Linux ru_maxrss, KiB), so imports, decoding, colour conversion, bicubic resizing,
the network's tiles, output assembly and encoding all count. Inputs are generated (a smooth
gradient plus noise, so PNG neither collapses nor explodes) in a temporary folder.

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


def peak_rss(args: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit status) of one `drrn` run in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "drrn_core.cli", *args], env=env,
                            stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - start, proc.returncode


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mp", nargs="+", type=int, default=[1, 6, 20, 24], choices=sorted(SIZES))
    p.add_argument("--model", default="bicubic")
    p.add_argument("--format", default="png", choices=["png", "tif"])
    args = p.parse_args()
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
            run = ["upscale", str(src), "-s", "2", "--model", args.model, "-o", str(out)]
            if 4 * w * h > 80_000_000:
                run += ["--max-pixels", str(4 * w * h)]
            rss, seconds, code = peak_rss(run)
            print(f"| {w}x{h} ({mp} MP) | {2 * w}x{2 * h} | {args.model} | {rss:.0f} MB | "
                  f"{seconds:.1f} s | {code} |", flush=True)
            out.unlink(missing_ok=True)
            src.unlink()


if __name__ == "__main__":
    main()

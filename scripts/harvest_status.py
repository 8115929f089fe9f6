"""Figures of a training run for `scripts/harvest.sh status`, read from its checkpoint header and
log.csv with the standard library only (no torch import: it answers in a fraction of a second)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def checkpoint_info(path: Path) -> dict | None:
    """The JSON ``info`` a training checkpoint carries in its safetensors header, or None."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 0 < n <= 16 * 1024 * 1024:
                return None
            return json.loads(json.loads(f.read(n))["__metadata__"]["info"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def summary(run: Path) -> list[str]:
    """Lines: iteration, patches seen, patches/s, last validation, best score."""
    info = checkpoint_info(run / "last.safetensors") or checkpoint_info(run / "prev.safetensors")
    if info is None:
        return [f"no checkpoint in {run} yet"]
    lines = [f"checkpoint: iteration {info['iteration']:,}, "
             f"{info.get('patches_seen_total', info.get('patches_seen', 0)):,} patches seen "
             f"in all ({info.get('patches_seen', 0):,} in this run), "
             f"{info.get('elapsed_s', 0) / 3600:.2f} h of training in this run"]
    rate, last_val = None, None
    try:
        with open(run / "log.csv", newline="") as f:
            for row in csv.DictReader(f):
                if row.get("patches_per_s"):
                    rate = (row["iteration"], row["patches_per_s"])
                if row.get("val_psnr"):
                    last_val = (row["iteration"], row["val_psnr"])
    except OSError:
        pass
    if rate:
        lines.append(f"logged: iteration {int(rate[0]):,}, {rate[1]} patches/s")
    if last_val:
        lines.append(f"last validation (iteration {int(last_val[0]):,}): {last_val[1]} dB")
    best = info.get("best_psnr") or {}
    what = "EMA weights" if info.get("ema") else "weights"
    if best:
        text = " ".join(f"x{k}:{v:.3f}" for k, v in best.items())
        lines.append(f"best validation of the {what}: {text} dB")
    return lines


if __name__ == "__main__":
    try:
        print("\n".join(summary(Path(sys.argv[1]))), flush=True)
    except BrokenPipeError:  # `status | head -1`: the reader has what it wanted
        sys.stderr.close()

"""How much more training a run needs to reach a target score, projected from its own curve.

Reads a run's ``log.csv`` (validation rows, e.g. ``x3:33.058``) and its checkpoint header (patches
seen before this run, from the lineage) and fits ``PSNR = a + b * ln(patches seen in all)`` to
the validation points by least squares: a straight line on a log axis, the usual shape of a
super-resolution training curve in its slow phase. Leaving each point out in turn gives the range.
The projection is an extrapolation of a short curve: it says what the trend implies, not what will
happen (curves flatten, so it is more likely optimistic than pessimistic).

    python training/projection.py training/runs/b1u9-anytime --target 33.5 --scale 3
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from harvest_status import checkpoint_info  # noqa: E402  (standard library only, no torch)

from drrn_core.trainer.runlog import read_history  # noqa: E402  (no torch either)

RECENT_ROWS = 100  # log rows (10 iterations each by default) behind the recent rate


@dataclass(frozen=True)
class Projection:
    """A fitted curve and what it implies: patches are counts of training patches seen in all."""

    points: list[tuple[int, float]]  # (patches seen in all, PSNR dB)
    a: float
    b: float  # dB per e-fold of patches seen
    patches_needed: float  # where the fit reaches the target (inf if it never does)
    range_needed: tuple[float, float]  # leave-one-out range of the same
    rate_median: float  # patches/s, median of the logged rates
    rate_p90: float  # patches/s, 90th percentile: the machine when otherwise idle
    rate_recent: float  # patches/s, median of the last RECENT_ROWS logged: the code as it is now

    def hours(self, rate: float) -> float:
        """Hours of training at ``rate`` patches/s from the last point to the target."""
        left = self.patches_needed - self.points[-1][0]
        return max(0.0, left) / rate / 3600 if math.isfinite(left) else math.inf


def read_curve(run: Path, scale: int) -> tuple[list[tuple[int, float]], list[float]]:
    """Validation points (patches seen in all, dB) and logged rates (patches/s) of a run."""
    info = checkpoint_info(run / "last.safetensors") or checkpoint_info(run / "prev.safetensors")
    if info is None:
        raise SystemExit(f"no readable checkpoint in {run}")
    before = int(info.get("lineage", {}).get("patches_seen", 0))
    batch = info["patches_seen"] // max(info["iteration"], 1)
    history = read_history(run)
    points = [(before + iteration * batch, value)
              for iteration, value in history.psnr.get(scale, [])]
    return points, history.rates


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``psnr = a + b ln(patches)``."""
    xs = [math.log(p) for p, _ in points]
    ys = [v for _, v in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - b * mx, b


def _needed(a: float, b: float, target: float) -> float:
    return math.exp((target - a) / b) if b > 0 else math.inf


def project(points: list[tuple[int, float]], rates: list[float], target: float) -> Projection:
    """Fit the curve and project where it reaches ``target`` dB; needs at least 3 points."""
    if len(points) < 3:
        raise SystemExit(f"{len(points)} validation point(s): at least 3 are needed for a fit")
    if not rates:
        raise SystemExit("the log has no patches/s rows")
    a, b = fit(points)
    loo = [_needed(*fit(points[:i] + points[i + 1:]), target) for i in range(len(points))]
    q = statistics.quantiles(rates, n=10)
    return Projection(points, a, b, _needed(a, b, target), (min(loo), max(loo)),
                      statistics.median(rates), q[-1], statistics.median(rates[-RECENT_ROWS:]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--target", type=float, default=33.5, help="dB (default 33.5)")
    p.add_argument("--scale", type=int, default=3)
    p.add_argument("--from-patches", type=int, default=0,
                   help="fit only points at or after this many patches seen in all")
    p.add_argument("--to-patches", type=int, default=None,
                   help="fit only points at or before this many (e.g. before a warm restart)")
    args = p.parse_args(argv)
    points, rates = read_curve(args.run, args.scale)
    points = [pt for pt in points if pt[0] >= args.from_patches
              and (args.to_patches is None or pt[0] <= args.to_patches)]
    r = project(points, rates, args.target)
    print("validation points (patches seen in all, dB):",
          ", ".join(f"{n:,}: {v:.3f}" for n, v in r.points))
    print(f"fit: PSNR = {r.a:.3f} + {r.b:.4f} ln(patches)  "
          f"({r.b * math.log(2):.4f} dB per doubling)")
    if not math.isfinite(r.patches_needed):
        print(f"the curve does not rise: {args.target} dB is not projected to be reached")
        return 0
    lo, hi = r.range_needed
    print(f"{args.target} dB projected at {r.patches_needed:,.0f} patches seen "
          f"(leave-one-out range {lo:,.0f} - {hi:,.0f}); {r.points[-1][0]:,} seen so far")
    rates = (("median logged rate", r.rate_median), ("90th-percentile rate", r.rate_p90),
             (f"median rate of the last {RECENT_ROWS} log rows", r.rate_recent))
    for label, rate in rates:
        print(f"at the {label} ({rate:.1f} patches/s): {r.hours(rate):,.1f} h more")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

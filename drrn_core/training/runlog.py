"""A run's ``log.csv``: written by the training loop, read back for curves (the app's Training
tab on resume, training/projection.py).

One row per logged iteration (smoothed loss, learning rate, patches/s, training seconds) and one
per validation, whose ``val_psnr`` cell holds PSNR in dB per scale as ``x2:37.101 x3:33.058``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from drrn_core.atomic import atomic_path

LOG_NAME = "log.csv"
FIELDS = ("iteration", "epoch", "loss", "lr", "patches_per_s", "elapsed_s", "val_psnr")


class RunLog:
    """Appends rows to a run's log, creating it with its header."""

    def __init__(self, run_dir: Path, resumed_at: int | None = None) -> None:
        """Open (or create) the log; on a resume, rows past the checkpoint's iteration (written
        after it, then lost with the process) are dropped so the curve stays monotonic."""
        self.path = Path(run_dir) / LOG_NAME
        if not self.path.exists():
            with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
                csv.writer(f).writerow(FIELDS)
        elif resumed_at is not None:
            with open(self.path, newline="") as f:
                rows = list(csv.reader(f))
            keep = [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= resumed_at]
            if len(keep) != len(rows) - 1:
                with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
                    csv.writer(f).writerows([FIELDS, *keep])

    def write(self, **row) -> None:
        """One row; ``row`` holds some of FIELDS (the rest are left empty)."""
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in FIELDS])

    def write_validation(self, iteration: int, psnr: dict[int, float]) -> None:
        """A validation row: PSNR in dB per scale."""
        self.write(iteration=iteration, val_psnr=" ".join(f"x{s}:{v:.3f}"
                                                          for s, v in psnr.items()))


@dataclass
class History:
    """A run's curves so far: (iteration, smoothed loss) and (iteration, PSNR dB) per scale, and
    every logged rate in patches/s, in log order."""

    loss: list[tuple[int, float]] = field(default_factory=list)
    psnr: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    rates: list[float] = field(default_factory=list)


def read_history(run_dir: Path, up_to: int | None = None) -> History:
    """The curves in ``run_dir``'s log, rows past iteration ``up_to`` left out; an absent log is
    an empty history and a row that does not parse (a torn last line) is skipped."""
    history = History()
    path = Path(run_dir) / LOG_NAME
    if not path.is_file():
        return history
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                iteration = int(row["iteration"])
                loss = float(row["loss"]) if row.get("loss") else None
                rate = float(row["patches_per_s"]) if row.get("patches_per_s") else None
                psnr = [(int(scale.removeprefix("x")), float(value)) for scale, _, value in
                        (cell.partition(":") for cell in (row.get("val_psnr") or "").split())]
            except (KeyError, TypeError, ValueError):
                continue
            if up_to is not None and iteration > up_to:
                continue
            if loss is not None:
                history.loss.append((iteration, loss))
            if rate is not None:
                history.rates.append(rate)
            for scale, value in psnr:
                history.psnr.setdefault(scale, []).append((iteration, value))
    return history

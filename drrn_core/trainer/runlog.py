"""A run's ``log.csv``: written by the training loop, read back for curves (the app's Training
tab on resume, training/projection.py).

One row per logged iteration (smoothed loss, learning rate, patches/s, training seconds) and one
per validation, whose ``val_psnr`` cell holds PSNR in dB per scale as ``x2:37.101 x3:33.058``.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from drrn_core.atomic import atomic_path

LOG_NAME = "log.csv"
FIELDS = ("iteration", "epoch", "loss", "lr", "patches_per_s", "elapsed_s", "val_psnr")
_log = logging.getLogger(__name__)


class RunLog:
    """Appends rows to a run's log, creating it with its header."""

    def __init__(self, run_dir: Path, resumed_at: int | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        """Open (or create) the log; on a resume, rows past the checkpoint's iteration (written
        after it, then lost with the process) are dropped so the curve stays monotonic.

        A damaged log (a torn or garbled row, bytes that are not text, a wrong header) is
        rebuilt from its readable rows; the damaged file is kept beside it as
        ``log.damaged-N.csv`` and ``warn`` is told once. Training never stops for its log."""
        self.path = Path(run_dir) / LOG_NAME
        if not self.path.exists():
            self._rewrite([])
            return
        raw = self.path.read_bytes()
        rows, damaged = parse_rows(raw) if raw.strip() else ([], None)  # empty: just a header
        keep = [r for r in rows if resumed_at is None or int(r[0]) <= resumed_at]
        if damaged:
            kept = _keep_damaged(self.path, raw)
            (warn or _log.warning)(
                f"{self.path} was damaged ({damaged}); rebuilt from its {len(rows)} readable "
                f"row(s)" + (f", the damaged file kept as {kept.name}" if kept else ""))
        if damaged or len(keep) != len(rows) or not raw.endswith(b"\n"):
            self._rewrite(keep)

    def _rewrite(self, rows: list[list[str]]) -> None:
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            csv.writer(f).writerows([FIELDS, *rows])

    def write(self, **row) -> None:
        """One row; ``row`` holds some of FIELDS (the rest are left empty)."""
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in FIELDS])

    def write_validation(self, iteration: int, psnr: dict[int, float]) -> None:
        """A validation row: PSNR in dB per scale."""
        self.write(iteration=iteration, val_psnr=" ".join(f"x{s}:{v:.3f}"
                                                          for s, v in psnr.items()))


def _row_ok(row: list[str]) -> bool:
    """Whether a log row is whole: every field, a whole-number iteration, numbers where numbers
    go and a readable val_psnr cell."""
    if len(row) != len(FIELDS) or not row[0].isdigit():
        return False
    try:
        for cell in row[1:6]:
            if cell:
                float(cell)
        for cell in row[6].split():
            scale, sep, value = cell.partition(":")
            int(scale.removeprefix("x"))
            float(value)
            if not sep:
                return False
    except ValueError:
        return False
    return True


def parse_rows(raw: bytes) -> tuple[list[list[str]], str | None]:
    """(whole rows, what was wrong or None) of a log file's bytes; never raises."""
    problems = []
    text = raw.decode("utf-8", errors="replace")
    if "\ufffd" in text or "\0" in text:
        problems.append("bytes that are not text")
        text = text.replace("\0", "")
    lines = text.splitlines()
    try:
        rows = list(csv.reader(lines))
    except csv.Error:  # e.g. an unterminated quote: read line by line instead
        rows = []
        for line in lines:
            try:
                rows += list(csv.reader([line]))
            except csv.Error:
                rows.append(["?"])
    if not rows:
        problems.append("no header")
    elif tuple(rows[0]) == FIELDS:
        rows = rows[1:]
    else:
        problems.append("a wrong header")
        if rows[0][:1] == ["iteration"] or not rows[0][:1] or not rows[0][0].isdigit():
            rows = rows[1:]  # a torn or garbled header line, not a data row
    good = [r for r in rows if r and _row_ok(r)]
    bad = sum(1 for r in rows if r) - len(good)
    if bad:
        problems.append(f"{bad} unreadable row(s)")
    return good, ", ".join(problems) or None


def _keep_damaged(path: Path, raw: bytes) -> Path | None:
    """Save the bytes of a damaged log beside it under the first free ``log.damaged-N.csv``
    name; None when even that cannot be written (the rebuilt log still goes on)."""
    for n in range(1, 1000):
        target = path.with_name(f"{path.stem}.damaged-{n}{path.suffix}")
        if os.path.lexists(target):
            continue
        try:
            with atomic_path(target) as tmp:
                tmp.write_bytes(raw)
        except OSError:
            return None
        return target
    return None


@dataclass
class History:
    """A run's curves so far: (iteration, smoothed loss) and (iteration, PSNR dB) per scale, and
    every logged rate in patches/s, in log order."""

    loss: list[tuple[int, float]] = field(default_factory=list)
    psnr: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    rates: list[float] = field(default_factory=list)


def read_history(run_dir: Path, up_to: int | None = None) -> History:
    """The curves in ``run_dir``'s log, rows past iteration ``up_to`` left out; an absent log is
    an empty history and a row that does not parse (a torn last line, garbage, bytes that are not
    text) is skipped."""
    history = History()
    path = Path(run_dir) / LOG_NAME
    try:
        text = path.read_bytes().decode("utf-8", errors="replace").replace("\0", "")
    except OSError:  # absent (or not a file): no curves yet
        return history
    for row in _dict_rows(text.splitlines()):
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


def _dict_rows(lines: list[str]) -> Iterator[dict]:
    """csv.DictReader over ``lines``, a line the csv module refuses skipped."""
    if not lines:
        return
    header = next(csv.reader(lines[:1]), [])
    for line in lines[1:]:
        try:
            values = next(csv.reader([line]), [])
        except csv.Error:
            continue
        yield dict(zip(header, values, strict=False))

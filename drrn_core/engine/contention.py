"""How much CPU other programs took while we measured: a timing taken while another program kept
a core busy says little about the machine, so records taken then are marked and replaced.

Linux only (``/proc/stat`` and ``/proc/self/stat``); elsewhere the load is unknown (None) and
measurements count as idle. Programs at a lowered priority (``nice``: a background trainer, an
indexer) are not counted: they give way to us, so they do not slow our measurements down.
"""

from __future__ import annotations

import os
import time

BUSY_CORES = 0.3
"""Other programs using more than this many cores on average (not counting niced ones) make a
measurement 'contended'. One busy program on an otherwise idle machine uses ~1.0."""

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _ticks() -> tuple[int, int] | None:
    """(busy ticks of the whole machine at normal priority, ticks of this process), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
        with open("/proc/self/stat", encoding="ascii") as f:
            own = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] != "cpu":
        return None
    v = [int(x) for x in fields[1:9]] + [0] * max(0, 9 - len(fields))
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    busy = user + system + irq + softirq + steal
    mine = int(own[11]) + int(own[12])  # utime + stime, all threads
    if _niced():
        mine = 0  # our own time is counted under "nice", not in ``busy``
    return busy, mine


def _niced() -> bool:
    try:
        return os.getpriority(os.PRIO_PROCESS, 0) > 0
    except (AttributeError, OSError):
        return False


class Meter:
    """Started at construction; ``others()`` gives the cores other programs used since then."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self._start = _ticks()

    def others(self) -> float | None:
        """Average cores used by other programs since the start (niced ones excluded), or None
        where this cannot be known (not Linux) or too little time has passed to tell."""
        end, elapsed = _ticks(), time.monotonic() - self._t0
        if self._start is None or end is None or elapsed < 0.05:
            return None
        busy = end[0] - self._start[0]
        mine = end[1] - self._start[1]
        return max(0.0, (busy - mine) / (_HZ * elapsed))

    def busy(self) -> bool:
        """True when other programs used more than BUSY_CORES since the start."""
        cores = self.others()
        return cores is not None and cores > BUSY_CORES


def machine_busy(seconds: float = 0.25) -> bool:
    """Whether other programs keep the CPU busy right now (sampled over ``seconds``)."""
    meter = Meter()
    time.sleep(seconds)
    return meter.busy()

"""Time estimates, from a short calibration of one run path, kept in the engine's records.

The network's cost is exact: ``macs_per_pixel`` multiply-adds for every pixel of every padded
tile (margins included, x8 with the self-ensemble). What a machine does is measured once per
path (machine, backend, device, precision, compile, width: ``path_key``), through the very
backend the Upscaler uses: seconds per pixel of a 64 px tile and of the engine's own padded tile
size (at most 512 px; 16 and 32 px on a software Vulkan driver), each the faster of two runs after
a warm-up run. Small tiles run at a lower rate than large ones (measured: PyTorch bf16 on a Xeon
with AMX ~4x lower at 48 px than at 294 px), so a tile's cost is interpolated between the two in
log(pixels); tiles as large as the engine's run at the large-tile rate. The colour pipeline
(YCbCr, bicubic of the planes) is timed once per machine on a small image and scaled by output
pixels.

Every finished run then corrects the record (``observe``): halfway (in log) towards what it
observed, so estimates follow the machine. A busy machine (``engine.contention``) never makes a
record slower: a measurement or run taken while other programs kept the CPU busy is marked
``contended``; an idle run replaces such a record outright, a busy run only ever corrects a
contended one. This module computes and stores numbers only; the Upscaler feeds it (its key, its
backend's ``run``, its tiles).
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from drrn_core.engine import records
from drrn_core.engine.contention import Meter
from drrn_core.engine.device import cpu_name

LARGE_CAP = 512
"""Largest padded tile side (px) timed by the calibration (GPU tiles can be larger)."""
SLOW_S = 3.0
"""A warm-up run longer than this (s) is used as the measurement instead of repeating it."""
OBSERVE_MIN_S = 0.5
"""Runs shorter than this (s) do not correct the calibration (timer noise dominates)."""

Run = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Calibration:
    """Measured speed. points: ((padded pixels, seconds per pixel), ...) of the timed tiles,
    smallest first; pipeline_s_per_px: colour pipeline seconds per output pixel on this machine;
    contended: measured (or last corrected) while other programs kept the CPU busy."""

    points: tuple[tuple[int, float], ...]
    pipeline_s_per_px: float = 0.0
    contended: bool = False

    def tile_seconds(self, pixels: int) -> float:
        """Seconds for one padded tile of ``pixels`` (log-linear between the points, clamped)."""
        pts = self.points
        if not pts:
            return 0.0
        if pixels <= pts[0][0] or len(pts) == 1:
            rate = pts[0][1] if pixels <= pts[0][0] else pts[-1][1]
        elif pixels >= pts[-1][0]:
            rate = pts[-1][1]
        else:
            (p1, r1), (p2, r2) = pts[0], pts[-1]
            f = math.log(pixels / p1) / math.log(p2 / p1)
            rate = math.exp(math.log(r1) + f * (math.log(r2) - math.log(r1)))
        return pixels * rate

    def seconds(self, padded_pixels: list[int], passes: int = 1) -> float:
        """Seconds for tiles of these padded sizes, ``passes`` times each (8: self-ensemble)."""
        return passes * sum(self.tile_seconds(p) for p in padded_pixels)


def _machine() -> str:
    return f"{platform.node()}|{cpu_name()}|{torch.get_num_threads()} threads"


def path_key(backend: str, device: str, device_name: str, precision: str, compiled: bool,
             channels: int) -> str:
    """Records key of one run path on this machine."""
    return (f"net|{_machine()}|{backend}|{device}|{device_name}|{precision}|"
            f"compile={int(compiled)}|c{channels}")


def pipeline_key() -> str:
    return f"pipeline|{_machine()}"


def cached(key: str) -> Calibration | None:
    """The calibration stored under ``key``, or None (never measures)."""
    return _calibration(records.get(key))


def _calibration(entry: dict | None) -> Calibration | None:
    if entry is None:
        return None
    try:
        points = tuple((int(p), float(r)) for p, r in entry["points"])
    except (TypeError, KeyError, ValueError):
        return None
    if not points or any(r <= 0 or p <= 0 for p, r in points):
        return None
    return Calibration(points, 0.0, bool(entry.get("contended", False)))


def is_calibrated(key: str | None) -> bool:
    """True when an estimate for the path ``key`` (None: bicubic only) needs no measurement."""
    return records.get(pipeline_key()) is not None and (key is None or cached(key) is not None)


def pipeline_s_per_px() -> float:
    """Seconds per output pixel of the colour pipeline on this machine (measured once)."""
    entry = records.get(pipeline_key()) or {}
    rate = entry.get("s_per_px")
    if isinstance(rate, (int, float)) and rate > 0:
        return float(rate)
    rate = _measure_pipeline()
    records.put(pipeline_key(), {"s_per_px": rate, "when": time.time()})
    return rate


def _measure_pipeline() -> float:
    """Seconds per output pixel of the bicubic colour pipeline (an RGB image x2: YCbCr, the
    three planes resized, back to RGB), the fastest of three runs."""
    from drrn_core.imaging.color import rgb_to_ycbcr, ycbcr_to_rgb
    from drrn_core.imaging.resize import imresize

    rgb = np.random.default_rng(0).random((96, 128, 3)).astype(np.float32)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        np.clip(ycbcr_to_rgb(imresize(rgb_to_ycbcr(rgb), scale=2.0)), 0.0, 1.0)
        times.append(time.perf_counter() - t0)
    return min(times) / (192 * 256)


def measure(key: str, run: Run, sides: tuple[int, ...],
            known: tuple[int, float] | None = None) -> Calibration:
    """Time ``run`` on square tiles of ``sides`` px (a warm-up, then the faster of two runs;
    one slow warm-up is taken as it is), add ``known`` (pixels, s/px) from auto's measurement,
    store under ``key`` and return it. Whatever ``run`` raises propagates (nothing stored)."""
    rng = np.random.default_rng(0)
    meter = Meter()
    measured: dict[int, float] = {}
    for side in sides:
        x = rng.random((side, side)).astype(np.float32)
        t0 = time.perf_counter()
        run(x)  # warm-up: allocations, kernels for this shape
        best = time.perf_counter() - t0
        if best <= SLOW_S:  # a slow path: the first run is already representative enough
            best = math.inf
            for _ in range(2):
                t0 = time.perf_counter()
                run(x)
                best = min(best, time.perf_counter() - t0)  # others only ever slow a run down
        measured[side * side] = max(best / (side * side), 1e-15)
    if known is not None:
        measured.setdefault(known[0], known[1])
    points = tuple(sorted(measured.items()))
    cal = Calibration(points, 0.0, meter.busy())
    records.put(key, {"points": [list(p) for p in points], "when": time.time(),
                      "contended": cal.contended})
    return cal


def observe(key: str, timings: list[tuple[int, float]], passes: int, contended: bool) -> None:
    """Correct the calibration under ``key`` with a finished run: (padded pixels, seconds) per
    tile, each run ``passes`` times (8: self-ensemble); ``contended``: other programs kept the
    CPU busy during the run. Nothing happens without a calibration, for short runs, or for a busy
    run over an idle record."""
    actual = sum(s for _, s in timings)
    if actual < OBSERVE_MIN_S:
        return

    def corrected(entry: dict | None) -> dict | None:
        cal = _calibration(entry)
        if entry is None or cal is None or (contended and not cal.contended):
            return entry
        predicted = cal.seconds([p for p, _ in timings], passes)
        if predicted <= 0:
            return entry
        # Idle over a busy record: replace it; otherwise move halfway (in log).
        f = actual / predicted if cal.contended and not contended else math.sqrt(
            actual / predicted)
        return {**entry, "points": [[p, r * f] for p, r in cal.points], "when": time.time(),
                "contended": contended}

    records.update(key, corrected)

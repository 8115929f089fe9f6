"""Time estimates for an Upscaler, from a short calibration cached per machine and backend.

The network's cost is exact: ``macs_per_pixel`` multiply-adds for every pixel of every padded
tile (margins included, x8 with the self-ensemble). What a machine does is measured once,
through the very backend the Upscaler uses: seconds per pixel of a 64 px tile and of the
engine's own padded tile size (at most 512 px; 16 and 32 px on a software Vulkan driver), each
the faster of two runs after a warm-up run. Small tiles run at a lower rate than large ones
(measured: PyTorch bf16 on a Xeon with AMX ~4x lower at 48 px than at 294 px), so a tile's cost
is interpolated between the two in log(pixels); tiles as large as the engine's run at the
large-tile rate. On a CPU this takes about three large-tile runs: ~1-2 s for bf16 with AMX, a
few seconds for plain fp32. The colour pipeline (YCbCr, bicubic of the planes) is timed once per
machine on a small image and scaled by output pixels. Every finished ``restore_y`` then moves
the cached rates halfway (in log) towards what it observed, so estimates follow the machine
(other programs' load, real tile sizes). Results are cached in ``<cache>/calibration.json``
(engine.ncnn_backend.cache_dir()); a later estimate is arithmetic.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from drrn_core.atomic import atomic_path
from drrn_core.engine.device import cpu_name
from drrn_core.engine.ncnn_backend import cache_dir
from drrn_core.engine.tiling import plan_tiles

if TYPE_CHECKING:
    from drrn_core.engine.upscale import Upscaler

CACHE_NAME = "calibration.json"
CALIBRATION_VERSION = 5
LARGE_CAP = 512
"""Largest padded tile side (px) timed by the calibration (GPU tiles can be larger)."""
SLOW_S = 3.0
"""A warm-up run longer than this (s) is used as the measurement instead of repeating it."""


@dataclass(frozen=True)
class Calibration:
    """Measured speed. points: ((padded pixels, seconds per pixel), ...) of the timed tiles,
    smallest first; pipeline_s_per_px: colour pipeline seconds per output pixel on this machine;
    macs_per_s: the network's multiply-adds per second on the largest tile (for reports)."""

    points: tuple[tuple[int, float], ...]
    pipeline_s_per_px: float
    macs_per_s: float

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


def _path():
    return cache_dir() / CACHE_NAME


def _load() -> dict:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and data.get("version") == CALIBRATION_VERSION \
            else {"version": CALIBRATION_VERSION}
    except (OSError, ValueError):
        return {"version": CALIBRATION_VERSION}


def _store(key: str, value: dict) -> None:
    data = _load()
    data[key] = value
    try:
        _path().parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(_path()) as tmp:
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    except OSError:
        pass  # an unwritable cache only costs a recalibration next time


def _machine() -> str:
    return f"{platform.node()}|{cpu_name()}|{torch.get_num_threads()} threads"


def network_key(up: Upscaler) -> str:
    """Cache key: machine, backend, device (and its name), precision, compile, model width."""
    info = up.run_info
    c = up.descriptor.config.channels
    return (f"net|{_machine()}|{info.backend}|{info.device}|{info.device_name}|"
            f"{info.precision}|compile={int(up.compile)}|c{c}")


def pipeline_key() -> str:
    return f"pipeline|{_machine()}"


def is_calibrated(up: Upscaler) -> bool:
    """True when an estimate for ``up`` needs no measurement."""
    data = _load()
    return pipeline_key() in data and (up._backend is None or network_key(up) in data)


def cached_calibration(up: Upscaler) -> Calibration | None:
    """``up``'s cached calibration, or None when there is none yet (never measures: tile sizing
    asks this while a calibration may be running)."""
    if up._backend is None:
        return None
    entry = _load().get(network_key(up))
    if not entry:
        return None
    points = tuple((int(p), float(r)) for p, r in entry["points"])
    return Calibration(points, 0.0, up.descriptor.config.macs_per_pixel / points[-1][1])


def calibrate(up: Upscaler, force: bool = False) -> Calibration:
    """The cached calibration for ``up``'s current path, measured first when missing."""
    data = _load()
    pipe = data.get(pipeline_key(), {}).get("s_per_px")
    if pipe is None or force:
        pipe = _measure_pipeline()
        _store(pipeline_key(), {"s_per_px": pipe, "when": time.time()})
    if up._backend is None:
        return Calibration((), pipe, math.inf)
    entry = data.get(network_key(up))
    if entry is None or force:
        entry = {"points": _measure_network(up), "when": time.time()}
        _store(network_key(up), entry)  # the key after any fallback during the measurement
    points = tuple((int(p), float(r)) for p, r in entry["points"])
    macs = up.descriptor.config.macs_per_pixel
    return Calibration(points, pipe, macs / points[-1][1])


def _measure_pipeline() -> float:
    """Seconds per output pixel of the bicubic colour pipeline (an RGB image x2)."""
    from drrn_core.engine.upscale import Upscaler

    rgb = np.random.default_rng(0).random((96, 128, 3)).astype(np.float32)
    bicubic = Upscaler(None)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        bicubic.upscale(rgb, scale=2)
        times.append(time.perf_counter() - t0)
    return min(times) / (192 * 256)


def _measure_network(up: Upscaler) -> list[tuple[int, float]]:
    """[(pixels, seconds per pixel)] of ``up``'s backend on a small and a large tile (the small
    one is auto's 128 px measurement when engine.autotune timed this path)."""
    from drrn_core.engine.autotune import known_point
    from drrn_core.engine.ncnn_backend import NcnnError

    cap = (up.tile_size((4096, 4096)) or 4096) + 2 * up.margin
    small, large = (16, 32) if _software(up) else (64, min(cap, LARGE_CAP))
    known = None if _software(up) else known_point(up)  # auto's measurement of this path
    rng = np.random.default_rng(0)
    times = []
    sides = (min(small, cap), large) if known is None or known[0] >= large * large else (large,)
    try:
        for side, runs in zip(sides, (2, 2), strict=False):
            x = rng.random((side, side)).astype(np.float32)
            t0 = time.perf_counter()
            up._backend.run(x)  # warm-up: allocations, kernels for this shape
            first = time.perf_counter() - t0
            if first > SLOW_S:  # a slow path: the first run is already representative enough
                times.append(first)
                continue
            runs_s = []
            for _ in range(runs):
                t0 = time.perf_counter()
                up._backend.run(x)
                runs_s.append(time.perf_counter() - t0)
            times.append(min(runs_s))  # other programs only ever slow a run down
    except NcnnError as e:  # the Upscaler would fall back: calibrate what it falls back to
        up._ncnn_failed(e)
        return _measure_network(up)
    measured = {s * s: t / (s * s) for s, t in zip(sides, times, strict=True)}
    if known is not None and len(sides) == 1:
        measured.setdefault(known[0], known[1])
    points = sorted(measured.items())
    return [(p, max(r, 1e-15)) for p, r in points]


def _software(up: Upscaler) -> bool:
    return up.device.type == "vulkan" and up._software_vulkan()


def restore_seconds(up: Upscaler, hw: tuple[int, int], cal: Calibration | None = None) -> float:
    """Estimated seconds of ``up.restore_y`` on an HxW Y image."""
    if up._backend is None:
        return 0.0
    cal = cal or calibrate(up)
    tiles = plan_tiles(hw, up.tile_size(hw), up.margin)
    passes = 8 if up.ensemble else 1
    return passes * sum(cal.tile_seconds((t.py1 - t.py0) * (t.px1 - t.px0)) for t in tiles)


def upscale_seconds(up: Upscaler, in_hw: tuple[int, int], scale: float | None = None,
                    size: tuple[int | None, int | None] | None = None) -> float:
    """Estimated seconds of ``up.upscale`` for an image of ``in_hw`` (colour pipeline included)."""
    out_hw = up.output_shape(in_hw, scale, size)
    cal = calibrate(up)
    return restore_seconds(up, out_hw, cal) + out_hw[0] * out_hw[1] * cal.pipeline_s_per_px


OBSERVE_MIN_S = 0.5
"""Runs shorter than this (s) do not correct the calibration (timer noise dominates)."""


def observe(up: Upscaler, timings: list[tuple[int, float]]) -> None:
    """Correct ``up``'s cached calibration with a finished run: (padded pixels, seconds) per tile
    (x8 passes with the ensemble). Nothing happens when it has no calibration yet."""
    if up._backend is None or not timings:
        return
    actual = sum(s for _, s in timings)
    if actual < OBSERVE_MIN_S:
        return
    data = _load()
    key = network_key(up)
    entry = data.get(key)
    if entry is None:
        return
    points = tuple((int(p), float(r)) for p, r in entry["points"])
    cal = Calibration(points, 0.0, 0.0)
    passes = 8 if up.ensemble else 1
    predicted = passes * sum(cal.tile_seconds(p) for p, _ in timings)
    if predicted <= 0:
        return
    f = math.sqrt(actual / predicted)
    _store(key, {**entry, "points": [(p, r * f) for p, r in points], "when": time.time()})

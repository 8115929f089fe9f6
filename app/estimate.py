"""How long a DRRN run will take, before it starts: one function, :func:`estimate_seconds`.

The estimate is calibrated, not guessed: the first call for an upscaler (model, device,
precision, tile) times one real tile through that very upscaler (after a small warm-up run) and
one bicubic/colour pass, and caches the two rates (seconds per network pixel, seconds per output
pixel). A run's network pixels are counted exactly from the engine's own tile plan
(``drrn_core.engine.tiling.plan_tiles`` with the upscaler's tile size and receptive-field
margin), so the recomputed margins of a tiled photo are included.

Call on a worker thread: calibrating costs one tile (about a second for a 128-channel B1U9 on a
laptop CPU). When the engine grows its own estimate API this module is where it plugs in.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

CAL_SIDE = 96
"""Side (px) of the timed calibration tile: run whole (no margins), like one engine tile."""


@dataclass(frozen=True)
class Rates:
    """Calibrated costs: seconds per pixel the network sees; seconds per output pixel of the
    bicubic interpolation and colour conversion around it."""

    net_s_per_px: float
    bicubic_s_per_px: float


_LOCK = threading.Lock()
_RATES: dict[tuple, Rates] = {}


def _key(up) -> tuple:
    desc = up.descriptor
    return (None if desc is None else repr(desc.config), str(up.device), up.precision, up.tile)


def _bicubic_rate() -> float:
    from drrn_core.engine import Upscaler

    rng = np.random.default_rng(0)
    image = rng.random((48, 48, 3), dtype=np.float32)
    t0 = time.perf_counter()
    Upscaler(None).upscale(image, scale=2.0)
    return (time.perf_counter() - t0) / (96 * 96)


def rates(up) -> Rates:
    """The upscaler's calibrated rates (measured on the first call, then cached)."""
    key = _key(up)
    with _LOCK:
        if key in _RATES:
            return _RATES[key]
    bicubic = _bicubic_rate()
    net = 0.0
    if up.descriptor is not None:
        rng = np.random.default_rng(0)
        up.restore_y(rng.random((24, 24), dtype=np.float32))  # warm-up: first-call costs
        tile = rng.random((CAL_SIDE, CAL_SIDE), dtype=np.float32)
        t0 = time.perf_counter()
        up.restore_y(tile)
        net = (time.perf_counter() - t0) / tile.size
    result = Rates(net, bicubic)
    with _LOCK:
        _RATES[key] = result
    return result


def forget() -> None:
    """Drop the cached rates (tests; a changed machine load)."""
    with _LOCK:
        _RATES.clear()


def network_pixels(up, out_hw: tuple[int, int]) -> int:
    """Pixels the network processes for an (H, W) output: padded tile areas from the engine's
    own tile plan (0 for bicubic)."""
    if up.descriptor is None:
        return 0
    from drrn_core.engine.tiling import plan_tiles

    tiles = plan_tiles(out_hw, up.tile_size(out_hw), up.margin)
    return sum((t.py1 - t.py0) * (t.px1 - t.px0) for t in tiles)


def estimate_seconds(up, out_hw: tuple[int, int], colour: bool = True) -> float:
    """Seconds to run ``up`` for an output of ``out_hw`` = (H, W): DRRN on Y plus the bicubic
    interpolation and colour conversion (``colour`` False: Y only, as in evaluation)."""
    r = rates(up)
    out_px = out_hw[0] * out_hw[1]
    extra = r.bicubic_s_per_px * out_px * (1.0 if colour else 0.4)
    return network_pixels(up, out_hw) * r.net_s_per_px + extra


def format_duration(seconds: float) -> str:
    """'about 40 s', 'about 3 min', 'about 1 h 20 min'."""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"

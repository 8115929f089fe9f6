"""How long a DRRN run will take, before it starts: the engine's calibrated estimate
(drrn_core.engine.calibration: one short calibration per machine, backend, device and precision,
cached on disk; later estimates are arithmetic over the engine's own tile plan, margins included).

The app asks only through these two functions, so every tab shows the same numbers. Call them
on a worker thread unless ``up.calibrated`` is True (the first call measures, ~1-5 s).
"""

from __future__ import annotations


def upscale_seconds(up, in_hw: tuple[int, int], scale: float | None = None,
                    size: tuple[int | None, int | None] | None = None) -> float:
    """Seconds of ``up.upscale`` for an (H, W) input at ``scale`` or to ``size`` = (H, W)."""
    return float(up.estimate_seconds(in_hw, scale=scale, size=size))


def restore_seconds(up, hw: tuple[int, int]) -> float:
    """Seconds of ``up.restore_y`` on an (H, W) ILR Y image (evaluation)."""
    return float(up.estimate_restore_seconds(hw))


def format_duration(seconds: float) -> str:
    """'about 40 s', 'about 3 min', 'about 1 h 20 min'."""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"

"""Split an image into tiles whose margins make tiled inference equal untiled inference.

A tile is a core region written to the output plus a margin of at least the model's receptive
radius (its depth, in pixels) read around it, clipped at the image border: there the network's
zero padding sees exactly what it sees on the whole image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_TILE = 32
"""Smallest core tile side (px): budgets never go below it; out-of-memory retries stop there."""

CPU_MAX_TILE = 256
"""Largest automatic core tile side (px) when a CPU image must be tiled (one that fits the budget
still runs whole, without margins): 128-channel feature maps of bigger tiles fall out of cache;
bf16 on a Xeon with AMX ran 1.6x faster with 256 px tiles than with 400 px ones, fp32 the same
either way (measured, see benchmarks/README.md). ncnn's Winograd buffers took 484 MB for such a
tile (296 px padded, DRRN_B1U9). Smaller tiles cost margin work: a 512x512 image in 192 px tiles
(3x3) computes 1.34x its pixels, in 256 px tiles (2x2) 1.16x."""



@dataclass(frozen=True)
class Tile:
    """Core rows/cols ``[y0, y1) x [x0, x1)``; padded read window ``[py0, py1) x [px0, px1)``."""

    y0: int
    y1: int
    x0: int
    x1: int
    py0: int
    py1: int
    px0: int
    px1: int

    @property
    def area(self) -> int:
        return (self.y1 - self.y0) * (self.x1 - self.x0)

    @property
    def inner(self) -> tuple[slice, slice]:
        """The core region inside the padded window (slices into the tile's own output)."""
        return (slice(self.y0 - self.py0, self.y1 - self.py0),
                slice(self.x0 - self.px0, self.x1 - self.px0))


def make_tile(y0: int, y1: int, x0: int, x1: int, shape: tuple[int, int], margin: int) -> Tile:
    """The tile with core ``[y0, y1) x [x0, x1)`` in an image of ``shape`` (H, W)."""
    h, w = shape
    return Tile(y0, y1, x0, x1, max(0, y0 - margin), min(h, y1 + margin),
                max(0, x0 - margin), min(w, x1 + margin))


def _cuts(length: int, tile: int) -> list[int]:
    n = max(1, math.ceil(length / tile))
    return [round(i * length / n) for i in range(n + 1)]  # balanced: no sliver at the end


def plan_tiles(shape: tuple[int, int], tile: int | None, margin: int) -> list[Tile]:
    """Row-major tiles with core side <= ``tile`` (None: one tile) covering an (H, W) image."""
    h, w = shape
    if tile is None:
        return [make_tile(0, h, 0, w, shape, margin)]
    if tile < 1:
        raise ValueError(f"tile size must be positive, got {tile}")
    ys, xs = _cuts(h, tile), _cuts(w, tile)
    return [make_tile(ys[i], ys[i + 1], xs[j], xs[j + 1], shape, margin)
            for i in range(len(ys) - 1) for j in range(len(xs) - 1)]


def retile(t: Tile, tile: int, shape: tuple[int, int], margin: int) -> list[Tile]:
    """Tiles with core side <= ``tile`` covering ``t``'s core (``[t]`` when it already fits)."""
    ys, xs = _cuts(t.y1 - t.y0, tile), _cuts(t.x1 - t.x0, tile)
    return [make_tile(t.y0 + ys[i], t.y0 + ys[i + 1], t.x0 + xs[j], t.x0 + xs[j + 1], shape, margin)
            for i in range(len(ys) - 1) for j in range(len(xs) - 1)]


def tile_for_budget(budget_bytes: float, channels: int, margin: int, bytes_per_value: int = 4,
                    live_maps: float = 8.0) -> int:
    """Largest core tile side (px, multiple of 8, >= MIN_TILE) whose padded window fits the budget.

    Memory per padded pixel ~ ``live_maps * channels * bytes_per_value`` (feature maps alive at
    once, convolution workspace included).
    """
    per_px = live_maps * channels * bytes_per_value
    side = int(math.sqrt(max(budget_bytes, 0) / per_px)) - 2 * margin
    return max(MIN_TILE, side // 8 * 8)

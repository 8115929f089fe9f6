"""One table of the product's limits and output formats, read by the CLI, the app and the core.

Every number a user can run into (scale ranges, pixel limits, tile and thread bounds, the formats
results are written in) is defined here once; docs/CONTRACTS.md ("Input rules") lists them with
their reasons. Pure Python: importing it costs nothing (no torch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleRange:
    """Accepted upscaling factors: ``low < s`` (or ``low <= s`` when ``inclusive_low``) and
    ``s <= high``; ``integer``: whole numbers only (the protocol modcrops by the scale)."""

    low: float
    high: float
    inclusive_low: bool = True
    integer: bool = False

    def problem(self, value: float) -> str | None:
        """Why ``value`` is refused (one line), or None when it is accepted."""
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(
                value):
            return f"scale must be a number, got {value!r}"
        if self.integer and value != int(value):
            return f"scale must be a whole number, got {value:g}"
        if value < self.low or (value == self.low and not self.inclusive_low):
            relation = "at least" if self.inclusive_low else "greater than"
            return f"scale must be {relation} {self.low:g}, got {value:g}"
        if value > self.high:
            return f"scale {value:g} is too large (at most {self.high:g})"
        return None

    def text(self) -> str:
        """The range as users read it, e.g. '> 1 and <= 16', '2..16', '1.1-8'."""
        if self.integer:
            return f"{self.low:g}..{self.high:g}"
        return (f"{self.low:g}-{self.high:g}" if self.inclusive_low
                else f"> {self.low:g} and <= {self.high:g}")


UPSCALE_SCALE = ScaleRange(1.0, 16.0, inclusive_low=False)
"""`drrn upscale` and the Batch tab: any factor above 1 up to 16."""
BATCH_SCALE_STEP_MIN = 1.1
"""The Batch tab's scale box starts here (a spin box needs a smallest value above 1)."""
COMPARE_SCALE = ScaleRange(1.1, 8.0)
"""The Compare tab (interactive, three full-size panes): 1.1 to 8."""
BENCH_SCALE = ScaleRange(2, 16, integer=True)
"""`drrn bench` and the Benchmark tab: whole numbers 2..16 (the protocol modcrops by them)."""
TRAIN_MAX_SCALE = 8
"""Training recipes: scales in (1, 8], validation scales whole numbers 2..8."""

MAX_INPUT_PIXELS = 80_000_000
"""Largest image read (all readers), checked from the header before decoding; below Pillow's own
decompression-bomb limit (~179 MP). `--max-pixels` changes it in the CLI."""
MAX_OUTPUT_PIXELS = 80_000_000
"""Largest result written by `drrn upscale` and the Batch tab (the engine works in bands: ~0.8 GB
peak there with bicubic, benchmarks/README.md)."""
MAX_BENCH_PIXELS = 24_000_000
"""Largest ground-truth image `drrn bench` and the Benchmark tab score: the protocol holds its GT,
LR and ILR luma images whole in float64 (~20 bytes per pixel), so 24 MP keeps a run near 1.2 GB
(benchmarks/README.md); benchmark sets are far smaller. `drrn bench --max-pixels` raises it."""
COMPARE_MAX_OUTPUT_PIXELS = 64_000_000
"""Largest result of the app's Compare tab: it keeps the input, bicubic and DRRN panes (and the
ground truth and error maps in evaluate mode) in memory at full size, so it stays below the file
limit."""

ARCH_LIMITS = {"B": (1, 16), "U": (0, 64), "channels": (1, 1024)}
"""Inclusive ranges of a DRRN architecture's sizes, wherever one comes from: a weights or
checkpoint header (weights.config_from_header), a training recipe, a run's recipe.json or
`drrn train --model/--channels` (Recipe.validate). The paper's largest models are B3U9 and B1U25
at 128 channels; 1024 channels is 37.7 MB of weights per shared conv, nothing near a 60,000-channel
header's 130 GB."""
ARCH_FLAGS = ("batchnorm", "bias", "share", "chain")
"""The architecture's true/false fields."""


def architecture_problem(fields: dict) -> str | None:
    """Why an architecture (every ARCH_LIMITS and ARCH_FLAGS key of ``fields``) is refused, as
    one line, or None when it is within the limits. Checked before any model is built."""
    for key, (low, high) in ARCH_LIMITS.items():
        value = fields.get(key)
        if type(value) is not int or not low <= value <= high:
            return f"architecture field {key}={str(value)[:20]} is not a whole number in " \
                   f"{low}..{high}"
    for key in ARCH_FLAGS:
        if type(fields.get(key)) is not bool:
            return f"architecture field {key} must be true or false"
    return None


MIN_TILE = 32
"""Smallest tile side (px) a user may ask for (`--tile`); must equal engine.tiling.MIN_TILE
(tests/core/test_limits.py checks it; the engine keeps its own copy until it imports this)."""

MIN_THREADS, MAX_THREADS = 1, 1024
"""`--threads`: at least one; more than 1024 is a typo, not a machine."""

QUALITY_RANGE = (1, 100)
"""JPEG/WebP quality (WebP 100 = lossless)."""

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                  ".tif": "TIFF", ".tiff": "TIFF"}
"""File suffix -> format of every image the product writes (imaging.io.save_image)."""
FORMAT_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif"}
"""The suffix a result gets when a format is chosen (`--format`, the Batch tab)."""
FORMAT_LABELS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "TIFF": "TIFF"}
"""Formats as users name them."""
LOSSY_FORMATS = ("JPEG", "WEBP")
"""Formats that take a quality."""
KEEP_FORMAT = "keep"
"""Format choice: the input's own format when it is one of OUTPUT_FORMATS, else PNG."""

OUTPUT_BYTES_FLOOR = {"PNG": 0.15, "TIFF": 0.15, "JPEG": 0.04, "WEBP": 0.02}
"""Fewest bytes per uncompressed sample byte an upscaled photo took in each format (the smallest
of 60 bicubic x2/x4 upscales of Set5/Set14/BSD100/T91 images: PNG 0.165, TIFF (deflate) alike,
JPEG q95 0.044, WebP q95 0.022). `drrn upscale` refuses a file before computing it when the
folder has less free space than this estimate (batch.check_free_space), so a full disk fails in
seconds; above it the result is computed and a write that still fails leaves nothing behind."""

"""Row bands: how the engine and the metrics walk a large image a few MB at a time."""

from __future__ import annotations

from collections.abc import Iterator

BAND_VALUES = 1 << 20
"""Values per band (~8 MB as float64 temporaries), whatever the image size."""


def row_bands(n_rows: int, row_values: int, min_rows: int = 1) -> Iterator[slice]:
    """Consecutive row slices covering ``0..n_rows-1``, each of about ``BAND_VALUES`` values
    when every row holds ``row_values`` values, and of at least ``min_rows`` rows (the last one
    excepted)."""
    step = max(min_rows, 1, BAND_VALUES // max(1, row_values))
    for a in range(0, n_rows, step):
        yield slice(a, min(n_rows, a + step))

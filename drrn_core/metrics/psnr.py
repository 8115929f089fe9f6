"""PSNR between two greyscale images on the 0-255 scale."""

from __future__ import annotations

import math

import numpy as np

from drrn_core.bands import row_bands
from drrn_core.metrics.pairs import PEAK, as_pair


def psnr(reference: np.ndarray, distorted: np.ndarray, *, crop_border: int = 0) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(255^2 / MSE)``.

    Args:
        reference, distorted: 2-D arrays (HxW), uint8 or float, values in [0, 255]; no rounding
            is done here (the protocol quantises before calling).
        crop_border: pixels removed from each side of both images first.

    Returns:
        PSNR in dB (float64 maths); ``inf`` when the images are identical (MSE = 0).
    """
    ref, dist = as_pair(reference, distorted, crop_border, as_float=False)
    if _exact_in_float(ref, dist):
        mse = _integer_mse(ref, dist)
    else:
        ref, dist = ref.astype(np.float64), dist.astype(np.float64)
        mse = float(np.mean((ref - dist) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(PEAK * PEAK / mse)


def _exact_in_float(ref: np.ndarray, dist: np.ndarray) -> bool:
    """True for integer images whose float64 sum of squared differences is exact (below 2**53)
    whatever the order: then an exact integer sum gives bitwise the same MSE."""
    if ref.dtype.kind not in "ui" or dist.dtype.kind not in "ui":
        return False
    top = max(int(np.iinfo(ref.dtype).max), int(np.iinfo(dist.dtype).max))
    low = min(int(np.iinfo(ref.dtype).min), int(np.iinfo(dist.dtype).min))
    return ref.size * (top - low) ** 2 < 2**53


def _integer_mse(ref: np.ndarray, dist: np.ndarray) -> float:
    """Mean squared difference of two integer images, summed exactly (int64) in row bands: no
    full-size temporaries. Bitwise the float64 ``np.mean`` of the same values whenever that sum
    is exact (every squared difference and partial sum an integer below 2**53, as for 8-bit
    images of any size up to 138 gigapixels)."""
    total = 0
    for rows in row_bands(ref.shape[0], ref.shape[1]):
        d = ref[rows].astype(np.int64) - dist[rows].astype(np.int64)
        total += int(np.einsum("ij,ij->", d, d))
    return total / ref.size

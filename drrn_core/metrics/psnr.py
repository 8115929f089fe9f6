"""PSNR between two greyscale images on the 0-255 scale, and the input checks all metrics share."""

from __future__ import annotations

import math

import numpy as np

from drrn_core.bands import row_bands

PEAK = 255.0


def as_pair(reference: np.ndarray, distorted: np.ndarray, crop_border: int = 0,
            as_float: bool = True):
    """Validate a (reference, distorted) pair and return both as float64 with the border removed.

    Both must be 2-D (HxW), the same shape, and numeric (uint8 or float; bool is refused).
    ``crop_border`` (pixels, >= 0) is removed from every side of both images. ``as_float=False``
    returns the cropped arrays as they are (views: no copy), for metrics that convert in bands.
    """
    ref = np.asarray(reference)
    dist = np.asarray(distorted)
    for name, arr in (("reference", ref), ("distorted", dist)):
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a 2-D (HxW) array, got shape {arr.shape}")
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} must be numeric (uint8 or float), got {arr.dtype}")
        if np.iscomplexobj(arr):
            raise ValueError(f"{name} must be real, got {arr.dtype}")
    if ref.shape != dist.shape:
        raise ValueError(f"shape mismatch: reference {ref.shape} vs distorted {dist.shape}")
    b = int(crop_border)
    if b != crop_border or b < 0:
        raise ValueError(f"crop_border must be a non-negative integer, got {crop_border}")
    if b and min(ref.shape) <= 2 * b:
        raise ValueError(f"image {ref.shape} is too small to crop {b} px from each side")
    if b:
        ref, dist = ref[b:-b, b:-b], dist[b:-b, b:-b]
    if not as_float:
        return ref, dist
    return ref.astype(np.float64), dist.astype(np.float64)


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

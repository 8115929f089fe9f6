"""PSNR between two greyscale images on the 0-255 scale, and the input checks all metrics share."""

from __future__ import annotations

import math

import numpy as np

PEAK = 255.0


def as_pair(reference: np.ndarray, distorted: np.ndarray, crop_border: int = 0):
    """Validate a (reference, distorted) pair and return both as float64 with the border removed.

    Both must be 2-D (HxW), the same shape, and numeric (uint8 or float; bool is refused).
    ``crop_border`` (pixels, >= 0) is removed from every side of both images.
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
    ref, dist = as_pair(reference, distorted, crop_border)
    mse = float(np.mean((ref - dist) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(PEAK * PEAK / mse)

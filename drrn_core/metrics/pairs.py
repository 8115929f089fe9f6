"""The input check every metric shares: a (reference, distorted) pair of greyscale images,
2-D (HxW), same shape, real numbers on the 0-255 scale (uint8, or float for non-rounded results)."""

from __future__ import annotations

import numpy as np

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

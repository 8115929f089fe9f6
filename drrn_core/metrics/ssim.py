"""SSIM as in Wang et al.'s reference ``ssim_index`` (2004), on the 0-255 scale.

11x11 Gaussian window (sigma 1.5, weights summing to 1), K1 = 0.01, K2 = 0.03, L = 255, local
statistics only where the window fits entirely ("valid", so the map is 10 px smaller each way),
no downsampling, result = mean of the SSIM map. scikit-image's ``structural_similarity`` with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255`` pads the borders
but then averages its map cropped by 5 px, i.e. over this same 'valid' region, so it agrees to
rounding; its defaults (7x7 uniform window, sample covariance, no border crop) do not.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from drrn_core.metrics.psnr import PEAK, as_pair

WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def _gaussian_1d() -> np.ndarray:
    x = np.arange(WINDOW, dtype=np.float64) - (WINDOW - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * SIGMA * SIGMA))
    return g / g.sum()


def _filter_valid(img: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable correlation with ``w`` on both axes, keeping only fully covered positions."""
    r = len(w) // 2
    out = correlate1d(img, w, axis=0, mode="constant")
    out = correlate1d(out, w, axis=1, mode="constant")
    return out[r:-r, r:-r]


def ssim_map(reference: np.ndarray, distorted: np.ndarray, *, crop_border: int = 0) -> np.ndarray:
    """The SSIM map, shape ``(H - 10, W - 10)`` after the border crop; see :func:`ssim`."""
    ref, dist = as_pair(reference, distorted, crop_border)
    if min(ref.shape) < WINDOW:
        raise ValueError(f"SSIM needs at least {WINDOW}x{WINDOW} pixels, got {ref.shape}")
    w = _gaussian_1d()
    c1, c2 = (K1 * PEAK) ** 2, (K2 * PEAK) ** 2
    mu1, mu2 = _filter_valid(ref, w), _filter_valid(dist, w)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _filter_valid(ref * ref, w) - mu1_sq
    s2 = _filter_valid(dist * dist, w) - mu2_sq
    s12 = _filter_valid(ref * dist, w) - mu12
    return ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))


def ssim(reference: np.ndarray, distorted: np.ndarray, *, crop_border: int = 0) -> float:
    """Mean structural similarity (Wang et al. 2004, reference ``ssim_index``).

    Args:
        reference, distorted: 2-D arrays (HxW), uint8 or float, values in [0, 255], at least
            11x11 after cropping.
        crop_border: pixels removed from each side of both images first.

    Returns:
        Mean of the 'valid' SSIM map (float64 maths); 1.0 for identical images, at most 1.
    """
    return float(np.mean(ssim_map(reference, distorted, crop_border=crop_border)))

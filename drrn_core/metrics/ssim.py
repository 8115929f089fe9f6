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

from drrn_core.metrics.pairs import PEAK, as_pair

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


_BAND_PX = 1 << 20  # map rows per band: ~1 Mpx of float64 temporaries, whatever the image size
_LEAF = 1 << 16  # the mean is summed in blocks of at most this many map values (see _pairwise)


def _map_rows(ref: np.ndarray, dist: np.ndarray, a: int, b: int) -> np.ndarray:
    """Rows a..b-1 of the SSIM map (from image rows a..b+9): the same arithmetic, value for
    value, as computing the whole map (every filter output reads only its 11x11 window)."""
    r0, r1 = ref[a:b + WINDOW - 1].astype(np.float64), dist[a:b + WINDOW - 1].astype(np.float64)
    w = _gaussian_1d()
    c1, c2 = (K1 * PEAK) ** 2, (K2 * PEAK) ** 2
    mu1, mu2 = _filter_valid(r0, w), _filter_valid(r1, w)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _filter_valid(r0 * r0, w) - mu1_sq
    s2 = _filter_valid(r1 * r1, w) - mu2_sq
    s12 = _filter_valid(r0 * r1, w) - mu12
    return ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))


def _checked(reference: np.ndarray, distorted: np.ndarray, crop_border: int):
    ref, dist = as_pair(reference, distorted, crop_border, as_float=False)
    if min(ref.shape) < WINDOW:
        raise ValueError(f"SSIM needs at least {WINDOW}x{WINDOW} pixels, got {ref.shape}")
    return ref, dist


def ssim_map(reference: np.ndarray, distorted: np.ndarray, *, crop_border: int = 0) -> np.ndarray:
    """The SSIM map, shape ``(H - 10, W - 10)`` after the border crop; see :func:`ssim`.
    Computed in bands of rows (temporaries ~1 Mpx); only the map itself is full size."""
    ref, dist = _checked(reference, distorted, crop_border)
    h, w = ref.shape[0] - WINDOW + 1, ref.shape[1] - WINDOW + 1
    out = np.empty((h, w), np.float64)
    step = max(1, _BAND_PX // w)
    for a in range(0, h, step):
        out[a:a + step] = _map_rows(ref, dist, a, min(h, a + step))
    return out


class _MapBands:
    """Serves consecutive runs of the flattened SSIM map, computing it a band of rows at a time
    (runs are asked for in increasing order, so each band is computed about once)."""

    def __init__(self, ref: np.ndarray, dist: np.ndarray) -> None:
        self.ref, self.dist = ref, dist
        self.h, self.w = ref.shape[0] - WINDOW + 1, ref.shape[1] - WINDOW + 1
        self.rows = max(1, _BAND_PX // self.w)
        self.start, self.band = 0, np.empty(0)  # flat index of band[0]

    def __call__(self, i: int, n: int) -> np.ndarray:
        if not (self.start <= i and i + n <= self.start + self.band.size):
            a = i // self.w
            b = min(self.h, max(a + self.rows, (i + n - 1) // self.w + 1))
            self.band = _map_rows(self.ref, self.dist, a, b).ravel()
            self.start = a * self.w
        return self.band[i - self.start:i - self.start + n]


def _pairwise(values, i: int, n: int) -> np.float64:
    """Sum of values(i, n) (a 1-D float64 run of n values) exactly as numpy's pairwise
    summation adds a contiguous array of n values (np.mean of the whole map): numpy splits a
    run longer than 8 blocks of 8 at half its length rounded down to a multiple of 8 and adds
    the two halves' sums, so any node of that tree can be summed on its own; runs of at most
    _LEAF values are summed by numpy itself."""
    if n <= _LEAF:
        return np.add.reduce(values(i, n))
    half = n // 2
    half -= half % 8
    return _pairwise(values, i, half) + _pairwise(values, i + half, n - half)


def ssim(reference: np.ndarray, distorted: np.ndarray, *, crop_border: int = 0) -> float:
    """Mean structural similarity (Wang et al. 2004, reference ``ssim_index``).

    Args:
        reference, distorted: 2-D arrays (HxW), uint8 or float, values in [0, 255], at least
            11x11 after cropping.
        crop_border: pixels removed from each side of both images first.

    Returns:
        Mean of the 'valid' SSIM map (float64 maths); 1.0 for identical images, at most 1.
        The map is made and summed in bands of rows (bounded memory for any image size), and
        the sum follows ``np.mean``'s own order, so the value is bitwise that of
        ``np.mean(ssim_map(...))``.
    """
    ref, dist = _checked(reference, distorted, crop_border)
    bands = _MapBands(ref, dist)
    n = bands.h * bands.w
    return float(_pairwise(bands, 0, n) / n)

"""Information Fidelity Criterion (Sheikh, Bovik and de Veciana 2005), as the reference ``ifcvec``.

Algorithm (re-implemented from the published description and the public MATLAB release):

1. Both images go through a 4-level steerable pyramid with the 6-orientation "sp5" filters and
   'reflect1' edges (matlabPyrTools ``buildSpyr``; ``_pyrtools().corrDn`` is the same C code). Only
   orientations 1 and 4 of every level are used: 8 subbands. These are exactly
   ``pyrtools.pyramids.SteerablePyramidSpace(img, 4, order=5).pyr_coeffs[(level, b)]`` for
   ``b in (0, 3)``; in ``ifcvec``'s reversed numbering (``ind2wtree``) they are subbands
   4, 7 (coarsest level) ... 22, 25 (finest).
2. Each subband is cropped to a multiple of M = 3. Distortion channel ``d = g c + v``: gain g and
   noise variance v are regressed in (2^k + 1)^2 windows (k = 1 at the coarsest level up to 4 at
   the finest) centred on every 3x3 block, with 'reflect1' edges.
3. Reference GSM: covariance C_U of all overlapping 3x3 coefficient vectors, its eigenvalues
   lambda_j, and per non-overlapping block s = x^T C_U^-1 x / 9.
4. ``ceil(2^(k-1) / 3)`` blocks are dropped on every side; IFC = sum over subbands, blocks and j of
   ``log2(1 + g^2 s lambda_j / (v + 1e-10))``, divided by the number of pixels of the reference.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from drrn_core.metrics.psnr import as_pair


@cache
def _pyrtools():
    """pyrtools, imported on first use: it loads matplotlib, seconds that a CLI --help or the
    app's start should not pay."""
    import pyrtools

    return pyrtools

LEVELS = 4
BANDS = (0, 3)  # orientations 1 and 4 of sp5's six
M = 3  # GSM block size
_TOL = 1e-15  # variances below this count as zero (as the reference)
_EDGES = "reflect1"


@cache
def _filters() -> dict[str, np.ndarray]:
    f = _pyrtools().named_filter("sp5_filters")
    size = int(round(math.sqrt(f["bfilts"].shape[0])))
    bands = {b: np.ascontiguousarray(f["bfilts"][:, b].reshape(size, size).T) for b in BANDS}
    return {"lo0": f["lo0filt"], "lo": f["lofilt"], **{f"b{b}": v for b, v in bands.items()}}


def min_size() -> int:
    """Smallest image side (pixels) for which the 4-level pyramid can be built."""
    n = _filters()["lo"].shape[0]
    return n * 2 ** (LEVELS - 1)


def _subbands(img: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """The 8 subbands used, each with its window exponent k (1 = coarsest ... 4 = finest)."""
    f = _filters()
    lo = _pyrtools().corrDn(img, f["lo0"], _EDGES)
    out = []
    for level in range(LEVELS):
        out += [(LEVELS - level, _pyrtools().corrDn(lo, f[f"b{b}"], _EDGES)) for b in BANDS]
        if level < LEVELS - 1:
            lo = _pyrtools().corrDn(lo, f["lo"], _EDGES, step=(2, 2))
    return out


def _crop_to_blocks(y: np.ndarray) -> np.ndarray:
    return y[: y.shape[0] // M * M, : y.shape[1] // M * M]


def _channel(y: np.ndarray, yn: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Gain g and noise variance v of ``yn = g y + v`` per 3x3 block (windows of 2^k + 1)."""
    win = np.ones((2**k + 1, 2**k + 1))
    n = win.size
    h, w = y.shape
    box = {"step": (M, M), "start": (M // 2, M // 2), "stop": (h - 1, w - 1)}

    def wsum(a: np.ndarray) -> np.ndarray:
        return _pyrtools().corrDn(a, win, _EDGES, **box)

    mean_x = _pyrtools().corrDn(y, win / n, _EDGES, **box)
    mean_y = _pyrtools().corrDn(yn, win / n, _EDGES, **box)
    cov_xy = wsum(y * yn) - n * mean_x * mean_y
    ss_x = np.maximum(wsum(y * y) - n * mean_x**2, 0.0)
    ss_y = np.maximum(wsum(yn * yn) - n * mean_y**2, 0.0)
    g = cov_xy / (ss_x + _TOL)
    v = (ss_y - g * cov_xy) / n
    flat_x, flat_y = ss_x < _TOL, ss_y < _TOL
    g[flat_x], v[flat_x] = 0.0, ss_y[flat_x]
    g[flat_y], v[flat_y] = 0.0, 0.0
    neg = g < 0
    v[neg], g[neg] = ss_y[neg], 0.0
    return g, np.maximum(v, _TOL)


def _gsm(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of the 3x3-block covariance and the per-block multiplier field s."""
    vecs = sliding_window_view(y, (M, M)).reshape(-1, M * M)  # a copy: 9 values per pixel
    if not vecs.flags.writeable:  # (a view only in degenerate shapes)
        vecs = vecs.copy()
    vecs -= vecs.mean(axis=0)  # centred in place: no second copy of that size
    cov = vecs.T @ vecs / vecs.shape[0]
    del vecs
    hb, wb = y.shape[0] // M, y.shape[1] // M
    blocks = y.reshape(hb, M, wb, M).transpose(0, 2, 1, 3).reshape(-1, M * M)
    s = np.sum((blocks @ np.linalg.inv(cov).T) * blocks, axis=1) / (M * M)
    return np.linalg.eigvalsh(cov), s.reshape(hb, wb)


def ifc(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Information Fidelity Criterion of ``distorted`` given ``reference`` (order matters).

    Args:
        reference, distorted: 2-D arrays (HxW), uint8 or float, values in [0, 255], each side at
            least :func:`min_size` (72) pixels.

    Returns:
        IFC in bits per pixel of the reference (float64 maths); >= 0, larger is better, and it is
        not bounded above (identical images give a large finite value).
    """
    ref, dist = as_pair(reference, distorted)
    if min(ref.shape) < min_size():
        raise ValueError(f"IFC needs at least {min_size()} px per side, got {ref.shape}")
    total = 0.0
    for (k, y), (_, yn) in zip(_subbands(ref), _subbands(dist), strict=True):
        y, yn = _crop_to_blocks(y), _crop_to_blocks(yn)
        g, v = _channel(y, yn, k)
        lam, s = _gsm(y)
        o = math.ceil(2 ** (k - 1) / M)
        snr = (g * g * s / (v + 1e-10))[o:-o, o:-o]
        total += float(np.sum(np.log2(1.0 + snr[..., None] * lam)))
    return total / ref.size

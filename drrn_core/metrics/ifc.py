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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np

from drrn_core.bands import row_bands
from drrn_core.metrics.pairs import as_pair


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


@dataclass(frozen=True)
class _Rows:
    """A 2-D float64 array (``shape``) served by rows: ``get(a, b)`` gives rows a..b-1. Large
    subbands are never held whole: their rows are filtered again from the image on demand."""

    shape: tuple[int, int]
    get: Callable[[int, int], np.ndarray]


def _stored(arr: np.ndarray) -> _Rows:
    return _Rows(arr.shape, lambda a, b: np.asarray(arr[a:b], np.float64))


def _filtered(src: _Rows, filt: np.ndarray, step: int = 1) -> _Rows:
    """``corrDn(src, filt, 'reflect1', step=(step, step))`` served by rows: value for value the
    whole-array result, since each output reads only its window and every call gets at least one
    filter height of real rows. A call whose window reaches the top edge also covers every row
    whose filter overhangs it: corrDn computes those whatever its ``stop`` says."""
    size, half = filt.shape[0], filt.shape[0] // 2
    h, w = src.shape
    shape = (len(range(0, h, step)), len(range(0, w, step)))

    def get(a: int, b: int) -> np.ndarray:
        top = a * step - half < 1
        c0, c1 = a * step, (min(shape[0], max(b, half // step + 1)) if top else b) * step - step
        lo = max(0, c0 - half)
        hi = min(h, max(c1 + half + 1, lo + size))
        lo = max(0, min(lo, hi - size))
        out = _pyrtools().corrDn(src.get(lo, hi), filt, _EDGES, step=(step, step),
                                 start=(c0 - lo, 0), stop=(c1 - lo + 1, w))
        return out[:b - a]

    return _Rows(shape, get)


def _materialised(src: _Rows) -> np.ndarray:
    out = np.empty(src.shape)
    for rows in row_bands(src.shape[0], src.shape[1]):
        out[rows] = src.get(rows.start, rows.stop)
    return out


def _subbands(img: np.ndarray) -> Iterator[tuple[int, _Rows]]:
    """The 8 subbands used, finest first, each with its window exponent k (4 = finest ...
    1 = coarsest). The finest two are filtered from the image on demand; the coarser lowpass
    images (a quarter of the pixels and less) are held."""
    f = _filters()
    lo = _filtered(_stored(img), f["lo0"])
    for level in range(LEVELS):
        for b in BANDS:
            yield LEVELS - level, _filtered(lo, f[f"b{b}"])
        if level < LEVELS - 1:
            lo = _stored(_materialised(_filtered(lo, f["lo"], step=2)))


def _cropped_to_blocks(y: _Rows) -> _Rows:
    h, w = y.shape[0] // M * M, y.shape[1] // M * M
    return _Rows((h, w), lambda a, b: y.get(a, b)[:, :w])


def _channel(y: np.ndarray, yn: np.ndarray, k: int, c0: int, c1: int) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Gain g and noise variance v of ``yn = g y + v`` for the 3x3 blocks centred on rows
    c0, c0 + 3, ..., c1 of the subband rows y and yn (windows of 2^k + 1 rows and columns)."""
    r = 2 ** (k - 1)
    win = np.ones((2 * r + 1, 2 * r + 1))
    n = win.size
    box = {"step": (M, M), "start": (c0, M // 2), "stop": (c1 + 1, y.shape[1] - 1)}

    def wsum(x: np.ndarray) -> np.ndarray:
        return _pyrtools().corrDn(x, win, _EDGES, **box)

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


_OFFSETS = [(di, dj) for di in range(M) for dj in range(M)]  # the 9 positions of a 3x3 vector


def _covariance(y: _Rows) -> np.ndarray:
    """Covariance (9x9) of all overlapping 3x3 coefficient vectors of y. Made in row bands from
    per-row sums, so the value does not depend on the band size."""
    rows_n, cols_n = y.shape[0] - M + 1, y.shape[1] - M + 1

    def vectors(rows: slice) -> list[np.ndarray]:
        part = y.get(rows.start, rows.stop + M - 1)
        return [part[di:di + rows.stop - rows.start, dj:dj + cols_n] for di, dj in _OFFSETS]

    sums = np.empty((rows_n, len(_OFFSETS)))
    for rows in row_bands(rows_n, cols_n):
        for i, x in enumerate(vectors(rows)):
            sums[rows, i] = x.sum(axis=1)
    count = rows_n * cols_n
    mean = np.add.reduce(sums, axis=0) / count
    upper = np.triu_indices(len(_OFFSETS))
    products = np.empty((rows_n, len(upper[0])))
    for rows in row_bands(rows_n, cols_n):
        d = [x - m for x, m in zip(vectors(rows), mean, strict=True)]
        for p, (u, v) in enumerate(zip(*upper, strict=True)):
            products[rows, p] = (d[u] * d[v]).sum(axis=1)
    cov = np.empty((len(_OFFSETS), len(_OFFSETS)))
    cov[upper] = np.add.reduce(products, axis=0) / count
    cov.T[upper] = cov[upper]
    return cov


def _multiplier(part: np.ndarray, inv_cov: np.ndarray) -> np.ndarray:
    """The GSM multiplier s = x^T C_U^-1 x / 9 of every 3x3 block x of ``part`` (whole block
    rows), element by element in a fixed order."""
    x = [part[di::M, dj::M] for di, dj in _OFFSETS]
    quad = sum(xj * sum(c * xk for c, xk in zip(row, x, strict=True))
               for row, xj in zip(inv_cov, x, strict=True))
    return quad / (M * M)


def _information(k: int, y: _Rows, yn: _Rows) -> float:
    """Bits of one subband pair: the sum over its inner blocks and the eigenvalues lambda_j of
    ``log2(1 + g^2 s lambda_j / (v + 1e-10))``, made in bands of block rows."""
    y, yn = _cropped_to_blocks(y), _cropped_to_blocks(yn)
    cov = _covariance(y)
    lam, inv_cov = np.linalg.eigvalsh(cov), np.linalg.inv(cov)
    r, o = 2 ** (k - 1), math.ceil(2 ** (k - 1) / M)  # window half-size, blocks dropped per side
    h = y.shape[0]
    row_sums = [np.zeros(0)]
    for rows in row_bands(y.shape[0] // M - 2 * o, y.shape[1] * M):
        first, last = rows.start + o, rows.stop + o  # block rows first..last-1
        c0, c1 = M * first + M // 2, M * (last - 1) + M // 2  # their centre rows
        a = max(0, c0 - r)
        b = min(h, max(c1 + r + 1, a + 2 * r + 1))
        a = max(0, min(a, b - 2 * r - 1))  # at least one window height of real rows
        part = y.get(a, b)
        g, v = _channel(part, yn.get(a, b), k, c0 - a, c1 - a)
        s = _multiplier(part[M * first - a:M * last - a], inv_cov)
        snr = (g * g * s / (v + 1e-10))[:, o:-o]
        terms = np.log2(1.0 + snr[..., None] * lam)
        row_sums.append(terms.reshape(len(terms), -1).sum(axis=1))
    return float(np.add.reduce(np.concatenate(row_sums)))


def ifc(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Information Fidelity Criterion of ``distorted`` given ``reference`` (order matters).

    Args:
        reference, distorted: 2-D arrays (HxW), uint8 or float, values in [0, 255], each side at
            least :func:`min_size` (72) pixels.

    Returns:
        IFC in bits per pixel of the reference (float64 maths); >= 0, larger is better, and it is
        not bounded above (identical images give a large finite value).
    """
    ref, dist = as_pair(reference, distorted, as_float=False)  # converted in bands
    if min(ref.shape) < min_size():
        raise ValueError(f"IFC needs at least {min_size()} px per side, got {ref.shape}")
    total = 0.0
    for (k, y), (_, yn) in zip(_subbands(ref), _subbands(dist), strict=True):
        total += _information(k, y, yn)
    return total / ref.size

"""MATLAB's ``imresize(..., 'bicubic')``, reproduced to double precision.

Cubic kernel with a = -0.5; when shrinking (and ``antialias``) the kernel is stretched by 1/scale
and its weights renormalised; symmetric (mirror) borders; output size ``ceil(size * scale)``.
Dimensions are resized in the order MATLAB uses (smallest scale first, rows before columns on ties).
PIL's and OpenCV's bicubic differ from this and do not reproduce the published tables.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

_KERNEL_WIDTH = 4.0
_BAND_VALUES = 1 << 20


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (
        -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    ) * ((ax > 1) & (ax <= 2))


def contributions(
    in_len: int, out_len: int, scale: float, antialias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (0-based, mirrored into range) and weights, both ``(out_len, taps)``."""
    width = _KERNEL_WIDTH
    if scale < 1 and antialias:
        width = _KERNEL_WIDTH / scale

        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * x)
    else:
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64) / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(x - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = kernel(x[:, None] - idx)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)
    return idx[:, keep], weights[:, keep]


def _taps(src: np.ndarray, idx: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    """out[i] += sum_k w[i, k] * src[idx[i, k]] along axis 0 (``out`` zeroed by the caller), in
    row bands of ~_BAND_VALUES values so the temporaries stay a few MB. Each value gets the same
    operations in the same order (tap by tap) as an unbanded sum: the result is bitwise equal."""
    band = max(1, _BAND_VALUES // max(1, math.prod(src.shape[1:])))
    shape = (-1,) + (1,) * (src.ndim - 1)
    for a in range(0, out.shape[0], band):
        b = min(out.shape[0], a + band)
        for k in range(idx.shape[1]):
            out[a:b] += w[a:b, k].reshape(shape) * src[idx[a:b, k]]


def _resize_cols(img: np.ndarray, idx: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Resize axis 1 of ``img`` with the given contributions; C-contiguous result."""
    out = np.zeros((idx.shape[0], img.shape[0]) + img.shape[2:], img.dtype)
    _taps(np.moveaxis(img, 1, 0), idx, w, out)
    return np.ascontiguousarray(np.moveaxis(out, 0, 1))


def output_size(in_hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """``ceil(size * scale)`` per dimension, as MATLAB computes it."""
    return (int(math.ceil(scale * in_hw[0])), int(math.ceil(scale * in_hw[1])))


class RowSource(Protocol):
    """What :func:`imresize` reads of its input: an array, or anything giving its rows as one
    (``source[a:b]``; e.g. colour planes converted on demand)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def ndim(self) -> int: ...

    @property
    def dtype(self) -> np.dtype: ...

    def __getitem__(self, rows: slice, /) -> np.ndarray: ...


def imresize(
    img: np.ndarray | RowSource,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
    antialias: bool = True,
    rows: tuple[int, int] | None = None,
) -> np.ndarray:
    """Resize an HW or HWC array like MATLAB's bicubic ``imresize``.

    Give ``scale`` (output/input, the same for both axes) or ``output_shape`` (H, W). The result is
    float64, or float32 when ``img`` is float32 (to save memory on large photos). Values are not
    clipped or rounded: the protocol keeps full precision between resizes. Works in bands of
    output rows: memory is the input, the output and a few MB, whatever the size.
    ``rows=(a, b)``: only output rows a..b-1, bitwise equal to ``imresize(...)[a:b]`` (reads only
    the input rows they need), so a caller can resize a large image band by band.
    """
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale or output_shape")
    if img.ndim not in (2, 3):
        raise ValueError(f"expected an HW or HWC array, got shape {img.shape}")
    h, w = img.shape[:2]
    if scale is not None:
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        out_h, out_w = output_size((h, w), scale)
        scales = (float(scale), float(scale))
    else:
        assert output_shape is not None  # exactly one of the two (checked above)
        out_h, out_w = int(output_shape[0]), int(output_shape[1])
        if out_h < 1 or out_w < 1:
            raise ValueError(f"output shape must be positive, got {output_shape}")
        scales = (out_h / h, out_w / w)
    dtype = np.float32 if img.dtype == np.float32 else np.float64
    r0, r1 = (0, out_h) if rows is None else (int(rows[0]), int(rows[1]))
    if not 0 <= r0 < r1 <= out_h:
        raise ValueError(f"rows {rows} are not a range inside the {out_h} output rows")
    idx_r, w_r = contributions(h, out_h, scales[0], antialias)
    idx_c, w_c = contributions(w, out_w, scales[1], antialias)
    w_r, w_c = w_r.astype(dtype, copy=False), w_c.astype(dtype, copy=False)
    rows_first = scales[0] <= scales[1]  # MATLAB: smallest scale first, rows first on ties
    tail = img.shape[2:]
    out = np.empty((r1 - r0, out_w) + tail, dtype)
    # Bands of output rows: both passes of a band are done before the next one, so no full-size
    # intermediate exists; every value is computed exactly as in two whole-image passes.
    band = max(1, _BAND_VALUES // max(1, max(w, out_w) * math.prod(tail)))
    for a in range(r0, r1, band):
        b = min(r1, a + band)
        i_r = idx_r[a:b]
        lo, hi = int(i_r.min()), int(i_r.max()) + 1  # the input rows this band reads
        src = img[lo:hi].astype(dtype, copy=False)
        if rows_first:
            part = np.zeros((b - a, w) + tail, dtype)
            _taps(src, i_r - lo, w_r[a:b], part)
            out[a - r0:b - r0] = _resize_cols(part, idx_c, w_c)
        else:
            part = out[a - r0:b - r0]
            part[...] = 0
            _taps(_resize_cols(src, idx_c, w_c), i_r - lo, w_r[a:b], part)
    return out

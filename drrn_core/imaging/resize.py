"""MATLAB's ``imresize(..., 'bicubic')``, reproduced to double precision.

Cubic kernel with a = -0.5; when shrinking (and ``antialias``) the kernel is stretched by 1/scale
and its weights renormalised; symmetric (mirror) borders; output size ``ceil(size * scale)``.
Dimensions are resized in the order MATLAB uses (smallest scale first, rows before columns on ties).
PIL's and OpenCV's bicubic differ from this and do not reproduce the published tables.
"""

from __future__ import annotations

import math

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


def _resize_axis(img: np.ndarray, axis: int, out_len: int, scale: float, antialias: bool):
    idx, w = contributions(img.shape[axis], out_len, scale, antialias)
    w = w.astype(img.dtype, copy=False)
    moved = np.moveaxis(img, axis, 0)
    out = np.zeros((out_len,) + moved.shape[1:], dtype=img.dtype)
    # Output rows in bands of ~_BAND_VALUES values: temporaries stay a few MB whatever the image
    # size (the result is bitwise the same as all rows at once: the same operations per value).
    band = max(1, _BAND_VALUES // max(1, math.prod(moved.shape[1:])))
    shape = (-1,) + (1,) * (moved.ndim - 1)
    for a in range(0, out_len, band):
        b = min(out_len, a + band)
        for k in range(idx.shape[1]):  # taps in order: the sum is accumulated as before
            out[a:b] += w[a:b, k].reshape(shape) * moved[idx[a:b, k]]
    return np.moveaxis(out, 0, axis)


def output_size(in_hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """``ceil(size * scale)`` per dimension, as MATLAB computes it."""
    return (int(math.ceil(scale * in_hw[0])), int(math.ceil(scale * in_hw[1])))


def imresize(
    img: np.ndarray,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
    antialias: bool = True,
) -> np.ndarray:
    """Resize an HW or HWC array like MATLAB's bicubic ``imresize``.

    Give ``scale`` (output/input, the same for both axes) or ``output_shape`` (H, W). The result is
    float64, or float32 when ``img`` is float32 (to save memory on large photos). Values are not
    clipped or rounded: the protocol keeps full precision between resizes.
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
        out_h, out_w = int(output_shape[0]), int(output_shape[1])
        if out_h < 1 or out_w < 1:
            raise ValueError(f"output shape must be positive, got {output_shape}")
        scales = (out_h / h, out_w / w)
    dtype = np.float32 if img.dtype == np.float32 else np.float64
    out = img.astype(dtype, copy=False)
    sizes = (out_h, out_w)
    for axis in sorted((0, 1), key=lambda a: scales[a]):  # stable: rows first on ties
        out = _resize_axis(out, axis, sizes[axis], scales[axis], antialias)
    return out

"""BT.601 colour conversion exactly as MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` define it.

Float images are HWC in [0, 1]; Y spans [16, 235]/255 and Cb/Cr [16, 240]/255 ("studio swing").
"""

from __future__ import annotations

import numpy as np

from drrn_core.bands import row_bands

_T = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=np.float64,
)
_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64)
_T_INV = np.linalg.inv(_T)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Float RGB HWC in [0, 1] -> float YCbCr HWC in [0, 1] (no rounding)."""
    rgb = np.asarray(rgb)
    out = rgb.astype(np.float64, copy=False) @ _T.T + _OFFSET
    return (out / 255.0).astype(np.float32 if rgb.dtype == np.float32 else np.float64)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Float YCbCr HWC in [0, 1] -> float RGB HWC, unclipped (clip when quantising)."""
    ycbcr = np.asarray(ycbcr)
    out = (ycbcr.astype(np.float64, copy=False) * 255.0 - _OFFSET) @ _T_INV.T
    return out.astype(np.float32 if ycbcr.dtype == np.float32 else np.float64)


def rgb_to_y_u8(rgb_u8: np.ndarray) -> np.ndarray:
    """uint8 RGB HWC -> uint8 Y, as MATLAB's ``rgb2ycbcr`` of a uint8 image (round half away)."""
    if rgb_u8.dtype != np.uint8 or rgb_u8.ndim != 3 or rgb_u8.shape[2] != 3:
        raise ValueError(f"expected uint8 HxWx3, got {rgb_u8.dtype} {rgb_u8.shape}")
    out = np.empty(rgb_u8.shape[:2], np.uint8)
    for rows in row_bands(rgb_u8.shape[0], rgb_u8.shape[1]):  # bounded float64 temporaries
        y = 16.0 + rgb_u8[rows].astype(np.float64) @ _T[0] / 255.0
        out[rows] = np.floor(y + 0.5).clip(0, 255)
    return out

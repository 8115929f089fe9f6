"""modcrop and shave, the two crops of the evaluation protocol (arrays HW or HWC)."""

from __future__ import annotations

import numpy as np


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop bottom/right so height and width are multiples of the integer ``scale``."""
    s = int(scale)
    if s != scale or s < 1:
        raise ValueError(f"modcrop needs a positive integer scale, got {scale}")
    h, w = img.shape[:2]
    return img[: h - h % s, : w - w % s, ...]


def shave(img: np.ndarray, border: int) -> np.ndarray:
    """Remove ``border`` pixels from every side (border 0 returns the image unchanged)."""
    b = int(border)
    if b < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    if b == 0:
        return img
    if img.shape[0] <= 2 * b or img.shape[1] <= 2 * b:
        raise ValueError(f"image {img.shape[:2]} is too small to shave {b} px per side")
    return img[b:-b, b:-b, ...]

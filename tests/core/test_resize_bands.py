"""Bicubic resizing in row bands (bounded temporaries) gives bitwise the same result as one band."""

from __future__ import annotations

import numpy as np
import pytest

from drrn_core.imaging import resize


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(37, 53), (64, 48, 3), (301, 17, 4)])
def test_bands_do_not_change_a_bit(monkeypatch, dtype, shape):
    img = np.random.default_rng(0).random(shape).astype(dtype)
    cases = [dict(scale=2.0), dict(scale=3.0), dict(scale=0.5), dict(scale=1 / 3),
             dict(scale=2.5), dict(output_shape=(50, 70))]
    whole = [resize.imresize(img, **kw) for kw in cases]
    monkeypatch.setattr(resize, "_BAND_VALUES", 257)  # many small bands, uneven last one
    for kw, expected in zip(cases, whole, strict=True):
        banded = resize.imresize(img, **kw)
        assert banded.dtype == expected.dtype and np.array_equal(banded, expected), kw

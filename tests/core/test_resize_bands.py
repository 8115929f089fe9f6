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


@pytest.mark.parametrize("kw", [dict(scale=2.0), dict(scale=0.25), dict(output_shape=(50, 70)),
                                dict(output_shape=(90, 20))])
def test_a_band_of_rows_equals_the_same_rows_of_the_whole(kw):
    img = np.random.default_rng(1).random((41, 33, 3)).astype(np.float32)
    whole = resize.imresize(img, **kw)
    n = whole.shape[0]
    for a, b in ((0, 1), (0, n), (n // 3, n // 2 + 1), (n - 1, n)):
        assert np.array_equal(resize.imresize(img, **kw, rows=(a, b)), whole[a:b]), (a, b)
    with pytest.raises(ValueError, match="rows"):
        resize.imresize(img, **kw, rows=(n, n + 1))


def test_uint8_input_converted_band_by_band_is_unchanged():
    img = np.random.default_rng(2).integers(0, 256, (40, 30, 3), np.uint8)
    assert np.array_equal(resize.imresize(img, 0.5), resize.imresize(img.astype(np.float64), 0.5))

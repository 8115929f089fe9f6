"""The protocol's metrics in bands (bounded memory) give bitwise the numbers of the whole-image
formulas: PSNR by an exact integer sum, SSIM map rows per band and its mean in np.mean's own
summation order, quantisation and the GT luma per band."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from scipy.ndimage import correlate1d

from drrn_core.imaging.color import rgb_to_y_u8
from drrn_core.metrics import protocol

ssim_mod = importlib.import_module("drrn_core.metrics.ssim")
psnr_mod = importlib.import_module("drrn_core.metrics.psnr")


def _whole_ssim(ref: np.ndarray, dist: np.ndarray) -> float:
    """The whole-image SSIM as it was computed before banding (float64 copies, full maps)."""
    ref, dist = ref.astype(np.float64), dist.astype(np.float64)
    x = np.arange(11, dtype=np.float64) - 5.0
    g = np.exp(-(x * x) / (2.0 * 1.5 * 1.5))
    g /= g.sum()

    def filt(img):
        out = correlate1d(correlate1d(img, g, axis=0, mode="constant"), g, axis=1,
                          mode="constant")
        return out[5:-5, 5:-5]

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = filt(ref), filt(dist)
    s1, s2, s12 = filt(ref * ref) - mu1 * mu1, filt(dist * dist) - mu2 * mu2, \
        filt(ref * dist) - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (s1 + s2 + c2))
    return float(np.mean(m))


def _pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-12, 13, shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("shape", [(11, 11), (12, 40), (97, 83), (310, 257)])
def test_ssim_in_bands_is_bitwise_the_whole_map_mean(monkeypatch, shape):
    a, b = _pair(shape)
    expected = _whole_ssim(a, b)
    assert ssim_mod.ssim(a, b) == expected  # default bands: one band here
    monkeypatch.setattr(ssim_mod, "_BAND_PX", 700)  # many bands of rows
    monkeypatch.setattr(ssim_mod, "_LEAF", 256)  # and many summation blocks
    assert ssim_mod.ssim(a, b) == expected
    assert ssim_mod.ssim(a.astype(np.float64), b.astype(np.float64)) == expected
    h, w = shape
    assert np.mean(ssim_mod.ssim_map(a, b)) == expected
    assert ssim_mod.ssim_map(a, b).shape == (h - 10, w - 10)


def test_ssim_mean_follows_numpy_summation_on_a_large_map():
    """Over 2**16 map values the sum is split into blocks: still np.mean's exact value."""
    a, b = _pair((400, 700), seed=3)
    assert ssim_mod.ssim(a, b) == _whole_ssim(a, b)


@pytest.mark.parametrize("shape", [(7, 9), (301, 333)])
def test_psnr_of_integer_images_is_bitwise_the_float_formula(monkeypatch, shape):
    a, b = _pair(shape, seed=1)
    expected = 10.0 * np.log10(255.0**2 / float(np.mean((a.astype(float) - b) ** 2)))
    assert psnr_mod.psnr(a, b) == pytest.approx(expected, rel=0, abs=0)
    assert psnr_mod.psnr(a, b) == psnr_mod.psnr(a.astype(np.float64), b.astype(np.float64))
    assert psnr_mod.psnr(a, a) == float("inf")


def test_quantize_and_gt_luma_in_bands():
    rng = np.random.default_rng(2)
    y = rng.random((1500, 800)) * 1.2 - 0.1
    expected = np.clip(np.floor(y * 255.0 + 0.5), 0, 255).astype(np.uint8)
    assert np.array_equal(protocol.quantize(y), expected)
    rgb = rng.integers(0, 256, (1500, 800, 3)).astype(np.uint8)
    t = np.array([65.481, 128.553, 24.966])
    luma = np.floor(16.0 + rgb.astype(np.float64) @ t / 255.0 + 0.5).clip(0, 255)
    assert np.array_equal(rgb_to_y_u8(rgb), luma.astype(np.uint8))


def test_score_is_unchanged(astronaut_rgb):
    """score() now hands uint8 images to the metrics: the very numbers of float64 ones."""
    from drrn_core.metrics import ifc, psnr, ssim

    images = protocol.prepare(astronaut_rgb[:200, :160], 2)
    got = protocol.score(images.gt_y, images.ilr_y, 2)
    ref = protocol.shave(protocol.quantize(images.gt_y), 2).astype(np.float64)
    dist = protocol.shave(protocol.quantize(images.ilr_y), 2).astype(np.float64)
    assert got.psnr == psnr(ref, dist)
    assert got.ssim == _whole_ssim(ref, dist) == ssim(ref, dist)
    assert got.ifc == ifc(ref, dist)

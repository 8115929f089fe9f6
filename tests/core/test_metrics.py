"""PSNR and SSIM: conventions, properties, input checks and the scikit-image cross-check."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from drrn_core.metrics import psnr, ssim
from drrn_core.metrics.ssim import ssim_map


@pytest.fixture(scope="module")
def noisy(camera_grey: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 8, camera_grey.shape)
    return np.clip(camera_grey + noise, 0, 255).round().astype(np.uint8)


def test_identical_images_give_inf_psnr_and_unit_ssim(camera_grey):
    assert psnr(camera_grey, camera_grey) == math.inf
    assert ssim(camera_grey, camera_grey) == pytest.approx(1.0, abs=1e-12)


def test_psnr_known_value():
    ref = np.full((16, 16), 100, np.uint8)
    assert psnr(ref, ref + 1) == pytest.approx(10 * math.log10(255**2), abs=1e-12)  # MSE = 1
    dist = ref.astype(np.float64)
    dist[0, 0] += 16.0  # MSE = 1
    assert psnr(ref, dist) == pytest.approx(48.1308036, abs=1e-6)


def test_uint8_and_float_inputs_agree(camera_grey, noisy):
    a, b = camera_grey.astype(np.float32), noisy.astype(np.float64)
    assert psnr(a, b) == psnr(camera_grey, noisy)
    assert ssim(a, b) == ssim(camera_grey, noisy)


def test_psnr_and_ssim_are_symmetric(camera_grey, noisy):
    assert psnr(camera_grey, noisy) == pytest.approx(psnr(noisy, camera_grey), abs=1e-12)
    assert ssim(camera_grey, noisy) == pytest.approx(ssim(noisy, camera_grey), abs=1e-12)


def test_more_noise_scores_lower(camera_grey):
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, camera_grey.shape)
    scores = [
        (psnr(camera_grey, d), ssim(camera_grey, d))
        for d in (np.clip(camera_grey + sigma * noise, 0, 255) for sigma in (2, 5, 10, 20))
    ]
    assert all(a[0] > b[0] and a[1] > b[1] for a, b in zip(scores, scores[1:], strict=False))
    assert all(-1.0 <= s <= 1.0 for _, s in scores)


def test_crop_border_equals_slicing(camera_grey, noisy):
    b = 4
    inner = (slice(b, -b), slice(b, -b))
    assert psnr(camera_grey, noisy, crop_border=b) == psnr(camera_grey[inner], noisy[inner])
    assert ssim(camera_grey, noisy, crop_border=b) == ssim(camera_grey[inner], noisy[inner])


def test_ssim_matches_scikit_image_with_reference_settings(camera_grey, noisy):
    # skimage pads, then averages the map cropped by 5 px: the same 'valid' region as ssim_index.
    theirs = structural_similarity(
        camera_grey,
        noisy,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert ssim(camera_grey, noisy) == pytest.approx(theirs, abs=1e-10)
    # its defaults (7x7 uniform window, sample covariance) are a different measure
    assert abs(structural_similarity(camera_grey, noisy, data_range=255) - theirs) > 1e-3


def test_ssim_map_is_valid_region(camera_grey, noisy):
    assert ssim_map(camera_grey, noisy).shape == (502, 502)


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_shape_and_type_errors(metric):
    a = np.zeros((32, 32), np.uint8)
    with pytest.raises(ValueError, match="shape mismatch"):
        metric(a, np.zeros((32, 31)))
    with pytest.raises(ValueError, match="2-D"):
        metric(np.zeros((32, 32, 3)), np.zeros((32, 32, 3)))
    with pytest.raises(ValueError, match="numeric"):
        metric(a, a.astype(bool))
    with pytest.raises(ValueError, match="crop_border"):
        metric(a, a, crop_border=-1)
    with pytest.raises(ValueError, match="too small"):
        metric(a, a, crop_border=16)


def test_ssim_needs_a_full_window():
    a = np.zeros((10, 40))
    with pytest.raises(ValueError, match="11x11"):
        ssim(a, a)

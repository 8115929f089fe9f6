"""The evaluation protocol (one image), on scikit-image's images (no ../shared needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from drrn_core.imaging import imresize, rgb_to_y_u8
from drrn_core.imaging.io import ImageReadError
from drrn_core.metrics import evaluate_image, prepare, psnr, score
from drrn_core.metrics.protocol import check_scale, gt_luma, quantize, read_gt


@pytest.fixture(scope="module")
def small_rgb(astronaut_rgb: np.ndarray) -> np.ndarray:
    """A 130x151 RGB piece (odd sizes exercise modcrop; big enough for IFC after shaving)."""
    return astronaut_rgb[10:140, 200:351]



def test_gt_luma_conventions(small_rgb):
    y_u8 = rgb_to_y_u8(small_rgb)
    np.testing.assert_array_equal(gt_luma(small_rgb), y_u8 / 255.0)
    rgba = np.dstack([small_rgb, np.full(small_rgb.shape[:2], 7, np.uint8)])
    np.testing.assert_array_equal(gt_luma(rgba), y_u8 / 255.0)
    np.testing.assert_array_equal(gt_luma(small_rgb / 255.0), y_u8 / 255.0)
    np.testing.assert_array_equal(gt_luma(y_u8), y_u8 / 255.0)
    np.testing.assert_array_equal(gt_luma(y_u8[..., None]), y_u8 / 255.0)
    np.testing.assert_array_equal(gt_luma(y_u8.astype(np.uint16) * 257), y_u8 / 255.0)
    with pytest.raises(ValueError, match="HxW"):
        gt_luma(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        gt_luma(np.zeros((4, 4), np.int32))


@pytest.mark.parametrize("bad", [1, 0, 2.5, -3, "2", True, None, math.inf, math.nan])
def test_scale_must_be_an_integer_of_at_least_two(bad):
    with pytest.raises(ValueError, match="scale"):
        check_scale(bad)


def test_scale_accepts_integral_numbers():
    assert check_scale(3) == 3 and check_scale(4.0) == 4 and check_scale(np.int64(2)) == 2


def test_quantize_rounds_half_away_and_clips():
    x = np.array([-0.1, 0.5 / 255, 1.49 / 255, 254.5 / 255, 1.2])
    np.testing.assert_array_equal(quantize(x), [0, 1, 1, 255, 255])


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_prepare_steps_1_to_3(small_rgb, scale):
    images = prepare(small_rgb, scale)
    h, w = (n - n % scale for n in small_rgb.shape[:2])
    assert images.gt_y.shape == images.ilr_y.shape == (h, w)
    assert images.lr_y.shape == (h // scale, w // scale)
    assert images.scale == scale
    np.testing.assert_array_equal(images.gt_y, gt_luma(small_rgb)[:h, :w])
    np.testing.assert_allclose(images.lr_y, imresize(images.gt_y, 1 / scale), atol=0)
    np.testing.assert_allclose(images.ilr_y, imresize(images.lr_y, scale), atol=0)


def test_score_steps_4_to_8_by_hand(small_rgb):
    images = prepare(small_rgb, 3)
    result = score(images.gt_y, images.ilr_y, 3)
    gt = np.round(images.gt_y * 255)[3:-3, 3:-3]
    out = np.clip(np.floor(images.ilr_y * 255 + 0.5), 0, 255)[3:-3, 3:-3]
    assert result.psnr == pytest.approx(psnr(gt, out), abs=1e-12)
    assert 20 < result.psnr < 40 and 0.5 < result.ssim < 1 and result.ifc > 0


def test_evaluate_image_bicubic_and_restorers(small_rgb, tmp_path):
    bicubic = evaluate_image(small_rgb, 2, with_ifc=False)
    assert bicubic.ifc is None
    assert evaluate_image(small_rgb, 2, "bicubic", with_ifc=False) == bicubic
    Image.fromarray(small_rgb).save(tmp_path / "x.png")
    assert evaluate_image(tmp_path / "x.png", 2, with_ifc=False) == bicubic
    assert evaluate_image(str(tmp_path / "x.png"), 2, with_ifc=False) == bicubic

    gt_y = prepare(small_rgb, 2).gt_y
    perfect = evaluate_image(small_rgb, 2, lambda ilr: gt_y, with_ifc=False)
    assert perfect.psnr == math.inf and perfect.ssim == pytest.approx(1.0)
    sharper = evaluate_image(small_rgb, 2, lambda ilr: 0.5 * (ilr + gt_y), with_ifc=False)
    assert sharper.psnr > bicubic.psnr and sharper.ssim > bicubic.ssim


def test_restorer_output_is_checked(small_rgb):
    with pytest.raises(ValueError, match="restorer returned shape"):
        evaluate_image(small_rgb, 2, lambda ilr: ilr[1:], with_ifc=False)
    with pytest.raises(ValueError, match="unknown restorer"):
        evaluate_image(small_rgb, 2, "lanczos", with_ifc=False)



def test_ground_truth_over_the_pixel_limit_is_refused_before_decoding(tmp_path) -> None:
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(path)
    assert read_gt(path).shape == (20, 30, 3)
    with pytest.raises(ImageReadError, match="is over the .* MP limit"):
        read_gt(path, max_pixels=599)


def test_ifc_is_none_where_the_image_is_too_small_for_its_pyramid() -> None:
    """PSNR/SSIM of a tiny image are still measured; IFC (72 px per side after the shave) is
    undefined there, and so is the set's mean IFC."""
    from drrn_core.metrics.ifc import min_size

    rng = np.random.default_rng(0)
    for side, has_ifc in ((min_size() + 4 - 1, False), (min_size() + 4, True)):
        gt = rng.random((side, side))
        s = score(gt, np.clip(gt + rng.normal(0, 0.02, gt.shape), 0, 1), 2)
        assert math.isfinite(s.psnr) and math.isfinite(s.ssim)
        assert (s.ifc is not None) == has_ifc

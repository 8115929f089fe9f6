"""protocol.prepare_view and pair_scale: the images an evaluation view shows and scores come from
the protocol, read as `drrn bench` reads them (no EXIF rotation), for a GT or an LR + HR pair."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from drrn_core.imaging import imresize, io, rgb_to_ycbcr
from drrn_core.metrics import protocol


@pytest.fixture
def gt(astronaut_rgb) -> np.ndarray:
    """A 101x97 crop (not a multiple of 2, 3 or 4: modcrop matters)."""
    return np.ascontiguousarray(astronaut_rgb[80:181, 150:247])


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_view_images_are_the_protocol_images(gt, scale):
    view = protocol.prepare_view(gt, scale)
    ref = protocol.prepare(gt, scale)
    for field in ("gt_y", "lr_y", "ilr_y"):
        assert np.array_equal(getattr(view.images, field), getattr(ref, field)), field
    assert view.images.scale == scale
    # the displayed GT is the scored GT: modcropped, 8 bits, its luma is gt_y exactly
    assert view.gt.dtype == np.uint8 and view.gt.shape == (*ref.gt_y.shape, 3)
    assert np.array_equal(protocol.gt_luma(view.gt), ref.gt_y)
    # LR chroma is bicubic 1/s of the GT's; the displayed colour carries the scored luma
    h, w = ref.gt_y.shape
    cbcr = rgb_to_ycbcr(gt[:h, :w].astype(np.float64) / 255)[..., 1:]
    assert np.allclose(view.lr_cbcr, imresize(cbcr, 1 / scale))
    for y in (ref.lr_y, ref.ilr_y):
        rgb = view.colour(y)
        assert rgb.shape == (*y.shape, 3)
        inside = np.all((rgb > 0) & (rgb < 1), axis=2)
        assert inside.mean() > 0.9
        luma = rgb_to_ycbcr(rgb)[..., 0]
        assert np.abs(luma - np.clip(y, 0, 1))[inside].max() < 1e-9


def test_grey_and_alpha(gt, camera_grey):
    view = protocol.prepare_view(camera_grey[:99, :99], 3)
    assert view.lr_cbcr is None and view.ilr_cbcr is None
    assert view.colour(view.images.ilr_y).ndim == 2
    rgba = np.dstack([gt, np.full(gt.shape[:2], 7, np.uint8)])
    assert np.array_equal(protocol.prepare_view(rgba, 2).gt, protocol.prepare_view(gt, 2).gt)


def test_a_file_is_read_as_bench_reads_it_without_exif_rotation(tmp_path, gt):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees for display": MATLAB's imread and drrn bench ignore it
    path = tmp_path / "rotated.jpg"
    Image.fromarray(gt).save(path, exif=exif.tobytes(), quality=95)
    assert io.load_image(path).pixels.shape[:2] == (97, 101)  # the app's loader rotates
    view = protocol.prepare_view(path, 2)
    assert view.images.gt_y.shape == (100, 96)
    ref = protocol.prepare(protocol.read_gt(path), 2)
    assert np.array_equal(view.images.gt_y, ref.gt_y)
    assert protocol.score(view.images.gt_y, view.images.ilr_y, 2) == protocol.evaluate_image(
        path, 2, "bicubic")


def test_sixteen_bit_grey_is_reduced_as_the_protocol_does(tmp_path):
    rng = np.random.default_rng(0)
    grey16 = rng.integers(0, 65536, (60, 64), dtype=np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(grey16).save(path)
    view = protocol.prepare_view(path, 2)
    assert view.gt.dtype == np.uint8
    assert np.array_equal(view.images.gt_y, protocol.prepare(path, 2).gt_y)


def test_lr_hr_pair(gt, tmp_path):
    hr = gt[:99, :96]
    lr = np.clip(imresize(hr.astype(float) / 255, 1 / 3) * 255 + 0.5, 0, 255).astype(np.uint8)
    Image.fromarray(hr).save(tmp_path / "hr.png")
    Image.fromarray(lr).save(tmp_path / "lr.png")
    assert protocol.pair_scale(lr.shape, hr.shape) == 3
    for view in (protocol.prepare_view(hr, lr=lr),
                 protocol.prepare_view(tmp_path / "hr.png", 3, lr=tmp_path / "lr.png")):
        assert view.images.scale == 3
        assert np.array_equal(view.images.lr_y, protocol.gt_luma(lr))  # the given LR, as is
        assert np.array_equal(view.images.ilr_y, imresize(protocol.gt_luma(lr), 3.0))
        assert np.array_equal(view.images.gt_y, protocol.gt_luma(hr))
        assert view.lr_cbcr.shape == (33, 32, 2) and view.ilr_cbcr.shape == (99, 96, 2)
    with pytest.raises(ValueError, match="not 2"):
        protocol.prepare_view(hr, 2, lr=lr)


@pytest.mark.parametrize(("lr", "hr"), [((32, 32), (32, 32)), ((32, 32), (64, 65 + 32)),
                                        ((30, 20), (95, 60)), ((0, 5), (10, 10)),
                                        ((32, 32), (48, 48))])
def test_not_a_pair(lr, hr):
    with pytest.raises(ValueError, match="is not the LR image"):
        protocol.pair_scale(lr, hr)


def test_pair_scale_allows_a_cropped_remainder():
    assert protocol.pair_scale((33, 32), (100, 98)) == 3  # 100 // 3 == 33, 98 // 3 == 32
    assert protocol.pair_scale((16, 16), (64, 64)) == 4

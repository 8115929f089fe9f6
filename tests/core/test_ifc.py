"""IFC: the reference greyscale pairs, the pyramid it uses, and basic properties."""

from __future__ import annotations

import csv
import math

import numpy as np
import pyrtools
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from drrn_core import bands
from drrn_core.metrics import ifc
from drrn_core.metrics.ifc import BANDS, LEVELS, _channel, _materialised, _subbands, min_size


@pytest.mark.shared
def test_reference_pairs(shared_dir):
    folder = shared_dir / "data" / "reference" / "ifc_pairs"
    with open(folder / "ifc_pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    for row in rows:
        ref = np.asarray(Image.open(folder / row["reference"]))
        dist = np.asarray(Image.open(folder / row["distorted"]))
        expected = float(row["ifc"])
        assert ifc(ref, dist) == pytest.approx(expected, rel=1e-4), row


@pytest.mark.parametrize("band_values", [bands.BAND_VALUES, 700])
def test_subbands_are_pyrtools_steerable_pyramid_bands(camera_grey, monkeypatch, band_values):
    """Made in row bands (here one band, then many of 2-3 rows), each subband is value for value
    pyrtools' whole-image pyramid."""
    monkeypatch.setattr(bands, "BAND_VALUES", band_values)
    img = camera_grey[:200, :264]
    pyr = pyrtools.pyramids.SteerablePyramidSpace(img.astype(np.float64), LEVELS, order=5,
                                                  edge_type="reflect1")
    ours = [(k, _materialised(rows)) for k, rows in _subbands(img)]
    expected = [(LEVELS - lev, pyr.pyr_coeffs[(lev, b)]) for lev in range(LEVELS) for b in BANDS]
    assert [k for k, _ in ours] == [k for k, _ in expected]
    for (_, a), (_, b) in zip(ours, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def _whole_image_ifc(ref: np.ndarray, dist: np.ndarray) -> float:
    """IFC as it was computed before banding: whole subbands, the covariance of every 3x3
    vector by one matrix product, one sum over all terms (the formula of the module docstring,
    with the module's own channel estimate, checked separately against the reference pairs)."""
    def pyramid(img):
        pyr = pyrtools.pyramids.SteerablePyramidSpace(img.astype(np.float64), LEVELS, order=5,
                                                      edge_type="reflect1")
        return [(LEVELS - lev, pyr.pyr_coeffs[(lev, b)]) for lev in range(LEVELS) for b in BANDS]

    total = 0.0
    for (k, y), (_, yn) in zip(pyramid(ref), pyramid(dist), strict=True):
        hb, wb = y.shape[0] // 3, y.shape[1] // 3
        y, yn = y[:3 * hb, :3 * wb], yn[:3 * hb, :3 * wb]
        g, v = _channel(y, yn, k, 1, 3 * hb - 2)
        vecs = sliding_window_view(y, (3, 3)).reshape(-1, 9)
        vecs = vecs - vecs.mean(axis=0)
        cov = vecs.T @ vecs / len(vecs)
        blocks = y.reshape(hb, 3, wb, 3).transpose(0, 2, 1, 3).reshape(-1, 9)
        s = (np.sum((blocks @ np.linalg.inv(cov).T) * blocks, axis=1) / 9).reshape(hb, wb)
        o = math.ceil(2 ** (k - 1) / 3)
        snr = (g * g * s / (v + 1e-10))[o:-o, o:-o]
        total += float(np.sum(np.log2(1.0 + snr[..., None] * np.linalg.eigvalsh(cov))))
    return total / ref.size


def test_bands_change_nothing_and_match_the_whole_image_formula(camera_grey, monkeypatch):
    """IFC made in bands of rows (bounded memory) does not depend on the band size, and equals
    the whole-image computation up to float64 summation order."""
    ref = camera_grey[:240, :300]
    rng = np.random.default_rng(5)
    dist = np.clip(ref + rng.normal(0, 6, ref.shape), 0, 255).astype(np.uint8)
    one_band = ifc(ref, dist)
    assert one_band == pytest.approx(_whole_image_ifc(ref, dist), rel=1e-12, abs=0)
    monkeypatch.setattr(bands, "BAND_VALUES", 500)  # bands of 1-3 rows everywhere
    assert ifc(ref, dist) == one_band


@pytest.fixture(scope="module")
def crop(camera_grey: np.ndarray) -> np.ndarray:
    """A 200x240 piece of the cameraman (keeps these tests fast)."""
    return camera_grey[40:240, 150:390]


def test_more_distortion_gives_less_information(crop):
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, crop.shape)
    values = [ifc(crop, np.clip(crop + s * noise, 0, 255)) for s in (2, 8, 32)]
    assert values[0] > values[1] > values[2] > 0
    assert ifc(crop, crop) > values[0]


def test_reference_comes_first(crop):
    blurred = np.kron(pyrtools.blurDn(crop.astype(np.float64), 1), np.ones((2, 2)))
    assert ifc(crop, blurred) != pytest.approx(ifc(blurred, crop), rel=1e-3)


def test_uint8_and_float_agree(crop):
    dist = (crop // 16) * 16
    assert ifc(crop, dist) == ifc(crop.astype(np.float32), dist.astype(np.float64))


def test_input_checks():
    n = min_size()
    a = np.zeros((n, n))
    with pytest.raises(ValueError, match="shape mismatch"):
        ifc(a, np.zeros((n, n + 1)))
    with pytest.raises(ValueError, match=f"at least {n}"):
        ifc(a[:-1], a[:-1])
    with pytest.raises(ValueError, match="2-D"):
        ifc(np.zeros((n, n, 3)), np.zeros((n, n, 3)))

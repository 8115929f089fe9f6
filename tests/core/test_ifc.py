"""IFC: the reference greyscale pairs, the pyramid it uses, and basic properties."""

from __future__ import annotations

import csv

import numpy as np
import pyrtools
import pytest
from PIL import Image

from drrn_core.metrics import ifc
from drrn_core.metrics.ifc import BANDS, LEVELS, _subbands, min_size


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


def test_subbands_are_pyrtools_steerable_pyramid_bands(camera_grey):
    img = camera_grey[:200, :264].astype(np.float64)
    pyr = pyrtools.pyramids.SteerablePyramidSpace(img, LEVELS, order=5, edge_type="reflect1")
    ours = _subbands(img)
    expected = [(LEVELS - lev, pyr.pyr_coeffs[(lev, b)]) for lev in range(LEVELS) for b in BANDS]
    assert [k for k, _ in ours] == [k for k, _ in expected]
    for (_, a), (_, b) in zip(ours, expected, strict=True):
        np.testing.assert_array_equal(a, b)


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

"""HEIC and AVIF photos in the app: offered by the Open dialog, opened (path and drop) through
drrn_core's decoder allowlist, and upscaled; fixtures are encoded here from the astronaut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")


def encode(path: Path, rgb: np.ndarray) -> Path:
    if path.suffix == ".heic":
        Image.fromarray(rgb).save(path, format="HEIF", quality=-1)
    else:
        if not features.check("avif"):
            pytest.skip("this Pillow has no AVIF support")
        Image.fromarray(rgb).save(path, format="AVIF", quality=100)
    return path


def test_open_dialog_offers_heic_and_avif():
    from app.main_window import image_suffixes

    assert {".heic", ".heif", ".avif"} <= set(image_suffixes())


@pytest.mark.parametrize("suffix", [".heic", ".avif"])
def test_open_and_upscale_heic_avif(window, tmp_path, astro_crop, suffix, wait_idle):
    from app.main_window import is_image_path

    path = encode(tmp_path / f"photo{suffix}", astro_crop)
    assert is_image_path(path)  # so a drop of it is opened, not ignored
    window.compare.controls.scale.setValue(2)
    assert window.open_dropped([path])
    wait_idle(window)
    shown = window.compare.source.image
    assert shown.shape == astro_crop.shape
    assert np.abs(shown * 255.0 - astro_crop).mean() < 3.0  # the picture, not something else
    assert window.loaded.format == ("HEIF" if suffix == ".heic" else "AVIF")
    key, result = window.compare.result()
    assert result.shape[:2] == (96, 96)
    assert window.windowTitle().endswith(path.name)

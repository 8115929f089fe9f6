"""`drrn upscale` of an image with alpha to JPEG flattens it onto white and says so in one
`drrn:` line (drrn_core.imaging.io.save_image, the app's Save and Batch share it)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def test_rgba_to_jpeg_is_flattened_onto_white_with_one_notice(drrn, tmp_path):
    rgba = np.zeros((20, 24, 4), np.uint8)
    rgba[..., 1] = 255  # green everywhere, but the left half is fully transparent
    rgba[:, 12:, 3] = 255
    src = tmp_path / "logo.png"
    Image.fromarray(rgba).save(src)
    result = drrn("upscale", src, "-s", "2", "--model", "bicubic", "-o", tmp_path / "y.jpg")
    assert result.code == 0, result.err
    got = np.asarray(Image.open(tmp_path / "y.jpg").convert("RGB")).astype(int)
    assert np.abs(got[5:35, 2:14] - 255).max() <= 3  # white where it was transparent
    assert got[5:35, 34:46, 1].min() >= 240 and got[5:35, 34:46, 0].max() <= 15  # green kept
    lines = [line for line in result.err.splitlines() if "transparen" in line]
    assert lines == ["drrn: y.jpg: JPEG has no transparency, so the transparent parts were "
                     "flattened onto white (#ffffff)"]

"""HEIC and AVIF photos: read through the decoder allowlist (pillow-heif, Pillow's AVIF) and
upscaled by `drrn upscale`; fixtures are encoded here from scikit-image's astronaut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_error_line, sha256
from PIL import Image, features

from drrn_core.imaging.io import DECODERS, ImageReadError, load_image

pillow_heif = pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")


def encode(path: Path, rgb: np.ndarray) -> Path:
    """Write ``rgb`` (uint8 HxWx3) as HEIC or AVIF at the highest quality, by suffix."""
    im = Image.fromarray(rgb)
    if path.suffix == ".heic":
        im.save(path, format="HEIF", quality=-1)  # pillow-heif: -1 = lossless
    else:
        if not features.check("avif"):
            pytest.skip("this Pillow has no AVIF support")
        im.save(path, format="AVIF", quality=100)
    return path


@pytest.mark.parametrize("suffix", [".heic", ".avif"])
def test_load_heic_avif_matches_the_pixels(tmp_path, small_rgb, suffix):
    path = encode(tmp_path / f"photo{suffix}", small_rgb)
    loaded = load_image(path)
    assert loaded.format in DECODERS and loaded.format == ("HEIF" if suffix == ".heic" else "AVIF")
    assert loaded.pixels.shape == small_rgb.shape and loaded.bit_depth == 8
    diff = np.abs(loaded.pixels * 255.0 - small_rgb.astype(np.float32))
    assert diff.mean() < 3.0, diff.mean()  # a near-lossless encode of the same picture


@pytest.mark.parametrize("suffix", [".heic", ".avif"])
def test_upscale_heic_avif(drrn, tmp_path, small_rgb, suffix):
    src = encode(tmp_path / f"photo{suffix}", small_rgb)
    before = sha256(src)
    ref = tmp_path / "ref.png"
    Image.fromarray(small_rgb).save(ref)
    result = drrn("upscale", src, "-s", "2", "--model", "bicubic", "-o", tmp_path / "out.png")
    assert result.code == 0, result.err
    assert drrn("upscale", ref, "-s", "2", "--model", "bicubic", "-o",
                tmp_path / "ref_x2.png").code == 0
    out = np.asarray(Image.open(tmp_path / "out.png"), dtype=np.float32)
    want = np.asarray(Image.open(tmp_path / "ref_x2.png"), dtype=np.float32)
    h, w = small_rgb.shape[:2]
    assert out.shape == (2 * h, 2 * w, 3)
    assert np.abs(out - want).mean() < 3.0
    assert sha256(src) == before


def test_damaged_heic_is_one_line(drrn, tmp_path, small_rgb):
    good = encode(tmp_path / "good.heic", small_rgb).read_bytes()
    bad = tmp_path / "bad.heic"
    bad.write_bytes(good[: len(good) // 3])
    with pytest.raises(ImageReadError) as info:
        load_image(bad)
    assert "\n" not in str(info.value) and "bad.heic" in str(info.value)
    assert_one_error_line(drrn("upscale", bad, "-s", "2", "--model", "bicubic"), "bad.heic")


def test_heic_without_pillow_heif_is_one_line_naming_it(tmp_path, small_rgb):
    """The packaged app leaves pillow-heif out (GPL x265): a HEIC photo then gets one line that
    says what is missing, not "not an image"."""
    import subprocess
    import sys

    path = encode(tmp_path / "photo.heic", small_rgb)
    png = tmp_path / "photo.png"
    Image.fromarray(small_rgb).save(png)

    def upscale(src: Path, out: Path) -> subprocess.CompletedProcess:
        code = ("import sys; sys.modules['pillow_heif'] = None\n"  # as if it were not installed
                "from drrn_core.cli import main\n"
                f"sys.exit(main(['upscale', {str(src)!r}, '-s', '2', '--model', 'bicubic',"
                f" '-o', {str(out)!r}]))")
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, cwd=Path(__file__).resolve().parents[2])

    assert upscale(png, tmp_path / "png-out.png").returncode == 0  # other formats still open
    proc = upscale(path, tmp_path / "out.png")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("drrn: error: ") and "pillow-heif" in lines[0]
    assert "photo.heic" in lines[0]
    assert not (tmp_path / "out.png").exists()

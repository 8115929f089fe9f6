"""imaging.io: round trips (8/16-bit, alpha, grey), metadata, orientation, atomic writes, errors."""

from __future__ import annotations

import io as _io
import os

import numpy as np
import pytest
from PIL import Image

from drrn_core.imaging.io import (
    ImageReadError,
    ImageWriteError,
    load_image,
    load_image_bytes,
    save_image,
    unique_output_path,
)


@pytest.fixture()
def rgb(astronaut_rgb) -> np.ndarray:
    return astronaut_rgb[:24, :32]


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert text and "\n" not in text
    return text


@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp"])
def test_lossless_round_trip_rgba(tmp_path, rgb, suffix):
    alpha = np.linspace(0, 1, 24 * 32, dtype=np.float32).reshape(24, 32)
    path = save_image(tmp_path / f"a{suffix}", rgb / 255.0, alpha=alpha, quality=100)
    got = load_image(path)
    assert got.bit_depth == 8 and got.pixels.dtype == np.float32 and got.pixels.shape == (24, 32, 3)
    np.testing.assert_array_equal(np.round(got.pixels * 255), rgb)
    assert np.abs(got.alpha - alpha).max() <= 0.5 / 255 + 1e-6
    assert got.image.shape == (24, 32, 4)


def test_jpeg_drops_alpha_and_keeps_exif_icc(tmp_path, rgb):
    src = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x010F] = "DRRN camera"
    src.save(tmp_path / "in.jpg", exif=exif.tobytes(), icc_profile=b"fake-icc")
    loaded = load_image(tmp_path / "in.jpg")
    assert loaded.icc == b"fake-icc" and loaded.format == "JPEG"
    out = save_image(tmp_path / "out.jpg", loaded.image, alpha=np.ones((24, 32)), like=loaded)
    again = load_image(out)
    assert again.alpha is None and again.icc == b"fake-icc"
    assert Image.open(out).getexif()[0x010F] == "DRRN camera"


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_grey(tmp_path, suffix):
    grey = np.arange(600, dtype=np.float32).reshape(20, 30) / 599
    out = save_image(tmp_path / f"g{suffix}", grey, bit_depth=16)
    got = load_image(out)
    assert got.bit_depth == 16 and got.pixels.ndim == 2
    assert np.abs(got.pixels - grey).max() <= 0.5 / 65535 + 1e-7


def test_sixteen_bit_colour_tiff_and_png(tmp_path, rgb):
    img = rgb / 255.0 + 1 / 70000.0  # needs more than 8 bits
    got = load_image(save_image(tmp_path / "c.tif", img, bit_depth=16))
    assert got.bit_depth == 16 and np.abs(got.pixels - img).max() < 1e-4
    png = save_image(tmp_path / "c.png", img, alpha=np.full((24, 32), 0.5), bit_depth=16)
    assert Image.open(png).mode == "RGBA"  # a valid PNG (Pillow reads 16-bit colour at 8 bits)
    assert np.abs(load_image(png).pixels - img).max() < 1 / 255


def test_modes_palette_cmyk_la_1bit(tmp_path, rgb):
    im = Image.fromarray(rgb)
    im.quantize(16).save(tmp_path / "p.png")
    im.convert("CMYK").save(tmp_path / "c.jpg")
    Image.fromarray(rgb[..., 0]).convert("LA").save(tmp_path / "la.png")
    im.convert("1").save(tmp_path / "b.png")
    p = im.quantize(16)
    p.info["transparency"] = 0
    p.save(tmp_path / "pt.png", transparency=0)
    assert load_image(tmp_path / "p.png").pixels.shape == (24, 32, 3)
    assert load_image(tmp_path / "c.jpg").pixels.shape == (24, 32, 3)
    la = load_image(tmp_path / "la.png")
    assert la.pixels.shape == (24, 32) and la.alpha is not None and la.image.shape == (24, 32, 2)
    assert set(np.unique(load_image(tmp_path / "b.png").pixels)) <= {0.0, 1.0}
    assert load_image(tmp_path / "pt.png").alpha is not None


def test_exif_orientation_applied(tmp_path, rgb):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    Image.fromarray(rgb).save(tmp_path / "o.jpg", exif=exif.tobytes(), quality=100)
    got = load_image(tmp_path / "o.jpg")
    assert got.pixels.shape == (32, 24, 3)
    if got.exif:
        e = Image.Exif()
        e.load(got.exif)
        assert e.get(0x0112, 1) == 1


def test_load_bytes(rgb):
    buf = _io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    assert load_image_bytes(buf.getvalue()).pixels.shape == (24, 32, 3)
    with pytest.raises(ImageReadError) as e:
        load_image_bytes(b"not an image", name="clipboard")
    assert _one_line(e).startswith("clipboard:")


def test_read_errors_are_one_line(tmp_path, rgb):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello, I am not a PNG")
    Image.fromarray(rgb).save(tmp_path / "full.png")
    Image.fromarray(rgb).save(tmp_path / "full.jpg")
    for name in ("full.png", "full.jpg"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(data[: len(data) // 2])
    cases = {
        "missing.png": "not found", ".": "folder", "empty.png": "empty",
        "text.png": "not an image", "cut_full.png": "truncated", "cut_full.jpg": "truncated",
    }
    for name, words in cases.items():
        with pytest.raises(ImageReadError) as e:
            load_image(tmp_path / name)
        assert words in _one_line(e), name
    with pytest.raises(ImageReadError) as e:
        load_image(tmp_path / "full.png", max_pixels=100)
    assert "over the" in _one_line(e)


def test_write_errors_leave_nothing(tmp_path, rgb):
    img = rgb / 255.0
    with pytest.raises(ImageWriteError) as e:
        save_image(tmp_path / "nowhere" / "x.png", img)
    assert "does not exist" in _one_line(e)
    with pytest.raises(ImageWriteError) as e:
        save_image(tmp_path / "x.bmpx", img)
    assert "unknown image format" in _one_line(e)
    with pytest.raises(ImageWriteError):
        save_image(tmp_path / "bad.png", np.zeros((4, 4, 7)))
    if os.geteuid() != 0:  # root ignores folder permissions
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ImageWriteError) as e:
            save_image(locked / "x.png", img)
        assert "cannot write" in _one_line(e)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == []


def test_failed_encode_keeps_old_file(tmp_path, rgb, monkeypatch):
    target = save_image(tmp_path / "keep.png", rgb / 255.0)
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(ImageWriteError, match="disk full"):
        save_image(target, np.zeros((4, 4)))
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_unique_output_path(tmp_path):
    a = tmp_path / "photo_x2.png"
    assert unique_output_path(a) == a
    a.write_bytes(b"x")
    assert unique_output_path(a) == tmp_path / "photo_x2-2.png"
    assert unique_output_path(tmp_path / "b.png", avoid=(tmp_path / "b.png",)).name == "b-2.png"


# -- an image with alpha saved as JPEG is flattened onto a background, once said ---------------
def _rgba_with_hidden_colour(rgb: np.ndarray) -> np.ndarray:
    """RGBA uint8: the left half fully transparent over saturated green, the right half opaque."""
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:, :16, :3] = (0, 255, 0)
    rgba[:, :16, 3] = 0
    return rgba


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_jpeg_of_rgba_is_flattened_onto_white_with_one_notice(tmp_path, rgb, dtype):
    rgba = _rgba_with_hidden_colour(rgb)
    pixels = rgba if dtype == "uint8" else rgba.astype(np.float32) / 255
    notices: list[str] = []
    out = save_image(tmp_path / "out.jpg", pixels, quality=100, notice=notices.append)
    got = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert np.abs(got[4:-4, 2:12] - 255).max() <= 3  # white, not the green under alpha 0
    assert np.abs(got[4:-4, 20:30] - rgb[4:-4, 20:30].astype(int)).mean() < 4  # opaque: kept
    assert len(notices) == 1 and "out.jpg" in notices[0] and "white (#ffffff)" in notices[0]


def test_jpeg_background_is_chosen_and_grey_alpha_becomes_colour(tmp_path, rgb):
    grey = rgb[..., 0]
    la = np.dstack([grey, np.zeros_like(grey)])  # grey + alpha, all transparent
    notices: list[str] = []
    out = save_image(tmp_path / "la.jpg", la, quality=100, background=(200, 40, 10),
                     notice=notices.append)
    got = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert np.abs(got - np.array([200, 40, 10])).max() <= 8
    assert notices == ["la.jpg: JPEG has no transparency, so the transparent parts were "
                       "flattened onto #c8280a"]
    # a grey background keeps a grey image grey
    out = save_image(tmp_path / "la2.jpg", la, background=(0, 0, 0), notice=notices.append)
    assert Image.open(out).mode == "L" and np.asarray(Image.open(out)).max() <= 2


def test_opaque_alpha_and_other_formats_say_nothing(tmp_path, rgb, caplog):
    notices: list[str] = []
    opaque = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    save_image(tmp_path / "o.jpg", opaque, notice=notices.append)
    png = save_image(tmp_path / "t.png", _rgba_with_hidden_colour(rgb), notice=notices.append)
    assert notices == []
    assert load_image(png).alpha is not None  # PNG keeps the alpha, nothing flattened
    # without a notice callback the line goes to the module's logger (printed by the CLI)
    with caplog.at_level("WARNING", logger="drrn_core.imaging.io"):
        save_image(tmp_path / "t.jpg", _rgba_with_hidden_colour(rgb))
    assert [r.getMessage() for r in caplog.records] == [
        "t.jpg: JPEG has no transparency, so the transparent parts were flattened onto "
        "white (#ffffff)"]


def test_flatten_alpha_values():
    from drrn_core.imaging.io import flatten_alpha

    half = np.array([[[1.0, 0.0, 0.0, 0.5]]], np.float32)
    np.testing.assert_allclose(flatten_alpha(half, (0, 0, 255)), [[[0.5, 0.0, 0.5]]])
    u16 = np.array([[[65535, 0]]], np.uint16)  # grey + alpha, transparent white
    assert flatten_alpha(u16, (255, 255, 255)).tolist() == [[65535]]
    assert flatten_alpha(u16, (0, 0, 0)).dtype == np.uint16

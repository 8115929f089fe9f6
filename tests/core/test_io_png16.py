"""imaging.io reads 16-bit RGB/RGBA PNGs at 16 bits: every PNG row filter, metadata, orientation,
and `drrn upscale` keeps the 16 bits in its result."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from drrn_core.imaging.io import ImageReadError, load_image, load_image_bytes, save_image

FILTERS = {"None": 0, "Sub": 1, "Up": 2, "Average": 3, "Paeth": 4}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png16(q: np.ndarray, filters: list[int], chunks: tuple = ()) -> bytes:
    """A 16-bit RGB (HxWx3) or RGBA (HxWx4) PNG of ``q`` whose row r is filtered with
    ``filters[r % len(filters)]`` (PNG filter types 0-4, as the PNG specification defines them)."""
    h, w, c = q.shape
    bpp = 2 * c
    raw = q.astype(">u2").view(np.uint8).reshape(h, w * bpp).astype(np.int32)
    rows = np.empty((h, 1 + w * bpp), np.uint8)
    for r in range(h):
        kind = filters[r % len(filters)]
        x = raw[r]
        a = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])  # left
        b = raw[r - 1] if r else np.zeros_like(x)  # above
        c_ = np.concatenate([np.zeros(bpp, np.int32), b[:-bpp]])  # above left
        if kind == 0:
            pred = np.zeros_like(x)
        elif kind == 1:
            pred = a
        elif kind == 2:
            pred = b
        elif kind == 3:
            pred = (a + b) // 2
        else:
            p = a + b - c_
            pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c_)
            pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c_))
        rows[r, 0] = kind
        rows[r, 1:] = (x - pred) % 256
    ihdr = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[c], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + b"".join(_chunk(k, d) for k, d in chunks)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _chunk(b"IEND", b""))


def _samples(loaded) -> np.ndarray:
    """The 16-bit samples a LoadedImage holds (alpha last when there is one)."""
    image = loaded.image
    return np.round(image * 65535.0).astype(np.uint16)


@pytest.fixture()
def deep() -> np.ndarray:
    """37x29 RGBA samples with every byte of every value random (the low bytes included)."""
    return np.random.default_rng(3).integers(0, 65536, (37, 29, 4), dtype=np.uint16)


@pytest.mark.parametrize("name", list(FILTERS))
@pytest.mark.parametrize("channels", [3, 4])
def test_every_png_filter_decodes_to_the_exact_16_bit_samples(deep, name, channels):
    q = deep[..., :channels]
    got = load_image_bytes(encode_png16(q, [FILTERS[name]]))
    assert got.bit_depth == 16 and got.format == "PNG"
    assert (got.alpha is not None) == (channels == 4)
    np.testing.assert_array_equal(_samples(got), q)


def test_filters_mixed_row_by_row(deep):
    got = load_image_bytes(encode_png16(deep, [4, 0, 1, 3, 2]))
    np.testing.assert_array_equal(_samples(got), deep)


def test_values_that_differ_only_in_the_low_byte_survive_a_round_trip(tmp_path):
    high = np.full((20, 30, 3), 0x8000, np.uint16)
    low = np.arange(20 * 30 * 3, dtype=np.uint16).reshape(20, 30, 3) % 256
    q = high | low  # all samples share the high byte: an 8-bit read makes them one colour
    alpha = (np.arange(600, dtype=np.uint16).reshape(20, 30) % 256) | 0x4000
    exif = Image.Exif()
    exif[0x010F] = "DRRN camera"
    path = save_image(tmp_path / "deep.png", q, alpha=alpha, bit_depth=16, exif=exif.tobytes(),
                      icc=b"fake-icc")
    got = load_image(path)
    assert got.bit_depth == 16 and got.pixels.dtype == np.float32 and got.mode == "RGBA"
    np.testing.assert_array_equal(_samples(got), np.dstack([q, alpha]))
    assert got.icc == b"fake-icc"
    assert _exif_tags(got.exif)[0x010F] == "DRRN camera"
    again = load_image(save_image(tmp_path / "again.png", got.pixels, alpha=got.alpha, like=got))
    np.testing.assert_array_equal(_samples(again), np.dstack([q, alpha]))
    assert again.bit_depth == 16 and again.icc == b"fake-icc"
    assert _exif_tags(again.exif)[0x010F] == "DRRN camera"


def test_exif_orientation_is_applied_at_16_bits(deep):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encode_png16(deep[..., :3], [4], chunks=((b"eXIf", exif.tobytes()),))
    got = load_image_bytes(data)
    np.testing.assert_array_equal(_samples(got), np.rot90(deep[..., :3], -1))
    assert 0x0112 not in _exif_tags(got.exif)  # applied, so no longer in the EXIF


def _exif_tags(raw: bytes) -> dict:
    exif = Image.Exif()
    exif.load(raw)
    return dict(exif)


def test_a_truncated_16_bit_png_is_one_line(deep, tmp_path):
    data = encode_png16(deep, [4])
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError) as exc:
        load_image(path)
    assert "cut.png" in str(exc.value) and "\n" not in str(exc.value)


def test_drrn_upscale_writes_the_16_bit_result(tmp_path, capsys):
    from drrn_core.cli import main
    from drrn_core.engine import Upscaler
    from drrn_core.imaging.io import quantise

    rng = np.random.default_rng(5)
    ramp = np.cumsum(rng.integers(0, 300, (24, 20, 3)), axis=1).astype(np.uint16) + 1000
    source = tmp_path / "deep.png"
    source.write_bytes(encode_png16(ramp, [4, 1]))
    out = tmp_path / "deep_x2.png"
    code = main(["upscale", str(source), "-s", "2", "--model", "bicubic", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes()[24] == 16  # IHDR bit depth
    written = _samples(load_image(out))
    expected = quantise(Upscaler(None).upscale(ramp.astype(np.float32) / 65535.0, scale=2),
                        65535)
    np.testing.assert_array_equal(written, expected)
    high_bytes_only = quantise(
        Upscaler(None).upscale((ramp >> 8).astype(np.float32) / 255.0, scale=2), 65535)
    assert not np.array_equal(written, high_bytes_only)  # the low bytes were used


def test_depth_note_names_the_formats_that_lose_bits(deep):
    from drrn_core.imaging.io import depth_note

    got = load_image_bytes(encode_png16(deep[..., :3], [0]))
    assert "16 bits" in depth_note(got, ".jpg") and "WEBP holds 8" in depth_note(got, ".webp")
    assert depth_note(got, ".png") == depth_note(got, ".TIF") == depth_note(None, ".jpg") == ""
    got.bit_depth = 8
    assert depth_note(got, ".jpg") == ""

"""Upscaler.upscale in row bands: bitwise the whole-image pipeline it replaced, integer outputs,
the per-tile callback, and bounded memory (numpy allocations traced, not timed)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from drrn_core.engine import Upscaler
from drrn_core.imaging import imresize, rgb_to_ycbcr, ycbcr_to_rgb
from drrn_core.imaging.io import quantise
from drrn_core.model import DRRN, DRRNConfig


def _whole_image_upscale(up: Upscaler, img: np.ndarray, scale=None, size=None) -> np.ndarray:
    """The pipeline as it was before banding (whole-image YCbCr copy, whole ILR of every plane,
    restore_y on the whole ILR Y, colour back in ~1 Mpx row bands): the reference."""
    out_hw = up.output_shape(img.shape[:2], scale, size)

    def resize(a):
        return imresize(a, scale=float(scale)) if scale is not None else \
            imresize(a, output_shape=out_hw)

    def by_bands(src, dst, fn):
        rows = max(1, (1 << 20) // max(1, src.shape[1]))
        for r in range(0, src.shape[0], rows):
            dst[r:r + rows] = fn(src[r:r + rows])

    dtype = np.float32 if img.dtype == np.float32 else np.float64
    if img.ndim == 2:
        return up.restore_y(resize(img.astype(dtype, copy=False)))
    colour = img.shape[2] >= 3
    planes = np.empty(img.shape, dtype)
    if colour:
        by_bands(img[..., :3], planes[..., :3], rgb_to_ycbcr)
    planes[..., 3 if colour else 0:] = img[..., 3 if colour else 0:]
    ilr = resize(planes)
    ilr[..., 0] = up.restore_y(ilr[..., 0])
    if colour:
        by_bands(ilr[..., :3], ilr[..., :3], ycbcr_to_rgb)
    np.clip(ilr, 0.0, 1.0, out=ilr)
    return ilr


@pytest.fixture(scope="module")
def small_net() -> DRRN:
    torch.manual_seed(0)
    return DRRN(DRRNConfig(U=2, channels=8)).eval()


def _image(shape, dtype, sixteen=False) -> np.ndarray:
    rng = np.random.default_rng(sum(shape))
    levels = 65535 if sixteen else 255
    return (rng.integers(0, levels + 1, shape) / levels).astype(dtype)


SHAPES = [(37, 53, 3), (29, 41), (31, 22, 1), (27, 33, 2), (33, 30, 4)]
SCALES = [dict(scale=2), dict(scale=3), dict(scale=4), dict(scale=2.5), dict(scale=1.7),
          dict(size=(70, None)), dict(size=(45, 101))]


# Explicit tiles: one tile (512) and many small ones (23), whatever the automatic size is;
# another tiling differs in the last float bits (exact margins: equal up to rounding).
@pytest.mark.parametrize("tile", [512, 23])
@pytest.mark.parametrize("shape", SHAPES)
def test_banded_equals_the_whole_image_pipeline(small_net, tile, shape):
    up = Upscaler(small_net, device="cpu", precision="fp32", tile=tile)
    for dtype in (np.float32, np.float64):
        img = _image(shape, dtype)
        for kw in SCALES[::2] if dtype == np.float64 else SCALES[1::2]:
            expected = _whole_image_upscale(up, img, **kw)
            got = up.upscale(img, **kw)
            assert got.dtype == expected.dtype and got.shape == expected.shape, kw
            assert np.array_equal(got, expected), (dtype, kw)


@pytest.mark.parametrize("shape", SHAPES + [(301, 7, 3)])
def test_banded_bicubic_equals_the_whole_image_pipeline(monkeypatch, shape):
    from drrn_core.engine import upscale as module

    monkeypatch.setattr(module, "_CHUNK_PX", 300)  # many small bands of rows
    up = Upscaler(None)
    for dtype in (np.float32, np.float64):
        img = _image(shape, dtype)
        for kw in SCALES:
            got = up.upscale(img, **kw)
            assert np.array_equal(got, _whole_image_upscale(up, img, **kw)), (dtype, kw)


@pytest.mark.parametrize("shape", [(37, 53, 3), (29, 41), (33, 30, 4), (27, 33, 2)])
@pytest.mark.parametrize("out_dtype", [np.uint8, np.uint16])
def test_integer_output_is_the_saved_quantisation_of_the_float_result(small_net, shape,
                                                                       out_dtype):
    up = Upscaler(small_net, device="cpu", precision="fp32", tile=20)
    img = _image(shape, np.float32, sixteen=out_dtype == np.uint16)
    top = 255 if out_dtype == np.uint8 else 65535
    for kw in (dict(scale=2), dict(scale=3), dict(scale=2.5)):
        got = up.upscale(img, out_dtype=out_dtype, **kw)
        assert got.dtype == out_dtype
        assert np.array_equal(got, quantise(up.upscale(img, **kw), top)), kw


def test_out_dtype_other_than_uint8_or_uint16_is_refused():
    with pytest.raises(ValueError, match="out_dtype"):
        Upscaler(None).upscale(np.zeros((4, 4), np.float32), scale=2, out_dtype=np.int32)


@pytest.mark.parametrize("model", [None, "net"])
@pytest.mark.parametrize("out_dtype", [None, np.uint8])
def test_tile_callback_covers_the_output_once_with_the_final_pixels(small_net, model,
                                                                    out_dtype, monkeypatch):
    from drrn_core.engine import upscale as module

    monkeypatch.setattr(module, "_CHUNK_PX", 500)
    up = Upscaler(small_net if model else None, device="cpu", precision="fp32", tile=17)
    img = _image((41, 37, 4), np.float32)
    calls = []
    out = up.upscale(img, scale=2, out_dtype=out_dtype,
                     on_tile=lambda rect, px: calls.append((rect, px)))
    assert len(calls) > 4  # tiles (or bands) arrive one by one
    count = np.zeros(out.shape[:2], np.int32)
    painted = np.zeros_like(out)
    for (y0, y1, x0, x1), px in calls:
        assert px.shape == (y1 - y0, x1 - x0, 4) and px.dtype == out.dtype
        count[y0:y1, x0:x1] += 1
        painted[y0:y1, x0:x1] = px
    assert (count == 1).all()
    assert np.array_equal(painted, out)


def test_tiles_are_reported_before_the_run_ends(small_net):
    """A callback sees a finished tile while later tiles are still to run (the output so far is
    already final there)."""
    up = Upscaler(small_net, device="cpu", precision="fp32", tile=16)
    img = _image((40, 40, 3), np.float32)
    seen: list[float] = []
    progress: list[float] = []
    up.upscale(img, scale=2, progress=progress.append,
               on_tile=lambda rect, px: seen.append(progress[-1]))
    assert seen[0] < 0.5 and len(seen) == 25


def test_memory_stays_banded(monkeypatch):
    """No whole-image float buffer besides the input and the result: numpy's allocations
    (traced) peak at the uint8 result plus bands, far below one float32 output plane."""
    from drrn_core.engine import upscale as module

    monkeypatch.setattr(module, "_CHUNK_PX", 40_000)  # bands of ~1 Mpx on real photos
    img = _image((600, 500, 3), np.float32)
    up = Upscaler(None)
    up.upscale(img[:8, :8], scale=2)  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        out = up.upscale(img, scale=2, out_dtype=np.uint8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out_plane_f32 = out.shape[0] * out.shape[1] * 4
    assert peak < out.nbytes + 0.9 * out_plane_f32  # the old pipeline: > 9 output planes

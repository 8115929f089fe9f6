"""Upscaler: tiled == untiled, colour/grey/alpha layouts, sizes, progress, cancel, OOM fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drrn_core.engine import Cancelled, OutOfMemory, Upscaler
from drrn_core.imaging import imresize, rgb_to_ycbcr, ycbcr_to_rgb
from drrn_core.model import DRRN, DRRNConfig


@pytest.fixture(scope="module")
def tiny() -> DRRN:
    torch.manual_seed(0)
    model = DRRN(DRRNConfig(U=2, channels=8, batchnorm=True))
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _reference(model: DRRN, ilr: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = model(torch.from_numpy(ilr.astype(np.float32))[None, None])[0, 0].numpy()
    return np.clip(out, 0, 1)


@pytest.mark.parametrize("precision", ["fp32", "fp32-fast"])
def test_tiled_equals_untiled(tiny, precision):
    rng = np.random.default_rng(1)
    ilr = rng.random((61, 53))
    whole = Upscaler(tiny, device="cpu", precision=precision).restore_y(ilr)
    up = Upscaler(tiny, device="cpu", precision=precision, tile=16)
    assert up.tile_size(ilr.shape) == 16  # 4x4 tiles with margins of depth 6
    tiled = up.restore_y(ilr)
    assert tiled.dtype == np.float64 and tiled.shape == ilr.shape
    assert np.abs(tiled - whole).max() < 1e-5
    tol = 1e-5 if precision == "fp32" else 1e-4
    assert np.abs(whole - _reference(tiny, ilr)).max() < tol


def test_colour_pipeline_matches_manual(tiny, astronaut_rgb):
    rgb = astronaut_rgb[100:140, 200:236].astype(np.float32) / 255
    out = Upscaler(tiny, device="cpu", precision="fp32", tile=24).upscale(rgb, scale=2)
    assert out.shape == (80, 72, 3) and out.dtype == np.float32
    ycc = imresize(rgb_to_ycbcr(rgb), scale=2.0)
    ycc[..., 0] = _reference(tiny, ycc[..., 0])
    assert np.abs(out - np.clip(ycbcr_to_rgb(ycc), 0, 1)).max() < 1e-5


def test_bicubic_without_model(camera_grey):
    grey = camera_grey[:30, :40] / 255.0
    out = Upscaler(None).upscale(grey, scale=2.5)
    assert out.shape == (75, 100) and out.dtype == np.float64
    np.testing.assert_allclose(out, np.clip(imresize(grey, scale=2.5), 0, 1))
    assert Upscaler(None).description == "bicubic (no model)"


@pytest.mark.parametrize("channels", [1, 2, 4])
def test_layouts_and_sizes(tiny, channels):
    img = np.random.default_rng(2).random((20, 30, channels)).astype(np.float32)
    up = Upscaler(tiny, device="cpu", precision="fp32")
    assert up.upscale(img, size=(50, None)).shape == (50, 75, channels)
    assert up.upscale(img, size=(None, 45)).shape == (30, 45, channels)
    assert up.upscale(img, scale=3).shape == (60, 90, channels)
    if channels in (2, 4):  # alpha is plain bicubic
        alpha = up.upscale(img, scale=2)[..., -1]
        np.testing.assert_allclose(alpha, np.clip(imresize(img[..., -1], scale=2.0), 0, 1),
                                   atol=1e-6)


def test_bad_arguments(tiny):
    up = Upscaler(tiny, device="cpu")
    img = np.zeros((8, 8), np.float32)
    with pytest.raises(ValueError, match="at least 1"):
        up.upscale(img, scale=0.5)
    with pytest.raises(ValueError, match="exactly one"):
        up.upscale(img)
    with pytest.raises(ValueError, match="float"):
        up.upscale(np.zeros((8, 8), np.uint8), scale=2)


def test_progress_and_cancel(tiny):
    ilr = np.random.default_rng(3).random((40, 40))
    seen: list[float] = []
    Upscaler(tiny, device="cpu", tile=16).restore_y(ilr, progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen) and len(seen) == 10
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        Upscaler(tiny, device="cpu", tile=16).restore_y(ilr, cancel=lambda: next(calls) >= 3)


def test_ensemble_is_exact_when_tiled(tiny):
    ilr = np.random.default_rng(4).random((30, 26)).astype(np.float32)
    a = Upscaler(tiny, device="cpu", precision="fp32", ensemble=True).restore_y(ilr)
    b = Upscaler(tiny, device="cpu", precision="fp32", ensemble=True, tile=12).restore_y(ilr)
    assert a.dtype == np.float32 and np.abs(a - b).max() < 1e-5


class _FlakyBackend:
    """Pretends to be a GPU that runs out of memory above ``limit`` padded pixels."""

    def __init__(self, real, limit: int) -> None:
        self.real, self.limit, self.device = real, limit, torch.device("cuda")

    def run(self, x):
        if x.size > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.real.run(x)


def test_oom_retries_smaller_tiles(tiny):
    ilr = np.random.default_rng(5).random((64, 64))
    want = Upscaler(tiny, device="cpu", precision="fp32").restore_y(ilr)
    up = Upscaler(tiny, device="cpu", precision="fp32", notice=(notes := []).append)
    up._backend = _FlakyBackend(up._backend, limit=50 * 50)
    got = up.restore_y(ilr)
    assert np.abs(got - want).max() < 1e-5
    assert notes and "smaller tiles" in notes[0] and up.tile < 64


def test_oom_falls_back_to_cpu(tiny):
    ilr = np.random.default_rng(6).random((40, 40))
    want = Upscaler(tiny, device="cpu", precision="fp32").restore_y(ilr)
    up = Upscaler(tiny, device="cpu", precision="fp32", tile=20, notice=(notes := []).append)
    up._backend, up.device = _FlakyBackend(up._backend, limit=0), torch.device("cuda")
    got = up.restore_y(ilr)
    assert any("continuing on the CPU" in n for n in notes)
    assert up.device.type == "cpu" and np.abs(got - want).max() < 1e-4


def test_nnpack_failure_falls_back_to_exact_fp32(tiny):
    ilr = np.random.default_rng(7).random((30, 30))
    up = Upscaler(tiny, device="cpu", precision="fp32-fast", notice=(notes := []).append)

    class Broken:
        device = torch.device("cpu")

        def run(self, x):
            raise RuntimeError("NNPACK SpatialConvolution_updateOutput failed")

    up._backend = Broken()
    got = up.restore_y(ilr)
    assert up.precision == "fp32" and "NNPACK" in notes[0]
    assert np.abs(got - _reference(tiny, ilr)).max() < 1e-5


def test_oom_on_cpu_at_min_tile_is_reported(tiny):
    up = Upscaler(tiny, device="cpu", precision="fp32", tile=32)
    up._backend = _FlakyBackend(up._backend, limit=0)
    up._backend.device = torch.device("cpu")
    with pytest.raises(OutOfMemory, match="Out of memory"):
        up.restore_y(np.zeros((40, 40)))


def test_budget_picks_bounded_tiles(tiny):
    up = Upscaler(DRRN(DRRNConfig()), device="cpu", precision="fp32", memory_mb=256)
    side = up.tile_size((4000, 3000))
    assert side is not None and 100 <= side <= 300
    assert up.tile_size((64, 64)) is None


def test_cpu_tiles_are_capped_for_cache_whatever_the_budget():
    from drrn_core.engine.tiling import CPU_MAX_TILE

    up = Upscaler(DRRN(DRRNConfig()), device="cpu", precision="fp32", memory_mb=8192)
    assert up.tile_size((4000, 3000)) == CPU_MAX_TILE
    assert up.tile_size((200, 200)) is None  # one piece when the whole image is small


@pytest.mark.slow
def test_compiled_network_gives_the_eager_result(tiny):
    """torch.compile (inductor, frozen BatchNorm and weights) on tiles of two shapes."""
    ilr = np.random.default_rng(7).random((40, 36)).astype(np.float32)
    up = Upscaler(tiny, device="cpu", precision="fp32", tile=20, compile=True,
                  notice=(notes := []).append)
    got = up.restore_y(ilr)
    assert notes == [] and "torch.compile" in up.description
    assert np.abs(got - _reference(tiny, ilr)).max() < 1e-4


def test_a_failing_compile_falls_back_to_eager(tiny, monkeypatch):
    def broken(*_args, **_kwargs):
        def run(_x):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore detail")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    ilr = np.random.default_rng(8).random((30, 30))
    up = Upscaler(tiny, device="cpu", precision="fp32", compile=True, notice=(notes := []).append)
    got = up.restore_y(ilr)
    assert notes == ["torch.compile failed (InvalidCxxCompiler: No working C++ compiler found); "
                     "continuing without it."]
    assert "torch.compile" not in up.description
    assert np.abs(got - _reference(tiny, ilr)).max() < 1e-5

"""Cancel lands within one recursive unit (eager PyTorch) or one tile (ncnn), and automatic tiles
are sized from the calibrated rate so that neither stretch is longer than CANCEL_S."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drrn_core.engine import Cancelled, Upscaler, estimate
from drrn_core.engine import upscale as engine
from drrn_core.model import DRRN, DRRNConfig


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DRRN_CACHE_DIR", str(tmp_path / "cache"))


def _net(U: int = 6, channels: int = 8) -> DRRN:
    torch.manual_seed(0)
    return DRRN(DRRNConfig(U=U, channels=channels)).eval()


def _conv_counter(net: DRRN, monkeypatch=None) -> list[int]:
    """Counts convolution calls (shared weights count once per use), also the NNPACK ones of
    fp32-fast when ``monkeypatch`` is given."""
    calls = [0]
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    if monkeypatch is not None:
        from drrn_core.engine import runner

        real = runner._nnpack_conv

        def counted(x, conv):
            calls[0] += 1
            return real(x, conv)

        monkeypatch.setattr(runner, "_nnpack_conv", counted)
    return calls


@pytest.mark.parametrize("precision", ["fp32", "fp32-fast"])
def test_cancel_mid_tile_stops_within_one_unit(precision, monkeypatch):
    """The flag turns True in the middle of the only tile: Cancelled comes after at most one
    more unit (2 convolutions), not after the remaining 9 of the tile's 14."""
    net = _net(U=6)
    up = Upscaler(net, device="cpu", precision=precision)
    calls = _conv_counter(up._backend.model, monkeypatch)
    y = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    up.restore_y(y)
    per_tile = calls[0]
    assert up.tile_size(y.shape) is None and per_tile == 2 * 6 + 2  # one tile, hooks work
    calls[0] = 0
    at: list[int] = []

    def cancel() -> bool:
        if calls[0] >= 5 and not at:
            at.append(calls[0])
        return bool(at)

    with pytest.raises(Cancelled):
        up.restore_y(y, cancel=cancel)
    assert at and calls[0] - at[0] <= 2 < per_tile - at[0]


def test_upscale_cancel_mid_tile_raises_and_keeps_nothing():
    net = _net(U=4)
    up = Upscaler(net, device="cpu", precision="fp32", tile=16)
    calls = _conv_counter(up._backend.model)
    img = np.random.default_rng(1).random((30, 30, 3)).astype(np.float32)
    tiles: list = []
    with pytest.raises(Cancelled):
        up.upscale(img, scale=2, cancel=lambda: calls[0] >= 3 * 10 + 4,
                   on_tile=lambda rect, px: tiles.append(rect))
    assert len(tiles) == 3  # three whole tiles were delivered, the fourth was abandoned


def _calibrate(up: Upscaler, seconds_per_px: float) -> None:
    """A cached calibration saying every padded pixel costs ``seconds_per_px``."""
    estimate._store(estimate.network_key(up), {"points": [(4096, seconds_per_px),
                                                          (90000, seconds_per_px)]})


def test_tiles_shrink_so_a_unit_fits_the_cancel_stretch():
    up = Upscaler(_net(U=9, channels=16), device="cpu", precision="fp32")
    shape = (2000, 2000)
    uncalibrated = up.tile_size(shape)
    _calibrate(up, 1e-4)  # a slow path: a 296 px padded tile would take 8.8 s
    side = up.tile_size(shape)
    padded = (side + 2 * up.margin) ** 2
    stretches = 9  # eager PyTorch checks between the 9 units
    assert side < uncalibrated
    assert padded * 1e-4 <= engine.CANCEL_S * stretches
    assert ((side + 8 + 2 * up.margin) ** 2) * 1e-4 > engine.CANCEL_S * stretches
    _calibrate(up, 1e-9)  # a fast path: the usual tiles stay
    assert up.tile_size(shape) == uncalibrated


def test_small_image_that_would_run_whole_is_tiled_when_slow():
    up = Upscaler(_net(U=9, channels=16), device="cpu", precision="fp32")
    assert up.tile_size((200, 200)) is None
    _calibrate(up, 1e-3)
    assert up.tile_size((200, 200)) == engine.CANCEL_MIN_TILE  # the floor: margins dominate


def test_ncnn_tiles_fit_the_cancel_stretch_and_cancel_between_tiles():
    pytest.importorskip("ncnn", reason="ncnn is not installed (pip install ncnn)")
    up = Upscaler(_net(U=3), device="cpu", backend="ncnn")
    if up.backend != "ncnn":
        pytest.skip("ncnn did not load here")
    shape = (300, 300)
    _calibrate(up, 2e-5)  # 0.5 s = 25,000 px: padded side <= 158
    side = up.tile_size(shape)
    assert side is not None and (side + 2 * up.margin) ** 2 * 2e-5 <= engine.CANCEL_S
    assert (side + 8 + 2 * up.margin) ** 2 * 2e-5 > engine.CANCEL_S
    runs = [0]
    real = up._backend.run

    def counted(x):
        runs[0] += 1
        return real(x)

    up._backend.run = counted
    y = np.random.default_rng(2).random(shape).astype(np.float32)
    with pytest.raises(Cancelled):
        up.restore_y(y, cancel=lambda: runs[0] >= 2)
    assert runs[0] == 2  # no tile starts after the flag

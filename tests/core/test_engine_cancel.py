"""Cancel lands within one recursive unit (eager PyTorch) or at once for backends that cannot stop
inside a tile (ncnn, compiled graphs: the running tile is abandoned); automatic tiles never shrink
for cancel's sake, whatever the machine's recorded speed."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from drrn_core.engine import Cancelled, Upscaler, records
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
    records.put(up._path_key(), {"points": [[4096, seconds_per_px], [90000, seconds_per_px]]})


@pytest.mark.parametrize("shape", [(2000, 2000), (512, 512), (200, 200)])
def test_tiles_do_not_depend_on_the_recorded_speed(shape):
    """Tiles come from memory and cache only: a slow record (a busy machine, a slow path) does not
    shrink them (at 64 px the margins would make a tile ~2.6x the work of its core)."""
    up = Upscaler(_net(U=9, channels=16), device="cpu", precision="fp32")
    uncalibrated = up.tile_size(shape)
    _calibrate(up, 1e-3)  # 100 s for a 316 px padded tile
    assert up.tile_size(shape) == uncalibrated


def test_a_512_px_image_is_at_most_two_by_two_tiles_on_the_cpu():
    """Margin work stays small: 2x2 tiles of 256 px (1.16x the pixels), not 3x3 of 171."""
    from drrn_core.engine.tiling import plan_tiles

    for backend in ("torch", "ncnn"):
        up = Upscaler(DRRN(DRRNConfig()), device="cpu", backend=backend)
        tiles = plan_tiles((512, 512), up.tile_size((512, 512)), up.margin)
        work = sum((t.py1 - t.py0) * (t.px1 - t.px0) for t in tiles) / 512 ** 2
        assert len(tiles) <= 4 and work < 1.2, (backend, len(tiles), work)


class _SlowTile:
    """A backend whose every tile takes ``seconds`` and cannot be interrupted (as ncnn)."""

    compiled = False

    def __init__(self, seconds: float) -> None:
        self.seconds, self.started, self.finished = seconds, 0, 0

    def run(self, y: np.ndarray) -> np.ndarray:
        self.started += 1
        time.sleep(self.seconds)
        self.finished += 1
        return np.asarray(y, np.float32)


def test_cancel_abandons_a_tile_that_cannot_stop():
    """The caller is free within a poll or two of the flag; the tile finishes unseen, and a new
    run waits for it rather than running beside it."""
    up = Upscaler(_net(U=3), device="cpu", precision="fp32", tile=32)
    slow = _SlowTile(1.5)
    up._backend = slow
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()
    y = np.random.default_rng(2).random((100, 100)).astype(np.float32)
    with pytest.raises(Cancelled):
        up.restore_y(y, cancel=flag.is_set)
    assert slow.started == 1 and slow.finished == 0  # answered while the first tile still runs
    assert up._tile_lock.locked()  # ... held by the abandoned tile
    slow.seconds = 0.0
    out = up.restore_y(np.ones((20, 20), np.float32), cancel=lambda: False)
    assert slow.finished == 2 and np.all(out == 1.0)  # after the abandoned one ended


def test_ncnn_cancels_between_and_within_tiles():
    pytest.importorskip("ncnn", reason="ncnn is not installed (pip install ncnn)")
    up = Upscaler(_net(U=3), device="cpu", backend="ncnn", tile=40)
    if up.backend != "ncnn":
        pytest.skip("ncnn did not load here")
    runs = [0]
    real = up._backend.run

    def counted(x):
        runs[0] += 1
        return real(x)

    up._backend.run = counted
    y = np.random.default_rng(2).random((200, 200)).astype(np.float32)
    with pytest.raises(Cancelled):
        up.restore_y(y, cancel=lambda: runs[0] >= 2)
    assert runs[0] == 2  # no tile starts after the flag

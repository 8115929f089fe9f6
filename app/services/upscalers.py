"""Engine upscalers for the app's tabs (Compare, Benchmark, Batch), loaded once per model file,
device and precision on a worker thread and cached (no Qt here)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from drrn_core.metrics.protocol import BICUBIC

CPU_TILE: int | None = None
"""Core tile (px) of the app's CPU runs; None: the engine's automatic size (cancel does not wait
for a tile: the engine abandons one that cannot stop)."""


@dataclass
class _Cache:
    """Upscalers by (model, device, precision): loading weights once per choice."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    items: dict[tuple, object] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def notice(self, text: str) -> None:
        with self.lock:
            self.notices.append(text)

    def take_notices(self) -> list[str]:
        with self.lock:
            out, self.notices = self.notices, []
        return out


_CACHE = _Cache()


def weights_file(model: str) -> tuple[Path, tuple]:
    """The weights file of a model name (or path) and its identity (path, mtime, size)."""
    from drrn_core import weights

    path = Path(model)
    if not (path.suffix and path.is_file()):
        path = weights.find_model(model).path
    st = path.stat()
    return path, (str(path.resolve()), st.st_mtime_ns, st.st_size)


def model_spec(name: str, ensemble: bool) -> str:
    """The model spec upscaler_for takes: ``name``, followed by "+" (weights.ENSEMBLE_SUFFIX) for
    its self-ensemble when ``ensemble``; bicubic has none."""
    from drrn_core.weights import ENSEMBLE_SUFFIX

    return name + ENSEMBLE_SUFFIX if ensemble and name != BICUBIC else name


def upscaler_for(model: str, device: str = "auto", precision: str = "auto",
                 exact: bool = False):
    """An engine Upscaler for a model name or weights path (``"bicubic"``: no model), either
    followed by "+" for its self-ensemble (drrn_core.weights.split_ensemble).

    Cached by the weights file's identity, device, precision and ``exact``, so a replaced or
    different file of the same name is reloaded. Call on a worker thread (loading takes time).
    ``exact``: the engine exactly as ``drrn bench`` builds it (its own tile size), so the
    evaluate view reproduces the benchmark's numbers bit for bit; else CPU tiles of ``CPU_TILE``
    (exact margins: the same result up to float rounding).
    """
    from drrn_core.engine import Upscaler

    if model == BICUBIC:
        return Upscaler(None)
    from drrn_core import weights
    from drrn_core.engine.device import resolve_target

    name, ensemble = weights.split_ensemble(model)
    path, identity = weights_file(name)
    key = (identity, device, precision, exact, ensemble)
    with _CACHE.lock:
        if key in _CACHE.items:
            return _CACHE.items[key]
    cpu = resolve_target(device, precision).device.type == "cpu"
    tile = CPU_TILE if cpu and not exact else None
    up = Upscaler(weights.load_weights(path), device=device, precision=precision, tile=tile,
                  ensemble=ensemble, notice=_CACHE.notice)
    with _CACHE.lock:
        if len(_CACHE.items) >= 3:
            _CACHE.items.pop(next(iter(_CACHE.items)))
        _CACHE.items[key] = up
    return up


def forget_models() -> None:
    """Drop cached upscalers (after importing weights or a training run replaced a file)."""
    with _CACHE.lock:
        _CACHE.items.clear()


def take_notices() -> list[str]:
    """Notices the cached upscalers gave since the last call (e.g. a fallback), oldest first."""
    return _CACHE.take_notices()

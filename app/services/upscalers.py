"""Engine upscalers for the app's tabs (Compare, Benchmark, Batch), loaded once per model file,
device and precision on a worker thread and cached (no Qt here)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from drrn_core.metrics.protocol import BICUBIC

if TYPE_CHECKING:  # the engine imports torch: loaded on the worker thread, at first use
    from drrn_core.engine import Upscaler

CPU_TILE: int | None = None
"""Core tile (px) of the app's CPU runs; None: the engine's automatic size (cancel does not wait
for a tile: the engine abandons one that cannot stop)."""


PER_OWNER = 2
"""Upscalers kept per owner (tab): the last choices, so switching back is instant."""


@dataclass
class _Cache:
    """Upscalers by (owner, model, device, precision): each tab has its own, so a change one tab's
    run makes to its engine (smaller tiles after running out of memory, a fallback to another
    backend) never reaches another tab's."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    items: dict[tuple, Upscaler] = field(default_factory=dict)


_CACHE = _Cache()
_JOB = threading.local()
"""Notices of the job running on this thread: every job runs on a thread of its own
(app.workers), so a notice lands with the job that caused it and no other."""


def _notice(text: str) -> None:
    """An upscaler's notice, kept for the job on the calling thread."""
    if not hasattr(_JOB, "notices"):
        _JOB.notices = []
    _JOB.notices.append(text)


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
                 exact: bool = False, owner: str = "compare") -> Upscaler:
    """An engine Upscaler for a model name or weights path (``"bicubic"``: no model), either
    followed by "+" for its self-ensemble (drrn_core.weights.split_ensemble).

    Cached per ``owner`` (the tab asking: "compare", "batch", "benchmark") by the weights
    file's identity, device, precision and ``exact``, so a replaced or different file of the
    same name is reloaded and no tab's engine changes under another. Call on a worker thread
    (loading takes time).
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
    key = (owner, identity, device, precision, exact, ensemble)
    with _CACHE.lock:
        if key in _CACHE.items:
            _CACHE.items[key] = _CACHE.items.pop(key)  # the most recently used last
            return _CACHE.items[key]
    cpu = resolve_target(device, precision).device.type == "cpu"
    tile = CPU_TILE if cpu and not exact else None
    up = Upscaler(weights.load_weights(path), device=device, precision=precision, tile=tile,
                  ensemble=ensemble, notice=_notice)
    with _CACHE.lock:
        mine = [k for k in _CACHE.items if k[0] == owner]
        for old in mine[:max(0, len(mine) - PER_OWNER + 1)]:
            del _CACHE.items[old]
        _CACHE.items[key] = up
    return up


def forget_models() -> None:
    """Drop cached upscalers (after importing weights or a training run replaced a file)."""
    with _CACHE.lock:
        _CACHE.items.clear()


def take_notices() -> list[str]:
    """Notices the upscalers gave the job on this thread since its last call (e.g. a fallback),
    oldest first."""
    out = getattr(_JOB, "notices", [])
    _JOB.notices = []
    return out

"""The Upscaler: Y through DRRN at output size, Cb/Cr/alpha by MATLAB bicubic; tiled, cancellable.

Images are float arrays in [0, 1]: HW or HWx1 (grey, used as Y directly, as the protocol does),
HWx2 (grey + alpha), HWx3 (RGB) or HWx4 (RGBA); alpha, always last, is resized by bicubic.
Outputs keep the layout; float32 in gives float32 out (else float64); clipped to [0, 1].
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from drrn_core.descriptor import ModelDescriptor
from drrn_core.engine import autotune, calibration
from drrn_core.engine.contention import Meter
from drrn_core.engine.decide import decide, rule
from drrn_core.engine.device import PRECISIONS, DeviceError, Target, cpu_name, describe
from drrn_core.engine.ncnn_backend import NcnnBackend
from drrn_core.engine.ncnn_probe import NcnnError, probe_vulkan
from drrn_core.engine.runner import Backend, abandonable
from drrn_core.engine.tiling import (
    CPU_MAX_TILE,
    MIN_TILE,
    Tile,
    plan_tiles,
    retile,
    tile_for_budget,
)
from drrn_core.errors import UserError
from drrn_core.imaging.color import rgb_to_ycbcr, ycbcr_to_rgb
from drrn_core.imaging.io import quantise
from drrn_core.imaging.resize import imresize, output_size
from drrn_core.memory import release_free_memory
from drrn_core.model import DRRN
from drrn_core.weights import LoadedModel

Progress = Callable[[float], None]
Cancel = Callable[[], bool]
Notice = Callable[[str], None]
Rect = tuple[int, int, int, int]
"""(y0, y1, x0, x1): output rows y0..y1-1, columns x0..x1-1."""
TileCallback = Callable[[Rect, np.ndarray], None]
UpscalerModel = LoadedModel | DRRN | None
"""What an Upscaler runs: a loaded weights file (its descriptor decides precisions and the
smallest input), a bare DRRN network (default descriptor; e.g. training's validation) or None
(plain bicubic)."""

DEFAULT_BUDGET_MB = {"cpu": 768, "mps": 1024, "cuda": 4096, "vulkan": 2048}
"""Memory (MiB) for one tile's feature maps; CUDA also stays under half of the free memory,
Vulkan under half of ncnn's heap budget for the device."""
SOFTWARE_VULKAN_TILE = 64
"""Core tile side (px) on a software Vulkan driver (lavapipe): tiles there take seconds each, so
small ones keep progress moving and cancel prompt."""
_CHUNK_PX = 1 << 20  # rows per band without a model: ~1 Mpx (bounded temporaries)


class Cancelled(Exception):
    """Raised when ``cancel()`` returned True; nothing partial is returned."""


class OutOfMemory(UserError, MemoryError):
    """Even the smallest tiles did not fit (on the CPU, after any GPU fallback); one-line str()."""


class InputTooSmall(UserError, ValueError):
    """The input is smaller than the model's declared ``min_size``; one-line str()."""


def model_parts(model: UpscalerModel) -> tuple[DRRN | None, ModelDescriptor | None]:
    """(network, descriptor) of what an Upscaler is given; TypeError for anything but
    UpscalerModel."""
    if model is None:
        return None, None
    if isinstance(model, LoadedModel):
        return model.model, model.descriptor
    if isinstance(model, DRRN):
        return model, ModelDescriptor.for_config(model.config)
    raise TypeError("Upscaler(model=...) takes a weights.LoadedModel, a DRRN network or None "
                    f"(plain bicubic), not {type(model).__name__}")


def offered_precisions(model: UpscalerModel) -> tuple[str, ...]:
    """The engine's precisions (device.PRECISIONS) that ``model`` may run in, as its descriptor
    declares them ("fp32-fast" runs in fp32); () for bicubic. What a Precision box offers."""
    descriptor = model_parts(model)[1]
    return descriptor.offered(PRECISIONS) if descriptor is not None else ()


@dataclass(frozen=True)
class RunInfo:
    """What runs (after a run: what produced the result): backend "torch" | "ncnn" | "bicubic",
    device spec ("cpu", "cuda:0", "vulkan:0"), its name, precision, torch.compile in use, and
    ``text``, one line for a status bar."""

    backend: str
    device: str
    device_name: str
    precision: str
    compiled: bool
    text: str


class Upscaler:
    """Super-resolve images with a DRRN (or plain bicubic when ``model`` is None).

    model: UpscalerModel (TypeError for anything else). device: auto/cpu/cuda[:N]/mps/vulkan[:N].
    precision: auto/fp32/fp32-fast/bf16/fp16 (see ``engine.device``), among the model's
    ``precisions`` (its descriptor's: an explicit other one is a DeviceError, auto keeps to
    them). An input under the descriptor's ``min_size`` is refused (InputTooSmall) before any
    work. backend: auto/torch/ncnn
    (decided by ``engine.decide``: for a LoadedModel with auto precision and backend on device
    auto/cpu/cuda, the fastest path measured on this machine, once per model, cached; else the
    fixed rule; an ncnn failure falls back to PyTorch with a notice).
    tile: core tile side in px
    (None: from ``memory_mb``, the whole image when it fits). ensemble: average the 8 flips and
    rotations (8x slower). compile: torch.compile the network (each new tile shape compiles once,
    seconds; pays off over many tiles or images of one size). notice(str): one-line messages for
    the user (out-of-memory and compile fallbacks).
    """

    def __init__(self, model: UpscalerModel = None, device: str | torch.device = "auto",
                 precision: str = "auto",
                 tile: int | None = None, memory_mb: float | None = None, ensemble: bool = False,
                 compile: bool = False, notice: Notice | None = None,
                 backend: str = "auto") -> None:
        if tile is not None and tile < 1:
            raise ValueError(f"tile size must be positive, got {tile}")
        self.tile = tile
        self.memory_mb = memory_mb
        self.ensemble = ensemble
        self.compile = compile
        self.notice = notice or (lambda message: None)
        self.net, self.descriptor = model_parts(model)
        self.margin = self.descriptor.receptive_radius if self.descriptor else 0
        self._asked_precision = precision  # an ncnn fallback keeps an explicit exact fp32
        self.device, self.precision, self.backend = torch.device("cpu"), "fp32", "bicubic"
        self._backend: Backend | NcnnBackend | None = None
        self._tile_lock = threading.Lock()  # one tile at a time, an abandoned one included
        if self.net is not None and self.descriptor is not None:
            target = decide(model, device, precision, backend, self.notice, tile)
            if not self.descriptor.allows(target.precision) and \
                    str(precision).strip().lower() != "auto":
                raise DeviceError(
                    f"{self.descriptor.name} runs in {', '.join(self.precisions)} (as its "
                    f"weights file declares), not {target.precision}.")
            self._set_target(target)

    @property
    def precisions(self) -> tuple[str, ...]:
        """The engine's precisions this model may run in (``offered_precisions``)."""
        return self.descriptor.offered(PRECISIONS) if self.descriptor is not None else ()

    def _permitted(self, target: Target) -> Target:
        """``target``, or when the model does not declare its precision, fp32 on the same device
        (ncnn fp32, else PyTorch fp32-fast where it runs, else exact fp32), with a notice."""
        declared = self.descriptor
        if declared is None or declared.allows(target.precision):
            return target
        if target.backend == "ncnn":
            chosen = Target(target.device, "ncnn", "fp32")
        else:
            try:
                chosen = rule(target.device, "fp32-fast", "torch")
            except DeviceError:
                chosen = rule(target.device, "fp32", "torch")
        self.notice(f"{declared.name} runs in {', '.join(declared.precisions)} "
                    f"(as its weights file declares): {chosen.precision} instead of "
                    f"{target.precision}.")
        return chosen

    def _model(self) -> tuple[DRRN, ModelDescriptor]:
        """The network and its descriptor (only called where the Upscaler has a model)."""
        if self.net is None or self.descriptor is None:
            raise RuntimeError("this Upscaler runs plain bicubic: it has no network")
        return self.net, self.descriptor

    def _set_target(self, target: Target) -> None:
        """Build the backend for ``target`` (kept to the model's precisions: ``_permitted``); an
        ncnn failure becomes a notice and PyTorch."""
        target = self._permitted(target)
        net = self._model()[0]
        self.device, self.backend, self.precision = target.device, target.backend, target.precision
        if self.backend == "ncnn":
            vulkan = (self.device.index or 0) if self.device.type == "vulkan" else None
            try:
                self._backend = NcnnBackend(net, vulkan, self.precision,
                                            torch.get_num_threads(), self.notice)
                return
            except NcnnError as e:
                self._ncnn_failed(e)
                return
        self._backend = Backend(net, self.device, self.precision, self.compile, self.notice)

    def _make_backend(self) -> Backend | NcnnBackend:
        self._set_target(Target(self.device, self.backend, self.precision))
        assert self._backend is not None  # _set_target always builds one
        return self._backend

    def _ncnn_failed(self, e: Exception) -> None:
        """One notice, then PyTorch on the CPU: exact fp32 when that was asked for, else the
        CPU's fastest precision."""
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        self.notice(f"ncnn failed ({reason}): continuing with PyTorch on the CPU.")
        exact = self._asked_precision == "fp32"
        self._set_target(rule("cpu", "fp32" if exact else "auto", "torch"))

    @property
    def description(self) -> str:
        """One line for UIs/logs: model, device, precision."""
        if self._backend is None:
            return "bicubic (no model)"
        extra = (", torch.compile" if self.run_info.compiled else "") + (
            ", self-ensemble x8" if self.ensemble else "")
        return f"{self._model()[1].name} on {self.run_info.text}{extra}"

    @property
    def run_info(self) -> RunInfo:
        """Backend, device and precision in use (fallbacks update it): see RunInfo."""
        if self._backend is None:
            return RunInfo("bicubic", "cpu", "", "fp64", False, "bicubic (no model)")
        kind = self.device.type
        if kind == "vulkan":
            index = self.device.index or 0
            gpus = {g.index: g for g in probe_vulkan()[0]}
            name = gpus[index].name if index in gpus else f"Vulkan device {index}"
            text = f"Vulkan GPU {index} ({name}), ncnn {self.precision}"
            return RunInfo("ncnn", f"vulkan:{index}", name, self.precision, False, text)
        where = describe(self.device, "fp32").rsplit(", fp32", 1)[0]
        if self.backend == "ncnn":
            text = f"{where}, ncnn fp32 (Winograd convolutions)"
        else:
            text = describe(self.device, self.precision)
        spec = str(self.device) if kind != "cuda" else f"cuda:{self.device.index or 0}"
        name = cpu_name() if kind == "cpu" else where
        return RunInfo(self.backend, spec, name, self.precision,
                       bool(getattr(self._backend, "compiled", False)), text)

    def estimate_seconds(self, in_hw: tuple[int, int], scale: float | None = None,
                         size: tuple[int | None, int | None] | None = None) -> float:
        """Estimated seconds of ``upscale`` for an (H, W) input (``engine.calibration``; the first
        call for this machine and run path runs a short calibration, cached afterwards)."""
        out_hw = self.output_shape(in_hw, scale, size)
        return self.estimate_restore_seconds(out_hw) + \
            out_hw[0] * out_hw[1] * calibration.pipeline_s_per_px()

    def estimate_restore_seconds(self, hw: tuple[int, int]) -> float:
        """Estimated seconds of ``restore_y`` on an (H, W) ILR Y image (see estimate_seconds)."""
        if self._backend is None:
            return 0.0
        cal = self.calibration()
        tiles = plan_tiles(hw, self.tile_size(hw), self.margin)
        return cal.seconds([(t.py1 - t.py0) * (t.px1 - t.px0) for t in tiles],
                           8 if self.ensemble else 1)

    @property
    def calibrated(self) -> bool:
        """True when estimate_seconds will answer at once (no calibration to run)."""
        return calibration.is_calibrated(None if self._backend is None else self._path_key())

    def _path_key(self) -> str:
        info = self.run_info
        return calibration.path_key(info.backend, info.device, info.device_name, info.precision,
                                 self.compile, self._model()[1].config.channels)

    def calibration(self) -> calibration.Calibration:
        """This run path's speed calibration: cached, else measured now (seconds) through this
        Upscaler's own backend on a small and a large tile (auto's measurement of the path, when
        there is one, is the small point). An ncnn failure meanwhile falls back as a run would,
        and what it falls back to is calibrated."""
        hit = calibration.cached(self._path_key())
        if hit is not None:
            return hit
        software = self.device.type == "vulkan" and self._software_vulkan()
        cap = (self.tile_size((4096, 4096)) or 4096) + 2 * self.margin
        small, large = (16, 32) if software else (64, min(cap, calibration.LARGE_CAP))
        info = self.run_info
        known = None if software or self.compile else autotune.known_point(
            self.net, info.backend, info.device, info.precision)
        sides = (min(small, cap), large) if known is None or known[0] >= large * large \
            else (large,)
        assert self._backend is not None  # a model's path (bicubic needs no calibration)
        try:
            return calibration.measure(self._path_key(), self._backend.run, sides, known)
        except NcnnError as e:
            self._ncnn_failed(e)
            return self.calibration()

    def tile_size(self, shape: tuple[int, int]) -> int | None:
        """Core tile side (px) for an (H, W) Y image; None when it runs as one piece.

        From the memory budget, capped on the CPU where larger tiles stop paying (cache, ncnn's
        buffers). Never from the machine's speed: cancel does not wait for small tiles (eager
        PyTorch checks between the network's recursive units, other backends abandon the
        running tile), and smaller tiles would cost margin work on every photo."""
        if self.tile is not None:
            return None if max(shape) <= self.tile else self.tile
        c = self._model()[1].config.channels
        if self.device.type == "vulkan" and self._software_vulkan():
            side = SOFTWARE_VULKAN_TILE
            return None if max(shape) <= side else side
        half = self.precision in ("bf16", "fp16") and self.device.type != "cpu"
        side = tile_for_budget(self._budget_bytes(), c, self.margin, 2 if half else 4)
        padded = side + 2 * self.margin
        if shape[0] * shape[1] <= padded * padded:
            return None  # fits the budget whole: no margins to recompute
        if self.device.type == "cpu":
            side = min(side, CPU_MAX_TILE)
        return side

    def _budget_bytes(self) -> float:
        mb = self.memory_mb or DEFAULT_BUDGET_MB.get(self.device.type, 768)
        budget = mb * 2.0**20
        if self.memory_mb is None and self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            budget = min(budget, free / 2)
        if self.memory_mb is None and self.device.type == "vulkan":
            gpus = {g.index: g for g in probe_vulkan()[0]}
            heap = getattr(gpus.get(self.device.index or 0), "heap_mb", None)
            if heap:
                budget = min(budget, heap * 2.0**20 / 2)
        return budget

    def _software_vulkan(self) -> bool:
        gpus = {g.index: g for g in probe_vulkan()[0]}
        g = gpus.get(self.device.index or 0)
        return bool(g and g.software)

    def restore_y(self, ilr_y: np.ndarray, progress: Progress | None = None,
                  cancel: Cancel | None = None) -> np.ndarray:
        """ILR Y (HxW float in [0, 1], bicubic at output size) -> restored Y, same shape, clipped.

        float32 stays float32, anything else gives float64. This is the protocol's Restorer.
        """
        y = np.asarray(ilr_y)
        if y.ndim != 2:
            raise ValueError(f"restore_y expects a 2-D Y image, got shape {y.shape}")
        self._check_size(y.shape)
        out = np.empty(y.shape, np.float32 if y.dtype == np.float32 else np.float64)

        def sink(rect: Rect, res: np.ndarray) -> None:
            out[rect[0]:rect[1], rect[2]:rect[3]] = res

        self._restore_tiles(y.shape, lambda a, b, core: y[a:b], sink, progress, cancel)
        return out

    def _restore_tiles(self, shape: tuple[int, int],
                       rows: Callable[[int, int, tuple[int, int]], np.ndarray],
                       sink: Callable[[Rect, np.ndarray], None], progress: Progress | None,
                       cancel: Cancel | None) -> None:
        """Restore an (H, W) ILR Y image one row of tiles at a time.

        ``rows(a, b, (y0, y1))`` gives ILR rows a..b-1, the padded window of the row of tiles
        whose cores cover rows y0..y1-1 (called once per row of tiles, so the whole ILR need
        never exist); ``sink((y0, y1, x0, x1), y)`` receives every
        finished core region once, clipped to [0, 1], in the dtype of ``rows``' arrays (float32
        stays float32, else float64). Without a model the "tiles" are bands of ~1 Mpx rows.
        """
        _report(progress, 0.0)
        h, w = shape
        if self._backend is None:
            step = max(1, _CHUNK_PX // max(1, w))
            for a in range(0, h, step):
                _check(cancel)
                b = min(h, a + step)
                band = rows(a, b, (a, b))
                sink((a, b, 0, w), np.clip(band, 0.0, 1.0, out=_float_copy(band)))
                _report(progress, b / h)
            return
        planned = self.tile_size(shape)
        plan = plan_tiles(shape, planned, self.margin)
        backend, timings = self._backend, []  # (padded px, s) per tile: corrects the estimates
        meter = Meter()
        done, total = 0, h * w
        for y0 in sorted({t.y0 for t in plan}):
            row = [t for t in plan if t.y0 == y0]
            py0, py1 = row[0].py0, row[0].py1
            band = rows(py0, py1, (y0, row[0].y1))
            side = self.tile if self.tile is not None else (planned or max(shape))  # OOM: smaller
            queue = deque(r for t in row for r in retile(t, side, shape, self.margin))
            while queue:
                _check(cancel)
                t = queue.popleft()
                try:
                    t0 = time.perf_counter()
                    res = self._run_tile(band[t.py0 - py0:t.py1 - py0, t.px0:t.px1], cancel)
                    timings.append(((t.py1 - t.py0) * (t.px1 - t.px0), time.perf_counter() - t0))
                except NcnnError as e:  # a driver failure mid-run: PyTorch continues from here
                    self._ncnn_failed(e)
                    queue.appendleft(t)
                    continue
                except (torch.OutOfMemoryError, RuntimeError, MemoryError) as e:
                    if _is_oom(e):
                        self._recover_from_oom(t, queue, shape)
                    elif self.precision == "fp32-fast" and "nnpack" in str(e).lower():
                        self._use_exact_fp32()
                        queue.appendleft(t)
                    else:
                        raise
                    continue
                core = np.empty((t.y1 - t.y0, t.x1 - t.x0), band.dtype if
                                band.dtype == np.float32 else np.float64)
                core[...] = res[t.inner]
                np.clip(core, 0.0, 1.0, out=core)
                sink((t.y0, t.y1, t.x0, t.x1), core)
                done += t.area
                _report(progress, done / total)
        if self._backend is backend:  # no fallback mid-run: the times belong to this path
            calibration.observe(self._path_key(), timings, 8 if self.ensemble else 1, meter.busy())

    def _run_tile(self, x: np.ndarray, cancel: Cancel | None) -> np.ndarray:
        """The network on one padded tile (x8 with the self-ensemble). With ``cancel``, eager
        PyTorch checks it between recursive units; other backends run the tile on a helper
        thread that cancel abandons (the call raises at once, the tile finishes unseen)."""
        check = None if cancel is None else (lambda: _check(cancel))
        b = self._backend
        assert b is not None  # tiles run only with a model
        if isinstance(b, Backend) and not b.compiled:
            run = functools.partial(b.run, check=check)
        else:
            run = functools.partial(abandonable, b.run, check=check, lock=self._tile_lock)
        if not self.ensemble:
            return run(x)
        acc = np.zeros(x.shape, np.float32)
        for k in range(8):
            _check(cancel)
            flip = k >= 4
            xt = np.rot90(x[:, ::-1] if flip else x, k % 4)
            r = np.rot90(run(xt), -(k % 4))
            acc += r[:, ::-1] if flip else r
        return acc / 8.0

    def _use_exact_fp32(self) -> None:
        """NNPACK failed at run time (unusual CPUs): continue with exact fp32 convolutions."""
        self.precision = "fp32"
        self._backend = self._make_backend()
        self.notice("The fast CPU convolutions (NNPACK) failed: continuing in plain fp32 (slower).")

    def _recover_from_oom(self, t: Tile, queue: deque, shape: tuple[int, int]) -> None:
        """Retry ``t`` (and every queued tile) smaller; below MIN_TILE, move from GPU to CPU."""
        if self.device.type == "cuda" and torch.cuda.is_available():
            torch.cuda.empty_cache()
        side = max(t.y1 - t.y0, t.x1 - t.x0)
        if side > MIN_TILE:
            self.tile = max(MIN_TILE, side // 2)
            pending = [t, *queue]
            queue.clear()
            for p in pending:
                queue.extend(retile(p, self.tile, shape, self.margin))
            where = "Vulkan" if self.device.type == "vulkan" else self.device.type.upper()
            self.notice(f"Out of memory on {where}: "
                        f"retrying with smaller tiles ({self.tile} px).")
            return
        if self.device.type == "cpu":
            raise OutOfMemory(f"Out of memory even with {MIN_TILE} px tiles; close other programs "
                              "or use a smaller image.")
        old = "Vulkan" if self.device.type == "vulkan" else self.device.type.upper()
        # Exact fp32 stays exact; a GPU half precision (or ncnn) becomes the CPU's fastest one.
        exact = self.precision == "fp32" and self.backend == "torch"
        self._set_target(rule("cpu", "fp32" if exact else "auto"))
        self.tile = None
        self.notice(f"Out of {old} memory even with small tiles: continuing on the CPU (slower).")
        queue.extendleft(reversed(retile(t, self.tile_size(shape) or max(shape), shape,
                                         self.margin)))

    def _check_size(self, hw: tuple[int, ...]) -> None:
        """InputTooSmall (the user's words) for an input under the model's ``min_size``."""
        problem = self.descriptor.size_problem(hw[1], hw[0]) if self.descriptor else None
        if problem:
            raise InputTooSmall(problem)

    def output_shape(self, in_hw: tuple[int, int], scale: float | None = None,
                     size: tuple[int | None, int | None] | None = None) -> tuple[int, int]:
        """(H, W) of the result: ``ceil(in * scale)`` or ``size`` (one side None: keep aspect)."""
        if (scale is None) == (size is None):
            raise ValueError("give exactly one of scale or size")
        h, w = in_hw
        if scale is not None:
            if not scale >= 1:
                raise ValueError(f"scale must be at least 1 (DRRN upscales), got {scale}")
            return output_size(in_hw, float(scale))
        assert size is not None  # exactly one of the two (checked above)
        th, tw = size
        if th is None:
            if tw is None:
                raise ValueError("size needs a height or a width")
            th = max(1, round(h * tw / w))
        tw = tw if tw is not None else max(1, round(w * th / h))
        if th < 1 or tw < 1:
            raise ValueError(f"target size must be positive, got {th}x{tw}")
        return int(th), int(tw)

    def upscale(self, image: np.ndarray, scale: float | None = None,
                size: tuple[int | None, int | None] | None = None,
                progress: Progress | None = None, cancel: Cancel | None = None,
                out_dtype: type | np.dtype | None = None,
                on_tile: TileCallback | None = None) -> np.ndarray:
        """Upscale a float image in [0, 1] by ``scale`` or to ``size`` = (height, width).

        Works one row of tiles at a time: the input's YCbCr planes are converted and bicubic
        resized only for the rows a band needs (``imresize(rows=...)``), each finished tile is
        converted back to RGB and written into the result, so no whole-image float buffer exists
        besides the input and the result. ``out_dtype``: None gives float (float32 for float32
        input, else float64); ``np.uint8`` / ``np.uint16`` give the result quantised as
        ``io.quantise`` does (what saving the float result would write), a quarter / half the
        memory. ``on_tile((y0, y1, x0, x1), pixels)``: called on this thread as each output
        region is final, with exactly ``result[y0:y1, x0:x1]`` (a copy); the regions cover the
        output once (tiles with a model, row bands for bicubic).
        """
        img = np.asarray(image)
        if not np.issubdtype(img.dtype, np.floating):
            raise ValueError(f"expected a float image in [0, 1], got {img.dtype}")
        if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] > 4):
            raise ValueError(f"expected HW or HWxC with C <= 4, got shape {img.shape}")
        self._check_size(img.shape[:2])
        out_hw = self.output_shape(img.shape[:2], scale, size)
        dtype = np.float32 if img.dtype == np.float32 else np.float64
        top = _quantise_top(out_dtype)
        channels = 1 if img.ndim == 2 else img.shape[2]
        colour = channels >= 3
        out = np.empty(out_hw + img.shape[2:], dtype if top is None else out_dtype)
        planes = _Planes(img, dtype)
        kw = {"scale": float(scale)} if scale is not None else {"output_shape": out_hw}
        luma = planes.select([0])
        extra = planes.select(list(range(1, channels))) if channels > 1 else None
        chroma: dict = {}

        def y_rows(a: int, b: int, core: tuple[int, int]) -> np.ndarray:
            if extra is not None:  # Cb/Cr/alpha of the rows this row of tiles writes
                data = imresize(extra, rows=core, **kw)
                chroma.update(start=core[0], data=data if data.ndim == 3 else data[..., None])
            return imresize(luma, rows=(a, b), **kw)

        def sink(rect: Rect, y: np.ndarray) -> None:
            y0, y1, x0, x1 = rect
            if extra is None:
                res = y if img.ndim == 2 else y[..., None]
            else:
                c0 = chroma["start"]
                rest = chroma["data"][y0 - c0:y1 - c0, x0:x1]
                res = np.empty(y.shape + (channels,), dtype)
                res[..., 0] = y
                res[..., 1:] = rest
                if colour:
                    res[..., :3] = ycbcr_to_rgb(res[..., :3])
                np.clip(res, 0.0, 1.0, out=res)
            if top is None:
                out[y0:y1, x0:x1] = res
            else:
                quantise(res, top, out=out[y0:y1, x0:x1])
            if on_tile is not None:
                on_tile(rect, out[y0:y1, x0:x1].copy())

        sub = None if progress is None else (lambda f: progress(0.05 + 0.95 * f))
        _report(progress, 0.0)
        try:
            self._restore_tiles(out_hw, y_rows, sink, sub, cancel)
        finally:
            release_free_memory()  # this image's freed buffers back to the system (glibc)
        _report(progress, 1.0)
        return out


class _Planes:
    """The input's planes as the bicubic resize reads them, converted on demand: Y, Cb, Cr
    (BT.601, ``rgb_to_ycbcr``) then alpha for colour images, grey (then alpha) otherwise, in
    ``dtype``. Indexing rows (``planes[a:b]``) converts only those rows, so the whole-image YCbCr
    copy never exists; ``imresize`` accepts it in place of an array. ``select`` keeps some
    channels (one channel gives an HW view, as a grey image); views share the last converted
    rows, so the Y and the Cb/Cr of one band convert their rows once."""

    def __init__(self, img: np.ndarray, dtype: type | np.dtype, channels: list[int] | None = None,
                 cache: dict[str, Any] | None = None) -> None:
        self.img, self.dtype = img, np.dtype(dtype)
        n = 1 if img.ndim == 2 else img.shape[2]
        self.channels = list(range(n)) if channels is None else channels
        tail = () if len(self.channels) == 1 else (len(self.channels),)
        self.shape = img.shape[:2] + tail
        self.ndim = len(self.shape)
        self._cache: dict[str, Any] = {"lo": 0, "hi": 0, "data": None} if cache is None else cache

    def select(self, channels: list[int]) -> _Planes:
        return _Planes(self.img, self.dtype, [self.channels[c] for c in channels], self._cache)

    def _rows(self, lo: int, hi: int) -> np.ndarray:
        """All planes of input rows lo..hi-1 (H x W x C, ``dtype``), cached."""
        c = self._cache
        if not (c["lo"] <= lo and hi <= c["hi"] and c["data"] is not None):
            part = self.img[lo:hi]
            if part.ndim == 2:
                data = part.astype(self.dtype)[..., None]
            else:
                data = np.empty(part.shape, self.dtype)
                colour = part.shape[2] >= 3
                if colour:
                    data[..., :3] = rgb_to_ycbcr(part[..., :3])
                data[..., 3 if colour else 0:] = part[..., 3 if colour else 0:]
            c.update(lo=lo, hi=hi, data=data)
        return c["data"][lo - c["lo"]:hi - c["lo"]]

    def __getitem__(self, rows: slice) -> np.ndarray:
        lo, hi, _ = rows.indices(self.img.shape[0])
        data = self._rows(lo, hi)
        if len(self.channels) == 1:
            return np.ascontiguousarray(data[..., self.channels[0]])
        return np.ascontiguousarray(data[..., self.channels])


def _quantise_top(out_dtype: type | np.dtype | None) -> int | None:
    """255 / 65535 for uint8 / uint16, None for a float result; ValueError otherwise."""
    if out_dtype is None:
        return None
    kind = np.dtype(out_dtype)
    if kind == np.uint8:
        return 255
    if kind == np.uint16:
        return 65535
    raise ValueError(f"out_dtype must be None, uint8 or uint16, got {kind}")


def _float_copy(a: np.ndarray) -> np.ndarray:
    return np.empty(a.shape, np.float32 if a.dtype == np.float32 else np.float64)


def _is_oom(e: BaseException) -> bool:
    text = str(e).lower()
    return isinstance(e, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in text \
        or "can't allocate memory" in text


def _report(progress: Progress | None, fraction: float) -> None:
    if progress is not None:
        progress(min(1.0, max(0.0, fraction)))


def _check(cancel: Cancel | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("cancelled")

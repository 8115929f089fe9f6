"""The Upscaler: Y through DRRN at output size, Cb/Cr/alpha by MATLAB bicubic; tiled, cancellable.

Images are float arrays in [0, 1]: HW or HWx1 (grey, used as Y directly, as the protocol does),
HWx2 (grey + alpha), HWx3 (RGB) or HWx4 (RGBA); alpha, always last, is resized by bicubic.
Outputs keep the layout; float32 in gives float32 out (else float64); clipped to [0, 1].
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from drrn_core.descriptor import ModelDescriptor
from drrn_core.engine.device import Target, describe, resolve_target
from drrn_core.engine.ncnn_backend import NcnnBackend, NcnnError, probe_vulkan
from drrn_core.engine.runner import Backend
from drrn_core.engine.tiling import (
    CPU_MAX_TILE,
    MIN_TILE,
    Tile,
    plan_tiles,
    retile,
    tile_for_budget,
)
from drrn_core.imaging.color import rgb_to_ycbcr, ycbcr_to_rgb
from drrn_core.imaging.resize import imresize, output_size

Progress = Callable[[float], None]
Cancel = Callable[[], bool]
Notice = Callable[[str], None]

DEFAULT_BUDGET_MB = {"cpu": 768, "mps": 1024, "cuda": 4096, "vulkan": 2048}
"""Memory (MiB) for one tile's feature maps; CUDA also stays under half of the free memory,
Vulkan under half of ncnn's heap budget for the device."""
NCNN_CPU_MAX_TILE = 192
"""Largest automatic core tile (px) for ncnn on the CPU: its Winograd buffers took 484 MB for a
294 px padded tile (256 + margins) and 318 MB for 230 px (measured, DRRN_B1U9), so 192 px tiles
keep a 2000x1500 photo x2 near the 1 GB peak RSS target."""
SOFTWARE_VULKAN_TILE = 64
"""Core tile side (px) on a software Vulkan driver (lavapipe): tiles there take seconds each, so
small ones keep progress moving and cancel prompt."""
_CHUNK_PX = 1 << 20  # colour conversion works on ~1 Mpx row bands (bounded float64 temporaries)


class Cancelled(Exception):
    """Raised when ``cancel()`` returned True; nothing partial is returned."""


class OutOfMemory(MemoryError):
    """Even the smallest tiles did not fit (on the CPU, after any GPU fallback); one-line str()."""


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

    model: a ``weights.LoadedModel`` or a bare ``DRRN``. device: auto/cpu/cuda[:N]/mps/vulkan[:N].
    precision: auto/fp32/fp32-fast/bf16/fp16 (see ``engine.device``). backend: auto/torch/ncnn
    (a LoadedModel with auto precision and backend on device auto/cpu/cuda: the fastest path
    measured on this machine, ``engine.autotune``, once per model, cached; else
    ``engine.device.resolve_target``; an ncnn failure falls back to PyTorch with a notice).
    tile: core tile side in px
    (None: from ``memory_mb``, the whole image when it fits). ensemble: average the 8 flips and
    rotations (8x slower). compile: torch.compile the network (each new tile shape compiles once,
    seconds; pays off over many tiles or images of one size). notice(str): one-line messages for
    the user (out-of-memory and compile fallbacks).
    """

    def __init__(self, model=None, device: str | torch.device = "auto", precision: str = "auto",
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
        self.net: nn.Module | None
        if model is None:
            self.net, self.descriptor = None, None
        elif isinstance(model, nn.Module):
            self.net, self.descriptor = model, ModelDescriptor.for_config(model.config)
        else:
            self.net, self.descriptor = model.model, model.descriptor
        self.margin = self.descriptor.receptive_radius if self.descriptor else 0
        self.device, self.precision, self.backend = torch.device("cpu"), "fp32", "bicubic"
        self._backend: Backend | NcnnBackend | None = None
        if self.net is not None:
            from drrn_core.engine.autotune import resolve  # auto: measured once per machine

            self._set_target(resolve(model, device, precision, backend, self.notice, tile))

    def _set_target(self, target: Target) -> None:
        """Build the backend for ``target``; an ncnn failure becomes a notice and PyTorch."""
        self.device, self.backend, self.precision = target.device, target.backend, target.precision
        if self.backend == "ncnn":
            vulkan = (self.device.index or 0) if self.device.type == "vulkan" else None
            try:
                self._backend = NcnnBackend(self.net, vulkan, self.precision,
                                            torch.get_num_threads(), self.notice)
                return
            except NcnnError as e:
                self._ncnn_failed(e)
                return
        self._backend = Backend(self.net, self.device, self.precision, self.compile, self.notice)

    def _make_backend(self) -> Backend | NcnnBackend:
        self._set_target(Target(self.device, self.backend, self.precision))
        return self._backend

    def _ncnn_failed(self, e: Exception) -> None:
        """One notice, then PyTorch on the CPU at its fastest precision."""
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        self.notice(f"ncnn failed ({reason}): continuing with PyTorch on the CPU.")
        self._set_target(resolve_target("cpu", "auto", "torch"))

    @property
    def description(self) -> str:
        """One line for UIs/logs: model, device, precision."""
        if self._backend is None:
            return "bicubic (no model)"
        extra = (", torch.compile" if self.run_info.compiled else "") + (
            ", self-ensemble x8" if self.ensemble else "")
        return f"{self.descriptor.name} on {self.run_info.text}{extra}"

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
        from drrn_core.engine.device import cpu_name

        name = cpu_name() if kind == "cpu" else where
        return RunInfo(self.backend, spec, name, self.precision,
                       bool(getattr(self._backend, "compiled", False)), text)

    def estimate_seconds(self, in_hw: tuple[int, int], scale: float | None = None,
                         size: tuple[int | None, int | None] | None = None) -> float:
        """Estimated seconds of ``upscale`` for an (H, W) input (engine.estimate; the first call
        on a machine/backend/precision runs a short calibration, cached afterwards)."""
        from drrn_core.engine import estimate

        return estimate.upscale_seconds(self, in_hw, scale, size)

    def estimate_restore_seconds(self, hw: tuple[int, int]) -> float:
        """Estimated seconds of ``restore_y`` on an (H, W) ILR Y image (see estimate_seconds)."""
        from drrn_core.engine import estimate

        return estimate.restore_seconds(self, hw)

    @property
    def calibrated(self) -> bool:
        """True when estimate_seconds will answer at once (no calibration to run)."""
        from drrn_core.engine import estimate

        return estimate.is_calibrated(self)

    def tile_size(self, shape: tuple[int, int]) -> int | None:
        """Core tile side (px) for an (H, W) Y image; None when it runs as one piece."""
        if self.tile is not None:
            return None if max(shape) <= self.tile else self.tile
        c = self.descriptor.config.channels
        if self.device.type == "vulkan" and self._software_vulkan():
            side = SOFTWARE_VULKAN_TILE
            return None if max(shape) <= side else side
        half = self.precision in ("bf16", "fp16") and self.device.type != "cpu"
        side = tile_for_budget(self._budget_bytes(), c, self.margin, 2 if half else 4)
        padded = side + 2 * self.margin
        if shape[0] * shape[1] <= padded * padded:
            return None  # fits the budget whole: no margins to recompute
        if self.device.type == "cpu":
            return min(side, NCNN_CPU_MAX_TILE if self.backend == "ncnn" else CPU_MAX_TILE)
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
        out = np.empty(y.shape, np.float32 if y.dtype == np.float32 else np.float64)
        _report(progress, 0.0)
        if self._backend is None:
            np.clip(y, 0.0, 1.0, out=out)
            _report(progress, 1.0)
            return out
        queue = deque(plan_tiles(y.shape, self.tile_size(y.shape), self.margin))
        backend, timings = self._backend, []  # (padded px, s) per tile: corrects the estimates
        done, total = 0, y.size
        while queue:
            _check(cancel)
            t = queue.popleft()
            try:
                t0 = time.perf_counter()
                res = self._run_tile(y[t.py0:t.py1, t.px0:t.px1], cancel)
                timings.append(((t.py1 - t.py0) * (t.px1 - t.px0), time.perf_counter() - t0))
            except NcnnError as e:  # a driver failure mid-run: PyTorch continues from this tile
                self._ncnn_failed(e)
                queue.appendleft(t)
                continue
            except (torch.OutOfMemoryError, RuntimeError, MemoryError) as e:
                if _is_oom(e):
                    self._recover_from_oom(t, queue, y.shape)
                elif self.precision == "fp32-fast" and "nnpack" in str(e).lower():
                    self._use_exact_fp32()
                    queue.appendleft(t)
                else:
                    raise
                continue
            out[t.y0:t.y1, t.x0:t.x1] = res[t.inner]
            done += t.area
            _report(progress, done / total)
        np.clip(out, 0.0, 1.0, out=out)
        if self._backend is backend:  # no fallback mid-run: the times belong to this path
            from drrn_core.engine import estimate

            estimate.observe(self, timings)
        return out

    def _run_tile(self, x: np.ndarray, cancel: Cancel | None) -> np.ndarray:
        if not self.ensemble:
            return self._backend.run(x)
        acc = np.zeros(x.shape, np.float32)
        for k in range(8):
            _check(cancel)
            flip = k >= 4
            xt = np.rot90(x[:, ::-1] if flip else x, k % 4)
            r = np.rot90(self._backend.run(xt), -(k % 4))
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
        self._set_target(resolve_target("cpu", "fp32" if exact else "auto"))
        self.tile = None
        self.notice(f"Out of {old} memory even with small tiles: continuing on the CPU (slower).")
        queue.extendleft(reversed(retile(t, self.tile_size(shape) or max(shape), shape,
                                         self.margin)))

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
        th, tw = size
        if th is None and tw is None:
            raise ValueError("size needs a height or a width")
        th = th if th is not None else max(1, round(h * tw / w))
        tw = tw if tw is not None else max(1, round(w * th / h))
        if th < 1 or tw < 1:
            raise ValueError(f"target size must be positive, got {th}x{tw}")
        return int(th), int(tw)

    def upscale(self, image: np.ndarray, scale: float | None = None,
                size: tuple[int | None, int | None] | None = None,
                progress: Progress | None = None, cancel: Cancel | None = None) -> np.ndarray:
        """Upscale a float image in [0, 1] by ``scale`` or to ``size`` = (height, width)."""
        img = np.asarray(image)
        if not np.issubdtype(img.dtype, np.floating):
            raise ValueError(f"expected a float image in [0, 1], got {img.dtype}")
        if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] > 4):
            raise ValueError(f"expected HW or HWxC with C <= 4, got shape {img.shape}")
        out_hw = self.output_shape(img.shape[:2], scale, size)
        resize = (lambda a: imresize(a, scale=float(scale))) if scale is not None else (
            lambda a: imresize(a, output_shape=out_hw))
        dtype = np.float32 if img.dtype == np.float32 else np.float64
        sub = None if progress is None else (lambda f: progress(0.1 + 0.85 * f))
        _report(progress, 0.0)
        if img.ndim == 2:
            y = self.restore_y(resize(img.astype(dtype, copy=False)), sub, cancel)
            _report(progress, 1.0)
            return y
        colour = img.shape[2] >= 3
        planes = np.empty(img.shape, dtype)
        if colour:
            _by_bands(img[..., :3], planes[..., :3], rgb_to_ycbcr)
        planes[..., 3 if colour else 0:] = img[..., 3 if colour else 0:]
        _check(cancel)
        ilr = resize(planes)
        del planes
        _check(cancel)
        ilr[..., 0] = self.restore_y(ilr[..., 0], sub, cancel)
        if colour:
            _by_bands(ilr[..., :3], ilr[..., :3], ycbcr_to_rgb)
        np.clip(ilr, 0.0, 1.0, out=ilr)
        _report(progress, 1.0)
        return ilr


def _by_bands(src: np.ndarray, dst: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    """dst = fn(src), row band by row band, so temporaries stay ~1 Mpx whatever the image size."""
    rows = max(1, _CHUNK_PX // max(1, src.shape[1]))
    for r in range(0, src.shape[0], rows):
        dst[r:r + rows] = fn(src[r:r + rows])


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

"""Run DRRN tiles through ncnn, on the CPU (Winograd convolutions) or a Vulkan GPU.

The network is written to ncnn's ``.param``/``.bin`` format directly from the DRRN structure
(3x3 convolutions, ReLU, optional BatchNorm, adds): the graph is fixed and small, so a converter
such as pnnx (a tracing dependency that can change its output between versions) is not needed,
and the written graph is exactly the PyTorch model's, layer for layer. Files are cached per
weights hash in the user cache folder (``$DRRN_CACHE_DIR`` or platformdirs' user cache dir).

Any import, conversion, load or driver failure raises :class:`NcnnError` (one line), which the
Upscaler turns into one notice and a PyTorch fallback. An allocation failure during a tile raises
:class:`NcnnOutOfMemory` (a MemoryError), which the Upscaler answers with smaller tiles.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from drrn_core.atomic import atomic_path
from drrn_core.engine.contention import Meter
from drrn_core.engine.ncnn_probe import NcnnError, import_ncnn, vulkan_count
from drrn_core.engine.records import cache_dir
from drrn_core.model import DRRN, RecursiveBlock

EXPORT_VERSION = 1
"""Bump when the written graph changes: cached files of older versions are then ignored."""

NCNN_PRECISIONS = ("fp32", "fp16")
"""fp32: fp32 storage and arithmetic (Winograd on the CPU). fp16: fp16 storage and arithmetic on
Vulkan devices that support them (ncnn keeps fp32 where the device lacks them)."""

_ERR_NOMEM = -100  # ncnn's return code for a failed allocation
OPENMP_BLOCKTIME_MS = 0
"""How long (ms) ncnn's idle OpenMP threads spin before sleeping (ncnn's default: 20). Spinning
threads take the core another program needs and wait on a thread that program preempted;
benchmarks/bench_laptop.py measures both settings idle and with one busy process."""


class NcnnOutOfMemory(MemoryError):
    """ncnn could not allocate a tile's blobs (host or GPU memory)."""


# ---------------------------------------------------------------------------------------------
# Writing the .param / .bin files


class _ParamWriter:
    """Collects ncnn layers and blobs; every blob consumed more than once gets a Split layer."""

    def __init__(self) -> None:
        self.layers: list[tuple[str, str, list[str], list[str], str]] = []
        self.weights = io.BytesIO()
        self._n = 0

    def blob(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def add(self, kind: str, inputs: list[str], outputs: list[str], params: str = "") -> None:
        self.layers.append((kind, f"{kind.lower()}_{len(self.layers)}", inputs, outputs, params))

    def relu(self, x: str) -> str:
        out = self.blob("relu")
        self.add("ReLU", [x], [out])
        return out

    def batchnorm(self, x: str, bn: torch.nn.BatchNorm2d) -> str:
        out = self.blob("bn")
        c = bn.num_features
        self.add("BatchNorm", [x], [out], f"0={c} 1={bn.eps:.9e}")
        for t in (bn.weight, bn.running_mean, bn.running_var, bn.bias):  # slope, mean, var, bias
            assert t is not None  # the model's BatchNorms are affine and track running stats
            self.weights.write(_f32(t))
        return out

    def conv(self, x: str, conv: torch.nn.Conv2d, relu_after: bool = False) -> str:
        out = self.blob("conv")
        w = conv.weight
        bias = conv.bias is not None
        params = (f"0={w.shape[0]} 1=3 11=3 2=1 12=1 3=1 13=1 4=1 14=1 15=1 16=1 "
                  f"5={int(bias)} 6={w.numel()}" + (" 9=1" if relu_after else ""))
        self.add("Convolution", [x], [out], params)
        self.weights.write(struct.pack("<I", 0))  # tag 0: raw float32 weights follow
        self.weights.write(_f32(w))
        if conv.bias is not None:
            self.weights.write(_f32(conv.bias))
        return out

    def add_blobs(self, a: str, b: str) -> str:
        out = self.blob("sum")
        self.add("BinaryOp", [a, b], [out], "0=0")
        return out

    def text(self) -> str:
        """The .param text, with Split layers inserted for blobs read by several layers."""
        uses: dict[str, int] = {}
        for _, _, ins, _, _ in self.layers:
            for b in ins:
                uses[b] = uses.get(b, 0) + 1
        taken: dict[str, int] = {}
        lines: list[str] = []
        blobs: set[str] = set()

        def emit(kind, name, ins, outs, params):
            lines.append(f"{kind:<16} {name:<20} {len(ins)} {len(outs)} {' '.join(ins + outs)}"
                         + (f" {params}" if params else ""))
            blobs.update(outs)

        for kind, name, ins, outs, params in self.layers:
            renamed = []
            for b in ins:
                if uses[b] > 1:
                    k = taken.get(b, 0)
                    taken[b] = k + 1
                    renamed.append(f"{b}_sp{k}")
                else:
                    renamed.append(b)
            emit(kind, name, renamed, outs, params)
            for o in outs:
                if uses.get(o, 0) > 1:
                    emit("Split", f"split_{o}", [o], [f"{o}_sp{k}" for k in range(uses[o])], "")
        return f"7767517\n{len(lines)} {len(blobs)}\n" + "\n".join(lines) + "\n"


def _f32(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().float().numpy().astype("<f4").tobytes()


def export_ncnn(model: DRRN) -> tuple[str, bytes]:
    """(.param text, .bin bytes) computing ``model`` exactly: input blob "in", output "out"."""
    cfg = model.config
    w = _ParamWriter()
    w.add("Input", [], ["in"], "")
    x = "in"

    def act(pre, h: str) -> str:
        if len(pre) == 2:  # BatchNorm then ReLU
            h = w.batchnorm(h, pre[0])
        return w.relu(h)

    h = x
    # A ModuleList's items are typed Module: these are the model's blocks and Conv2ds.
    for block in cast("list[RecursiveBlock]", model.blocks):
        conv1, conv2 = cast("list[nn.Conv2d]", block.conv1), cast("list[nn.Conv2d]", block.conv2)
        h0 = w.conv(act(block.act_in, h), block.conv_in)
        h = h0
        for u in range(len(block.act1)):
            k = u if len(conv1) > 1 else 0
            fuse = not cfg.batchnorm  # conv1 -> ReLU needs no BatchNorm between: fuse the ReLU
            t = w.conv(act(block.act1[u], h), conv1[k], relu_after=fuse)
            t = w.conv(t if fuse else act(block.act2[u], t), conv2[k])
            h = w.add_blobs(t, h if block.chain else h0)
    r = w.conv(act(model.act_rec, h), model.conv_rec)
    w.add("BinaryOp", [r, x], ["out"], "0=0")
    return w.text(), w.weights.getvalue()


def weights_hash(model: DRRN) -> str:
    """sha256 (hex, 20 chars) of the architecture, every parameter/buffer and EXPORT_VERSION."""
    h = hashlib.sha256(json.dumps([EXPORT_VERSION, model.config.to_dict()]).encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(_f32(t) if t.is_floating_point() else t.cpu().numpy().tobytes())
    return h.hexdigest()[:20]


def converted_files(model: DRRN, folder: Path | None = None) -> tuple[Path, Path]:
    """(.param, .bin) paths for ``model`` in ``folder`` (default: the cache's ncnn folder),
    written (atomically) when missing or different from what the model converts to: a truncated
    or damaged cache is rebuilt, never loaded (converting takes ~30 ms for DRRN_B1U9; reading
    and comparing the files less). OSError when the folder cannot be written."""
    folder = cache_dir() / "ncnn" if folder is None else folder
    stem = f"{model.config.name}-c{model.config.channels}-{weights_hash(model)}"
    param, binf = folder / f"{stem}.param", folder / f"{stem}.bin"
    if os.environ.get("DRRN_NCNN_FAIL_CONVERSION"):  # tests: a conversion that fails
        raise NcnnError("conversion to ncnn failed (forced by $DRRN_NCNN_FAIL_CONVERSION)")
    try:
        text, blob = export_ncnn(model)
    except (ValueError, RuntimeError) as e:
        raise NcnnError(f"could not convert the model to ncnn ({e})") from None
    if _holds(binf, blob) and _holds(param, text.encode("ascii")):
        return param, binf
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(binf) as tmp:
        tmp.write_bytes(blob)
    with atomic_path(param) as tmp:
        tmp.write_text(text, encoding="ascii")
    return param, binf


def _holds(path: Path, data: bytes) -> bool:
    """True when ``path`` is a file holding exactly ``data``."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


@contextlib.contextmanager
def _converted(model: DRRN):
    """converted_files in the cache, or, where the cache cannot be written (a read-only home, a
    file in its place), in a temporary folder removed after use: ncnn copies what it loads."""
    try:
        files = converted_files(model)
    except OSError:
        files = None
    if files is not None:
        yield files
        return
    with tempfile.TemporaryDirectory(prefix="drrn-ncnn-") as tmp:
        try:
            files = converted_files(model, Path(tmp))
        except OSError as e:
            raise NcnnError(f"could not write the model for ncnn ({e})") from None
        yield files


# ---------------------------------------------------------------------------------------------
# Running


class NcnnBackend:
    """A DRRN loaded into ncnn, run on 2-D Y tiles; the Upscaler's backend interface.

    vulkan: None for the CPU, else the Vulkan device index. precision: "fp32" or "fp16" (fp16
    storage and arithmetic on GPUs that have them; ncnn keeps fp32 elsewhere, and its x86
    convolutions ignore fp16 storage, so the Upscaler offers fp16 on Vulkan only). threads: CPU
    threads (ncnn's OpenMP pool); blocktime_ms: their spin before sleeping (OPENMP_BLOCKTIME_MS).
    """

    compiled = False

    def __init__(self, model: DRRN, vulkan: int | None, precision: str, threads: int,
                 notice: Callable[[str], None] | None = None,
                 blocktime_ms: int = OPENMP_BLOCKTIME_MS) -> None:
        if precision not in NCNN_PRECISIONS:
            raise NcnnError(f"ncnn runs fp32 or fp16, not {precision}")
        self._ncnn = import_ncnn()
        self.vulkan, self.precision, self.threads = vulkan, precision, max(1, threads)
        if vulkan is not None:
            count = vulkan_count()
            if vulkan >= count:
                raise NcnnError(f"Vulkan device {vulkan} does not exist ({count} found)")
        self._model, self._blocktime = model, int(blocktime_ms)
        self._nets = {self.threads: self._load(self.threads)}
        self.net = self._nets[self.threads]
        self.threads_used = self.threads  # by the last run
        self._busy = False  # other programs kept the CPU busy during the last run

    def _load(self, threads: int):
        """A Net of the model with ``threads`` OpenMP threads (ncnn fixes its Winograd kernels'
        threads at load time, so another count is another Net)."""
        ncnn, vulkan = self._ncnn, self.vulkan
        half = self.precision == "fp16"
        try:
            net = ncnn.Net()
            opt = net.opt
            opt.num_threads = threads
            opt.openmp_blocktime = self._blocktime
            opt.use_vulkan_compute = vulkan is not None
            opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = half
            opt.use_bf16_storage = opt.use_bf16_packed = False
            opt.use_winograd_convolution = True
            opt.use_packing_layout = True
            opt.lightmode = True
            if vulkan is not None:
                net.set_vulkan_device(vulkan)
            with _converted(self._model) as (param, binf):
                if net.load_param(str(param)) != 0 or net.load_model(str(binf)) != 0:
                    raise NcnnError(f"ncnn could not load {param.name}")
        except NcnnError:
            raise
        except Exception as e:  # noqa: BLE001 - a driver may raise anything; one NcnnError line
            raise NcnnError(f"ncnn failed to set up ({type(e).__name__}: {e})") from None
        return net

    def _net_for_now(self):
        """The Net to run next: on the CPU, one thread fewer per core that other programs kept
        busy during the last run (ncnn's threads wait for each other at every layer, so a thread
        whose core another program holds stalls them all: measured, benchmarks/bench_laptop.py);
        all threads otherwise."""
        threads = self.threads
        if self.vulkan is None and self._busy and threads > 1:
            threads = max(1, threads - 1)
        if threads not in self._nets:
            self._nets[threads] = self._load(threads)
        self.threads_used = threads
        return self._nets[threads]

    def run(self, y: np.ndarray) -> np.ndarray:
        """float HxW Y (ILR) -> float32 HxW network output, unclipped."""
        ncnn = self._ncnn
        x = np.ascontiguousarray(y, dtype=np.float32)[None]
        meter = Meter()
        net = self._net_for_now()
        # The run's own pools, emptied after it: the net's default pools keep every buffer of
        # every tile shape for good (a process grew by 1.3 GB over 40 photos).
        pools = (ncnn.UnlockedPoolAllocator(), ncnn.PoolAllocator()) if self.vulkan is None \
            else None
        try:
            ex = net.create_extractor()
            ex.set_light_mode(True)
            if pools is not None:
                ex.set_blob_allocator(pools[0])
                ex.set_workspace_allocator(pools[1])
            ex.input("in", ncnn.Mat(x).clone())  # a copy: in-place layers must not touch numpy
            ret, out = ex.extract("out")
            res = np.array(out) if ret == 0 else None  # a copy, out of the pools
            del out
            ex.clear()
            del ex
        finally:
            for pool in pools or ():
                pool.clear()
        self._busy = meter.busy()
        if ret == _ERR_NOMEM:
            raise NcnnOutOfMemory(f"out of memory in ncnn ({y.shape[1]}x{y.shape[0]} tile)")
        if ret != 0:
            raise NcnnError(f"ncnn failed on a {y.shape[1]}x{y.shape[0]} tile (code {ret})")
        assert res is not None  # ret == 0
        if res.shape[-2:] != y.shape:
            raise NcnnError(f"ncnn returned shape {res.shape} for a {y.shape} tile")
        return res.reshape(y.shape).astype(np.float32, copy=False)

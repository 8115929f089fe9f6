"""Run a DRRN on one Y tile on a device at a precision (the only place that touches torch)."""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from drrn_core.model import DRRN, PreAct, RecursiveBlock


def _nnpack_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    return torch._nnpack_spatial_convolution(x, conv.weight, conv.bias, [1, 1])


def _act(pre: PreAct, h: torch.Tensor) -> torch.Tensor:
    """BatchNorm (eval) then ReLU, in place when the BatchNorm already made a new tensor."""
    if len(pre) == 1:
        return F.relu(h)
    return F.relu_(pre[0](h))


def fast_forward(model: DRRN, x: torch.Tensor,
                 check: Callable[[], None] | None = None) -> torch.Tensor:
    """``model(x)`` with NNPACK Winograd convolutions and in-place adds (eval mode, CPU fp32);
    ``check()`` runs between units, as in ``DRRN.forward``."""
    h = x
    # A ModuleList's items are typed Module: these are the model's blocks, PreActs and Conv2ds.
    for block in cast("list[RecursiveBlock]", model.blocks):
        act1, act2 = cast("list[PreAct]", block.act1), cast("list[PreAct]", block.act2)
        conv1, conv2 = cast("list[nn.Conv2d]", block.conv1), cast("list[nn.Conv2d]", block.conv2)
        h0 = _nnpack_conv(_act(block.act_in, h), block.conv_in)
        h = h0
        for u in range(len(act1)):
            if check is not None:
                check()
            k = u if len(conv1) > 1 else 0
            t = _nnpack_conv(_act(act1[u], h), conv1[k])
            t = _nnpack_conv(_act(act2[u], t), conv2[k])
            h = t.add_(h if block.chain else h0)
    if check is not None:
        check()
    return _nnpack_conv(_act(model.act_rec, h), model.conv_rec).add_(x)


POLL_S = 0.02
"""How often (s) a caller waiting on an abandonable tile checks for cancel."""


def abandonable(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                check: Callable[[], None] | None = None,
                lock: threading.Lock | None = None) -> np.ndarray:
    """``run(x)`` on a helper thread while this thread calls ``check()`` every POLL_S seconds.
    When ``check`` raises (cancel), the exception reaches the caller at once and the tile
    finishes in the background, its result dropped: backends that cannot stop inside a tile
    (ncnn, compiled graphs) still free their caller within one poll, and the CPU within one tile.
    ``lock`` (held by the helper) keeps a new tile from running beside an abandoned one."""
    if check is None:
        if lock is None:
            return run(x)
        with lock:
            return run(x)
    box: dict[str, object] = {}
    done = threading.Event()

    def work() -> None:
        try:
            with lock or contextlib.nullcontext():
                box["out"] = run(x)
        except BaseException as e:  # noqa: BLE001 - handed to the waiting caller
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=work, name="drrn-tile", daemon=True).start()
    while not done.wait(POLL_S):
        check()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["out"]  # type: ignore[return-value]


def compile_failed(error: BaseException) -> str:
    """The one-line notice for a torch.compile that failed (its first line, at most 160
    characters), after which the caller continues eagerly."""
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
    return f"torch.compile failed ({reason}); continuing without it."


class Backend:
    """A private eval-mode copy of ``model`` on ``device``, run at ``precision`` on 2-D Y tiles.

    compile: run it through ``torch.compile`` (inductor, frozen weights, the precision's dtype:
    bf16/fp16 weights instead of autocast, fp32 for fp32 and fp32-fast). Each new tile shape
    compiles once (seconds); if compiling fails (no C++ compiler, unsupported backend) the
    backend says so through ``notice`` and continues eagerly.
    """

    def __init__(self, model: DRRN, device: torch.device, precision: str, compile: bool = False,
                 notice: Callable[[str], None] | None = None) -> None:
        self.device = device
        self.precision = precision
        self.model = copy.deepcopy(model).float().eval().requires_grad_(False).to(device)
        self._channels_last = device.type != "cpu" or precision != "fp32-fast"
        if self._channels_last:
            # Module.to's overloads in torch's hints omit memory_format (accepted at run time).
            self.model = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self._notice = notice or (lambda message: None)
        self._dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        if compile:
            frozen = copy.deepcopy(self.model).to(  # type: ignore[call-overload]  # as above
                self._dtype, memory_format=torch.channels_last)
            self._compiled = torch.compile(frozen, dynamic=False, options={"freezing": True})

    @property
    def compiled(self) -> bool:
        """True while tiles run through torch.compile."""
        return self._compiled is not None

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self._dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._dtype)

    def run(self, y: np.ndarray, check: Callable[[], None] | None = None) -> np.ndarray:
        """float HxW Y (ILR) -> float32 HxW network output, unclipped. ``check()`` runs between
        the network's recursive units in eager mode (it may raise to abandon the tile); a
        compiled graph runs through without stopping."""
        x = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[None, None].to(self.device)
        if self._compiled is not None:
            try:
                with torch.inference_mode():
                    out = self._compiled(x.to(self._dtype)
                                         .contiguous(memory_format=torch.channels_last))
                return out[0, 0].float().cpu().numpy()
            except (torch.OutOfMemoryError, MemoryError):
                raise
            except Exception as e:  # noqa: BLE001 - compiler missing or failing: eager still works
                self._compiled = None
                self._notice(compile_failed(e))
        with torch.inference_mode(), self._autocast():
            if self.precision == "fp32-fast":
                out = fast_forward(self.model, x, check)
            else:
                out = self.model(x.contiguous(memory_format=torch.channels_last)
                                 if self._channels_last else x, check)
        return out[0, 0].float().cpu().numpy()

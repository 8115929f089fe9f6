"""Where and how an Upscaler runs, decided in one place: the device, backend and precision
(``device.Target``) for what the caller asked, ready to run.

``auto`` on device auto/cpu/cuda with a loaded weights file is measured once per machine
(``engine.autotune``); everything else follows ``device.resolve_target``'s fixed rule, and so do
the Upscaler's fallbacks (ncnn failing, out of memory). Either way the target is made ready here,
so a choice read from the records runs exactly what a freshly measured one runs: NNPACK, for
instance, only works after ``torch.backends.nnpack.is_available()`` has been called in the
process, which measuring does and reading a record does not.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from drrn_core.engine import autotune
from drrn_core.engine import device as dev
from drrn_core.engine.device import Target

Notice = Callable[[str], None]


def decide(model, device: str | torch.device = "auto", precision: str = "auto",
           backend: str = "auto", notice: Notice | None = None,
           tile: int | None = None) -> Target:
    """The target for these choices: the measured choice when the request leaves it to auto,
    ``model`` is a loaded weights file (``weights.LoadedModel``) and ``$DRRN_AUTO`` is not
    ``rule``, ranked for ``tile`` (the Upscaler's core tile side; None: automatic tiles); else the
    fixed rule. A bare network (``nn.Module``) gets the rule: its weights may change between
    calls (training's validation builds an Upscaler per evaluation) and every new weights hash
    would be measured again. DeviceError (one line) when the request cannot run here."""
    net = getattr(model, "model", None)
    if not isinstance(net, torch.nn.Module) or not autotune.enabled() \
            or not autotune.measured_request(device, precision, backend):
        return rule(device, precision, backend)
    dev.resolve_device(device)  # a bad or missing device: its own one-line error first
    choice = autotune.fresh_choice(net, device, notice)
    return ready(choice.trials[autotune.rank(choice.trials, autotune.margin_px(net), tile)]
                 .target)


def rule(device: str | torch.device = "auto", precision: str = "auto",
         backend: str = "auto") -> Target:
    """``device.resolve_target``'s fixed rule, made ready to run."""
    return ready(dev.resolve_target(device, precision, backend))


def ready(target: Target) -> Target:
    """``target`` once what its backend needs is in place (NNPACK initialised for fp32-fast);
    DeviceError when that is impossible here."""
    if target.precision == "fp32-fast" and not dev.nnpack_available():
        raise dev.DeviceError("fp32-fast (NNPACK Winograd) is not available in this PyTorch "
                              "build; use fp32.")
    return target

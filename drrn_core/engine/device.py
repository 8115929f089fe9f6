"""Device and precision choice for inference, with one-line errors and a description for UIs.

Precisions: ``fp32`` (exact PyTorch convolutions), ``fp32-fast`` (CPU only: NNPACK Winograd
convolutions, about 2x faster on AVX2 CPUs, relative error ~1e-6), ``bf16`` and ``fp16`` (autocast).
``auto`` picks bf16 on a CPU only when it has bf16 matrix units (AMX / AVX-512 BF16 / Arm BF16),
because emulated bf16 is many times slower than fp32; otherwise fp32-fast where NNPACK works.
"""

from __future__ import annotations

import functools
import os
import platform

import torch

PRECISIONS = ("fp32", "fp32-fast", "bf16", "fp16")
_ALIASES = {"float32": "fp32", "winograd": "fp32-fast", "bfloat16": "bf16", "float16": "fp16",
            "half": "fp16"}


class DeviceError(ValueError):
    """An unavailable device or precision; ``str()`` is one user-facing line."""


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``."""
    text = str(spec).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(text)
    except RuntimeError:
        raise DeviceError(f"Unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps.") from None
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA GPU is usable by this PyTorch build.")
        index = 0 if dev.index is None else dev.index
        count = torch.cuda.device_count()
        if index >= count:
            raise DeviceError(f"GPU cuda:{index} does not exist (this machine has {count} GPU(s)).")
        return torch.device("cuda", index)
    if dev.type == "mps":
        if not _mps_available():
            raise DeviceError("MPS (Apple GPU) was requested but is not available here.")
        return dev
    raise DeviceError(f"Device {spec!r} is not supported; use auto, cpu, cuda, cuda:N or mps.")


def resolve_precision(device: torch.device, spec: str = "auto") -> str:
    """The precision to run on ``device``: one of PRECISIONS (``auto``: the fastest safe one)."""
    text = _ALIASES.get(spec.strip().lower(), spec.strip().lower())
    kind = device.type
    if text == "auto":
        if kind == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if kind == "mps":
            return "fp16"
        if cpu_has_bf16_units():
            return "bf16"
        return "fp32-fast" if nnpack_available() else "fp32"
    if text not in PRECISIONS:
        raise DeviceError(f"Unknown precision {spec!r}; use auto, {', '.join(PRECISIONS)}.")
    if text == "fp32-fast" and (kind != "cpu" or not nnpack_available()):
        where = "this PyTorch build" if kind == "cpu" else kind.upper()
        raise DeviceError(f"fp32-fast (NNPACK Winograd) is a CPU option, not available on {where}.")
    if text == "fp16" and kind == "cpu":
        raise DeviceError("fp16 is not supported on the CPU; use fp32, fp32-fast or bf16.")
    if text == "bf16" and kind == "mps":
        raise DeviceError("bf16 is not supported on MPS; use fp16 or fp32.")
    if text == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("This GPU has no bf16 support; use fp16 or fp32.")
    return text


def describe(device: torch.device, precision: str) -> str:
    """One line for UIs and logs, e.g. ``"CPU (AMD EPYC 7B13, 2 threads, AVX2), fp32 + NNPACK"``."""
    if device.type == "cuda":
        where = f"GPU {device} ({torch.cuda.get_device_name(device)})"
    elif device.type == "mps":
        where = "Apple GPU (MPS)"
    else:
        cap = torch.backends.cpu.get_cpu_capability()
        bf16 = ", bf16 units" if cpu_has_bf16_units() else ""
        where = f"CPU ({cpu_name()}, {torch.get_num_threads()} threads, {cap}{bf16})"
    what = {
        "fp32": "fp32",
        "fp32-fast": "fp32 with NNPACK Winograd convolutions",
        "bf16": "bf16 autocast" + ("" if device.type != "cpu" or cpu_has_bf16_units()
                                   else " (emulated: slow on this CPU)"),
        "fp16": "fp16 autocast",
    }[precision]
    return f"{where}, {what}"


@functools.cache
def cpu_flags() -> frozenset[str]:
    """CPU feature flags from /proc/cpuinfo (empty where that file does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16_units() -> bool:
    """True when the CPU multiplies bf16 in hardware (AMX, AVX-512 BF16 or Arm BF16)."""
    cap = torch.backends.cpu.get_cpu_capability().upper()
    if "AMX" in cap or "BF16" in cap:
        return True
    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16", "bf16"})


@functools.cache
def cpu_name() -> str:
    """The CPU's model name, or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@functools.cache
def nnpack_available() -> bool:
    """NNPACK usable; the call also initialises it (its conv op fails until this has run).

    Set $DRRN_NO_NNPACK=1 to rule it out (``auto`` then picks plain fp32).
    """
    if os.environ.get("DRRN_NO_NNPACK"):
        return False
    return bool(torch.backends.nnpack.is_available())


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())

"""Device and precision choice for inference, with one-line errors and a description for UIs.

Devices: ``cpu``, ``cuda[:N]``, ``mps`` (PyTorch) and ``vulkan[:N]`` (ncnn's Vulkan compute, any
GPU vendor; inference only). ``list_devices()`` lists what is usable here for pickers and
``drrn devices`` (``probe_devices()`` also says which probes failed and why).

Precisions: ``fp32`` (exact PyTorch convolutions), ``fp32-fast`` (CPU only: NNPACK Winograd
convolutions, about 2x faster on AVX2 CPUs, relative error ~1e-6), ``bf16`` and ``fp16`` (autocast).
``auto`` picks bf16 on a CPU only when it has bf16 matrix units (AMX / AVX-512 BF16 / Arm BF16),
because emulated bf16 is many times slower than fp32; otherwise fp32-fast where NNPACK works.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass

import torch

from drrn_core.errors import UserError

PRECISIONS = ("fp32", "fp32-fast", "bf16", "fp16")
_ALIASES = {"float32": "fp32", "winograd": "fp32-fast", "bfloat16": "bf16", "float16": "fp16",
            "half": "fp16"}


class DeviceError(UserError, ValueError):
    """An unavailable device or precision; ``str()`` is one user-facing line."""


def resolve_device(spec: str | torch.device = "auto", vulkan: bool = False) -> torch.device:
    """``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.

    vulkan: also accept ``"vulkan"``/``"vulkan:N"`` (returned as ``torch.device("vulkan", N)``, a
    name only: ncnn runs it); without it they are refused with one line (training needs PyTorch).
    ``"auto"`` never picks Vulkan here (the Upscaler's auto does, see ``resolve_target``).
    """
    text = str(spec).strip().lower()
    if text.startswith("vulkan"):
        return _resolve_vulkan(spec, text, vulkan)
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(text)
    except RuntimeError:
        raise DeviceError(f"Unknown device {spec!r}; use auto, cpu, cuda[:N], mps or vulkan[:N]."
                          ) from None
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
    raise DeviceError(f"Device {spec!r} is not supported; use auto, cpu, cuda[:N], mps or "
                      "vulkan[:N].")


def _resolve_vulkan(spec: object, text: str, allowed: bool) -> torch.device:
    if not allowed:
        raise DeviceError("Vulkan (ncnn) runs inference only; use cpu, cuda or mps here.")
    index_text = text.removeprefix("vulkan").removeprefix(":") or "0"
    if not index_text.isdigit():
        raise DeviceError(f"Unknown device {spec!r}; use vulkan or vulkan:N (N = 0, 1, ...).")
    index = int(index_text)
    from drrn_core.engine.ncnn_probe import probe_vulkan

    gpus, problem = probe_vulkan()
    if not gpus:
        raise DeviceError(f"Vulkan was requested but no Vulkan device is usable: {problem}.")
    if index >= len(gpus):
        raise DeviceError(f"Vulkan device vulkan:{index} does not exist (this machine has "
                          f"{len(gpus)}: see 'drrn devices').")
    return torch.device("vulkan", index)


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


def laptop_mode() -> bool:
    """True under ``$DRRN_CPU_ISA=avx2`` (``drrn_core.CPU_ISA_ENV``): the CPU is treated as an
    AVX2 one without AVX-512, AMX or bf16 units."""
    from drrn_core import CPU_ISA_ENV

    return os.environ.get(CPU_ISA_ENV, "").strip().lower() == "avx2"


_ABOVE_AVX2 = ("avx512", "amx", "avx_vnni", "avx10")
"""Flag prefixes laptop mode hides (x86 extensions beyond what AVX2 laptops have)."""


def cpu_flags() -> frozenset[str]:
    """CPU feature flags from /proc/cpuinfo (empty where that file does not exist); without
    AVX-512/AMX/bf16 in laptop mode."""
    flags = _cpuinfo_flags()
    if laptop_mode():
        flags = frozenset(f for f in flags if not f.startswith(_ABOVE_AVX2) and f != "bf16")
    return flags


@functools.cache
def _cpuinfo_flags() -> frozenset[str]:
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
    """True when the CPU multiplies bf16 in hardware (AMX, AVX-512 BF16 or Arm BF16); never in
    laptop mode."""
    if laptop_mode():
        return False
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


BACKENDS = ("torch", "ncnn")
"""How tiles run: PyTorch (cpu, cuda, mps) or ncnn (cpu, vulkan)."""


@dataclass(frozen=True)
class Target:
    """Where and how an Upscaler runs: a device (``torch.device``; type "vulkan" is run by
    ncnn), a backend ("torch" | "ncnn") and a precision (PRECISIONS for torch; "fp32" | "fp16"
    for ncnn)."""

    device: torch.device
    backend: str
    precision: str


def resolve_target(device: str | torch.device = "auto", precision: str = "auto",
                   backend: str = "auto") -> Target:
    """The device, backend and precision an Upscaler uses for these choices (DeviceError if
    impossible).

    auto device: CUDA, then MPS, then a hardware Vulkan GPU (ncnn), then the CPU. auto backend on
    the CPU with auto precision: PyTorch bf16 on CPUs with bf16 matrix units (measured 5.7x plain
    fp32 on a Xeon with AMX, ncnn fp32 ~2.5x), else ncnn fp32 where ncnn loads (2.2x plain fp32
    on an AVX2 EPYC, NNPACK ~2x), else PyTorch fp32-fast/fp32 (benchmarks/README.md). An explicit
    torch precision (fp32, fp32-fast, bf16) on the CPU means PyTorch, so ``fp32`` stays exact.
    """
    b = str(backend).strip().lower()
    if b not in ("auto", *BACKENDS):
        raise DeviceError(f"Unknown backend {backend!r}; use auto, torch or ncnn.")
    p = _ALIASES.get(str(precision).strip().lower(), str(precision).strip().lower())
    text = str(device).strip().lower()
    if text == "auto":
        dev = resolve_device("auto")
        if dev.type == "cpu" and b != "torch":
            gpu = _hardware_vulkan()
            if gpu is not None:
                dev = torch.device("vulkan", gpu)
    else:
        dev = resolve_device(device, vulkan=True)
    if dev.type == "vulkan":
        if b == "torch":
            raise DeviceError("Vulkan devices run through ncnn; use --backend auto or ncnn.")
        if p not in ("auto", "fp32", "fp16"):
            raise DeviceError(f"Vulkan (ncnn) runs fp32 or fp16, not {precision}.")
        return Target(dev, "ncnn", "fp16" if p == "auto" else p)
    if dev.type != "cpu":
        if b == "ncnn":
            raise DeviceError(f"ncnn runs on the CPU or Vulkan devices, not {dev.type.upper()}.")
        return Target(dev, "torch", resolve_precision(dev, p))
    if b == "ncnn" or (b == "auto" and p == "auto" and not cpu_has_bf16_units()
                       and ncnn_usable()):
        if p not in ("auto", "fp32"):
            raise DeviceError(f"ncnn on the CPU runs fp32, not {precision}.")
        return Target(dev, "ncnn", "fp32")
    return Target(dev, "torch", resolve_precision(dev, p))


def _hardware_vulkan() -> int | None:
    """Index of the first discrete (else integrated/virtual) Vulkan GPU, never a software one."""
    if os.environ.get("DRRN_NO_VULKAN_AUTO"):
        return None
    from drrn_core.engine.ncnn_probe import probe_vulkan

    gpus = [g for g in probe_vulkan()[0] if not g.software]
    gpus.sort(key=lambda g: g.kind != "discrete GPU")
    return gpus[0].index if gpus else None


@functools.cache
def ncnn_usable() -> bool:
    """True when the ncnn module imports ($DRRN_NO_NCNN=1 rules it out)."""
    from drrn_core.engine.ncnn_probe import NcnnError, import_ncnn

    try:
        import_ncnn()
    except NcnnError:
        return False
    return True


@dataclass(frozen=True)
class DeviceInfo:
    """One usable device, for pickers and ``drrn devices``.

    spec: what ``--device`` / ``Upscaler(device=)`` takes ("cpu", "cuda:0", "mps", "vulkan:0");
    kind: "cpu" | "cuda" | "mps" | "vulkan"; name: the model name; detail: threads and
    instruction set (CPU) or type and memory (GPU); memory_mb: GPU memory or ncnn's heap budget
    (None for the CPU); backends: BACKENDS that run on it; precisions: explicit precisions it
    takes; software: a CPU-emulated Vulkan driver (lavapipe): correct but slow, ``auto`` never
    picks it.
    """

    spec: str
    kind: str
    name: str
    detail: str
    memory_mb: int | None
    backends: tuple[str, ...]
    precisions: tuple[str, ...]
    software: bool = False

    @property
    def label(self) -> str:
        """One line, e.g. ``"vulkan:0 - NVIDIA GeForce RTX 4060 (discrete GPU, 8192 MiB)"``."""
        return f"{self.spec} - {self.name} ({self.detail})"


def cpu_isa() -> str:
    """The CPU's fastest instruction sets for convolutions, e.g. ``"AVX-512, AMX bf16"``."""
    flags = cpu_flags()
    parts = []
    if "avx512f" in flags:
        parts.append("AVX-512")
    elif "avx2" in flags:
        parts.append("AVX2")
    elif "asimd" in flags:
        parts.append("NEON")
    else:
        parts.append(torch.backends.cpu.get_cpu_capability())
    if "amx_bf16" in flags:
        parts.append("AMX bf16")
    elif "avx512_bf16" in flags:
        parts.append("AVX-512 BF16")
    elif "bf16" in flags and "asimd" in flags:
        parts.append("Arm BF16")
    return ", ".join(parts)


def list_devices() -> list[DeviceInfo]:
    """Every device usable here: the CPU first, then CUDA GPUs, MPS, Vulkan GPUs. Never raises
    (a failing probe leaves its devices out: ``probe_devices`` also says why); Vulkan probing
    is cached per process."""
    return probe_devices()[0]


def probe_devices() -> tuple[list[DeviceInfo], list[str]]:
    """(``list_devices()``, one line per probe that failed, e.g. ``"CUDA probe failed:
    RuntimeError: ..."``). Never raises."""
    cpu_prec = ("fp32", "fp32-fast", "bf16") if nnpack_available() else ("fp32", "bf16")
    out = [DeviceInfo("cpu", "cpu", cpu_name(),
                      f"{torch.get_num_threads()} threads, {cpu_isa()}",
                      None, ("torch", "ncnn") if ncnn_usable() else ("torch",), cpu_prec)]
    problems: list[str] = []
    try:
        out.extend(_cuda_devices())
    except Exception as e:  # noqa: BLE001 - a driver may raise anything; reported, CPU still runs
        problems.append(f"CUDA probe failed: {type(e).__name__}: {e}")
    try:
        if _mps_available():
            out.append(DeviceInfo("mps", "mps", "Apple GPU", "Metal", None, ("torch",),
                                  ("fp32", "fp16")))
    except Exception as e:  # noqa: BLE001 - a driver may raise anything; reported, CPU still runs
        problems.append(f"MPS probe failed: {type(e).__name__}: {e}")
    try:
        out.extend(_vulkan_devices())
    except Exception as e:  # noqa: BLE001 - a driver may raise anything; reported, CPU still runs
        problems.append(f"Vulkan probe failed: {type(e).__name__}: {e}")
    return out, problems


def _cuda_devices() -> list[DeviceInfo]:
    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        mb = int(props.total_memory // 2**20)
        prec = ("fp32", "bf16", "fp16") if torch.cuda.is_bf16_supported() else ("fp32", "fp16")
        out.append(DeviceInfo(f"cuda:{i}", "cuda", props.name,
                              f"CUDA {props.major}.{props.minor}, {mb} MiB", mb, ("torch",), prec))
    return out


def _vulkan_devices() -> list[DeviceInfo]:
    from drrn_core.engine.ncnn_probe import probe_vulkan

    out = []
    for g in probe_vulkan()[0]:
        detail = g.kind + (f", {g.heap_mb} MiB" if g.heap_mb else "") + (
            ": slow, for testing" if g.software else "")
        out.append(DeviceInfo(f"vulkan:{g.index}", "vulkan", g.name, detail, g.heap_mb,
                              ("ncnn",), ("fp32", "fp16"), g.software))
    return out

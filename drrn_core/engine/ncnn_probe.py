"""ncnn itself: importing the module, its one-line error, and the Vulkan devices it can use.

Everything that only asks whether ncnn or a Vulkan GPU is there lives here, below the device
choice (``engine.device``); running a network through ncnn is ``engine.ncnn_backend``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from dataclasses import dataclass


class NcnnError(RuntimeError):
    """ncnn is missing, the conversion failed or the driver refused: ``str()`` is one line."""


def import_ncnn():
    """The ``ncnn`` module, or NcnnError when it is not installed or does not load."""
    if os.environ.get("DRRN_NO_NCNN"):
        raise NcnnError("ncnn is disabled ($DRRN_NO_NCNN is set)")
    try:
        import ncnn
    except Exception as e:  # noqa: BLE001 - a broken shared library raises anything
        raise NcnnError(f"ncnn is not available ({type(e).__name__}: {e})") from None
    return ncnn


VULKAN_TYPES = {0: "discrete GPU", 1: "integrated GPU", 2: "virtual GPU", 3: "software (CPU)"}


@dataclass(frozen=True)
class VulkanGpu:
    """One Vulkan device as ncnn sees it. kind: a VULKAN_TYPES value; heap_mb: ncnn's memory
    budget for blobs on it (MiB)."""

    index: int
    name: str
    kind: str
    heap_mb: int | None

    @property
    def software(self) -> bool:
        """A CPU-emulated Vulkan driver (lavapipe, SwiftShader): correct but slow."""
        return self.kind.startswith("software") or "llvmpipe" in self.name.lower() \
            or "swiftshader" in self.name.lower()


@functools.cache
def probe_vulkan() -> tuple[tuple[VulkanGpu, ...], str]:
    """(Vulkan devices ncnn can use, why there are none: "" when some were found). Cached."""
    if os.environ.get("DRRN_NO_VULKAN"):  # a driver that crashes when probed: never touch it
        return (), "Vulkan is disabled ($DRRN_NO_VULKAN is set)"
    try:
        ncnn = import_ncnn()
    except NcnnError as e:
        return (), str(e)
    try:
        with quiet_stderr():  # ncnn prints a few lines per device when it creates its instance
            count = int(ncnn.get_gpu_count())
            gpus = []
            for i in range(count):
                info = ncnn.get_gpu_info(i)
                try:
                    heap = int(ncnn.get_gpu_device(i).get_heap_budget())
                except Exception:  # noqa: BLE001 - any driver error: no memory shown
                    heap = None
                gpus.append(VulkanGpu(i, str(info.device_name()).strip(),
                                      VULKAN_TYPES.get(int(info.type()), "GPU"), heap))
    except Exception as e:  # noqa: BLE001 - a driver may raise anything; it becomes the reason
        return (), f"the Vulkan driver failed: {type(e).__name__}: {e}"
    if not gpus:
        return (), "no Vulkan driver or GPU found (install your GPU's Vulkan driver)"
    return tuple(gpus), ""


def vulkan_count() -> int:
    """Vulkan devices ncnn can use (0 without ncnn, a Vulkan loader or a driver)."""
    return len(probe_vulkan()[0])


@contextlib.contextmanager
def quiet_stderr():
    """Silence C-level writes to stderr (fd 2) inside the block."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)

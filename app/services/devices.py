"""What the Device and Precision boxes offer (no Qt): the engine's device list, probed once."""

from __future__ import annotations

import threading

_DEVICES: list[tuple[str, str]] = []
_DEVICES_LOCK = threading.Lock()
AUTO = ("auto (fastest here)", "auto")


def device_choices() -> list[tuple[str, str]]:
    """(label, spec) of "auto" and every usable device: the CPU with its instruction set,
    CUDA, MPS and Vulkan GPUs (any vendor, through ncnn) with name and memory. Listed once
    per process, one caller at a time (probing Vulkan drivers from two threads at once is
    not safe); call it on a worker thread (probing takes seconds)."""
    from drrn_core.engine.device import list_devices

    with _DEVICES_LOCK:
        if not _DEVICES:
            _DEVICES.append(AUTO)
            for info in list_devices():
                slow = " - software, slow" if info.software else ""
                _DEVICES.append((f"{info.spec}: {info.name}{slow}", info.spec))
        return list(_DEVICES)


def precision_choices() -> list[str]:
    """"auto" and the engine's precisions."""
    from drrn_core.engine.device import PRECISIONS

    return ["auto", *PRECISIONS]

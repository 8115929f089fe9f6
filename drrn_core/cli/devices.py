"""`drrn devices`: what can run DRRN here (CPU, CUDA, MPS, Vulkan) and what `auto` picks."""

from __future__ import annotations

import argparse
import json

from drrn_core.cli.common import EXIT_OK, CLIError


def add_devices_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `drrn devices`."""
    p = sub.add_parser(
        "devices", help="list the devices DRRN can run on",
        description="List the usable devices: the CPU with its instruction sets, CUDA GPUs and "
        "Vulkan GPUs (any vendor, through ncnn) with name and memory, and what --device auto "
        "picks. Pass a device's first column to --device.",
    )
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    return p


def run_devices(args: argparse.Namespace) -> int:
    """Print one line per device (or JSON), then the auto choice."""
    from dataclasses import asdict

    from drrn_core.engine.device import DeviceError, list_devices, resolve_target
    from drrn_core.engine.ncnn_backend import probe_vulkan

    devices = list_devices()
    try:
        auto = resolve_target("auto", "auto", "auto")
        auto_text = f"{auto.device}, {auto.backend} {auto.precision}"
    except DeviceError as exc:
        raise CLIError(exc) from None
    if args.json:
        print(json.dumps({"devices": [asdict(d) for d in devices],
                          "auto": {"device": str(auto.device), "backend": auto.backend,
                                   "precision": auto.precision}}, indent=1))
        return EXIT_OK
    width = max(len(d.spec) for d in devices)
    for d in devices:
        print(f"{d.spec:<{width}}  {d.name} ({d.detail}); backends: {', '.join(d.backends)}; "
              f"precisions: {', '.join(d.precisions)}")
    if not any(d.kind == "vulkan" for d in devices):
        print(f"(no Vulkan device: {probe_vulkan()[1]})")
    print(f"auto: {auto_text}")
    return EXIT_OK

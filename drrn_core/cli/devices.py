"""`drrn devices`: what can run DRRN here (CPU, CUDA, MPS, Vulkan) and what `auto` picks."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from drrn_core.cli.common import EXIT_OK, CLIError


def add_devices_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `drrn devices`."""
    p = sub.add_parser(
        "devices", help="list the devices DRRN can run on",
        description="List the usable devices: the CPU with its instruction sets, CUDA GPUs and "
        "Vulkan GPUs (any vendor, through ncnn) with name and memory, and what --device auto "
        "picks. auto is measured: the first run of a model times every candidate path on a "
        "small tile (a few seconds, cached per machine and model) and takes the fastest "
        "whose output matches exact fp32; --calibrate measures now and shows every candidate's "
        "rate. Pass a device's first column to --device.",
    )
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--calibrate", action="store_true",
                   help="measure the candidate paths for auto now (again, if already measured)")
    p.add_argument("--model", default=None, metavar="NAME|PATH",
                   help="the model whose shape auto is measured for (default: the bundled "
                   "default model)")
    return p


def run_devices(args: argparse.Namespace) -> int:
    """Print one line per device (or JSON), each failed probe with its reason, the auto
    candidates when measured, then auto."""
    from dataclasses import asdict

    from drrn_core.engine import autotune
    from drrn_core.engine.device import DeviceError, probe_devices, resolve_target
    from drrn_core.engine.ncnn_probe import probe_vulkan

    devices, problems = probe_devices()
    name, macs, margin, choice = _auto_choice(args)
    try:
        auto = choice.target if choice else resolve_target("auto", "auto", "auto")
    except DeviceError as exc:
        raise CLIError(exc) from None
    how = "measured" if choice else "rule"
    if args.json:
        doc: dict[str, Any] = {
            "devices": [asdict(d) for d in devices], "probe_problems": problems,
            "auto": {"device": str(auto.device), "backend": auto.backend,
                     "precision": auto.precision, "how": how}}
        if choice:
            doc["auto"].update(
                model=name, tiles_px=[autotune.SMALL, autotune.TILE],
                calibration_s=choice.seconds, measured_at=choice.when, candidates=[
                    {**asdict(t), "picked": i == choice.pick,
                     "engine_tile_px": autotune.padded_side(t, margin),
                     "predicted_s_per_px": _finite(t.cost_per_px(
                         autotune.padded_side(t, margin)))}
                    for i, t in enumerate(choice.trials)])
        print(json.dumps(doc, indent=1))
        return EXIT_OK
    width = max(len(d.spec) for d in devices)
    for d in devices:
        print(f"{d.spec:<{width}}  {d.name} ({d.detail}); backends: {', '.join(d.backends)}; "
              f"precisions: {', '.join(d.precisions)}")
    for problem in problems:
        print(f"({problem})")
    if not any(d.kind == "vulkan" for d in devices) and not any(
            p.startswith("Vulkan") for p in problems):
        print(f"(no Vulkan device: {probe_vulkan()[1]})")
    auto_text = f"{auto.device}, {auto.backend} {auto.precision}"
    if choice is None:
        hint = ("$DRRN_AUTO=rule" if not autotune.enabled() else
                "not measured yet: 'drrn devices --calibrate' measures")
        print(f"auto: {auto_text} (rule; {hint})")
        return EXIT_OK
    print(f"auto candidates for {name} (timed on {autotune.SMALL} and {autotune.TILE} px tiles, "
          f"ranked at the engine's tile; measured "
          f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(choice.when))}, calibration took "
          f"{choice.seconds:.1f} s):")
    label_w = max(len(t.label) for t in choice.trials)
    for i, t in enumerate(choice.trials):
        if t.problem:
            rate = f"skipped: {t.problem}"
        else:
            side = autotune.padded_side(t, margin)
            pred = t.cost_per_px(side)
            rate = (f"{pred * 1e6:8.2f} us/px at {side} px ({macs / pred / 1e9:6.1f} GMAC/s; "
                    f"{t.s_per_px * 1e6:.1f} us/px at {autotune.TILE} px, "
                    f"{t.overhead_s:.3f} s per call), RMS vs exact fp32 {t.rms:.1e}")
        print(f"  {'*' if i == choice.pick else ' '} {t.label:<{label_w}}  {rate}")
    print(f"auto: {auto_text} (measured)")
    return EXIT_OK


def _auto_choice(args: argparse.Namespace):
    """(model name, its MACs per pixel, its tile margin, the measured auto choice or None):
    measured now with --calibrate."""
    from drrn_core import weights
    from drrn_core.engine import autotune
    from drrn_core.engine.device import DeviceError

    if not autotune.enabled():
        if args.calibrate:
            raise CLIError("--calibrate measures auto, but $DRRN_AUTO=rule turns that off.")
        return None, 0, 0, None
    spec = args.model or weights.default_model_name()
    if spec is None:
        if args.calibrate:
            raise CLIError("No model to calibrate with: give --model NAME|PATH.")
        return None, 0, 0, None
    try:
        loaded = weights.resolve_model(spec)
    except weights.WeightsError as exc:
        if args.calibrate or args.model:
            raise CLIError(exc) from None
        return None, 0, 0, None
    name, macs = loaded.descriptor.name, loaded.model.config.macs_per_pixel
    margin = autotune.margin_px(loaded.model)
    if not args.calibrate:
        return name, macs, margin, autotune.cached_choice(loaded.model, "auto")
    import sys

    try:
        choice = autotune.choose(loaded.model, "auto", lambda m: print(m, file=sys.stderr),
                                 force=True)
        return name, macs, margin, choice
    except DeviceError as exc:
        raise CLIError(exc) from None


def _finite(x: float) -> float | None:
    return x if x != float("inf") else None

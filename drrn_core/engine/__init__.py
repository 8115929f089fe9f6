"""Inference: device/precision choice, tiling with exact margins, and the Upscaler (no Qt here)."""

from drrn_core.engine.device import (
    PRECISIONS,
    DeviceError,
    describe,
    resolve_device,
    resolve_precision,
)
from drrn_core.engine.upscale import Cancelled, OutOfMemory, Upscaler

__all__ = ["PRECISIONS", "Cancelled", "DeviceError", "OutOfMemory", "Upscaler", "describe",
           "resolve_device", "resolve_precision"]

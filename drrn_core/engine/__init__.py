"""Inference: device/precision choice, tiling with exact margins, and the Upscaler (no Qt here)."""

from drrn_core.engine.device import (
    PRECISIONS,
    DeviceError,
    DeviceInfo,
    describe,
    list_devices,
    resolve_device,
    resolve_precision,
    resolve_target,
)
from drrn_core.engine.upscale import (
    Cancelled,
    InputTooSmall,
    OutOfMemory,
    RunInfo,
    Upscaler,
    UpscalerModel,
    offered_precisions,
)

__all__ = ["PRECISIONS", "Cancelled", "DeviceError", "DeviceInfo", "InputTooSmall", "OutOfMemory",
           "RunInfo", "Upscaler", "UpscalerModel", "describe", "list_devices",
           "offered_precisions", "resolve_device", "resolve_precision", "resolve_target"]

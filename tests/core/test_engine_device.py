"""Device and precision resolution: the CPU never gets emulated bf16 by default."""

from __future__ import annotations

import pytest
import torch

from drrn_core.engine import device as dev
from drrn_core.engine.device import DeviceError, describe, resolve_device, resolve_precision

CPU = torch.device("cpu")


def test_resolve_device_cpu_and_auto():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")


@pytest.mark.skipif(torch.cuda.is_available(), reason="machine has CUDA")
def test_unavailable_cuda_is_one_clear_line():
    for spec in ("cuda", "cuda:1"):
        with pytest.raises(DeviceError, match="CUDA") as e:
            resolve_device(spec)
        assert "\n" not in str(e.value)


def test_unknown_device():
    with pytest.raises(DeviceError, match="Unknown device"):
        resolve_device("tpu:7x")


def test_auto_precision_on_cpu(monkeypatch):
    monkeypatch.setattr(dev, "cpu_has_bf16_units", lambda: False)
    assert resolve_precision(CPU, "auto") == ("fp32-fast" if dev.nnpack_available() else "fp32")
    monkeypatch.setattr(dev, "cpu_has_bf16_units", lambda: True)
    assert resolve_precision(CPU, "auto") == "bf16"


def test_explicit_precisions_on_cpu():
    assert resolve_precision(CPU, "FP32") == "fp32"
    assert resolve_precision(CPU, "bfloat16") == "bf16"
    with pytest.raises(DeviceError, match="fp16 is not supported on the CPU"):
        resolve_precision(CPU, "fp16")
    with pytest.raises(DeviceError, match="Unknown precision"):
        resolve_precision(CPU, "int4")


def test_describe_mentions_cpu_and_precision():
    text = describe(CPU, "fp32-fast")
    assert text.startswith("CPU (") and "NNPACK" in text and "\n" not in text
    if not dev.cpu_has_bf16_units():
        assert "emulated" in describe(CPU, "bf16")

"""app.services.devices: the Device box lists "auto" and the engine's devices, probed once per
process."""

from __future__ import annotations

from app.services import devices


def test_devices_are_listed_once_with_auto_first(monkeypatch):
    from drrn_core.engine import device

    calls = []
    real = device.list_devices
    monkeypatch.setattr(device, "list_devices", lambda: (calls.append(1), real())[1])
    monkeypatch.setattr(devices, "_DEVICES", [])
    first = devices.device_choices()
    assert first[0] == devices.AUTO and any(spec == "cpu" for _label, spec in first)
    assert devices.device_choices() == first and len(calls) == 1
    assert devices.precision_choices()[0] == "auto" and "fp32" in devices.precision_choices()

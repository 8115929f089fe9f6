"""The Precision box offers what the chosen model runs in: its weights file's descriptor decides
(a model declaring fp32 only is never offered bf16 or fp16); bicubic and ordinary models get
every precision; a choice the next model cannot run in falls back to auto."""

from __future__ import annotations

import shutil

import pytest

from app.main_window import MainWindow, settings_at
from drrn_core import weights
from drrn_core.descriptor import ModelDescriptor
from drrn_core.model import DRRN, DRRNConfig


@pytest.fixture
def store(tmp_path, model_store, monkeypatch):
    """The usual tiny model and 'exact', a model whose descriptor declares fp32 only."""
    user = tmp_path / "user"
    shutil.copytree(model_store, user)
    config = DRRNConfig(B=1, U=1, channels=4)
    weights.save_weights(user / "models" / "exact.safetensors", DRRN(config),
                         ModelDescriptor(config=config, name="exact", precisions=("fp32",)))
    monkeypatch.setenv("DRRN_USER_DIR", str(user))
    return user


def _offered(window) -> list[str]:
    box = window.compare.controls.precision
    return [box.itemText(i) for i in range(box.count())]


def _choose(window, name: str) -> None:
    combo = window.compare.controls.model
    combo.setCurrentIndex(combo.findData(name))


def test_the_precision_box_follows_the_models_descriptor(qtbot, store, tmp_path):
    window = MainWindow(settings=settings_at(tmp_path / "s.ini"))
    qtbot.addWidget(window)
    everything = ["auto", "fp32", "fp32-fast", "bf16", "fp16"]
    _choose(window, "tiny")
    assert _offered(window) == everything
    window.compare.controls.precision.setCurrentText("bf16")
    _choose(window, "exact")
    assert _offered(window) == ["auto", "fp32", "fp32-fast"]
    assert window.compare.controls.precision.currentText() == "auto"  # bf16: not this model's
    window.compare.controls.precision.setCurrentText("fp32")
    _choose(window, "bicubic")
    assert _offered(window) == everything
    assert window.compare.controls.precision.currentText() == "fp32"  # kept where it runs

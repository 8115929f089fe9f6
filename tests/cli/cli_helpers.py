"""Helpers for the `drrn` CLI tests (importable from test modules; fixtures are in conftest)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    """What one in-process `drrn` run returned and printed."""

    code: int
    out: str
    err: str


def sha256(path: Path) -> str:
    """Content hash of a file, to prove it was left untouched."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_error_line(result: Result, *needles: str) -> None:
    """A failed run printed exactly one `drrn: error:` line, no traceback, with every needle."""
    assert result.code != 0
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("drrn: error: ")]
    assert len(errors) == 1, result.err
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in errors[0], result.err


def save_tiny_model(folder: Path, name: str, metadata: dict | None = None) -> Path:
    """A tiny DRRN (B1U2, 8 channels, random weights) saved with weights.save_weights."""
    import torch

    from drrn_core.descriptor import ModelDescriptor
    from drrn_core.model import DRRN, DRRNConfig
    from drrn_core.weights import save_weights

    torch.manual_seed(0)
    config = DRRNConfig(B=1, U=2, channels=8)
    folder.mkdir(parents=True, exist_ok=True)
    return save_weights(folder / f"{name}.safetensors", DRRN(config),
                        ModelDescriptor.for_config(config, name=name), metadata or {})

"""A tiny HR folder (crops of scikit-image pictures) and a tiny recipe for fast training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drrn_core.model import DRRNConfig
from drrn_core.trainer.recipe import load_recipe

TINY_MODEL = DRRNConfig(B=1, U=2, channels=8)


def write_tiny_folder(folder: Path) -> Path:
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    astro, cam, coffee = data.astronaut(), data.camera(), data.coffee()
    Image.fromarray(astro[100:164, 180:244]).save(folder / "a.png")
    Image.fromarray(cam[200:260, 220:276]).save(folder / "b.png")
    sub = folder / "nested"
    sub.mkdir(exist_ok=True)
    Image.fromarray(coffee[50:110, 300:372]).save(sub / "c.png")
    return folder


@pytest.fixture()
def tiny_folder(tmp_path: Path) -> Path:
    return write_tiny_folder(tmp_path / "hr")


@pytest.fixture()
def tiny_recipe():
    """The fast recipe shrunk: 16x16 patches, batch 4, a short cosine."""
    return load_recipe("fast").with_overrides(
        model=TINY_MODEL, patch=16, batch=4, iters_per_epoch=10, epochs=5, warmup_iters=2,
        validate_every=10**9, checkpoint_minutes=10**6,
    )


def constant_image(value: int, size: int = 40) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)

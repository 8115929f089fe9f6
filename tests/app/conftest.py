"""Fixtures for the app's tests: a tiny DRRN in a temp user folder, temp settings and logs,
small real images (scikit-image's astronaut) and a main window that is closed afterwards."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings

TINY = "tiny"
MEDIUM = "medium"


@pytest.fixture(scope="session")
def model_store(tmp_path_factory) -> Path:
    """A user folder with a tiny (B1U2, 8 channels) and a medium (B1U9, 32 channels) model."""
    import torch

    from drrn_core import weights
    from drrn_core.model import DRRN, DRRNConfig

    root = tmp_path_factory.mktemp("drrn-user")
    (root / "models").mkdir()
    torch.manual_seed(0)
    for name, cfg in ((TINY, DRRNConfig(B=1, U=2, channels=8)),
                      (MEDIUM, DRRNConfig(B=1, U=9, channels=32))):
        weights.save_weights(root / "models" / f"{name}.safetensors", DRRN(cfg))
    return root


@pytest.fixture(scope="session", autouse=True)
def qt_teardown(qapp):
    """After the session: stop jobs and delete all windows while Qt is alive (no exit crash)."""
    yield
    from app.__main__ import teardown

    teardown()


@pytest.fixture(autouse=True)
def app_env(model_store, tmp_path, monkeypatch):
    """Every test: the temp model folder, no bundled models, logs and QSettings in tmp_path."""
    monkeypatch.setenv("DRRN_USER_DIR", str(model_store))
    monkeypatch.setenv("DRRN_RESOURCES", str(tmp_path / "no-resources"))
    monkeypatch.setenv("DRRN_LOG_DIR", str(tmp_path / "logs"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    yield
    # Collect the test's dead widgets here, on the GUI thread: left to a later collection, one
    # can run on a worker thread and delete Qt objects there (a hang seen in long runs).
    gc.collect()


@pytest.fixture
def photo_png(tmp_path, astronaut_rgb) -> Path:
    """A 120x96 crop saved as PNG: big enough for a region smaller than the whole image."""
    path = tmp_path / "photo.png"
    Image.fromarray(np.ascontiguousarray(astronaut_rgb[60:156, 140:260])).save(path)
    return path


@pytest.fixture(scope="session")
def astro_crop(astronaut_rgb) -> np.ndarray:
    """A 48x48 uint8 RGB crop of the astronaut's face (fast enough for every test)."""
    return np.ascontiguousarray(astronaut_rgb[100:148, 180:228])


@pytest.fixture
def astro_png(tmp_path, astro_crop) -> Path:
    path = tmp_path / "astro.png"
    Image.fromarray(astro_crop).save(path)
    return path


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """The real main window with settings in an INI file; the tiny model selected; already at
    the size it keeps (fitted to the offscreen screen)."""
    from app import main_window
    from app.main_window import MainWindow, settings_at

    # No window manager frames it offscreen: fit it now, not FRAME_WAIT_MS into a test (a
    # resize mid-test moved a zoomed view on a loaded machine)
    monkeypatch.setattr(main_window, "FRAME_WAIT_MS", 0)
    win = MainWindow(settings=settings_at(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.resize(1100, 700)
    win.show()
    screen = win.screen().availableGeometry()
    qtbot.waitUntil(lambda: screen.contains(win.frameGeometry()))
    select_model(win, TINY)
    yield win
    win.compare.cancel()
    win.close()


def select_model(win, name: str) -> None:
    """Choose a model in the Compare tab without starting the debounced run."""
    combo = win.compare.controls.model
    idx = combo.findData(name)
    assert idx >= 0, f"model {name} not offered"
    combo.setCurrentIndex(idx)
    win.compare.debounce.stop()


@pytest.fixture(name="select_model")
def select_model_fixture():
    """select_model(win, name): choose a model without starting the debounced run."""
    return select_model


@pytest.fixture
def wait_idle(qtbot):
    """wait_idle(win): wait until the Compare tab's run is over."""

    def wait(win, timeout_ms: int = 30000) -> None:
        qtbot.waitUntil(lambda: not win.compare.is_busy(), timeout=timeout_ms)

    return wait


@pytest.fixture
def run_compare(wait_idle):
    """run_compare(win) -> seconds: run the Compare tab now and wait for it."""

    def run(win, timeout_ms: int = 30000) -> float:
        t0 = time.monotonic()
        win.compare.run()
        wait_idle(win, timeout_ms)
        return time.monotonic() - t0

    return run


# -- the Training tab ---------------------------------------------------------------------------
@pytest.fixture
def hr_folder(tmp_path) -> Path:
    """Three 48x48 crops of scikit-image pictures: training (and validation) images."""
    from skimage import data

    folder = tmp_path / "hr"
    folder.mkdir()
    for i, img in enumerate([data.astronaut(), data.camera(), data.coffee()]):
        Image.fromarray(np.ascontiguousarray(img[60:108, 80:128])).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def training_tab(qtbot, hr_folder, tmp_path):
    """A Training tab set for a tiny run into tmp_path/"run" on ``hr_folder``: B1U1, 8 channels,
    11x11 patches, batch 4, validation every 3 iterations, until iteration 6."""
    from app.tabs.training import TrainingTab

    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.data_field.set_path(hr_folder)
    tab.run_field.set_path(tmp_path / "run")
    tab.val_field.set_path(hr_folder)
    tab.recipe_combo.setCurrentText("fast")
    for spin, value in ((tab.b_spin, 1), (tab.u_spin, 1), (tab.c_spin, 8), (tab.patch_spin, 11),
                        (tab.batch_spin, 4), (tab.val_every_spin, 3)):
        spin.setValue(value)
    tab.budget_combo.setCurrentIndex(2)  # until iteration
    tab.budget_spin.setValue(6)
    return tab

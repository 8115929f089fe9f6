"""Nothing is lost without a word. Batch keeps existing results by default
(a remembered choice still wins), quitting while a job runs asks first (Cancel is the default),
and a JPEG of an image with transparency is flattened onto the chosen background, said once."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.settings import AppSettings
from app.tabs.batch import BatchTab
from app.workers import shutdown_jobs

RUN_TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def _stop_jobs():
    yield
    shutdown_jobs()


@pytest.fixture
def tab(qtbot) -> BatchTab:
    widget = BatchTab()
    qtbot.addWidget(widget)
    widget.model_combo.setCurrentIndex(0)  # bicubic: fast
    return widget


def _run(qtbot, tab: BatchTab) -> None:
    tab.start()
    assert tab.is_running(), tab.message.text()
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=RUN_TIMEOUT_MS)


def _folder(tmp_path: Path, astro_crop: np.ndarray) -> Path:
    root = tmp_path / "in"
    root.mkdir()
    Image.fromarray(astro_crop[:24, :32]).save(root / "a.png")
    return root


# -- 23.4: a second batch into the same folder never replaces the first one's results ---------
def test_batch_keeps_existing_results_by_default(qtbot, tab, tmp_path, astro_crop):
    photos, out = _folder(tmp_path, astro_crop), tmp_path / "out"
    tab.input_field.set_path(photos)
    tab.output_field.set_path(out)
    assert tab.existing_combo.currentText() == "Keep it, add -2"
    assert tab.settings().existing == "rename"
    _run(qtbot, tab)
    first = (out / "a.png").read_bytes()
    _run(qtbot, tab)
    assert (out / "a.png").read_bytes() == first
    assert sorted(p.name for p in out.iterdir()) == ["a-2.png", "a.png"]


def test_a_remembered_choice_still_wins(qtbot):
    AppSettings().store.setValue("batch/existing", "Replace it")
    tab = BatchTab()
    qtbot.addWidget(tab)
    assert tab.settings().existing == "replace"


# -- 23.4: Quit / closing the window while a job runs asks first -----------------------------
def _answer(button: str, seen: list[tuple[str, str]]) -> None:
    """Once a modal dialog shows: note its text and default button, then press ``button``."""
    deadline = time.monotonic() + 10

    def press() -> None:
        box = QApplication.activeModalWidget()
        if box is None:
            if time.monotonic() < deadline:
                QTimer.singleShot(20, press)
            return
        seen.append((box.text(), box.defaultButton().text()))
        next(b for b in box.buttons() if b.text().replace("&", "") == button).click()

    QTimer.singleShot(0, press)


def _blocking_batch(ctx, settings):
    """A batch that runs until it is cancelled."""
    while not ctx.cancelled():
        time.sleep(0.01)
    yield from ()


def test_quitting_during_a_job_asks_and_cancel_keeps_it_running(window, qtbot, tmp_path,
                                                                 astro_crop, monkeypatch):
    import app.tabs.batch as batch_module

    monkeypatch.setattr(batch_module, "run_batch", _blocking_batch)
    batch = window.extra_tabs["batch"]
    batch.input_field.set_path(_folder(tmp_path, astro_crop))
    batch.output_field.set_path(tmp_path / "out")
    batch.start()
    assert batch.is_running()
    seen: list[tuple[str, str]] = []
    _answer("Cancel", seen)
    window.actions["quit"].trigger()  # Ctrl+Q
    assert seen == [("A job is running (Batch). Quitting stops it. Quit anyway?", "Cancel")]
    assert window.isVisible() and batch.is_running()
    _answer("Quit", seen)
    window.close()  # the window's close button
    assert len(seen) == 2 and not window.isVisible()
    qtbot.waitUntil(lambda: not batch.is_running(), timeout=RUN_TIMEOUT_MS)


def test_quitting_with_nothing_running_asks_nothing(window):
    seen: list[tuple[str, str]] = []
    _answer("Cancel", seen)  # would keep the window open if a question came
    window.actions["quit"].trigger()
    assert seen == [] and not window.isVisible()


# -- 23.5: transparency in a JPEG: flattened onto the chosen background, said once ------------
def _rgba(astro_crop: np.ndarray) -> np.ndarray:
    """The crop with its left half fully transparent over saturated green."""
    rgba = np.dstack([astro_crop, np.full(astro_crop.shape[:2], 255, np.uint8)])
    rgba[:, :24, :3] = (0, 255, 0)
    rgba[:, :24, 3] = 0
    return rgba


def test_batch_flattens_jpeg_onto_the_chosen_background_and_says_so_once(qtbot, tab, tmp_path,
                                                                         astro_crop):
    photos, out = tmp_path / "in", tmp_path / "out"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(_rgba(astro_crop)).save(photos / name)
    Image.fromarray(astro_crop).save(photos / "c.png")  # opaque: nothing to say
    tab.input_field.set_path(photos)
    tab.output_field.set_path(out)
    tab.format_combo.setCurrentText("JPEG")
    assert tab.background_button.isEnabled() and tab.background_button.text() == \
        "white (#ffffff)"
    tab.set_background((0, 0, 255))
    assert AppSettings().jpeg_background == (0, 0, 255)  # remembered for the next session
    _run(qtbot, tab)
    got = np.asarray(Image.open(out / "a.jpg").convert("RGB")).astype(int)
    assert np.abs(got[8:-8, 4:40] - (0, 0, 255)).max() <= 8  # blue, not the hidden green
    text = tab.message.text()
    assert text == ("JPEG has no transparency: 2 results with transparent parts (first: "
                    "a.png) were flattened onto #0000ff.")
    assert not tab.message.is_error() and "3 written" in tab.status.text()
    tab.format_combo.setCurrentText("PNG")
    assert not tab.background_button.isEnabled()  # PNG keeps the transparency


def test_compare_save_as_jpeg_flattens_and_says_so_once(window, tmp_path, astro_crop,
                                                        wait_idle):
    src = tmp_path / "logo.png"
    Image.fromarray(_rgba(astro_crop)).save(src)
    window.open_path(src)
    wait_idle(window)
    assert window.save_result(tmp_path / "logo_x2.jpg", quality=95)
    got = np.asarray(Image.open(tmp_path / "logo_x2.jpg").convert("RGB")).astype(int)
    assert np.abs(got[10:-10, 4:40] - 255).max() <= 4  # white, not green
    message = window.statusBar().currentMessage()
    assert message.count("flattened onto white (#ffffff)") == 1, message
    assert window.save_result(tmp_path / "logo_x2.png")
    assert "flattened" not in window.statusBar().currentMessage()
    assert Image.open(tmp_path / "logo_x2.png").mode == "RGBA"

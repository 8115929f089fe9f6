"""The Batch tab: a folder tree upscaled into another, bad files reported, the input untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from app.tabs.batch import BatchTab, check_folders
from app.workers import shutdown_jobs

RUN_TIMEOUT_MS = 30_000


def _tree_hash(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file and folder under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(folder.rglob("*"))}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("DRRN_USER_DIR", str(tmp_path / "user"))
    yield
    shutdown_jobs()


@pytest.fixture
def photos(tmp_path) -> Path:
    """in/a.png (RGB), in/sub/b.jpg (grey), in/sub/deeper/c.tif (RGB) and in/sub/bad.png (text)."""
    from skimage import data

    root = tmp_path / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    Image.fromarray(data.astronaut()[:32, :40]).save(root / "a.png")
    Image.fromarray(data.camera()[:24, :30]).save(root / "sub" / "b.jpg")
    Image.fromarray(data.coffee()[:20, :20]).save(root / "sub" / "deeper" / "c.tif")
    (root / "sub" / "bad.png").write_text("this is not a PNG")
    return root


@pytest.fixture
def tab(qtbot) -> BatchTab:
    widget = BatchTab()
    qtbot.addWidget(widget)
    return widget


def _run(qtbot, tab: BatchTab) -> None:
    tab.start()
    assert tab.is_running(), tab.message.text()
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=RUN_TIMEOUT_MS)


def test_tree_is_upscaled_bad_file_reported_input_untouched(qtbot, tab, photos, tmp_path):
    before = _tree_hash(photos)
    out = tmp_path / "out"
    tab.input_field.set_path(photos)
    tab.output_field.set_path(out)
    tab.model_combo.setCurrentIndex(0)
    assert tab.model_combo.currentData().name == "bicubic"
    with qtbot.waitSignal(tab.batchFinished, timeout=RUN_TIMEOUT_MS) as finished:
        tab.start()
    assert finished.args == [3, 1]
    assert _tree_hash(photos) == before
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == ["a.png", "sub/b.png", "sub/deeper/c.png"]
    with Image.open(out / "a.png") as im:
        assert im.size == (80, 64)
    with Image.open(out / "sub" / "b.png") as im:
        assert (im.size, im.mode) == ((60, 48), "L")
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temp files left
    [(name, reason)] = tab.failed_files()
    assert name == str(Path("sub") / "bad.png")
    assert "not an image" in reason and "\n" not in reason
    assert "3 written, 1 failed" in tab.status.text()


def test_width_format_and_quality(qtbot, tab, photos, tmp_path):
    out = tmp_path / "out"
    tab.input_field.set_path(photos)
    tab.output_field.set_path(out)
    tab.size_mode.setCurrentIndex(1)  # width
    tab.pixels_spin.setValue(100)
    tab.format_combo.setCurrentText("JPEG")
    assert tab.quality_spin.isEnabled()
    tab.quality_spin.setValue(70)
    _run(qtbot, tab)
    with Image.open(out / "a.jpg") as im:
        assert (im.size, im.format) == ((100, 80), "JPEG")
    with Image.open(out / "sub" / "deeper" / "c.jpg") as im:
        assert im.size == (100, 100)
    tab.format_combo.setCurrentText("PNG")
    assert not tab.quality_spin.isEnabled()


def test_same_names_in_one_folder_do_not_overwrite_each_other(qtbot, tab, tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    Image.fromarray(np.full((8, 8, 3), 10, np.uint8)).save(root / "a.png")
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(root / "a.bmp")
    tab.input_field.set_path(root)
    tab.output_field.set_path(tmp_path / "out")
    _run(qtbot, tab)
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outputs == ["a-2.png", "a.png"] and not tab.failed_files()


@pytest.mark.parametrize("where", ["same", "inside"])
def test_output_in_the_input_tree_is_refused(qtbot, tab, photos, where):
    before = _tree_hash(photos)
    tab.input_field.set_path(photos)
    tab.output_field.set_path(photos if where == "same" else photos / "sub" / "results")
    tab.start()
    assert not tab.is_running()
    assert tab.message.is_error() and "input folder" in tab.message.text()
    assert _tree_hash(photos) == before


def test_folder_problems_are_one_line_messages(qtbot, tab, tmp_path):
    assert check_folders(None, None) == "Choose an input folder."
    assert "not found" in check_folders(Path("/no/such/folder"), Path("/tmp"))
    empty = tmp_path / "empty"
    empty.mkdir()
    tab.input_field.set_path(empty)
    tab.output_field.set_path(tmp_path / "out")
    _run(qtbot, tab)
    assert tab.message.is_error()
    assert tab.message.text() == f"Batch stopped: There are no files in {empty}"


def test_cancel_stops_between_files(qtbot, tab, tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(30):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(root / f"{i}.png")
    out = tmp_path / "out"
    tab.input_field.set_path(root)
    tab.output_field.set_path(out)
    tab.start()
    qtbot.waitUntil(lambda: out.is_dir() and any(out.iterdir()), timeout=RUN_TIMEOUT_MS)
    tab.cancel()
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=RUN_TIMEOUT_MS)
    assert "Cancelled" in tab.status.text()
    assert 1 <= len(list(out.glob("*.png"))) < 30
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert tab.run_button.isEnabled()


def _tiny_batch(qtbot, photos: Path, out: Path, model_store: Path, monkeypatch) -> BatchTab:
    """A Batch tab from ``photos`` to ``out`` with the model store's tiny model chosen."""
    monkeypatch.setenv("DRRN_USER_DIR", str(model_store))
    tab = BatchTab()
    qtbot.addWidget(tab)
    tab.input_field.set_path(photos)
    tab.output_field.set_path(out)
    tab.model_combo.setCurrentIndex(tab.model_combo.findText("tiny", Qt.MatchFlag.MatchContains))
    return tab


def test_the_batch_is_estimated_before_it_runs(qtbot, photos, tmp_path, model_store,
                                              monkeypatch):
    """Every place uses the calibrated estimate; progress is weighted by it."""
    from app.services.upscalers import upscaler_for
    from app.tabs.batch import BatchEvent

    tab = _tiny_batch(qtbot, photos, tmp_path / "out", model_store, monkeypatch)
    assert tab.model_combo.currentData().name == "tiny"
    events: list[BatchEvent] = []
    up = upscaler_for("tiny")  # the estimate before the run (each finished run refines the rates)
    expected = sum(up.estimate_seconds(hw, scale=2.0) for hw in ((32, 40), (24, 30), (20, 20)))
    tab.start()
    tab._job.yielded.connect(events.append)
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=RUN_TIMEOUT_MS)
    first = events[0]
    assert first.kind == "estimate" and first.total == 4
    assert first.seconds == pytest.approx(expected)
    assert sum(first.shares) == pytest.approx(1.0) and first.shares[0] > first.shares[-1] >= 0
    assert tab.overall_bar.value() == 1000


def test_self_ensemble_upscales_each_image_with_model_plus(qtbot, photos, tmp_path, model_store,
                                                          monkeypatch):
    """Self-ensemble runs MODEL+ on every image (the engine's 8-pass mean) and is remembered."""
    from app.services.upscalers import upscaler_for

    tab = _tiny_batch(qtbot, photos, tmp_path / "out", model_store, monkeypatch)
    tab.ensemble_check.setChecked(True)
    assert tab.settings().model == "tiny+"
    _run(qtbot, tab)
    source = np.asarray(Image.open(photos / "a.png"), dtype=np.float32) / 255
    plus = upscaler_for("tiny+").upscale(source, scale=2.0)
    plain = upscaler_for("tiny").upscale(source, scale=2.0)
    got = np.asarray(Image.open(tmp_path / "out" / "a.png"), dtype=int)
    assert np.abs(got - np.round(plus * 255)).max() <= 1
    assert np.abs(got - np.round(plain * 255)).max() > 1
    tab.save_choices()
    again = BatchTab()
    qtbot.addWidget(again)
    assert again.ensemble_check.isChecked() and again.settings().model == "tiny+"


# -- file-name template, keep the format, existing files, remembered fields ------------------
def test_template_and_keep_format(qtbot, tab, photos, tmp_path):
    out = tmp_path / "out"
    tab.input_field.set_path(photos)
    tab.output_field.set_path(out)
    tab.template_edit.setText("{name}_x{scale}")
    tab.format_combo.setCurrentText("Keep input's format")
    assert tab.quality_spin.isEnabled()  # keeping may write JPEG or WebP
    _run(qtbot, tab)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a_x2.png", "sub/b_x2.jpg", "sub/deeper/c_x2.tif"]
    with Image.open(out / "sub" / "b_x2.jpg") as im:
        assert (im.format, im.size) == ("JPEG", (60, 48))


def test_bad_template_is_refused_before_running(qtbot, tab, photos, tmp_path):
    tab.input_field.set_path(photos)
    tab.output_field.set_path(tmp_path / "out")
    tab.template_edit.setText("../{name}")
    tab.start()
    assert not tab.is_running()
    assert tab.message.is_error() and "template" in tab.message.text()
    assert not (tmp_path / "out").exists()


def test_existing_results_are_skipped_when_asked(qtbot, tab, photos, tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "a.png").write_bytes(b"keep me")
    tab.input_field.set_path(photos)
    tab.output_field.set_path(out)
    tab.existing_combo.setCurrentText("Skip the file")
    _run(qtbot, tab)
    assert (out / "a.png").read_bytes() == b"keep me"
    assert (out / "sub" / "b.png").is_file()
    assert "2 written, 1 skipped (already there), 1 failed" in tab.status.text()


def test_output_over_the_size_limit_fails_alone(qtbot, tab, photos, tmp_path, monkeypatch):
    from drrn_core import limits

    monkeypatch.setattr(limits, "MAX_OUTPUT_PIXELS", 3000)  # a.png x2 is 80x64 = 5120 px
    out = tmp_path / "out"
    tab.input_field.set_path(photos)
    tab.output_field.set_path(out)
    _run(qtbot, tab)
    failed = dict(tab.failed_files())
    assert "MP limit" in failed["a.png"] and "\n" not in failed["a.png"]
    assert not (out / "a.png").exists() and (out / "sub" / "b.png").is_file()


def test_fields_are_remembered(qtbot, photos, tmp_path):
    first = BatchTab()
    qtbot.addWidget(first)
    first.input_field.set_path(photos)
    first.output_field.set_path(tmp_path / "out")
    first.size_mode.setCurrentIndex(2)
    first.pixels_spin.setValue(333)
    first.format_combo.setCurrentText("WebP")
    first.quality_spin.setValue(77)
    first.template_edit.setText("{name}_{size}")
    first.existing_combo.setCurrentText("Keep it, add -2")
    first.save_choices()
    again = BatchTab()
    qtbot.addWidget(again)
    assert again.settings() == first.settings()
    assert again.settings().template == "{name}_{size}" and again.settings().existing == "rename"
    assert (again.settings().height, again.settings().fmt, again.settings().quality) == (
        333, "WebP", 77)


def test_name_preview_and_fields_saved_as_they_change(qtbot, tab, tmp_path):
    assert tab.name_preview.text() == "e.g. photo.jpg → photo.png"
    tab.template_edit.setText("{name}_x{scale}")
    tab.format_combo.setCurrentText("Keep input's format")
    assert tab.name_preview.text() == "e.g. photo.jpg → photo_x2.jpg"
    tab.size_mode.setCurrentIndex(1)
    tab.pixels_spin.setValue(640)
    assert tab.name_preview.text() == "e.g. photo.jpg → photo_xw640.jpg"
    tab.template_edit.setText("{name}/{size}")
    assert "separator" in tab.name_preview.text()
    tab.template_edit.setText("{name}_{size}")
    tab.output_field.set_path(tmp_path / "results")
    qtbot.wait(800)  # saved a moment after the last change, without running a batch
    again = BatchTab()
    qtbot.addWidget(again)
    assert again.settings() == tab.settings()
    assert again.name_preview.text() == "e.g. photo.jpg → photo_w640.jpg"

"""Cosmetics: notes that fit their pane, an error-scale label clear of its ticks,
"1 patch/s", one checkerboard size, one JPEG quality default, drops taken as copies, no negative
timer intervals, empty plots that say so (and whole iterations), a validation period the budget
cannot reach, and one line per resume."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, QRect, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.services import exports
from app.settings import DEFAULT_QUALITY, AppSettings
from app.tabs._widgets import FolderList, PathField
from app.tabs.batch import BatchTab
from app.tabs.benchmark import BenchmarkTab
from app.tabs.training import TrainingTab, rate_text
from app.views.image_pane import CHECKER, ImagePane
from app.workers import shutdown_jobs

RUN_TIMEOUT_MS = 60_000


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield
    shutdown_jobs()


def test_a_long_pane_note_wraps_inside_the_pane(qtbot):
    pane = ImagePane("drrn", "DRRN (tiny)")
    qtbot.addWidget(pane)
    pane.resize(230, 200)
    pane.show()
    note = "DRRN on this image takes about 2 min:\n“Run DRRN on the whole image” to run it"
    pane.set_image(None, note=note)
    label = pane.placeholder
    room = label.contentsRect()
    flags = int(Qt.AlignmentFlag.AlignCenter) | (
        int(Qt.TextFlag.TextWordWrap) if label.wordWrap() else 0)
    drawn = label.fontMetrics().boundingRect(QRect(0, 0, room.width(), 1000), flags, note)
    assert drawn.width() <= room.width() and drawn.height() <= room.height()


@pytest.mark.parametrize("height", [130, 200, 300])
def test_the_error_scale_label_keeps_clear_of_the_ticks(height):
    lut = pg.colormap.get("inferno").getLookupTable(nPts=256)
    err = np.tile(np.linspace(0, 30, 40, dtype=np.float32), (height, 1))
    coloured = exports.colourise(err, 127.5, lut)
    bare = exports.with_colour_scale(coloured, 127.5, lut, label="")
    labelled = exports.with_colour_scale(coloured, 127.5, lut)
    label = (labelled != bare).any(axis=2)
    assert label.sum() > 50  # the label is there ...
    ticks = (bare < 200).any(axis=2)
    ticks[:, :40 + 22] = False  # the tick values (the map and the ramp left out)
    near = np.zeros_like(ticks)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near |= np.roll(np.roll(ticks, dy, axis=0), dx, axis=1)
    assert not (label & near).any()  # ... and 2 px from every tick value
    cols = np.nonzero(label.any(axis=0))[0]
    assert cols.max() < bare.shape[1] - 1  # not cut off at the right edge


def test_rates_are_singular_for_one():
    assert (rate_text(1.2), rate_text(0.6), rate_text(40.4)) == (
        "1 patch/s", "1 patch/s", "40 patches/s")


def _square_in_output_px(pane) -> float:
    """Width of the first checkerboard square of a pane, in output pixels."""
    row = pane.displayed()[0, :, 0].astype(int)
    run = int(np.argmax(row != row[0]))
    return run * pane.output_size[0] / row.shape[0]


def test_checkerboard_squares_are_the_same_size_in_every_pane(window, tmp_path, wait_idle):
    rgba = np.zeros((32, 32, 4), np.uint8)  # fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    window.compare.controls.scale.setValue(2)
    window.open_path(tmp_path / "clear.png")
    wait_idle(window)
    panes = window.compare.grid.panes
    assert panes["input"].image.shape[:2] == (32, 32) and panes["bicubic"].output_size == (64, 64)
    assert _square_in_output_px(panes["input"]) == _square_in_output_px(panes["bicubic"]) \
        == CHECKER


def test_one_jpeg_quality_default(qtbot):
    tab = BatchTab()
    qtbot.addWidget(tab)
    assert tab.quality_spin.value() == AppSettings().jpeg_quality == DEFAULT_QUALITY


def test_folder_drops_are_copies_everywhere(qtbot, tmp_path):
    folders, field = FolderList(), PathField()
    qtbot.addWidget(folders)
    qtbot.addWidget(field)
    mime = QMimeData()  # kept alive: the events do not own it
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path))])
    for widget in (folders, field):
        event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction | Qt.DropAction.MoveAction,
                           mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier)
        assert event.proposedAction() == Qt.DropAction.MoveAction  # as a file manager proposes
        widget.dropEvent(event)
        assert event.dropAction() == Qt.DropAction.CopyAction and event.isAccepted()
    assert folders.folders() == [tmp_path.resolve()] and field.path() == tmp_path


def test_batch_fields_never_start_a_timer_with_their_value(qtbot, qtlog):
    tab = BatchTab()
    qtbot.addWidget(tab)
    tab.refresh_models()  # clearing the model box emits index -1
    tab.pixels_spin.setValue(1920)
    assert tab._save_timer.interval() == 500  # saved half a second after a change, not 1.9 s
    assert not [r for r in qtlog.records if "negative interval" in r.message]


def _whole(axis, lo: float, hi: float) -> list[float]:
    return [v for _, values in axis.tickValues(lo, hi, 400) for v in values]


def test_empty_plots_say_so_and_iterations_are_whole(qtbot):
    from drrn_core.trainer.runlog import History

    tab = TrainingTab()
    qtbot.addWidget(tab)
    for plot in (tab.loss_plot, tab.psnr_plot):
        assert plot.placeholder.is_empty() and not plot.getPlotItem().getAxis("left").isVisible()
    tab._show_history(History(loss=[(1, 0.5), (2, 0.4)], psnr={2: [(2, 30.0)]}))
    for plot in (tab.loss_plot, tab.psnr_plot):
        assert not plot.placeholder.is_empty() and plot.getPlotItem().getAxis("left").isVisible()
        ticks = _whole(plot.getPlotItem().getAxis("bottom"), 1.0, 2.0)
        assert ticks and all(v == int(v) for v in ticks)
    bench = BenchmarkTab()
    qtbot.addWidget(bench)
    assert bench.plot_placeholder.is_empty()
    assert not bench.plot.getPlotItem().getAxis("bottom").isVisible()
    assert all(v == int(v) for v in _whole(bench.plot.getPlotItem().getAxis("bottom"), 0, 2))


def test_iteration_ticks_are_whole_iterations_written_in_full(qtbot):
    """Long runs too: no "1.5e+06" (nor an "x1e+06" scale under "1.5") and no negative
    iteration where the plot's padding reaches below 0."""
    tab = TrainingTab()
    qtbot.addWidget(tab)
    for plot in (tab.loss_plot, tab.psnr_plot):
        axis = plot.getPlotItem().getAxis("bottom")
        for lo, hi in ((-30_960.0, 690_961.0), (-117_277.0, 2_617_278.0), (0.72, 7.28)):
            labels = [text for spacing, values in axis.tickValues(lo, hi, 600)
                      for text in axis.tickStrings(values, axis.autoSIPrefixScale * axis.scale,
                                                   spacing)]
            assert labels and all(text.replace(",", "").isdigit() for text in labels), labels
        assert "1,500,000" in axis.tickStrings([1_500_000.0], 1.0, 500_000.0)
        axis.setRange(0, 2_600_000)
        assert axis.autoSIPrefixScale == 1.0


def test_a_validation_period_the_budget_cannot_reach_is_flagged(qtbot, tmp_path):
    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.recipe_combo.setCurrentText("fast")
    tab.budget_combo.setCurrentIndex(2)  # until iteration
    tab.budget_spin.setValue(500)
    tab.val_every_spin.setValue(1000)
    assert tab.val_warning.isVisibleTo(tab)
    assert tab.val_warning.text() == ("⚠ Validation every 1,000 iterations would never run: "
                                      "the budget ends at iteration 500.")
    tab.val_every_spin.setValue(250)
    assert not tab.val_warning.isVisibleTo(tab)
    tab.budget_combo.setCurrentIndex(1)  # until epoch
    tab.budget_spin.setValue(1)
    tab.val_every_spin.setValue(tab._iters_per_epoch + 1)
    assert "1 epoch end at iteration" in tab.val_warning.text()
    # minutes: converted with the speed logged in the run folder
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.csv").write_text("iteration,epoch,loss,lr,patches_per_s,elapsed_s,val_psnr\n"
                                 "1,0,0.1,0.001,40.0,1.0,\n")
    tab.budget_combo.setCurrentIndex(0)
    tab.budget_spin.setValue(1)
    tab.batch_spin.setValue(16)
    tab.val_every_spin.setValue(1000)
    tab.run_field.set_path(run)
    qtbot.waitUntil(lambda: "run folder" in tab.val_warning.text(), timeout=5000)
    assert tab.val_warning.isVisibleTo(tab)
    assert tab.val_warning.text() == (
        "⚠ Validation every 1,000 iterations would never run: 1 min is about 150 iterations at "
        "the 40 patches/s logged in the run folder.")
    tab.val_every_spin.setValue(100)
    assert not tab.val_warning.isVisibleTo(tab)


def test_a_minutes_budget_is_checked_with_a_quick_speed_test(qtbot):
    """No run measured and no log in the run folder: a quick speed test on this computer
    converts the minutes, so a period out of reach is flagged as the user sets it."""
    import re

    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.show()
    tab.recipe_combo.setCurrentText("fast")
    tab.c_spin.setValue(8)
    tab.budget_combo.setCurrentIndex(0)  # minutes
    tab.budget_spin.setValue(1)
    tab.val_every_spin.setValue(10_000_000)
    qtbot.waitUntil(lambda: tab.val_warning.isVisibleTo(tab), timeout=20_000)
    assert re.fullmatch(r"⚠ Validation every 10,000,000 iterations would never run: 1 min is "
                        r"about [\d,]+ iterations at the [\d,]+ patch(es)?/s a quick test "
                        r"measured on this computer\.", tab.val_warning.text())
    tab.val_every_spin.setValue(1)
    assert not tab.val_warning.isVisibleTo(tab)


def test_the_fields_as_shown_are_checked_too(qtbot, tmp_path):
    """The fields a user finds (a period out of reach, left from before) are checked when the
    tab is shown, without a change."""
    from app.main_window import settings_at

    settings = settings_at(tmp_path / "settings.ini")
    settings.training_fields = {"recipe": "fast", "channels": 8, "budget_kind": 0, "budget": 1,
                                "val_every": 10_000_000}
    tab = TrainingTab(settings=settings)
    qtbot.addWidget(tab)
    qtbot.wait(1000)
    assert not tab.val_warning.text()  # nothing measured before the tab is seen
    tab.show()
    qtbot.waitUntil(lambda: tab.val_warning.isVisibleTo(tab), timeout=20_000)
    assert "10,000,000 iterations would never run" in tab.val_warning.text()


def test_a_resume_writes_one_line(qtbot, training_tab, tmp_path):
    tab = training_tab
    tab.budget_spin.setValue(2)
    tab.start()
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=RUN_TIMEOUT_MS)
    tab.log.clear()
    tab.budget_spin.setValue(4)
    tab.resume_run()
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=RUN_TIMEOUT_MS)
    assert not tab.message.is_error(), tab.message.text()
    text = tab.log.toPlainText().replace(str(tmp_path), "TMP")  # its name holds "resume"
    lines = [ln for ln in text.splitlines() if "esum" in ln]
    assert len(lines) == 1 and lines[0].startswith("Resuming at iteration 2 of "), lines

"""The Training tab: a few steps of a tiny DRRN with live curves, pause, cancel (checkpoint),
resume, "Use this model", and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.tabs.training import TrainingTab
from app.workers import shutdown_jobs

RUN_TIMEOUT_MS = 60_000


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """User models and the patch cache under tmp_path, never the real user folders."""
    monkeypatch.setenv("DRRN_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield
    shutdown_jobs()


@pytest.fixture
def tab(training_tab) -> TrainingTab:
    """The shared tiny-run set-up (conftest's training_tab)."""
    return training_tab


def _budget(tab: TrainingTab, iterations: int) -> None:
    tab.budget_combo.setCurrentIndex(2)  # until iteration
    tab.budget_spin.setValue(iterations)


def _wait_done(qtbot, tab: TrainingTab) -> None:
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=RUN_TIMEOUT_MS)


def test_recipe_choice_fills_the_fields(qtbot):
    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.recipe_combo.setCurrentText("paper")
    assert (tab.u_spin.value(), tab.c_spin.value(), tab.patch_spin.value()) == (9, 128, 31)
    assert tab.batch_spin.value() == 128 and not tab.recipe_file.isEnabled()


def test_a_few_steps_draw_the_curves_and_the_model_can_be_used(qtbot, tab, tmp_path):
    tab.start()
    assert tab.is_running() and tab.pause_button.isEnabled()
    _wait_done(qtbot, tab)
    assert not tab.message.is_error(), tab.message.text()
    iterations, losses = tab.loss_points()
    assert iterations == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(losses)) and all(v > 0 for v in losses)
    assert list(tab.loss_curve.getData()[0]) == iterations
    curves = tab.psnr_plot.getPlotItem().listDataItems()
    assert [c.getData()[0].tolist() for c in curves] == [[3, 6]]
    log = tab.log.toPlainText()
    assert "Validation at iteration 3" in log and "Checkpoint at iteration 6" in log
    assert "Stopped at iteration 6" in log
    assert (tmp_path / "run" / "last.safetensors").is_file()

    assert tab.use_button.isEnabled()
    with qtbot.waitSignal(tab.modelReady, timeout=RUN_TIMEOUT_MS) as ready:
        tab.use_button.click()
    path = Path(ready.args[0])
    assert path.parent == tmp_path / "user" / "models" and path.is_file()
    from drrn_core import weights

    entry = next(e for e in weights.list_models() if e.path == path)
    assert (entry.source, entry.descriptor.config.channels) == ("user", 8)


def test_pause_cancel_checkpoints_and_resume_continues(qtbot, tab, tmp_path):
    _budget(tab, iterations=100_000)
    tab.val_every_spin.setValue(100_000)
    tab.start()
    qtbot.waitUntil(lambda: len(tab.loss_points()[0]) >= 1, timeout=RUN_TIMEOUT_MS)
    tab.toggle_pause()
    assert tab.pause_button.text() == "Continue"
    qtbot.wait(1000)  # the steps up to the next event may still land
    seen = len(tab.loss_points()[0])
    qtbot.wait(500)
    assert len(tab.loss_points()[0]) == seen  # paused: no more steps
    tab.cancel()
    _wait_done(qtbot, tab)
    assert "Cancelled" in tab.status.text()
    assert (tmp_path / "run" / "last.safetensors").is_file()

    with qtbot.waitSignal(tab.modelReady, timeout=RUN_TIMEOUT_MS) as ready:
        tab.use_button.click()  # no finished weights: exported from the checkpoint
    from drrn_core import weights

    iteration = weights.read_header(ready.args[0])[2]["training"]["iteration"]
    assert iteration >= seen and Path(ready.args[0]).stem == f"run-{iteration}"

    tab.start()  # the folder now holds a run: a new start is refused
    assert not tab.is_running() and "Resume" in tab.message.text()

    stopped = tab.loss_points()[0][-1]
    tab.c_spin.setValue(16)  # the architecture comes from the checkpoint, not the fields
    _budget(tab, iterations=stopped + 20)
    tab.resume_run()
    _wait_done(qtbot, tab)
    assert not tab.message.is_error(), tab.message.text()
    assert tab.c_spin.value() == 8
    assert "Resuming at iteration" in tab.log.toPlainText()
    xs = tab.loss_points()[0]
    assert xs[0] <= stopped < xs[-1] == stopped + 20  # the earlier curve, then the resumed part
    assert xs == sorted(set(xs))  # each iteration once, in order


def test_resume_shows_the_runs_curves_so_far(qtbot, tab):
    """A resumed run's loss and validation curves start with what its log holds, so the plots
    show the whole run, not only this session's part."""
    tab.start()
    _wait_done(qtbot, tab)
    first_losses = tab.loss_points()[1]
    first_psnr = tab.psnr_plot.getPlotItem().listDataItems()[0].getData()[1].tolist()
    tab.loss_curve.setData([], [])
    _budget(tab, iterations=9)
    tab.resume_run()
    _wait_done(qtbot, tab)
    assert not tab.message.is_error(), tab.message.text()
    iterations, losses = tab.loss_points()
    assert iterations == list(range(1, 10))
    assert losses[:6] == pytest.approx(first_losses, rel=1e-5)  # as logged: 6 digits
    assert list(tab.loss_curve.getData()[0]) == iterations
    (curve,) = tab.psnr_plot.getPlotItem().listDataItems()
    assert curve.getData()[0].tolist() == [3, 6, 9]
    assert curve.getData()[1].tolist()[:2] == pytest.approx(first_psnr, abs=5e-4)  # 3 decimals


def test_choosing_a_run_folder_shows_its_curves(qtbot, tab, tmp_path):
    """Between runs the plots show the chosen folder's logged curves; a folder without a log
    (or none chosen) leaves them empty."""
    tab.start()
    _wait_done(qtbot, tab)
    other = TrainingTab()
    qtbot.addWidget(other)
    other.run_field.set_path(tmp_path / "run")
    qtbot.waitUntil(lambda: other.loss_points()[0] == [1, 2, 3, 4, 5, 6], timeout=5000)
    assert list(other.loss_curve.getData()[0]) == [1, 2, 3, 4, 5, 6]
    assert [c.getData()[0].tolist() for c in other.psnr_plot.getPlotItem().listDataItems()] \
        == [[3, 6]]
    other.run_field.set_path(tmp_path / "hr")  # images, no log
    qtbot.waitUntil(lambda: other.loss_points() == ([], []), timeout=5000)
    assert other.psnr_plot.getPlotItem().listDataItems() == []


def test_problems_are_one_line_messages(qtbot, tab, tmp_path):
    tab.run_field.set_path("")
    tab.start()
    assert tab.message.is_error() and "run folder" in tab.message.text()
    tab.run_field.set_path(tmp_path / "run")
    tab.data_field.set_path(tmp_path / "missing")
    tab.start()
    assert "training images" in tab.message.text() and not tab.is_running()
    tab.resume_run()
    assert "no checkpoint" in tab.message.text()

    bad = tmp_path / "bad.toml"
    bad.write_text("this is [not toml")
    tab.recipe_file.set_path(bad)
    tab.recipe_file.edit.editingFinished.emit()
    assert tab.recipe_combo.currentText() == "From file…"
    assert tab.message.is_error() and "TOML" in tab.message.text()

    empty = tmp_path / "empty"
    empty.mkdir()
    tab.recipe_combo.setCurrentText("fast")
    tab.data_field.set_path(empty)
    tab.start()
    _wait_done(qtbot, tab)
    assert tab.message.is_error() and "\n" not in tab.message.text()


def test_use_this_model_without_a_run_says_why(qtbot, tab):
    tab.use_model()
    assert tab.message.is_error() and "no trained model" in tab.message.text()


def test_time_budget_spec(tab):
    tab.budget_combo.setCurrentIndex(0)
    tab.budget_spin.setValue(2)
    spec = tab.spec()
    assert (spec.time_budget_s, spec.max_iters) == (120.0, None)
    tab.budget_combo.setCurrentIndex(1)
    spec = tab.spec()
    assert spec.max_iters == 2 * spec.recipe.iters_per_epoch


# -- small windows, "Use this model", charts, progress against a time budget -------------------
def test_fields_keep_their_height_in_a_small_window(qtbot):
    """At 800x560 the recipe fields keep their height (not squeezed to 1-2 px strips)."""
    from app.tabs.training import TrainingTab

    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.resize(800, 520)
    tab.show()
    qtbot.waitExposed(tab)
    for spin in (tab.patch_spin, tab.batch_spin, tab.val_every_spin, tab.budget_spin,
                 tab.b_spin, tab.c_spin, tab.recipe_combo):
        assert spin.height() >= spin.minimumSizeHint().height(), spin


def test_use_this_model_is_enabled_only_with_a_model(qtbot, tab, tmp_path):
    """The button is disabled until a training run has a model."""
    assert not tab.use_button.isEnabled()
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.safetensors").write_bytes(b"x")
    tab.run_field.set_path(str(run) + "/")
    assert tab.use_button.isEnabled()


def test_loss_axis_has_numbers_at_real_loss_values(qtbot):
    """A loss between 0.0021 and 0.0029 gets y-axis numbers (log axis)."""
    import math

    tab = TrainingTab()
    qtbot.addWidget(tab)
    axis = tab.loss_plot.getAxis("left")
    ticks = axis.tickValues(math.log10(0.0021), math.log10(0.0029), 300)
    labels = [s for spacing, values in ticks for s in axis.tickStrings(values, 1, spacing)]
    assert len(labels) >= 2
    assert all(0.0021 <= float(x) <= 0.0029 for x in labels), labels


def test_progress_and_eta_follow_the_time_budget(qtbot, tab, monkeypatch):
    """With a 5-minute budget the bar and the ETA follow the budget's time, not the iterations."""
    from drrn_core.trainer.loop import Progress

    clock = [1000.0]
    monkeypatch.setattr("app.tabs.training.time.monotonic", lambda: clock[0])
    tab._budget_s = 300.0
    tab._clock_start = None
    tab._on_event(Progress(1, 1_000_000, 0, 0.01, 0.1, 50.0, 1_314_931.0))
    clock[0] += 150.0
    tab._on_event(Progress(100, 1_000_000, 0, 0.01, 0.1, 50.0, 1_314_931.0))
    assert tab.progress.value() == 500
    assert "ETA 2:30" in tab.status.text()

"""The Training tab: drrn_core.trainer's loop on a worker thread, with live loss and validation
PSNR curves, pause / continue / cancel (cancel checkpoints first), resume from a run folder, and
"Use this model", which imports the run's weights into the user's models."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.tabs._widgets import (
    IntegerAxis,
    MessageLine,
    PathField,
    PlotPlaceholder,
    scroll_panel,
    user_message,
)
from app.workers import Job, JobContext, format_eta, start_job

if TYPE_CHECKING:
    from drrn_core.model import DRRNConfig
    from drrn_core.trainer.runlog import History

log = logging.getLogger("drrn-studio.training")

RECIPES = ("fast", "paper")
RECIPE_FILE = "From file…"
BUDGETS = ("Minutes (this session)", "Until epoch", "Until iteration")
_PSNR_COLOURS = {2: "#1f77b4", 3: "#d62728", 4: "#2ca02c"}


class LogAxis(pg.AxisItem):
    """A log-scale axis that labels narrow ranges too: pyqtgraph only labels whole mantissas
    (0.002, 0.003), so a loss between 0.0021 and 0.0029 had no numbers at all. Within less than
    a decade this axis puts 1-2-5 steps of the value itself on the log scale."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph override)
        if not self.logMode or not (math.isfinite(minVal) and math.isfinite(maxVal)) \
                or maxVal - minVal >= 1.0:
            return super().tickValues(minVal, maxVal, size)
        lo, hi = 10.0 ** minVal, 10.0 ** maxVal
        values = nice_ticks(lo, hi, max(2, int(size // 40)))
        return [(None, [math.log10(v) for v in values])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph override)
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        return [f"{10.0 ** v:.3g}" for v in values]


class IterationAxis(IntegerAxis):
    """An axis of iterations: whole numbers from 0, each written out in full with thousands
    separators (pyqtgraph writes 1500000 as "1.5e+06", and its padding shows negative ones)."""

    def __init__(self, orientation: str, **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)  # "iteration (x1e+06)" with ticks of 1.5 otherwise

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph override)
        levels = [(spacing, [v for v in values if v >= 0])
                  for spacing, values in super().tickValues(minVal, maxVal, size)]
        return [level for level in levels if level[1]]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph override)
        return [f"{round(v * scale):,}" for v in values]


def rate_text(patches_per_s: float) -> str:
    """``40 patches/s``, ``1 patch/s``."""
    n = f"{patches_per_s:.0f}"
    return f"{n} patch/s" if n == "1" else f"{n} patches/s"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1-2-5 steps) inside [lo, hi], hi > lo > 0."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    values = [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]
    return [float(f"{v:.12g}") for v in values if lo - 1e-12 <= v <= hi + 1e-12 and v > 0]


@dataclass(frozen=True)
class Resumed:
    """Yielded first when resuming: the architecture and iteration found in the run folder, and
    the run's curves up to that iteration (from its log)."""

    config: DRRNConfig
    iteration: int
    history: History
    run_dir: Path | None = None


def run_training(ctx: JobContext, spec) -> Iterator:
    """Worker body: drrn_core's training events; closing this generator checkpoints the run."""
    from drrn_core.trainer import checkpoint
    from drrn_core.trainer.loop import iter_training
    from drrn_core.trainer.runlog import read_history

    if spec.resume:
        notes: list[str] = []
        state = checkpoint.load_latest(spec.run_dir, warn=notes.append)
        if state is None:
            raise ValueError(f"Nothing to resume: no checkpoint in {spec.run_dir}")
        spec = _with_model(spec, state[1]["model"])
        iteration = int(state[1]["iteration"])
        yield Resumed(spec.model, iteration, read_history(spec.run_dir, up_to=iteration),
                      Path(spec.run_dir))
    yield from iter_training(spec)


def _with_model(spec, model_dict: dict):
    """``spec`` with the architecture stored in a checkpoint (a resumed run keeps its model)."""
    from dataclasses import replace

    from drrn_core.model import DRRNConfig

    config = DRRNConfig.from_dict(model_dict)
    return replace(spec, model=config, recipe=spec.recipe.with_overrides(model=config))


def patch_cost(blocks: int, units: int, channels: int, patch: int) -> float:
    """Relative work of one training patch (3x3 convolutions x channels² x pixels): a speed
    measured with one architecture and patch size carries over to others in this ratio."""
    convs = blocks * (2 * units + 1) + 2
    return float(convs * channels ** 2 * patch ** 2)


def measure_training_rate(ctx: JobContext, channels: int, patch: int) -> tuple[float, float]:
    """Worker body: (patches/s, :func:`patch_cost`) of a quick test on this computer, forward
    and backward passes (MSE) of a one-unit DRRN with ``channels`` on ``patch``-px patches
    (under a second). A real step adds the optimiser and the data to this, so the speed is an
    upper bound: a validation period it finds out of reach is out of reach."""
    import torch

    from drrn_core.model import DRRN, DRRNConfig

    net = DRRN(DRRNConfig(B=1, U=1, channels=channels, batchnorm=False))
    x = torch.rand(2, 1, patch, patch)
    times = []
    for _ in range(3):  # the first pass pays one-off costs
        ctx.check()
        start = time.perf_counter()
        torch.nn.functional.mse_loss(net(x), x).backward()
        times.append(time.perf_counter() - start)
    return x.shape[0] / min(times[1:]), patch_cost(1, 1, channels, patch)


def export_run(ctx: JobContext, spec) -> str:
    """Worker body of "Use this model" for a stopped run: resume it for zero more steps (the loop
    then exports its weights), and import those; the imported path."""
    from dataclasses import replace

    from drrn_core.trainer import checkpoint
    from drrn_core.trainer.loop import Finished, iter_training

    state = checkpoint.load_latest(spec.run_dir, warn=lambda _message: None)
    if state is None:
        raise ValueError(f"No checkpoint in {spec.run_dir}")
    spec = replace(_with_model(spec, state[1]["model"]), resume=True, time_budget_s=None,
                   max_iters=int(state[1]["iteration"]))
    finished = [e for e in iter_training(spec) if isinstance(e, Finished)]
    weights = finished[-1].weights
    assert weights is not None  # written by rank 0, the app's only process
    return import_weights(ctx, weights)


def import_weights(ctx: JobContext, path: Path) -> str:
    """Worker body of "Use this model": copy the weights into the user's models as
    RUN-ITERATION (importing the same weights again replaces that copy); the new path."""
    from drrn_core import weights

    _, _, metadata = weights.read_header(path)
    iteration = metadata.get("training", {}).get("iteration")
    name = path.parent.name if iteration is None else f"{path.parent.name}-{iteration}"
    return str(weights.import_user_model(path, name=name, overwrite=True).path)


class TrainingTab(QWidget):
    """Train a DRRN from a folder of HR images; hand the result to the rest of the app."""

    modelReady = Signal(str)  # noqa: N815 (Qt signal naming) - path of the imported weights

    def __init__(self, parent: QWidget | None = None, settings=None) -> None:
        super().__init__(parent)
        from app.settings import AppSettings

        self.settings = settings if settings is not None else AppSettings()
        self._budget_s: float | None = None
        self._clock_start: float | None = None
        self._paused_s = 0.0
        self._paused_at: float | None = None
        self._job: Job | None = None
        self._import_job: Job | None = None
        self._weights: Path | None = None
        self._loss: tuple[list[int], list[float]] = ([], [])
        self._psnr: dict[int, tuple[list[int], list[float]]] = {}
        self._resume_notice = ""  # the loop's own resume notice, said by the Resumed line
        self._iters_per_epoch: int | None = None  # of the chosen recipe
        self._last_rate: tuple[float, float] | None = None  # patches/s here, at a patch cost
        self._folder_rate: float | None = None  # patches/s logged in the run folder
        self._test_rate: tuple[float, float] | None = None  # a quick test's, at a patch cost
        self._test_job: Job | None = None
        self._build_ui()
        self._on_recipe_choice()
        self.restore_fields()
        self._update_buttons()
        self._remember_fields()
        # A budget in minutes without a known speed: a quick speed test once the fields rest.
        self._speed_test = QTimer(self, singleShot=True, interval=400)
        self._speed_test.timeout.connect(self._start_speed_test)
        for spin in (self.val_every_spin, self.budget_spin, self.batch_spin, self.patch_spin,
                     self.b_spin, self.u_spin, self.c_spin):
            spin.valueChanged.connect(self._fields_changed)
        self.budget_combo.currentIndexChanged.connect(self._fields_changed)
        self._check_validation()

    # UI construction
    def _build_ui(self) -> None:
        controls = QWidget(self)
        side = QVBoxLayout(controls)
        side.setContentsMargins(0, 0, 4, 0)
        side.addWidget(self._folders_box())
        side.addWidget(self._architecture_box())
        side.addWidget(self._recipe_box())
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start new run", self)
        self.start_button.clicked.connect(self.start)
        self.resume_button = QPushButton("Resume run", self)
        self.resume_button.setToolTip("Continue the run saved in the run folder")
        self.resume_button.clicked.connect(self.resume_run)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.resume_button)
        side.addLayout(buttons)
        buttons = QHBoxLayout()
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop training; a checkpoint is written first")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        side.addLayout(buttons)
        self.use_button = QPushButton("Use this model", self)
        self.use_button.setToolTip("Add the trained weights to your models and select them in "
                                   "Compare (nothing is computed until you ask). Available once "
                                   "the run folder holds a checkpoint.")
        self.use_button.clicked.connect(self.use_model)
        side.addWidget(self.use_button)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        side.addWidget(self.progress)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        side.addWidget(self.status)
        self.message = MessageLine(self)
        side.addWidget(self.message)
        side.addStretch(1)

        self.loss_plot = self._make_plot("Training loss", "loss",
                                         axisItems={"left": LogAxis("left")})
        self.loss_plot.setLogMode(y=True)
        self.loss_plot.getAxis("left").enableAutoSIPrefix(False)
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen("#1f77b4", width=1.5))
        self.loss_curve.setDownsampling(auto=True, method="peak")
        self.loss_curve.setClipToView(True)
        self._redraw = QTimer(self, singleShot=True, interval=200)  # coalesces fast steps
        self._redraw.timeout.connect(self._draw_loss)
        self._folder_curves = QTimer(self, singleShot=True, interval=300)  # after typing stops
        self._folder_curves.timeout.connect(self._show_folder_history)
        self.run_field.changed.connect(lambda _t: self._folder_curves.start())
        self.psnr_plot = self._make_plot("Validation PSNR", "PSNR (dB)")
        self.psnr_plot.addLegend(offset=(-10, -10), labelTextColor="#333",
                                 brush=(255, 255, 255, 200))
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("Checkpoints and notices appear here.")
        self.log.setToolTip("The run's checkpoints, validation results and notices")
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        for w in (self.loss_plot, self.psnr_plot, self.log):
            splitter.addWidget(w)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([400, 300, 140])

        self.controls_scroll = scroll_panel(controls)
        lay = QHBoxLayout(self)
        lay.addWidget(self.controls_scroll)
        lay.addWidget(splitter, 1)
        self._tooltips()

    def _tooltips(self) -> None:
        """Every control says what it does."""
        tips = {
            self.start_button: "Train a new model in the (empty) run folder",
            self.pause_button: "Pause after the current step / continue",
            self.recipe_combo: "fast: the recipe that trained the bundled model; paper: the "
                               "authors' settings; or a recipe .toml file",
            self.patch_spin: "Side of the square training patches (px)",
            self.batch_spin: "Patches per step",
            self.val_every_spin: "Measure the validation PSNR this often",
            self.budget_combo: "When to stop: after some minutes of training in this session, "
                               "at an epoch or at an iteration",
            self.budget_spin: "The amount for the budget on the left",
            self.bn_check: "Batch normalisation in the residual units",
            self.progress: "Share of the budget used",
        }
        for widget, tip in tips.items():
            widget.setToolTip(tip)

    def _folders_box(self) -> QGroupBox:
        box = QGroupBox("Data and run", self)
        form = QFormLayout(box)
        self.data_field = PathField("Folder of HR training images", parent=box)
        self.run_field = PathField("Checkpoints, log and weights go here", parent=box)
        self.run_field.changed.connect(self._forget_weights)
        self.run_field.changed.connect(lambda _t: self._update_buttons())
        self.val_field = PathField("Optional; default Set5 from ../shared", parent=box)
        form.addRow("HR images:", self.data_field)
        form.addRow("Run folder:", self.run_field)
        form.addRow("Validation:", self.val_field)
        return box

    def _architecture_box(self) -> QGroupBox:
        box = QGroupBox("Architecture", self)
        form = QFormLayout(box)
        self.b_spin = _spin(1, 64, 1, box)
        self.b_spin.setToolTip("B: recursive blocks")
        self.u_spin = _spin(0, 64, 9, box)
        self.u_spin.setToolTip("U: residual units per block (0 gives VDSR)")
        self.c_spin = _spin(1, 512, 128, box)
        self.c_spin.setToolTip("Feature maps per convolution")
        self.bn_check = QCheckBox("BatchNorm (as the authors' release)", box)
        row = QHBoxLayout()
        for label, spin in (("B", self.b_spin), ("U", self.u_spin)):
            row.addWidget(QLabel(label, box))
            row.addWidget(spin, 1)
        form.addRow(row)
        form.addRow("Channels:", self.c_spin)
        form.addRow(self.bn_check)
        return box

    def _recipe_box(self) -> QGroupBox:
        box = QGroupBox("Recipe and budget", self)
        form = QFormLayout(box)
        self.recipe_combo = QComboBox(box)
        self.recipe_combo.addItems([*RECIPES, RECIPE_FILE])
        self.recipe_combo.currentIndexChanged.connect(self._on_recipe_choice)
        self.recipe_file = PathField("A recipe .toml", folder=False,
                                     file_filter="Recipes (*.toml)", parent=box)
        self.recipe_file.edit.editingFinished.connect(self._on_recipe_choice)
        self.recipe_file.changed.connect(self._on_recipe_file_changed)
        self.patch_spin = _spin(3, 256, 41, box)
        self.batch_spin = _spin(1, 4096, 16, box)
        self.val_every_spin = _spin(1, 10_000_000, 1000, box)
        self.val_every_spin.setSuffix(" iterations")
        budget_row = QHBoxLayout()
        self.budget_combo = QComboBox(box)
        self.budget_combo.addItems(BUDGETS)
        self.budget_spin = _spin(1, 100_000_000, 60, box)
        budget_row.addWidget(self.budget_combo)
        budget_row.addWidget(self.budget_spin, 1)
        form.addRow("Recipe:", self.recipe_combo)
        form.addRow("File:", self.recipe_file)
        form.addRow("Patch size:", self.patch_spin)
        form.addRow("Batch size:", self.batch_spin)
        form.addRow("Validate every:", self.val_every_spin)
        form.addRow("Budget:", budget_row)
        self.val_warning = QLabel(box)
        self.val_warning.setWordWrap(True)
        self.val_warning.setStyleSheet("color: #b07a00;")
        self.val_warning.hide()
        form.addRow(self.val_warning)
        return box

    def _make_plot(self, title: str, ylabel: str, axisItems: dict | None = None  # noqa: N803
                   ) -> pg.PlotWidget:
        """A plot over whole iterations, showing "No data yet" (no 0-1 axes) until it has
        points (``plot.placeholder``)."""
        plot = pg.PlotWidget(self, axisItems={"bottom": IterationAxis("bottom"),
                                              **(axisItems or {})})
        plot.setBackground("w")
        plot.setTitle(title, color="#333")
        plot.showGrid(x=True, y=True, alpha=0.3)
        plot.setLabel("left", ylabel)
        plot.setLabel("bottom", "iteration")
        plot.placeholder = PlotPlaceholder(plot)
        return plot

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """Shown: the fields as they stand are checked too (the defaults may be out of reach)."""
        super().showEvent(event)
        self._fields_changed()

    # Public API
    def is_running(self) -> bool:
        return self._job is not None

    def loss_points(self) -> tuple[list[int], list[float]]:
        """(iterations, losses) shown on the loss curve."""
        return self._loss

    def spec(self, *, resume: bool = False):
        """The TrainSpec the current fields describe; ValueError (one line) if incomplete."""
        from drrn_core.model import DRRNConfig
        from drrn_core.trainer.data import default_cache_dir
        from drrn_core.trainer.loop import TrainSpec

        data, run = self.data_field.path(), self.run_field.path()
        if run is None:
            raise ValueError("Choose a run folder.")
        if data is None or not data.is_dir():
            raise ValueError("Choose the folder of HR training images.")
        val = self.val_field.path()
        if val is not None and not val.is_dir():
            raise ValueError(f"Validation folder not found: {val}")
        recipe = self._recipe()
        model = DRRNConfig(**{**recipe.model.to_dict(), "B": self.b_spin.value(),
                              "U": self.u_spin.value(), "channels": self.c_spin.value(),
                              "batchnorm": self.bn_check.isChecked()})
        recipe = recipe.with_overrides(model=model, patch=self.patch_spin.value(),
                                       batch=self.batch_spin.value(),
                                       validate_every=self.val_every_spin.value())
        kind, amount = self.budget_combo.currentIndex(), self.budget_spin.value()
        max_iters = {1: amount * recipe.iters_per_epoch, 2: amount}.get(kind)
        return TrainSpec(
            run_dir=run, data_dir=data, recipe=recipe, model=model, resume=resume,
            time_budget_s=amount * 60.0 if kind == 0 else None, max_iters=max_iters,
            val_dir=val, cache_dir=default_cache_dir(),
            log_every=1)  # an event per step: pause and cancel take effect after one step

    def start(self) -> None:
        """Start a new run in the run folder (refused when it already holds a checkpoint)."""
        run = self.run_field.path()
        if run is not None and _has_checkpoint(run):
            self.message.show_error("This run folder already holds a run: use “Resume run”, "
                                    "or choose an empty folder.")
            return
        self._launch(resume=False)

    def resume_run(self) -> None:
        """Continue the run saved in the run folder (its architecture comes from the checkpoint)."""
        run = self.run_field.path()
        if run is None or not _has_checkpoint(run):
            self.message.show_error("The run folder holds no checkpoint to resume.")
            return
        self._launch(resume=True)

    def toggle_pause(self) -> None:
        if self._job is None:
            return
        if self._job.paused:
            self._job.resume()
            if self._paused_at is not None:
                self._paused_s += time.monotonic() - self._paused_at
                self._paused_at = None
            self.status.setText("Training…")
        else:
            self._job.pause()
            self._paused_at = time.monotonic()
            self.status.setText("Paused (after the current step).")
        self._update_buttons()

    def cancel(self) -> None:
        if self._job is not None:
            self.status.setText("Cancelling: writing a checkpoint…")
            self._job.cancel()

    def use_model(self) -> None:
        """Import the run's weights into the user's models and emit ``modelReady`` with them:
        the weights this session's run finished with, else those of the run folder's checkpoint."""
        if self._weights is not None:
            self._import_job = start_job(import_weights, self._weights, name="import model",
                                         parent=self)
        else:
            run = self.run_field.path()
            if run is None or not _has_checkpoint(run):
                self.message.show_error("The run folder holds no trained model yet.")
                return
            try:
                spec = self.spec(resume=True)
            except Exception as exc:  # noqa: BLE001 - a bad field is a message, not a crash
                self.message.show_error(user_message(exc))
                return
            self.status.setText("Exporting the checkpoint's weights…")
            self._import_job = start_job(export_run, spec, name="export model", parent=self)
        self._import_job.succeeded.connect(self._on_imported)
        self._import_job.failed.connect(
            lambda exc: self.message.show_error(f"Could not use the model: {user_message(exc)}"))
        self._import_job.finished.connect(self._on_import_finished)
        self._update_buttons()

    # Running
    def _launch(self, *, resume: bool) -> None:
        if self._job is not None:
            return
        try:
            spec = self.spec(resume=resume)
        except Exception as exc:  # noqa: BLE001 - a bad field is a message, not a crash
            self.message.show_error(user_message(exc))
            return
        self.message.clear_message()
        _import_on_gui_thread()
        self._weights = None
        self._budget_s = spec.time_budget_s
        self._clock_start = None
        self._paused_s, self._paused_at = 0.0, None
        self._loss = ([], [])
        self._psnr.clear()
        self._draw_loss()
        self._draw_psnr()
        self.progress.setValue(0)
        self.status.setText("Preparing the training data…")
        self._resume_notice = ""
        if not resume:  # a resume says so in one line, when the checkpoint is read (Resumed)
            self._log(f"Starting {spec.run_dir} ({spec.recipe.name} recipe, {spec.model.name} "
                      f"C={spec.model.channels})")
        val = spec.val_dir or _default_val_dir()
        self.psnr_plot.setTitle(f"Validation PSNR ({val.name})" if val else
                                "Validation PSNR (no validation folder)", color="#333")
        self._job = start_job(run_training, spec, name="training", parent=self)
        self._job.yielded.connect(self._on_event)
        self._job.succeeded.connect(lambda _: self._log("Finished."))
        self._job.cancelled.connect(self._on_cancelled)
        self._job.failed.connect(self._on_failed)
        self._job.finished.connect(self._on_finished)
        self._update_buttons()

    def _on_event(self, event) -> None:
        from drrn_core.trainer import loop

        if isinstance(event, loop.Progress):
            self._loss[0].append(event.iteration)
            self._loss[1].append(max(event.loss, 1e-12))
            if not self._redraw.isActive():
                self._redraw.start()
            fraction, eta = self._budget_progress(event)
            self.progress.setValue(round(1000 * fraction))
            self.status.setText(
                f"Iteration {event.iteration}/{event.total} · epoch {event.epoch} · "
                f"loss {event.loss:.4g} · lr {event.lr:.2g} · {rate_text(event.patches_per_s)}"
                f"  {format_eta(eta)}")
            self._last_rate = (event.patches_per_s, self._patch_cost())
        elif isinstance(event, loop.Validation):
            self._add_validation(event)
        elif isinstance(event, loop.Checkpoint):
            self._log(f"Checkpoint at iteration {event.iteration}: {event.path}")
        elif isinstance(event, loop.Notice):
            if event.message != self._resume_notice:  # the Resumed line said it already
                self._log(event.message)
        elif isinstance(event, loop.Finished):
            self._weights = event.weights
            self._log(f"Stopped at iteration {event.iteration} ({event.reason.replace('_', ' ')})"
                      f"; weights: {event.weights}")
            self.status.setText(f"Finished at iteration {event.iteration}.")
        elif isinstance(event, Resumed):
            self._show_config(event.config)
            self._show_history(event.history)
            self._resume_notice = f"resumed {event.run_dir} at iteration {event.iteration}"
            self._log(f"Resuming at iteration {event.iteration} of {event.run_dir} with "
                      f"{event.config.name} C={event.config.channels}; the run keeps the recipe "
                      "saved in its folder (patch, batch, schedule), the budget is the one "
                      "chosen here")

    def _budget_progress(self, event) -> tuple[float, float]:
        """(fraction done, seconds left) of the run's budget: with a time budget, whichever of
        the iteration count and the training time (this session, pauses excluded) is further."""
        now = time.monotonic()
        if self._clock_start is None:
            self._clock_start = now
        fraction = event.iteration / max(event.total, 1)
        eta = event.eta_s
        if self._budget_s:
            elapsed = now - self._clock_start - self._paused_s
            fraction = max(fraction, min(elapsed / self._budget_s, 1.0))
            eta = min(eta, max(self._budget_s - elapsed, 0.0)) if math.isfinite(eta) else \
                max(self._budget_s - elapsed, 0.0)
        return fraction, eta

    def _show_folder_history(self) -> None:
        """Between runs, the plots show the chosen run folder's logged curves (none: empty)."""
        from drrn_core.trainer.runlog import History, read_history

        if self._job is None:
            run = self.run_field.path()
            history = read_history(run) if run is not None else History()
            self._show_history(history)
            recent = sorted(history.rates[-50:])
            self._folder_rate = recent[len(recent) // 2] if recent else None
            self._check_validation()

    def _show_history(self, history) -> None:
        """Start the curves with what a resumed run logged before (drrn_core's History)."""
        self._loss = ([i for i, _ in history.loss], [max(v, 1e-12) for _, v in history.loss])
        self._draw_loss()
        self._psnr = {scale: ([i for i, _ in points], [v for _, v in points])
                      for scale, points in history.psnr.items()}
        self._draw_psnr()

    def _add_validation(self, event) -> None:
        text = ", ".join(f"×{s} {v:.2f} dB" for s, v in event.psnr.items())
        self._log(f"Validation at iteration {event.iteration}: {text}"
                  + (" (best so far)" if event.best else ""))
        for scale, value in event.psnr.items():
            xs, ys = self._psnr.setdefault(int(scale), ([], []))
            xs.append(event.iteration)
            ys.append(value)
        self._draw_psnr()

    def _draw_loss(self) -> None:
        self.loss_curve.setData(*self._loss)
        self.loss_plot.placeholder.set_empty(not self._loss[0])

    def _draw_psnr(self) -> None:
        self.psnr_plot.clear()
        for scale, (xs, ys) in sorted(self._psnr.items()):
            colour = _PSNR_COLOURS.get(scale, "#9467bd")
            self.psnr_plot.plot(xs, ys, pen=pg.mkPen(colour, width=1.5), symbol="o",
                                symbolBrush=colour, symbolSize=6, name=f"×{scale}")
        self.psnr_plot.placeholder.set_empty(not any(xs for xs, _ in self._psnr.values()))

    def _on_cancelled(self) -> None:
        self._log("Cancelled; the last checkpoint lets you resume this run.")
        self.status.setText("Cancelled.")

    def _on_failed(self, exc: BaseException) -> None:
        self.message.show_error(f"Training stopped: {user_message(exc)}")
        self.status.setText("Failed.")

    def _on_finished(self) -> None:
        self._job = None
        self._redraw.stop()
        self._draw_loss()
        self._update_buttons()
        self._check_validation()  # with the speed this run measured

    def fields(self) -> dict:
        """The fields as AppSettings.training_fields stores them."""
        return {
            "data": self.data_field.edit.text(), "run": self.run_field.edit.text(),
            "val": self.val_field.edit.text(), "recipe": self.recipe_combo.currentText(),
            "recipe_file": self.recipe_file.edit.text(), "B": self.b_spin.value(),
            "U": self.u_spin.value(), "channels": self.c_spin.value(),
            "batchnorm": self.bn_check.isChecked(), "patch": self.patch_spin.value(),
            "batch": self.batch_spin.value(), "val_every": self.val_every_spin.value(),
            "budget_kind": self.budget_combo.currentIndex(), "budget": self.budget_spin.value(),
        }

    def save_fields(self) -> None:
        """Remember the fields (called on every change: they survive a crash too)."""
        self.settings.training_fields = self.fields()

    def restore_fields(self) -> None:
        """The fields as last left; the recipe first (choosing it fills in its own values),
        then everything stored over it. Out-of-range numbers are clamped by the spin boxes."""
        saved = self.settings.training_fields
        if not saved:
            return
        self._restoring = True
        try:
            if saved.get("recipe") in (*RECIPES, RECIPE_FILE):
                self.recipe_file.set_path(saved.get("recipe_file") or None)
                self.recipe_combo.setCurrentText(saved["recipe"])
                self._on_recipe_choice()
            for key, field in (("data", self.data_field), ("run", self.run_field),
                               ("val", self.val_field)):
                if key in saved:
                    field.set_path(saved[key] or None)
            for key, spin in (("B", self.b_spin), ("U", self.u_spin), ("channels", self.c_spin),
                              ("patch", self.patch_spin), ("batch", self.batch_spin),
                              ("val_every", self.val_every_spin), ("budget", self.budget_spin)):
                if key in saved:
                    spin.setValue(saved[key])
            if "batchnorm" in saved:
                self.bn_check.setChecked(saved["batchnorm"])
            if 0 <= saved.get("budget_kind", -1) < self.budget_combo.count():
                self.budget_combo.setCurrentIndex(saved["budget_kind"])
        finally:
            self._restoring = False

    def _remember_fields(self) -> None:
        self._restoring = False
        save = lambda *_: None if self._restoring else self.save_fields()  # noqa: E731
        for field in (self.data_field, self.run_field, self.val_field, self.recipe_file):
            field.changed.connect(save)
        for spin in (self.b_spin, self.u_spin, self.c_spin, self.patch_spin, self.batch_spin,
                     self.val_every_spin, self.budget_spin):
            spin.valueChanged.connect(save)
        self.bn_check.toggled.connect(save)
        self.recipe_combo.currentIndexChanged.connect(save)
        self.budget_combo.currentIndexChanged.connect(save)

    def _forget_weights(self) -> None:
        self._weights = None

    def _on_imported(self, path: str) -> None:
        self.status.setText("")
        self.message.show_info(f"Added to your models: {Path(path).stem}")
        self.modelReady.emit(path)

    def _on_import_finished(self) -> None:
        self._import_job = None
        self._update_buttons()

    # Helpers
    def _recipe(self):
        from drrn_core.trainer.recipe import load_recipe

        if self.recipe_combo.currentText() == RECIPE_FILE:
            path = self.recipe_file.path()
            if path is None:
                raise ValueError("Choose a recipe file.")
            return load_recipe(path)
        return load_recipe(self.recipe_combo.currentText())

    def _on_recipe_choice(self) -> None:
        """Show the chosen recipe's architecture, patch, batch and validation period."""
        from_file = self.recipe_combo.currentText() == RECIPE_FILE
        self.recipe_file.setEnabled(from_file)
        if from_file and self.recipe_file.path() is None:
            return
        try:
            recipe = self._recipe()
        except Exception as exc:  # noqa: BLE001 - a bad recipe is a message, not a crash
            self.message.show_error(f"Recipe: {user_message(exc)}")
            return
        self.message.clear_message()
        self._iters_per_epoch = recipe.iters_per_epoch
        self._show_config(recipe.model)
        self.patch_spin.setValue(recipe.patch)
        self.batch_spin.setValue(recipe.batch)
        self.val_every_spin.setValue(recipe.validate_every)

    def _patch_cost(self) -> float:
        """:func:`patch_cost` of the fields' architecture and patch size."""
        return patch_cost(self.b_spin.value(), self.u_spin.value(), self.c_spin.value(),
                          self.patch_spin.value())

    def _expected_rate(self) -> tuple[float, str] | None:
        """(patches/s, where it comes from) for the fields: this session's last run here
        (scaled to the fields' architecture and patch), else the run folder's log, else a quick
        speed test (scaled likewise)."""
        if self._last_rate is not None:
            rate, cost = self._last_rate
            return rate * cost / self._patch_cost(), "measured here"
        if self._folder_rate:
            return self._folder_rate, "logged in the run folder"
        if self._test_rate is not None:
            rate, cost = self._test_rate
            return rate * cost / self._patch_cost(), "a quick test measured on this computer"
        return None

    def validation_problem(self) -> str:
        """One line when "Validate every" cannot come within the budget (no validation PSNR
        would be measured), else "". A budget in minutes is converted with a measured speed,
        when there is one."""
        every = self.val_every_spin.value()
        kind, amount = self.budget_combo.currentIndex(), self.budget_spin.value()
        if kind == 2:
            last, why = amount, f"the budget ends at iteration {amount:,}"
        elif kind == 1:
            if self._iters_per_epoch is None:
                return ""
            last = amount * self._iters_per_epoch
            why = f"{amount:,} epoch{'s' if amount != 1 else ''} end at iteration {last:,}"
        else:
            known = self._expected_rate()
            if known is None:
                return ""
            rate, source = known
            last = int(amount * 60 * rate / self.batch_spin.value())
            why = (f"{amount:,} min is about {last:,} iterations at the {rate_text(rate)} "
                   f"{source}")
        if every <= last:
            return ""
        return f"⚠ Validation every {every:,} iterations would never run: {why}."

    def _fields_changed(self, *_args) -> None:
        """A field the validation check depends on changed: check it now and, for a budget in
        minutes with no speed known yet, measure one once the fields rest (the tab in view)."""
        self._check_validation()
        if self.budget_combo.currentIndex() == 0 and self._expected_rate() is None:
            self._speed_test.start()

    def _start_speed_test(self) -> None:
        if self._test_job is not None or self._job is not None or not self.isVisible() \
                or self.budget_combo.currentIndex() != 0 or self._expected_rate() is not None:
            return  # nothing to measure, or a tab closed since (no job outlives it)
        job = start_job(measure_training_rate, self.c_spin.value(), self.patch_spin.value(),
                        name="training speed test", parent=self)
        self._test_job = job

        def measured(rate: tuple[float, float]) -> None:
            self._test_rate = rate
            self._check_validation()

        def finished() -> None:
            if self._test_job is job:
                self._test_job = None

        job.succeeded.connect(measured)
        job.failed.connect(lambda exc: log.warning("training speed test failed: %s", exc))
        job.finished.connect(finished)

    def _check_validation(self, *_args) -> None:
        problem = self.validation_problem()
        self.val_warning.setText(problem)
        self.val_warning.setVisible(bool(problem))
        self.val_every_spin.setStyleSheet("QSpinBox { color: #b07a00; }" if problem else "")

    def _on_recipe_file_changed(self, text: str) -> None:
        if text and self.recipe_combo.currentText() != RECIPE_FILE:
            self.recipe_combo.setCurrentText(RECIPE_FILE)

    def _show_config(self, config) -> None:
        self.b_spin.setValue(config.B)
        self.u_spin.setValue(config.U)
        self.c_spin.setValue(config.channels)
        self.bn_check.setChecked(config.batchnorm)

    def _log(self, text: str) -> None:
        self.log.appendPlainText(text)

    def _update_buttons(self) -> None:
        running = self._job is not None
        self.start_button.setEnabled(not running)
        self.resume_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.pause_button.setText(
            "Continue" if self._job is not None and self._job.paused else "Pause")
        self.cancel_button.setEnabled(running)
        run = self.run_field.path()
        has_model = self._weights is not None or (run is not None and _has_checkpoint(run))
        self.use_button.setEnabled(not running and self._import_job is None and has_model)
        for w in (self.data_field, self.run_field, self.val_field, self.b_spin, self.u_spin,
                  self.c_spin, self.bn_check, self.recipe_combo, self.recipe_file,
                  self.patch_spin, self.batch_spin, self.val_every_spin, self.budget_combo,
                  self.budget_spin):
            w.setEnabled(not running)
        if not running:
            self.recipe_file.setEnabled(self.recipe_combo.currentText() == RECIPE_FILE)


def _import_on_gui_thread() -> None:
    """Import what the training loop imports lazily (torch.optim pulls in torch._dynamo and
    sympy on first use) here, once, before the worker starts: that first import on a worker
    thread was seen to hang in the test suite."""
    import torch._dynamo  # noqa: F401


def _spin(low: int, high: int, value: int, parent: QWidget) -> QSpinBox:
    spin = QSpinBox(parent)
    spin.setRange(low, high)
    spin.setValue(value)
    return spin


def _default_val_dir() -> Path | None:
    from drrn_core.trainer.loop import default_val_dir

    return default_val_dir()


def _has_checkpoint(run_dir: Path) -> bool:
    from drrn_core.trainer.checkpoint import LAST, PREV

    return any((run_dir / name).is_file() for name in (LAST, PREV))

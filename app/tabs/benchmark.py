"""The Benchmark tab: the paper's evaluation protocol over dataset folders, models and scales, with
results streaming into a sortable table (with per-group mean rows), a per-image PSNR plot, and
CSV / JSON / table export (the JSON is exactly `drrn bench --json`'s).

Results stay: the table is kept in a file beside the settings (a `drrn bench --json` list, which
`drrn bench --resume` also reads) and comes back at the next start. A run computes only what the
table lacks for the ticked boxes: a result is reused when it was computed from the same image with
the same weights (their SHA-256), precision and IFC choice. Before a run its time is estimated on
a worker thread (the engine's calibrated estimate and a measured scoring speed); a run of over a
minute is asked about first. Progress and its ETA are weighted by each cell's estimate, so fast
bicubic results early on do not promise a short run.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.services import estimate
from app.services.upscalers import model_spec, take_notices, upscaler_for, weights_file
from app.settings import AppSettings, data_path
from app.tabs._benchmark_table import BenchProxyModel, BenchRow, BenchTableModel
from app.tabs._models import BICUBIC, ModelChoice, model_choices
from app.tabs._widgets import (
    FolderList,
    IntegerAxis,
    MessageLine,
    PlotPlaceholder,
    scroll_panel,
    user_message,
)
from app.workers import Job, JobContext, format_eta, start_job
from drrn_core.metrics import benchmark
from drrn_core.metrics.benchmark import BenchResult, Dataset, Failed, Results, RunInfo, Scored

log = logging.getLogger("drrn-studio.benchmark")

SCALES = (2, 3, 4)
CSV_SUMMARY = "CSV with mean and std rows, model hash and backend (*.csv)"
CSV_PLAIN = "CSV per image, as drrn bench --csv (*.csv)"
RESULTS_FILE = "benchmark-results.json"
"""The kept results, beside the settings (app.settings.data_path)."""
LONG_RUN_S = 60.0
"""A run estimated longer than this is asked about before it starts."""
SAVE_EVERY_S = 30.0
"""While a run goes on, its results are written to the kept file at most this often (and when it
ends): a crash loses at most this much work."""
ESTIMATE_TRUSTED_UNTIL = 0.2
"""The ETA hands over from the estimate to the measured pace as the (estimated) share of the work
done grows to this: the estimate's at the start, the pace's from here on."""
_PLOT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
# Per scale: pyqtgraph symbol, the same shape as a character for the legend, line style.
_SCALE_STYLES = {2: ("o", "●", Qt.PenStyle.SolidLine), 3: ("t1", "▲", Qt.PenStyle.DashLine),
                 4: ("s", "■", Qt.PenStyle.DotLine)}
_OTHER_SCALE_STYLE = ("d", "◆", Qt.PenStyle.DashDotLine)

Cell = tuple[str, Path, int, str]
"""(dataset name, image path, scale, model spec): one result of a run."""


# -- before a run: what is missing and how long it takes ------------------------------------
@dataclass
class Plan:
    """What a run computes: the datasets, each model's RunInfo, the cells the kept results lack
    with their estimated seconds, how many results are reused, and where DRRN runs."""

    datasets: list[Dataset]
    infos: dict[str, RunInfo]
    cells: dict[Cell, float] = field(default_factory=dict)
    reused: int = 0
    device: str = ""
    notices: list[str] = field(default_factory=list)  # the engine's, while loading the models

    @property
    def seconds(self) -> float:
        return sum(self.cells.values())

    def weight(self, cell: Cell) -> float:
        """A cell's share of the work (its estimate; never zero, so progress always moves)."""
        return max(self.cells.get(cell, 0.0), 1e-3)

    def total_weight(self) -> float:
        return sum(self.weight(c) for c in self.cells)


_SCORING: dict[bool, float] = {}
_SCORING_LOCK = threading.Lock()


def scoring_seconds_per_pixel(with_ifc: bool) -> float:
    """Seconds per ground-truth pixel of the protocol's own work on one result (LR and ILR by
    bicubic, PSNR, SSIM and, ``with_ifc``, IFC): measured once per session on a synthetic
    128x128 image, after a first run that pays the one-off costs (about a second with IFC)."""
    with _SCORING_LOCK:
        if with_ifc in _SCORING:
            return _SCORING[with_ifc]
    import numpy as np

    from drrn_core.metrics.protocol import prepare, score

    side = 128
    ramp = np.linspace(0.0, 1.0, side)
    rng = np.random.default_rng(0)
    image = np.clip(np.outer(ramp, ramp[::-1]) + 0.1 * rng.standard_normal((side, side)), 0, 1)
    image = (image * 255).astype(np.uint8)
    times = []
    for _ in range(2):  # the first run loads and builds what later ones reuse
        start = time.perf_counter()
        images = prepare(image, 2)
        score(images.gt_y, images.ilr_y, 2, with_ifc)
        times.append(time.perf_counter() - start)
    rate = times[-1] / (side * side)
    with _SCORING_LOCK:
        _SCORING[with_ifc] = rate
    return rate


def _image_hw(path: Path) -> tuple[int, int] | None:
    """(H, W) from the file's header; None when it cannot be read (the run reports it)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size[1], im.size[0]
    except Exception:  # noqa: BLE001 - any unreadable file: no estimate, the run says why
        return None


def model_info(spec: str, up, with_ifc: bool) -> RunInfo:
    """What a model's results depend on: its weights file's SHA-256 and the precision it runs
    in (none for bicubic), and the IFC choice."""
    if spec == BICUBIC:
        return RunInfo(with_ifc=with_ifc)
    from drrn_core.weights import split_ensemble

    path, _ = weights_file(split_ensemble(spec)[0])
    return RunInfo(benchmark.file_sha256(path), up.precision, with_ifc)


def reusable(kept: Results, cell: Cell, info: RunInfo) -> bool:
    """Whether the kept results hold this cell, computed from the same file under ``info``."""
    dataset, path, scale, model = cell
    entry = kept.reusable(dataset, path.name, scale, model, info)
    return entry is not None and entry.get("path", str(path)) == str(path)


def plan_benchmark(ctx: JobContext, folders: list[Path], models: list[str], scales: list[int],
                   with_ifc: bool, device: str, precision: str, kept: Results) -> Plan:
    """Worker body before a run: the datasets, the models loaded (the engine's speed is
    calibrated once per machine and run path), the cells ``kept`` lacks and their estimates."""
    datasets = benchmark.collect_datasets(folders)
    ctx.progress(0.0, "Loading the models…")
    ups = {m: None if m == BICUBIC else upscaler_for(m, device, precision, owner="benchmark")
           for m in models}
    infos = {m: model_info(m, up, with_ifc) for m, up in ups.items()}
    drrn = [up for up in ups.values() if up is not None]
    if drrn and not all(up.calibrated for up in drrn):
        ctx.progress(0.0, "Measuring this computer's speed (once)…")
    plan = Plan(datasets, infos, device=drrn[0].description if drrn else "")
    per_px = scoring_seconds_per_pixel(with_ifc)
    for dataset in datasets:
        for path in map(Path, dataset.images):
            ctx.check()
            hw = None
            for scale in scales:
                for model in models:
                    cell = (dataset.name, path, scale, model)
                    if reusable(kept, cell, infos[model]):
                        plan.reused += 1
                        continue
                    hw = hw or _image_hw(path) or (0, 0)
                    cropped = (hw[0] - hw[0] % scale, hw[1] - hw[1] % scale)
                    seconds = cropped[0] * cropped[1] * per_px
                    if ups[model] is not None and min(cropped) > 0:
                        seconds += estimate.restore_seconds(ups[model], cropped)
                    plan.cells[cell] = seconds
    plan.notices = take_notices()
    return plan


def run_benchmark(ctx: JobContext, plan: Plan, scales: list[int], with_ifc: bool,
                  device: str = "auto", precision: str = "auto"
                  ) -> Iterator[Scored | Failed | str]:
    """Worker body: drrn_core.metrics.benchmark's runner over the plan's cells (a bad image fails
    alone). Progress is the estimated share of the work done, a cell counting as much as its
    estimate (a DRRN result can take a thousand times a bicubic one); the message names the
    cell that runs now. A ``str`` is the engine's one-line notice (e.g. a fallback to another
    backend)."""
    total = plan.total_weight()
    state: dict[str, Any] = {"done": 0.0, "cell": 0.0, "image": None, "image_start": 0.0,
                             "message": ""}

    def report(within: float = 0.0) -> None:
        fraction = (state["done"] + state["cell"] * min(max(within, 0.0), 1.0)) / total
        ctx.progress(min(fraction, 0.999), state["message"])

    def starting(dataset: Dataset, path: Path, scale: int, model: str) -> None:
        cell = (dataset.name, Path(path), scale, model)
        if state["image"] != cell[:2]:
            state["image"], state["image_start"] = cell[:2], state["done"]
        state["cell"] = plan.weight(cell)
        state["message"] = f"{dataset.name} ×{scale} {model}: {Path(path).name}"
        report()
        ctx.flush()  # said now, not held back by the throttle while a long cell runs

    def restorer(model: str):
        up = upscaler_for(model, device, precision, owner="benchmark")
        return lambda ilr_y: up.restore_y(ilr_y, progress=report, cancel=ctx.cancelled)

    restorers = {m: BICUBIC if m == BICUBIC else restorer(m) for m in plan.infos}
    image_weight: dict[tuple[str, Path], float] = {}
    for cell in plan.cells:
        image_weight[cell[:2]] = image_weight.get(cell[:2], 0.0) + plan.weight(cell)

    def skip(dataset: Dataset, path: Path, scale: int, model: str) -> bool:
        return (dataset.name, Path(path), scale, model) not in plan.cells

    for event in benchmark.run(plan.datasets, scales, restorers, with_ifc,
                               cancel=ctx.cancelled, skip=skip, starting=starting):
        key = (event.dataset.name, Path(event.path))
        if isinstance(event, Failed):
            state["done"] = state["image_start"] if state["image"] == key else state["done"]
            state["done"] += image_weight.get(key, 0.0)
            state["message"] = f"{event.dataset.name}: {event.path.name} could not be scored"
        else:
            r = event.result
            state["done"] += plan.weight((*key, r.scale, r.model))
        state["cell"] = 0.0
        report()
        yield from take_notices()
        yield event


def run_eta(estimated: float, fraction: float, elapsed: float, measured: float) -> float:
    """Seconds left: at first the estimate's remaining share, never less than what the
    estimate has left after ``elapsed``; as the work done grows to ESTIMATE_TRUSTED_UNTIL, more
    and more the measured pace (``measured``, NaN while unknown), so the ETA moves from one to
    the other without a jump when the estimate was off."""
    if not math.isfinite(estimated) or estimated <= 0:
        return measured
    planned = max(estimated * (1.0 - fraction), estimated - elapsed, 0.0)
    if not math.isfinite(measured):
        return planned
    trust = min(max(fraction, 0.0) / ESTIMATE_TRUSTED_UNTIL, 1.0)
    return (1.0 - trust) * planned + trust * measured


def load_kept(path: Path) -> tuple[Results, str | None]:
    """The kept results and, when the file is damaged, one line saying so (the file is set
    aside as NAME.damaged-N.json, never read again nor overwritten)."""
    if not path.exists():
        return Results(), None
    try:
        return benchmark.read_results(path), None
    except benchmark.ResultsFileError as exc:
        n = 1
        while (aside := path.with_name(f"{path.stem}.damaged-{n}{path.suffix}")).exists():
            n += 1
        try:
            os.replace(path, aside)
            where = f"kept as {aside.name}"
        except OSError:
            where = "left as it is"
        notice = (f"The saved benchmark results could not be read ({exc}); the table starts "
                  f"empty and the damaged file is {where}.")
        log.warning(notice)
        return Results(), notice


class StatusLine(QLabel):
    """One line that never changes height (so nothing below or above it moves): text too long
    for it is elided in the middle, the whole text in its tooltip; ``text()`` is the whole."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(40)
        self.setFixedHeight(self.fontMetrics().height() + 4)

    def text(self) -> str:  # the whole text, as set
        return self._full

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        self._full = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle,
                                              max(self.width(), 40))
        super().setText(shown)


class BenchmarkTab(QWidget):
    """Datasets, scales and models in; a streaming results table, a plot and exports out."""

    openInEvaluation = Signal(str, int, str)  # noqa: N815 (Qt naming) - image, scale, model

    def __init__(self, parent: QWidget | None = None,
                 settings: AppSettings | None = None) -> None:
        super().__init__(parent)
        # Exact fp32 by default, as `drrn bench`: protocol numbers must not depend on the machine.
        self.device, self.precision = "auto", "fp32"
        self.settings = settings or AppSettings()
        self.results_path = data_path(self.settings.store, RESULTS_FILE)
        self._job: Job | None = None
        self._plan: Plan | None = None
        self._started = 0.0
        self._saved_at = 0.0
        self._quiet = True  # no choices saved while the boxes are being built or restored
        self._failures: list[tuple[str, str]] = []
        self._computed = 0
        self._plot_timer = QTimer(self, singleShot=True, interval=150)
        self._plot_timer.timeout.connect(self._redraw_plot)
        self._build_ui()
        self.refresh_models()
        self._restore_choices()
        self._quiet = False
        self._results, notice = load_kept(self.results_path)
        self._show_kept()
        if notice:
            self.message.show_error(notice)
        self._update_buttons()

    # UI construction
    def _build_ui(self) -> None:
        controls = QWidget(self)
        side = QVBoxLayout(controls)
        side.setContentsMargins(0, 0, 4, 0)
        side.addWidget(self._datasets_box())
        side.addWidget(self._scales_box())
        side.addWidget(self._models_box(), 1)
        self.ifc_check = QCheckBox("Compute IFC (slowest metric)", self)
        self.ifc_check.setChecked(True)
        self.ifc_check.toggled.connect(self._choices_changed)
        side.addWidget(self.ifc_check)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run benchmark", self)
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.clear_button = QPushButton("Clear…", self)
        self.clear_button.clicked.connect(self._clear_dialog)
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.clear_button)
        side.addLayout(buttons)
        # Below the buttons only lines of a fixed height: nothing a run says moves the buttons.
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        side.addWidget(self.progress)
        self.status = StatusLine(self)
        side.addWidget(self.status)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self._table_panel())
        splitter.addWidget(self._plot_panel())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 400])

        lay = QHBoxLayout(self)
        lay.addWidget(scroll_panel(controls, 330))
        lay.addWidget(splitter, 1)
        self.run_button.setToolTip("Score every image of every dataset at every ticked scale "
                                   "with every ticked model (the paper's protocol); results "
                                   "already in the table are kept, not computed again")
        self.cancel_button.setToolTip("Stop; the results so far stay in the table")
        self.ifc_check.setToolTip("IFC takes longer than PSNR and SSIM together")
        self.remove_button.setToolTip("Remove the selected datasets from the list")
        self.progress.setToolTip("The estimated share of the run done")

    def _datasets_box(self) -> QGroupBox:
        box = QGroupBox("Datasets (drop folders here)", self)
        lay = QVBoxLayout(box)
        self.datasets = FolderList(box)
        self.datasets.setMinimumHeight(80)
        self.datasets.foldersChanged.connect(self._update_buttons)
        self.datasets.refused.connect(lambda text: self.message.show_error(text))  # built below
        self.datasets.foldersChanged.connect(self._choices_changed)
        lay.addWidget(self.datasets)
        row = QHBoxLayout()
        add = QPushButton("Add folder…", box)
        add.setToolTip("Add a dataset folder (e.g. Set5): every image in it is scored")
        add.clicked.connect(self._choose_folder)
        self.remove_button = QPushButton("Remove", box)
        self.remove_button.clicked.connect(self.datasets.remove_selected)
        row.addWidget(add)
        row.addWidget(self.remove_button)
        lay.addLayout(row)
        return box

    def _scales_box(self) -> QGroupBox:
        box = QGroupBox("Scales", self)
        lay = QHBoxLayout(box)
        self.scale_checks: dict[int, QCheckBox] = {}
        for s in SCALES:
            check = QCheckBox(f"×{s}", box)
            check.setToolTip(f"Score at scale ×{s}")
            check.setChecked(True)
            check.toggled.connect(self._update_buttons)
            check.toggled.connect(self._choices_changed)
            self.scale_checks[s] = check
            lay.addWidget(check)
        return box

    def _models_box(self) -> QGroupBox:
        box = QGroupBox("Models", self)
        lay = QVBoxLayout(box)
        self.models = QListWidget(box)
        self.models.setToolTip("Bicubic (the protocol's baseline) is always included")
        self.models.itemChanged.connect(self._choices_changed)
        lay.addWidget(self.models)
        self.ensemble_check = QCheckBox("Self-ensemble too (NAME+, 8× time)", box)
        self.ensemble_check.setToolTip(
            "Also score each ticked DRRN model as its self-ensemble, the mean of its 8 flips and "
            "rotations: the “+” rows of super-resolution tables (drrn bench --model NAME+)")
        self.ensemble_check.toggled.connect(self._choices_changed)
        lay.addWidget(self.ensemble_check)
        return box

    def _table_panel(self) -> QWidget:
        panel = QWidget(self)
        lay = QVBoxLayout(panel)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.images_check = QCheckBox("Per-image rows", panel)
        self.images_check.setChecked(True)
        self.images_check.setToolTip("Untick to see only the means, as in the paper's tables")
        self.images_check.toggled.connect(lambda on: self.proxy.set_show_images(on))
        bar.addWidget(self.images_check)
        bar.addStretch(1)
        self.csv_button = QPushButton("Export CSV…", panel)
        self.csv_button.clicked.connect(self._export_csv_dialog)
        self.json_button = QPushButton("Export JSON…", panel)
        self.json_button.clicked.connect(self._export_json_dialog)
        self.table_button = QPushButton("Export table…", panel)
        self.table_button.clicked.connect(self._export_table_dialog)
        for button in (self.csv_button, self.json_button, self.table_button):
            bar.addWidget(button)
        lay.addLayout(bar)
        # Messages and failures under the buttons (which they never move), above the table.
        self.message: MessageLine = MessageLine(panel)
        lay.addWidget(self.message)
        self.failure_list = QListWidget(panel)
        self.failure_list.setToolTip("Images that could not be scored, with the reason")
        self.failure_list.setMaximumHeight(120)
        self.failure_list.hide()
        lay.addWidget(self.failure_list)
        self.table_model = BenchTableModel(self)
        self.proxy: BenchProxyModel = BenchProxyModel(self)
        self.proxy.setSourceModel(self.table_model)
        self.table = QTableView(panel)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # arrival order until clicked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._on_double_click)
        self.table.setToolTip("Double-click an image row to open it in the evaluation view")
        self.clear_button.setToolTip("Forget every result in the table (the next run computes "
                                     "them again)")
        self.csv_button.setToolTip("One row per image plus mean and standard-deviation rows")
        self.json_button.setToolTip("Exactly what `drrn bench --json` writes (`drrn bench "
                                    "--resume` can go on from it)")
        self.table_button.setToolTip("The means as a Markdown or LaTeX table to paste into a "
                                     "paper, each row's best PSNR in bold and each model's "
                                     "weights hash named (drrn bench --table)")
        lay.addWidget(self.table)
        return panel

    def _plot_panel(self) -> QWidget:
        panel = QWidget(self)
        lay = QVBoxLayout(panel)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("PSNR per image of", panel))
        self.plot_dataset = QComboBox(panel)
        self.plot_dataset.setToolTip("The dataset whose per-image PSNR is plotted")
        self.plot_dataset.currentIndexChanged.connect(self._redraw_plot)
        bar.addWidget(self.plot_dataset)
        bar.addStretch(1)
        lay.addLayout(bar)
        self.plot = pg.PlotWidget(panel, axisItems={"bottom": IntegerAxis("bottom")})
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("left", "PSNR (dB)")
        self.plot.setLabel("bottom", "image")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)  # "image (x0.001)" otherwise
        self.plot_placeholder = PlotPlaceholder(self.plot)  # no 0-1 axes before any score
        # The legend sits outside the data: pyqtgraph's floating legend covered points.
        self.plot_legend = QLabel(panel)
        self.plot_legend.setWordWrap(True)
        self.plot_legend.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.plot)
        lay.addWidget(self.plot_legend)
        return panel

    # Public API
    def refresh_models(self) -> None:
        """Re-read the model registry (keeps the current ticks); errors go to the message line."""
        ticked = {c.name for c in self.selected_models()} if self.models.count() else set()
        try:
            choices = model_choices()
        except Exception as exc:  # noqa: BLE001 - a broken registry must not break the tab
            choices = [ModelChoice("Bicubic", BICUBIC)]
            self.message.show_error(f"Could not list models: {user_message(exc)}")
        quiet, self._quiet = self._quiet, True  # the same ticks: nothing to remember anew
        self.models.clear()
        for choice in choices:
            item = QListWidgetItem(choice.label, self.models)
            item.setData(Qt.ItemDataRole.UserRole, choice)
            item.setToolTip(choice.source)
            if choice.is_bicubic:
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)  # always included, not user-checkable
                item.setCheckState(Qt.CheckState.Checked)
            else:
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                on = choice.name in ticked
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self._quiet = quiet

    def add_dataset(self, folder: str | Path) -> bool:
        return self.datasets.add_folder(folder)

    def selected_models(self) -> list[ModelChoice]:
        items = (self.models.item(i) for i in range(self.models.count()))
        return [it.data(Qt.ItemDataRole.UserRole) for it in items
                if it.checkState() == Qt.CheckState.Checked]

    def model_specs(self) -> list[str]:
        """What a run scores: the ticked models, each DRRN one followed by its self-ensemble
        (``NAME+``) when that is asked for."""
        plus = self.ensemble_check.isChecked()
        return list(dict.fromkeys(spec for c in self.selected_models()
                                  for spec in (c.name, model_spec(c.name, plus))))

    def selected_scales(self) -> list[int]:
        return [s for s, check in self.scale_checks.items() if check.isChecked()]

    def is_running(self) -> bool:
        return self._job is not None

    def results(self) -> Results:
        """Every result in the table, with what each was computed under."""
        return self._results

    def confirm_long_run(self, plan: Plan) -> bool:
        """Ask before a run estimated over LONG_RUN_S (True: run it)."""
        box = QMessageBox(QMessageBox.Icon.Question, "Run the benchmark?",
                          self._plan_text(plan) + " Run it now?", parent=self)
        run = box.addButton("Run", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(run)
        box.exec()
        return box.clickedButton() is run

    def confirm_clear(self) -> bool:
        """Ask before forgetting every result (True: forget them)."""
        n = len(self._results)
        answer = QMessageBox.question(
            self, "Clear the results?",
            f"Forget the {n} result{'s' if n != 1 else ''} in the table? The next run computes "
            "them again (export them first to keep a copy).",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def start(self) -> None:
        """Validate the choices, then on a worker thread find what the table lacks and estimate
        its time; a run over a minute is asked about; then compute only the missing results."""
        if self._job is not None:
            return
        folders, scales = self.datasets.folders(), self.selected_scales()
        missing = [str(f) for f in folders if not f.is_dir()]
        if not folders or not scales or missing:
            self.message.show_error(
                f"Folder not found: {missing[0]}" if missing
                else "Add at least one dataset folder." if not folders
                else "Choose at least one scale.")
            return
        self.save_choices()
        self.message.clear_message()
        self.message.setToolTip("")
        self.failure_list.clear()
        self.failure_list.hide()
        self._failures.clear()
        self.progress.setValue(0)
        self.status.setText("Estimating the run time…")
        job = start_job(plan_benchmark, folders, self.model_specs(), scales,
                        self.ifc_check.isChecked(), self.device, self.precision, self._results,
                        name="benchmark estimate", parent=self)
        self._job = job
        job.progressed.connect(lambda _f, _e, text: self.status.setText(text) if text else None)
        job.cancelled.connect(lambda: self.status.setText("Cancelled."))

        def failed(exc: BaseException) -> None:
            self.message.show_error(user_message(exc))
            self.status.setText("")

        job.failed.connect(failed)
        job.finished.connect(lambda: self._on_planned(job, scales))
        self._update_buttons()

    def cancel(self) -> None:
        if self._job is not None:
            self.status.setText("Cancelling…")
            self._job.cancel()

    def failures(self) -> list[tuple[str, str]]:
        """(image path, reason) of every image that could not be scored in the last run."""
        return list(self._failures)

    def clear_results(self) -> None:
        """Forget every result (the table, the plot and the kept file)."""
        self._results = Results()
        self._save_kept()
        self._show_kept()
        self.status.setText("")

    def export_csv(self, path: str | Path, summary: bool = True) -> None:
        """One row per scored image as `drrn bench --csv` writes it (with the seconds each
        restoration took); with ``summary`` (default) then a mean and a standard-deviation row
        per dataset, model and scale, and for every row the SHA-256 of the weights the result
        was computed with and what the model runs on (backend, device, precision). Atomic."""
        import csv
        import io
        import statistics

        from app.services.exports import summary_rows
        from drrn_core.atomic import write_text_atomic

        docs = self._bench_docs()
        if not summary:
            write_text_atomic(Path(path), benchmark.bench_csv(docs))
            return
        sha = {(doc["dataset"], run["model"], run["scale"]): run.get("weights_sha256") or ""
               for doc in docs for run in doc["runs"]}
        ran = {m: self._ran_on(m) for m in {r.model for r in self.table_model.rows()}}
        times: dict[tuple, list[float]] = {}
        for r in self.table_model.rows(means=False):
            times.setdefault((r.dataset, r.model, r.scale), []).append(r.seconds)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([*benchmark.CSV_COLUMNS, "model_sha256", "ran_on"])
        for doc in docs:
            for run in doc["runs"]:
                for im in run["images"]:
                    w.writerow([doc["dataset"], run["model"], run["scale"], im["image"],
                                *benchmark.csv_cells(im),
                                sha[(doc["dataset"], run["model"], run["scale"])],
                                ran[run["model"]]])
        for row in summary_rows(self.table_model.rows(means=False)):
            group = times[(row[0], row[1], row[2])]
            if row[3].startswith("mean"):
                seconds = repr(statistics.fmean(group))
            else:
                seconds = repr(statistics.stdev(group)) if len(group) > 1 else ""
            w.writerow([*row, seconds, sha[(row[0], row[1], row[2])], ran[row[1]]])
        write_text_atomic(Path(path), buf.getvalue())

    def _ran_on(self, model: str) -> str:
        """What a benchmarked model runs on (backend, device, precision)."""
        if model == BICUBIC:
            return "bicubic (MATLAB-exact, float64)"
        try:
            return upscaler_for(model, self.device, self.precision, owner="benchmark").description
        except Exception:  # noqa: BLE001 - a model removed since the run: leave it blank
            return ""

    def export_json(self, path: str | Path) -> None:
        """Exactly `drrn bench --json`: one object per dataset (a list for several), with each
        run's weights hash, precision and IFC choice; atomically."""
        from drrn_core.atomic import write_text_atomic

        write_text_atomic(Path(path), benchmark.results_text(self._bench_docs()))

    def export_table(self, path: str | Path) -> None:
        """Exactly `drrn bench --table`: the means as Markdown (.md) or LaTeX (.tex), each
        model's weights hash named under the table or in its caption."""
        from drrn_core.atomic import write_text_atomic

        fmt = benchmark.TABLE_FORMATS.get(Path(path).suffix.lower())
        if fmt is None:
            raise ValueError(f"{Path(path).name}: a table is written as .md or .tex")
        write_text_atomic(Path(path), benchmark.means_table(self._bench_docs(), fmt))

    def _bench_docs(self) -> list[dict]:
        """The bench JSON (drrn bench --json's shape) of the results in the table."""
        docs = self._results.documents(extra=False)
        if not docs:
            raise ValueError("There are no results to export yet.")
        return docs

    # Slots
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a dataset folder")
        if folder:
            self.datasets.add_folder(folder)

    def _on_planned(self, job: Job, scales: list[int]) -> None:
        """The estimate is in: nothing to do, ask about a long run, or start it (at once: the
        tab never looks idle between the two jobs)."""
        if self._job is not job:
            return
        self._job = None
        plan = job.result
        if not isinstance(plan, Plan) or job.token.is_cancelled():
            self._update_buttons()
            return
        self._plan = plan
        for text in plan.notices:
            self.message.show_info(text)
        if not plan.cells:
            n = plan.reused
            self.progress.setValue(self.progress.maximum())
            self.status.setText(f"Nothing to compute: the table holds all {n} "
                                f"result{'s' if n != 1 else ''} of these choices.")
        elif plan.seconds > LONG_RUN_S and not self.confirm_long_run(plan):
            self.status.setText(f"Not run. {self._plan_text(plan)}")
        else:
            self.status.setText(self._plan_text(plan))
            self._start_run(plan, scales)
        self._update_buttons()

    def _plan_text(self, plan: Plan) -> str:
        n = len(plan.cells)
        kept = f" ({plan.reused} in the table already)" if plan.reused else ""
        where = f"; {plan.device}" if plan.device else ""
        return (f"{n} result{'s' if n != 1 else ''} to compute{kept}: "
                f"{estimate.format_duration(plan.seconds)}{where}.")

    def _start_run(self, plan: Plan, scales: list[int]) -> None:
        if self._job is not None:
            return
        self._started = time.monotonic()
        self._saved_at = self._started
        self._computed = 0
        job = start_job(run_benchmark, plan, scales, self.ifc_check.isChecked(), self.device,
                        self.precision, name="benchmark", parent=self)
        self._job = job
        job.progressed.connect(self._on_progress)
        job.yielded.connect(self._on_item)
        job.succeeded.connect(lambda _: self.status.setText(self._summary("Done")))
        job.cancelled.connect(lambda: self.status.setText(self._summary("Cancelled")))
        job.failed.connect(self._on_failed)
        job.finished.connect(lambda: self._on_finished(job))
        self._update_buttons()

    def _on_progress(self, fraction: float, eta: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        if self._plan is not None:
            eta = run_eta(self._plan.seconds, fraction, time.monotonic() - self._started, eta)
        self.status.setText(f"{message}  {format_eta(eta)}".strip())

    def _on_item(self, item: Scored | Failed | str) -> None:
        if isinstance(item, str):
            self.message.show_info(item)
            return
        if isinstance(item, Failed):
            self._failures.append((str(item.path), item.reason))
            self._show_failures()
            return
        r, dataset = item.result, item.dataset.name
        self._computed += 1
        info = self._plan.infos[r.model] if self._plan is not None else RunInfo()
        if self._results.add(dataset, r, info, path=str(item.path)):
            self.table_model.remove_group(dataset, r.scale, r.model)  # other weights: replaced
        self._results.dataset_extra(dataset)["image_count"] = len(item.dataset.images)
        self.table_model.add_image(self._row(dataset, r, str(item.path),
                                             len(item.dataset.images)))
        if self.plot_dataset.findText(dataset) < 0:
            self.plot_dataset.addItem(dataset)
        self._plot_timer.start()
        if time.monotonic() - self._saved_at > SAVE_EVERY_S:
            self._save_kept()

    @staticmethod
    def _row(dataset: str, r: BenchResult, path: str | None, of: int) -> BenchRow:
        """A table row; its seconds as the kept file has them (microseconds), so a row reads
        the same after a restart."""
        return BenchRow(dataset, r.image, r.scale, r.model, r.score.psnr, r.score.ssim,
                        r.score.ifc, seconds=round(r.seconds, 6), path=path, of=of)

    def _show_kept(self) -> None:
        """The table and plot from the kept results (at start, after Clear)."""
        rows = []
        for dataset, model, scale, _info, entry in self._results.entries():
            of = self._results.dataset_extra(dataset).get("image_count")
            score = benchmark.entry_score(entry)
            result = BenchResult(model, scale, entry["image"], score, 0, 0,
                                 float(entry.get("seconds") or 0.0))
            rows.append(self._row(dataset, result, entry.get("path"),
                                  of if isinstance(of, int) and of > 0 else 1))
        groups: dict[tuple, int] = {}
        for row in rows:
            groups[(row.dataset, row.scale, row.model)] = groups.get(
                (row.dataset, row.scale, row.model), 0) + 1
        for row in rows:  # a count never above what is there (a file from elsewhere)
            row.of = max(row.of, groups[(row.dataset, row.scale, row.model)])
        self.table_model.set_rows(rows)
        self.plot_dataset.clear()
        for dataset in dict.fromkeys(r.dataset for r in rows):
            self.plot_dataset.addItem(dataset)
        self._redraw_plot()
        if rows:
            n = len(rows)
            self.status.setText(f"{n} result{'s' if n != 1 else ''} from earlier runs: a run "
                                "adds what these choices lack.")
        self._update_buttons()

    def _save_kept(self) -> None:
        """The results to their file, atomically (a failure is said once, never a crash)."""
        from drrn_core.atomic import write_text_atomic

        self._saved_at = time.monotonic()
        try:
            self.results_path.parent.mkdir(parents=True, exist_ok=True)
            docs = self._results.documents()
            write_text_atomic(self.results_path,
                              benchmark.results_text(docs) if docs else "[]\n")
        except OSError as exc:
            log.warning("could not keep the benchmark results in %s: %s", self.results_path,
                        exc)
            self.message.show_error(f"Could not keep the results for the next start: "
                                    f"{user_message(exc)}")

    def _show_failures(self) -> None:
        """Every failed image is listed (name and reason), not "(and 2 more)"."""
        n = len(self._failures)
        self.message.show_error(f"{n} image{'s' if n > 1 else ''} could not be scored:")
        self.message.setToolTip("\n".join(f"{p}: {r}" for p, r in self._failures))
        path, reason = self._failures[-1]
        item = QListWidgetItem(f"{Path(path).name}: {reason}", self.failure_list)
        item.setToolTip(f"{path}\n{reason}")
        self.failure_list.show()

    def _on_failed(self, exc: BaseException) -> None:
        self.message.show_error(f"Benchmark stopped: {user_message(exc)}")
        self.status.setText(self._summary("Failed"))

    def _on_finished(self, job: Job) -> None:
        if self._job is not job:
            return
        self._job = None
        if job.error is None and not job.token.is_cancelled():
            self.progress.setValue(self.progress.maximum())
        self._save_kept()
        self._plan = None
        self._redraw_plot()
        self._update_buttons()

    def _on_double_click(self, index: QModelIndex) -> None:
        row = self.table_model.row_at(self.proxy.mapToSource(index).row())
        if row.path and not row.is_mean:
            self.openInEvaluation.emit(row.path, row.scale, row.model)

    def _clear_dialog(self) -> None:
        if self._results and self.confirm_clear():
            self.clear_results()

    def _export_csv_dialog(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export results", "benchmark.csv",
            ";;".join((CSV_SUMMARY, CSV_PLAIN)))
        if not path:
            return
        try:
            self.export_csv(path, summary=chosen != CSV_PLAIN)
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
            self.message.show_error(f"Export failed: {user_message(exc)}")
        else:
            self.message.show_info(f"Saved {path}")

    def _export_json_dialog(self) -> None:
        self._export_dialog("JSON files (*.json)", ".json", lambda path, _f: self.export_json(path))

    def _export_table_dialog(self) -> None:
        filters = {"Markdown table (*.md)": ".md", "LaTeX table (*.tex)": ".tex"}

        def write(path: str, chosen: str) -> Path:  # no suffix typed: the chosen filter's
            name = Path(path)
            if name.suffix.lower() not in benchmark.TABLE_FORMATS:
                name = name.with_name(name.name + filters.get(chosen, ".md"))
            self.export_table(name)
            return name

        self._export_dialog(";;".join(filters), ".md", write)

    def _export_dialog(self, file_filter: str, suffix: str, write) -> None:
        """Ask for a file and ``write(path, chosen filter)`` (which may return the path it wrote
        instead); a failure is one message."""
        path, chosen = QFileDialog.getSaveFileName(self, "Export results", f"benchmark{suffix}",
                                                   file_filter)
        if not path:
            return
        try:
            saved = write(path, chosen) or path
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
            self.message.show_error(f"Export failed: {user_message(exc)}")
        else:
            self.message.show_info(f"Saved {saved}")

    # Remembered choices
    def _choices_changed(self, *_args) -> None:
        """Every change of the boxes is remembered as the user leaves them (not only at Run)."""
        if not self._quiet:
            self.save_choices()

    def save_choices(self) -> None:
        """Datasets, scales, ticked models, IFC and self-ensemble, for the next session."""
        store = self.settings.store
        store.setValue("benchmark/datasets", [str(f) for f in self.datasets.folders()])
        store.setValue("benchmark/scales", [str(s) for s in self.selected_scales()])
        store.setValue("benchmark/models", [c.name for c in self.selected_models()
                                            if not c.is_bicubic])
        store.setValue("benchmark/ifc", self.ifc_check.isChecked())
        store.setValue("benchmark/ensemble", self.ensemble_check.isChecked())
        store.sync()

    def _restore_choices(self) -> None:
        """The last session's choices; without any, the default DRRN model is ticked beside
        bicubic (the comparison people run a benchmark for)."""
        store = self.settings.store

        def strings(key: str) -> list[str] | None:
            value = store.value(key)
            if value is None:
                return None
            if isinstance(value, str):
                return [value] if value else []
            return [str(v) for v in value]

        for folder in strings("benchmark/datasets") or []:
            self.datasets.add_folder(folder)
        scales = strings("benchmark/scales")
        if scales is not None:
            for s, check in self.scale_checks.items():
                check.setChecked(str(s) in scales)
        models = strings("benchmark/models")
        if models is None:
            try:
                from app.tabs._models import default_model

                models = [default_model()]
            except Exception:  # noqa: BLE001 - a broken registry: bicubic only
                models = []
        for i in range(self.models.count()):
            item = self.models.item(i)
            if item.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                on = item.data(Qt.ItemDataRole.UserRole).name in models
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        for key, check in (("benchmark/ifc", self.ifc_check),
                           ("benchmark/ensemble", self.ensemble_check)):
            value = store.value(key)
            if value is not None:
                check.setChecked(str(value).lower() in ("1", "true"))

    # Helpers
    def _summary(self, word: str) -> str:
        n, failed = self._computed, len(self._failures)
        reused = self._plan.reused if self._plan is not None else 0
        text = f"{word}: {n} result{'s' if n != 1 else ''}"
        text += f" ({reused} more kept from earlier runs)" if reused else ""
        return text + (f", {failed} image{'s' if failed != 1 else ''} failed." if failed else ".")

    def _update_buttons(self) -> None:
        running = self._job is not None
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        has_rows = self.table_model.rowCount() > 0
        for button in (self.clear_button, self.csv_button, self.json_button, self.table_button):
            button.setEnabled(has_rows and not running)

    def _redraw_plot(self) -> None:
        dataset = self.plot_dataset.currentText()
        self.plot.clear()
        rows = [r for r in self.table_model.rows(means=False) if r.dataset == dataset]
        self.plot_placeholder.set_empty(not rows)
        names = list(dict.fromkeys(r.image for r in rows))
        position = {name: i for i, name in enumerate(names)}
        groups: dict[tuple[str, int], list[BenchRow]] = {}
        for r in rows:
            groups.setdefault((r.model, r.scale), []).append(r)
        models = list(dict.fromkeys(m for m, _ in groups))
        for (model, scale), group in sorted(groups.items(),
                                            key=lambda g: (models.index(g[0][0]), g[0][1])):
            colour = _PLOT_COLOURS[models.index(model) % len(_PLOT_COLOURS)]
            symbol, _glyph, style = _SCALE_STYLES.get(scale, _OTHER_SCALE_STYLE)
            self.plot.plot([position[r.image] for r in group], [r.psnr for r in group],
                           pen=pg.mkPen(colour, width=1.5, style=style), symbol=symbol,
                           symbolBrush=colour, symbolPen=colour, symbolSize=7)
        self.plot_legend.setText("   ".join(
            f'<span style="color:{_PLOT_COLOURS[models.index(m) % len(_PLOT_COLOURS)]}">'
            f'{_SCALE_STYLES.get(s, _OTHER_SCALE_STYLE)[1]} {m} ×{s}</span>'
            for m, s in sorted(groups, key=lambda g: (models.index(g[0]), g[1]))))
        ticks = [(i, Path(n).stem) for i, n in enumerate(names)] if len(names) <= 20 else None
        self.plot.getAxis("bottom").setTicks([ticks] if ticks else None)
        if names:
            self.plot.setXRange(-0.5, len(names) - 0.5, padding=0.02)

"""The Benchmark tab: the paper's evaluation protocol over dataset folders, models and scales, with
results streaming into a sortable table (with per-group mean rows), a per-image PSNR plot, and
CSV / JSON export (the JSON is exactly `drrn bench --json`'s)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
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
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.tabs._bench_table import BenchProxyModel, BenchRow, BenchTableModel
from app.tabs._models import BICUBIC, ModelChoice, model_choices
from app.tabs._widgets import (
    FolderList,
    IntegerAxis,
    MessageLine,
    PlotPlaceholder,
    scroll_panel,
    user_message,
)
from app.upscalers import model_spec, upscaler_for
from app.workers import Job, JobContext, format_eta, start_job
from drrn_core import benchmark
from drrn_core.benchmark import BenchResult, Failed, Scored

SCALES = (2, 3, 4)
CSV_SUMMARY = "CSV with mean and std rows, model hash and backend (*.csv)"
CSV_PLAIN = "CSV per image, as drrn bench --csv (*.csv)"
_PLOT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
# Per scale: pyqtgraph symbol, the same shape as a character for the legend, line style.
_SCALE_STYLES = {2: ("o", "●", Qt.PenStyle.SolidLine), 3: ("t1", "▲", Qt.PenStyle.DashLine),
                 4: ("s", "■", Qt.PenStyle.DotLine)}
_OTHER_SCALE_STYLE = ("d", "◆", Qt.PenStyle.DashDotLine)


def run_benchmark(ctx: JobContext, folders: list[Path], models: list[str], scales: list[int],
                  with_ifc: bool, device: str = "auto",
                  precision: str = "auto") -> Iterator[Scored | Failed]:
    """Worker body: drrn_core.benchmark's runner over the datasets (a bad image fails alone)."""
    datasets = benchmark.collect_datasets(folders)
    ctx.progress(0.0, "loading models")
    restorers = {m: BICUBIC if m == BICUBIC else
                 _restorer(upscaler_for(m, device, precision), ctx) for m in models}
    for event in benchmark.run(datasets, scales, restorers, with_ifc, cancel=ctx.cancelled):
        name = event.dataset.name
        if isinstance(event, Failed):
            ctx.progress(event.done / event.total, f"{name}: {event.path.name} could not be "
                                                   "scored")
        else:
            r = event.result
            ctx.progress(event.done / event.total, f"{name} ×{r.scale} {r.model}: {r.image}")
        yield event


def _restorer(upscaler, ctx: JobContext):
    """The model as a protocol Restorer that honours the job's cancel between tiles."""
    return lambda ilr_y: upscaler.restore_y(ilr_y, cancel=ctx.cancelled)


class BenchmarkTab(QWidget):
    """Datasets, scales and models in; a streaming results table, a plot and exports out."""

    openInEvaluation = Signal(str, int, str)  # noqa: N815 (Qt naming) - image, scale, model

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Exact fp32 by default, as `drrn bench`: protocol numbers must not depend on the machine.
        self.device, self.precision = "auto", "fp32"
        self._job: Job | None = None
        self._results: dict[str, list[BenchResult]] = {}
        self._failures: list[tuple[str, str]] = []
        self._plot_timer = QTimer(self, singleShot=True, interval=150)
        self._plot_timer.timeout.connect(self._redraw_plot)
        self._build_ui()
        self.refresh_models()
        self._restore_choices()
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
        side.addWidget(self.ifc_check)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run benchmark", self)
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        side.addLayout(buttons)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        side.addWidget(self.progress)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        side.addWidget(self.status)
        self.message = MessageLine(self)
        side.addWidget(self.message)
        self.failure_list = QListWidget(self)
        self.failure_list.setToolTip("Images that could not be scored, with the reason")
        self.failure_list.setMaximumHeight(120)
        self.failure_list.hide()
        side.addWidget(self.failure_list)

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
                                   "with every ticked model (the paper's protocol)")
        self.cancel_button.setToolTip("Stop; the results so far stay in the table")
        self.ifc_check.setToolTip("IFC takes longer than PSNR and SSIM together")
        self.remove_button.setToolTip("Remove the selected datasets from the list")

    def _datasets_box(self) -> QGroupBox:
        box = QGroupBox("Datasets (drop folders here)", self)
        lay = QVBoxLayout(box)
        self.datasets = FolderList(box)
        self.datasets.setMinimumHeight(80)
        self.datasets.foldersChanged.connect(self._update_buttons)
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
            self.scale_checks[s] = check
            lay.addWidget(check)
        return box

    def _models_box(self) -> QGroupBox:
        box = QGroupBox("Models", self)
        lay = QVBoxLayout(box)
        self.models = QListWidget(box)
        self.models.setToolTip("Bicubic (the protocol's baseline) is always included")
        lay.addWidget(self.models)
        self.ensemble_check = QCheckBox("Self-ensemble too (NAME+, 8× time)", box)
        self.ensemble_check.setToolTip(
            "Also score each ticked DRRN model as its self-ensemble, the mean of its 8 flips and "
            "rotations: the “+” rows of super-resolution tables (drrn bench --model NAME+)")
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
        bar.addWidget(self.csv_button)
        bar.addWidget(self.json_button)
        bar.addWidget(self.table_button)
        lay.addLayout(bar)
        self.table_model = BenchTableModel(self)
        self.proxy = BenchProxyModel(self)
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
        self.csv_button.setToolTip("One row per image plus mean and standard-deviation rows")
        self.json_button.setToolTip("Exactly what `drrn bench --json` writes")
        self.table_button.setToolTip("The means as a Markdown or LaTeX table to paste into a "
                                     "paper, each row's best PSNR in bold (drrn bench --table)")
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

    def confirm_replace(self) -> bool:
        """Ask before a new run replaces the results in the table (True: go ahead)."""
        n = len(self.table_model.rows(means=False))
        answer = QMessageBox.question(
            self, "Replace the results?",
            f"The table holds {n} result{'s' if n != 1 else ''} of the last run. A new run "
            "replaces them (export them first to keep them). Run now?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def start(self) -> None:
        """Validate the choices and start the protocol on a worker thread (asks first when the
        table holds results)."""
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
        if self.table_model.rowCount() and not self.confirm_replace():
            return
        self.save_choices()
        self.message.clear_message()
        self.message.setToolTip("")
        self.failure_list.clear()
        self.failure_list.hide()
        self.table_model.clear()
        self._results.clear()
        self._failures.clear()
        self.plot_dataset.clear()
        self.plot.clear()
        self.plot_placeholder.set_empty(True)
        self.progress.setValue(0)
        self.status.setText("Starting…")
        models = self.model_specs()
        self._job = start_job(run_benchmark, folders, models, scales, self.ifc_check.isChecked(),
                              self.device, self.precision,
                              name="benchmark", parent=self)
        self._job.progressed.connect(self._on_progress)
        self._job.yielded.connect(self._on_item)
        self._job.succeeded.connect(lambda _: self.status.setText(self._summary("Done")))
        self._job.cancelled.connect(lambda: self.status.setText(self._summary("Cancelled")))
        self._job.failed.connect(self._on_failed)
        self._job.finished.connect(self._on_finished)
        self._update_buttons()

    def cancel(self) -> None:
        if self._job is not None:
            self.status.setText("Cancelling…")
            self._job.cancel()

    def failures(self) -> list[tuple[str, str]]:
        """(image path, reason) of every image that could not be scored in the last run."""
        return list(self._failures)

    def export_csv(self, path: str | Path, summary: bool = True) -> None:
        """One row per scored image as `drrn bench --csv` writes it (with the seconds each
        restoration took); with ``summary`` (default) then a mean and a standard-deviation row
        per dataset, model and scale, and for every row the model file's SHA-256 and what it ran
        on (backend, device, precision). Atomic."""
        import csv
        import io
        import statistics

        from app.exports import summary_rows
        from drrn_core.atomic import write_text_atomic

        docs = self._bench_docs()
        if not summary:
            write_text_atomic(Path(path), benchmark.bench_csv(docs))
            return
        prov = {m: self._provenance(m) for m in {r.model for r in self.table_model.rows()}}
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
                                *benchmark.csv_cells(im), *prov[run["model"]]])
        for row in summary_rows(self.table_model.rows(means=False)):
            group = times[(row[0], row[1], row[2])]
            if row[3].startswith("mean"):
                seconds = repr(statistics.fmean(group))
            else:
                seconds = repr(statistics.stdev(group)) if len(group) > 1 else ""
            w.writerow([*row, seconds, *prov[row[1]]])
        write_text_atomic(Path(path), buf.getvalue())

    def _provenance(self, model: str) -> tuple[str, str]:
        """(weights SHA-256, what it ran on) of a benchmarked model; bicubic: ("", "bicubic")."""
        if model == BICUBIC:
            return "", "bicubic (MATLAB-exact, float64)"
        from app.exports import file_sha256
        from drrn_core import weights

        try:
            sha = file_sha256(weights.find_model(weights.split_ensemble(model)[0]).path)
            ran = upscaler_for(model, self.device, self.precision).description
        except Exception:  # noqa: BLE001 - a model removed since the run: leave it blank
            return "", ""
        return sha, ran

    def export_json(self, path: str | Path) -> None:
        """Exactly `drrn bench --json`: one object per dataset (a list for several), atomically."""
        from drrn_core.atomic import write_text_atomic

        docs = self._bench_docs()
        doc = docs[0] if len(docs) == 1 else docs
        write_text_atomic(Path(path), json.dumps(doc, indent=2) + "\n")

    def export_table(self, path: str | Path) -> None:
        """Exactly `drrn bench --table`: the means as Markdown (.md) or LaTeX (.tex)."""
        from drrn_core.atomic import write_text_atomic

        fmt = benchmark.TABLE_FORMATS.get(Path(path).suffix.lower())
        if fmt is None:
            raise ValueError(f"{Path(path).name}: a table is written as .md or .tex")
        write_text_atomic(Path(path), benchmark.means_table(self._bench_docs(), fmt))

    def _bench_docs(self) -> list[dict]:
        """The bench JSON (drrn_core.benchmark.bench_json) of each dataset with results."""
        if not self._results:
            raise ValueError("There are no results to export yet.")
        return [benchmark.bench_json(name, results) for name, results in self._results.items()]

    # Slots
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a dataset folder")
        if folder:
            self.datasets.add_folder(folder)

    def _on_progress(self, fraction: float, eta: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        eta_str = format_eta(eta)
        self.status.setText(f"{message}  {eta_str}".strip())

    def _on_item(self, item: Scored | Failed) -> None:
        if isinstance(item, Failed):
            self._failures.append((str(item.path), item.reason))
            self._show_failures()
            return
        r, dataset = item.result, item.dataset.name
        self._results.setdefault(dataset, []).append(r)
        self.table_model.add_image(BenchRow(
            dataset, r.image, r.scale, r.model, r.score.psnr, r.score.ssim, r.score.ifc,
            seconds=r.seconds, path=str(item.path), of=len(item.dataset.images)))
        if self.plot_dataset.findText(dataset) < 0:
            self.plot_dataset.addItem(dataset)
        self._plot_timer.start()

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

    def _on_finished(self) -> None:
        self._job = None
        self._redraw_plot()
        self._update_buttons()

    def _on_double_click(self, index: QModelIndex) -> None:
        row = self.table_model.row_at(self.proxy.mapToSource(index).row())
        if row.path and not row.is_mean:
            self.openInEvaluation.emit(row.path, row.scale, row.model)

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
    def save_choices(self) -> None:
        """Datasets, scales, ticked models, IFC and self-ensemble, for the next session."""
        from app.settings import AppSettings

        store = AppSettings().store
        store.setValue("benchmark/datasets", [str(f) for f in self.datasets.folders()])
        store.setValue("benchmark/scales", [str(s) for s in self.selected_scales()])
        store.setValue("benchmark/models", [c.name for c in self.selected_models()])
        store.setValue("benchmark/ifc", self.ifc_check.isChecked())
        store.setValue("benchmark/ensemble", self.ensemble_check.isChecked())
        store.sync()

    def _restore_choices(self) -> None:
        """The last session's choices; without any, the default DRRN model is ticked beside
        bicubic (the comparison people run a benchmark for)."""
        from app.settings import AppSettings

        store = AppSettings().store

        def strings(key: str) -> list[str] | None:
            value = store.value(key)
            if value is None:
                return None
            return [value] if isinstance(value, str) else [str(v) for v in value]

        for folder in strings("benchmark/datasets") or []:
            self.datasets.add_folder(folder)
        scales = strings("benchmark/scales")
        if scales:
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
        n, failed = len(self.table_model.rows(means=False)), len(self._failures)
        text = f"{word}: {n} result{'s' if n != 1 else ''}"
        return text + (f", {failed} image{'s' if failed != 1 else ''} failed." if failed else ".")

    def _update_buttons(self) -> None:
        running = self._job is not None
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        has_rows = self.table_model.rowCount() > 0
        self.csv_button.setEnabled(has_rows and not running)
        self.json_button.setEnabled(has_rows and not running)
        self.table_button.setEnabled(has_rows and not running)

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

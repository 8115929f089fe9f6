"""The Batch tab: upscale every image under a folder (recursively, keeping the tree) into another
folder. Files that cannot be read are reported, not fatal; nothing is ever written into the input
tree, and every output is written atomically by drrn_core.imaging.io.save_image. Output names,
formats, overwrite guards and the output size check are drrn_core.batch's (as `drrn upscale`);
the fields are remembered across sessions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.services.upscalers import model_spec, take_notices, upscaler_for
from app.settings import DEFAULT_BACKGROUND, DEFAULT_QUALITY, AppSettings
from app.tabs._models import BICUBIC, ModelChoice, default_model, model_choices
from app.tabs._widgets import MessageLine, PathField, user_message
from app.workers import Job, JobContext, format_eta, start_job
from drrn_core import batch, limits

KEEP_LABEL = "Keep input's format"
FORMATS = {**{label: fmt for fmt, label in limits.FORMAT_LABELS.items()},
           KEEP_LABEL: limits.KEEP_FORMAT}
"""Format box label -> drrn_core.batch format (PNG first: the default)."""
LOSSY = (*(limits.FORMAT_LABELS[f] for f in limits.LOSSY_FORMATS), KEEP_LABEL)
"""Choices where a quality applies (keeping the format may write JPEG or WebP)."""
OPAQUE = (limits.FORMAT_LABELS["JPEG"], KEEP_LABEL)
"""Choices that may write JPEG, which has no transparency (the background colour applies)."""
SIZE_MODES = ("Scale ×", "Width (px)", "Height (px)")
DEFAULT_TEMPLATE = "{name}"
"""The Batch tab keeps the input's name (the tree is mirrored into another folder)."""
EXISTING = {"Keep it, add -2": batch.RENAME, "Skip the file": batch.SKIP,
            "Replace it": batch.REPLACE}
"""'If a result exists' box label -> drrn_core.batch policy. The first is the default: keeping
the file and naming the new result ``-2`` never loses anything (a second run into the same
folder keeps the first run's results)."""


@dataclass(frozen=True)
class BatchSettings:
    """One batch run: where from, where to, how big, with what, in which format."""

    input_dir: Path
    output_dir: Path
    model: str
    scale: float | None = 2.0
    width: int | None = None
    height: int | None = None
    fmt: str = "PNG"
    quality: int = DEFAULT_QUALITY
    device: str = "auto"
    precision: str = "auto"
    template: str = DEFAULT_TEMPLATE
    existing: str = batch.RENAME
    background: tuple[int, int, int] = DEFAULT_BACKGROUND  # under transparency in a JPEG


@dataclass(frozen=True)
class BatchEvent:
    """Yielded by the worker: ``begin`` a file, or its outcome ``written`` / ``failed`` /
    ``skipped`` (an existing result left alone); ``flattened`` before ``written`` when its
    transparency was flattened onto the background (a JPEG result); ``notice``: the engine's
    one-line notice for this batch (e.g. a fallback to another backend), in ``detail``."""

    kind: str
    index: int
    total: int
    source: str  # path relative to the input folder
    detail: str = ""  # the output path, or why the file failed
    seconds: float = 0.0  # kind "estimate": the whole batch's estimated time
    shares: tuple[float, ...] = ()  # kind "estimate": each file's share of the progress bar


def _estimates(upscaler, files: list[Path], settings: BatchSettings) -> list[float]:
    """The engine's estimate for each file (size read from its header; 0 if unreadable)."""
    from PIL import Image

    from app.services.estimate import upscale_seconds

    out = []
    for path in files:
        try:
            with Image.open(path) as im:
                w, h = im.size
            out.append(upscale_seconds(upscaler, (h, w), **_size_kw(settings)))
        except Exception:  # noqa: BLE001 - the file fails (with its reason) when it is read
            out.append(0.0)
    return out


def check_folders(input_dir: Path | None, output_dir: Path | None) -> str | None:
    """Why these folders cannot be used (one line), or None when they can."""
    if input_dir is None:
        return "Choose an input folder."
    if not input_dir.is_dir():
        return f"Input folder not found: {input_dir}"
    if output_dir is None:
        return "Choose an output folder."
    if output_dir.exists() and not output_dir.is_dir():
        return f"The output path is a file, not a folder: {output_dir}"
    if batch.inside(output_dir, input_dir):
        return "The output folder must not be the input folder or inside it."
    return None


def plan_outputs(settings: BatchSettings) -> list[batch.Planned]:
    """Where each file's result goes: the same relative folder under the output folder, named
    and guarded by drrn_core.batch (template, format, existing files)."""
    items = batch.tree_items(settings.input_dir, settings.output_dir)
    return batch.plan(items, template=settings.template, fmt=FORMATS[settings.fmt],
                      scale=settings.scale if not (settings.width or settings.height) else None,
                      width=settings.width, height=settings.height, existing=settings.existing)


def run_batch(ctx: JobContext, settings: BatchSettings) -> Iterator[BatchEvent]:
    """Worker body: load, upscale and save each file; failures become events, not exceptions."""
    from drrn_core.imaging import io

    plans = plan_outputs(settings)
    if not plans:
        raise ValueError(f"There are no files in {settings.input_dir}")
    files = [p.source for p in plans]
    total = len(files)
    ctx.progress(0.0, "loading the model")
    upscaler = upscaler_for(settings.model, settings.device, settings.precision, owner="batch")
    ctx.progress(0.0, "estimating the time")
    todo = [p.source for p in plans if not p.skip]
    estimated = dict(zip(todo, _estimates(upscaler, todo, settings), strict=True))
    costs = [estimated.get(f, 0.0) for f in files]
    spent, whole = 0.0, max(sum(costs), 1e-9)
    # progress is weighted by each file's estimated time, so the ETA is right from the start
    weights = [c / whole for c in costs] if sum(costs) > 0 else [1.0 / total] * total
    yield BatchEvent("estimate", 0, total, "", seconds=sum(costs), shares=tuple(weights))
    for i, planned in enumerate(plans):
        if ctx.cancelled():
            return
        source, target = planned.source, planned.target
        rel = str(source.relative_to(settings.input_dir))
        if planned.skip:
            spent += weights[i]
            yield BatchEvent("skipped", i, total, rel, planned.skip)
            continue
        yield BatchEvent("begin", i, total, rel)
        try:
            if batch.inside(target, settings.input_dir):
                raise ValueError("refusing to write into the input folder")
            loaded = io.load_image(source, max_pixels=limits.MAX_INPUT_PIXELS)
            h, w = loaded.pixels.shape[:2]
            batch.check_output_size(str(source), (h, w),
                                    upscaler.output_shape((h, w), **_size_kw(settings)),
                                    limits.MAX_OUTPUT_PIXELS)

            def progress(f: float, rel: str = rel, w: float = weights[i], s: float = spent) -> None:
                ctx.progress(s + f * w, rel)

            image = upscaler.upscale(
                loaded.image, **_size_kw(settings), progress=progress,
                cancel=ctx.cancelled, out_dtype=io.stored_dtype(target, loaded.bit_depth))
            target.parent.mkdir(parents=True, exist_ok=True)
            flattened: list[str] = []
            io.save_image(target, image, like=loaded, quality=settings.quality,
                          background=settings.background, notice=flattened.append)
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
            if ctx.cancelled():
                return
            yield from _notices(i, total, rel)
            yield BatchEvent("failed", i, total, rel,
                             user_message(exc).removeprefix(f"{source}: "))
            continue
        spent += weights[i]
        ctx.progress(spent, rel)
        yield from _notices(i, total, rel)
        if flattened:
            yield BatchEvent("flattened", i, total, rel, flattened[0])
        yield BatchEvent("written", i, total, rel, str(target))


def _notices(index: int, total: int, rel: str) -> Iterator[BatchEvent]:
    """The engine's notices for this batch since the last call, as ``notice`` events."""
    for text in take_notices():
        yield BatchEvent("notice", index, total, rel, text)


def _text(item: QTableWidgetItem | None) -> str:
    """A table cell's text ("" for a cell with no item)."""
    return item.text() if item is not None else ""


def _size_kw(settings: BatchSettings) -> dict:
    """The engine's scale/size arguments; a given width or height keeps the aspect ratio."""
    if settings.width or settings.height:
        return {"size": (settings.height, settings.width)}
    return {"scale": settings.scale}


class BatchTab(QWidget):
    """Input folder -> output folder, with progress, cancel and a table of the files that failed."""

    batchFinished = Signal(int, int)  # noqa: N815 (Qt signal naming) - written, failed

    def __init__(self, parent: QWidget | None = None,
                 settings: AppSettings | None = None) -> None:
        super().__init__(parent)
        self.app_settings = settings or AppSettings()  # the window's: fields are remembered there
        self.device, self.precision = "auto", "auto"  # engine choices; the window may set them
        self._job: Job | None = None
        self._current, self._total = 0, 0
        self._written = 0
        self._skipped = 0
        self.estimate_s: float | None = None
        self._shares: list[float] = []
        self._build_ui()
        self.set_background(self.app_settings.jpeg_background, remember=False)
        self.refresh_models()
        self._on_format(self.format_combo.currentText())
        self._on_size_mode(0)
        self._restore_choices()
        self._update_buttons()
        self._tooltips()
        self._update_preview()
        # every field is remembered a moment after it changes (not only when a batch starts)
        self._save_timer = QTimer(self, singleShot=True, interval=500)
        self._save_timer.timeout.connect(self.save_choices)
        for signal in (self.input_field.changed, self.output_field.changed,
                       self.size_mode.currentIndexChanged, self.scale_spin.valueChanged,
                       self.pixels_spin.valueChanged, self.model_combo.currentIndexChanged,
                       self.format_combo.currentIndexChanged, self.quality_spin.valueChanged,
                       self.template_edit.textChanged, self.existing_combo.currentIndexChanged,
                       self.ensemble_check.toggled):
            # not connect(timer.start): the signal's value (an index, -1 for a cleared combo,
            # or 1920 px) would become the timer's interval ("negative intervals" on stderr)
            signal.connect(lambda *_: self._save_timer.start())
        for signal in (self.size_mode.currentIndexChanged, self.scale_spin.valueChanged,
                       self.pixels_spin.valueChanged, self.format_combo.currentIndexChanged,
                       self.template_edit.textChanged):
            signal.connect(self._update_preview)

    def _tooltips(self) -> None:
        """Every control says what it does."""
        tips = {
            self.input_field: "The folder of images to upscale (sub-folders included); it is "
                              "never written to",
            self.output_field: "Where the results go, in the same sub-folders",
            self.size_mode: "Upscale by a factor, or to a width or a height (aspect kept)",
            self.scale_spin: "Upscaling factor",
            self.pixels_spin: "Result width or height in pixels",
            self.model_combo: "The DRRN model (or bicubic only)",
            self.ensemble_check: "Average DRRN over the 8 flips and rotations of each image "
                                 "(the “+” results of super-resolution tables): a little "
                                 "sharper, 8 times slower",
            self.format_combo: "File format of the results (keep: the input's when it is PNG, "
                               "JPEG, WebP or TIFF, else PNG)",
            self.template_edit: "Result file name without extension: {name} (the input's "
                                "name), {ext} (its extension), {scale} (2, 2.5, or w1920), "
                                "{size} (x2, w1920); e.g. {name}_x{scale}",
            self.existing_combo: "What to do when a result's file already exists (an input "
                                 "is never overwritten)",
            self.quality_spin: "JPEG/WebP quality (WebP 100 = lossless)",
            self.background_button: "JPEG has no transparency: the colour that transparent "
                                    "parts of an image become in a JPEG result (Compare's "
                                    "Save result uses it too)",
            self.run_button: "Start: the whole batch is estimated first",
            self.cancel_button: "Stop after the current tile; finished files stay",
            self.failures: "Files of the last run that could not be upscaled, and why",
        }
        for widget, tip in tips.items():
            widget.setToolTip(tip)

    def _build_ui(self) -> None:
        folders = QGroupBox("Folders", self)
        form = QFormLayout(folders)
        self.input_field = PathField("Images to upscale (searched recursively)", parent=folders)
        self.output_field = PathField("Where the results go (same sub-folders)", parent=folders)
        form.addRow("Input folder:", self.input_field)
        form.addRow("Output folder:", self.output_field)
        hint = QLabel("Sub-folders are recreated in the output folder. Nothing is ever written "
                      "into the input folder; files that cannot be read are listed below.", folders)
        hint.setWordWrap(True)
        form.addRow(hint)

        options = QGroupBox("Output", self)
        form = QFormLayout(options)
        size_row = QHBoxLayout()
        self.size_mode = QComboBox(options)
        self.size_mode.addItems(SIZE_MODES)
        self.size_mode.currentIndexChanged.connect(self._on_size_mode)
        self.scale_spin = QDoubleSpinBox(options)
        self.scale_spin.setRange(limits.BATCH_SCALE_STEP_MIN, limits.UPSCALE_SCALE.high)
        self.scale_spin.setSingleStep(0.5)
        self.scale_spin.setValue(2.0)
        self.pixels_spin = QSpinBox(options)
        self.pixels_spin.setRange(1, 65535)
        self.pixels_spin.setValue(1920)
        self.pixels_spin.setSuffix(" px")
        size_row.addWidget(self.size_mode)
        size_row.addWidget(self.scale_spin, 1)
        size_row.addWidget(self.pixels_spin, 1)
        form.addRow("Size:", size_row)
        self.model_combo = QComboBox(options)
        form.addRow("Model:", self.model_combo)
        self.ensemble_check = QCheckBox("Self-ensemble (8× time)", options)
        form.addRow("", self.ensemble_check)
        fmt_row = QHBoxLayout()
        self.format_combo = QComboBox(options)
        self.format_combo.addItems(list(FORMATS))
        self.format_combo.currentTextChanged.connect(self._on_format)
        self.quality_spin = QSpinBox(options)
        self.quality_spin.setRange(*limits.QUALITY_RANGE)
        self.quality_spin.setValue(DEFAULT_QUALITY)
        self.quality_spin.setPrefix("quality ")
        fmt_row.addWidget(self.format_combo)
        fmt_row.addWidget(self.quality_spin, 1)
        form.addRow("Format:", fmt_row)
        self.template_edit = QLineEdit(DEFAULT_TEMPLATE, options)
        self.template_edit.setPlaceholderText(DEFAULT_TEMPLATE)
        form.addRow("File name:", self.template_edit)
        self.name_preview = QLabel("", options)
        self.name_preview.setWordWrap(True)
        form.addRow("", self.name_preview)
        self.existing_combo = QComboBox(options)
        self.existing_combo.addItems(list(EXISTING))
        form.addRow("If a result exists:", self.existing_combo)
        self.background_button = QPushButton(options)
        self.background_button.clicked.connect(self._choose_background)
        form.addRow("JPEG background:", self.background_button)
        self.flattened = 0  # results of the current run whose transparency was flattened
        self._first_flattened = ""

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Upscale folder", self)
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)

        progress = QFormLayout()
        self.overall_bar = QProgressBar(self)
        self.overall_bar.setRange(0, 1000)
        self.file_bar = QProgressBar(self)
        self.file_bar.setRange(0, 1000)
        progress.addRow("Overall:", self.overall_bar)
        progress.addRow("Current file:", self.file_bar)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.message = MessageLine(self)

        self.failures = QTableWidget(0, 2, self)
        self.failures.setHorizontalHeaderLabels(["File", "Problem"])
        self.failures.verticalHeader().setVisible(False)
        self.failures.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.failures.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.failures.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        top = QHBoxLayout()
        top.addWidget(folders, 3)
        top.addWidget(options, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(buttons)
        lay.addLayout(progress)
        lay.addWidget(self.status)
        lay.addWidget(self.message)
        lay.addWidget(QLabel("Files that failed:", self))
        lay.addWidget(self.failures, 1)

    # Public API
    def refresh_models(self) -> None:
        """Re-read the model registry, keeping the current choice when it still exists."""
        current = self.model_combo.currentData()
        try:
            choices = model_choices()
            wanted = current.name if current else default_model()
        except Exception as exc:  # noqa: BLE001 - a broken registry must not break the tab
            choices, wanted = [ModelChoice("Bicubic", BICUBIC)], BICUBIC
            self.message.show_error(f"Could not list models: {user_message(exc)}")
        self.model_combo.clear()
        for choice in choices:
            self.model_combo.addItem(choice.label, choice)
            if choice.name == wanted:
                self.model_combo.setCurrentIndex(self.model_combo.count() - 1)

    def settings(self) -> BatchSettings:
        mode = self.size_mode.currentIndex()
        pixels = self.pixels_spin.value()
        choice = self.model_combo.currentData()
        model = model_spec(choice.name if choice else BICUBIC, self.ensemble_check.isChecked())
        return BatchSettings(
            input_dir=self.input_field.path() or Path(),
            output_dir=self.output_field.path() or Path(),
            model=model,
            scale=self.scale_spin.value() if mode == 0 else None,
            width=pixels if mode == 1 else None,
            height=pixels if mode == 2 else None,
            fmt=self.format_combo.currentText(),
            quality=self.quality_spin.value(),
            device=self.device,
            precision=self.precision,
            template=self.template_edit.text().strip() or DEFAULT_TEMPLATE,
            existing=EXISTING[self.existing_combo.currentText()],
            background=self.background,
        )

    def is_running(self) -> bool:
        return self._job is not None

    def start(self) -> None:
        """Check the folders, then run the batch on a worker thread."""
        if self._job is not None:
            return
        problem = check_folders(self.input_field.path(), self.output_field.path())
        if problem is None:
            try:
                batch.check_template(self.settings().template)
            except batch.TemplateError as exc:
                problem = str(exc)[:1].upper() + str(exc)[1:]
        if problem:
            self.message.show_error(problem)
            return
        self.save_choices()
        self.message.clear_message()
        self.failures.setRowCount(0)
        self._current, self._total, self._written, self._skipped = 0, 0, 0, 0
        self.flattened, self._first_flattened = 0, ""
        self.estimate_s, self._shares = None, []
        self.overall_bar.setValue(0)
        self.file_bar.setValue(0)
        self.status.setText("Starting…")
        self._job = start_job(run_batch, self.settings(), name="batch", parent=self)
        self._job.progressed.connect(self._on_progress)
        self._job.yielded.connect(self._on_event)
        self._job.succeeded.connect(lambda _: self._finish("Done"))
        self._job.cancelled.connect(lambda: self._finish("Cancelled"))
        self._job.failed.connect(self._on_failed)
        self._job.finished.connect(self._on_finished)
        self._update_buttons()

    def cancel(self) -> None:
        if self._job is not None:
            self.status.setText("Cancelling after the current tile…")
            self._job.cancel()

    def failed_files(self) -> list[tuple[str, str]]:
        """(relative path, reason) of every file reported as failed."""
        return [(_text(self.failures.item(r, 0)), _text(self.failures.item(r, 1)))
                for r in range(self.failures.rowCount())]

    # Slots
    def _on_progress(self, fraction: float, eta: float, message: str) -> None:
        self.overall_bar.setValue(round(fraction * 1000))
        if not self._total:  # before the first file: loading the model
            self.status.setText(message)
            return
        shares = self._shares or [1.0 / self._total] * self._total
        done = sum(shares[:self._current])
        within = min(max((fraction - done) / max(shares[self._current], 1e-12), 0.0), 1.0)
        self.file_bar.setValue(round(within * 1000))
        if fraction < 0.2 and self.estimate_s is not None:  # too early to extrapolate
            eta = self.estimate_s * (1.0 - fraction)
        self.status.setText(f"{self._current + 1}/{self._total}: {message}  {format_eta(eta)}"
                            .strip())

    def _on_event(self, event: BatchEvent) -> None:
        if event.kind == "estimate":
            from app.services.estimate import format_duration

            self.estimate_s = event.seconds
            self._shares = list(event.shares)
            self.status.setText(f"{event.total} files: {format_duration(event.seconds)} "
                                "estimated on this machine.")
            return
        self._current, self._total = event.index, event.total
        if event.kind == "notice":
            self.message.show_info(event.detail)
            return
        if event.kind == "flattened":  # one line for the whole run, however many files
            from drrn_core.imaging.io import colour_name

            self.flattened += 1
            self._first_flattened = self._first_flattened or event.source
            many = self.flattened > 1
            self.message.show_info(
                f"JPEG has no transparency: {self.flattened} result{'s' if many else ''} with "
                f"transparent parts (first: {self._first_flattened}) "
                f"{'were' if many else 'was'} flattened onto {colour_name(self.background)}.")
            return
        if event.kind == "begin":
            self.file_bar.setValue(0)
            self.status.setText(f"{event.index + 1}/{event.total}: {event.source}")
        elif event.kind == "written":
            self._written += 1
            self.file_bar.setValue(1000)
        elif event.kind == "skipped":
            self._skipped += 1
        else:
            row = self.failures.rowCount()
            self.failures.insertRow(row)
            self.failures.setItem(row, 0, QTableWidgetItem(event.source))
            self.failures.setItem(row, 1, QTableWidgetItem(event.detail))

    def _on_failed(self, exc: BaseException) -> None:
        self.message.show_error(f"Batch stopped: {user_message(exc)}")
        self._finish("Stopped")

    def _on_finished(self) -> None:
        self._job = None
        self._update_buttons()
        self.batchFinished.emit(self._written, self.failures.rowCount())

    def _finish(self, word: str) -> None:
        failed = self.failures.rowCount()
        if word == "Done":
            self.overall_bar.setValue(1000)
        skipped = f"{self._skipped} skipped (already there), " if self._skipped else ""
        self.status.setText(f"{word}: {self._written} written, {skipped}{failed} failed.")

    def _on_format(self, fmt: str) -> None:
        self.quality_spin.setEnabled(fmt in LOSSY)
        self.background_button.setEnabled(fmt in OPAQUE)

    @property
    def background(self) -> tuple[int, int, int]:
        """(r, g, b) under transparent parts of JPEG results."""
        return self._background

    def set_background(self, rgb: tuple[int, int, int], remember: bool = True) -> None:
        """Use ``rgb`` for JPEG results' transparent parts; ``remember``: for the next sessions
        too (app.settings, shared with Compare's Save result)."""
        from PySide6.QtGui import QColor, QIcon, QPixmap

        from drrn_core.imaging.io import colour_name

        r, g, b = rgb
        self._background = (int(r), int(g), int(b))
        if remember:
            self.app_settings.jpeg_background = self._background
        swatch = QPixmap(14, 14)
        swatch.fill(QColor(*self._background))
        self.background_button.setIcon(QIcon(swatch))
        self.background_button.setText(colour_name(self._background))

    def _choose_background(self) -> None:
        from PySide6.QtGui import QColor
        from PySide6.QtWidgets import QColorDialog

        colour = QColorDialog.getColor(QColor(*self._background), self, "JPEG background")
        if colour.isValid():
            self.set_background((colour.red(), colour.green(), colour.blue()))

    def _on_size_mode(self, mode: int) -> None:
        self.scale_spin.setVisible(mode == 0)
        self.pixels_spin.setVisible(mode != 0)

    def _update_preview(self, *_args) -> None:
        """Under the template: what a sample input would be called, or why the template fails."""
        settings = self.settings()
        sample = Path("photo.jpg")
        by_size = settings.width or settings.height
        try:
            name = batch.output_name(
                settings.template, sample,
                batch.size_fields(None if by_size else settings.scale, settings.width,
                                  settings.height),
                batch.output_suffix(sample, FORMATS[settings.fmt]))
        except batch.TemplateError as exc:
            self.name_preview.setText(f"⚠ {exc}")
            self.name_preview.setStyleSheet("color: #c0392b;")
            return
        self.name_preview.setText(f"e.g. {sample.name} → {name}")
        self.name_preview.setStyleSheet("")

    def _update_buttons(self) -> None:
        running = self._job is not None
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (self.input_field, self.output_field, self.size_mode, self.scale_spin,
                  self.pixels_spin, self.model_combo, self.ensemble_check, self.format_combo,
                  self.template_edit, self.existing_combo):
            w.setEnabled(not running)
        self.quality_spin.setEnabled(not running and self.format_combo.currentText() in LOSSY)
        self.background_button.setEnabled(not running
                                          and self.format_combo.currentText() in OPAQUE)

    # Remembered fields
    def save_choices(self) -> None:
        """Every field (folders, size, model, self-ensemble, format, quality, name template,
        existing files) for the next session; saved a moment after any of them changes."""

        store = self.app_settings.store
        choice = self.model_combo.currentData()
        for key, value in (
                ("input", str(self.input_field.path() or "")),
                ("output", str(self.output_field.path() or "")),
                ("size_mode", self.size_mode.currentIndex()),
                ("scale", self.scale_spin.value()),
                ("pixels", self.pixels_spin.value()),
                ("model", choice.name if choice else ""),
                ("ensemble", int(self.ensemble_check.isChecked())),
                ("format", self.format_combo.currentText()),
                ("quality", self.quality_spin.value()),
                ("template", self.template_edit.text()),
                ("existing", self.existing_combo.currentText())):
            store.setValue(f"batch/{key}", value)
        store.sync()

    def _restore_choices(self) -> None:
        """The last session's fields; anything missing or out of range keeps its default."""

        store = self.app_settings.store

        def value(key: str, kind: type):
            raw = store.value(f"batch/{key}")
            try:
                return None if raw is None else kind(raw)
            except (TypeError, ValueError):
                return None

        for field, key in ((self.input_field, "input"), (self.output_field, "output")):
            if value(key, str):
                field.set_path(value(key, str))
        mode = value("size_mode", int)
        if mode is not None and 0 <= mode < len(SIZE_MODES):
            self.size_mode.setCurrentIndex(mode)
        spins = ((self.scale_spin, "scale", float), (self.pixels_spin, "pixels", int),
                 (self.quality_spin, "quality", int))
        for spin, key, kind in spins:
            number = value(key, kind)
            if number is not None and spin.minimum() <= number <= spin.maximum():
                spin.setValue(number)
        model = value("model", str)
        for i in range(self.model_combo.count()):
            if model and self.model_combo.itemData(i).name == model:
                self.model_combo.setCurrentIndex(i)
        self.ensemble_check.setChecked(bool(value("ensemble", int)))
        for combo, key in ((self.format_combo, "format"), (self.existing_combo, "existing")):
            text = value(key, str)
            if text and combo.findText(text) >= 0:
                combo.setCurrentText(text)
        template = value("template", str)
        if template:
            self.template_edit.setText(template)

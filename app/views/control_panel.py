"""The Compare tab's control panel: mode, scale / target size, model, device, precision,
the evaluation readouts and the progress row. Widgets only; the tab owns the behaviour."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.services.pipeline import BICUBIC, MAX_SCALE, MIN_SCALE
from app.services.upscalers import model_spec
from drrn_core.metrics.benchmark import format_score

ROWS = {"bicubic": 0, "drrn": 1}


@contextlib.contextmanager
def _blocked(*widgets: QWidget) -> Iterator[None]:
    """No signals from ``widgets`` inside (programmatic changes are not user changes)."""
    before = [w.blockSignals(True) for w in widgets]
    try:
        yield
    finally:
        for w, was in zip(widgets, before, strict=True):
            w.blockSignals(was)


PRECISION_TIP = ("Number format: fp32 is exact; auto picks the fastest that is accurate enough "
                 "on this device")
EVALUATE_PRECISION_TIP = ("Evaluating always runs DRRN in exact fp32, as drrn bench does, so the "
                          "scores are the benchmark's scores")


class Readouts(QTableWidget):
    """PSNR / SSIM / IFC of Bicubic and DRRN (protocol numbers, Y, border = scale)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(2, 3, parent)
        self.setHorizontalHeaderLabels(["PSNR", "SSIM", "IFC"])
        self.setVerticalHeaderLabels(["Bicubic", "DRRN"])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.clear_values()
        self.resizeRowsToContents()
        rows = sum(self.rowHeight(r) for r in range(2))
        header = self.horizontalHeader().sizeHint().height()
        self.setFixedHeight(header + rows + 2 * self.frameWidth())
        self.setToolTip("PSNR (dB), SSIM and IFC on the Y channel, border = scale, as "
                        "`drrn bench` measures them; higher is better")

    def clear_values(self, text: str = "–") -> None:
        for r in range(2):
            for c in range(3):
                self._set(r, c, text)

    def _set(self, row: int, col: int, text: str) -> None:
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setItem(row, col, item)

    def set_pending(self, key: str, text: str = "…") -> None:
        for c in range(3):
            self._set(ROWS[key], c, text)

    def set_score(self, key: str, psnr: float, ssim: float, ifc: float | None,
                  ifc_pending: bool) -> None:
        r = ROWS[key]
        self._set(r, 0, format_score("psnr", psnr, inf="∞"))
        self._set(r, 1, format_score("ssim", ssim))
        self._set(r, 2, format_score("ifc", ifc, missing="…" if ifc_pending else "–"))

    def text(self, key: str, col: int) -> str:
        item = self.item(ROWS[key], col)
        assert item is not None  # every cell is set when the table is made
        return item.text()


class ControlPanel(QWidget):
    """Emits ``changed`` when anything that affects the result changes."""

    changed = Signal()
    importRequested = Signal()
    cancelRequested = Signal()
    wholeRequested = Signal()
    modeChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._input_size: tuple[int, int] | None = None
        self._anchor = "width"  # the target-size box the user set last (kept for a new image)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        mode_box = QGroupBox("Mode")
        mode_row = QVBoxLayout(mode_box)
        self.mode_upscale = QRadioButton("Upscale a photo")
        self.mode_evaluate = QRadioButton("Evaluate against ground truth")
        self.mode_upscale.setToolTip("Panes: Input (nearest), Bicubic, DRRN")
        self.mode_evaluate.setToolTip("The opened image is the ground truth; its LR is made by "
                                      "the paper's protocol and PSNR/SSIM/IFC are measured")
        self.mode_group = QButtonGroup(self)
        for button in (self.mode_upscale, self.mode_evaluate):
            self.mode_group.addButton(button)
            mode_row.addWidget(button)
        self.mode_upscale.setChecked(True)
        self.mode_group.buttonClicked.connect(lambda _b: self._on_mode())
        layout.addWidget(mode_box)

        scale_box = QGroupBox("Scale")
        form = QFormLayout(scale_box)
        self.scale = QDoubleSpinBox(minimum=MIN_SCALE, maximum=MAX_SCALE, singleStep=0.1,
                                    decimals=2, value=2.0, suffix=" ×")
        self.scale.setKeyboardTracking(False)
        presets = QHBoxLayout()
        self.preset_buttons = []
        for s in (2, 3, 4):
            b = QPushButton(f"×{s}")
            b.setFixedWidth(44)
            b.clicked.connect(lambda _=False, s=s: self.scale.setValue(s))
            presets.addWidget(b)
            self.preset_buttons.append(b)
        form.addRow("Factor", self.scale)
        form.addRow("", presets)
        self.use_size = QCheckBox("Target size")
        # "–" (the special value 0) until an image gives them a size
        # Qt properties as keywords: PySide6's hints list only some (not specialValueText).
        self.width_box = QSpinBox(minimum=0, maximum=32768, suffix=" px",  # type: ignore[call-arg]
                                  specialValueText="–")
        self.height_box = QSpinBox(minimum=0, maximum=32768, suffix=" px",  # type: ignore[call-arg]
                                   specialValueText="–")
        self.width_box.setKeyboardTracking(False)
        self.height_box.setKeyboardTracking(False)
        form.addRow(self.use_size)
        form.addRow("Width", self.width_box)
        form.addRow("Height", self.height_box)
        layout.addWidget(scale_box)

        model_box = QGroupBox("Model")
        mform = QFormLayout(model_box)
        self.model = QComboBox()
        self.model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model.setMinimumContentsLength(12)
        self.import_button = QPushButton("Import weights…")
        self.device = QComboBox()
        self.device.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device.setMinimumContentsLength(12)
        self.precision = QComboBox()
        self._all_precisions: list[str] = ["auto"]  # set_precisions: every engine precision
        self._model_precisions: dict[str, tuple[str, ...]] = {}  # model name -> its precisions
        mform.addRow("Model", self.model)
        mform.addRow("", self.import_button)
        mform.addRow("Device", self.device)
        mform.addRow("Precision", self.precision)
        self.ensemble = QCheckBox("Self-ensemble (8× time)")
        mform.addRow("", self.ensemble)
        self.model_note = QLabel()
        self.model_note.setWordWrap(True)
        self.model_note.setStyleSheet("color: #b07a00;")
        self.model_note.hide()
        mform.addRow(self.model_note)
        layout.addWidget(model_box)

        self.readout_box = QGroupBox("Scores on Y (PSNR in dB; border = scale)")
        rl = QVBoxLayout(self.readout_box)
        self.readouts = Readouts()
        rl.addWidget(self.readouts)
        export_row = QHBoxLayout()
        self.copy_scores_button = QToolButton()
        self.copy_scores_button.setText("Copy scores as")
        self.copy_scores_button.setToolTip("Copy the scores with their provenance (image, "
                                           "scale, model file hash, backend, precision)")
        self.copy_scores_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.copy_menu = QMenu(self.copy_scores_button)
        self.copy_scores_button.setMenu(self.copy_menu)
        self.save_scores_button = QPushButton("Save scores…")
        self.save_scores_button.setToolTip("Write the scores and their provenance as CSV, "
                                           "Markdown or LaTeX")
        export_row.addWidget(self.copy_scores_button)
        export_row.addWidget(self.save_scores_button)
        rl.addLayout(export_row)
        layout.addWidget(self.readout_box)

        layout.addStretch(1)
        self.progress = QProgressBar(minimum=0, maximum=1000, value=0, textVisible=True)
        self.progress.setFormat("Idle")
        self.eta = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        # The footer (progress, Cancel, "Upscale whole image") is placed by the tab below the
        # scrolling panel, so it stays in sight in a small or 150 %-scaled window.
        self.footer = QWidget()
        footer = QVBoxLayout(self.footer)
        footer.setContentsMargins(6, 2, 6, 4)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        footer.addLayout(row)
        footer.addWidget(self.eta)
        self.whole_button = QPushButton("Upscale whole image")
        self.whole_button.setToolTip("DRRN on the whole image: the panes show a preview of the "
                                     "visible region because the whole image takes longer")
        self.whole_button.hide()
        # Its text changes as tiles finish ("Resume whole image (N % done, ...)"): it takes the
        # panel's width and never widens the panel (which would move the image panes).
        policy = self.whole_button.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.whole_button.setSizePolicy(policy)
        self.whole_button.clicked.connect(self.wholeRequested)
        footer.addWidget(self.whole_button)

        self.scale.valueChanged.connect(self._sync_size_from_scale)
        self.scale.valueChanged.connect(self.changed)
        self.use_size.toggled.connect(self._on_use_size)
        self.width_box.valueChanged.connect(self._on_width)
        self.height_box.valueChanged.connect(self._on_height)
        self.model.currentIndexChanged.connect(self.changed)
        self.device.currentIndexChanged.connect(self.changed)
        self.precision.currentIndexChanged.connect(self.changed)
        self.ensemble.toggled.connect(self.changed)
        self.model.currentIndexChanged.connect(
            lambda _i: self.ensemble.setEnabled(self.model_name() != BICUBIC))
        self.model.currentIndexChanged.connect(lambda _i: self._offer_precisions())
        self.import_button.clicked.connect(self.importRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self._on_use_size(False)
        self._on_mode()
        self._tooltips()

    def _tooltips(self) -> None:
        """Every control says what it does."""
        tips = {
            self.scale: "Upscaling factor (1.1-8; whole numbers 2-8 when evaluating)",
            self.use_size: "Give the result's width or height instead of a factor "
                           "(the aspect ratio is kept)",
            self.width_box: "Result width in pixels (the height follows)",
            self.height_box: "Result height in pixels (the width follows)",
            self.model: "The DRRN model; “Bicubic only” shows the interpolation alone",
            self.import_button: "Add a DRRN .safetensors model to your models",
            self.device: "Where DRRN runs: auto picks the fastest path on this machine, measured "
                         "once per model (a few seconds on first use)",
            self.ensemble: "Average DRRN over the 8 flips and rotations of the input (the "
                           "“+” results of super-resolution tables): a little sharper, 8 times "
                           "slower",
            self.cancel_button: "Stop the running computation (Esc)",
            self.progress: "Progress of the current computation",
        }
        for widget, tip in tips.items():
            widget.setToolTip(tip)
        self.precision.setToolTip(EVALUATE_PRECISION_TIP if self.mode == "evaluate"
                                  else PRECISION_TIP)
        for b, s in zip(self.preset_buttons, (2, 3, 4), strict=True):
            b.setToolTip(f"Scale ×{s}")

    # -- mode and scale --------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return "evaluate" if self.mode_evaluate.isChecked() else "upscale"

    def set_mode(self, mode: str) -> None:
        (self.mode_evaluate if mode == "evaluate" else self.mode_upscale).setChecked(True)
        self._on_mode()

    def _on_mode(self) -> None:
        evaluate = self.mode == "evaluate"
        self.scale.blockSignals(True)
        self.scale.setDecimals(0 if evaluate else 2)
        self.scale.setMinimum(2 if evaluate else MIN_SCALE)
        self.scale.setSingleStep(1 if evaluate else 0.1)
        if evaluate:
            self.scale.setValue(max(2, round(self.scale.value())))
        self.scale.blockSignals(False)
        self.use_size.setEnabled(not evaluate and self._input_size is not None)
        if evaluate:
            self.use_size.setChecked(False)
        self._sync_size_from_scale()
        self.readout_box.setVisible(evaluate)
        self.precision.setEnabled(not evaluate)
        self.precision.setToolTip(EVALUATE_PRECISION_TIP if evaluate else PRECISION_TIP)
        self.modeChanged.emit(self.mode)
        self.changed.emit()

    def scale_value(self) -> float:
        return float(round(self.scale.value())) if self.mode == "evaluate" else self.scale.value()

    def set_input_size(self, width: int, height: int) -> None:
        """A new input (the image upscaled, or the ground truth evaluated): the size boxes
        follow it. With "Target size" on, the box set last keeps its value and the other
        follows the new aspect ratio (a former image's width × height would stretch it)."""
        self._input_size = (width, height)
        for box in (self.width_box, self.height_box):
            box.setMinimum(1)
        self.use_size.setEnabled(self.mode != "evaluate")
        if self.use_size.isChecked():
            box = self.width_box if self._anchor == "width" else self.height_box
            with _blocked(self.width_box, self.height_box):
                self._follow(box)
            self._show_implied_scale()
        self._sync_size_from_scale()

    def show_output_size(self, width: int, height: int) -> None:
        """The size a run's result has (e.g. the evaluation's, cropped to a multiple of the
        scale): shown in the size boxes while the factor is in charge."""
        if not (self.use_size.isChecked() and self.use_size.isEnabled()):
            with _blocked(self.width_box, self.height_box):
                self.width_box.setValue(width)
                self.height_box.setValue(height)

    def target_size(self) -> tuple[int, int] | None:
        if not (self.use_size.isChecked() and self.use_size.isEnabled()):
            return None
        return self.width_box.value(), self.height_box.value()

    def _show_implied_scale(self) -> None:
        """While a target size is in charge, the (greyed) factor box shows the factor it
        means, not the one last typed."""
        if self._input_size is None or not self.use_size.isChecked():
            return
        with _blocked(self.scale):
            self.scale.setValue(self.width_box.value() / self._input_size[0])

    def _follow(self, box: QSpinBox) -> None:
        """The other size box from ``box``'s value and the input's aspect ratio."""
        assert self._input_size is not None  # called only with an input
        w, h = self._input_size
        if box is self.width_box:
            self.height_box.setValue(max(1, round(self.width_box.value() * h / w)))
        else:
            self.width_box.setValue(max(1, round(self.height_box.value() * w / h)))

    def _on_use_size(self, on: bool) -> None:
        if on and self._input_size is not None:
            self.use_size.blockSignals(True)
            self.use_size.setChecked(False)
            self._sync_size_from_scale()
            self.use_size.setChecked(True)
            self.use_size.blockSignals(False)
        self.width_box.setEnabled(on)
        self.height_box.setEnabled(on)
        self.scale.setEnabled(not on)
        for b in self.preset_buttons:
            b.setEnabled(not on)
        self._sync_size_from_scale()
        self._show_implied_scale()
        self.changed.emit()

    def _sync_size_from_scale(self, *_args) -> None:
        """Width/height follow the scale while the scale is in charge (so ticking "Target size"
        starts from the size the header shows, never a stale one). Evaluating, they show the
        ground truth cropped to a multiple of the scale: the size of every pane."""
        if self._input_size is None or self.use_size.isChecked():
            return
        w, h = self._input_size
        s = self.scale.value()
        if self.mode == "evaluate":
            s = max(2, round(s))
            size = (w - w % s, h - h % s)
        else:
            size = (math.ceil(w * s), math.ceil(h * s))
        with _blocked(self.width_box, self.height_box):
            self.width_box.setValue(size[0])
            self.height_box.setValue(size[1])

    def _on_width(self, value: int) -> None:
        self._anchor = "width"
        if self._input_size:
            with _blocked(self.height_box):
                self._follow(self.width_box)
            self._show_implied_scale()
        self.changed.emit()

    def _on_height(self, value: int) -> None:
        self._anchor = "height"
        if self._input_size:
            with _blocked(self.width_box):
                self._follow(self.height_box)
            self._show_implied_scale()
        self.changed.emit()

    # -- model / device --------------------------------------------------------------------
    def set_models(self, entries: list[tuple[str, str]], select: str | None,
                   precisions: dict[str, tuple[str, ...]] | None = None) -> None:
        """``entries`` = [(label, name)]; "Bicubic only" is always offered first. ``precisions``:
        the engine precisions each model name runs in (its descriptor), which the Precision box
        offers while that model is chosen (a name not in it: every precision)."""
        self._model_precisions = dict(precisions or {})
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItem("Bicubic only", BICUBIC)
        for label, name in entries:
            self.model.addItem(label, name)
        idx = self.model.findData(select) if select else -1
        self.model.setCurrentIndex(idx if idx >= 0 else (1 if entries else 0))
        self.model.blockSignals(False)
        self._offer_precisions()
        if entries:
            self.model_note.hide()
        else:
            self.model_note.setText("No DRRN model is installed yet: showing bicubic only. "
                                    "Use “Import weights…” to add a .safetensors model.")
            self.model_note.show()

    def model_name(self) -> str:
        return self.model.currentData() or BICUBIC

    def set_precisions(self, values: list[str], select: str) -> None:
        """Every precision the engine has ("auto" first); the box offers those the chosen model
        runs in."""
        self._all_precisions = list(values)
        self._offer_precisions(select)

    def _offer_precisions(self, select: str | None = None) -> None:
        """The Precision box: "auto" and the chosen model's precisions; the choice is kept when
        the model runs in it, else "auto"."""
        allowed = self._model_precisions.get(self.model_name())
        values = [p for p in self._all_precisions if p == "auto" or allowed is None or p in allowed]
        keep = select if select is not None else self.precision.currentText()
        if values != [self.precision.itemText(i) for i in range(self.precision.count())]:
            self.set_choices(self.precision, values, keep)
        elif keep:
            self.precision.setCurrentIndex(max(self.precision.findText(keep), 0))

    def model_spec(self) -> str:
        """What runs: the model's name, followed by "+" for its self-ensemble."""
        return model_spec(self.model_name(), self.ensemble.isChecked())

    def set_devices(self, devices: list[tuple[str, str]], select: str) -> None:
        """``devices`` = [(label, spec)] (spec: what the engine's ``device=`` takes)."""
        self.device.blockSignals(True)
        self.device.clear()
        for label, spec in devices:
            self.device.addItem(label, spec)
            self.device.setItemData(self.device.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
        idx = self.device.findData(select)
        self.device.setCurrentIndex(max(idx, 0))
        self.device.blockSignals(False)

    def device_spec(self) -> str:
        """The chosen device as the engine takes it ("auto", "cpu", "cuda:0", "vulkan:0")."""
        return self.device.currentData() or self.device.currentText() or "auto"

    def set_choices(self, combo: QComboBox, values: list[str], select: str) -> None:
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(values)
        idx = combo.findText(select)
        combo.setCurrentIndex(max(idx, 0))
        combo.blockSignals(False)

    # -- progress --------------------------------------------------------------------------
    def set_busy(self, busy: bool, text: str = "", complete: bool = False) -> None:
        """Start a run (empty bar) or end one; a run that ended ``complete`` shows a full bar."""
        self.progress.setRange(0, 1000)
        self.cancel_button.setEnabled(busy)
        self.progress.setValue(self.progress.maximum() if complete and not busy else 0)
        if busy:
            self.progress.setFormat(text or "Working… %p%")
        else:
            self.progress.setFormat(text or "Idle")
            self.eta.clear()

    def set_progress(self, fraction: float, eta_text: str) -> None:
        """The bar at ``fraction`` (it shows :func:`percent` of it) and the ETA line."""
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(min(max(fraction, 0.0), 1.0) * 1000))
        self.eta.setText(eta_text)

    def set_working(self, text: str) -> None:
        """A stretch whose length is not known: the bar moves without a percentage."""
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        self.eta.setText("")


def percent(fraction: float) -> int:
    """The whole percent the progress bar shows for ``fraction`` (its value counts thousandths,
    and Qt's "%p" truncates): the one number any label beside the bar shows too."""
    return int(min(max(fraction, 0.0), 1.0) * 1000) * 100 // 1000

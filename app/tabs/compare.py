"""The Compare tab: upscale a photo, or evaluate against ground truth, in synchronised panes.

Every change of input, mode, scale, model, device or precision starts a new run (debounced);
runs are numbered and a result of a superseded run is dropped, so stale output never
overwrites newer output. Computation happens in app.services.pipeline on a worker thread.

Preview first: when DRRN on the whole image is estimated to take longer than
pipeline.AUTO_LIMIT_S, a run computes DRRN only for the visible region (refreshed when the
user pans or zooms) and offers "Upscale whole image (about N min)"; nothing longer starts
unasked.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.services import estimate, pipeline, upscalers
from app.tabs._widgets import user_message
from app.views.control_panel import ControlPanel
from app.views.error_map import ErrorPane, ErrorScale
from app.views.image_pane import ImagePane
from app.views.pane_grid import PaneGrid, ViewSync
from app.views.split_view import SplitPane
from app.workers import Generation, Job, format_eta, start_job
from drrn_core.metrics import protocol
from drrn_core.metrics.benchmark import format_score

DEBOUNCE_MS = 250
PREVIEW_DEBOUNCE_MS = 400
CONTROLS_MIN_WIDTH = 290
TITLES = {
    "input": "Input",
    "bicubic": "Bicubic",
    "drrn": "DRRN",
    "gt": "Ground truth",
    "err_bicubic": "|Bicubic − GT|",
    "err_drrn": "|DRRN − GT|",
}
SHORT = {"input": "In", "bicubic": "Bic", "drrn": "DRRN", "gt": "GT", "err_bicubic": "ΔBic",
         "err_drrn": "ΔDRRN"}
LAYOUTS = {
    "upscale": [["input", "bicubic", "drrn"]],
    "evaluate": [["input", "bicubic", "drrn"], ["gt", "err_bicubic", "err_drrn"]],
}


@dataclass
class Source:
    """What the tab works on: an opened image (photo or ground truth), or an LR + HR pair."""

    image: np.ndarray
    name: str
    meta: object | None = None
    lr: np.ndarray | None = None
    note: str = ""
    path: Path | None = None  # the file ``image`` came from (None: pasted or dropped pixels)
    lr_path: Path | None = None


class CompareTab(QWidget):
    """Controls on the left, linked panes (or the split view) on the right."""

    message = Signal(str, int)  # text, timeout ms (0 = until replaced)
    hoverText = Signal(str)
    busyChanged = Signal(bool)
    resultReady = Signal()
    importRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controls = ControlPanel()
        self.source: Source | None = None
        self.results: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}
        self.scores: dict[str, pipeline.protocol.ImageScore] = {}
        self.generation = Generation()
        self.job: Job | None = None
        self._fit_pending = False
        self._last_size: tuple[int, int] | None = None
        self._started = 0.0
        self.estimate: pipeline.Estimate | None = None  # of the last run's DRRN (whole image)
        self.preview = False  # the DRRN pane shows a preview of a region, not the whole image
        self.provenance = ""  # model, backend, device and precision of the DRRN result
        self._preview_job = False
        self._previewed_view: tuple[int, int, int, int] | None = None
        self.preview_skipped = ""  # why the last refresh_preview did not run (diagnostics)

        panes: list[ImagePane] = [ImagePane(k, TITLES[k]) for k in ("input", "bicubic", "drrn",
                                                                     "gt")]
        self.error_panes = [ErrorPane(k, TITLES[k]) for k in ("err_bicubic", "err_drrn")]
        self.grid = PaneGrid(panes + self.error_panes)
        self.error_scale = ErrorScale(self.error_panes[-1], self.error_panes)
        self.split = SplitPane()
        self.sync = ViewSync()
        for pane in [*self.grid.panes.values(), self.split]:
            self.sync.add(pane)
        self.split.hovered.connect(self._on_hover)
        self.grid.hovered.connect(self._on_hover)
        self.grid.left.connect(lambda: self.hoverText.emit(""))
        self.split.left.connect(lambda: self.hoverText.emit(""))

        self.stack = QStackedWidget()
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.split)

        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.controls.ensurePolished()
        panel_width = (self.controls.minimumSizeHint().width()
                       + scroll.verticalScrollBar().sizeHint().width() + 2 * scroll.frameWidth())
        scroll.setMinimumWidth(max(panel_width, CONTROLS_MIN_WIDTH))
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(0)
        side_layout.addWidget(scroll, 1)
        side_layout.addWidget(self.controls.footer)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(side)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(0, False)
        splitter.setCollapsible(1, False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self.debounce.timeout.connect(self.run)
        self.preview_timer = QTimer(self, singleShot=True, interval=PREVIEW_DEBOUNCE_MS)
        self.preview_timer.timeout.connect(self.refresh_preview)
        for pane in self.grid.panes.values():
            pane.view.sigRangeChangedManually.connect(self._on_view_changed)
        self.controls.wholeRequested.connect(self.run_whole)
        for fmt in ("CSV", "Markdown", "LaTeX"):
            self.controls.copy_menu.addAction(fmt, lambda fmt=fmt: self.copy_scores(fmt))
        self.controls.save_scores_button.clicked.connect(self.save_scores_dialog)
        self.controls.changed.connect(self.schedule_run)
        self.controls.modeChanged.connect(self._on_mode)
        self.controls.cancelRequested.connect(self.cancel)
        self.controls.importRequested.connect(self.importRequested)
        self._on_mode(self.controls.mode)

    # -- inputs ----------------------------------------------------------------------------
    def set_source(self, image: np.ndarray, name: str, meta: object | None = None,
                   lr: np.ndarray | None = None, note: str = "", path: Path | None = None,
                   lr_path: Path | None = None) -> None:
        """Work on a new image (or an LR + HR pair: ``image`` is the HR, evaluation mode).

        ``note`` (e.g. "2 dropped files ignored") stays in the status line after each run.
        ``path`` / ``lr_path``: the files the images were read from; the evaluate view reads
        them again as ``drrn bench`` does (no EXIF rotation, its 8-bit reduction).
        """
        self.source = Source(image, name, meta, lr, note, path, lr_path)
        h, w = image.shape[:2]  # what upscale mode upscales and evaluate mode takes as GT
        self.controls.set_input_size(w, h)
        if lr is not None:
            self.controls.set_mode("evaluate")
            with contextlib.suppress(ValueError):  # not a pair: the run says why
                self.controls.scale.setValue(protocol.pair_scale(lr.shape, image.shape))
        self._fit_pending = True
        self._last_size = None
        self.run()

    @property
    def mode(self) -> str:
        return self.controls.mode

    def set_mode(self, mode: str) -> None:
        self.controls.set_mode(mode)

    # -- running ---------------------------------------------------------------------------
    def schedule_run(self) -> None:
        """Re-run shortly (coalesces a burst of control changes into one run)."""
        if self.source is not None:
            self.debounce.start()

    def visible_region(self) -> tuple[int, int, int, int] | None:
        """The output region (x0, y0, x1, y1) the DRRN pane shows, when it shows the current
        output size (None before the first fit of a new image or size)."""
        pane = self.grid.panes["drrn"]
        if self._last_size is None or pane.output_size != self._last_size:
            return None
        r = pane.view.viewRect()
        return (int(math.floor(r.left())), int(math.floor(r.top())),
                int(math.ceil(r.right())), int(math.ceil(r.bottom())))

    def request(self, whole: bool = False, preview_only: bool = False) -> pipeline.Request | None:
        if self.source is None:
            return None
        c = self.controls
        evaluate = c.mode == "evaluate"
        return pipeline.Request(
            whole=whole,
            preview_only=preview_only,
            view=self.visible_region(),
            image=self.source.image,
            mode=c.mode,
            scale=c.scale_value(),
            size=None if evaluate else c.target_size(),
            model=c.model_spec(),
            device=c.device_spec(),
            precision=c.precision.currentText() or "auto",
            lr=self.source.lr if evaluate else None,
            path=self.source.path,
            lr_path=self.source.lr_path if evaluate else None,
        )

    def run(self, whole: bool = False, preview_only: bool = False) -> int | None:
        """Start a run for the current inputs (cancelling any older one); return its number.

        DRRN runs on the whole image when that is quick or ``whole`` (the user asked); else on
        the visible region. ``preview_only`` refreshes just that preview (after pan/zoom).
        """
        self.debounce.stop()
        self.preview_timer.stop()
        req = self.request(whole=whole, preview_only=preview_only)
        if req is None:
            return None
        problem = pipeline.check_request(req)
        if problem is not None:
            self._refuse(problem, req)
            return None
        if self.job is not None:
            self.job.cancel()
        gen = self.generation.next()
        self._preview_job = preview_only
        self._previewed_view = req.view
        if not preview_only:
            self.results.clear()
            self.scores.clear()
            self.estimate = None
            self.preview = False
            self.provenance = ""
            self.controls.whole_button.hide()
            self.controls.readouts.clear_values()
            self._reset_panes(req)

        def work(ctx):
            return pipeline.run(req, ctx.progress, ctx.cancelled, ctx.emit)

        job = start_job(work, name="compare")
        job.yielded.connect(lambda item, gen=gen: self._on_item(gen, item))
        job.progressed.connect(lambda f, eta, msg, gen=gen: self._on_progress(gen, f, eta))
        job.failed.connect(lambda exc, gen=gen: self._on_failed(gen, exc))
        job.finished.connect(lambda gen=gen, job=job: self._on_finished(gen, job))
        self.job = job
        self._started = time.monotonic()
        self.controls.set_busy(True)
        self.busyChanged.emit(True)
        what = "Evaluating" if req.mode == "evaluate" else "Upscaling"
        target = (f"to {req.size[0]}×{req.size[1]}" if req.size is not None
                  else f"at ×{req.scale:g}")
        if preview_only:
            self.message.emit("DRRN preview of the visible region…", 0)
        else:
            self.message.emit(f"{what} {self.source.name} {target}…", 0)
        return gen

    def run_whole(self) -> int | None:
        """The user asked for DRRN on the whole image, however long it takes."""
        return self.run(whole=True)

    def refresh_preview(self) -> int | None:
        """DRRN of the newly visible region (after pan/zoom) while a preview is shown; a view
        change during a running preview is retried when it ends; an unchanged view is not
        recomputed."""
        if not self.preview or self.mode != "upscale":
            self.preview_skipped = f"preview={self.preview} mode={self.mode}"
            return None
        if self.job is not None:
            if self._preview_job:
                self.preview_timer.start()
            self.preview_skipped = f"busy (preview job: {self._preview_job})"
            return None
        if self._clipped(self.visible_region()) == self._clipped(self._previewed_view):
            self.preview_skipped = f"same view {self.visible_region()} / {self._previewed_view}"
            return None
        self.preview_skipped = ""
        return self.run(preview_only=True)

    def _clipped(self, view: tuple[int, int, int, int] | None) -> tuple | None:
        """A view as the region it shows of the current output (None: the whole output)."""
        if self._last_size is None:
            return None
        return pipeline.preview_box(view, self._last_size, float("inf"))

    def _on_view_changed(self, *_args) -> None:
        if self.preview and self.mode == "upscale":
            self.preview_timer.start()

    def _refuse(self, problem: str, req: pipeline.Request | None = None) -> None:
        """Inputs that cannot run: every result pane empty (none keeps an older image), scores
        "–", one plain line in the status bar; a photo to upscale still shows in the Input pane
        (at its own size), so a user sees what they opened."""
        if self.job is not None:
            self.job.cancel()
            self.job = None
        self.generation.next()
        self.results.clear()
        self.scores.clear()
        self.estimate, self.preview = None, False
        self.controls.whole_button.hide()
        self.controls.readouts.clear_values()
        for key, pane in self.grid.panes.items():  # no older image's size or scores
            pane.set_title(self._pane_title(key, req))
            if isinstance(pane, ErrorPane):
                pane.set_error(None, note="–")
            else:
                pane.set_image(None, note="Cannot run: see the status bar")
        if req is not None and req.mode == "upscale":
            self._show_unscaled_input(req.image)
        self._refresh_split()
        self.controls.set_busy(False, "Not run")
        self.busyChanged.emit(False)
        self.resultReady.emit()
        self.message.emit(problem, 0)

    def _show_unscaled_input(self, image: np.ndarray) -> None:
        """The opened photo in the Input pane at its own size (no output size to stretch to)."""
        h, w = image.shape[:2]
        pane = self.grid.panes["input"]
        pane.set_image(image)
        pane.set_title(f"Input {w}×{h}")
        if (w, h) != self._last_size:
            self._last_size = (w, h)
            QTimer.singleShot(0, self, self.fit)

    def cancel(self) -> None:
        """Stop the current run now: the GUI is idle at once, the worker ends at its next check."""
        if self.job is None:
            return
        self.job.cancel()
        self.job = None
        self.generation.next()
        for pane in self.grid.panes.values():
            if not pane.has_image():
                pane.set_image(None, note="Cancelled")
        self.controls.set_busy(False, "Cancelled")
        self.busyChanged.emit(False)
        self.message.emit("Cancelled.", 5000)

    def shutdown(self) -> None:
        """Stop everything (window closing): no pending run, no result will arrive."""
        self.debounce.stop()
        self.generation.next()
        if self.job is not None:
            self.job.cancel()
            self.job = None

    def is_busy(self) -> bool:
        return self.job is not None

    @staticmethod
    def _pane_title(key: str, req: pipeline.Request | None) -> str:
        """A pane's title before any result: its name (DRRN's with the model that runs)."""
        if key == "drrn" and req is not None and req.model != pipeline.BICUBIC:
            return f"DRRN ({req.model})"
        return TITLES[key]

    def _reset_panes(self, req: pipeline.Request) -> None:
        for key, pane in self.grid.panes.items():
            pane.set_title(self._pane_title(key, req))
            if key == "drrn" and req.model == pipeline.BICUBIC:
                note = "No model selected (bicubic only)"
            elif key == "err_drrn" and req.model == pipeline.BICUBIC:
                note = "No model selected"
            else:
                note = "Computing…"
            if isinstance(pane, ErrorPane):
                pane.set_error(None, note=note)
            elif key == "input" and pane.has_image():
                continue
            else:
                pane.set_image(None, note=note)
        if req.model == pipeline.BICUBIC:
            self.controls.readouts.set_pending("drrn", "–")
        self.controls.readouts.set_pending("bicubic")

    def _on_item(self, gen: int, item: object) -> None:
        if not self.generation.is_current(gen):
            return
        if isinstance(item, pipeline.Stage):
            self._show_stage(item)
        elif isinstance(item, pipeline.Scores):
            self._show_scores(item)
        elif isinstance(item, pipeline.Note):
            self.message.emit(item.text, 10000)
        elif isinstance(item, pipeline.Ran):
            self.provenance = item.text
        elif isinstance(item, pipeline.Estimate):
            self._show_estimate(item)
        elif isinstance(item, pipeline.Partial):
            self._show_partial(item)
        elif isinstance(item, pipeline.Patch):
            self.preview = True
            pane = self.grid.panes[item.key]
            pane.set_image(None, note="")
            pane.set_patch(item.image, item.box, item.size)
            pane.set_backdrop(self.grid.panes["input"].image, item.size)
            pane.set_note("")
            x0, y0, x1, y1 = item.box
            pane.set_title(f"{TITLES[item.key]}: visible region ({x1 - x0}×{y1 - y0}) only")
        elif isinstance(item, pipeline.ErrorMap):
            pane = self.grid.panes[f"err_{item.key}"]
            pane.set_error(item.error)
            self.error_scale.autoscale([p.error for p in self.error_panes if p.error is not None])

    def _show_partial(self, item: pipeline.Partial) -> None:
        """Tiles of a whole-image run so far (a ready uint8 snapshot: the GUI only redraws)."""
        pane = self.grid.panes[item.key]
        pane.set_image(item.image, item.size)
        pane.set_title(pane.title, f"{100 * item.done:.0f} % of the tiles done")

    def _show_stage(self, stage: pipeline.Stage) -> None:
        self.results[stage.key] = (stage.image, stage.size)
        pane = self.grid.panes[stage.key]
        if stage.key == "drrn" and pane.title_text() != pane.title:
            pane.set_title(pane.title)  # the final image: no "% of the tiles done" any more
        pane.set_image(stage.image, stage.size)
        if stage.key == "input":
            h, w = stage.image.shape[:2]
            pane.set_title(f"Input {w}×{h} (nearest) → {stage.size[0]}×{stage.size[1]}")
            self.controls.show_output_size(*stage.size)
            if self._fit_pending or stage.size != self._last_size:
                self._fit_pending = False
                self._last_size = stage.size
                QTimer.singleShot(0, self, self.fit)
        self._refresh_split()
        if stage.key in ("drrn", "bicubic"):
            self.resultReady.emit()

    def _show_estimate(self, item: pipeline.Estimate) -> None:
        self.estimate = item
        about = estimate.format_duration(item.seconds)
        if item.whole:
            self.controls.whole_button.hide()
            return
        evaluate = self.mode == "evaluate"
        label = "Run DRRN on the whole image" if evaluate else "Upscale whole image"
        self.controls.whole_button.setText(f"{label} ({about})")
        self.controls.whole_button.show()
        if evaluate:
            self.grid.panes["drrn"].set_image(
                None, note=f"DRRN on this image takes {about}:\n“{label}” to run it")
            self.grid.panes["err_drrn"].set_error(None, note="Not computed")
            self.controls.readouts.set_pending("drrn", "–")

    def _show_scores(self, item: pipeline.Scores) -> None:
        self.scores[item.key] = item.score
        s = item.score
        busy = self.job is not None
        self.controls.readouts.set_score(item.key, s.psnr, s.ssim, s.ifc, ifc_pending=busy)
        pane = self.grid.panes[item.key]
        psnr = format_score("psnr", s.psnr, inf="∞")
        ifc = f" / IFC {format_score('ifc', s.ifc)}" if s.ifc is not None else ""
        pane.set_title(pane.title, f"{psnr} dB / {format_score('ssim', s.ssim)}{ifc}")

    def _on_progress(self, gen: int, fraction: float, eta: float) -> None:
        """Progress; early on the ETA comes from the calibrated estimate, not from the first
        (fast, bicubic) stretch of the run, which made a 50-minute job say 1:20."""
        if not self.generation.is_current(gen):
            return
        if self.estimate is not None and self.estimate.whole and fraction < 0.3:
            elapsed = time.monotonic() - self._started
            eta = max(self.estimate.seconds * (1.0 - fraction), 0.0)
            eta = max(eta, self.estimate.seconds - elapsed)
        self.controls.set_progress(fraction, format_eta(eta))

    def _on_failed(self, gen: int, exc: BaseException) -> None:
        if not self.generation.is_current(gen):
            return
        text = user_message(exc)
        for pane in self.grid.panes.values():
            if not pane.has_image() and pane.patch is None:
                pane.set_image(None, note="Failed")
        self.message.emit(f"Failed: {text}", 0)

    def _on_finished(self, gen: int, job: Job) -> None:
        if self.job is job:
            self.job = None
        if not self.generation.is_current(gen):
            return
        ok = job.error is None
        self.controls.set_busy(False, ("Visible region done" if self.preview else "Done") if ok
                               else "Failed", complete=ok)
        for key, s in self.scores.items():
            self.controls.readouts.set_score(key, s.psnr, s.ssim, s.ifc, ifc_pending=False)
        self.busyChanged.emit(False)
        if ok:
            self.message.emit(self._summary(), 0)

    def _summary(self) -> str:
        if self.source is None:
            return ""
        took = f"{time.monotonic() - self._started:.1f} s"
        if self.preview and self.estimate is not None:
            about = estimate.format_duration(self.estimate.seconds)
            return (f"{self.source.name}: DRRN preview of the visible region in {took}; the "
                    f"whole image takes {about} on {self.estimate.device}: “Upscale whole "
                    "image” runs it. Pan or zoom to preview elsewhere.")
        parts = [f"{self.source.name}: done in {took}"]
        if self.provenance and "drrn" in self.results:
            parts.append(self.provenance)
        for key in ("bicubic", "drrn"):
            if key in self.scores:
                s = self.scores[key]
                parts.append(f"{TITLES[key]} {format_score('psnr', s.psnr, inf='∞')} dB / "
                             f"{format_score('ssim', s.ssim)}")
        if self.source.note:
            parts.append(self.source.note)
        return " · ".join(parts)

    # -- scores out ------------------------------------------------------------------------
    def score_provenance(self):
        """What the evaluation's scores come from (app.services.exports.Provenance)."""
        from app.services.exports import Provenance, file_sha256

        model = self.controls.model_name()
        path = None
        if model != pipeline.BICUBIC:
            try:
                path, _ = upscalers.weights_file(model)
            except Exception:  # noqa: BLE001 - a model removed meanwhile: no hash
                path = None
        return Provenance(
            image=self.source.name if self.source else "", scale=int(self.controls.scale_value()),
            model=self.controls.model_spec() if model != pipeline.BICUBIC else "",
            model_file=path.name if path else "",
            model_sha256=file_sha256(path), run=self.provenance)

    def scores_text(self, fmt: str) -> str:
        """The evaluation's scores as "CSV", "Markdown" or "LaTeX", provenance included."""
        from app.services.exports import FORMATS

        if not self.scores:
            raise ValueError("There are no scores yet: evaluate an image first.")
        return FORMATS[fmt][0](dict(self.scores), self.score_provenance())

    def copy_scores(self, fmt: str) -> None:
        from PySide6.QtGui import QGuiApplication

        try:
            QGuiApplication.clipboard().setText(self.scores_text(fmt))
        except ValueError as exc:
            self.message.emit(str(exc), 5000)
            return
        self.message.emit(f"Scores copied as {fmt}, with their provenance.", 5000)

    def save_scores_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        from app.services.exports import FORMATS
        from drrn_core.atomic import write_text_atomic

        filters = {f"{k} (*{v[1]})": k for k, v in FORMATS.items()}
        stem = self.source.name.rsplit(".", 1)[0] if self.source else "scores"
        path, chosen = QFileDialog.getSaveFileName(
            self, "Save scores", f"{stem}_x{self.controls.scale_value():g}_scores.csv",
            ";;".join(filters))
        if not path:
            return
        fmt = filters.get(chosen, "CSV")
        try:
            write_text_atomic(Path(path), self.scores_text(fmt))
        except (OSError, ValueError) as exc:
            self.message.emit(f"Could not save the scores: {user_message(exc)}", 0)
            return
        self.message.emit(f"Saved the scores to {path}.", 8000)

    # -- results ---------------------------------------------------------------------------
    def result(self) -> tuple[str, np.ndarray] | None:
        """The best available result: (key, float/uint8 image), DRRN before bicubic."""
        for key in ("drrn", "bicubic"):
            if key in self.results:
                return key, self.results[key][0]
        return None

    # -- views -----------------------------------------------------------------------------
    def _on_mode(self, mode: str) -> None:
        self.grid.arrange(LAYOUTS[mode])
        self.grid.place_beside(self.error_scale.widget, "err_drrn")
        self._fit_pending = True
        self._refresh_split()

    def _refresh_split(self) -> None:
        keys = [k for k in ("input", "bicubic", "drrn", "gt") if k in self.results]
        self.split.set_sources({k: (TITLES[k], *self.results[k]) for k in keys})

    def split_active(self) -> bool:
        return self.stack.currentWidget() is self.split

    def toggle_split(self) -> bool:
        """Switch between the pane grid and the split (before/after) view; True if split now."""
        self.stack.setCurrentWidget(self.grid if self.split_active() else self.split)
        QTimer.singleShot(0, self, self.fit)
        return self.split_active()

    def fit(self) -> None:
        self.sync.fit()
        self._on_view_changed()

    def actual_size(self) -> None:
        self.sync.actual_size()
        self._on_view_changed()

    def zoom_in(self) -> None:
        self.sync.zoom(1.25)
        self._on_view_changed()

    def zoom_out(self) -> None:
        self.sync.zoom(1 / 1.25)
        self._on_view_changed()

    def _on_hover(self, x: float, y: float) -> None:
        panes = [self.split] if self.split_active() else self.grid.visible_panes()
        values = []
        for pane in panes:
            v = pane.value_at(x, y)
            if v is not None:
                values.append(v if pane is self.split else f"{SHORT[pane.key]} {v}")
        if not values:
            self.hoverText.emit("")
            return
        self.hoverText.emit(f"x {int(math.floor(x))}, y {int(math.floor(y))}   " +
                            "   ".join(values))

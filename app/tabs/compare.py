"""The Compare tab: upscale a photo, or evaluate against ground truth, in synchronised panes.

Every change of input, mode, scale, model, device or precision starts a new run (debounced);
runs are numbered and a result of a superseded run is dropped, so stale output never
overwrites newer output. Computation happens in app.services.pipeline on a worker thread.

Preview where the user looks: DRRN is computed tile by tile outward from the view's centre (or
a clicked spot), each tile drawn in the DRRN pane as it arrives. When the whole image is
estimated to take longer than pipeline.AUTO_LIMIT_S, only the visible region's tiles are
computed (panning or zooming moves the remaining work) and "Upscale whole image (about N min)"
runs the rest. Tiles are kept per image and choices (pipeline.CANVASES): Cancel keeps them on
screen, and "Resume" continues from them, also after the image was opened again.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

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
from app.services.pipeline import (
    Box,
    ErrorMap,
    Note,
    Patch,
    Ran,
    Scores,
    Size,
    Stage,
    Tile,
    WholeImageTime,
)
from app.tabs._widgets import user_message
from app.views.control_panel import ControlPanel, percent
from app.views.error_map import ErrorPane, ErrorScale
from app.views.image_pane import ImagePane
from app.views.pane_grid import PaneGrid, TileLayer, ViewSync
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
        self.whole_time: WholeImageTime | None = None  # what is left of DRRN on the whole image
        self.preview = False  # the DRRN pane shows a part of the image (tiles), not all of it
        self.provenance = ""  # model, backend, device and precision of the DRRN result
        self._preview_job = False
        self._whole_job = False  # the running job computes every tile
        self._previewed_view: Box | None = None
        self.preview_skipped = ""  # why the last refresh_preview did not run (diagnostics)
        self.focus = pipeline.Focus()  # where the user looks; running jobs read it per tile
        self.drrn_done = 0.0  # share of the whole image's DRRN tiles finished
        self.scored_y: dict[str, np.ndarray | None] = {}  # evaluation: each pane's scored luma
        self._eta: tuple[float, float] | None = None  # (seconds left, when said) of the run

        panes: list[ImagePane] = [ImagePane(k, TITLES[k]) for k in ("input", "bicubic", "drrn",
                                                                     "gt")]
        self.error_panes = [ErrorPane(k, TITLES[k]) for k in ("err_bicubic", "err_drrn")]
        self.grid = PaneGrid([*panes, *self.error_panes])
        self.tiles = TileLayer(self.grid.panes["drrn"])
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
            pane.clicked.connect(lambda x, y: self.look_at(x + 0.5, y + 0.5))
        self.controls.wholeRequested.connect(self.run_whole)
        for fmt in ("CSV", "Markdown", "LaTeX"):
            self.controls.copy_menu.addAction(fmt, lambda fmt=fmt: self.copy_scores(fmt))
        self.controls.save_scores_button.clicked.connect(self.save_scores_dialog)
        self.controls.changed.connect(self.schedule_run)
        self.controls.modeChanged.connect(self._on_mode)
        self.controls.cancelRequested.connect(self.cancel)
        self.controls.importRequested.connect(self.importRequested)
        self._on_mode(self.controls.mode)
        self._init_regions()

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
        self.focus.look(None)
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

    def visible_region(self) -> Box | None:
        """The output region the panes show (they are linked), when they show the current
        output size (None before the first fit of a new image or size)."""
        pane = self.grid.panes["input"]
        if self._last_size is None or pane.output_size != self._last_size:
            return None
        r = self.grid.panes["drrn"].view.viewRect()
        return Box(int(math.floor(r.left())), int(math.floor(r.top())),
                   int(math.ceil(r.right())), int(math.ceil(r.bottom())))

    def request(self, whole: bool = False, preview_only: bool = False) -> pipeline.Request | None:
        if self.source is None:
            return None
        c = self.controls
        evaluate = c.mode == "evaluate"
        target = None if evaluate else c.target_size()
        return pipeline.Request(
            whole=whole,
            preview_only=preview_only,
            view=self.visible_region(),
            focus=self.focus,
            replay=not preview_only,
            bit_depth=getattr(self.source.meta, "bit_depth", 8) or 8,
            image=self.source.image,
            mode=c.mode,
            scale=c.scale_value(),
            size=None if target is None else Size(*target),
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
        assert self.source is not None  # a request comes from an opened image
        problem = pipeline.check_request(req)
        if problem is not None:
            self._refuse(problem, req)
            return None
        if self.job is not None:
            self.job.cancel()
        gen = self.generation.next()
        self._preview_job = preview_only
        self._whole_job = whole
        self._previewed_view = req.view
        self._eta = None
        if not preview_only:
            self.results.clear()
            self.scored_y.clear()
            self.scores.clear()
            self.whole_time = None
            self.preview = False
            self.drrn_done = 0.0
            self.provenance = ""
            self.tiles.clear()
            self.controls.whole_button.hide()
            self.controls.readouts.clear_values()
            self._reset_panes(req)

        def work(ctx):
            return pipeline.run(req, ctx.progress, ctx.cancelled)

        job = start_job(work, name="compare")
        job.yielded.connect(lambda item, gen=gen: self._on_item(gen, item))
        job.progressed.connect(lambda f, eta, msg, gen=gen: self._on_progress(gen, f, eta))
        job.failed.connect(lambda exc, gen=gen: self._on_failed(gen, exc))
        job.finished.connect(lambda gen=gen, job=job: self._on_finished(gen, job))
        self.job = job
        self._started = time.monotonic()
        self.controls.set_busy(True)
        if req.mode == "evaluate":  # the protocol's input, bicubic and scores: no fraction yet
            self.controls.set_working("Preparing the input and bicubic…")
        self.busyChanged.emit(True)
        self._update_whole_button()
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
        """DRRN of the newly visible region (after pan/zoom) while a preview is shown: its
        missing tiles (finished ones are kept) and its bicubic; a view change during a running
        preview moves that run's remaining work at once and is looked at again when it ends; an
        unchanged view is not recomputed."""
        if not self.preview or self.mode != "upscale":
            self.preview_skipped = f"preview={self.preview} mode={self.mode}"
            return None
        if self.job is not None:
            if self._preview_job:
                self.preview_timer.start()
            self.preview_skipped = f"busy (preview job: {self._preview_job})"
            return None
        view = self.visible_region()
        if self._clipped(view) == self._clipped(self._previewed_view):
            self.preview_skipped = f"same view {view} / {self._previewed_view}"
            return None
        self._follow_view()
        self.preview_skipped = ""
        return self.run(preview_only=True)

    def _follow_view(self) -> None:
        """The work's focus takes the view shown: a view can move without a pan/zoom signal
        (a resize), and a run would otherwise work for the last view signalled."""
        view = self.visible_region()
        if self.focus.get()[0] != view:
            self.focus.look(view)

    def _clipped(self, view: Box | None) -> Box | None:
        """A view as the region it shows of the current output (None: the whole output)."""
        if self._last_size is None:
            return None
        size = Size(*self._last_size)
        return (view.clipped(size) if view is not None else None) or Box.whole(size)

    def _on_view_changed(self, *_args) -> None:
        self.focus.look(self.visible_region())
        if self.preview and self.mode == "upscale":
            self.preview_timer.start()

    def look_at(self, x: float, y: float) -> None:
        """Move DRRN's work to output point (x, y) (a click in any pane, upscale mode): a
        running job takes its next tile there; an idle preview with tiles missing starts."""
        size = self._last_size
        if self.mode != "upscale" or size is None or not Box.whole(Size(*size)).contains(x, y):
            return
        self._follow_view()
        self.focus.point_at(x, y)
        if self.job is None and self.preview and self.mode == "upscale":
            self.run(preview_only=True)

    def _refuse(self, problem: str, req: pipeline.Request | None = None) -> None:
        """Inputs that cannot run: every result pane empty (none keeps an older image), scores
        "–", one plain line in the status bar; a photo to upscale still shows in the Input pane
        (at its own size), so a user sees what they opened."""
        if self.job is not None:
            self.job.cancel()
            self.job = None
        self.generation.next()
        self.results.clear()
        self.scored_y.clear()
        self.scores.clear()
        self.whole_time, self.preview, self.drrn_done = None, False, 0.0
        self.tiles.clear()
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
        """Stop the current run now: the GUI is idle at once, the worker ends at its next check.
        Finished DRRN tiles stay on screen (and in the canvas): Resume continues from them."""
        if self.job is None:
            return
        self.job.cancel()
        self.job = None
        self._whole_job = False
        self.generation.next()
        for pane in self.grid.panes.values():
            if not pane.has_image() and pane.patch is None and \
                    not (pane.key == "drrn" and self.tiles.items):
                pane.set_image(None, note="Cancelled")
        kept = ""
        if self.tiles.items and "drrn" not in self.results:
            kept = f": {percent(self.drrn_done)} % of the DRRN tiles kept"
        self.controls.set_busy(False, "Cancelled" + kept)
        self.busyChanged.emit(False)
        self._update_whole_button()
        self.message.emit("Cancelled" + (kept + "; “Resume” continues from them." if kept
                                          else "."), 0 if kept else 5000)

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

    def _on_item(self, gen: int, item: pipeline.Event) -> None:
        if not self.generation.is_current(gen):
            return
        match item:
            case Stage():
                self._show_stage(item)
            case Tile():
                self._show_tile(item)
            case Patch():
                self._show_patch(item)
            case WholeImageTime():
                self._show_whole_time(item)
            case Scores():
                self._show_scores(item)
            case Note(text=text):
                self.message.emit(text, 10000)
            case Ran(text=text):
                self.provenance = text
            case ErrorMap():
                pane = cast(ErrorPane, self.grid.panes[f"err_{item.key}"])  # an error map's
                pane.set_error(item.error)
                self.error_scale.autoscale(
                    [p.error for p in self.error_panes if p.error is not None])

    def _show_patch(self, item: Patch) -> None:
        """A part of a result (the visible region of a preview) over the dimmed input."""
        self.preview = True
        pane = self.grid.panes[item.key]
        pane.set_image(None, note="")
        pane.set_patch(item.image, item.box, item.size)
        pane.set_backdrop(self.grid.panes["input"].image, item.size)
        pane.set_note("")
        if item.key != "drrn":
            pane.set_title(f"{TITLES[item.key]}: visible region ({item.box.w}×{item.box.h}) only")
        else:  # the finished part in view: say how much of the image DRRN covers, not a stale %
            pane.set_title(pane.title, f"{percent(self.drrn_done)} % of the image done")

    def _show_tile(self, item: Tile) -> None:
        """A finished DRRN tile, drawn at once over the dimmed input (only its pixels are new
        to the screen); the bar and the pane's title show the same percentage."""
        pane = self.grid.panes["drrn"]
        if not self.tiles.items and pane.patch is None:
            pane.set_image(None)
            pane.set_backdrop(self.grid.panes["input"].image, item.size)
            pane.set_note("")
        self.tiles.add(item.box, item.image)
        self.preview = True
        self.drrn_done = item.whole_done
        if self.whole_time is not None:
            self.whole_time = WholeImageTime(item.whole_seconds, self.whole_time.runs_now,
                                             self.whole_time.device, item.whole_done)
        if item.replay:
            pane.set_title(pane.title, f"{percent(item.whole_done)} % of the image done")
            return
        pane.set_title(pane.title, f"{item.scope}: {percent(item.done)} % done")
        self._eta = (item.seconds_left, time.monotonic())
        self.controls.set_progress(item.done, format_eta(item.seconds_left))
        self._update_whole_button()

    def _show_stage(self, stage: pipeline.Stage) -> None:
        self.results[stage.key] = (stage.image, stage.size)
        self.scored_y[stage.key] = stage.y
        pane = self.grid.panes[stage.key]
        if stage.key in ("drrn", "bicubic") and pane.title_text() != pane.title:
            pane.set_title(pane.title)  # the whole image: no "% done" or "visible region only"
        if stage.key == "drrn":
            self.tiles.clear()
            self.preview, self.drrn_done = False, 1.0
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

    def _show_whole_time(self, item: WholeImageTime) -> None:
        self.whole_time = item
        self.drrn_done = item.done
        if self.mode == "evaluate":
            self.controls.set_progress(0.05, "")
            if item.runs_now:
                self.controls.whole_button.hide()
                return
            about = estimate.format_duration(item.seconds)
            label = "Run DRRN on the whole image"
            self.controls.whole_button.setText(f"{label} ({about})")
            self.controls.whole_button.setEnabled(True)
            self.controls.whole_button.show()
            self.grid.panes["drrn"].set_image(
                None, note=f"DRRN on this image takes {about}:\n“{label}” to run it")
            cast(ErrorPane, self.grid.panes["err_drrn"]).set_error(None, note="Not computed")
            self.controls.readouts.set_pending("drrn", "–")
            return
        self._whole_job = self._whole_job or item.runs_now
        if not self._preview_job:
            self.controls.set_progress(item.done, "")
        self._update_whole_button()

    def _update_whole_button(self) -> None:
        """"Upscale whole image (about N)" until DRRN covers the whole image, "Resume whole image
        (N %, ~M left)" once part of it is done; during a whole-image run it stays,
        disabled, so it never jumps away. Evaluate mode shows it only when DRRN did not run."""
        button = self.controls.whole_button
        if self.mode == "evaluate":
            return
        item = self.whole_time
        if item is None or "drrn" in self.results or self.source is None:
            button.hide()
            return
        about = estimate.format_duration(item.seconds)
        short = about.removeprefix("about ")  # the button is as narrow as the panel
        if self.job is not None and self._whole_job:
            button.setText(f"Upscaling whole image (~{short} left)")
            button.setEnabled(False)
        elif self.drrn_done > 0:
            button.setText(f"Resume whole image ({percent(self.drrn_done)} %, ~{short} left)")
            button.setEnabled(True)
        else:
            button.setText(f"Upscale whole image ({about})")
            button.setEnabled(True)
        button.setToolTip(f"DRRN on the whole image: {percent(self.drrn_done)} % done, {about} "
                          "left on this computer")
        button.show()

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
        """Progress of runs without tiles (bicubic, evaluate); DRRN tiles set the bar themselves
        (:meth:`_show_tile`), so the bar and the DRRN pane's percentage are one number.
        Evaluate's preparation has no fraction (the bar moves without one); its DRRN's ETA
        starts from the calibrated estimate, not from the first (fast) stretch of the run."""
        if not self.generation.is_current(gen):
            return
        if self.mode == "upscale" and self.whole_time is not None:
            return  # a DRRN run: its tiles say how far it is
        if self.mode == "evaluate":
            if fraction <= 0.05:
                return
            item = self.whole_time
            if item is not None and item.runs_now and fraction < 0.3:
                elapsed = time.monotonic() - self._started
                eta = max(item.seconds * (1.0 - fraction), item.seconds - elapsed, 0.0)
        self.controls.set_progress(fraction, format_eta(eta))

    def _on_failed(self, gen: int, exc: BaseException) -> None:
        if not self.generation.is_current(gen):
            return
        text = user_message(exc)
        for pane in self.grid.panes.values():
            if not pane.has_image() and pane.patch is None and \
                    not (pane.key == "drrn" and self.tiles.items):
                pane.set_image(None, note="Failed")
        self.message.emit(f"Failed: {text}", 0)

    def _on_finished(self, gen: int, job: Job) -> None:
        if self.job is job:
            self.job = None
        if not self.generation.is_current(gen):
            return
        ok = job.error is None
        self._whole_job = False
        self.controls.set_busy(False, ("Visible region done" if self.preview else "Done") if ok
                               else "Failed", complete=ok)
        self._update_whole_button()
        for key, s in self.scores.items():
            self.controls.readouts.set_score(key, s.psnr, s.ssim, s.ifc, ifc_pending=False)
        self.busyChanged.emit(False)
        if ok:
            self.message.emit(self._summary(), 0)

    def _summary(self) -> str:
        if self.source is None:
            return ""
        took = f"{time.monotonic() - self._started:.1f} s"
        if self.preview and self.whole_time is not None:
            about = estimate.format_duration(self.whole_time.seconds)
            return (f"{self.source.name}: DRRN of the visible region in {took}; the rest of "
                    f"the whole image takes {about} on {self.whole_time.device}: “Upscale "
                    "whole image” runs it. Pan, zoom or click to preview elsewhere.")
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
        prov = self.score_provenance()
        return self._with_region(FORMATS[fmt][0](dict(self.scores), prov), fmt, prov)

    # -- region scores (a Shift+drag in evaluate mode) and the loupe ------------------------
    def _init_regions(self) -> None:
        """A rectangle marked in one pane shows in all (``region_link``); in evaluate mode its
        PSNR/SSIM against the ground truth (app.services.regions: the protocol's Y, quantisation
        and border) show in the Ground truth pane's title and the status bar, and join the
        copied scores. ``loupe`` (its action: L) follows the cursor in every pane."""
        from app.services import regions
        from app.views.image_pane import RegionLink
        from app.views.loupe import LoupeTool

        panes = [*self.grid.panes.values(), self.split]
        self.region_link = RegionLink(panes)
        self.region_scores: regions.RegionScores | None = None  # of the current results
        self._region_job: Job | None = None
        self._region_token = 0  # the scoring whose result is wanted
        self._region_source: Source | None = None  # the image the rectangle was drawn on
        self.loupe = LoupeTool(self)
        self.addAction(self.loupe.action)
        for pane in panes:
            self.loupe.attach(pane)
            pane.regionDragged.connect(self._on_region_dragged)
            pane.regionCleared.connect(self.score_region)
        self.resultReady.connect(self.score_region)
        self.controls.modeChanged.connect(lambda _mode: self.score_region())

    def _on_region_dragged(self, *_box: int) -> None:
        self._region_source = self.source
        self.score_region()

    def score_region(self) -> None:
        """Score the marked region of the current results on a worker (evaluate mode); without
        a region, a ground truth or a result, the region's scores are gone."""
        from app.services import regions

        if self._region_job is not None:
            self._region_job.cancel()
            self._region_job = None
        self._region_token += 1
        token = self._region_token
        self.region_scores = None
        if self.region_link.region is not None and self._region_source is not self.source:
            self.region_link.set_region(None)  # drawn on another image
        box = self.region_link.region
        gt = self.results.get("gt")
        shown: dict[str, np.ndarray] = {k: self.results[k][0] for k in ("bicubic", "drrn")
                                        if k in self.results}
        ys = {k: y for k in ("gt", *shown) if (y := self.scored_y.get(k)) is not None}
        if gt is not None and len(ys) == 1 + len(shown):
            # the protocol's own luma (a shown colour image is clipped to RGB): exact scores
            gt = (ys.pop("gt"), gt[1])
            shown = ys
        gt_pane = self.grid.panes["gt"]
        if box is None or self.mode != "evaluate" or gt is None or not shown:
            if gt_pane.title_text() != gt_pane.title:
                gt_pane.set_title(gt_pane.title)
            return
        truth, scale = gt[0], int(self.controls.scale_value())
        job = start_job(lambda _ctx: regions.score_region(truth, shown, box, scale),
                        name="region scores")
        job.succeeded.connect(lambda result, token=token: self._show_region(token, result))
        job.failed.connect(lambda exc, token=token: self._show_region(token, None, exc))
        self._region_job = job

    def _show_region(self, token: int, result: object,
                     exc: BaseException | None = None) -> None:
        from app.services import regions

        if token != self._region_token:
            return
        self._region_job = None
        gt_pane = self.grid.panes["gt"]
        if not isinstance(result, regions.RegionScores):
            gt_pane.set_title(gt_pane.title)
            self.message.emit(user_message(exc) if exc is not None else "", 0)
            return
        self.region_scores = result
        gt_pane.set_title(gt_pane.title, result.summary())
        self.message.emit(result.summary(), 0)

    def _with_region(self, text: str, fmt: str, prov) -> str:
        """Copied scores plus the marked region's (when scored for the current results)."""
        from app.services import regions

        rs = self.region_scores
        if rs is None or rs.box != self.region_link.region:
            return text
        return regions.add_region(text, fmt, rs, image=prov.image, scale=prov.scale,
                                  drrn=(prov.model, prov.model_sha256, prov.run))

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

    def drrn_partial(self) -> bool:
        """A DRRN model is chosen but its result covers only part of the image (or none)."""
        return (self.mode == "upscale" and self.source is not None
                and self.controls.model_spec() != pipeline.BICUBIC
                and "drrn" not in self.results)

    def confirm_save(self) -> bool:
        """Before saving: when DRRN is partial, say so and ask. True: save the bicubic result
        (its name says bicubic); False: nothing is saved ("Resume DRRN" continues the whole-image
        run, "Cancel" does nothing). A finished DRRN result needs no question."""
        from PySide6.QtWidgets import QMessageBox

        if not self.drrn_partial() or self.result() is None:
            return True
        share = percent(self.drrn_done)
        box = QMessageBox(QMessageBox.Icon.Question, "DRRN is not finished",
                          f"DRRN covers {share} % of the image; the rest is not computed yet. "
                          "Save the bicubic result (named …_bicubic_…), or let DRRN finish the "
                          "whole image first?", parent=self)
        bicubic = box.addButton("Save bicubic", QMessageBox.ButtonRole.AcceptRole)
        resume = box.addButton("Finish DRRN first" if self.is_busy() else "Resume DRRN",
                               QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(resume)
        box.exec()
        if box.clickedButton() is resume and not (self.is_busy() and self._whole_job):
            self.run_whole()
        return box.clickedButton() is bicubic

    # -- views -----------------------------------------------------------------------------
    def _on_mode(self, mode: str) -> None:
        self.grid.arrange(LAYOUTS[mode])
        self.grid.place_beside(self.error_scale.widget, "err_drrn")
        self._fit_pending = True
        self._refresh_split()

    def _refresh_split(self) -> None:
        # each pane's display image: the split shows the very samples, converted once
        shown: dict[str, tuple[str, np.ndarray, tuple[int, int]]] = {
            k: (TITLES[k], image, self.results[k][1])
            for k in ("input", "bicubic", "drrn", "gt")
            if k in self.results and (image := self.grid.panes[k].image) is not None}
        self.split.set_sources(shown)

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

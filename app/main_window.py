"""The main window: menus and shortcuts (built in one place), tabs, getting images in and out.

Images come in by the Open dialog, drag and drop (files or folders), the clipboard, the recent
files menu or the command line; they are read by drrn_core.imaging.io and shown in the Compare
tab. Results are written by drrn_core.imaging.io.save_image (metadata kept, atomic).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QPoint, QRect, QSettings, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QImage,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from app.document import (
    LOSSY,
    SAVE_FILTERS,
    Document,
    Opened,
    image_suffixes,
    is_image_path,
    qimage_from_array,
)
from app.services.devices import AUTO, device_choices, precision_choices
from app.services.pipeline import BICUBIC
from app.settings import AppSettings
from app.tabs._models import ModelRegistry
from app.tabs.compare import CompareTab
from app.views.status_bar import StatusBar
from app.workers import describe_error, shutdown_jobs
from drrn_core.packaging.data import resources_dir
from drrn_core.weights import split_ensemble

if TYPE_CHECKING:
    from PySide6.QtWidgets import QAbstractButton

    from app.tabs.batch import BatchTab
    from app.tabs.benchmark import BenchmarkTab

log = logging.getLogger("drrn-studio.window")

ICON = resources_dir() / "icons" / "drrn-studio.svg"

FIRST_SIZE = QSize(1280, 820)
"""The window's size on first start (no saved geometry), where the screen has room for it."""
FRAME_ALLOWANCE = QSize(16, 40)
"""Room kept for the window manager's title bar and borders before the window is shown, when its
frame is not known yet (Windows: 8 px borders, a 31 px title; GNOME: a 37 px title at 100 %)."""
FRAME_POLL_MS, FRAME_WAIT_MS = 50, 2000
"""After showing, the frame is checked every FRAME_POLL_MS until the window manager has framed
the window (then the window is fitted once more); after FRAME_WAIT_MS (no frame: a window
manager that draws none) it is fitted as it is."""


def fit_rect(frame: QRect, avail: QRect) -> QRect:
    """``frame`` (a window's outer rectangle) made to lie inside ``avail``: shrunk where it is
    larger, then moved in (never grown)."""
    size = frame.size().boundedTo(avail.size())
    x = min(max(frame.x(), avail.x()), avail.x() + avail.width() - size.width())
    y = min(max(frame.y(), avail.y()), avail.y() + avail.height() - size.height())
    return QRect(QPoint(x, y), size)


class MainWindow(QMainWindow):
    """DRRN Studio's window. ``settings`` may be injected (tests use an INI file)."""

    def __init__(self, settings: AppSettings | None = None, log_problem: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings or AppSettings()
        self.document = Document(self)
        self.document.failed.connect(self.show_error)
        self.document.message.connect(self.show_message)
        self.setWindowTitle("DRRN Studio")
        if ICON.exists():
            self.setWindowIcon(QIcon(str(ICON)))
        self.setAcceptDrops(True)

        self.compare = CompareTab()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.compare, "Compare")
        self.extra_tabs: dict[str, QWidget] = {}
        self._add_extra_tabs()
        self.setCentralWidget(self.tabs)
        self._lasting_message = ""  # the status bar's message while Compare is shown
        self.tabs.currentChanged.connect(self._on_tab_changed)

        self.setStatusBar(StatusBar())
        self.hover_label = QLabel()
        self.hover_label.setMinimumWidth(300)
        self.statusBar().addPermanentWidget(self.hover_label)
        self.compare.message.connect(self.show_message)
        self.compare.hoverText.connect(self.hover_label.setText)
        self.compare.importRequested.connect(self.import_weights)
        self.compare.resultReady.connect(self._update_actions)
        self.compare.busyChanged.connect(lambda _b: self._update_actions())

        self.models = ModelRegistry(self)
        self._select_model: str | None = None
        self.models.modelsChanged.connect(self._on_models_changed)

        # Shadows QWidget.actions() on purpose: the window's actions by name (help, tests).
        self.actions: dict[str, QAction] = {}  # type: ignore[assignment]
        self._build_actions()
        self._build_menus()
        self.refresh_models()
        for tab in self.extra_tabs.values():  # they listed the models when they were built
            if hasattr(tab, "refresh_models"):
                self.models.modelsChanged.connect(tab.refresh_models)
        self._restore_settings()
        self._update_actions()
        self.show_message(log_problem or self.settings.notice or "Open an image (Ctrl+O), drop "
                          "one here or paste it (Ctrl+V).", 0)

    # -- construction ----------------------------------------------------------------------
    def _add_extra_tabs(self) -> None:
        from app.tabs.batch import BatchTab
        from app.tabs.benchmark import BenchmarkTab
        from app.tabs.training import TrainingTab

        # every tab remembers its fields in the window's settings (a temporary file: self-test)
        bench = BenchmarkTab(settings=self.settings)
        batch = BatchTab(settings=self.settings)
        training = TrainingTab(settings=self.settings)
        for key, label, tab in (("benchmark", "Benchmark", bench), ("batch", "Batch", batch),
                                ("training", "Training", training)):
            self.extra_tabs[key] = tab
            self.tabs.addTab(tab, label)
        bench.openInEvaluation.connect(self.open_in_evaluation)
        training.modelReady.connect(self.on_model_ready)

    def _act(self, key: str, text: str, slot, shortcut=None, tip: str = "",
             checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setStatusTip(tip)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.actions[key] = action
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        """Every action of the window, with its shortcut, in one place."""
        c = self.compare
        self._act("open", "&Open…", self.open_dialog, QKeySequence.StandardKey.Open,
                  "Open an image (upscale it, or use it as ground truth)")
        self._act("open_pair", "Open LR + &HR pair…", self.open_pair_dialog, "Ctrl+Shift+O",
                  "Evaluate a given low-resolution image against its high-resolution original")
        self._act("paste", "&Paste image", self.paste, QKeySequence.StandardKey.Paste,
                  "Open the image on the clipboard")
        self._act("save", "&Save result as…", self.save_dialog, QKeySequence.StandardKey.Save,
                  "Save the DRRN (or bicubic) result")
        self._act("copy", "&Copy result", self.copy_result, "Ctrl+Shift+C",
                  "Copy the result image to the clipboard")
        from app import export_dialogs as xd

        self._act("export_before_after", "&Before/after image…",
                  lambda: xd.before_after_dialog(self), "Ctrl+Shift+B",
                  "Bicubic and DRRN side by side, labelled, as PNG (with the model's provenance)")
        self._act("export_split", "Before/after &split image…",
                  lambda: xd.before_after_dialog(self, "split"), None,
                  "Left half bicubic, right half DRRN, labelled, as PNG")
        self._act("export_panes", "Evaluation &panes and error maps…",
                  lambda: xd.evaluation_dialog(self), "Ctrl+Shift+E",
                  "Every pane at full size, the error maps with their colour scale and a sheet "
                  "of all, as PNGs")
        self._act("export_crops", "Aligned &crops of the view…", lambda: xd.crops_dialog(self),
                  "Ctrl+Shift+R", "The region the panes show now, cropped from every pane")
        self._act("import", "&Import weights…", self.import_weights, None,
                  "Add a DRRN .safetensors model to your model folder")
        self._act("quit", "&Quit", self.close, QKeySequence.StandardKey.Quit)
        self._act("fit", "&Fit", c.fit, "Ctrl+0", "Fit the image in every pane")
        self._act("actual", "&100 %", c.actual_size, "Ctrl+1", "One image pixel per screen pixel")
        self._act("zoom_in", "Zoom &in", c.zoom_in, ["+", "=", QKeySequence.StandardKey.ZoomIn])
        self._act("zoom_out", "Zoom &out", c.zoom_out, ["-", QKeySequence.StandardKey.ZoomOut])
        self._act("split", "&Compare (split view)", self._toggle_split, "C",
                  "Toggle the before/after split view", checkable=True)
        # The loupe's action belongs to the Compare tab (it follows that tab's panes); listed here
        # for the View menu and Help > Keyboard shortcuts, its state kept in the window's settings.
        c.loupe.use_store(self.settings.store)
        self.actions["loupe"] = c.loupe.action
        self._act("mode_upscale", "&Upscale a photo", lambda: self.set_mode("upscale"),
                  "Ctrl+U", checkable=True)
        self._act("mode_evaluate", "&Evaluate against ground truth",
                  lambda: self.set_mode("evaluate"), "Ctrl+E", checkable=True)
        self._act("cancel", "Cancel", c.cancel, "Esc", "Stop the running computation")
        self._act("update", "Up&date", lambda: c.run(), "F5",
                  "Compute again with the current settings (preview first when slow)")
        self._act("whole", "Upscale &whole image", c.run_whole, "Ctrl+Shift+U",
                  "DRRN on the whole image, however long it takes")
        from app.dialogs import help as help_dialogs

        self._act("guide", "&Getting started", lambda: help_dialogs.show_guide(self),
                  QKeySequence.StandardKey.HelpContents,
                  "How to upscale a photo, evaluate, batch a folder, benchmark and train")
        self._act("shortcuts", "&Keyboard shortcuts", lambda: help_dialogs.show_shortcuts(self),
                  None, "Every keyboard shortcut of the window")
        self._act("about", "&About DRRN Studio", self.about)
        self._act("log", "Open &log folder", self.open_log_folder)
        c.controls.modeChanged.connect(self._sync_mode_actions)

    def _build_menus(self) -> None:
        a = self.actions
        key: str | None  # None in a list below: a separator
        file_menu = self.menuBar().addMenu("&File")
        for key in ("open", "open_pair"):
            file_menu.addAction(a[key])
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addAction(a["paste"])
        file_menu.addSeparator()
        for key in ("save", "copy"):
            file_menu.addAction(a[key])
        export_menu = file_menu.addMenu("E&xport")
        for key in ("export_before_after", "export_split", "export_panes", "export_crops"):
            export_menu.addAction(a[key])
        file_menu.addSeparator()
        file_menu.addAction(a["import"])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        view = self.menuBar().addMenu("&View")
        for key in ("mode_upscale", "mode_evaluate", None, "fit", "actual", "zoom_in",
                    "zoom_out", None, "split", "loupe", None, "update", "whole", "cancel"):
            if key is None:
                view.addSeparator()
            else:
                view.addAction(a[key])
        help_menu = self.menuBar().addMenu("&Help")
        for key in ("guide", "shortcuts", None, "about", "log"):
            if key is None:
                help_menu.addSeparator()
            else:
                help_menu.addAction(a[key])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        items = self.settings.recent_files
        for i, path in enumerate(items):  # Alt+F, R, then 1-9, 0
            act = self.recent_menu.addAction(
                f"&{(i + 1) % 10} {Path(path).name.replace('&', '&&')}")
            act.setToolTip(path)
            act.setStatusTip(path)
            act.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if items:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("&Clear list", self._clear_recent)
        self.recent_menu.setEnabled(bool(items))

    def _clear_recent(self) -> None:
        self.settings.clear_recent()
        self._rebuild_recent()

    def _update_actions(self) -> None:
        has = self.compare.result() is not None
        self.actions["save"].setEnabled(has)
        self.actions["copy"].setEnabled(has)
        self.actions["cancel"].setEnabled(self.compare.is_busy())

    def _sync_mode_actions(self, mode: str) -> None:
        self.actions["mode_upscale"].setChecked(mode == "upscale")
        self.actions["mode_evaluate"].setChecked(mode == "evaluate")

    def _toggle_split(self) -> None:
        self.actions["split"].setChecked(self.compare.toggle_split())

    # -- settings --------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        if s.geometry is not None:
            self.restoreGeometry(s.geometry)
        else:
            self.resize(FIRST_SIZE)
        self.fit_to_screen(FRAME_ALLOWANCE)  # the frame is not known before the window is shown
        self._frame_checks = 0  # fitted again once shown and framed (showEvent)
        if s.window_state is not None:
            self.restoreState(s.window_state)
        c = self.compare.controls
        c.set_mode(s.mode)
        c.scale.setValue(s.scale)
        c.set_devices([AUTO, ("cpu", "cpu")], s.device)
        self._list_devices()
        c.set_precisions(precision_choices(), s.precision)
        c.ensemble.setChecked(s.ensemble)
        self.tabs.setCurrentIndex(min(s.current_tab, self.tabs.count() - 1))
        self._sync_mode_actions(c.mode)

    def frame_margins(self) -> QSize:
        """The window manager's title bar and borders (zero before it has framed the window)."""
        return self.frameGeometry().size() - self.geometry().size()

    def fit_to_screen(self, allowance: QSize | None = None) -> None:
        """The whole window, frame included, inside the screen's free area: shrunk and moved
        where needed (at 1366x768, or 150 % on 1920x1080, 1280x820 did not fit). ``allowance``:
        room for a frame not known yet (before the window is shown)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None or self.isMaximized() or self.isFullScreen():
            return
        margins = self.frame_margins()
        if allowance is not None:
            margins = margins.expandedTo(allowance)
        target = fit_rect(QRect(self.pos(), self.size() + margins), screen.availableGeometry())
        if target.size() != self.size() + margins:
            self.resize(target.size() - margins)
        if target.topLeft() != self.pos():
            self.move(target.topLeft())  # a window's pos() and move() are its frame's

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._frame_checks == 0 and not event.spontaneous():
            self._frame_checks = 1
            QTimer.singleShot(0, self, self._fit_once_framed)

    def _fit_once_framed(self) -> None:
        """Fit the window again once the window manager has given it its frame (the first fit
        could only guess its size), or at the latest after FRAME_WAIT_MS."""
        if not self.isVisible():
            return
        if self.frame_margins().isNull() and self._frame_checks * FRAME_POLL_MS < FRAME_WAIT_MS:
            self._frame_checks += 1
            QTimer.singleShot(FRAME_POLL_MS, self, self._fit_once_framed)
            return
        self.fit_to_screen()

    def save_settings(self) -> None:
        s = self.settings
        c = self.compare.controls
        s.geometry = self.saveGeometry()
        s.window_state = self.saveState()
        s.mode = c.mode
        s.scale = c.scale.value()
        s.model = c.model_name()
        s.device = c.device_spec()
        s.precision = c.precision.currentText()
        s.ensemble = c.ensemble.isChecked()
        s.current_tab = self.tabs.currentIndex()
        s.sync()

    def _list_devices(self) -> None:
        """Fill the Device box from the engine's device list on a worker (probing Vulkan takes
        seconds); the saved choice is selected when it appears."""
        from app.workers import start_job

        wanted = self.settings.device
        self._devices_job = start_job(lambda ctx: device_choices(), name="devices", parent=self)

        def done(devices: list[tuple[str, str]]) -> None:
            c = self.compare.controls
            current = c.device_spec()
            c.set_devices(devices, current if current != "auto" else wanted)

        self._devices_job.succeeded.connect(done)

    # -- models ----------------------------------------------------------------------------
    def refresh_models(self, select: str | None = None) -> None:
        """Re-read bundled and user models: every model list follows (``modelsChanged``); the
        Compare tab selects ``select`` (else keeps its choice, else the saved model, else the
        default)."""
        self._select_model = select
        self.models.refresh()

    def _on_models_changed(self) -> None:
        """The Compare tab's model list (the other tabs refresh their own)."""
        if self.models.problem:
            self.show_message(self.models.problem, 0)
        listed = self.models.choices(with_bicubic=False)
        choices = [(f"{c.name} ({c.source})" if c.source else c.name, c.name) for c in listed]
        combo = self.compare.controls.model
        kept = combo.currentData() if combo.count() else None  # the user's current choice
        current = self._select_model or kept or self.settings.model or self.models.default
        self._select_model = None
        self.compare.controls.set_models(choices, current,
                                         {c.name: c.precisions for c in listed})

    def import_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import DRRN weights", self.settings.last_dir,
            "DRRN weights (*.safetensors);;All files (*)")
        if path:
            self.import_weights_from(path)

    def import_weights_from(self, path: str | Path) -> bool:
        from drrn_core import weights

        try:
            entry = weights.import_user_model(path)
        except Exception as exc:  # noqa: BLE001 - any refusal is one message
            self.show_error("Could not import weights", describe_error(exc))
            return False
        self.refresh_models(select=entry.name)
        self.show_message(f"Imported model {entry.name}.", 8000)
        self.compare.schedule_run()
        return True

    def on_model_ready(self, weights_path: str) -> None:
        """The training tab produced weights: refresh every model list and select them."""
        controls = self.compare.controls
        controls.model.blockSignals(True)  # selecting it must not start a run
        self.models.refresh()
        name = self.models.name_of(weights_path)
        self._select_model = name
        self._on_models_changed()
        controls.model.blockSignals(False)
        if self.compare.source is not None:
            self.compare.grid.panes["drrn"].set_image(
                None, note=f"Model {name} selected:\nUpdate (F5) to compute")
        self.show_message(f"Model {name} is ready and selected in Compare; nothing runs until "
                          "you ask (Update, F5).", 0)

    # -- getting images in -----------------------------------------------------------------
    def open_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in image_suffixes())
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self.settings.last_dir,
                                              f"Images ({patterns});;All files (*)")
        if path:
            self.open_path(path)

    @property
    def loaded(self):
        """drrn_core.imaging.io.LoadedImage of the opened image, if any (see app.document)."""
        return self.document.loaded

    def open_path(self, path: str | Path, mode: str | None = None, scale: int | None = None,
                  note: str = "") -> bool:
        """Open an image file (or a folder: see :meth:`open_folder`); False with a message if
        it cannot be read. ``note`` stays in the status line after each run."""
        path = Path(path)
        if path.is_dir():
            return self.open_folder(path)
        opened = self.document.open_file(path, note)
        if opened is None:
            return False
        self.settings.last_dir = str(path.parent)
        self.settings.add_recent(path)
        self._rebuild_recent()
        self._show(opened, mode, scale)
        return True

    def _show(self, opened: Opened, mode: str | None = None, scale: int | None = None) -> None:
        """Show an opened document in the Compare tab (in ``mode`` at ``scale`` when given)."""
        self.setWindowTitle(f"DRRN Studio — {opened.title}")
        self.tabs.setCurrentWidget(self.compare)
        if mode is not None:
            self.compare.set_mode(mode)
        if scale is not None:
            self.compare.controls.scale.setValue(scale)
        self.compare.set_source(opened.image, opened.name, opened.loaded, lr=opened.lr,
                                note=opened.note, path=opened.path, lr_path=opened.lr_path)

    def open_in_evaluation(self, path: str, scale: int, model: str = BICUBIC) -> None:
        """From the benchmark tab: evaluate one image at one scale with the row's model (a
        NAME+ row: its self-ensemble); a bicubic row keeps the chosen model."""
        if model != BICUBIC:
            name, ensemble = split_ensemble(model)
            c = self.compare.controls
            index = c.model.findData(name)
            if index >= 0:
                c.model.setCurrentIndex(index)
                c.ensemble.setChecked(ensemble)
        self.open_path(path, mode="evaluate", scale=scale)

    def open_pair_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in image_suffixes())
        flt = f"Images ({patterns})"
        lr, _ = QFileDialog.getOpenFileName(self, "Open the low-resolution (LR) image",
                                            self.settings.last_dir, flt)
        if not lr:
            return
        hr, _ = QFileDialog.getOpenFileName(self, "Open its high-resolution original (HR)",
                                            str(Path(lr).parent), flt)
        if hr:
            self.open_pair(lr, hr)

    def open_pair(self, lr_path: str | Path, hr_path: str | Path) -> bool:
        """Evaluate a given LR image against its HR original (scale = HR / LR size)."""
        opened = self.document.open_pair(lr_path, hr_path)
        if opened is not None:
            self._show(opened)
        return opened is not None

    def open_folder(self, folder: Path) -> bool:
        """A folder: offer to open its first image or hand it to the Benchmark / Batch tab (a
        folder of datasets, or one whose images lie in an HR sub-folder: those two)."""
        from drrn_core.metrics.benchmark import DatasetError, collect_datasets

        images = sorted((p for p in folder.iterdir() if is_image_path(p)),
                        key=lambda p: p.name.lower())
        datasets: list[str] = []
        if not images:
            try:
                datasets = [d.name for d in collect_datasets([folder])]
            except (DatasetError, OSError):
                self.show_error("No images", f"There are no image files in {folder}.")
                return False
        choice = self.ask_folder_action(folder, images, datasets)
        if choice == "open":
            return self.open_path(images[0])
        if choice == "benchmark":
            cast("BenchmarkTab", self.extra_tabs["benchmark"]).add_dataset(folder)
            self.tabs.setCurrentWidget(self.extra_tabs["benchmark"])
            return True
        if choice == "batch":
            cast("BatchTab", self.extra_tabs["batch"]).input_field.set_path(folder)
            self.tabs.setCurrentWidget(self.extra_tabs["batch"])
            return True
        return False

    def ask_folder_action(self, folder: Path, images: list[Path], datasets: list[str]) -> str:
        """Ask what to do with a folder: "open" (its first image), "benchmark", "batch" or "".
        ``datasets``: for a folder without images of its own, the datasets found under it."""
        held = (f"holds {len(images)} image(s)" if images else
                f"holds the dataset(s) {', '.join(datasets)}")
        box = QMessageBox(QMessageBox.Icon.Question, "Open a folder",
                          f"{folder.name} {held}. What should happen?", parent=self)
        choices: dict[QAbstractButton, str] = {}
        if images:
            choices[box.addButton(f"Open {images[0].name}",
                                  QMessageBox.ButtonRole.AcceptRole)] = "open"
        choices[box.addButton("Benchmark it", QMessageBox.ButtonRole.ActionRole)] = "benchmark"
        choices[box.addButton("Batch-upscale it",
                              QMessageBox.ButtonRole.ActionRole)] = "batch"
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return choices.get(box.clickedButton(), "")

    def open_dropped(self, paths: list[Path]) -> bool:
        """Open the first image (or folder) among dropped paths; say what was ignored."""
        dropped = self.document.sort_dropped(paths)
        if dropped.image is not None:
            return self.open_path(dropped.image, note=dropped.note)
        if dropped.folder is not None:
            return self.open_folder(dropped.folder)
        self.show_error("Nothing to open", "None of the dropped items is an image or a folder.")
        return False

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        content = self.document.mime_content(event.mimeData())
        event.setDropAction(Qt.DropAction.CopyAction)  # never a move: the source stays put
        event.accept()
        if isinstance(content, list):
            self.open_dropped(content)
        elif isinstance(content, QImage):
            self.open_qimage(content, "dropped image")

    def paste(self) -> bool:
        """Open the clipboard's image (or the image file whose path/URL it holds)."""
        content = self.document.mime_content(QGuiApplication.clipboard().mimeData())
        if isinstance(content, list):
            return self.open_dropped(content)
        if isinstance(content, QImage):
            return self.open_qimage(QImage(QGuiApplication.clipboard().image()), "clipboard")
        self.show_message("The clipboard holds no image.", 5000)
        return False

    def open_qimage(self, image: QImage, name: str) -> bool:
        """Open an in-memory image (clipboard / drop)."""
        opened = self.document.open_qimage(image, name)
        if opened is not None:
            self._show(opened)
        return opened is not None

    # -- getting results out ---------------------------------------------------------------
    def save_dialog(self) -> None:
        """Choose a file, confirm once (replacing a file, above all the opened image), then the
        JPEG/WebP quality: one question at most before the quality, never two confirmations.
        A DRRN result still partial is said first (save bicubic, or resume DRRN)."""
        from drrn_core.imaging import io

        if self.compare.result() is None or not self.compare.confirm_save():
            return
        result = self.compare.result()  # again: confirm_save may have changed it
        if result is None:
            return
        key, _ = result
        start = Path(self.settings.last_dir) / self.document.suggested_name(
            key, self.compare.controls.scale_value())
        chosen, flt = QFileDialog.getSaveFileName(
            self, "Save result", str(start), ";;".join(SAVE_FILTERS),
            options=QFileDialog.Option.DontConfirmOverwrite)
        if not chosen:
            return
        path = Path(chosen)
        if not path.suffix:
            path = path.with_suffix(SAVE_FILTERS.get(flt, ".png"))
        if self.document.is_input(path):
            choice = self.ask_replace_input(path)
            if choice == "cancel":
                return
            if choice == "new":
                path = io.unique_output_path(path, avoid=(path,))
        elif path.exists() and not self.ask_overwrite(path):
            return
        quality = self.settings.jpeg_quality
        if path.suffix.lower() in LOSSY:
            note = self.document.depth_note(path.suffix)
            quality, ok = QInputDialog.getInt(
                self, "Quality", (f"Note: {note}\n\n" if note else "")
                + f"{path.suffix[1:].upper()} quality (1-100):", quality, 1, 100)
            if not ok:
                return
            self.settings.jpeg_quality = quality
        self.save_result(path, quality, confirm_overwrite_input=False)

    def ask_replace_input(self, path: Path) -> str:
        """The one question before touching the opened image: "new" (save beside it, the
        default), "replace" or "cancel"."""
        box = QMessageBox(QMessageBox.Icon.Warning, "This is the opened image",
                          f"{path.name} is the image you opened. Save the result under a new "
                          "name beside it, or replace the original?", parent=self)
        new = box.addButton("Save as a new file", QMessageBox.ButtonRole.AcceptRole)
        replace = box.addButton("Replace the original", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(new)
        box.exec()
        answers: dict[QAbstractButton, str] = {new: "new", replace: "replace"}
        return answers.get(box.clickedButton(), "cancel")

    def ask_overwrite(self, path: Path) -> bool:
        """Replace an existing file (not the opened image)?"""
        answer = QMessageBox.question(
            self, "Replace the file?", f"{path.name} exists. Replace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def save_result(self, path: str | Path, quality: int | None = None,
                    confirm_overwrite_input: bool = True) -> bool:
        """Write the current result with the input's metadata and bit depth; asks (once) before
        replacing the input; says when a 16-bit input is saved at 8 bits."""
        from drrn_core.imaging import io

        result = self.compare.result()
        if result is None:
            self.show_message("There is no result to save yet.", 5000)
            return False
        path = Path(path)
        if confirm_overwrite_input and self.document.is_input(path):
            choice = self.ask_replace_input(path)
            if choice == "cancel":
                return False
            if choice == "new":
                path = io.unique_output_path(path, avoid=(path,))
        if not self.document.save(path, result[1], quality or self.settings.jpeg_quality):
            return False
        self.settings.last_dir = str(path.parent)
        note = self.document.depth_note(path.suffix)
        self.show_message(f"Saved {path}." + (f" Note: {note}" if note else ""),
                          0 if note else 8000)
        return True

    def copy_result(self) -> None:
        result = self.compare.result()
        if result is None:
            return
        QGuiApplication.clipboard().setImage(qimage_from_array(result[1]))
        self.show_message("Result copied to the clipboard.", 4000)

    # -- misc ------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        self.tabs.setCurrentWidget(self.compare)
        self.compare.set_mode(mode)

    def show_message(self, text: str, timeout_ms: int = 0) -> None:
        """Show ``text`` in the status bar; a lasting one (``timeout_ms`` 0) comes back whenever
        the Compare tab does (the other tabs keep their own message lines)."""
        if timeout_ms == 0:
            self._lasting_message = text
        self.statusBar().showMessage(text, timeout_ms)

    def _on_tab_changed(self, index: int) -> None:
        """The status bar and pixel read-out speak for Compare: blank on the other tabs."""
        on_compare = self.tabs.widget(index) is self.compare
        self.hover_label.setVisible(on_compare)
        if on_compare:
            self.statusBar().showMessage(self._lasting_message)
        else:
            self.statusBar().clearMessage()

    def show_error(self, title: str, text: str) -> None:
        """One clear message: a dialog (when visible) and the status bar; logged."""
        log.warning("%s: %s", title, text)
        self.show_message(f"{title}: {text}", 0)
        if self.isVisible() and QGuiApplication.platformName() != "offscreen":
            QMessageBox.warning(self, title, text)

    def about(self) -> None:
        from app.dialogs.about import AboutDialog

        AboutDialog(self).exec()

    def open_log_folder(self) -> None:
        from app.services.logging_setup import default_log_dir

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(default_log_dir())))

    def running_work(self) -> list[str]:
        """Labels of the tabs (Benchmark, Batch, Training) whose job runs and is not already
        being cancelled; Compare's runs are left out (nothing is lost: they run again)."""
        from app.workers import running_jobs

        tabs = list(self.extra_tabs.values())
        labels: list[str] = []
        for job in running_jobs():
            tab = next((t for t in tabs if t is job.parent()), None)
            if tab is not None and not job.token.is_cancelled():
                label = self.tabs.tabText(self.tabs.indexOf(tab))
                if label not in labels:
                    labels.append(label)
        return labels

    def confirm_quit(self) -> bool:
        """True to close: nothing runs, or the user chose Quit (Cancel is the default)."""
        busy = self.running_work()
        if not busy:
            return True
        box = QMessageBox(QMessageBox.Icon.Warning, "Quit DRRN Studio?",
                          f"A job is running ({', '.join(busy)}). Quitting stops it. "
                          "Quit anyway?", parent=self)
        quit_button = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        return box.clickedButton() is quit_button

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Quit (Ctrl+Q) and the window's close button: ask first while a job runs."""
        if not self.confirm_quit():
            event.ignore()
            return
        self.save_settings()
        self.compare.shutdown()
        for tab in self.extra_tabs.values():
            if getattr(tab, "is_running", lambda: False)() and hasattr(tab, "cancel"):
                tab.cancel()
        shutdown_jobs(3000)
        super().closeEvent(event)


def settings_at(path: str | Path) -> AppSettings:
    """Settings stored in an INI file (tests, portable use)."""
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))


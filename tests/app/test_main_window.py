"""The main window: getting images in (open, drop, paste, recent, command line), results out,
bad input as messages, the excepthook, the log file fallback, --version and --self-test."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QRect, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication

from app.document import qimage_from_array
from app.main_window import MainWindow
from drrn_core.imaging import io

ROOT = Path(__file__).resolve().parents[2]


def status(win: MainWindow) -> str:
    return win.statusBar().currentMessage()


def test_open_file_upscales_with_bicubic_and_drrn(window, astro_png, wait_idle):
    assert window.open_path(astro_png)
    wait_idle(window)
    results = window.compare.results
    assert results["input"][0].shape == (48, 48, 3)
    assert results["bicubic"][0].shape == (96, 96, 3)
    assert results["drrn"][0].shape == (96, 96, 3)
    for key in ("input", "bicubic", "drrn"):
        assert window.compare.grid.panes[key].has_image()
    assert window.actions["save"].isEnabled() and window.actions["copy"].isEnabled()
    assert window.settings.recent_files[0] == str(astro_png.resolve())
    assert [a.text() for a in window.recent_menu.actions()][0] == "&1 astro.png"
    assert "astro.png" in window.windowTitle()


def test_drop_opens_the_image_and_ignores_non_images(window, astro_png, tmp_path, wait_idle):
    note = tmp_path / "notes.txt"
    note.write_text("not an image")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(note)), QUrl.fromLocalFile(str(astro_png))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    wait_idle(window)
    assert window.compare.source.name == "astro.png"
    assert "not images" in status(window)


def test_dropped_folder_offers_its_first_image_or_the_benchmark(window, astro_png, tmp_path,
                                                                monkeypatch, wait_idle):
    folder = astro_png.parent
    monkeypatch.setattr(window, "ask_folder_action", lambda f, imgs, sets: "open")
    assert window.open_dropped([folder])
    wait_idle(window)
    assert window.compare.source.name == "astro.png"
    monkeypatch.setattr(window, "ask_folder_action", lambda f, imgs, sets: "benchmark")
    assert window.open_path(folder)
    assert window.tabs.currentWidget() is window.extra_tabs["benchmark"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not window.open_path(empty)
    assert "no image files" in status(window)
    # a folder of datasets (Set5/HR, Set14): offered to the Benchmark tab, not "no images"
    collection = tmp_path / "benchmark"
    for where in ("Set5/HR", "Set14"):
        (collection / where).mkdir(parents=True)
        (collection / where / "a.png").write_bytes(astro_png.read_bytes())
    asked = []
    monkeypatch.setattr(window, "ask_folder_action",
                        lambda f, imgs, sets: asked.append((imgs, sets)) or "benchmark")
    assert window.open_path(collection)
    assert asked == [([], ["Set14", "Set5"])]
    assert collection.resolve() in window.extra_tabs["benchmark"].datasets.folders()


def test_paste_opens_the_clipboard_image(window, astro_crop, wait_idle):
    QGuiApplication.clipboard().setImage(qimage_from_array(astro_crop))
    assert window.paste()
    wait_idle(window)
    assert window.compare.source.name == "clipboard"
    assert np.array_equal((window.compare.source.image * 255).round().astype(np.uint8),
                          astro_crop)
    QGuiApplication.clipboard().clear()
    assert not window.paste()
    assert "no image" in status(window)


def test_unreadable_and_huge_files_are_messages(window, astro_png, tmp_path, monkeypatch,
                                                wait_idle):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    assert not window.open_path(bad)
    assert "broken.png" in status(window) and window.compare.source is None
    assert not window.open_path(tmp_path / "missing.jpg")
    assert "not found" in status(window)
    with monkeypatch.context() as m:
        m.setattr("drrn_core.limits.MAX_INPUT_PIXELS", 1000)
        assert not window.open_path(astro_png)
    assert "limit" in status(window)
    assert window.open_path(astro_png)  # the window is still usable
    wait_idle(window)
    assert "drrn" in window.compare.results


def test_missing_model_file_is_one_message(window, astro_png, model_store, wait_idle):
    from drrn_core import weights
    from drrn_core.model import DRRN, DRRNConfig

    path = weights.save_weights(model_store / "models" / "gone.safetensors",
                                DRRN(DRRNConfig(B=1, U=1, channels=4)))
    window.refresh_models(select="gone")
    assert window.compare.controls.model_name() == "gone"
    path.unlink()
    window.open_path(astro_png)
    wait_idle(window)
    assert status(window).startswith("Failed:")
    assert "bicubic" in window.compare.results and "drrn" not in window.compare.results
    window.refresh_models(select="tiny")
    window.compare.run()
    wait_idle(window)
    assert "drrn" in window.compare.results


def test_save_copy_and_never_overwrite_the_input_silently(window, astro_png, tmp_path,
                                                         monkeypatch, wait_idle):
    window.open_path(astro_png)
    wait_idle(window)
    for name in ("out.png", "out.jpg", "out.webp", "out.tif"):
        assert window.save_result(tmp_path / name, quality=80)
        assert io.load_image(tmp_path / name).pixels.shape == (96, 96, 3)
    before = astro_png.read_bytes()
    monkeypatch.setattr(window, "ask_replace_input", lambda path: "cancel")
    assert not window.save_result(astro_png)
    assert astro_png.read_bytes() == before
    window.copy_result()
    assert QGuiApplication.clipboard().image().width() == 96


def test_shortcuts_are_bound(window):
    keys = {k: window.actions[k].shortcut().toString() for k in
            ("open", "save", "paste", "fit", "actual", "zoom_in", "zoom_out", "split")}
    assert keys == {"open": "Ctrl+O", "save": "Ctrl+S", "paste": "Ctrl+V", "fit": "Ctrl+0",
                    "actual": "Ctrl+1", "zoom_in": "+", "zoom_out": "-", "split": "C"}


def test_about_box_lists_the_models(window, qtbot):
    from app.dialogs.about import AboutDialog

    dialog = AboutDialog(window)
    qtbot.addWidget(dialog)
    labels = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert labels[0] == "DRRN Studio" and "tiny" in labels


def test_model_ready_from_training_selects_it(window, model_store):
    window.compare.controls.model.setCurrentIndex(0)
    window.on_model_ready(str(model_store / "models" / "medium.safetensors"))
    assert window.compare.controls.model_name() == "medium"
    window.compare.cancel()


def test_no_models_means_bicubic_only_with_a_note(window, tmp_path, monkeypatch, astro_png,
                                                  wait_idle):
    monkeypatch.setenv("DRRN_USER_DIR", str(tmp_path / "nobody"))
    window.refresh_models()
    combo = window.compare.controls.model
    assert combo.count() == 1 and combo.currentData() == "bicubic"
    assert not window.compare.controls.model_note.isHidden()
    window.open_path(astro_png)
    wait_idle(window)
    assert set(window.compare.results) == {"input", "bicubic"}


def test_excepthook_logs_and_shows_instead_of_dying(tmp_path, caplog):
    from app.services.logging_setup import install_excepthook

    shown = []
    old = sys.excepthook
    try:
        install_excepthook(lambda summary, details: shown.append((summary, details)))
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            with caplog.at_level(logging.ERROR):
                sys.excepthook(*sys.exc_info())
    finally:
        sys.excepthook = old
    assert shown and shown[0][0] == "RuntimeError: boom" and "Traceback" in shown[0][1]
    assert "uncaught exception" in caplog.text


def test_log_file_and_unwritable_log_folder(qtbot, tmp_path):
    from app.main_window import settings_at
    from app.services.logging_setup import setup_logging

    path, problem = setup_logging(tmp_path / "logs")
    assert problem is None and path.exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path, problem = setup_logging(blocker / "logs")
    assert path is None and "Could not write the log file" in problem
    win = MainWindow(settings=settings_at(tmp_path / "s.ini"), log_problem=problem)
    qtbot.addWidget(win)
    assert status(win) == problem


def test_command_line_opens_the_given_file(qtbot, astro_png):
    from app import __main__ as entry

    assert entry.parse_args([str(astro_png)]).path == str(astro_png)
    win = entry.launch(str(astro_png))
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.compare.source is not None, timeout=5000)
    assert win.compare.source.name == "astro.png" and win.isVisible()
    win.close()


def test_version_and_self_test(model_store, tmp_path, capsys):
    from app import __main__ as entry

    with pytest.raises(SystemExit) as exit_info:
        entry.main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("drrn-studio 0.")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "DRRN_RESOURCES": str(model_store)}  # "bundles" tiny + medium: default = medium
    (model_store / "weights").mkdir(exist_ok=True)
    for name in ("tiny", "medium"):
        target = model_store / "weights" / f"{name}.safetensors"
        if not target.exists():
            target.write_bytes((model_store / "models" / f"{name}.safetensors").read_bytes())
    proc = subprocess.run([sys.executable, "-m", "app", "--self-test"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "self-test: OK (medium, x2, 96x96" in proc.stdout


def test_qimage_from_array_keeps_the_pixels(astro_crop):
    image = qimage_from_array(astro_crop)
    assert (image.width(), image.height()) == (48, 48)
    assert image.format() == QImage.Format.Format_RGB888
    r, g, b = astro_crop[5, 7]
    assert image.pixelColor(7, 5).getRgb()[:3] == (r, g, b)


def test_drags_over_a_pane_reach_the_window(window, astro_png, monkeypatch):
    seen = []
    original = window.dragEnterEvent
    monkeypatch.setattr(window, "dragEnterEvent", lambda e: (seen.append(e), original(e)))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(astro_png))])
    event = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window.compare.grid.panes["bicubic"].graphics.viewport(), event)
    assert seen and event.isAccepted()


# -- window size, saving over the input, 16-bit, drops, long messages --------------------------
def test_the_window_fits_small_screens(qtbot, tmp_path):
    """The window's minimum size (set by the Benchmark tab's side panel and the Training
    fields) fits an 800x560 screen (or 150 % scaling) without squeezing fields to strips, and a
    new window opens no larger than the screen."""
    from app.main_window import settings_at

    win = MainWindow(settings=settings_at(tmp_path / "s.ini"))
    qtbot.addWidget(win)
    hint = win.minimumSizeHint()
    assert hint.width() <= 800 and hint.height() <= 560, hint
    avail = win.screen().availableGeometry()
    assert win.width() <= avail.width() and win.height() <= avail.height()
    win.resize(800, 560)
    win.show()
    training = win.extra_tabs["training"]
    win.tabs.setCurrentWidget(training)
    qtbot.waitUntil(lambda: training.patch_spin.height() > 0)
    for w in (training.patch_spin, training.budget_spin, training.recipe_combo):
        assert w.height() >= w.minimumSizeHint().height()


def test_fit_rect_shrinks_then_moves_a_frame_inside_the_free_area():
    from app.main_window import fit_rect

    avail = QRect(0, 27, 1366, 741)  # 1366x768 under a 27 px top panel
    assert fit_rect(QRect(0, 0, 1296, 860), avail) == QRect(0, 27, 1296, 741)
    assert fit_rect(QRect(200, 100, 1296, 700), avail) == QRect(70, 68, 1296, 700)
    assert fit_rect(QRect(-50, 400, 400, 300), avail) == QRect(0, 400, 400, 300)
    assert fit_rect(QRect(10, 40, 400, 300), avail) == QRect(10, 40, 400, 300)  # left alone
    assert fit_rect(QRect(0, 0, 2000, 2000), avail) == avail  # never larger


def test_the_first_window_keeps_room_for_its_frame(qtbot, tmp_path):
    """Before it is shown the window's frame is unknown; its size keeps
    FRAME_ALLOWANCE free (the X11 test in test_journey_x11.py checks the real frame)."""
    from app.main_window import FIRST_SIZE, FRAME_ALLOWANCE, settings_at

    win = MainWindow(settings=settings_at(tmp_path / "s.ini"))
    qtbot.addWidget(win)
    avail = win.screen().availableGeometry()
    outer = win.size() + FRAME_ALLOWANCE
    assert outer.width() <= avail.width() and outer.height() <= avail.height(), (outer, avail)
    assert win.size() == FIRST_SIZE.boundedTo(avail.size() - FRAME_ALLOWANCE)
    assert avail.contains(QRect(win.pos(), outer))


def test_the_window_is_fitted_again_once_framed(qtbot, tmp_path, monkeypatch):
    """A frame taller than the allowance (a large title bar): once known, the window shrinks so
    that the frame fits; a frame that fits changes nothing."""
    from PySide6.QtCore import QSize

    from app.main_window import settings_at

    win = MainWindow(settings=settings_at(tmp_path / "s.ini"))
    qtbot.addWidget(win)
    win.show()
    avail = win.screen().availableGeometry()
    monkeypatch.setattr(win, "frame_margins", lambda: QSize(2, 1))
    before = win.size()
    win._fit_once_framed()
    assert win.size() == before
    monkeypatch.setattr(win, "frame_margins", lambda: QSize(0, 90))
    win._fit_once_framed()
    assert win.height() + 90 == avail.height()  # shrunk to fit, no more
    assert win.y() == avail.y()  # the frame's top on the screen's (the frame fills the height)


def test_saving_over_the_input_asks_once_and_defaults_to_a_new_file(window, tmp_path,
                                                                    astro_crop, monkeypatch,
                                                                    wait_idle):
    """Saving over the input asks once, not Qt's overwrite question, the JPEG quality and our
    question one after the other, where one wrong "Yes" replaced the original."""
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    photo = tmp_path / "photo.jpg"
    Image.fromarray(astro_crop).save(photo, quality=90)
    before = photo.read_bytes()
    window.open_path(photo)
    wait_idle(window)
    calls: list = []

    def fake_save_name(*args, **kwargs):
        calls.append(("file dialog", kwargs.get("options")))
        return str(photo), "JPEG image (*.jpg *.jpeg)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake_save_name)
    monkeypatch.setattr(QInputDialog, "getInt",
                        lambda *a, **k: (calls.append(("quality",)), (85, True))[1])
    monkeypatch.setattr(window, "ask_replace_input",
                        lambda path: (calls.append(("ask",)), "new")[1])
    window.save_dialog()
    assert calls[0][1] & QFileDialog.Option.DontConfirmOverwrite  # no second confirmation
    assert [c[0] for c in calls] == ["file dialog", "ask", "quality"]
    assert photo.read_bytes() == before  # the default keeps the original
    assert (tmp_path / "photo-2.jpg").is_file()


def test_16_bit_colour_png_is_saved_at_16_bits(window, tmp_path, wait_idle):
    """A 16-bit PNG is saved as a 16-bit file, not silently reduced to 8 bits."""
    rng = np.random.default_rng(1)
    smooth = np.cumsum(rng.random((40, 40, 3)), axis=1)
    source = tmp_path / "deep.png"
    io.save_image(source, (smooth / smooth.max()).astype(np.float32), bit_depth=16)
    assert window.open_path(source)
    wait_idle(window)
    assert window.loaded.bit_depth == 16
    out = tmp_path / "deep_x2.png"
    assert window.save_result(out)
    header = out.read_bytes()[16:26]
    assert header[8] == 16  # IHDR bit depth
    values = np.asarray(QImage(str(out)).convertToFormat(QImage.Format.Format_RGBA64)
                        .constBits()).view(np.uint16)
    assert np.any(values % 257 != 0)  # really 16-bit values, not 8-bit ones widened
    assert window.save_result(tmp_path / "deep_x2.jpg", quality=90)
    assert "8 bits" in status(window)


def test_drops_are_copies_not_moves(window, astro_png):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(astro_png))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction | Qt.DropAction.MoveAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier)
    assert event.proposedAction() == Qt.DropAction.MoveAction  # what a file manager proposes
    window.dropEvent(event)
    assert event.dropAction() == Qt.DropAction.CopyAction
    assert astro_png.is_file()
    window.compare.cancel()


def test_long_messages_stop_before_the_pixel_readout(window):
    window.hover_label.setText("x 10, y 20   In (1,2,3)")
    window.show_message("A very long message " * 30)
    bar = window.statusBar()
    shown = bar.elided_message()
    assert shown.endswith("…") and len(shown) < len(bar.currentMessage())
    width = bar.fontMetrics().horizontalAdvance(shown)
    assert 6 + width <= window.hover_label.x()


def test_status_bar_speaks_for_compare_only(window, astro_png, wait_idle):
    """Another tab shows neither Compare's last message nor its pixel read-out; they return
    with the Compare tab."""
    assert window.open_path(astro_png)
    wait_idle(window)
    said = status(window)
    assert said
    window.tabs.setCurrentWidget(window.extra_tabs["benchmark"])
    assert status(window) == "" and window.hover_label.isHidden()
    window.show_message("Imported model x.", 8000)  # a passing message shows on any tab
    assert status(window) == "Imported model x."
    window.tabs.setCurrentWidget(window.compare)
    assert status(window) == said and not window.hover_label.isHidden()


def test_a_benchmark_row_opens_with_its_model(window, astro_png, wait_idle, select_model):
    """Double-clicking a Benchmark row evaluates that image with the row's model: NAME+ with the
    self-ensemble ticked; a bicubic row keeps the chosen model."""
    c = window.compare.controls
    window.open_in_evaluation(str(astro_png), 3, "tiny+")
    wait_idle(window)
    assert (c.mode, c.scale_value(), c.model_spec()) == ("evaluate", 3.0, "tiny+")
    assert window.compare.scores["drrn"] is not None
    select_model(window, "medium")
    window.open_in_evaluation(str(astro_png), 2, "bicubic")
    wait_idle(window)
    assert (c.scale_value(), c.model_spec()) == (2.0, "medium+")


def test_model_cards_have_no_empty_header_row():
    """The model card's key/value table has a header row, not an empty header bar."""
    from app.dialogs.about import model_card

    class Entry:
        name = "DRRN_B1U9"
        path = ROOT / "resources" / "weights" / "DRRN_B1U9.safetensors"

    card = model_card(Entry())
    assert "| | |" not in card and "| Property | Value |" in card


def test_every_control_has_a_tooltip(window):
    """Every control has a tooltip."""
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractSpinBox,
        QComboBox,
        QLineEdit,
        QScrollBar,
        QTabBar,
    )

    missing = []
    for cls in (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit):
        for c in window.findChildren(cls):
            if isinstance(c.parent(), (QComboBox, QAbstractSpinBox, QTabBar, QScrollBar,
                                       QLineEdit)) or \
                    c.objectName() in ("qt_tableview_cornerbutton", "qt_menubar_ext_button"):
                continue  # parts of a composite widget, which carries the tooltip
            if not c.toolTip():
                missing.append(f"{type(c).__name__} {getattr(c, 'text', lambda: '')()!r} in "
                               f"{type(c.parent()).__name__} {c.objectName()}")
    assert not missing, missing

"""Every tab remembers its fields where the window keeps its settings: a window on a settings
file of its own (the self-test, portable use) leaves the user's settings and results alone."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from app.main_window import MainWindow, settings_at
from app.settings import AppSettings


def test_tabs_remember_in_the_windows_settings(qtbot, tmp_path):
    own = tmp_path / "own" / "settings.ini"
    own.parent.mkdir()
    window = MainWindow(settings=settings_at(own))
    qtbot.addWidget(window)
    bench, batch = window.extra_tabs["benchmark"], window.extra_tabs["batch"]
    assert bench.results_path.parent == own.parent  # kept results beside that file
    batch.output_field.set_path(tmp_path / "results")
    batch.save_choices()
    bench.save_choices()
    window.settings.store.sync()
    written = QSettings(str(own), QSettings.Format.IniFormat)
    assert any(key.startswith("batch/") for key in written.allKeys())
    assert any(key.startswith("benchmark/") for key in written.allKeys())
    user = AppSettings().store  # the user's settings: untouched by this window's tabs
    assert not [k for k in user.allKeys() if k.startswith(("batch/", "benchmark/"))]

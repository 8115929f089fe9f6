"""Settings round-trip through QSettings (an INI file in a temp dir), and the window's state."""

from __future__ import annotations

from app.main_window import MainWindow, settings_at
from app.services.devices import device_choices
from app.settings import MAX_RECENT


def test_values_round_trip(tmp_path):
    s = settings_at(tmp_path / "s.ini")
    s.scale, s.mode, s.model, s.device, s.precision = 3.5, "evaluate", "tiny", "cpu", "fp32"
    s.jpeg_quality, s.last_dir, s.current_tab = 77, str(tmp_path), 2
    s.sync()
    t = settings_at(tmp_path / "s.ini")
    assert (t.scale, t.mode, t.model, t.device, t.precision) == (3.5, "evaluate", "tiny", "cpu",
                                                                 "fp32")
    assert (t.jpeg_quality, t.last_dir, t.current_tab) == (77, str(tmp_path), 2)


def test_bad_values_fall_back_to_defaults(tmp_path):
    s = settings_at(tmp_path / "s.ini")
    s.store.setValue("processing/scale", "lots")
    s.store.setValue("processing/mode", "dance")
    s.store.setValue("save/quality", 1000)
    s.store.setValue("files/last_dir", str(tmp_path / "gone"))
    assert (s.scale, s.mode, s.jpeg_quality) == (2.0, "upscale", 100)
    assert s.last_dir != str(tmp_path / "gone")


def test_recent_files_are_deduplicated_and_capped(tmp_path):
    s = settings_at(tmp_path / "s.ini")
    for i in range(MAX_RECENT + 3):
        s.add_recent(tmp_path / f"{i}.png")
    s.add_recent(tmp_path / "5.png")
    recent = settings_at(tmp_path / "s.ini").recent_files
    assert len(recent) == MAX_RECENT and recent[0].endswith("5.png")
    assert len(set(recent)) == len(recent)
    s.clear_recent()
    assert s.recent_files == []


def test_window_restores_its_state(qtbot, tmp_path):
    path = tmp_path / "s.ini"
    win = MainWindow(settings=settings_at(path))
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    c = win.compare.controls
    c.set_mode("evaluate")
    c.scale.setValue(3)
    c.set_devices(device_choices(), "cpu")
    c.ensemble.setChecked(True)
    win.tabs.setCurrentIndex(1)
    win.close()
    saved = settings_at(path).geometry
    assert saved is not None and saved == win.saveGeometry()
    again = MainWindow(settings=settings_at(path))
    qtbot.addWidget(again)
    c = again.compare.controls
    assert (c.mode, c.scale_value(), c.device_spec()) == ("evaluate", 3.0, "cpu")
    assert c.ensemble.isChecked()
    assert again.tabs.currentIndex() == 1
    assert again.actions["mode_evaluate"].isChecked()

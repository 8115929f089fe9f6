"""Damaged state is rebuilt, not fatal: a garbled or torn settings file, broken user
model files, a log folder that cannot be written; two app instances sharing the settings. Each:
the next start works, with at most one notice, and nothing the user made is deleted."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.main_window import MainWindow, settings_at
from app.settings import APPLICATION, ORGANIZATION, AppSettings, ini_damage

ROOT = Path(__file__).resolve().parents[2]

DAMAGE = {
    "garbage": lambda good: os.urandom(4000),
    "NUL bytes": lambda good: good[:40] + b"\0" * 64 + good[40:],
    "torn": lambda good: good[:good.index(b"[window]") + 4],
}


def written_settings(path: Path) -> bytes:
    s = settings_at(path)
    s.scale, s.mode, s.jpeg_quality = 3.5, "evaluate", 77
    s.add_recent(path.parent / "a.png")
    s.current_tab = 2
    s.sync()
    del s
    return path.read_bytes()


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_settings_file_is_rebuilt_with_one_notice(tmp_path, damage, caplog):
    path = tmp_path / "s.ini"
    broken = DAMAGE[damage](written_settings(path))
    path.write_bytes(broken)
    assert ini_damage(broken)
    s = settings_at(path)
    assert s.notice and "s.damaged-1.ini" in s.notice and str(path) in s.notice
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [s.notice]
    assert (tmp_path / "s.damaged-1.ini").read_bytes() == broken  # kept, byte for byte
    if damage in ("torn", "NUL bytes"):  # what could still be read is carried over
        assert (s.scale, s.mode, s.jpeg_quality) == (3.5, "evaluate", 77)
    else:
        assert (s.scale, s.mode) == (2.0, "upscale")
    s.scale = 4.0
    s.sync()
    assert ini_damage(path.read_bytes()) is None
    again = settings_at(path)  # the next start: no notice, the new value
    assert again.notice is None and again.scale == 4.0


def test_the_native_store_is_rebuilt_too(tmp_path):
    native = tmp_path / "qsettings" / ORGANIZATION / f"{APPLICATION}.conf"
    native.parent.mkdir(parents=True)
    native.write_bytes(b"[processing]\nscale=3\n\xff\xfe[wind")
    s = AppSettings()
    assert s.notice and (native.parent / f"{APPLICATION}.damaged-1.conf").is_file()
    assert s.scale == 3.0
    assert AppSettings().notice is None


def test_a_damaged_value_falls_back_without_a_notice(tmp_path):
    path = tmp_path / "s.ini"
    path.write_text("[files]\nrecent=@Variant(\\0\\0\\0\\x7f\n[processing]\nscale=1e999\n"
                    "mode=upsc\n")
    s = settings_at(path)
    assert s.notice is None
    assert (s.recent_files, s.scale, s.mode) == ([], 2.0, "upscale")


def test_the_window_starts_on_damaged_settings_and_broken_models(qtbot, tmp_path, model_store,
                                                                 monkeypatch):
    user = tmp_path / "user"
    (user / "models").mkdir(parents=True)
    good = (model_store / "models" / "tiny.safetensors").read_bytes()
    (user / "models" / "tiny.safetensors").write_bytes(good)
    (user / "models" / "torn.safetensors").write_bytes(good[:len(good) // 2])
    (user / "models" / "noise.safetensors").write_bytes(os.urandom(5000))
    (user / "models" / "tiny2.safetensors").write_bytes(good)
    (user / "models" / "tiny2.json").write_bytes(b"{\"results\": [1, 2")  # a torn sidecar
    before = {p.name: p.read_bytes() for p in (user / "models").iterdir()}
    monkeypatch.setenv("DRRN_USER_DIR", str(user))
    path = tmp_path / "s.ini"
    path.write_bytes(os.urandom(3000))
    win = MainWindow(settings=settings_at(path))
    qtbot.addWidget(win)
    assert win.settings.notice is not None
    assert win.statusBar().currentMessage() == win.settings.notice  # said once, where it is seen
    # the broken weights are left out; a torn sidecar only loses its extra metadata
    assert [e.name for e in win.models.entries] == ["tiny", "tiny2"]
    assert {p.name: p.read_bytes() for p in (user / "models").iterdir()} == before
    win.close()
    assert ini_damage(path.read_bytes()) is None


WRITER = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QSettings
    from app.settings import AppSettings
    path, me, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = AppSettings(QSettings(path, QSettings.Format.IniFormat))
    assert s.notice is None, s.notice
    for i in range(rounds):
        s.store.setValue("shared/last", f"{me}-{i}")
        s.store.setValue(f"own/{me}", i)
        s.scale = 2.0 + i / 100
        s.sync()
        assert s.store.status() == QSettings.Status.NoError, s.store.status()
""")


def test_two_instances_write_their_settings_without_damage(tmp_path):
    path = tmp_path / "s.ini"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), me, "60"], env=env,
                              stderr=subprocess.PIPE, text=True) for me in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert ini_damage(path.read_bytes()) is None
    s = settings_at(path)
    assert s.notice is None
    assert s.store.value("own/a") in (59, "59") and s.store.value("own/b") in (59, "59")
    assert s.store.value("shared/last") in ("a-59", "b-59")
    assert not list(tmp_path.glob("*.damaged-*"))


def test_the_last_writer_of_a_setting_wins(tmp_path):
    path = tmp_path / "s.ini"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    for me in ("a", "b"):
        done = subprocess.run([sys.executable, "-c", WRITER, str(path), me, "1"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    s = settings_at(path)
    assert s.store.value("shared/last") == "b-0"
    assert s.store.value("own/a") in (0, "0") and s.store.value("own/b") in (0, "0")


# --- the log folder --------------------------------------------------------------------------

def test_a_read_only_log_folder_is_one_notice_and_the_window_starts(qtbot, tmp_path,
                                                                   small_disk):
    from app.services.logging_setup import setup_logging

    done = subprocess.run(["mount", "-o", "remount,ro", str(small_disk.path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only ({done.stderr.strip()})")
    path, problem = setup_logging(small_disk.path / "logs")
    assert path is None and problem.startswith(
        f"Could not write the log file in {small_disk.path / 'logs'} (Read-only file system)")
    win = MainWindow(settings=settings_at(tmp_path / "s.ini"), log_problem=problem)
    qtbot.addWidget(win)
    assert win.statusBar().currentMessage() == problem
    win.close()


def test_a_log_file_that_fills_its_disk_says_so_once(tmp_path, small_disk, capfd):
    import logging

    from app.services.logging_setup import setup_logging

    path, problem = setup_logging(small_disk.path / "logs")
    assert problem is None
    small_disk.fill()
    log = logging.getLogger("drrn-studio.test")
    for i in range(50):
        log.info("line %d %s", i, "x" * 2000)
    err = capfd.readouterr().err
    assert err.count(f"cannot write the log file {path}") == 1, err
    assert "Logging error" not in err and "Traceback" not in err
    small_disk.free_space()
    setup_logging(tmp_path / "logs")  # the next start logs again
    log.warning("after")
    assert "after" in (tmp_path / "logs" / "drrn-studio.log").read_text()

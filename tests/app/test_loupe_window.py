"""The loupe in the window: in the View menu and Help > Keyboard shortcuts, its state kept in the
window's settings file."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from app.dialogs.help import shortcut_rows


def test_the_loupe_is_in_the_view_menu_and_the_shortcuts(window):
    action = window.actions["loupe"]
    [view] = [a.menu() for a in window.menuBar().actions() if a.text() == "&View"]
    assert action in view.actions()
    assert action.shortcut().toString() == "L"
    rows = shortcut_rows(window.actions.values())
    assert any("Loupe" in label and keys == "L" for label, keys, _tip in rows)


def test_the_loupe_state_is_kept_in_the_windows_settings(window, tmp_path):
    window.actions["loupe"].setChecked(True)
    window.settings.store.sync()
    written = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert written.value("view/loupe") in (True, "true")

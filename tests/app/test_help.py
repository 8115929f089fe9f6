"""Help > Keyboard shortcuts (listed from the window's own actions) and Help > Getting started
(the manual shipped inside the app package, shown offline)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence

from app.dialogs import help as help_dialogs
from app.dialogs.help import GettingStartedDialog, ShortcutsDialog, action_label, shortcut_rows

ROOT = Path(__file__).resolve().parents[2]
JOURNEYS = ("Upscale a photo", "Evaluate against ground truth", "Batch a folder",
            "Benchmark Set5, Set14 and BSD100", "Train a model")


def _help_menu(window):
    (menu,) = [a.menu() for a in window.menuBar().actions() if a.text() == "&Help"]
    return menu


def _table(dialog: ShortcutsDialog) -> list[tuple[str, str]]:
    t = dialog.table
    return [(t.item(r, 0).text(), t.item(r, 1).text()) for r in range(t.rowCount())]


def test_the_help_menu_offers_the_guide_and_the_shortcuts(window):
    texts = [a.text() for a in _help_menu(window).actions() if not a.isSeparator()]
    assert texts[:2] == ["&Getting started", "&Keyboard shortcuts"]
    assert window.actions["guide"].shortcut() == QKeySequence(
        QKeySequence.StandardKey.HelpContents)


def test_every_shortcut_of_the_window_is_listed(window, qtbot):
    window._act("probe", "&Probe && check…", lambda: None, ["Ctrl+Alt+P", "Ctrl+Alt+P", "F9"],
                "An action added after the menus were built")
    window.actions["shortcuts"].trigger()
    dialog = window.findChild(ShortcutsDialog)
    assert dialog is not None and dialog.isVisible()
    rows = _table(dialog)
    native = QKeySequence.SequenceFormat.NativeText
    keyed = [a for a in window.actions.values()
             if any(k.toString(native) for k in a.shortcuts())]  # a platform may map none
    assert [label for label, _ in rows] == [action_label(a) for a in keyed]
    assert len(rows) >= 15
    for (_, keys), action in zip(rows, keyed, strict=True):
        listed = keys.split(", ")
        assert set(listed) == {k.toString(native) for k in action.shortcuts()} - {""}
        assert len(listed) == len(set(listed))
    assert ("Open", QKeySequence(QKeySequence.StandardKey.Open).toString(native)) in rows
    assert ("Upscale whole image", "Ctrl+Shift+U") in rows
    assert ("Probe & check", "Ctrl+Alt+P, F9") in rows  # each shortcut once
    assert "About DRRN Studio" not in [label for label, _ in rows]  # no shortcut: not listed
    window.actions["shortcuts"].trigger()  # again: the same dialog comes to the front
    assert window.findChildren(ShortcutsDialog) == [dialog]


def test_shortcut_rows_and_labels():
    a, b = QAction("Zoom &in"), QAction("E&xport…")
    a.setShortcuts([QKeySequence("+"), QKeySequence("=")])
    a.setStatusTip("Zoom in every pane")
    assert shortcut_rows([a, b]) == [("Zoom in", "+, =", "Zoom in every pane")]
    assert action_label(QAction("Save && go...")) == "Save & go"


def test_getting_started_is_the_manual_shipped_with_the_app(window, qtbot):
    text = help_dialogs.guide_text()
    assert text == (ROOT / "app" / "help" / "getting_started.md").read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [h.split(". ", 1)[-1] for h in headings[:5]] == list(JOURNEYS)
    window.actions["guide"].trigger()
    dialog = window.findChild(GettingStartedDialog)
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    shown = dialog.browser.toPlainText()
    assert all(journey in shown for journey in JOURNEYS)
    assert "##" not in shown  # rendered, not shown as source
    assert not dialog.browser.openLinks() and not dialog.browser.openExternalLinks()


def test_the_guide_names_only_shortcuts_the_window_has(window):
    """Every shortcut the manual quotes is one of the window's (a renamed key would leave the
    manual wrong)."""
    import re

    native = QKeySequence.SequenceFormat.NativeText
    keys = {k.toString(native) for a in window.actions.values() for k in a.shortcuts()}
    quoted = re.findall(r"\(((?:Ctrl|Esc|F\d)[^)]*)\)", help_dialogs.guide_text())
    assert quoted and set(quoted) <= keys, set(quoted) - keys


def test_the_guide_ships_in_the_wheel_and_the_bundle():
    """pyproject's package data (the wheel), MANIFEST.in (the sdist) and build.spec (the
    PyInstaller bundle: every data file of the app package) take the manual."""
    guides = sorted(p.relative_to(ROOT / "app").as_posix()
                    for p in (ROOT / "app" / "help").iterdir() if p.is_file())
    assert guides == ["help/getting_started.md"]
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["app"]
    assert all(any(fnmatch.fnmatch(g, pat) for pat in patterns) for g in guides)
    assert "recursive-include app/help *.md" in (ROOT / "MANIFEST.in").read_text().splitlines()
    assert 'collect_data_files("app")' in (ROOT / "build.spec").read_text()

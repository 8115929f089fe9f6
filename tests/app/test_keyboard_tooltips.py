"""Every control says what it does (a tooltip) and can be reached with the keyboard
(Tab focus); every menu action has a shortcut or a mnemonic."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QScrollBar,
    QTextEdit,
    QWidget,
)

INTERACTIVE = (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit, QAbstractSlider,
               QAbstractItemView, QPlainTextEdit, QTextEdit)
# Owned by another helper this session (app/tabs/batch.py): its results table gets its tooltip
# there. Listed by tab and class so that any other control without one still fails.
def _part_of_another_control(widget: QWidget) -> bool:
    """Scroll bars, a combo box's popup list, a line edit's clear button, a table's headers and
    corner button: parts of a control that carries the tooltip itself."""
    if isinstance(widget, QScrollBar):
        return True
    parent = widget.parentWidget()
    if isinstance(parent, QLineEdit | QAbstractItemView | QAbstractSpinBox):
        return True
    while parent is not None:
        if isinstance(parent, QComboBox):
            return True
        parent = parent.parentWidget()
    return False


def controls(tab: QWidget) -> list[QWidget]:
    return [w for w in tab.findChildren(QWidget)
            if isinstance(w, INTERACTIVE) and not _part_of_another_control(w)]


def _describe(w: QWidget) -> str:
    text = w.text() if isinstance(w, QAbstractButton | QLineEdit) else ""
    return f"{type(w).__name__} {w.objectName()!r} {text!r} in {type(w.parentWidget()).__name__}"


def test_every_enabled_control_has_a_tooltip(window):
    missing = []
    for i in range(window.tabs.count()):
        tab, name = window.tabs.widget(i), window.tabs.tabText(i)
        found = controls(tab)
        assert len(found) >= 5, f"{name}: found only {len(found)} controls"
        for w in found:
            if w.isEnabled() and not w.toolTip().strip():
                missing.append(f"{name}: {_describe(w)}")
    assert not missing, "controls without a tooltip:\n" + "\n".join(missing)


def test_every_control_takes_keyboard_focus(window):
    """Tab reaches every control: each accepts Tab focus and lies on the window's focus chain."""
    chain, w = [], window.nextInFocusChain()
    while w is not window and len(chain) < 10_000:
        chain.append(w)
        w = w.nextInFocusChain()
    chain_set = set(map(id, chain))
    unreachable = []
    for i in range(window.tabs.count()):
        tab, name = window.tabs.widget(i), window.tabs.tabText(i)
        for w in controls(tab):
            if isinstance(w, QAbstractSlider) or not w.isEnabled():
                continue
            tab_focus = bool(w.focusPolicy() & Qt.FocusPolicy.TabFocus)
            if not tab_focus or id(w) not in chain_set:
                unreachable.append(f"{name}: {_describe(w)}")
    assert not unreachable, "not reachable with Tab:\n" + "\n".join(unreachable)


def _actions(menu: QMenu, path: str):
    for action in menu.actions():
        if action.isSeparator():
            continue
        if action.menu() is not None:
            yield from _actions(action.menu(), f"{path} > {action.text()}")
        else:
            yield path, action


def _mnemonic_clash(menu: QMenu) -> list[str]:
    """Mnemonic letters used twice among one menu's own entries (one key, one action)."""
    letters = [a.text().split("&", 1)[1][:1].lower() for a in menu.actions()
               if "&" in a.text()]
    return sorted({x for x in letters if letters.count(x) > 1})


def test_every_menu_action_has_a_shortcut_or_mnemonic(window, tmp_path, astro_png):
    window.settings.add_recent(astro_png)  # so the recent menu has its items too
    window._rebuild_recent()
    top = [a for a in window.menuBar().actions() if not a.isSeparator()]
    assert all("&" in a.text() for a in top), [a.text() for a in top]  # Alt+F, Alt+V, Alt+H
    clashes = [m for m in window.menuBar().findChildren(QMenu) if _mnemonic_clash(m)]
    assert not clashes, [(m.title(), _mnemonic_clash(m)) for m in clashes]
    seen, lacking = 0, []
    for a in top:
        for path, action in _actions(a.menu(), a.text()):
            seen += 1
            if action.shortcut().isEmpty() and "&" not in action.text():
                lacking.append(f"{path} > {action.text()}")
    assert seen >= 20
    assert not lacking, "menu actions without shortcut or mnemonic:\n" + "\n".join(lacking)
    shortcuts = [s.toString() for a in window.actions.values() for s in a.shortcuts()]
    dupes = {s for s in shortcuts if shortcuts.count(s) > 1}
    assert not dupes, f"one shortcut, two actions: {dupes}"

"""The Training tab's fields are remembered across restarts (QSettings)."""

from __future__ import annotations

from app.main_window import MainWindow, settings_at
from app.tabs.training import BUDGETS, TrainingTab


def _fill(tab: TrainingTab, tmp_path) -> dict:
    (tmp_path / "hr").mkdir()
    tab.recipe_combo.setCurrentText("paper")  # fills in the recipe's own values...
    tab.data_field.set_path(tmp_path / "hr")
    tab.run_field.set_path(tmp_path / "run")
    tab.val_field.set_path(tmp_path / "val")
    tab.b_spin.setValue(2)
    tab.u_spin.setValue(3)
    tab.c_spin.setValue(24)
    tab.bn_check.setChecked(True)
    tab.patch_spin.setValue(33)  # ... which the user then changed
    tab.batch_spin.setValue(7)
    tab.val_every_spin.setValue(250)
    tab.budget_combo.setCurrentIndex(BUDGETS.index("Until iteration"))
    tab.budget_spin.setValue(1234)
    return tab.fields()


def test_training_fields_survive_a_restart(qtbot, tmp_path):
    ini = tmp_path / "settings.ini"
    first = TrainingTab(settings=settings_at(ini))
    qtbot.addWidget(first)
    fresh = first.fields()
    wanted = _fill(first, tmp_path)
    assert wanted != fresh
    first.settings.sync()
    first.close()
    second = TrainingTab(settings=settings_at(ini))  # a new process reads the same file
    qtbot.addWidget(second)
    assert second.fields() == wanted
    assert second.patch_spin.value() == 33 and second.recipe_combo.currentText() == "paper"
    other = TrainingTab(settings=settings_at(tmp_path / "elsewhere.ini"))
    qtbot.addWidget(other)
    assert other.fields() == fresh  # nothing stored: the defaults


def test_training_fields_in_the_app_window(qtbot, tmp_path):
    win = MainWindow(settings=settings_at(tmp_path / "window.ini"))
    qtbot.addWidget(win)
    wanted = _fill(win.extra_tabs["training"], tmp_path)
    win.close()
    assert settings_at(tmp_path / "window.ini").training_fields == wanted  # the window's store
    again = MainWindow(settings=settings_at(tmp_path / "window.ini"))
    qtbot.addWidget(again)
    assert again.extra_tabs["training"].fields() == wanted
    again.close()


def test_bad_stored_values_fall_back(qtbot, tmp_path):
    settings = settings_at(tmp_path / "s.ini")
    settings.store.setValue("training/recipe", "no-such-recipe")
    settings.store.setValue("training/patch", "not a number")
    settings.store.setValue("training/budget_kind", 99)
    settings.store.setValue("training/batch", 10**9)
    tab = TrainingTab(settings=settings)
    qtbot.addWidget(tab)
    assert tab.recipe_combo.currentText() == "fast"
    assert tab.patch_spin.value() == 41  # the fast recipe's
    assert tab.budget_combo.currentIndex() == 0
    assert tab.batch_spin.value() == tab.batch_spin.maximum()  # clamped

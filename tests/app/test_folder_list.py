"""The dataset folder list: a path that is not a folder (a symbolic-link loop, a missing folder,
a file) is refused with one line saying why, in the Benchmark tab's message line."""

from __future__ import annotations

import os

import pytest

from app.tabs._widgets import FolderList
from app.tabs.benchmark import BenchmarkTab


@pytest.mark.parametrize("kind, why", [("loop", "a symbolic-link loop"),
                                       ("missing", "file not found"),
                                       ("file", "a file, not a folder")])
def test_a_path_that_is_not_a_folder_is_refused_in_one_line(qtbot, tmp_path, kind, why):
    path = tmp_path / "a"
    if kind == "loop":
        os.symlink("a", path)
    elif kind == "file":
        path.write_text("x")
    folders = FolderList()
    qtbot.addWidget(folders)
    with qtbot.waitSignal(folders.refused) as refused:
        assert folders.add_folder(path) is False
    assert refused.args[0].startswith(f"{path}: {why}") and "\n" not in refused.args[0]
    assert folders.folders() == []


def test_the_benchmark_tab_says_why_a_folder_is_refused(qtbot, tmp_path):
    os.symlink("loop", tmp_path / "loop")
    tab = BenchmarkTab()
    qtbot.addWidget(tab)
    assert tab.add_dataset(tmp_path / "loop") is False
    assert "symbolic-link loop" in tab.message.text() and tab.message.is_error()
    (tmp_path / "Set5").mkdir()
    assert tab.add_dataset(tmp_path / "Set5") is True

"""Atomic writes: the target appears whole or not at all, and an old file survives a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from drrn_core.atomic import atomic_path


def test_success_replaces_the_target_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"  # not visible until the block ends
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failure_keeps_the_old_file_and_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_missing_folder_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError), atomic_path(tmp_path / "nope" / "x.txt"):
        pass


def test_write_text_atomic_writes_utf8_and_refuses_in_one_line(tmp_path) -> None:
    from drrn_core.atomic import write_text_atomic
    from drrn_core.errors import OutputError, UserError

    target = tmp_path / "scores.md"
    write_text_atomic(target, "| PSNR | 33.02 dB — ok |\n")
    assert target.read_text(encoding="utf-8") == "| PSNR | 33.02 dB — ok |\n"
    for bad, words in ((tmp_path / "missing" / "a.csv", "not an existing folder"),
                       (tmp_path, "is a directory")):
        try:
            write_text_atomic(bad, "x")
        except OutputError as exc:
            assert isinstance(exc, UserError) and words in str(exc) and "\n" not in str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.md"]


def test_a_signal_while_the_temporary_file_is_created_leaves_nothing(tmp_path, monkeypatch,
                                                                     ctrl_c_raises):
    """Ctrl-C (or the CLI's SIGTERM) arriving just after the temporary file exists, before the
    writer knows its name: held until the name is known, then cleaned up like any other stop."""
    import os
    import signal
    import tempfile

    import pytest

    from drrn_core.atomic import atomic_path

    real = tempfile.mkstemp

    def mkstemp_then_signal(*a, **k):
        made = real(*a, **k)
        os.kill(os.getpid(), signal.SIGINT)  # lands here unless held
        return made

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_signal)
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "out.png") as tmp:
        tmp.write_bytes(b"never finished")
    assert os.listdir(tmp_path) == []

"""A run's log.csv: what the loop writes reads back as the same curves."""

from __future__ import annotations

from drrn_core.trainer.runlog import LOG_NAME, RunLog, parse_rows, read_history


def test_written_rows_read_back_as_curves(tmp_path) -> None:
    log = RunLog(tmp_path)
    for it in (10, 20, 30):
        log.write(iteration=it, epoch=0, loss=f"{1 / it:.6g}", patches_per_s=f"{50 + it}")
        if it % 20 == 0:
            log.write_validation(it, {2: 36.1234, 3: 32.5})
    history = read_history(tmp_path)
    assert history.loss == [(10, 0.1), (20, 0.05), (30, 0.0333333)]
    assert history.rates == [60.0, 70.0, 80.0]
    assert history.psnr == {2: [(20, 36.123)], 3: [(20, 32.5)]}
    assert read_history(tmp_path, up_to=10).loss == [(10, 0.1)]
    assert read_history(tmp_path, up_to=10).psnr == {}


def test_a_resume_drops_rows_past_the_checkpoint_and_torn_rows_are_skipped(tmp_path) -> None:
    log = RunLog(tmp_path)
    for it in (10, 20, 30):
        log.write(iteration=it, loss="0.5")
    RunLog(tmp_path, resumed_at=20)  # the process died after logging 30, checkpointed at 20
    assert [i for i, _ in read_history(tmp_path).loss] == [10, 20]
    with open(tmp_path / LOG_NAME, "a") as f:
        f.write("40,0,0.4\n")  # a short row: its loss counts
        f.write("5x,0,oops\n50,0,not-a-number\n60,0,0.3,0.1,fast")  # skipped; torn at the end
    assert [i for i, _ in read_history(tmp_path).loss] == [10, 20, 40]


def test_no_log_is_an_empty_history(tmp_path) -> None:
    history = read_history(tmp_path / "nowhere")
    assert (history.loss, history.psnr, history.rates) == ([], {}, [])


def test_a_damaged_log_reads_what_it_can_and_never_raises(tmp_path) -> None:
    log = RunLog(tmp_path)
    for it in (10, 20, 30):
        log.write(iteration=it, loss="0.5")
    good = (tmp_path / LOG_NAME).read_bytes()
    cases = [  # (bytes, iterations read back, whole rows, damaged)
        (b"\xff\xfe\x00garbage\x00\n" * 50, [], 0, True),
        (good.replace(b"20,", b"\x0020,"), [10, 20, 30], 3, True),  # NULs dropped
        (good + b'40,0,"unterminated\n', [10, 20, 30], 3, True),
        (b"", [], 0, True),
        (good[:good.index(b"20,") + 4], [10], 1, True),  # torn in row 20
        (good, [10, 20, 30], 3, False),
    ]
    for broken, iterations, whole, damaged in cases:
        (tmp_path / LOG_NAME).write_bytes(broken)
        assert [i for i, _ in read_history(tmp_path).loss] == iterations, broken[:40]
        rows, problem = parse_rows(broken)
        assert len(rows) == whole and all(len(r) == 7 for r in rows), broken[:40]
        assert (problem is not None) == damaged, broken[:40]


def test_a_resume_rebuilds_a_damaged_log_once(tmp_path) -> None:
    log = RunLog(tmp_path)
    for it in (10, 20, 30):
        log.write(iteration=it, loss="0.5")
    torn = (tmp_path / LOG_NAME).read_bytes()[:-5]
    (tmp_path / LOG_NAME).write_bytes(torn)
    notes: list[str] = []
    RunLog(tmp_path, resumed_at=30, warn=notes.append)
    assert len(notes) == 1 and "1 unreadable row(s)" in notes[0]
    assert (tmp_path / "log.damaged-1.csv").read_bytes() == torn
    assert [i for i, _ in read_history(tmp_path).loss] == [10, 20]
    RunLog(tmp_path, resumed_at=30, warn=notes.append)  # whole now: no second notice
    assert len(notes) == 1

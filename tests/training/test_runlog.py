"""A run's log.csv: what the loop writes reads back as the same curves."""

from __future__ import annotations

from drrn_core.training.runlog import LOG_NAME, RunLog, read_history


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

"""app.workers: results, errors, cancel, generator jobs, pause, the generation guard."""

from __future__ import annotations

import math
import sys
import time

import pytest
from PySide6.QtCore import QObject, Signal

from app.workers import (
    EtaEstimator,
    Generation,
    JobCancelled,
    describe_error,
    format_eta,
    shutdown_jobs,
    start_job,
)


def test_result_and_progress(qtbot):
    seen = []

    def work(ctx, n):
        for i in range(n):
            ctx.progress(i / n)
        ctx.progress(1.0)
        return n * 2

    job = start_job(work, 5)
    job.progressed.connect(lambda f, eta, msg: seen.append(f))
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert job.result == 10
    assert seen and seen[-1] == 1.0


def test_error_is_reported_not_raised(qtbot):
    def work(ctx):
        raise ValueError("bad thing\nmore")

    job = start_job(work)
    with qtbot.waitSignal(job.failed, timeout=5000) as blocker:
        pass
    assert describe_error(blocker.args[0]) == "ValueError: bad thing"


def test_cancel_stops_quickly(qtbot):
    def work(ctx):
        while True:
            ctx.check()
            time.sleep(0.01)

    job = start_job(work)
    qtbot.wait(50)
    t0 = time.monotonic()
    with qtbot.waitSignal(job.cancelled, timeout=2000):
        job.cancel()
    assert time.monotonic() - t0 < 1.0
    assert not job.is_running()


def test_generator_job_yields_pauses_and_closes(qtbot):
    closed = []
    items = []

    def gen():
        try:
            i = 0
            while True:
                yield i
                i += 1
                time.sleep(0.005)
        finally:
            closed.append(True)

    job = start_job(lambda ctx: gen())
    job.yielded.connect(items.append)
    qtbot.waitUntil(lambda: len(items) >= 3, timeout=3000)
    job.pause()
    qtbot.wait(100)
    n = len(items)
    qtbot.wait(100)
    assert len(items) <= n + 1
    with qtbot.waitSignal(job.cancelled, timeout=2000):
        job.cancel()
    assert closed == [True]


def test_generator_return_value(qtbot):
    def gen():
        yield 1
        return "done"

    job = start_job(lambda ctx: gen())
    with qtbot.waitSignal(job.succeeded, timeout=3000) as blocker:
        pass
    assert blocker.args == ["done"]


def test_shutdown_jobs_joins(qtbot):
    job = start_job(lambda ctx: [time.sleep(0.01) or ctx.check() for _ in range(1000)])
    assert shutdown_jobs(2000)
    qtbot.waitUntil(lambda: not job.is_running(), timeout=2000)


def test_generation_and_eta():
    g = Generation()
    a = g.next()
    b = g.next()
    assert not g.is_current(a) and g.is_current(b)
    t = [0.0]
    eta = EtaEstimator(clock=lambda: t[0])
    assert math.isnan(eta.eta(0.5))
    t[0] = 10.0
    assert eta.eta(0.5) == pytest.approx(10.0)
    assert format_eta(75) == "ETA 1:15" and format_eta(math.nan) == ""
    with pytest.raises(JobCancelled):
        raise JobCancelled()


class _Emitter(QObject):
    flag = Signal(bool)


def test_qt_calls_do_not_exhaust_none_and_true():
    """PySide6 6.12.0 on CPython 3.11 drops a reference to None per void call and to True per
    emit(), which aborts the interpreter within this loop: pyproject.toml keeps PySide6 < 6.12."""
    e = _Emitter()
    e.flag.connect(lambda _b: None)
    for _ in range(100_000):
        e.setObjectName("x")
        e.flag.emit(False)
    assert sys.getrefcount(None) > 1000 and sys.getrefcount(True) > 1000


def test_the_last_throttled_progress_is_delivered(qtbot):
    seen = []

    def work(ctx):
        ctx.progress(0.1)
        ctx.progress(0.75)  # within the throttle interval: held back, then flushed

    job = start_job(work)
    job.progressed.connect(lambda f, eta, msg: seen.append(f))
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert seen == [0.1, 0.75]


def test_a_failed_jobs_traceback_goes_to_the_log_file(qtbot, tmp_path):
    import logging

    from app.services.logging_setup import setup_logging

    path, problem = setup_logging(tmp_path / "logs")
    assert problem is None

    def deep_inside(ctx):
        raise RuntimeError("the worker broke")

    job = start_job(deep_inside, name="exploding")
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "job 'exploding' failed: RuntimeError: the worker broke" in text
    assert "Traceback (most recent call last)" in text and "in deep_inside" in text
    assert job.error.__drrn_traceback__ in text

    cancelled = start_job(lambda ctx: (ctx.check(), time.sleep(0.2), ctx.check()), name="calm")
    cancelled.cancel()
    with qtbot.waitSignal(cancelled.finished, timeout=5000):
        pass
    assert "'calm'" not in path.read_text(encoding="utf-8")  # a cancel is not a failure


def test_errors_are_classified_by_type_not_by_name():
    from app.tabs._widgets import user_message
    from drrn_core.engine.device import DeviceError
    from drrn_core.engine.upscale import OutOfMemory as EngineOutOfMemory
    from drrn_core.errors import UserError
    from drrn_core.trainer.checkpoint import CheckpointError

    class OutOfMemory(Exception):  # same name as the engine's, not the engine's
        pass

    class CheckpointErrorLookalike(RuntimeError):
        pass

    CheckpointErrorLookalike.__name__ = "CheckpointError"
    assert describe_error(EngineOutOfMemory("tiles do not fit")) == "tiles do not fit"
    assert describe_error(OutOfMemory("tiles do not fit")) == "OutOfMemory: tiles do not fit"
    assert describe_error(DeviceError("no CUDA here")) == "no CUDA here"
    assert describe_error(UserError("bad file")) == "bad file"
    assert user_message(CheckpointError("cannot write")) == "cannot write"
    assert user_message(CheckpointErrorLookalike("x")) == "CheckpointError: x"
    assert user_message(ValueError("scale must be 2-8\ndetails")) == "scale must be 2-8"
    assert user_message(KeyError("k")) == "KeyError: 'k'"


@pytest.mark.parametrize("outcome", ["ok", "error"])
def test_every_job_gives_its_freed_memory_back(qtbot, monkeypatch, outcome):
    """After a job (succeeded or failed) the heap it freed goes back to the OS
    (drrn_core.memory): an app opening photo after photo keeps its memory."""
    import app.workers as workers

    released = []
    monkeypatch.setattr(workers, "release_free_memory", lambda: released.append(1))

    def work(ctx):
        if outcome == "error":
            raise ValueError("boom")
        return bytearray(1 << 20)

    job = start_job(work)
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    job.wait(5000)  # the release runs as the worker thread ends, after it reported
    assert released == [1]

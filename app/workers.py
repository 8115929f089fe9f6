"""Background jobs for the GUI: run a function (or drain a generator) on a QThread.

This is the one place the app starts threads; every tab uses it the same way. The API is stable:

    from app.workers import start_job

    def work(ctx, image, scale):             # runs on a worker thread; never touch widgets here
        return upscaler.upscale(image, scale, progress=ctx.progress, cancel=ctx.cancelled)

    job = start_job(work, image, 2.0, name="upscale")
    job.progressed.connect(lambda frac, eta, msg: ...)  # fraction in [0,1], ETA seconds or NaN
    job.succeeded.connect(lambda result: ...)
    job.failed.connect(lambda exc: show(describe_error(exc)))
    job.cancelled.connect(...)
    job.finished.connect(...)                # always emitted last, exactly once
    job.cancel()                             # returns at once; see below

* ``fn(ctx, *args, **kwargs)`` receives a :class:`JobContext` first. ``ctx.progress(fraction,
  message="")`` reports progress (throttled to ~20 Hz, thread-safe) and ``ctx.cancelled`` is a
  ``() -> bool`` callable, so both can be handed straight to ``drrn_core.engine`` callbacks.
* ``ctx.emit(item)`` delivers an item on ``yielded`` from inside a long call (e.g. an engine
  run's finished tiles); the caller throttles.
* If ``fn`` returns a generator/iterator (e.g. ``drrn_core.trainer.loop.iter_training``), the
  job drains it: each item is emitted on ``yielded`` (in the GUI thread). Between items the job
  honours :meth:`Job.pause` / :meth:`Job.resume` (it stops pulling) and :meth:`Job.cancel`
  (it calls the generator's ``close()``, which lets it checkpoint). The generator's return value
  (``StopIteration.value``) is the result passed to ``succeeded``.
* A job whose cancel was requested ends with ``cancelled`` (never ``succeeded``/``failed``),
  whatever the function did afterwards (returned, raised ``engine.Cancelled``, ...).
* All signals are delivered in the thread that created the job (the GUI thread).
* Running jobs are kept alive by a module registry; :func:`shutdown_jobs` cancels and joins them
  (the main window calls it on close).
* A finished job holds nothing of its run: the thread drops the function and its arguments
  when it ends, and every connection to the job's signals is dropped after ``finished``, so a
  handler that holds the job (``lambda job=job: ...``) does not keep it, and the image its
  function captured, for the rest of the process (issue 25.2: a job per opened photo kept
  each photo's pixels).
* A failed job's traceback goes to the log (``drrn-studio.jobs``, so the log file of
  app.services.logging_setup) with the job's name; the exception carries it as
  ``__drrn_traceback__``.

Why a QThread per job and not superqt's thread workers: those are QRunnables on the global
QThreadPool, whose size is the number of cores, so on a 2-core machine a long training run plus a
Compare run would leave a third job (a benchmark, the device list) queued with no progress.

:class:`Generation` is the stale-result guard: bump it when inputs change, and drop any result
whose generation is no longer current.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QMetaMethod, QObject, QThread, QTimer, Signal, Slot

from drrn_core.errors import UserError
from drrn_core.memory import release_free_memory

__all__ = [
    "CancelToken",
    "EtaEstimator",
    "Generation",
    "Job",
    "JobCancelled",
    "JobContext",
    "describe_error",
    "format_eta",
    "running_jobs",
    "shutdown_jobs",
    "start_job",
]

_PROGRESS_INTERVAL_S = 0.05
log = logging.getLogger("drrn-studio.jobs")


class JobCancelled(Exception):
    """Raised by :meth:`JobContext.check` when the job's cancel was requested."""


class CancelToken:
    """A thread-safe cancel flag; calling it returns whether cancel was requested."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def is_cancelled(self) -> bool:
        return self._event.is_set()

    __call__ = is_cancelled


class EtaEstimator:
    """Remaining-time estimate from elapsed time and completed fraction (NaN while unknown)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()

    def restart(self) -> None:
        self._start = self._clock()

    def elapsed(self) -> float:
        return self._clock() - self._start

    def eta(self, fraction: float) -> float:
        elapsed = self.elapsed()
        if fraction <= 0.01 or elapsed < 0.2:
            return math.nan
        if fraction >= 1.0:
            return 0.0
        return elapsed * (1.0 - fraction) / fraction


def format_eta(seconds: float) -> str:
    """'ETA 0:42' style text, or '' when unknown."""
    if not math.isfinite(seconds):
        return ""
    s = int(round(seconds))
    return f"ETA {s // 60}:{s % 60:02d}"


class Generation:
    """Monotonic counter used to discard results computed for superseded inputs."""

    def __init__(self) -> None:
        self._value = 0

    @property
    def current(self) -> int:
        return self._value

    def next(self) -> int:
        """Invalidate every earlier generation and return the new one."""
        self._value += 1
        return self._value

    def is_current(self, generation: int) -> bool:
        return generation == self._value


class JobContext:
    """What the job function sees: progress reporting and the cancel flag (thread-safe)."""

    def __init__(self, thread: _JobThread, token: CancelToken) -> None:
        self._thread = thread
        self._token = token
        self._eta = EtaEstimator()
        self._last_emit = 0.0
        self._pending: tuple[float, str] | None = None

    def progress(self, fraction: float, message: str = "") -> None:
        """Report completion in [0, 1]; emissions are throttled except for 0 and 1 (the last
        throttled value is still delivered when the job ends)."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = time.monotonic()
        if 0.0 < fraction < 1.0 and now - self._last_emit < _PROGRESS_INTERVAL_S:
            self._pending = (fraction, message)
            return
        self._last_emit = now
        self._pending = None
        self._thread.progressed.emit(fraction, self._eta.eta(fraction), message)

    def flush(self) -> None:
        """Deliver a progress value that throttling held back."""
        if self._pending is not None:
            fraction, message = self._pending
            self._pending = None
            self._thread.progressed.emit(fraction, self._eta.eta(fraction), message)

    def emit(self, item: object) -> None:
        """Deliver ``item`` on the job's ``yielded`` signal now, from inside a long call (e.g.
        tiles of an engine run); items stay in order with a generator's own items. The caller
        throttles: every item is a queued signal the GUI thread handles."""
        self._thread.yielded.emit(item)

    def cancelled(self) -> bool:
        """True once cancel was requested (pass this as an engine ``cancel=`` callback)."""
        return self._token.is_cancelled()

    def check(self) -> None:
        """Raise :class:`JobCancelled` if cancel was requested."""
        if self._token.is_cancelled():
            raise JobCancelled()


class _JobThread(QThread):
    """Runs the function; reports through queued signals to the owning :class:`Job`."""

    progressed = Signal(float, float, str)
    yielded = Signal(object)
    outcome = Signal(str, object)  # "ok" | "error" | "cancelled", payload

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, token: CancelToken,
                 resume: threading.Event, name: str = "job") -> None:
        super().__init__()
        self._fn: Callable[..., Any] | None = fn  # None once run (nothing of it is kept)
        self._args, self._kwargs = args, kwargs
        self._name = name
        self._token = token
        self._resume = resume

    def run(self) -> None:  # noqa: D102 - QThread entry point
        try:
            self._run()
        finally:
            # Nothing of the run stays with the thread object (a finished job may be kept by
            # whoever started it): then its buffers are freed, give them back to the OS.
            self._fn, self._args, self._kwargs = None, (), {}
            release_free_memory()

    def _run(self) -> None:
        ctx = JobContext(self, self._token)
        fn = self._fn
        assert fn is not None  # a job runs once
        try:
            result = fn(ctx, *self._args, **self._kwargs)
            if isinstance(result, Iterator):
                result = self._drain(result)
        except BaseException as exc:  # noqa: BLE001 - everything is reported, nothing escapes
            ctx.flush()
            if self._token.is_cancelled():
                self.outcome.emit("cancelled", None)
            else:
                exc.__drrn_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
                log.error("job %r failed: %s\n%s", self._name, describe_error(exc),
                          exc.__drrn_traceback__)  # type: ignore[attr-defined]
                self.outcome.emit("error", exc)
            return
        ctx.flush()
        self.outcome.emit("cancelled" if self._token.is_cancelled() else "ok", result)

    def _drain(self, gen: Iterator) -> Any:
        while True:
            while not self._resume.wait(0.05):
                if self._token.is_cancelled():
                    break
            if self._token.is_cancelled():
                close = getattr(gen, "close", None)
                if close is not None:
                    close()
                return None
            try:
                item = next(gen)
            except StopIteration as stop:
                return stop.value
            self.yielded.emit(item)


_RUNNING: set[Job] = set()
_ENDED: list[Job] = []
"""Finished jobs whose connections were dropped, kept until the event loop's next turn so
that none is deleted inside its own slot."""


def _forget_ended() -> None:
    _ENDED.clear()


class Job(QObject):
    """Handle to one background run; lives in (and signals to) the creating thread."""

    progressed = Signal(float, float, str)
    """fraction in [0, 1], ETA in seconds (NaN while unknown), message."""
    yielded = Signal(object)
    """Each item of a generator job."""
    succeeded = Signal(object)
    """The function's return value (or the generator's return value)."""
    failed = Signal(object)
    """The exception; ``describe_error(exc)`` gives a one-line message."""
    cancelled = Signal()
    finished = Signal()
    """Always last, exactly once, after one of succeeded / failed / cancelled."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "",
                 parent: QObject | None = None, **kwargs: Any) -> None:
        super().__init__(parent)
        self.name = name or getattr(fn, "__name__", "job")
        self.token = CancelToken()
        self._resume = threading.Event()
        self._resume.set()
        self._thread = _JobThread(fn, args, kwargs, self.token, self._resume, self.name)
        self._thread.progressed.connect(self._on_progress)
        self._thread.yielded.connect(self._on_yielded)
        self._thread.outcome.connect(self._on_outcome)
        self._done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def start(self) -> Job:
        _RUNNING.add(self)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Request cancellation; returns at once. ``cancelled`` follows when the thread ends."""
        self.token.cancel()
        self._resume.set()

    def pause(self) -> None:
        """Generator jobs only: stop pulling items until :meth:`resume`."""
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def is_running(self) -> bool:
        return not self._done

    def wait(self, msecs: int = -1) -> bool:
        """Block until the worker thread ends (signals may still be queued); True if it did."""
        return self._thread.wait() if msecs < 0 else self._thread.wait(msecs)

    @Slot(float, float, str)
    def _on_progress(self, fraction: float, eta: float, message: str) -> None:
        if not self.token.is_cancelled():
            self.progressed.emit(fraction, eta, message)

    @Slot(object)
    def _on_yielded(self, item: object) -> None:
        self.yielded.emit(item)

    @Slot(str, object)
    def _on_outcome(self, kind: str, payload: object) -> None:
        self._thread.wait()
        self._done = True
        _RUNNING.discard(self)
        if kind == "ok":
            self.result = payload
            self.succeeded.emit(payload)
        elif kind == "error":
            self.error = payload  # type: ignore[assignment]
            self.failed.emit(payload)
        else:
            self.cancelled.emit()
        self.finished.emit()
        self._disconnect_all()

    def _disconnect_all(self) -> None:
        """Drop every connection to this job's signals (none is emitted after ``finished``):
        a handler holding the job (``lambda job=job: ...``) makes a cycle through Qt that
        Python's collector cannot see, which kept every job and its arguments alive."""
        meta = self.metaObject()
        # PySide6's hints omit the class attribute staticMetaObject.
        first = QObject.staticMetaObject.methodCount()  # type: ignore[attr-defined]
        for i in range(first, meta.methodCount()):
            method = meta.method(i)
            if (method.methodType() == QMetaMethod.MethodType.Signal
                    and self.isSignalConnected(method)):
                getattr(self, bytes(method.name().data()).decode()).disconnect()
        _ENDED.append(self)
        QTimer.singleShot(0, _forget_ended)


def start_job(fn: Callable[..., Any], *args: Any, name: str = "",
              parent: QObject | None = None, **kwargs: Any) -> Job:
    """Create and start a :class:`Job` running ``fn(ctx, *args, **kwargs)``."""
    return Job(fn, *args, name=name, parent=parent, **kwargs).start()


def running_jobs() -> list[Job]:
    return list(_RUNNING)


def shutdown_jobs(timeout_ms: int = 3000) -> bool:
    """Cancel every running job and wait for their threads; True if all ended in time."""
    jobs = list(_RUNNING)
    for job in jobs:
        job.cancel()
    deadline = time.monotonic() + timeout_ms / 1000
    ok = True
    for job in jobs:
        left = max(0, int((deadline - time.monotonic()) * 1000))
        ok = job.wait(left) and ok
    return ok


def describe_error(exc: BaseException) -> str:
    """A one-line message for the user (the class name is added for unexpected errors)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, MemoryError) and not text:
        return "Out of memory: try a smaller image or scale, or the CPU device."
    if isinstance(exc, UserError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

"""The app's log file (platformdirs.user_log_dir("drrn-studio")) and its last-resort excepthook.

Neither may stop the app from starting: when the log folder is not writable, logging goes to
stderr only and :func:`setup_logging` returns a message the window shows in its status bar.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import platformdirs

LOG_NAME = "drrn-studio"
log = logging.getLogger(LOG_NAME)


def default_log_dir() -> Path:
    """$DRRN_LOG_DIR, else the platform's user log folder for drrn-studio."""
    override = os.environ.get("DRRN_LOG_DIR")
    return Path(override) if override else Path(platformdirs.user_log_dir(LOG_NAME))


class _LogFile(logging.handlers.RotatingFileHandler):
    """The rotating log file, which goes quiet when it cannot be written any more (a full disk,
    the folder removed or made read-only while the app runs): one line on stderr the first time,
    then nothing, instead of logging's traceback for every later message. Logging to stderr
    goes on."""

    failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        if self.failed:
            return
        self.failed = True
        reason = sys.exc_info()[1]
        why = getattr(reason, "strerror", None) or reason or "unknown error"
        with contextlib.suppress(OSError, ValueError, AttributeError):  # no or a closed stderr
            sys.stderr.write(f"{LOG_NAME}: cannot write the log file {self.baseFilename} "
                             f"({why}); logging to the console only\n")


def setup_logging(log_dir: Path | None = None) -> tuple[Path | None, str | None]:
    """Log to ``log_dir/drrn-studio.log`` (rotating) and stderr.

    Returns (log file path or None, a one-line problem description or None).
    """
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not any(getattr(h, "_drrn", False) for h in root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(logging.WARNING)
        stream.setFormatter(fmt)
        stream._drrn = True  # type: ignore[attr-defined]
        root.addHandler(stream)
    log_dir = log_dir or default_log_dir()
    path = log_dir / f"{LOG_NAME}.log"
    for handler in list(root.handlers):
        if getattr(handler, "_drrn_file", False):
            root.removeHandler(handler)
            handler.close()
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = _LogFile(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError as exc:
        problem = f"Could not write the log file in {log_dir} ({exc.strerror or exc}); "
        problem += "logging to the console only."
        log.warning(problem)
        return None, problem
    handler.setFormatter(fmt)
    handler._drrn_file = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    log.info("log file: %s", path)
    return path, None


ErrorDisplay = Callable[[str, str], None]


def install_excepthook(show: ErrorDisplay) -> None:
    """Route uncaught exceptions to the log and ``show(summary, details)`` instead of dying."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        details = "".join(traceback.format_exception(kind, exc, tb))
        log.error("uncaught exception\n%s", details)
        try:
            show(f"{kind.__name__}: {exc}", details)
        except Exception:  # noqa: BLE001 - the hook itself must never raise
            sys.__excepthook__(kind, exc, tb)

    sys.excepthook = hook

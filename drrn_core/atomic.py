"""Atomic file writes: every output, weight file and checkpoint goes through here.

The temporary file sits beside the target as ``.<name>.<pid>.<random>.part``. It is removed on any
error, Ctrl-C or (in the CLI) SIGTERM; after a hard kill (SIGKILL, power loss) the next atomic
write of the same target removes the ones whose process no longer runs. Nothing else is touched:
only names of exactly that pattern, for that target, from a dead process.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import: mkstemp creates 0600 files, outputs get the usual mode
PART_SUFFIX = ".part"


def part_pattern(name: str, name_regex: str | None = None) -> re.Pattern[str]:
    """The temporary-file names of ``atomic_path`` for a target called ``name`` (or any name
    matching ``name_regex``): group 1 = the writer's pid."""
    target = re.escape(name) if name_regex is None else f"(?:{name_regex})"
    return re.compile(rf"\.{target}\.(\d+)\.[A-Za-z0-9_]{{8}}{re.escape(PART_SUFFIX)}")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (True when unsure)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() != 87  # ERROR_INVALID_PARAMETER: no such process
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. EPERM: it exists, owned by someone else
    return True


def remove_stale_parts(path: str | os.PathLike, name_regex: str | None = None) -> list[Path]:
    """Remove the temporary files a killed process left for ``path`` (pattern above, process
    gone), or for every name in ``path``'s folder matching ``name_regex`` (e.g. numbered
    variants of an output name); the paths removed. Errors are ignored: this is housekeeping."""
    target = Path(path)
    pattern = part_pattern(target.name, name_regex)
    removed: list[Path] = []
    try:
        names = os.listdir(target.parent)
    except OSError:
        return removed
    for name in names:
        m = pattern.fullmatch(name)
        if m and not pid_alive(int(m.group(1))):
            with suppress(OSError):
                (target.parent / name).unlink()
                removed.append(target.parent / name)
    return removed


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; write it in the ``with`` body. On success the file
    is fsynced and renamed over ``path`` in one step; on any error it is removed and ``path`` is
    untouched. OSError (missing folder, no permission, full disk) propagates to the caller.
    Stale temporary files of ``path`` from killed runs are removed first."""
    target = Path(path)
    remove_stale_parts(target)
    tmp: str | None = None
    try:
        # Ctrl-C / SIGTERM raise in the CLI: held while the file is created and named, so none
        # can land between the two and leave a file this block does not know about.
        with signals_held():
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=PART_SUFFIX,
                                       prefix=f".{target.name}.{os.getpid()}.")
            os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # after the body: some writers (safetensors) recreate it
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM during a few steps that must happen together: their handlers run
    when the block ends (in the main thread; elsewhere a no-op). Python-level, not a signal
    mask: a mask set in one thread does not stop the kernel handing the signal to another
    (torch, Qt and OpenMP start threads), which would still run the handler mid-block."""
    held = (signal.SIGINT, signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or any(
            signal.getsignal(s) is None for s in held):  # a handler set outside Python: keep it
        yield
        return
    pending: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _frame: pending.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for signum in pending:
            signal.raise_signal(signum)  # now the real handler runs (e.g. KeyboardInterrupt)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file atomically; OutputError (one line) when its folder is missing, it
    names a folder, or the write fails."""
    from drrn_core.errors import OutputError

    path = Path(path)
    if not path.parent.is_dir():
        raise OutputError(f"{path}: cannot write, {path.parent} is not an existing folder")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory, expected a file name")
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(text.encode("utf-8"))
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None

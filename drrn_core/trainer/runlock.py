"""One trainer per run folder: an exclusive lock on ``RUN/train.lock`` while a run trains.

The lock is the operating system's, taken on an open file (``flock`` on POSIX, ``msvcrt.locking``
on Windows), so it goes away with the process however that ends (Ctrl-C, SIGKILL, a crash, a
power cut): a killed trainer never leaves its run locked, and nothing has to be cleaned up by
hand. The file holds the holder's pid, for the refusal message only; it stays in the run folder
(removed with a new run that never reached its first checkpoint).

Every trainer takes it: ``drrn train``, the harvester (which runs ``drrn train``; it also asks
``flock(1)`` before starting, so it never records a second trainer's pid) and the app's Training
tab (all through ``loop.iter_training``). Under torchrun only rank 0 takes it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from drrn_core.errors import UserError

LOCK_NAME = "train.lock"


class RunBusy(UserError, RuntimeError):
    """The run folder is being trained by another process; one line naming it."""


class RunLock:
    """A held lock on a run folder; :meth:`release` (or the end of the process) lets it go."""

    def __init__(self, run_dir: Path, fd: int, created: list[Path]) -> None:
        self.run_dir = run_dir
        self._fd: int | None = fd
        self.created = created  # folders made for the lock (a new run), outermost first

    @property
    def path(self) -> Path:
        return self.run_dir / LOCK_NAME

    def release(self, remove: bool = False) -> None:
        """Let the lock go; ``remove``: delete the lock file first (while still holding it, so
        no other process can hold the one being removed)."""
        if self._fd is None:
            return
        if remove:
            with contextlib.suppress(OSError):
                self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)  # closing the last descriptor releases the lock
        self._fd = None


def holder(run_dir: Path) -> int | None:
    """The pid written in a run's lock file (whoever held it last), or None."""
    try:
        text = (Path(run_dir) / LOCK_NAME).read_text(encoding="ascii", errors="replace")
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` without waiting; False when another process holds it."""
    if sys.platform == "win32":  # os.name == "nt", in the form type checkers understand
        import msvcrt

        try:
            os.lseek(fd, 1 << 20, os.SEEK_SET)  # a byte past the pid, so others can read it
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (11, 13, 35):  # EAGAIN, EACCES, EWOULDBLOCK (macOS): held elsewhere
            return False
        raise
    return True


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, outermost first."""
    missing = []
    for p in (folder, *folder.parents):
        if os.path.lexists(p):
            break
        missing.append(p)
    return missing[::-1]


def acquire(run_dir: str | os.PathLike, create: bool = True) -> RunLock | None:
    """Lock ``run_dir`` for training; RunBusy (one line) when another process trains it.

    ``create``: make the folder (and missing parents) when absent, as a new run does; without
    it, or when ``run_dir`` is a file, None is returned and nothing is locked (the caller refuses
    such a run with its own message). UserError (one line) when the folder or lock file cannot
    be made."""
    run_dir = Path(run_dir)
    created: list[Path] = []
    if not run_dir.is_dir():
        if not create or os.path.lexists(run_dir):
            return None
        created = _missing_folders(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"{run_dir}: cannot create the run folder "
                            f"({exc.strerror or exc})") from None
    path = run_dir / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"{path}: cannot create the run's lock file "
                            f"({exc.strerror or exc})") from None
        if not _try_lock(fd):
            os.close(fd)
            pid = holder(run_dir)
            who = f" (pid {pid})" if pid else ""
            raise RunBusy(f"{run_dir} is being trained by another process{who}; wait for it "
                          "to stop (or stop it: Ctrl-C, the Training tab's Stop, "
                          "scripts/harvest.sh stop), or choose another run folder")
        try:  # the file we hold must still be the one at `path` (a holder removes its own)
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            same = False
        if same:
            break
        os.close(fd)
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    return RunLock(run_dir, fd, created)

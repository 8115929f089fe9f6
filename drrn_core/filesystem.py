"""File-system facts every front end words the same way: symbolic links that lead nowhere, a full
disk, and the free space a result needs.

Pure Python (no torch): the CLI, the app and the training loop import it before anything heavy.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
"""OS errors meaning "no room for this file": no space left, over the quota, file too large."""
_DISK_FULL_TEXT = ("no space left on device", "os error 28", "disk quota exceeded",
                   "file too large")


def resolved(path: str | os.PathLike) -> Path:
    """``Path(path).resolve()``; where a symbolic-link loop stops that (pathlib raises
    RuntimeError before Python 3.13, OSError after), the absolute path, links left as they are."""
    p = Path(path)
    try:
        return p.resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(p))


def missing_reason(path: str | os.PathLike) -> str:
    """Why ``path``, which cannot be opened, does not name a file, as a user reads it: "a
    symbolic-link loop", "a broken symbolic link to TARGET" or "file not found"."""
    p = Path(path)
    try:
        os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic-link loop (the link leads back to itself)"
        if os.path.islink(p):
            try:
                target = os.readlink(p)
            except OSError:
                target = "?"
            return f"a broken symbolic link (its target {target} does not exist)"
    return "file not found"


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full: an OSError with ENOSPC,
    EDQUOT or EFBIG, or a library's wrapped message (safetensors: "No space left on device (os
    error 28)")."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    text = str(exc).lower()
    return any(t in text for t in _DISK_FULL_TEXT)


def existing_folder(path: str | os.PathLike) -> Path:
    """``path`` if it is a folder, else its nearest existing parent (the folder a file or a
    not-yet-made sub-folder will be written in, for free-space questions)."""
    p = Path(os.path.abspath(path))
    while not p.is_dir() and p != p.parent:
        p = p.parent
    return p


def free_bytes(path: str | os.PathLike) -> int | None:
    """Bytes a user may still write in the folder ``path`` lies in (or will lie in); None when
    the file system cannot say."""
    try:
        return shutil.disk_usage(existing_folder(path)).free
    except OSError:
        return None


def human_bytes(n: float) -> str:
    """``n`` bytes as people read them: 512 bytes, 12.3 KB, 4.5 MB, 1.2 GB (powers of 1000)."""
    if n < 1000:
        return f"{int(n)} bytes"
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")

"""Atomic file writes: every output, weight file and checkpoint goes through here."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import: mkstemp creates 0600 files, outputs get the usual mode


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; write it in the ``with`` body. On success the file
    is fsynced and renamed over ``path`` in one step; on any error it is removed and ``path`` is
    untouched. OSError (missing folder, no permission, full disk) propagates to the caller."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # after the body: some writers (safetensors) recreate it
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""The engine's measurement records: one JSON file of calibrations per cache folder.

``auto``'s measured choices (``engine.autotune``) and the time-estimate calibrations
(``engine.calibration``) are kept in ``<cache>/calibration.json``, a dict of key -> record. The file
is only ever read whole and replaced whole (an atomic rename), and every change is a
read-modify-write under an exclusive lock on ``calibration.json.lock``, so two processes that
calibrate at once both keep their records and leave a valid file. A missing, truncated, garbage or
older-version file reads as empty (the next measurement rebuilds it); an unwritable cache folder
costs a re-measurement next time, never an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from drrn_core.atomic import atomic_path

VERSION = 6
"""Bump when a record's meaning changes: files of other versions are ignored (and rebuilt)."""
FILE_NAME = "calibration.json"


def cache_dir() -> Path:
    """The engine's cache folder (converted ncnn models, calibrations): $DRRN_CACHE_DIR or the
    user cache folder."""
    env = os.environ.get("DRRN_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("drrn-studio"))


def path() -> Path:
    """Where the records live."""
    return cache_dir() / FILE_NAME


def read() -> dict:
    """Every record (key -> dict); an empty dict where the file is missing or damaged."""
    try:
        data = json.loads(path().read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    return {k: v for k, v in data.items() if k != "version" and isinstance(v, dict)}


def get(key: str) -> dict | None:
    """The record stored under ``key``, or None."""
    return read().get(key)


def update(key: str, change: Callable[[dict | None], dict | None]) -> dict | None:
    """Replace the record under ``key`` by ``change(current)`` (None deletes it), atomically and
    under the lock, so records other processes wrote meanwhile are kept. Returns the new record
    (also when the folder cannot be written: then nothing is stored)."""
    try:
        with _locked():
            data = read()
            new = change(data.get(key))
            if new is None:
                data.pop(key, None)
            else:
                data[key] = new
            with atomic_path(path()) as tmp:
                tmp.write_text(json.dumps({"version": VERSION, **data}, indent=1, sort_keys=True),
                               encoding="utf-8")
            return new
    except OSError:
        return change(get(key))  # an unwritable cache only costs a re-measurement next time


def put(key: str, record: dict) -> None:
    """Store ``record`` under ``key`` (see ``update``)."""
    update(key, lambda _old: record)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """An exclusive lock on the records, between processes (released by the OS when a process
    dies, so a killed writer never leaves it stuck)."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{FILE_NAME}.lock", "a+b") as f:
        if sys.platform == "win32":  # os.name == "nt", in the form type checkers understand
            import msvcrt

            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)  # retries for ~10 s, then OSError
            try:
                yield
            finally:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

"""Typed access to the app's persistent settings (QSettings), in one place.

Tests pass their own ``QSettings`` (an INI file in a temp dir); the app uses the native store
under organisation "DRRN" / application "DRRN Studio".
"""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from drrn_core.limits import COMPARE_SCALE

_log = logging.getLogger(__name__)
ORGANIZATION = "DRRN"
APPLICATION = "DRRN Studio"
MAX_RECENT = 10

MODES = ("upscale", "evaluate")
TRAINING_TEXT = ("data", "run", "val", "recipe", "recipe_file")
TRAINING_INTS = ("B", "U", "channels", "patch", "batch", "val_every", "budget_kind", "budget")
TRAINING_BOOLS = ("batchnorm",)
DEFAULT_QUALITY = 92
"""JPEG/WebP quality that Compare's Save and the Batch tab start from (each remembers its own)."""
DEFAULT_BACKGROUND = (255, 255, 255)
"""Colour under transparent parts of a result saved as JPEG, until the user picks another."""


def parse_colour(text: str) -> tuple[int, int, int] | None:
    """``#rrggbb`` as an (r, g, b) tuple of 0-255 ints; None when it is not one."""
    text = str(text).strip()
    if len(text) != 7 or not text.startswith("#"):
        return None
    try:
        return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)
    except ValueError:
        return None


def ini_damage(raw: bytes) -> str | None:
    """What makes the bytes of an INI settings file unreadable, or None when every line is a
    section, a ``key=value`` line, a comment or blank (a value Qt cannot use is not damage: the
    getters fall back to their defaults)."""
    if b"\0" in raw:
        return "NUL bytes"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes that are not text"
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                return "a torn section line"
            continue
        key, sep, _ = line.partition("=")
        if not sep or not key.strip():
            return "a line that is not a setting"
    return None


def settings_file(store: QSettings) -> Path | None:
    """The INI file behind ``store``, or None when it is not one (the Windows registry, a macOS
    property list: stores Qt itself keeps whole)."""
    native_ini = sys.platform not in ("win32", "darwin")
    if store.format() == QSettings.Format.IniFormat or (
            store.format() == QSettings.Format.NativeFormat and native_ini):
        return Path(store.fileName())
    return None


def data_path(store: QSettings, name: str) -> Path:
    """A file of the app's own data (e.g. the Benchmark tab's results): beside the settings when
    they are an INI file (Linux, tests, portable use), else in the user data folder
    (platformdirs, "drrn-studio")."""
    ini = settings_file(store)
    if ini is not None:
        return ini.with_name(name)
    import platformdirs

    return Path(platformdirs.user_data_dir("drrn-studio", appauthor=False)) / name


_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ ./-]{0,99}")
"""A key this app may have written (garbage parsed out of a damaged file is not copied)."""


def _first_free(path: Path) -> Path:
    """``NAME.damaged-N.SUFFIX`` beside ``path``, the first N free."""
    n = 1
    while True:
        candidate = path.with_name(f"{path.stem}.damaged-{n}{path.suffix}")
        if not os.path.lexists(candidate):
            return candidate
        n += 1


class AppSettings:
    """Named, validated settings; every getter falls back to a sane default.

    A damaged settings file (bytes that are not text, NUL bytes, torn lines: a crash or a full
    disk while another program wrote it) is rebuilt when the settings are opened: the damaged
    file is kept beside it as ``NAME.damaged-N.SUFFIX``, the settings still readable from it are
    carried over, and ``notice`` holds one line saying so (also logged as a warning). Two app
    instances may share the file: QSettings writes it atomically under a lock file and merges
    each instance's changed keys, so the last writer of a key wins and the file stays whole."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.notice: str | None = None
        store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)
        self.store = self._rebuilt_if_damaged(store)

    def _rebuilt_if_damaged(self, store: QSettings) -> QSettings:
        path = settings_file(store)
        try:
            raw = path.read_bytes() if path is not None and path.is_file() else None
        except OSError:
            raw = None  # unreadable: Qt reports it, nothing is ours to rebuild
        problem = ini_damage(raw) if raw is not None else None
        if problem is None or path is None:  # a problem comes with a path (read above)
            return store
        fmt, name = store.format(), store.fileName()
        values = {k: store.value(k) for k in store.allKeys() if _KEY.fullmatch(k)}
        del store  # its parsed copy of the damaged file must not serve the new store
        gc.collect()
        kept = _first_free(path)
        try:
            os.rename(path, kept)
        except OSError as exc:
            self.notice = (f"The settings file {path} is damaged ({problem}) and could not be "
                           f"set aside ({exc.strerror or exc}); the defaults are used where it "
                           "cannot be read")
            _log.warning(self.notice)
            return QSettings(name, fmt)
        fresh = QSettings(name, fmt)
        for key, value in values.items():
            fresh.setValue(key, value)
        fresh.sync()
        self.notice = (f"The settings file {path} was damaged ({problem}); rebuilt with the "
                       f"{len(values)} setting(s) still readable, the damaged file kept as "
                       f"{kept.name}")
        _log.warning(self.notice)
        return fresh

    # -- helpers ---------------------------------------------------------------------------
    def _get(self, key: str, default, kind: type):
        value = self.store.value(key, default)
        try:
            if kind is bool and isinstance(value, str):
                return value.lower() in ("1", "true", "yes")
            return kind(value)
        except (TypeError, ValueError):
            return default

    def sync(self) -> None:
        self.store.sync()

    # -- processing ------------------------------------------------------------------------
    @property
    def scale(self) -> float:
        value = self._get("processing/scale", 2.0, float)
        return value if COMPARE_SCALE.problem(value) is None else 2.0

    @scale.setter
    def scale(self, value: float) -> None:
        self.store.setValue("processing/scale", float(value))

    @property
    def mode(self) -> str:
        value = self._get("processing/mode", "upscale", str)
        return value if value in MODES else "upscale"

    @mode.setter
    def mode(self, value: str) -> None:
        self.store.setValue("processing/mode", value if value in MODES else "upscale")

    @property
    def model(self) -> str:
        """Model name, or '' for 'use the default model', or 'bicubic' for bicubic only."""
        return self._get("processing/model", "", str)

    @model.setter
    def model(self, value: str) -> None:
        self.store.setValue("processing/model", value)

    @property
    def device(self) -> str:
        return self._get("processing/device", "auto", str) or "auto"

    @device.setter
    def device(self, value: str) -> None:
        self.store.setValue("processing/device", value)

    @property
    def precision(self) -> str:
        return self._get("processing/precision", "auto", str) or "auto"

    @precision.setter
    def precision(self, value: str) -> None:
        self.store.setValue("processing/precision", value)

    @property
    def ensemble(self) -> bool:
        """Whether DRRN runs as its self-ensemble (x8 time)."""
        return self._get("processing/ensemble", False, bool)

    @ensemble.setter
    def ensemble(self, value: bool) -> None:
        self.store.setValue("processing/ensemble", bool(value))

    # -- saving ----------------------------------------------------------------------------
    @property
    def jpeg_quality(self) -> int:
        return min(max(self._get("save/quality", DEFAULT_QUALITY, int), 1), 100)

    @jpeg_quality.setter
    def jpeg_quality(self, value: int) -> None:
        self.store.setValue("save/quality", int(value))

    @property
    def jpeg_background(self) -> tuple[int, int, int]:
        """(r, g, b): what transparent parts become in a JPEG (Compare's Save and Batch)."""
        return parse_colour(self._get("save/jpeg_background", "", str)) or DEFAULT_BACKGROUND

    @jpeg_background.setter
    def jpeg_background(self, value: tuple[int, int, int]) -> None:
        r, g, b = (min(max(int(v), 0), 255) for v in value)
        self.store.setValue("save/jpeg_background", f"#{r:02x}{g:02x}{b:02x}")

    @property
    def last_dir(self) -> str:
        value = self._get("files/last_dir", "", str)
        return value if value and Path(value).is_dir() else str(Path.home())

    @last_dir.setter
    def last_dir(self, value: str) -> None:
        self.store.setValue("files/last_dir", value)

    # -- recent files ----------------------------------------------------------------------
    @property
    def recent_files(self) -> list[str]:
        value = self.store.value("files/recent", [])
        if isinstance(value, str):
            value = [value] if value else []
        if not isinstance(value, list | tuple):  # a damaged value: no recent files
            return []
        return [str(v) for v in value if str(v).isprintable()][:MAX_RECENT]  # nor garbage

    def add_recent(self, path: str | Path) -> list[str]:
        """Put ``path`` first in the recent list (deduplicated, capped); return the list."""
        path = str(Path(path).resolve())
        items = [path] + [p for p in self.recent_files if p != path]
        items = items[:MAX_RECENT]
        self.store.setValue("files/recent", items)
        return items

    def clear_recent(self) -> None:
        self.store.setValue("files/recent", [])

    # -- window ----------------------------------------------------------------------------
    @property
    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.store.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) else None

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self.store.setValue("window/state", value)

    @property
    def current_tab(self) -> int:
        return max(self._get("window/tab", 0, int), 0)

    @current_tab.setter
    def current_tab(self, value: int) -> None:
        self.store.setValue("window/tab", int(value))

    # -- training tab ----------------------------------------------------------------------
    @property
    def training_fields(self) -> dict:
        """The Training tab's fields as last left: folders and recipe (str), architecture,
        patch, batch, validation period and budget (int), BatchNorm (bool); only the keys
        stored and readable (the tab checks ranges and choices)."""
        out: dict = {}
        for keys, kind in ((TRAINING_TEXT, str), (TRAINING_INTS, int), (TRAINING_BOOLS, bool)):
            for key in keys:
                if self.store.contains(f"training/{key}"):
                    value = self._get(f"training/{key}", None, kind)
                    if value is not None:
                        out[key] = value
        return out

    @training_fields.setter
    def training_fields(self, values: dict) -> None:
        for key, value in values.items():
            if key in TRAINING_TEXT + TRAINING_INTS + TRAINING_BOOLS:
                self.store.setValue(f"training/{key}", value)

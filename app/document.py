"""The opened document: the image (or LR + HR pair) the window works on, where it came from, and
how results are written back with the original's metadata.

Reading goes through drrn_core.imaging.io.load_image (EXIF orientation applied, ICC and EXIF
kept, 16-bit PNG and TIFF at 16 bits); in-memory images (clipboard, drops) through
drrn_core.imaging.io.load_image_bytes as PNG bytes. Writing goes through
drrn_core.imaging.io.save_image (metadata and bit depth of the original, atomic). Questions to the
user (which file, replace the original?) stay with the window; a refusal is the ``failed`` signal
(title, one line) and a None / False result, never an exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, QObject, Signal
from PySide6.QtGui import QImage, QImageReader

from app.workers import describe_error
from drrn_core import limits

if TYPE_CHECKING:
    from drrn_core.imaging.io import LoadedImage

log = logging.getLogger("drrn-studio.document")

SAVE_FILTERS = {
    "PNG image (*.png)": ".png",
    "JPEG image (*.jpg *.jpeg)": ".jpg",
    "WebP image (*.webp)": ".webp",
    "TIFF image (*.tif *.tiff)": ".tif",
}
LOSSY = (".jpg", ".jpeg", ".webp")


def image_suffixes() -> list[str]:
    """Suffixes offered in the Open dialog: what Qt and our loader (Pillow) can read."""
    from drrn_core.imaging.io import IMAGE_SUFFIXES, PHOTO_SUFFIXES

    qt = {"." + bytes(f.data()).decode().lower() for f in QImageReader.supportedImageFormats()}
    return sorted(set(IMAGE_SUFFIXES) | set(PHOTO_SUFFIXES) | qt)


def is_image_path(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in image_suffixes()


def qimage_from_array(image: np.ndarray) -> QImage:
    """uint8/float HW or HWC (RGB/RGBA) array -> a QImage owning its pixels."""
    from app.views.image_pane import to_display_u8

    arr = to_display_u8(image)
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8).copy()
    return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888).copy()


@dataclass(frozen=True)
class Opened:
    """What was opened: ``image`` (the photo, the ground truth, or the HR of a pair) with its
    ``loaded`` metadata, the pair's ``lr``, the files (None for pasted pixels), a display
    ``name``, the window ``title`` and a ``note`` for the status line."""

    image: np.ndarray
    name: str
    title: str
    loaded: object
    path: Path | None = None
    lr: np.ndarray | None = None
    lr_path: Path | None = None
    note: str = ""


@dataclass(frozen=True)
class Dropped:
    """Dropped or pasted paths sorted out: the ``image`` to open (the first), else the
    ``folder`` to route, and a ``note`` on what was ignored."""

    image: Path | None
    folder: Path | None
    note: str


class Document(QObject):
    """The opened image and its original file; reads images in and writes results out."""

    failed = Signal(str, str)  # title, one line for the user
    message = Signal(str, int)  # a passing notice for the status line: text, timeout ms
    opened = Signal(object)  # Opened

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.current: Opened | None = None

    # -- what is open ----------------------------------------------------------------------
    @property
    def loaded(self):
        """drrn_core.imaging.io.LoadedImage of the opened image (the HR of a pair), or None."""
        return None if self.current is None else self.current.loaded

    @property
    def source_path(self) -> Path | None:
        """The opened file, resolved (None for pasted pixels or nothing open)."""
        if self.current is None or self.current.path is None:
            return None
        return self.current.path.resolve()

    def is_input(self, path: Path) -> bool:
        """Whether ``path`` is the opened image's file."""
        src = self.source_path
        return src is not None and path.exists() and path.resolve() == src

    # -- reading ---------------------------------------------------------------------------
    def _load(self, path: str | Path) -> tuple[LoadedImage, str]:
        from drrn_core.imaging.io import load_image

        return load_image(path, max_pixels=limits.MAX_INPUT_PIXELS), ""

    def _open(self, opened: Opened) -> Opened:
        self.current = opened
        self.opened.emit(opened)
        return opened

    def open_file(self, path: str | Path, note: str = "") -> Opened | None:
        """Read an image file; None (and ``failed``) when it cannot be read. ``note`` and the
        loader's own note (e.g. about 16-bit pixels) go to ``Opened.note``."""
        path = Path(path)
        try:
            loaded, load_note = self._load(path)
        except Exception as exc:  # noqa: BLE001 - unreadable input is a message, not a crash
            self.failed.emit("Could not open the image", describe_error(exc))
            return None
        return self._open(Opened(loaded.image, path.name, path.name, loaded, path,
                                 note="; ".join(n for n in (note, load_note) if n)))

    def open_pair(self, lr_path: str | Path, hr_path: str | Path) -> Opened | None:
        """Read a given LR image and its HR original; None (and ``failed``) unless they are a
        pair (protocol.pair_scale: the HR is the LR times an integer scale >= 2)."""
        from drrn_core.metrics.protocol import pair_scale

        lr_path, hr_path = Path(lr_path), Path(hr_path)
        try:
            lr, _ = self._load(lr_path)
            hr, _ = self._load(hr_path)
        except Exception as exc:  # noqa: BLE001 - unreadable input is a message, not a crash
            self.failed.emit("Could not open the pair", describe_error(exc))
            return None
        try:
            pair_scale(lr.image.shape, hr.image.shape)
        except ValueError as exc:
            self.failed.emit("Not an LR + HR pair", str(exc))
            return None
        name = f"{lr_path.name} vs {hr_path.name}"
        return self._open(Opened(hr.image, name, f"{lr_path.name} + {hr_path.name}", hr,
                                 hr_path, lr=lr.image, lr_path=lr_path))

    def open_qimage(self, image: QImage, name: str) -> Opened | None:
        """An in-memory image (clipboard / drop), read by our loader as PNG bytes."""
        from drrn_core.imaging import io

        if image.isNull():
            self.message.emit(f"The {name} holds no readable image.", 5000)
            return None
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buf, "PNG")  # type: ignore[call-overload]  # PySide6's hints: bytes format
        buf.close()
        try:
            loaded = io.load_image_bytes(bytes(data.data()), max_pixels=limits.MAX_INPUT_PIXELS,
                                         name=name)
        except Exception as exc:  # noqa: BLE001 - unreadable input is a message, not a crash
            self.failed.emit("Could not open the pasted image", describe_error(exc))
            return None
        return self._open(Opened(loaded.image, name, name, loaded))

    @staticmethod
    def sort_dropped(paths: list[Path]) -> Dropped:
        """The first image among dropped paths (else the first folder), and what was left."""
        folders = [p for p in paths if p.is_dir()]
        images = [p for p in paths if is_image_path(p)]
        ignored = len(paths) - len(folders) - len(images)
        notes = [f"{ignored} dropped item(s) are not images and were ignored"] if ignored else []
        if len(images) > 1:
            notes.append(f"{len(images) - 1} more dropped image(s) not opened")
        return Dropped(images[0] if images else None, folders[0] if folders else None,
                       "; ".join(notes))

    @staticmethod
    def mime_content(mime: QMimeData | None) -> list[Path] | QImage | None:
        """What a clipboard or drop offers: local paths (files, URLs, or a path as text), else
        an image, else None."""
        if mime is None:
            return None
        if mime.hasUrls():
            paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
            if paths:
                return paths
        if mime.hasImage():
            return QImage(mime.imageData())
        if mime.hasText() and mime.text().strip() and Path(mime.text().strip()).exists():
            return [Path(mime.text().strip())]
        return None

    # -- writing ---------------------------------------------------------------------------
    def depth_note(self, suffix: str) -> str:
        """What saving as ``suffix`` loses of the original, or "": bits (a 16-bit input as
        JPEG), transparency (an input with transparent parts as JPEG: flattened onto the
        background colour, one sentence)."""
        from drrn_core.imaging.io import depth_note

        notes = [depth_note(self.loaded, suffix), self.flatten_note(suffix)]
        return " ".join(n for n in notes if n)

    def flatten_note(self, suffix: str) -> str:
        """One sentence when a result saved as ``suffix`` (JPEG) loses the input's transparent
        parts to the background colour (app.settings: Batch's "JPEG background"), else ""."""
        from drrn_core.imaging.io import FORMATS, colour_name

        alpha = getattr(self.loaded, "alpha", None)
        if FORMATS.get(suffix.lower()) != "JPEG" or alpha is None or alpha.size == 0 \
                or float(alpha.min()) >= 254.5 / 255:
            return ""
        return ("JPEG has no transparency: the transparent parts are flattened onto "
                f"{colour_name(self.background())}; the Batch tab's “JPEG background” sets "
                "the colour.")

    @staticmethod
    def background() -> tuple[int, int, int]:
        """The colour under transparent parts of a JPEG result (remembered in app.settings)."""
        from app.settings import AppSettings

        return AppSettings().jpeg_background

    def suggested_name(self, key: str, scale: float) -> str:
        """``<stem>_<key>_x<scale>.png`` for a result (``result`` when pasted)."""
        stem = self.current.path.stem if self.current and self.current.path else "result"
        return f"{stem}_{key}_x{scale:g}.png"

    def save(self, path: Path, image: np.ndarray, quality: int) -> bool:
        """Write ``image`` with the original's metadata (ICC, EXIF) and bit depth, atomically;
        False (and ``failed``) when it cannot be written. As JPEG, transparent parts are
        flattened onto :meth:`background` (:meth:`depth_note` says so, once, in the window's
        "Saved" line)."""
        from drrn_core.imaging import io

        try:
            io.save_image(path, image, like=self.loaded, quality=quality,
                          background=self.background(), notice=log.info)
        except Exception as exc:  # noqa: BLE001 - a failed save is a message, not a crash
            self.failed.emit("Could not save", describe_error(exc))
            return False
        log.info("saved %s", path)
        return True

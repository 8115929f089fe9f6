"""Reading photos for the app: drrn_core.imaging.io, plus 16-bit colour PNGs at 16 bits.

Pillow (which drrn_core's loader uses) decodes a 16-bit RGB/RGBA PNG at 8 bits, so a 16-bit
photo came back out as an 8-bit file without a word. Qt decodes those PNGs at 16 bits: after the
core loader has read the file (checks, metadata, orientation), :func:`load_image` re-reads such a
PNG through QImage and keeps the 16-bit pixels when they agree with the core's 8-bit ones (an
EXIF-rotated PNG, where they would not line up, stays at 8 bits and says so in ``note``).
QImage is safe to use on worker threads (no widgets involved).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_bit_depth(path: str | Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR chunk, or None for anything else."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError:
        return None
    if len(head) < 26 or not head.startswith(PNG_MAGIC) or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def _qt_rgba16(path: Path) -> np.ndarray | None:
    """HxWx4 uint16 RGBA of an image file decoded by Qt, or None if Qt cannot read it."""
    from PySide6.QtGui import QImage

    image = QImage(str(path))
    if image.isNull():
        return None
    image = image.convertToFormat(QImage.Format.Format_RGBA64)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    raw = np.frombuffer(image.constBits(), dtype=np.uint16, count=h * stride // 2)
    return raw.reshape(h, stride // 2)[:, : w * 4].reshape(h, w, 4).copy()


def deepen_png16(loaded, path: str | Path) -> str:
    """Give ``loaded`` (a drrn_core LoadedImage of ``path``) its 16-bit colour pixels when the
    file is a 16-bit colour PNG that the core read at 8 bits. Returns a note for the user ("" when
    nothing needed saying)."""
    header = png_bit_depth(path)
    if header is None or header[0] != 16 or header[1] not in (2, 6) or loaded.bit_depth == 16:
        return ""
    rgba = _qt_rgba16(Path(path))
    colour = loaded.pixels
    if rgba is None or colour.ndim != 3 or rgba.shape[:2] != colour.shape[:2]:
        return "16-bit PNG read at 8 bits (its pixels could not be matched at 16 bits)."
    deep = rgba[..., :3].astype(np.float32) / np.float32(65535.0)
    if float(np.max(np.abs(deep - colour))) > 1.01 / 255.0:
        return "16-bit PNG read at 8 bits (its pixels could not be matched at 16 bits)."
    loaded.pixels = deep
    if loaded.alpha is not None:
        loaded.alpha = rgba[..., 3].astype(np.float32) / np.float32(65535.0)
    loaded.bit_depth = 16
    return ""


def load_image(path: str | Path, max_pixels: int):
    """drrn_core.imaging.io.load_image, with 16-bit colour PNGs kept at 16 bits.

    Returns (LoadedImage, note); ``note`` is "" or one line for the status bar.
    """
    from drrn_core.imaging import io

    loaded = io.load_image(path, max_pixels=max_pixels)
    return loaded, deepen_png16(loaded, path)


def depth_note(loaded, suffix: str) -> str:
    """One line when saving ``loaded``'s result as ``suffix`` loses bits ("" otherwise)."""
    if loaded is not None and getattr(loaded, "bit_depth", 8) == 16 and \
            suffix.lower() not in (".png", ".tif", ".tiff"):
        return (f"the input has 16 bits per channel; {suffix.lstrip('.').upper()} holds 8, "
                "so the result is saved at 8 bits (PNG or TIFF keep 16).")
    return ""


__all__ = ["deepen_png16", "depth_note", "load_image", "png_bit_depth"]

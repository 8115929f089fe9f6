"""Render resources/icons/drrn-studio.svg to the PNG sizes and the Windows .ico.

    python scripts/make_icons.py          # rewrite the PNGs and the .ico next to the SVG
    python scripts/make_icons.py --check  # exit 1 if the committed files differ from a fresh render

The SVG is the single source: Qt's SVG renderer (PySide6.QtSvg, already a dependency) rasterises
it at each size directly, so small sizes are drawn on their own pixel grid instead of being
downscaled from 256 px; Pillow then writes the PNGs (without timestamps, so reruns are
byte-identical) and packs the .ico from those same renders.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

from PIL import Image

ICON_DIR = Path(__file__).resolve().parents[1] / "resources" / "icons"
SVG = ICON_DIR / "drrn-studio.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256)
# Windows picks from these for the taskbar, Explorer views and the title bar.
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def render(size: int) -> Image.Image:
    """The SVG rasterised at size x size, as an RGBA Pillow image."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])  # QPainter needs one
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot parse {SVG}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return Image.open(io.BytesIO(bytes(data))).convert("RGBA")


def encode_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def encode_ico(images: dict[int, Image.Image]) -> bytes:
    out = io.BytesIO()
    largest = images[max(ICO_SIZES)]
    others = [images[s] for s in ICO_SIZES if s != max(ICO_SIZES)]
    # append_images makes Pillow store our own render for each size rather than resampling
    # the largest one.
    largest.save(out, "ICO", sizes=[(s, s) for s in ICO_SIZES], append_images=others)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)

    images = {s: render(s) for s in sorted(set(PNG_SIZES) | set(ICO_SIZES))}
    wanted = {ICON_DIR / f"drrn-studio-{s}.png": encode_png(images[s]) for s in PNG_SIZES}
    wanted[ICON_DIR / "drrn-studio.ico"] = encode_ico(images)

    stale = [p for p, data in wanted.items() if not p.is_file() or p.read_bytes() != data]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(ICON_DIR.parents[1])}", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_bytes(wanted[path])
        print(f"wrote {path.relative_to(ICON_DIR.parents[1])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

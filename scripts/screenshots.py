"""Screenshots of the real app for docs/screenshots/: both Compare modes and the split view.

    python scripts/screenshots.py [--model NAME_OR_PATH] [--out docs/screenshots]

Runs offscreen (or on $DISPLAY, e.g. under xvfb-run). The sample is scikit-image's astronaut
saved to a temporary PNG. With no --model, the default bundled model is used; with none
installed the shots show the bicubic-only state. Settings go to a temporary INI file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 300_000
SIZE = (1360, 860)


def wait_idle(app, window, timeout_s: float = 180) -> None:
    t0 = time.monotonic()
    while window.compare.is_busy() or window.compare.debounce.isActive():
        app.processEvents()
        time.sleep(0.01)
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError("the run did not finish")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)


def save_small(image, path: Path) -> None:
    """Save a QImage as PNG under MAX_BYTES (palette-quantised when needed)."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice

    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    raw = bytes(buf.data())
    path.write_bytes(raw)
    if len(raw) <= MAX_BYTES:
        return
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    for colours in (256, 128, 64):
        rgb.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            path, optimize=True)
        if path.stat().st_size <= MAX_BYTES:
            return


def shoot(app, window, path: Path) -> None:
    wait_idle(app, window)
    save_small(window.grab().toImage(), path)
    print(f"{path} ({path.stat().st_size // 1024} KB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model name or .safetensors path (default: bundled)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))

    import numpy as np
    from PIL import Image
    from skimage import data

    from app.__main__ import make_application
    from app.main_window import MainWindow, settings_at
    from drrn_core import weights

    app = make_application([sys.argv[0]])
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model
        if model and Path(model).is_file():
            os.environ["DRRN_USER_DIR"] = str(tmp / "user")
            model = weights.import_user_model(model).name
        model = model or weights.default_model_name()
        photo = tmp / "astronaut.png"
        Image.fromarray(np.ascontiguousarray(data.astronaut()[30:270, 120:360])).save(photo)

        window = MainWindow(settings=settings_at(tmp / "settings.ini"))
        window.resize(*SIZE)
        window.show()
        if model:
            window.refresh_models(select=model)
        print(f"model: {window.compare.controls.model_name()}")

        window.compare.set_mode("upscale")
        window.compare.controls.scale.setValue(2)
        window.open_path(photo)
        wait_idle(app, window)
        window.compare.fit()
        shoot(app, window, args.out / "01-upscale.png")

        window.compare.set_mode("evaluate")
        window.compare.run()
        wait_idle(app, window)
        window.compare.fit()
        shoot(app, window, args.out / "02-evaluate.png")

        window.compare.toggle_split()
        wait_idle(app, window)
        window.compare.zoom_in()
        window.compare.zoom_in()
        split = window.compare.split
        size = split.output_size or (0, 0)
        split.set_divider(size[0] * 0.5)
        window.compare.sync.apply(split.view.viewRect().center(), 0.4)
        shoot(app, window, args.out / "03-split.png")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

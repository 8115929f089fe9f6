"""Screenshots of the real app for docs/screenshots/: both Compare modes, the split view, the
preview of a large photo, the Training and Benchmark tabs in a 1366x768 window, the model card
(About), File > Export's before/after image and evaluation sheet, and the app at 150 % scaling
(QT_SCALE_FACTOR=1.5, a second process).

    xvfb-run -s "-screen 0 1366x768x24" python scripts/screenshots.py [--model NAME] [--out DIR]

Runs offscreen when there is no $DISPLAY. The samples are scikit-image's astronaut (a crop, and
the whole picture enlarged to 3000x2000 as the "large photo"). With no --model, the default
bundled model is used. Settings go to a temporary INI file.
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
    parser.add_argument("--scaled-only", action="store_true",
                        help="(internal) only the 150 %% shot; run with QT_SCALE_FACTOR=1.5")
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))

    import numpy as np
    from PIL import Image
    from PySide6.QtGui import QImage
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
        if args.scaled_only:
            window.resize(1366, 768)  # the window shrinks itself to the (logical) screen
            window.fit_to_screen()
            window.open_path(photo)
            wait_idle(app, window)
            window.compare.fit()
            shoot(app, window, args.out / "07-scaled-150.png")
            window.close()
            return 0

        window.compare.set_mode("upscale")
        window.compare.controls.scale.setValue(2)
        window.open_path(photo)
        wait_idle(app, window)
        if "drrn" not in window.compare.results:  # a slow machine: ask for the whole image
            window.compare.run_whole()
            wait_idle(app, window)
        window.compare.fit()
        shoot(app, window, args.out / "01-upscale.png")
        from app import export_dialogs

        before_after = export_dialogs.export_before_after(window.compare, tmp / "ba.png")
        save_small(QImage(str(before_after)), args.out / "09-before-after.png")
        print(args.out / "09-before-after.png")

        window.compare.set_mode("evaluate")
        window.compare.run()
        wait_idle(app, window)
        window.compare.fit()
        shoot(app, window, args.out / "02-evaluate.png")
        (tmp / "export").mkdir()
        sheet = [p for p in export_dialogs.export_evaluation(window.compare, tmp / "export")
                 if p.name.endswith("_panes.png")][0]
        save_small(QImage(str(sheet)), args.out / "10-evaluation-export.png")
        print(args.out / "10-evaluation-export.png")

        window.compare.toggle_split()
        wait_idle(app, window)
        window.compare.zoom_in()
        window.compare.zoom_in()
        split = window.compare.split
        size = split.output_size or (0, 0)
        split.set_divider(size[0] * 0.5)
        window.compare.sync.apply(split.view.viewRect().center(), 0.4)
        shoot(app, window, args.out / "03-split.png")
        window.compare.toggle_split()

        # a large photo: only the visible region is computed, the whole image is offered
        big = tmp / "large-photo.png"
        from skimage.transform import resize

        Image.fromarray((resize(data.astronaut(), (2000, 3000), order=3) * 255 + 0.5)
                        .clip(0, 255).astype(np.uint8)).save(big)
        window.compare.set_mode("upscale")
        window.open_path(big)
        wait_idle(app, window, 600)  # at "fit": the preview's budget of tiles, centre first
        window.compare.sync.apply(window.compare.sync.reference().view.viewRect().center(), 1.0)
        window.compare.refresh_preview()
        wait_idle(app, window, 600)
        shoot(app, window, args.out / "04-preview.png")

        window.resize(1366, 768)
        window.fit_to_screen()
        window.tabs.setCurrentWidget(window.extra_tabs["training"])
        shoot(app, window, args.out / "05-training-1366x768.png")
        bench = window.extra_tabs["benchmark"]
        window.tabs.setCurrentWidget(bench)
        set5 = ROOT.parent / "shared" / "data" / "benchmark" / "Set5"
        if set5.is_dir():
            bench.add_dataset(set5)
            for s, check in bench.scale_checks.items():
                check.setChecked(s == 3)
            bench.ifc_check.setChecked(False)
            bench.start()
            t0 = time.monotonic()
            while bench.is_running() and time.monotonic() - t0 < 300:
                app.processEvents()
                time.sleep(0.02)
        shoot(app, window, args.out / "06-benchmark-1366x768.png")

        from app.dialogs.about import AboutDialog

        about = AboutDialog(window)
        about.resize(760, 640)
        about.show()
        about.tabs.setCurrentIndex(1)  # the first model's card
        for _ in range(20):
            app.processEvents()
            time.sleep(0.01)
        save_small(about.grab().toImage(), args.out / "08-model-card.png")
        print(args.out / "08-model-card.png")
        about.close()
        window.close()
    if not args.scaled_only:
        import subprocess

        env = dict(os.environ, QT_SCALE_FACTOR="1.5")
        cmd = [sys.executable, __file__, "--scaled-only", "--out", str(args.out)]
        subprocess.run(cmd + (["--model", args.model] if args.model else []), env=env,
                       check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

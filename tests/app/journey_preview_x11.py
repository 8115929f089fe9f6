"""A photographer's journey in a real X server, driven by real input events (xdotool): open a
photo with Ctrl+O, look at 100 % (Ctrl+1) while DRRN fills the visible region tile by tile, start
the whole image, cancel it with Esc, resume it with the button, save the result; then a refused
evaluation (an image too small for the protocol: no stale sizes or scores anywhere) and an RGBA
image saved as JPEG (flattened onto white, said once). Run by tests/app/test_journey_x11.py:

    DISPLAY=:N QT_QPA_PLATFORM=xcb python journey_preview_x11.py PHOTO TINY RGBA OUT REPORT

The app runs in this process with the bundled model; the report holds what was seen and the
seconds from the opened photo to the first DRRN pixels on screen.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from journey_x11 import _TYPER  # noqa: E402  (the file dialog typist)

_RETURN = r"""
import subprocess, sys, time
for _ in range(200):
    r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", sys.argv[1]],
                       capture_output=True, text=True)
    if r.stdout.strip():
        wid = r.stdout.split()[0]
        break
    time.sleep(0.1)
else:
    sys.exit("no dialog " + sys.argv[1])
time.sleep(0.5)
subprocess.run(["xdotool", "windowfocus", "--sync", wid])
subprocess.run(["xdotool", "key", "Return"])
"""
"""Presses Return in the dialog whose title matches argv[1] (the JPEG quality question)."""


def main() -> int:
    photo, tiny, rgba, outdir, report_path = (Path(a) for a in sys.argv[1:6])  # OUT: a folder
    from PySide6.QtCore import QPoint

    from app.__main__ import make_application
    from app.main_window import MainWindow, settings_at

    app = make_application([sys.argv[0]])
    report: dict = {"steps": []}
    tmp = Path(tempfile.mkdtemp())
    window = MainWindow(settings=settings_at(tmp / "settings.ini"))
    window.settings.last_dir = str(photo.parent)
    window.resize(1200, 760)
    window.show()
    compare = window.compare

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def wait_for(what: str, cond, timeout: float = 180.0) -> float:
        start = end = time.monotonic()
        end += timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out waiting for: {what}")
            app.processEvents()
            time.sleep(0.01)
        report["steps"].append(what)
        return time.monotonic() - start

    def xdo(*args: str) -> None:
        subprocess.run(["xdotool", *args], check=True, timeout=20)
        pump(0.2)

    def focus_window() -> None:
        xdo("windowfocus", "--sync", str(int(window.winId())))

    def click(widget) -> None:
        centre = widget.mapToGlobal(QPoint(widget.width() // 2, widget.height() // 2))
        xdo("mousemove", "--sync", str(centre.x()), str(centre.y()))
        xdo("click", "1")

    def open_with_dialog(path: Path) -> None:
        focus_window()
        helper = subprocess.Popen([sys.executable, "-c", _TYPER, str(path)])
        xdo("key", "ctrl+o")
        helper.wait(timeout=60)

    def save_with_dialog(path: Path, quality_question: bool = False) -> None:
        focus_window()
        helper = subprocess.Popen([sys.executable, "-c", _TYPER, str(path)])
        quality = (subprocess.Popen([sys.executable, "-c", _RETURN, "^Quality$"])
                   if quality_question else None)
        xdo("key", "ctrl+s")
        helper.wait(timeout=60)
        if quality is not None:
            quality.wait(timeout=60)
        wait_for(f"{path.name} saved", path.is_file, 60)

    def titles() -> dict[str, str]:
        return {key: pane.title_text() for key, pane in compare.grid.panes.items()}

    try:
        wait_for("the window is shown", window.isVisible, 30)
        pump(1.0)
        # -- the photo: DRRN where the user looks, tile by tile --------------------------------
        window.settings.last_dir = str(photo.parent)
        open_with_dialog(photo)
        wait_for("the photo is opened", lambda: window.loaded is not None, 60)
        opened = time.monotonic()
        focus_window()
        xdo("key", "ctrl+1")  # 100 %: the view shows part of the result
        wait_for("the first DRRN pixels", lambda: bool(compare.tiles.items), 180)
        report["first_drrn_pixels_s"] = round(time.monotonic() - opened, 2)
        wait_for("the visible region is done", lambda: not compare.is_busy()
                 and not compare.debounce.isActive() and bool(compare.tiles.items), 300)
        report["visible_region_s"] = round(time.monotonic() - opened, 2)
        report["preview_share"] = compare.drrn_done
        button = compare.controls.whole_button
        report["whole_button_after_preview"] = button.text() if button.isVisible() else ""
        # -- the whole image: started, cancelled with Esc, resumed ------------------------------
        click(button)
        start_share = compare.drrn_done
        wait_for("the whole-image run adds tiles",
                 lambda: compare.is_busy() and compare.drrn_done > start_share, 300)
        focus_window()
        xdo("key", "Escape")
        wait_for("the run is cancelled", lambda: not compare.is_busy(), 60)
        pump(0.5)
        report["kept_share"] = compare.drrn_done
        report["kept_tiles"] = len(compare.tiles.items)
        report["button_after_cancel"] = button.text() if button.isVisible() else ""
        click(button)
        wait_for("the whole image is done", lambda: "drrn" in compare.results
                 and not compare.is_busy(), 600)
        report["result_shape"] = list(compare.results["drrn"][0].shape)
        out = outdir / "photo_x2.png"
        save_with_dialog(out)
        report["saved"] = str(out)
        # -- a refused evaluation leaves nothing stale --------------------------------------------
        before = titles()
        open_with_dialog(tiny)
        wait_for("the tiny image is opened", lambda: window.loaded is not None
                 and window.loaded.path == tiny, 60)
        focus_window()
        xdo("key", "ctrl+e")
        wait_for("evaluation mode", lambda: compare.mode == "evaluate", 10)
        wait_for("the evaluation is refused", lambda: not compare.is_busy()
                 and not compare.debounce.isActive() and "drrn" not in compare.results, 60)
        pump(0.5)
        report["titles_before"] = before
        report["titles_refused"] = titles()
        report["scores_refused"] = {k: [s.psnr, s.ssim] for k, s in compare.scores.items()}
        report["status_refused"] = window.statusBar().currentMessage()
        # -- RGBA saved as JPEG --------------------------------------------------------------------
        open_with_dialog(rgba)
        wait_for("the RGBA image is opened", lambda: window.loaded is not None
                 and window.loaded.path == rgba, 60)
        focus_window()
        xdo("key", "ctrl+u")
        wait_for("upscale mode", lambda: compare.mode == "upscale", 10)
        wait_for("the RGBA image is upscaled", lambda: "drrn" in compare.results
                 and not compare.is_busy(), 300)
        jpeg = outdir / "logo_x2.jpg"
        save_with_dialog(jpeg, quality_question=True)
        report["status_jpeg"] = window.statusBar().currentMessage()
        report["ok"] = True
    except Exception:  # noqa: BLE001 - the report says what went wrong
        report["ok"] = False
        report["error"] = traceback.format_exc()
        report["status"] = window.statusBar().currentMessage()
    report_path.write_text(json.dumps(report, indent=2))
    compare.cancel()
    window.close()
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

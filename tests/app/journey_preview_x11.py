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

import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from journey_x11 import Journey  # noqa: E402  (the app and the means to drive it)

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
    j = Journey(photo.parent)
    window, report = j.window, j.report
    compare = window.compare

    def open_with_dialog(path: Path) -> None:
        j.through_dialog("ctrl+o", path)
        j.wait_for(f"{path.name} is opened", lambda: window.loaded is not None
                   and window.loaded.path == path, 60)

    def save_with_dialog(path: Path, quality_question: bool = False) -> None:
        quality = (subprocess.Popen([sys.executable, "-c", _RETURN, "^Quality$"])
                   if quality_question else None)
        j.through_dialog("ctrl+s", path)
        if quality is not None:
            quality.wait(timeout=60)
        j.wait_for(f"{path.name} saved", path.is_file, 60)

    def titles() -> dict[str, str]:
        return {key: pane.title_text() for key, pane in compare.grid.panes.items()}

    def idle() -> bool:
        return not compare.is_busy() and not compare.debounce.isActive()

    try:
        j.wait_for("the window is shown", window.isVisible, 30)
        j.pump(1.0)
        # -- the photo: DRRN where the user looks, tile by tile --------------------------------
        open_with_dialog(photo)
        opened = time.monotonic()
        j.focus_window()
        j.xdo("key", "ctrl+1")  # 100 %: the view shows part of the result
        j.wait_for("the first DRRN pixels", lambda: bool(compare.tiles.items), 180)
        report["first_drrn_pixels_s"] = round(time.monotonic() - opened, 2)
        j.wait_for("the visible region is done", lambda: idle() and bool(compare.tiles.items), 300)
        report["visible_region_s"] = round(time.monotonic() - opened, 2)
        report["preview_share"] = compare.drrn_done
        button = compare.controls.whole_button
        report["whole_button_after_preview"] = button.text() if button.isVisible() else ""
        # -- the whole image: started, cancelled with Esc, resumed ------------------------------
        j.click(button)
        start_share = compare.drrn_done
        j.wait_for("the whole-image run adds tiles",
                   lambda: compare.is_busy() and compare.drrn_done > start_share, 300)
        j.focus_window()
        j.xdo("key", "Escape")
        j.wait_for("the run is cancelled", lambda: not compare.is_busy(), 60)
        j.pump(0.5)
        report["kept_share"] = compare.drrn_done
        report["kept_tiles"] = len(compare.tiles.items)
        report["button_after_cancel"] = button.text() if button.isVisible() else ""
        j.click(button)
        j.wait_for("the whole image is done", lambda: "drrn" in compare.results
                   and not compare.is_busy(), 600)
        report["result_shape"] = list(compare.results["drrn"][0].shape)
        out = outdir / "photo_x2.png"
        save_with_dialog(out)
        report["saved"] = str(out)
        # -- a refused evaluation leaves nothing stale --------------------------------------------
        before = titles()
        open_with_dialog(tiny)
        j.focus_window()
        j.xdo("key", "ctrl+e")
        j.wait_for("evaluation mode", lambda: compare.mode == "evaluate", 10)
        j.wait_for("the evaluation is refused", lambda: idle() and "drrn" not in compare.results,
                   60)
        j.pump(0.5)
        report["titles_before"] = before
        report["titles_refused"] = titles()
        report["scores_refused"] = {k: [s.psnr, s.ssim] for k, s in compare.scores.items()}
        report["status_refused"] = window.statusBar().currentMessage()
        # -- RGBA saved as JPEG --------------------------------------------------------------------
        open_with_dialog(rgba)
        j.focus_window()
        j.xdo("key", "ctrl+u")
        j.wait_for("upscale mode", lambda: compare.mode == "upscale", 10)
        j.wait_for("the RGBA image is upscaled", lambda: "drrn" in compare.results
                   and not compare.is_busy(), 300)
        save_with_dialog(outdir / "logo_x2.jpg", quality_question=True)
        report["status_jpeg"] = window.statusBar().currentMessage()
        report["ok"] = True
    except Exception:  # noqa: BLE001 - the report says what went wrong
        report["ok"] = False
        report["error"] = traceback.format_exc()
        report["status"] = window.statusBar().currentMessage()
    return j.finish(report_path)


if __name__ == "__main__":
    sys.exit(main())

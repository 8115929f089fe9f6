"""What a user sees on opening a large photo in the app: how long until the first DRRN pixels
appear (the tile under the view's centre), and how long until DRRN covers the whole visible
region at 100 % (the user presses "100 %" as soon as DRRN shows), on a calibrated machine (the
engine's cache warm) and on first use (a fresh cache folder: auto's measurement, the ncnn
conversion and the time calibration are inside the times); medians of several runs.

Every run is a fresh process: the real main window (offscreen Qt on a 1920x1080 screen, the
window 1366x768, fresh settings) with
the bundled model opens a generated photo (a smooth gradient plus noise, see bench_memory.py)
with ``MainWindow.open_path``, as a drop or the Open dialog does. The engine is imported before
the clock starts (the app has started; opening is what is timed). ``--whole`` then also times
"Upscale whole image" once, on the warm cache.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_preview.py [--mp 12] [--runs 3] [--whole]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

SIZES = {1: (1152, 864), 6: (3000, 2000), 12: (4000, 3000), 16: (4608, 3456)}
"""Photo sizes by megapixels; 16 MP is the largest whose x2 result (63.7 MP) the Compare tab
takes (limits.COMPARE_MAX_OUTPUT_PIXELS): a 24 MP photo at x2 is refused there."""


def wait(condition: Callable[[], bool], timeout_s: float) -> float:
    """Process Qt's events every 10 ms until ``condition()``; the seconds it took (TimeoutError
    after ``timeout_s``). Sleeps with ``time.sleep``, which lets go of the GIL as the app's own
    event loop does (``QTest.qWait`` keeps it while it sleeps: the workers then wait for the GIL
    after every torch call and a run takes several times as long)."""
    from PySide6.QtWidgets import QApplication

    t0 = time.monotonic()
    while not condition():
        QApplication.processEvents()
        time.sleep(0.01)
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"still waiting after {timeout_s:.0f} s")
    return time.monotonic() - t0


def child(photo: Path, model: str, whole: bool) -> dict:
    """One measurement in this process (see the module doc); a JSON-able dict."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    import drrn_core.engine  # noqa: F401 - the app has started: its engine is loaded
    from app.main_window import MainWindow, settings_at

    qt = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        win = MainWindow(settings=settings_at(Path(tmp) / "settings.ini"))
        win.resize(1366, 768)
        win.show()
        compare = win.compare
        combo = compare.controls.model
        combo.setCurrentIndex(combo.findData(model))
        compare.debounce.stop()
        qt.processEvents()

        t0 = time.monotonic()
        win.open_path(str(photo))
        first = wait(lambda: bool(compare.tiles.items) or "drrn" in compare.results, 600)
        box = compare.tiles.boxes()[0] if compare.tiles.items else None
        fit_view = compare.visible_region()
        compare.actual_size()  # 100 %: the preview's work moves to what is visible now
        view = compare.visible_region()
        clipped = compare._clipped(view)

        def region_done() -> bool:
            patch = compare.grid.panes["drrn"].patch
            return (not compare.is_busy() and not compare.preview_timer.isActive()
                    and (("drrn" in compare.results) or (patch is not None
                                                         and tuple(patch[1]) == tuple(clipped))))

        region = wait(region_done, 1800)
        out = {"window": [win.width(), win.height()], "first_s": first,
               "first_tile": list(box) if box else None,
               "region_s": region, "open_to_region_s": time.monotonic() - t0,
               "region": [clipped.w, clipped.h], "fit_view": list(fit_view or ()),
               "tiles": len(compare.tiles.items),
               "whole_estimate_s": compare.whole_time.seconds if compare.whole_time else None,
               "button": compare.controls.whole_button.text(),
               "device": compare.whole_time.device if compare.whole_time else ""}
        if whole and "drrn" not in compare.results:
            t2 = time.monotonic()
            compare.run_whole()
            wait(lambda: "drrn" in compare.results and not compare.is_busy(), 7200)
            out["whole_s"] = time.monotonic() - t2
        compare.cancel()
        win.close()
    return out


SCREEN = {"screens": [{"name": "bench", "x": 0, "y": 0, "width": 1920, "height": 1080,
                       "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}
"""The offscreen platform's screen (its default, 800x800, would clamp the window)."""


def run_child(photo: Path, model: str, cache: Path, whole: bool = False) -> dict:
    screen = photo.parent / "screen.json"
    screen.write_text(json.dumps(SCREEN))
    env = dict(os.environ, DRRN_CACHE_DIR=str(cache),
               QT_QPA_PLATFORM=f"offscreen:configfile={screen}")
    args = [sys.executable, __file__, "--child", str(photo), "--model", model]
    proc = subprocess.run(args + (["--whole"] if whole else []), env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mp", type=int, default=12, choices=sorted(SIZES))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--model", default="DRRN_B1U9")
    p.add_argument("--whole", action="store_true", help="also time the whole image once")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.whole)))
        return

    from bench_memory import make_input

    from drrn_core.engine.device import list_devices

    w, h = SIZES[args.mp]
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / f"photo_{args.mp}mp.png"
        make_input(photo, w, h)
        warm = Path(tmp) / "warm-cache"
        print(f"{list_devices()[0].label}; {w}x{h} ({w * h / 1e6:.0f} MP) x2, {args.model}, "
              f"window 1366x768; load before: {os.getloadavg()[0]:.2f}")
        run_child(photo, args.model, warm)  # calibrates the warm cache (not counted)
        results: dict[str, list[dict]] = {"calibrated": [], "first use": []}
        for i in range(args.runs):
            results["calibrated"].append(run_child(photo, args.model, warm))
            results["first use"].append(run_child(photo, args.model, Path(tmp) / f"fresh-{i}"))
            print(json.dumps({k: v[-1] for k, v in results.items()}), flush=True)
        for name, runs in results.items():
            med = {k: statistics.median(r[k] for r in runs)
                   for k in ("first_s", "region_s", "open_to_region_s")}
            firsts = ", ".join(f"{r['first_s']:.2f}" for r in runs)
            regions = ", ".join(f"{r['region_s']:.1f}" for r in runs)
            r0 = runs[0]
            print(f"{name}: first DRRN pixels {med['first_s']:.2f} s after opening (runs: "
                  f"{firsts}); the 100 % region {r0['region'][0]}x{r0['region'][1]} done "
                  f"{med['region_s']:.1f} s after pressing 100 % ({regions}), "
                  f"{med['open_to_region_s']:.1f} s after opening; first tile "
                  f"{r0['first_tile']}; whole-image estimate {r0['whole_estimate_s']:.0f} s "
                  f"({r0['button']!r}) on {r0['device']}; window {r0['window']}")
        if args.whole:
            r = run_child(photo, args.model, warm, whole=True)
            print(f"whole image after that: {r['whole_s']:.1f} s (estimate "
                  f"{r['whole_estimate_s']:.1f} s left when asked)")
        print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

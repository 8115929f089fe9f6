"""What a user sees on opening a large photo in the app: how long until DRRN shows the
visible region, the whole-image estimate the app then offers, and (``--whole``) how long the
whole image really takes after "Upscale whole image".

The real main window runs (offscreen Qt, 1366x768, a fresh settings file) with the bundled model
and this machine's cached calibration (the first run on a machine calibrates; that is timed too).
The photo is generated (a smooth gradient plus noise, see bench_memory.py) and opened with
``MainWindow.open_path``, as a drop or the Open dialog does.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_preview.py [--mp 12] [--whole]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_memory import make_input  # noqa: E402

SIZES = {1: (1152, 864), 12: (4000, 3000), 16: (4608, 3456)}
"""Photo sizes by megapixels; 16 MP is the largest whose x2 result (63.7 MP) the Compare tab
takes (limits.COMPARE_MAX_OUTPUT_PIXELS): a 24 MP photo at x2 is refused there."""


def wait(condition: Callable[[], bool], timeout_s: float) -> float:
    """Process Qt's events every 20 ms until ``condition()``; the seconds it took (TimeoutError
    after ``timeout_s``). Sleeps with ``time.sleep``, which lets go of the GIL as the app's own
    event loop does (``QTest.qWait`` keeps it while it sleeps: the workers then wait for the GIL
    after every torch call and a run takes several times as long)."""
    from PySide6.QtWidgets import QApplication

    t0 = time.monotonic()
    while not condition():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"still waiting after {timeout_s:.0f} s")
    return time.monotonic() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mp", type=int, default=12, choices=sorted(SIZES))
    p.add_argument("--model", default="DRRN_B1U9")
    p.add_argument("--whole", action="store_true", help="then run the whole image and time it")
    args = p.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow, settings_at
    from drrn_core.engine.device import list_devices

    qt = QApplication.instance() or QApplication([])
    w, h = SIZES[args.mp]
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / f"photo_{args.mp}mp.png"
        make_input(photo, w, h)
        win = MainWindow(settings=settings_at(Path(tmp) / "settings.ini"))
        win.resize(1366, 768)
        win.show()
        combo = win.compare.controls.model
        combo.setCurrentIndex(combo.findData(args.model))
        win.compare.debounce.stop()
        qt.processEvents()
        compare = win.compare
        print(f"{list_devices()[0].label}; {w}x{h} ({w * h / 1e6:.0f} MP) x2, {args.model}")

        t0 = time.monotonic()
        win.open_path(str(photo))
        shown = wait(lambda: compare.grid.panes["drrn"].patch is not None
                     or "drrn" in compare.results, 600)
        wait(lambda: not compare.is_busy(), 600)
        settled = time.monotonic() - t0
        est = compare.estimate
        patch = compare.grid.panes["drrn"].patch
        region = "whole image" if patch is None else (
            f"{patch[1][2] - patch[1][0]}x{patch[1][3] - patch[1][1]} px region")
        print(f"DRRN shown after {shown:.1f} s ({region}); idle after {settled:.1f} s")
        if est is not None:
            print(f"estimate for the whole image: {est.seconds:.1f} s on {est.device}; "
                  f"button: {compare.controls.whole_button.text()!r}")
        if args.whole and "drrn" not in compare.results:
            t1 = time.monotonic()
            compare.controls.whole_button.click()
            wait(lambda: "drrn" in compare.results and not compare.is_busy(), 7200)
            actual = time.monotonic() - t1
            ratio = f", estimate/actual {est.seconds / actual:.2f}" if est else ""
            print(f"whole image: {actual:.1f} s from the click to the result{ratio}")
        compare.cancel()
        win.close()


if __name__ == "__main__":
    main()

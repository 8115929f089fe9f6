"""The app's first window (no saved geometry) in a real X server with a window manager: where it
lies once the window manager has framed it. Run by tests/app/test_journey_x11.py on its own
Xvfb + openbox:

    DISPLAY=:N QT_QPA_PLATFORM=xcb XDG_CONFIG_HOME=EMPTY_DIR \\
        python tests/app/first_window_x11.py REPORT.json [--no-allowance] [--screenshot PNG]

The window is opened as `drrn-studio` opens it (app.__main__.launch, the user's settings: none
yet under an empty XDG_CONFIG_HOME). The report holds Qt's view (logical pixels) and the X
server's (device pixels: the client window, the frame extents the window manager set and the
work area). --no-allowance keeps no room for the frame before showing, so the window fits only
if the correction made once the frame is known works. --screenshot saves the screen (ImageMagick's
`import`), for a person to look at.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def rect(r) -> list[int]:
    return [r.x(), r.y(), r.width(), r.height()]


def x_numbers(args: list[str], pattern: str) -> list[int]:
    """The comma-separated numbers after ``pattern`` in an x11-utils tool's output."""
    out = subprocess.run(args, capture_output=True, text=True, timeout=20, check=True).stdout
    match = re.search(pattern + r"\s*=\s*([\d, ]+)", out)
    if not match:
        raise RuntimeError(f"no {pattern} in {' '.join(args)}: {out!r}")
    return [int(v) for v in match.group(1).split(",")]


def x_client(wid: int) -> list[int]:
    """The client window's [x, y, width, height] on the root window (device pixels)."""
    out = subprocess.run(["xwininfo", "-id", str(wid)], capture_output=True, text=True,
                         timeout=20, check=True).stdout
    fields = dict(re.findall(r"^\s*(Absolute upper-left X|Absolute upper-left Y|Width|Height):"
                             r"\s*(-?\d+)", out, re.MULTILINE))
    return [int(fields[k]) for k in ("Absolute upper-left X", "Absolute upper-left Y", "Width",
                                     "Height")]


def main() -> int:
    report_path = Path(sys.argv[1])
    no_allowance = "--no-allowance" in sys.argv
    shot = sys.argv[sys.argv.index("--screenshot") + 1] if "--screenshot" in sys.argv else None
    from PySide6.QtCore import QSize

    import app.main_window as main_window
    from app.__main__ import launch, make_application

    if no_allowance:
        main_window.FRAME_ALLOWANCE = QSize(0, 0)
    app = make_application([sys.argv[0]])
    report: dict = {"ok": False}
    window = None
    try:
        window = launch()
        report["saved_geometry"] = window.settings.geometry is not None
        end = time.monotonic() + 30
        while not window.isVisible() or window.frame_margins().isNull():
            if time.monotonic() > end:
                break  # no frame: reported as such
            app.processEvents()
            time.sleep(0.01)
        # the correction runs once the frame is known (or after FRAME_WAIT_MS): let it settle
        end = time.monotonic() + main_window.FRAME_WAIT_MS / 1000 + 0.5
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)
        screen = window.screen()
        report["qt"] = {"frame": rect(window.frameGeometry()), "client": rect(window.geometry()),
                        "available": rect(screen.availableGeometry()),
                        "ratio": screen.devicePixelRatio(),
                        "allowance": [main_window.FRAME_ALLOWANCE.width(),
                                      main_window.FRAME_ALLOWANCE.height()],
                        "first_size": [main_window.FIRST_SIZE.width(),
                                       main_window.FIRST_SIZE.height()]}
        wid = int(window.winId())
        report["x"] = {
            "client": x_client(wid),
            "extents": x_numbers(["xprop", "-id", str(wid), "_NET_FRAME_EXTENTS"],
                                 r"_NET_FRAME_EXTENTS\(CARDINAL\)"),
            "workarea": x_numbers(["xprop", "-root", "_NET_WORKAREA"],
                                  r"_NET_WORKAREA\(CARDINAL\)")[:4],
        }
        status = window.statusBar()
        report["status_bar_bottom"] = status.mapToGlobal(status.rect().bottomLeft()).y()
        if shot:
            subprocess.run(["import", "-window", "root", shot], timeout=60, check=False)
        report["ok"] = True
    except Exception:  # noqa: BLE001 - the report says what went wrong
        report["error"] = traceback.format_exc()
    report_path.write_text(json.dumps(report, indent=2))
    if window is not None:
        window.close()
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""A user's journey in a real X server, driven by real input events (xdotool): open an image
with Ctrl+O and the file dialog, switch to evaluation (Ctrl+E), click "×3", read the scores,
save with Ctrl+S and the file dialog. Run by tests/app/test_journey_x11.py on its own Xvfb:

    DISPLAY=:N QT_QPA_PLATFORM=xcb python tests/app/journey_x11.py IMAGE OUT.png REPORT.json

The app runs in this process; each step sends X events with xdotool (they travel through the X
server back into Qt, as a user's would) and then waits for the app to react. The report holds
what was seen; the exit status is 0 only when every step worked.
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


class Journey:
    """The app in this process and the means to drive it as a user does: X input events through
    xdotool, file dialogs typed into by a helper process, waits that record each step."""

    def __init__(self, folder: Path) -> None:
        from app.__main__ import make_application
        from app.main_window import MainWindow, settings_at

        self.app = make_application([sys.argv[0]])
        self.report: dict = {"steps": []}
        tmp = Path(tempfile.mkdtemp())
        self.window = MainWindow(settings=settings_at(tmp / "settings.ini"))
        self.window.settings.last_dir = str(folder)
        self.window.resize(1200, 760)
        self.window.show()

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.01)

    def wait_for(self, what: str, cond, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out waiting for: {what}")
            self.app.processEvents()
            time.sleep(0.01)
        self.report["steps"].append(what)

    def xdo(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], check=True, timeout=20)
        self.pump(0.2)

    def focus_window(self) -> None:
        self.xdo("windowfocus", "--sync", str(int(self.window.winId())))

    def click(self, widget) -> None:
        from PySide6.QtCore import QPoint

        centre = widget.mapToGlobal(QPoint(widget.width() // 2, widget.height() // 2))
        self.xdo("mousemove", "--sync", str(centre.x()), str(centre.y()))
        self.xdo("click", "1")

    def through_dialog(self, key: str, path: Path) -> None:
        """Press ``key`` (ctrl+o, ctrl+s) and type ``path`` into the file dialog it opens (its
        exec() blocks this process: a helper process types)."""
        self.focus_window()
        helper = subprocess.Popen([sys.executable, "-c", _TYPER, str(path)])
        self.xdo("key", key)
        helper.wait(timeout=60)

    def finish(self, report_path: Path) -> int:
        """Write the report, close the window; the exit status."""
        report_path.write_text(json.dumps(self.report, indent=2))
        self.window.compare.cancel()
        self.window.close()
        return 0 if self.report.get("ok") else 1


def main() -> int:
    image, out, report_path = (Path(a) for a in sys.argv[1:4])
    j = Journey(image.parent)
    window, report = j.window, j.report
    try:
        j.wait_for("the window is shown", window.isVisible, 30)
        j.pump(1.0)
        j.through_dialog("ctrl+o", image)
        j.wait_for("the image is opened", lambda: window.loaded is not None, 60)
        j.focus_window()
        j.xdo("key", "ctrl+e")
        j.wait_for("evaluation mode", lambda: window.compare.mode == "evaluate", 10)
        j.click(window.compare.controls.preset_buttons[1])  # "×3"
        j.wait_for("scale ×3", lambda: window.compare.controls.scale_value() == 3.0, 10)
        j.pump(0.5)
        j.wait_for("the evaluation finished", lambda: not window.compare.is_busy()
                   and not window.compare.debounce.isActive() and "drrn" in window.compare.scores
                   and window.compare.scores["drrn"].ifc is not None, 180)
        readouts = window.compare.controls.readouts
        report["readouts"] = {k: [readouts.text(k, c) for c in range(3)]
                              for k in ("bicubic", "drrn")}
        report["scores"] = {k: [s.psnr, s.ssim, s.ifc] for k, s in window.compare.scores.items()}
        report["model"] = window.compare.controls.model_name()
        j.through_dialog("ctrl+s", out)
        j.wait_for("the result is saved", lambda: out.is_file(), 60)
        report["status"] = window.statusBar().currentMessage()
        report["ok"] = True
    except Exception:  # noqa: BLE001 - the report says what went wrong
        report["ok"] = False
        report["error"] = traceback.format_exc()
    return j.finish(report_path)


# Types a path into the file dialog that Ctrl+O / Ctrl+S opens (run as a separate process while
# the dialog's exec() blocks the app's process): waits for the dialog window, then types.
_TYPER = r"""
import subprocess, sys, time
path = sys.argv[1]
for _ in range(200):
    r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name",
                        "^(Open image|Save result)$"], capture_output=True, text=True)
    if r.stdout.strip():
        wid = r.stdout.split()[0]
        break
    time.sleep(0.1)
else:
    sys.exit("no file dialog appeared")
time.sleep(0.8)
subprocess.run(["xdotool", "windowfocus", "--sync", wid])
subprocess.run(["xdotool", "key", "ctrl+a"])
subprocess.run(["xdotool", "type", "--delay", "5", path])
time.sleep(0.3)
subprocess.run(["xdotool", "key", "Return"])
"""


if __name__ == "__main__":
    sys.exit(main())

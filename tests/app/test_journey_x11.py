"""One user journey in a real X server with real input events (issue 12): open an image with
Ctrl+O and the file dialog, evaluate at ×3 (Ctrl+E, a click on "×3"), read the scores, save
with Ctrl+S. Xvfb is started here; skipped with a reason where Xvfb or xdotool is missing
(`.ci/run` installs both). The app runs in a child process (this one is offscreen)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drrn_core import weights
from drrn_core.engine import Upscaler
from drrn_core.metrics import protocol

HERE = Path(__file__).resolve().parent


@pytest.fixture
def xserver(tmp_path):
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.skip("needs Xvfb and xdotool (apt-get install xvfb xdotool; .ci/run does)")
    for number in range(91, 120):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and \
                not Path(f"/tmp/.X{number}-lock").exists():
            break
    display = f":{number}"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.skip("Xvfb did not start")
        time.sleep(0.1)
    yield display
    proc.terminate()
    proc.wait(10)


def test_open_evaluate_at_x3_read_the_scores_and_save(xserver, tmp_path, astronaut_rgb,
                                                      model_store):
    gt = np.ascontiguousarray(astronaut_rgb[80:176, 160:256])
    image = tmp_path / "face.png"
    Image.fromarray(gt).save(image)
    out = tmp_path / "saved" / "face_x3.png"
    out.parent.mkdir()
    report_path = tmp_path / "report.json"
    env = dict(os.environ, DISPLAY=xserver, QT_QPA_PLATFORM="xcb", QT_QPA_PLATFORMTHEME="",
               DRRN_USER_DIR=str(model_store))
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.run([sys.executable, str(HERE / "journey_x11.py"), str(image), str(out),
                           str(report_path)], env=env, timeout=400, capture_output=True,
                          text=True)
    assert report_path.is_file(), proc.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["ok"], report.get("error", "") + proc.stderr[-2000:]
    assert proc.returncode == 0
    # the numbers the user read are the protocol's
    bicubic = protocol.evaluate_image(gt, 3, "bicubic")
    assert report["readouts"]["bicubic"] == [f"{bicubic.psnr:.2f}", f"{bicubic.ssim:.4f}",
                                             f"{bicubic.ifc:.3f}"]
    model = report["model"]
    restorer = Upscaler(weights.resolve_model(model), precision="fp32").restore_y  # as bench
    drrn = protocol.evaluate_image(gt, 3, restorer)
    assert report["readouts"]["drrn"] == [f"{drrn.psnr:.2f}", f"{drrn.ssim:.4f}",
                                          f"{drrn.ifc:.3f}"]
    with Image.open(out) as saved:
        assert saved.size == (96, 96)  # the DRRN result at ground-truth size (96 = 32 x 3)
    assert str(out) in report["status"]

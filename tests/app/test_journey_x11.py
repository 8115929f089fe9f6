"""The app in a real X server. One user journey with real input events: open an image
with Ctrl+O and the file dialog, evaluate at ×3 (Ctrl+E, a click on "×3"), read the scores, save
with Ctrl+S. And the first window under a real window manager: frame included, it lies
inside the screen's free area at 1366x768 and at 1920x1080 with 150 % scaling. Xvfb (and openbox)
are started here; skipped with a reason where Xvfb, xdotool, openbox or x11-utils is missing
(`.ci/run` installs them). The app runs in a child process (this one is offscreen)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drrn_core import weights
from drrn_core.engine import Upscaler
from drrn_core.metrics import protocol

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def _xvfb(size: str = "1280x800"):
    """An Xvfb server with one screen of ``size`` (WIDTHxHEIGHT); yields its DISPLAY. Xvfb picks
    a free display number itself (-displayfd): tests running side by side never share one."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{size}x24",
                             "-nolisten", "tcp"], pass_fds=(write_end,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        number = b""
        deadline = time.monotonic() + 20
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_end], [], [], 0.2)
            chunk = os.read(read_end, 16) if ready else b""
            number += chunk
            if (ready and not chunk) or time.monotonic() > deadline:
                pytest.skip("Xvfb did not start")
        yield f":{int(number)}"
    finally:
        os.close(read_end)
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def xserver(tmp_path):
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.skip("needs Xvfb and xdotool (apt-get install xvfb xdotool; .ci/run does)")
    with _xvfb() as display:
        yield display


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


@contextlib.contextmanager
def _openbox(display: str):
    """openbox managing ``display`` (a real window manager: title bars, _NET_FRAME_EXTENTS)."""
    env = dict(os.environ, DISPLAY=display)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(["openbox"], env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 20
            while "window id" not in subprocess.run(
                    ["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=env, capture_output=True,
                    text=True).stdout:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"openbox did not start on {display}: "
                                f"{log.read().decode(errors='replace')[-500:]}")
                time.sleep(0.1)
            yield
        finally:
            proc.terminate()
            proc.wait(10)


@pytest.mark.parametrize("size, scale, allowance", [
    ("1366x768", None, True),
    ("1920x1080", "1.5", True),
    ("1366x768", None, False),  # no room kept before showing: the correction alone fits it
], ids=["1366x768", "1920x1080-150%", "1366x768-correction-only"])
def test_the_first_window_fits_the_screen_frame_included(tmp_path, size, scale, allowance):
    """The first window, title bar and status bar included, lies on the screen at 1366x768 and
    at 1920x1080 with 150 % scaling."""
    missing = [t for t in ("Xvfb", "openbox", "xprop", "xwininfo") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install xvfb openbox x11-utils; "
                    ".ci/run does)")
    report_path = tmp_path / "report.json"
    (tmp_path / "config").mkdir()
    with _xvfb(size) as display, _openbox(display):
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", QT_QPA_PLATFORMTHEME="",
                   XDG_CONFIG_HOME=str(tmp_path / "config"),
                   XDG_STATE_HOME=str(tmp_path / "state"))
        env.pop("WAYLAND_DISPLAY", None)
        env.pop("QT_SCALE_FACTOR", None)
        if scale:
            env["QT_SCALE_FACTOR"] = scale
        args = [sys.executable, str(HERE / "first_window_x11.py"), str(report_path)]
        proc = subprocess.run(args + ([] if allowance else ["--no-allowance"]), env=env,
                              timeout=300, capture_output=True, text=True)
    assert report_path.is_file(), proc.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["ok"], report.get("error", "") + proc.stderr[-2000:]
    assert report["saved_geometry"] is False  # a first start
    qt, x = report["qt"], report["x"]
    assert qt["ratio"] == (float(scale) if scale else 1.0)
    # The X server's view, in device pixels: the frame openbox drew around the client window.
    left, right, top, bottom = x["extents"]
    assert top > 0, x  # a real title bar
    cx, cy, cw, ch = x["client"]
    frame = (cx - left, cy - top, cw + left + right, ch + top + bottom)
    wx, wy, ww, wh = x["workarea"]
    assert (wx, wy, ww, wh) == (0, 0, *map(int, size.split("x")))
    assert frame[0] >= wx and frame[1] >= wy, (frame, x)
    assert frame[0] + frame[2] <= wx + ww and frame[1] + frame[3] <= wy + wh, (frame, x)
    # Qt's view, in logical pixels: the same, and the status bar is on the screen.
    fx, fy, fw, fh = qt["frame"]
    ax, ay, aw, ah = qt["available"]
    assert ax <= fx and ay <= fy and fx + fw <= ax + aw and fy + fh <= ay + ah, qt
    assert report["status_bar_bottom"] < ay + ah
    # ... and it still takes the room there is (not fitted by being made small).
    assert fw >= min(qt["first_size"][0], aw - qt["allowance"][0]), qt
    assert fh >= ah - qt["allowance"][1] - 2, qt


def test_preview_where_i_look_cancel_resume_refused_evaluation_and_rgba_to_jpeg(
        xserver, tmp_path, record_property):
    """The bundled model on a photo: DRRN's first pixels (seconds recorded), the visible region
    tile by tile, the whole image cancelled and resumed from its kept tiles; then a refused
    evaluation with nothing stale, and RGBA saved as JPEG flattened onto white."""
    if not list((HERE.parents[1] / "resources" / "weights").glob("*.safetensors")):
        pytest.skip("no bundled model in resources/weights")
    from skimage import data

    rng = np.random.default_rng(7)
    photo = tmp_path / "photo.png"
    Image.fromarray(data.astronaut()[56:356, 56:456]).save(photo)  # 400x300: x2 is 800x600
    tiny = tmp_path / "tiny.png"
    Image.fromarray(rng.integers(0, 256, (7, 7, 3), dtype=np.uint8)).save(tiny)
    rgba = np.zeros((40, 48, 4), np.uint8)
    rgba[..., :3] = (255, 0, 0)  # red everywhere, transparent on the left half
    rgba[:, 24:, 3] = 255
    logo = tmp_path / "logo.png"
    Image.fromarray(rgba, "RGBA").save(logo)
    outdir = tmp_path / "saved"
    outdir.mkdir()
    report_path = tmp_path / "report.json"
    env = dict(os.environ, DISPLAY=xserver, QT_QPA_PLATFORM="xcb", QT_QPA_PLATFORMTHEME="",
               DRRN_USER_DIR=str(tmp_path / "user"))
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("DRRN_RESOURCES", None)  # the bundled model, as a user has it
    proc = subprocess.run([sys.executable, str(HERE / "journey_preview_x11.py"), str(photo),
                           str(tiny), str(logo), str(outdir), str(report_path)], env=env,
                          timeout=1200, capture_output=True, text=True)
    assert report_path.is_file(), proc.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["ok"], report.get("error", "") + report.get("status", "") + proc.stderr[-2000:]
    record_property("first_drrn_pixels_s", report["first_drrn_pixels_s"])
    record_property("visible_region_s", report["visible_region_s"])
    print(f"first DRRN pixels {report['first_drrn_pixels_s']} s, visible region "
          f"{report['visible_region_s']} s after opening (this machine, first use included)")
    # the preview covered part of the image; the whole image ran from it, was cancelled with
    # tiles kept, and resumed from them
    assert 0 < report["preview_share"] < 1
    assert report["whole_button_after_preview"].startswith("Resume whole image")
    assert report["preview_share"] < report["kept_share"] < 1 and report["kept_tiles"] > 0
    assert report["button_after_cancel"].startswith("Resume whole image")
    assert report["result_shape"][:2] == [600, 800]
    with Image.open(report["saved"]) as saved:
        assert saved.size == (800, 600)
    # the refused evaluation: no score and no earlier size in any title
    assert report["scores_refused"] == {}
    for title in report["titles_refused"].values():
        assert "800" not in title and "600" not in title and "dB" not in title, title
    assert "7×7" in report["status_refused"] or "7x7" in report["status_refused"]
    # RGBA as JPEG: flattened onto white (the transparent half), said in the status bar
    with Image.open(outdir / "logo_x2.jpg") as jpeg:
        assert jpeg.format == "JPEG" and jpeg.size == (96, 80)
        pixels = np.asarray(jpeg.convert("RGB"), dtype=int)
    assert (pixels[:, :40] > 235).all()  # white where it was transparent (left, away from edge)
    assert (pixels[:, 56:, 0] > 200).all() and (pixels[:, 56:, 1:] < 60).all()  # red kept
    assert "flattened" in report["status_jpeg"] and "white" in report["status_jpeg"]

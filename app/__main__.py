"""``drrn-studio [FILE|FOLDER]``, ``drrn-studio --version`` and ``drrn-studio --self-test
[--vulkan]``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from app import __version__

SELF_TEST_TIMEOUT_S = 120
# Reverse-DNS application id: the name of the .desktop entry and AppStream metainfo
# (packaging/linux/) and what Wayland compositors match windows to.
APP_ID = "io.github.drrnstudio.DRRNStudio"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="drrn-studio", description="DRRN single-image super-resolution: the desktop app.")
    # Several paths come from a file manager's "Open with" (the menu entry's %F); the first is
    # opened.
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="an image to open, or a folder of images")
    parser.add_argument("--version", action="version", version=f"drrn-studio {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="upscale a generated image with bicubic and the default model, "
                             "check the result, exit 0 (ok) or 1 (failed); a Vulkan GPU "
                             "runs one small inference too, a software Vulkan driver "
                             "(lavapipe) is only listed")
    parser.add_argument("--vulkan", action="store_true",
                        help="with --self-test: run the Vulkan inference on a software driver "
                             "too (tens of seconds), and fail where no Vulkan device can run it")
    args = parser.parse_args(argv)
    if args.vulkan and not args.self_test:
        parser.error("--vulkan goes with --self-test")
    args.path = args.paths[0] if args.paths else None
    return args


# Qt platform plugins that draw nowhere or straight to the hardware: they need no display server.
NO_SERVER_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")


def _headless() -> bool:
    return sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def no_display_problem() -> str | None:
    """Why the window cannot open here (Linux without X11/Wayland), or None when it can.

    Checked before Qt or torch is imported: without it, Qt either aborts with a long plugin
    message (xcb) or, on the offscreen fallback, runs an invisible window forever."""
    if not sys.platform.startswith("linux"):
        return None
    requested = os.environ.get("QT_QPA_PLATFORM", "")
    # "wayland;xcb" is a list of fallbacks; "xcb:option=..." carries plugin options.
    candidates = [c.split(":")[0].strip().lower() for c in requested.split(";") if c.strip()]
    display, wayland = os.environ.get("DISPLAY"), os.environ.get("WAYLAND_DISPLAY")
    if not candidates:
        return None if display or wayland else "neither DISPLAY nor WAYLAND_DISPLAY is set"
    for name in candidates:
        if (name.startswith(NO_SERVER_PLATFORMS) or (name == "xcb" and display)
                or (name.startswith("wayland") and wayland)
                or not (name == "xcb" or name.startswith("wayland"))):
            return None  # usable, or a plugin this check knows nothing about
    return f"QT_QPA_PLATFORM={requested} and neither DISPLAY nor WAYLAND_DISPLAY is set"


# The shared libraries Qt's X11 platform plugin (PySide6's libqxcb.so and libQt6XcbQpa.so.6, with
# Qt's own libraries) loads from the system, with the Debian/Ubuntu package of each. Without one,
# Qt aborts (SIGABRT, exit 134) naming only the first; a fresh desktop often lacks
# libxcb-cursor0, libxcb-icccm4 and libxcb-keysyms1. README's Quick start and .ci/run install
# these packages (tests/test_app_startup.py keeps them in step).
XCB_LIBRARIES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


def xcb_first() -> bool:
    """Whether Qt will load its X11 (xcb) plugin here (Linux): QT_QPA_PLATFORM's first usable
    entry is xcb, or none is set and this is not a Wayland session (where Qt takes Wayland)."""
    if not sys.platform.startswith("linux"):
        return False
    requested = os.environ.get("QT_QPA_PLATFORM", "")
    candidates = [c.split(":")[0].strip().lower() for c in requested.split(";") if c.strip()]
    wayland = bool(os.environ.get("WAYLAND_DISPLAY"))
    for name in candidates:
        if name.startswith("wayland") and not wayland:
            continue  # Qt tries it, fails and goes on to the next
        return name == "xcb"
    if candidates:
        return False
    return bool(os.environ.get("DISPLAY")) and not (
        wayland and os.environ.get("XDG_SESSION_TYPE", "").lower() == "wayland")


def xcb_plugin() -> Path | None:
    """PySide6's X11 platform plugin, found without importing PySide6 (None if not there)."""
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def _load_library(name: str) -> None:
    """dlopen ``name`` (a soname or a path) with its dependencies; OSError if it cannot."""
    import ctypes

    ctypes.CDLL(name)


def xcb_problem(load: Callable[[str], None] | None = None,
                plugin: Path | None | bool = True) -> str | None:
    """Why Qt's X11 plugin cannot load (one line naming the missing libraries, their packages
    and the install command), or None when it can. ``plugin``: the plugin file (True: find it);
    when it loads, nothing is missing (it may find libraries of its own, e.g. in a bundle).
    ``load`` (default: _load_library) raises OSError for a library that cannot be loaded."""
    load = load or _load_library
    plugin = xcb_plugin() if plugin is True else plugin
    failure = None
    if plugin:
        try:
            load(str(plugin))
            return None
        except OSError as exc:
            failure = exc
    missing = []
    for name in XCB_LIBRARIES:
        try:
            load(name)
        except OSError:
            missing.append(name)
    if missing:
        packages = " ".join(dict.fromkeys(XCB_LIBRARIES[name] for name in missing))
        return (f"Qt's X11 (xcb) platform plugin needs {', '.join(missing)}, missing here; "
                f"on Debian/Ubuntu: sudo apt-get install -y {packages}")
    if failure is not None:
        from drrn_core.errors import one_line

        return f"Qt's X11 (xcb) platform plugin does not load: {one_line(failure)}"
    return None


def import_torch_before_qt() -> None:
    """Load torch's native libraries before any of Qt's.

    On Windows, with torch >= 2.9, ``import torch`` can fail loading c10.dll (WinError 1114)
    once Qt's DLLs (and their C++ runtime) are loaded; torch first avoids that. Everywhere else
    it costs nothing: the window imports torch anyway."""
    import torch  # noqa: F401


def make_application(argv: Sequence[str]):
    """The QApplication (offscreen where Linux has no display), named for QSettings."""
    import_torch_before_qt()
    if _headless():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from app.main_window import ICON
    from app.settings import APPLICATION, ORGANIZATION

    # instance() is typed QCoreApplication; this process only ever makes a QApplication
    app = cast("QApplication | None", QApplication.instance()) or QApplication(list(argv))
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)  # Wayland: matches the window to its menu entry
    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))
    return app


def sample_image(size: int = 48):
    """A deterministic colour test image (float32 RGB in [0, 1]) with edges and gradients."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    rings = 0.5 + 0.5 * np.cos(40 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2))
    return np.dstack([xx, rings, 1.0 - yy]).astype(np.float32)


def teardown(*windows) -> None:
    """Stop jobs and delete ``windows`` while Qt is still alive (avoids crashes at exit)."""
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    from app.workers import shutdown_jobs

    shutdown_jobs(5000)
    for window in windows:
        window.close()
        window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    gc.collect()


def self_test(vulkan: bool = False) -> int:
    """Bicubic + default model at x2 on a generated image, headless, through the real window;
    then the Vulkan check (``vulkan``: on a software driver too, see vulkan_check)."""
    from PySide6.QtCore import QEventLoop, QTimer

    from app.main_window import MainWindow, settings_at
    from app.services import pipeline
    from drrn_core import weights

    def fail(message: str) -> int:
        print(f"drrn-studio self-test: FAILED: {message}", file=sys.stderr)
        return 1

    make_application([sys.argv[0]])
    image = sample_image()
    expected = (image.shape[0] * 2, image.shape[1] * 2, 3)
    model = weights.default_model_name() or pipeline.BICUBIC
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(settings=settings_at(Path(tmp) / "settings.ini"))
        window.compare.controls.set_mode("upscale")
        window.compare.controls.scale.setValue(2.0)
        idx = window.compare.controls.model.findData(model)
        window.compare.controls.model.setCurrentIndex(max(idx, 0))
        loop = QEventLoop()
        window.compare.busyChanged.connect(lambda busy: None if busy else loop.quit())
        QTimer.singleShot(SELF_TEST_TIMEOUT_S * 1000, loop.quit)
        window.compare.set_source(image, "self-test sample")
        loop.exec()
        results = dict(window.compare.results)
        teardown(window)
        del window
    if "bicubic" not in results:
        return fail("no bicubic result (see the log)")
    if model != pipeline.BICUBIC and "drrn" not in results:
        return fail(f"no result from model {model} (see the log)")
    for key, (out, _size) in results.items():
        if key in ("bicubic", "drrn") and out.shape != expected:
            return fail(f"{key} result has shape {out.shape}, expected {expected}")
    label = model if model != pipeline.BICUBIC else "bicubic only (no model installed)"
    print(f"drrn-studio self-test: OK ({label}, x2, {expected[1]}x{expected[0]}, "
          f"{time.monotonic() - t0:.1f} s)")
    problem = vulkan_check(model if model != pipeline.BICUBIC else None, image, asked=vulkan)
    return fail(problem) if problem else 0


VULKAN_CHECK_SIDE = 24
"""Side (px) of the input of the self-test's Vulkan inference: small, because a software Vulkan
driver (lavapipe) takes tens of seconds for a 96 px B1U9 tile."""
VULKAN_CHECK_TOLERANCE = 0.02
"""Largest |Vulkan - CPU fp32| allowed in the self-test (values in [0, 1]; ncnn's fp16 storage
on a GPU differs by ~1e-3, a broken driver by far more)."""


def vulkan_check(model: str | None, image, asked: bool = False) -> str | None:
    """Print the devices found; where a hardware Vulkan GPU exists and a model is installed, run
    one small inference there and compare it with the CPU's exact fp32. A software driver
    (lavapipe, llvmpipe) is listed, not run: it takes 10-20 s for this tile on a 2-core CPU and
    says nothing about a GPU. ``asked`` (``--self-test --vulkan``) runs it on the first Vulkan
    device whatever its kind, and makes a missing device or model a failure. A problem line, or
    None."""
    from drrn_core import weights
    from drrn_core.engine import Upscaler
    from drrn_core.engine.device import list_devices

    devices = list_devices()
    print("drrn-studio self-test: devices: " + "; ".join(d.label for d in devices))
    vulkan = [d for d in devices if d.kind == "vulkan"]
    hardware = [d for d in vulkan if not d.software]
    why = None
    if not vulkan:
        why = "no Vulkan device"
    elif model is None:
        why = "no model installed"
    elif not hardware and not asked:
        why = (f"{vulkan[0].spec} is a software driver, listed, not timed; "
               "'drrn-studio --self-test --vulkan' runs it")
    if why or model is None:
        if asked:
            return f"Vulkan inference asked for (--vulkan) but not possible: {why}"
        print(f"drrn-studio self-test: Vulkan inference not run ({why})")
        return None
    vulkan = hardware or vulkan
    crop = image[:VULKAN_CHECK_SIDE, :VULKAN_CHECK_SIDE]
    loaded = weights.load_weights(weights.find_model(model).path)
    t0 = time.monotonic()
    notices: list[str] = []
    try:
        up = Upscaler(loaded, device=vulkan[0].spec, backend="ncnn", notice=notices.append)
        got = up.upscale(crop, 2)
    except Exception as exc:  # noqa: BLE001 - any driver failure is the finding
        return f"Vulkan inference on {vulkan[0].label} failed: {type(exc).__name__}: {exc}"
    if up.device.type != "vulkan":  # the engine fell back to the CPU: say why
        return f"Vulkan inference on {vulkan[0].label} did not run: {' '.join(notices)}"
    ref = Upscaler(loaded, device="cpu", precision="fp32").upscale(crop, 2)
    diff = float(abs(got.astype("float64") - ref).max())
    if diff > VULKAN_CHECK_TOLERANCE:
        return f"Vulkan inference on {vulkan[0].label} differs from the CPU by {diff:.4f}"
    print(f"drrn-studio self-test: Vulkan OK ({vulkan[0].label}, {VULKAN_CHECK_SIDE}x"
          f"{VULKAN_CHECK_SIDE} x2, max |Vulkan - CPU fp32| {diff:.1e}, "
          f"{time.monotonic() - t0:.1f} s)")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    from drrn_core import memory

    memory.share_one_heap()  # before torch, ncnn, Qt or a job starts a thread
    args = parse_args(sys.argv[1:] if argv is None else argv)
    no_display = None if args.self_test else no_display_problem()
    if no_display:
        print(f"drrn-studio: cannot open a window: no display ({no_display}). Run it in a "
              "desktop session, or use the command-line tool 'drrn' (see 'drrn --help').",
              file=sys.stderr)
        return 1
    no_xcb = xcb_problem() if xcb_first() else None
    if no_xcb:  # instead of Qt's abort (exit 134) with a message about one of them
        print(f"drrn-studio: cannot open a window: {no_xcb}", file=sys.stderr)
        return 1
    import_torch_before_qt()
    from app.dialogs.crash import show_crash
    from app.services.logging_setup import install_excepthook, setup_logging

    _log_path, problem = setup_logging()
    if args.self_test:
        try:
            return self_test(vulkan=args.vulkan)
        except Exception as exc:  # noqa: BLE001 - the smoke test reports, never tracebacks
            print(f"drrn-studio self-test: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        finally:
            # Python's last collection at exit walks every object torch and Qt made (about a
            # second here, a tenth of the self-test); none of them needs collecting now.
            import gc

            gc.freeze()

    app = make_application(sys.argv[:1])
    window = launch(args.path, problem)
    install_excepthook(lambda summary, details: show_crash(window, summary, details))
    code = app.exec()
    teardown(window)
    return code


def launch(path: str | None = None, log_problem: str | None = None):
    """Show the main window and, once the event loop runs, open ``path`` (file or folder)."""
    from PySide6.QtCore import QTimer

    from app.main_window import MainWindow

    window = MainWindow(log_problem=log_problem)
    window.show()
    if path:
        QTimer.singleShot(0, window, lambda: window.open_path(path))
    return window


if __name__ == "__main__":
    sys.exit(main())

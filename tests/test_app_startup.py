"""The desktop app's start-up: no display means one clear line and exit 1 before Qt or torch is
loaded (it used to hang on an invisible offscreen window), and torch is imported before Qt (on
Windows the other order can make torch's c10.dll fail to load)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISPLAY_VARS = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
# Runs main() and reports, after it returns, whether Qt and torch were imported and in which
# order (sys.modules keeps insertion order).
PROBE = """
import sys
from app.__main__ import main
code = main(sys.argv[1:])
mods = list(sys.modules)
def at(name):
    return mods.index(name) if name in mods else -1
print("torch", at("torch"), "PySide6", at("PySide6"))
sys.exit(code)
"""

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the display check is for Linux (X11/Wayland)")


def _run(args: list[str], tmp_path: Path, **env_vars: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in DISPLAY_VARS}
    env.update(PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), **env_vars)
    return subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def _imports(proc: subprocess.CompletedProcess) -> dict[str, int]:
    words = proc.stdout.strip().splitlines()[-1].split()
    return {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}


@linux_only
@pytest.mark.parametrize("platform", [None, "xcb", "wayland", "wayland;xcb"])
def test_no_display_is_one_line_and_exit_1_before_qt_or_torch(tmp_path, platform):
    extra = {"QT_QPA_PLATFORM": platform} if platform else {}
    proc = _run([], tmp_path, **extra)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("drrn-studio: cannot open a window: no "
                                                   "display"), proc.stderr
    assert "DISPLAY" in lines[0] and "drrn" in lines[0]
    # Nothing heavy was loaded, so this returns in well under 2 s.
    assert _imports(proc) == {"torch": -1, "PySide6": -1}


@linux_only
def test_display_checks_accept_what_can_draw(monkeypatch):
    from app.__main__ import no_display_problem

    for var in DISPLAY_VARS:
        monkeypatch.delenv(var, raising=False)
    assert no_display_problem() is not None
    for env, ok in [({"DISPLAY": ":0"}, True), ({"WAYLAND_DISPLAY": "wayland-0"}, True),
                    ({"QT_QPA_PLATFORM": "offscreen"}, True),
                    ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "w"}, False),
                    ({"QT_QPA_PLATFORM": "wayland", "DISPLAY": ":0"}, False),
                    ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, True),
                    ({"QT_QPA_PLATFORM": "xcb:dpi=96", "DISPLAY": ":1"}, True)]:
        for var in DISPLAY_VARS:
            monkeypatch.delenv(var, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert (no_display_problem() is None) == ok, env


@pytest.mark.slow
def test_self_test_imports_torch_before_qt(tmp_path):
    """--self-test runs headless by design (offscreen), through the same start-up as the app."""
    proc = _run(["--self-test"], tmp_path, DRRN_RESOURCES=str(tmp_path / "no-resources"),
                DRRN_USER_DIR=str(tmp_path / "user"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "self-test: OK" in proc.stdout
    order = _imports(proc)
    assert 0 <= order["torch"] < order["PySide6"], order


def test_several_paths_from_a_file_manager_open_the_first():
    """The menu entry passes %F (every selected file or folder); argparse must accept them."""
    from app.__main__ import parse_args

    args = parse_args(["/pics/a.png", "/pics/b.ppm", "/pics/folder"])
    assert args.path == "/pics/a.png" and args.paths[1:] == ["/pics/b.ppm", "/pics/folder"]
    assert parse_args([]).path is None


def test_self_test_runs_one_vulkan_inference_where_a_device_exists(capsys):
    """The self-test names the devices and checks a Vulkan inference against the CPU's fp32
    (lavapipe here, CI installs mesa-vulkan-drivers: a software driver runs when asked for)."""
    from app.__main__ import sample_image, vulkan_check
    from drrn_core import weights
    from drrn_core.engine.device import list_devices

    if not any(d.kind == "vulkan" for d in list_devices()):
        pytest.skip("no Vulkan device here (mesa-vulkan-drivers gives lavapipe)")
    model = weights.default_model_name()
    if model is None:
        pytest.skip("no bundled model")
    assert vulkan_check(model, sample_image(), asked=True) is None
    out = capsys.readouterr().out
    assert "devices: cpu" in out and "vulkan:0" in out and "Vulkan OK" in out


def test_self_test_reports_a_failing_vulkan_driver(monkeypatch, capsys):
    from app import __main__ as entry
    from drrn_core.engine import device

    fake = device.DeviceInfo("vulkan:0", "vulkan", "Broken GPU", "discrete GPU", 1024,
                             ("ncnn",), ("fp32",))
    monkeypatch.setattr(device, "list_devices", lambda: [fake])

    class Failing:
        def __init__(self, *a, **k) -> None:
            raise RuntimeError("vkCreateDevice failed")

    monkeypatch.setattr("drrn_core.engine.Upscaler", Failing)
    monkeypatch.setattr("drrn_core.weights.find_model", lambda name: type("E", (), {"path": name}))
    monkeypatch.setattr("drrn_core.weights.load_weights", lambda path: None)
    problem = entry.vulkan_check("some-model", entry.sample_image())
    assert problem is not None and "Broken GPU" in problem and "vkCreateDevice" in problem
    assert entry.vulkan_check(None, entry.sample_image()) is None  # no model: reported, no run
    assert "not run (no model installed)" in capsys.readouterr().out


def test_self_test_says_when_the_engine_fell_back_from_vulkan(monkeypatch):
    """A Vulkan device that the engine could not use (it continued on the CPU): the self-test
    names the reason instead of comparing two CPU results or blaming the driver's numbers."""
    from app import __main__ as entry
    from drrn_core.engine import device

    fake = device.DeviceInfo("vulkan:0", "vulkan", "Quiet GPU", "discrete GPU", 1024,
                             ("ncnn",), ("fp32",))
    monkeypatch.setattr(device, "list_devices", lambda: [fake])

    class FellBack:
        def __init__(self, *a, notice=None, **k) -> None:
            self.device = type("D", (), {"type": "cpu"})()
            notice("ncnn failed (could not write the model): continuing with PyTorch on the CPU.")

        def upscale(self, image, scale):
            return image

    monkeypatch.setattr("drrn_core.engine.Upscaler", FellBack)
    monkeypatch.setattr("drrn_core.weights.find_model", lambda name: type("E", (), {"path": name}))
    monkeypatch.setattr("drrn_core.weights.load_weights", lambda path: None)
    problem = entry.vulkan_check("some-model", entry.sample_image())
    assert problem is not None and "Quiet GPU (discrete GPU) did not run" in problem
    assert "could not write the model" in problem


def _fake_vulkan(monkeypatch, *devices):
    """list_devices gives the CPU and ``devices``; the Upscaler records where it was made to run
    and returns zeros (so the CPU comparison agrees)."""
    import numpy as np

    from drrn_core.engine import device

    cpu = device.DeviceInfo("cpu", "cpu", "Some CPU", "2 threads, AVX2", None, ("torch",),
                            ("fp32",))
    monkeypatch.setattr(device, "list_devices", lambda: [cpu, *devices])
    ran: list[str] = []

    class Recording:
        def __init__(self, loaded, device="auto", **options) -> None:
            ran.append(device)
            self.device = type("D", (), {"type": device.split(":")[0]})()

        def upscale(self, image, scale):
            return np.zeros((image.shape[0] * scale, image.shape[1] * scale, 3), np.float32)

    monkeypatch.setattr("drrn_core.engine.Upscaler", Recording)
    monkeypatch.setattr("drrn_core.weights.find_model", lambda name: type("E", (), {"path": name}))
    monkeypatch.setattr("drrn_core.weights.load_weights", lambda path: None)
    return ran


def _vulkan_device(index: int, name: str, software: bool):
    from drrn_core.engine import device

    return device.DeviceInfo(f"vulkan:{index}", "vulkan", name,
                             "software (CPU)" if software else "discrete GPU", 1024, ("ncnn",),
                             ("fp32", "fp16"), software)


def test_self_test_lists_a_software_vulkan_driver_without_running_it(monkeypatch, capsys):
    """lavapipe takes 10-20 s for the check's tile on a 2-core CPU and says nothing about a GPU:
    the default self-test lists it and moves on; --vulkan runs it."""
    from app import __main__ as entry

    ran = _fake_vulkan(monkeypatch, _vulkan_device(0, "llvmpipe (LLVM 15)", software=True))
    assert entry.vulkan_check("some-model", entry.sample_image()) is None
    out = capsys.readouterr().out
    assert "llvmpipe (LLVM 15)" in out and ran == []
    assert "Vulkan inference not run (vulkan:0 is a software driver" in out
    assert "--self-test --vulkan" in out
    assert entry.vulkan_check("some-model", entry.sample_image(), asked=True) is None
    assert ran == ["vulkan:0", "cpu"] and "Vulkan OK (vulkan:0 - llvmpipe" in \
        capsys.readouterr().out


def test_self_test_runs_on_the_hardware_gpu_before_a_software_driver(monkeypatch, capsys):
    from app import __main__ as entry

    ran = _fake_vulkan(monkeypatch, _vulkan_device(0, "llvmpipe", software=True),
                       _vulkan_device(1, "Radeon 780M", software=False))
    assert entry.vulkan_check("some-model", entry.sample_image()) is None
    assert ran == ["vulkan:1", "cpu"]
    assert "Vulkan OK (vulkan:1 - Radeon 780M" in capsys.readouterr().out


def test_self_test_vulkan_asked_for_fails_where_it_cannot_run(monkeypatch, capsys):
    from app import __main__ as entry

    ran = _fake_vulkan(monkeypatch)
    problem = entry.vulkan_check("some-model", entry.sample_image(), asked=True)
    assert problem is not None and "--vulkan" in problem and "no Vulkan device" in problem
    _fake_vulkan(monkeypatch, _vulkan_device(0, "llvmpipe", software=True))
    problem = entry.vulkan_check(None, entry.sample_image(), asked=True)
    assert problem is not None and "no model installed" in problem
    assert ran == []


def test_vulkan_option_goes_with_the_self_test(capsys):
    from app.__main__ import parse_args

    assert parse_args(["--self-test", "--vulkan"]).vulkan
    assert not parse_args(["--self-test"]).vulkan
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--vulkan"])
    assert exit_info.value.code == 2
    assert "--vulkan goes with --self-test" in capsys.readouterr().err


# -- Qt's X11 plugin and its system libraries (a fresh desktop) ---------------------------------

def _loader(missing: set[str], plugin_error: str | None = None):
    """A fake dlopen: OSError for the sonames in ``missing`` and, with ``plugin_error``, for the
    plugin file; records what was asked for."""
    asked: list[str] = []

    def load(name: str) -> None:
        asked.append(name)
        if name in missing:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
        if name.endswith("libqxcb.so") and plugin_error:
            raise OSError(plugin_error)

    load.asked = asked
    return load


def test_missing_xcb_libraries_are_named_with_their_packages():
    from app.__main__ import xcb_problem

    load = _loader({"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"},
                   "libxcb-cursor.so.0: cannot open shared object file")
    problem = xcb_problem(load, Path("/qt/plugins/platforms/libqxcb.so"))
    assert problem is not None and "\n" not in problem
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4, libxcb-keysyms.so.1" in problem
    assert problem.endswith("sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 "
                            "libxcb-keysyms1")


def test_a_plugin_that_loads_is_enough():
    """The plugin file loading settles it (a bundle may carry libraries the system lacks)."""
    from app.__main__ import xcb_problem

    load = _loader({"libxcb-cursor.so.0"})
    assert xcb_problem(load, Path("/qt/plugins/platforms/libqxcb.so")) is None
    assert load.asked == ["/qt/plugins/platforms/libqxcb.so"]


def test_without_the_plugin_file_the_libraries_decide():
    from app.__main__ import XCB_LIBRARIES, xcb_problem

    assert xcb_problem(_loader(set()), None) is None
    problem = xcb_problem(_loader({"libxkbcommon-x11.so.0"}), None)
    assert problem is not None and problem.endswith("install -y libxkbcommon-x11-0")
    load = _loader(set())
    xcb_problem(load, None)
    assert load.asked == list(XCB_LIBRARIES)


def test_a_plugin_failing_for_another_reason_says_why():
    from app.__main__ import xcb_problem

    why = "libQt6XcbQpa.so.6: version `Qt_6_PRIVATE_API' not found"
    problem = xcb_problem(_loader(set(), why), Path("/qt/plugins/platforms/libqxcb.so"))
    assert problem == f"Qt's X11 (xcb) platform plugin does not load: {why}"


@linux_only
def test_the_real_lookup_finds_everything_here():
    """With the packages installed (.ci/run installs them), the real plugin loads and every
    library is found: the check never stops an app that would start."""
    import shutil

    from app.__main__ import XCB_LIBRARIES, _load_library, xcb_plugin, xcb_problem

    if shutil.which("dpkg") is None:
        pytest.skip("not a Debian/Ubuntu system (dpkg)")
    packages = sorted(set(XCB_LIBRARIES.values()))
    absent = [p for p in packages
              if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if absent:
        pytest.skip(f"packages not installed: {' '.join(absent)} (.ci/run installs them)")
    assert xcb_plugin() is not None and xcb_plugin().name == "libqxcb.so"
    assert xcb_problem() is None
    assert xcb_problem(plugin=None) is None  # every library, one by one
    with pytest.raises(OSError):
        _load_library("libdrrn-no-such-library.so.0")


@linux_only
def test_xcb_is_checked_only_where_qt_would_load_it(monkeypatch):
    from app.__main__ import xcb_first

    cases = [({"DISPLAY": ":0"}, True),
             ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, True),
             ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, False),
             ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, True),
             ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w", "QT_QPA_PLATFORM": "wayland;xcb"},
              False),
             ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w", "XDG_SESSION_TYPE": "wayland"}, False),
             ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w", "XDG_SESSION_TYPE": "x11"}, True),
             ({}, False)]
    for env, expected in cases:
        for var in (*DISPLAY_VARS, "XDG_SESSION_TYPE"):
            monkeypatch.delenv(var, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert xcb_first() == expected, env


XCB_PROBE = """
import sys
import app.__main__ as entry
def load(name):
    if name.endswith("libqxcb.so") or name in ("libxcb-cursor.so.0", "libxcb-icccm.so.4"):
        raise OSError(name + ": cannot open shared object file: No such file or directory")
entry._load_library = load
code = entry.main([])
print("torch", "torch" in sys.modules, "PySide6", "PySide6" in sys.modules)
sys.exit(code)
"""


@linux_only
def test_drrn_studio_without_the_xcb_libraries_is_one_line_and_exit_1(tmp_path):
    """Instead of Qt's abort (exit 134), before torch or Qt is loaded."""
    env = {k: v for k, v in os.environ.items() if k not in DISPLAY_VARS}
    env.update(PYTHONPATH=str(ROOT), DISPLAY=":99", QT_QPA_PLATFORM="xcb",
               XDG_STATE_HOME=str(tmp_path / "state"))
    proc = subprocess.run([sys.executable, "-c", XCB_PROBE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == (
        "drrn-studio: cannot open a window: Qt's X11 (xcb) platform plugin needs "
        "libxcb-cursor.so.0, libxcb-icccm.so.4, missing here; on Debian/Ubuntu: "
        "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4")
    assert proc.stdout.split() == ["torch", "False", "PySide6", "False"]


def _apt_words(text: str) -> set[str]:
    return set(text.replace("\\", " ").split())


def test_readme_and_ci_install_every_library_the_plugin_needs():
    from app.__main__ import XCB_LIBRARIES

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    command1 = next(line for line in quick.splitlines() if "drrn-studio" in line
                    and not line.startswith("#"))
    assert command1.startswith("sudo apt-get install -y ")
    packages = set(XCB_LIBRARIES.values())
    assert packages <= _apt_words(command1), packages - _apt_words(command1)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_list = ci.split("for pkg in", 1)[1].split("; do", 1)[0]
    assert packages <= _apt_words(ci_list), packages - _apt_words(ci_list)
    assert "openbox" in _apt_words(ci_list)  # the window manager of the window-fit test

"""Smoke-test a built DRRN Studio bundle (the PyInstaller folder dist/drrn-studio).

    python scripts/smoke_bundle.py [dist/drrn-studio] [--timings 3] [--drop-caches] [--json F]

Runs the frozen executables the way a user would and checks that they work; run it with a
Python that has the project installed (the build venv), because the upscale and metrics checks
compare the frozen output with the source tree's (drrn_core.cli.main, in this process). Every
check passes, fails or is skipped with a reason; the exit status is 1 if any failed.
tests/test_bundle.py runs the same checks under pytest (DRRN_TEST_BUNDLE=path).

Every run gets fresh XDG_CONFIG/DATA/STATE/CACHE_HOME folders, so a model the user imported or
a setting saved on this machine cannot change what is tested.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IS_WIN = sys.platform.startswith("win")
EXE_SUFFIX = ".exe" if IS_WIN else ""
TIMEOUT_S = 600  # a first --self-test on a slow CI disk can take a while
ODD_DIR_NAME = "DRRN Stüdio test"  # a space and a non-ASCII letter
XDG_VARS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
# What the app prints when it cannot write somewhere (its log file, settings, user models).
COULD_NOT = re.compile(r"could ?not|cannot|can't|not writable|unable|read-only|permission",
                       re.IGNORECASE)


@dataclass
class Result:
    name: str
    status: str  # "pass" | "fail" | "skip"
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Ran:
    argv: list[str]
    rc: int
    out: str
    err: str
    seconds: float

    def tail(self, n: int = 600) -> str:
        text = (self.out + self.err).strip()
        return text if len(text) <= n else "..." + text[-n:]


class CheckFailed(Exception):
    pass


class Skip(Exception):
    pass


@dataclass
class Bundle:
    """A bundle folder and a scratch folder for one smoke run."""

    root: Path
    work: Path
    version: str = ""
    last_stderr: str = ""  # of the last upscale_and_compare run
    _env: dict[str, str] = field(default_factory=dict)

    def exe(self, name: str, root: Path | None = None) -> Path:
        return (root or self.root) / f"{name}{EXE_SUFFIX}"

    @property
    def internal(self) -> Path:
        return self.root / "_internal"

    def weights(self) -> list[str]:
        folder = self.internal / "resources" / "weights"
        return sorted(p.name for p in folder.glob("*.safetensors")) if folder.is_dir() else []

    def model_args(self) -> list[str]:
        """`drrn upscale` options: none (the bundled default model), or `--model bicubic` when
        no weights are bundled (without weights, upscale refuses to guess)."""
        return [] if self.weights() else ["--model", "bicubic"]

    def env(self, **extra: str) -> dict[str, str]:
        """A hermetic environment: this run's own, empty XDG folders; Qt offscreen."""
        if not self._env:
            base = dict(os.environ)
            for var in XDG_VARS:
                path = self.work / "xdg" / var.lower()
                path.mkdir(parents=True, exist_ok=True)
                base[var] = str(path)
            base["QT_QPA_PLATFORM"] = "offscreen"
            # The frozen app must not pick up the source tree's resources or a dev override.
            base.pop("DRRN_RESOURCES", None)
            base.pop("PYTHONPATH", None)
            self._env = base
        env = dict(self._env)
        env.update(extra)
        return env

    def run(self, argv: Sequence[str | Path], env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = TIMEOUT_S) -> Ran:
        argv = [str(a) for a in argv]
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env or self.env(), cwd=cwd or self.work,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        decode = lambda b: b.decode("utf-8", "replace")  # noqa: E731
        return Ran(argv, proc.returncode, decode(proc.stdout), decode(proc.stderr), seconds)


def expect_ok(ran: Ran, what: str) -> Ran:
    if ran.rc != 0:
        raise CheckFailed(f"{what}: exit {ran.rc}: {ran.tail()}")
    return ran


def source_version() -> str:
    text = (ROOT / "drrn_core" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


# -- test data and the source tree's reference outputs -------------------------------------------
def sample_png(folder: Path, name: str = "astronaut crop.png") -> Path:
    """A 96x96 RGB crop of scikit-image's astronaut (her face: edges and texture), as PNG."""
    import numpy as np
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        crop = np.ascontiguousarray(data.astronaut()[60:156, 170:266])
        Image.fromarray(crop).save(path)
    return path


def source_cli(argv: list[str], resources: Path | None, env: dict[str, str]) -> tuple[int, str]:
    """drrn_core.cli.main(argv) in this process, with the bundle's environment; (rc, stdout)."""
    try:
        from drrn_core.cli import main
    except ImportError as exc:
        raise Skip(f"the source tree is not importable here ({exc}); install the project") from None
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    if resources is not None:
        os.environ["DRRN_RESOURCES"] = str(resources)  # the same weights the bundle carries
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            try:
                rc = main(argv)
            except SystemExit as exc:  # argparse
                rc = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return rc, out.getvalue()


def read_pixels(path: Path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def compare_pixels(frozen: Path, reference: Path) -> str:
    import numpy as np

    a, b = read_pixels(frozen), read_pixels(reference)
    if a.shape != b.shape:
        raise CheckFailed(f"shape {a.shape} (bundle) != {b.shape} (source tree)")
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    if diff.any():
        raise CheckFailed(f"{int((diff > 0).sum())} of {diff.size} values differ "
                          f"(max {int(diff.max())}) between bundle and source tree")
    return f"{a.shape[1]}x{a.shape[0]} px identical to the source tree"


# -- the checks ---------------------------------------------------------------------------------
def check_layout(b: Bundle) -> str:
    missing = [p for p in (b.exe("drrn-studio"), b.exe("drrn"), b.internal) if not p.exists()]
    if missing:
        raise CheckFailed("missing: " + ", ".join(str(p) for p in missing))
    icon = b.internal / "resources" / "icons" / "drrn-studio.svg"
    if not icon.is_file():
        raise CheckFailed(f"no app icon at {icon}")
    plugins = b.internal / "PySide6" / "Qt" / "plugins" / "platforms"
    if not IS_WIN and not any(plugins.glob("*offscreen*")):
        raise CheckFailed(f"no offscreen Qt platform plugin in {plugins}")
    weights = b.weights()
    model = f"bundled weights: {', '.join(weights)}" if weights else "no weights bundled (bicubic)"
    return f"executables, resources and Qt plugins present; {model}"


def check_cli_version(b: Bundle) -> str:
    ran = expect_ok(b.run([b.exe("drrn"), "--version"]), "drrn --version")
    if b.version not in ran.out + ran.err:
        raise CheckFailed(f"expected version {b.version}, got {ran.tail()!r}")
    return f"{(ran.out + ran.err).strip()!r} in {ran.seconds:.1f} s"


def check_gui_version(b: Bundle) -> str:
    ran = expect_ok(b.run([b.exe("drrn-studio"), "--version"]), "drrn-studio --version")
    text = (ran.out + ran.err).strip()
    if b.version in text:
        return f"{text!r} in {ran.seconds:.1f} s"
    if IS_WIN and not text:
        return f"exit 0 in {ran.seconds:.1f} s (windowed exe: Windows gives it no stdout)"
    raise CheckFailed(f"expected version {b.version}, got {text!r}")


def upscale_and_compare(b: Bundle, root: Path, folder: Path, env: dict[str, str] | None = None,
                        compare: bool = True, extra: Sequence[str] = ()) -> str:
    """Frozen `drrn upscale` (default model; bicubic, asked for, when no weights are bundled)
    on the sample, optionally checked pixel for pixel against the source tree (without
    `extra` options)."""
    src = sample_png(folder, "astronaut crop ü.png")
    out = folder / "upscaled ü (bundle).png"
    out.unlink(missing_ok=True)
    model = b.model_args()
    ran = expect_ok(b.run([b.exe("drrn", root), "upscale", src, "-s", "2", "-o", out, *model,
                           *extra], env=env), "drrn upscale " + " ".join(extra))
    if not out.is_file():
        raise CheckFailed(f"drrn upscale exited 0 but wrote no {out}: {ran.tail()}")
    which = "default model " + b.weights()[0] if b.weights() else "bicubic (no weights bundled)"
    b.last_stderr = ran.err
    if not compare:
        return f"{which}: wrote {out.name} in {ran.seconds:.1f} s"
    ref = folder / "upscaled (source tree).png"
    ref.unlink(missing_ok=True)
    rc, _ = source_cli(["upscale", str(src), "-s", "2", "-o", str(ref), *model],
                       b.internal / "resources", b.env())
    if rc != 0 or not ref.is_file():
        raise CheckFailed(f"the source tree's drrn upscale failed (exit {rc})")
    return f"{which}, x2 in {ran.seconds:.1f} s: {compare_pixels(out, ref)}"


def check_upscale(b: Bundle) -> str:
    return upscale_and_compare(b, b.root, b.work / "upscale")


def check_photo_formats(b: Bundle) -> str:
    """Frozen `drrn upscale` reads AVIF (Pillow's libavif, bundled) and refuses HEIC with one line
    (pillow-heif is left out of the bundle: its x265 is GPL)."""
    import numpy as np
    from PIL import Image

    try:  # to write the HEIC sample here
        from pillow_heif import register_heif_opener
    except ImportError:
        raise Skip("pillow-heif is not installed here (needed to write the sample)") from None
    register_heif_opener()
    folder = b.work / "photo-formats"
    folder.mkdir(parents=True, exist_ok=True)
    src = np.ascontiguousarray(read_pixels(sample_png(folder))[..., :3])
    avif, heic = folder / "photo.avif", folder / "photo.heic"
    Image.fromarray(src).save(avif, format="AVIF", quality=100)
    Image.fromarray(src).save(heic, format="HEIF", quality=-1)
    out = folder / "photo.avif.png"
    expect_ok(b.run([b.exe("drrn"), "upscale", avif, "-s", "2", "--model", "bicubic", "-o", out]),
              f"drrn upscale {avif.name}")
    with Image.open(out) as im:
        if im.size != (2 * src.shape[1], 2 * src.shape[0]):
            raise CheckFailed(f"{out.name} is {im.size}, not twice {avif.name}")
    r = b.run([b.exe("drrn"), "upscale", heic, "-s", "2", "--model", "bicubic",
               "-o", folder / "photo.heic.png"])
    lines = r.err.strip().splitlines()
    if r.rc != 1 or len(lines) != 1 or "pillow-heif" not in lines[0]:
        raise CheckFailed(f"HEIC: expected exit 1 and one line naming pillow-heif, got "
                          f"{r.rc}: {r.tail(300)}")
    return "photo.avif upscaled x2; photo.heic refused in one line (no pillow-heif in the bundle)"


def check_compile(b: Bundle) -> str:
    """`drrn upscale --compile` frozen: refused with one notice (torch.compile cannot work in
    the bundle), and the eager result is still the source tree's."""
    detail = upscale_and_compare(b, b.root, b.work / "compile", extra=["--compile"])
    notices = [ln for ln in b.last_stderr.splitlines() if "--compile" in ln]
    if len(notices) != 1 or "not available in the packaged drrn" not in notices[0]:
        raise CheckFailed(f"expected one '--compile is not available' notice, got stderr "
                          f"{b.last_stderr.strip()[-400:]!r}")
    if "Traceback" in b.last_stderr:
        raise CheckFailed(f"a traceback: {b.last_stderr.strip()[-400:]!r}")
    return f"notice {notices[0].strip()!r}; {detail}"


def check_no_display(b: Bundle) -> str:
    """`drrn-studio` with no X11/Wayland display: one line on stderr, exit 1, within 2 s."""
    if not sys.platform.startswith("linux"):
        raise Skip("the display check is for Linux")
    env = b.env()
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(var, None)
    ran = b.run([b.exe("drrn-studio")], env=env, timeout=30)
    lines = ran.err.strip().splitlines()
    if ran.rc != 1 or len(lines) != 1 or "no display" not in lines[0]:
        raise CheckFailed(f"expected exit 1 and one 'no display' line, got exit {ran.rc}: "
                          f"{ran.tail()!r}")
    if ran.seconds > 2.0:
        raise CheckFailed(f"took {ran.seconds:.1f} s (limit 2 s)")
    return f"exit 1 in {ran.seconds:.2f} s: {lines[0].strip()[:120]!r}"


def check_train(b: Bundle) -> str:
    """`drrn train --recipe fast` runs one iteration frozen: the bundled recipe is found and the
    optimizer step's imports (torch._dynamo, sympy, ...) are in the bundle."""
    from PIL import Image
    from skimage import data

    hr = b.work / "train" / "hr"
    hr.mkdir(parents=True, exist_ok=True)
    Image.fromarray(data.astronaut()[100:196, 180:276]).save(hr / "a.png")
    Image.fromarray(data.coffee()[50:146, 300:396]).save(hr / "b.png")
    run = b.work / "train" / "run"
    ran = expect_ok(b.run([b.exe("drrn"), "train", "--recipe", "fast", "--data", hr, "--val", hr,
                           "--out", run, "--iters", "1", "--threads", "1", "--device", "cpu",
                           "--cache-dir", b.work / "train" / "cache"]),
                    "drrn train --recipe fast --iters 1")
    if not (run / "last_model.safetensors").is_file():
        raise CheckFailed(f"no {run / 'last_model.safetensors'}: {ran.tail()}")
    return f"one iteration of the 'fast' recipe in {ran.seconds:.1f} s; weights written"


def check_metrics(b: Bundle) -> str:
    """`drrn metrics` runs IFC, i.e. pyrtools' C convolutions without matplotlib."""
    import numpy as np
    from PIL import Image

    folder = b.work / "metrics"
    ref = sample_png(folder)
    noisy = folder / "noisy.png"
    rng = np.random.default_rng(0)
    pixels = read_pixels(ref).astype(np.float64) + rng.normal(0, 8, read_pixels(ref).shape)
    Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)).save(noisy)
    argv = ["metrics", str(ref), str(noisy), "--y"]
    ran = expect_ok(b.run([b.exe("drrn"), *argv]), "drrn metrics")
    rc, expected = source_cli(argv, b.internal / "resources", b.env())
    if rc != 0:
        raise CheckFailed(f"the source tree's drrn metrics failed (exit {rc})")
    if "ifc" not in ran.out.lower():
        raise CheckFailed(f"no IFC in the output: {ran.tail()}")
    if ran.out.strip() != expected.strip():
        raise CheckFailed(f"bundle printed {ran.out.strip()!r}, source tree {expected.strip()!r}")
    return f"PSNR/SSIM/IFC identical to the source tree: {' '.join(ran.out.split())[:120]}"


def self_test(b: Bundle, root: Path, env: dict[str, str] | None = None) -> Ran:
    return expect_ok(b.run([b.exe("drrn-studio", root), "--self-test"], env=env),
                     "drrn-studio --self-test")


def check_self_test(b: Bundle) -> str:
    ran = self_test(b, b.root)
    last = (ran.out + ran.err).strip().splitlines()[-1:] or [""]
    return f"exit 0 in {ran.seconds:.1f} s (offscreen); last line: {last[0][:160]!r}"


def check_x11(b: Bundle) -> str:
    """The self-test on a real (virtual) X display: Qt's xcb plugin and the system libraries it
    needs load from the bundle."""
    if IS_WIN:
        raise Skip("Windows: no X11")
    xvfb_run = shutil.which("xvfb-run")
    if not xvfb_run:
        raise Skip("no xvfb-run (Debian/Ubuntu package xvfb) to provide an X display")
    env = b.env(QT_QPA_PLATFORM="xcb")
    env.pop("WAYLAND_DISPLAY", None)
    ran = expect_ok(b.run([xvfb_run, "-a", "-s", "-screen 0 1280x800x24",
                           b.exe("drrn-studio"), "--self-test"], env=env),
                    "drrn-studio --self-test under Xvfb (xcb)")
    return f"exit 0 in {ran.seconds:.1f} s on Xvfb with QT_QPA_PLATFORM=xcb"


def copy_bundle(b: Bundle, parent: Path) -> Path:
    dest = parent / b.root.name
    if not dest.exists():
        parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(b.root, dest, symlinks=True)
    return dest


def check_odd_path(b: Bundle) -> str:
    """The bundle and the files it works on under a path with a space and a non-ASCII letter."""
    odd = b.work / ODD_DIR_NAME
    copy = copy_bundle(b, odd)
    expect_ok(b.run([b.exe("drrn", copy), "--version"]), "drrn --version")
    up = upscale_and_compare(b, copy, odd / "images ü")
    self_test(b, copy)
    notes = [f"from {copy}: --version, upscale ({up.split(': ')[-1]}), --self-test ok"]
    if not IS_WIN:
        # A C locale: the bootloader and Python must still handle the UTF-8 path.
        env = b.env(LC_ALL="C", LANG="C")
        env.pop("LANGUAGE", None)
        upscale_and_compare(b, copy, odd / "images ü", env=env, compare=False)
        notes.append("upscale ok under LC_ALL=C too")
    return "; ".join(notes)


def readonly_runner(b: Bundle, folder: Path) -> tuple[Callable[[list[str | Path]], Ran], str]:
    """A way to run commands while `folder` is read-only, and how it is made so.

    chmod does not bind root, so as root (Linux) the folder is bind-mounted read-only on
    itself in a private mount namespace (unshare); without that ability the check is skipped.
    """
    if IS_WIN:
        raise Skip("Windows: no way to make a folder read-only for an administrator here; the "
                   "installer puts the app under Program Files, read-only for users")
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)
        return (lambda argv: b.run(argv)), "chmod -R a-w"
    unshare = shutil.which("unshare")
    if not unshare:
        raise Skip("running as root (chmod does not bind root) and no unshare(1) for a "
                   "read-only bind mount")
    wrap = [unshare, "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', str(folder)]
    probe = subprocess.run([*wrap, "sh", "-c", f'! touch "{folder}/.probe" 2>/dev/null'],
                           capture_output=True)
    if probe.returncode != 0:
        raise Skip("running as root (chmod does not bind root) and a read-only bind mount is "
                   f"not permitted here: {probe.stderr.decode(errors='replace').strip()}")
    return (lambda argv: b.run([*wrap, *argv])), "read-only bind mount (root)"


def check_read_only(b: Bundle) -> str:
    """The bundle in a read-only folder (as installed system-wide) still runs."""
    parent = b.work / "read-only"
    copy = copy_bundle(b, parent)
    run, how = readonly_runner(b, parent)
    try:
        expect_ok(run([b.exe("drrn", copy), "--version"]), "drrn --version")
        out = b.work / "read-only-out.png"
        expect_ok(run([b.exe("drrn", copy), "upscale", sample_png(b.work / "upscale"),
                       "-s", "2", "-o", out, *b.model_args()]), "drrn upscale")
        if not out.is_file():
            raise CheckFailed("drrn upscale wrote nothing")
        expect_ok(run([b.exe("drrn-studio", copy), "--self-test"]), "drrn-studio --self-test")
    finally:
        if not IS_WIN and os.geteuid() != 0:
            for path in [parent, *parent.rglob("*")]:
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | 0o200)
    return f"{how}: drrn --version, drrn upscale, drrn-studio --self-test ok"


def check_unwritable_config(b: Bundle) -> str:
    """The user's config/data/state/cache folders cannot be created: the app still starts and
    says what it could not do; the CLI still upscales."""
    if IS_WIN:
        raise Skip("Windows: platformdirs asks the shell for AppData, so it cannot be redirected")
    blocker = b.work / "not-a-folder"
    blocker.write_text("a file where the XDG folders should be\n")
    env = b.env(**{var: str(blocker / var.lower()) for var in XDG_VARS})
    ran = self_test(b, b.root, env=env)
    said = [line for line in (ran.out + ran.err).splitlines() if COULD_NOT.search(line)]
    if not said:
        raise CheckFailed("drrn-studio --self-test exited 0 but did not say what it could not "
                          f"write: {ran.tail()!r}")
    out = b.work / "unwritable-config-out.png"
    expect_ok(b.run([b.exe("drrn"), "upscale", sample_png(b.work / "upscale"), "-s", "2",
                     "-o", out, *b.model_args()], env=env), "drrn upscale")
    return f"self-test exit 0 and said: {said[0].strip()[:200]!r}; drrn upscale ok"


CHECKS: dict[str, Callable[[Bundle], str]] = {
    "layout": check_layout,
    "cli-version": check_cli_version,
    "gui-version": check_gui_version,
    "upscale": check_upscale,
    "photo-formats": check_photo_formats,
    "compile": check_compile,
    "no-display": check_no_display,
    "metrics": check_metrics,
    "train": check_train,
    "self-test": check_self_test,
    "x11": check_x11,
    "odd-path": check_odd_path,
    "read-only": check_read_only,
    "unwritable-config": check_unwritable_config,
}


def run_check(b: Bundle, name: str) -> Result:
    start = time.perf_counter()
    try:
        detail, status = CHECKS[name](b), "pass"
    except Skip as exc:
        detail, status = str(exc), "skip"
    except CheckFailed as exc:
        detail, status = str(exc), "fail"
    except subprocess.TimeoutExpired as exc:
        detail, status = f"timed out after {exc.timeout:.0f} s: {exc.cmd}", "fail"
    return Result(name, status, detail, time.perf_counter() - start)


# -- start-up timings ---------------------------------------------------------------------------
def drop_page_cache() -> bool:
    """Empty Linux's page cache (root only), so the next start reads the bundle from disk."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def measure_starts(b: Bundle, repeats: int, drop_caches: bool) -> dict[str, dict]:
    """Median wall time of N starts of each command, cold (page cache dropped) and warm."""
    commands = {
        "drrn-studio --version": [b.exe("drrn-studio"), "--version"],
        "drrn-studio --self-test": [b.exe("drrn-studio"), "--self-test"],
        "drrn --version": [b.exe("drrn"), "--version"],
    }
    timings: dict[str, dict] = {}
    for label, argv in commands.items():
        cold, warm, cold_ok = [], [], drop_caches
        for _ in range(repeats):
            if drop_caches:
                cold_ok = drop_page_cache() and cold_ok
            cold.append(expect_ok(b.run(argv), label).seconds)
            warm.append(expect_ok(b.run(argv), label).seconds)
        timings[label] = {
            "first_start_s": round(statistics.median(cold), 2),
            "first_start_kind": "cold (page cache dropped)" if cold_ok else "after other runs",
            "warm_s": round(statistics.median(warm), 2),
            "runs": repeats,
        }
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=ROOT / "dist" / "drrn-studio")
    parser.add_argument("--only", action="append", choices=sorted(CHECKS), help="run only these")
    parser.add_argument("--timings", type=int, default=0, metavar="N",
                        help="also time N starts of each executable (medians)")
    parser.add_argument("--drop-caches", action="store_true",
                        help="drop the page cache before each timed start (root, Linux)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="drrn-smoke-"))
    b = Bundle(root=args.bundle.resolve(), work=work, version=source_version())
    print(f"smoke test of {b.root} (version {b.version}); scratch: {work}", flush=True)
    results: list[Result] = []
    try:
        for name in args.only or list(CHECKS):
            result = run_check(b, name)
            results.append(result)
            print(f"  {result.status.upper():4}  {name:18} {result.detail}", flush=True)
            if name == "layout" and result.status == "fail":
                break  # nothing else can work
        timings = {}
        if args.timings and not any(r.status == "fail" for r in results):
            timings = measure_starts(b, args.timings, args.drop_caches)
            for label, t in timings.items():
                print(f"  TIME  {label:26} first start {t['first_start_s']:.2f} s "
                      f"[{t['first_start_kind']}], warm {t['warm_s']:.2f} s "
                      f"(median of {t['runs']})", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")}
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "bundle": str(b.root), "version": b.version, "platform": sys.platform,
            "weights": b.weights(), "results": [asdict(r) for r in results],
            "timings": timings,
        }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

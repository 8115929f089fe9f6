"""Long runs keep their memory (issue 25.2): peak RSS over hundreds of upscales in one process.

Four parts, each in its own fresh process so each peak is that part's alone:

* ``api``: ``--count`` upscales of varied sizes through the Python API in one process
  (io.load_image, Upscaler.upscale, io.save_image; scale 2, 3, 4 in turn; a new Upscaler every
  30 images, as a program that changes settings builds one; ``--release``: with
  drrn_core.memory.release_free_memory() after each image);
* ``cli``: ``drrn upscale FOLDER --out-dir OUT -s 3`` over a folder of ``--count`` files, one
  process, its peak read from /proc/PID/status (VmHWM) after each result line;
* ``photos``: the app (offscreen) opening ``--photos`` photos one after another, each shown and
  previewed (open_path, then until the Compare tab is idle: the preview of the visible region,
  or the whole image when it is quick);
* ``benchmark``: the app's Benchmark tab run ``--bench-runs`` times on the same small dataset
  (default model and bicubic, x2-x4, IFC on).

The inputs are crops of ../shared's photos (BSD100, Set14, T91; scikit-image's pictures where
../shared is absent) at pseudo-random sizes, written to a temporary folder. The figure that
matters is the growth of peak RSS after the warm-up (the first 20 upscales; the first photo;
the first Benchmark run): at most 50 MB for api and cli, 100 MB for photos and benchmark.

    python benchmarks/bench_soak.py [--parts api cli photos benchmark] [--count 300]
        [--photos 40] [--bench-runs 5] [--model DRRN_B1U9] [--backend auto|torch|ncnn] [--release]
    [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DRRN_SHARED", ROOT.parent / "shared"))
LIMITS = {"api": 50, "cli": 50, "photos": 100, "benchmark": 100}
WARM = {"api": 20, "cli": 20, "photos": 1, "benchmark": 1}


def peak_mb() -> float:
    """This process's peak resident set size so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc/PID/status."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def pictures() -> list[np.ndarray]:
    """RGB photos to crop inputs from: ../shared's benchmark and training images, else
    scikit-image's."""
    files = []
    for sub in ("benchmark/BSD100", "benchmark/Set14", "train/T91"):
        files += sorted((SHARED / "data" / sub).glob("*.png"))
    if files:
        return [np.asarray(Image.open(f).convert("RGB")) for f in files[::3]]
    from skimage import data

    return [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]


def make_inputs(folder: Path, count: int, low: int, high: int, fmt: str = "png") -> list[Path]:
    """``count`` crops of varied sizes (sides in [low, high], pseudo-random but fixed)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(25)
    source = pictures()
    paths = []
    big = [s for s in source if min(s.shape[:2]) >= high] or source
    for i in range(count):
        img = source[i % len(source)]
        h, w = (int(rng.integers(low, high + 1)) for _ in range(2))
        if i < 2:  # the largest and the smallest first: the warm-up has seen both extremes,
            h = w = (high, low)[i]  # so later peaks measure what is kept, not a larger image
            img = big[0] if i == 0 else img  # (a picture that has a high x high crop)
        h, w = min(h, img.shape[0]), min(w, img.shape[1])
        y = int(rng.integers(0, img.shape[0] - h + 1))
        x = int(rng.integers(0, img.shape[1] - w + 1))
        path = folder / f"in_{i:04d}.{fmt}"
        Image.fromarray(np.ascontiguousarray(img[y:y + h, x:x + w])).save(path)
        paths.append(path)
    return paths


def checkpoints(n: int) -> list[int]:
    return sorted({1, 5, 10, 20, 50, 100, 150, 200, 250, 300, n} & set(range(1, n + 1)))


# --- parts (each runs in its own process) -----------------------------------------------------

def part_api(args: argparse.Namespace, work: Path) -> dict:
    from drrn_core.engine import Upscaler
    from drrn_core.imaging import io
    from drrn_core.memory import release_free_memory
    from drrn_core.weights import resolve_model

    inputs = make_inputs(work / "in", args.count, args.low, args.high)
    model = None if args.model == "bicubic" else resolve_model(args.model)
    out = work / "out"
    out.mkdir()
    marks, up, start = {}, None, time.perf_counter()
    for i, path in enumerate(inputs, 1):
        if up is None or i % 30 == 1:
            up = Upscaler(model, backend=args.backend)
        scale = (4, 2, 3)[(i - 1) % 3]  # the first (largest) input at x4: the largest result
        image = io.load_image(path)
        result = up.upscale(image.image, scale,
                            out_dtype=io.stored_dtype(out / "x.png", image.bit_depth))
        io.save_image(out / f"{path.stem}_x{scale}.png", result, like=image)
        del image, result
        if args.release:
            release_free_memory()
        if i in checkpoints(args.count):
            marks[i] = (peak_mb(), rss_mb()[0], time.perf_counter() - start)
    return {"marks": marks}


def part_cli(args: argparse.Namespace, work: Path) -> dict:
    make_inputs(work / "in", args.count, args.low, args.high)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "drrn_core.cli", "upscale", str(work / "in"), "--out-dir",
         str(work / "out"), "-s", "3", "--model", args.model, "--backend", args.backend], env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    marks, done, start = {}, 0, time.perf_counter()
    for _line in proc.stdout:
        done += 1
        if done in checkpoints(args.count):
            current, peak = rss_mb(proc.pid)
            marks[done] = (peak, current, time.perf_counter() - start)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return {"marks": marks, "exit": code, "final_peak": usage.ru_maxrss / 1024, "written": done}


def _force_backend(backend: str) -> None:
    """Make every Upscaler the app builds use ``backend`` (the app itself always runs auto):
    to tell the engine's share of a growth from the app's."""
    if backend == "auto":
        return
    import drrn_core.engine as engine

    class Forced(engine.Upscaler):
        def __init__(self, *a, **k) -> None:
            k["backend"] = backend
            super().__init__(*a, **k)

    engine.Upscaler = Forced


def _app(work: Path, backend: str = "auto"):
    from drrn_core import memory

    memory.share_one_heap()  # first thing, as the app's main() does
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _force_backend(backend)
    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow, settings_at

    app = QApplication.instance() or QApplication(["drrn-studio-soak"])
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(work / "qsettings"))
    window = MainWindow(settings=settings_at(work / "settings.ini"))
    window.resize(1100, 700)
    window.show()

    def wait(condition, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the app did not finish in time")
            app.processEvents()
            time.sleep(0.005)
        QCoreApplication.processEvents()

    return app, window, wait


def part_photos(args: argparse.Namespace, work: Path) -> dict:
    photos = make_inputs(work / "photos", args.photos, args.photo_low, args.photo_high, "jpg")
    _, window, wait = _app(work, args.backend)
    window.compare.debounce.stop()
    marks, start, previews = {}, time.perf_counter(), 0
    for i, photo in enumerate(photos, 1):
        assert window.open_path(photo), photo
        wait(lambda: not window.compare.is_busy())
        previews += bool(window.compare.preview)
        if i in checkpoints(args.photos):
            marks[i] = (peak_mb(), rss_mb()[0], time.perf_counter() - start)
    from app.__main__ import teardown

    teardown(window)
    return {"marks": marks, "previews": previews}


def part_benchmark(args: argparse.Namespace, work: Path) -> dict:
    dataset = work / "Set5crops"
    make_inputs(dataset, 5, 120, 120)
    _, window, wait = _app(work, args.backend)
    tab = window.extra_tabs["benchmark"]
    tab.confirm_replace = lambda: True  # a second run replaces the table without asking
    assert tab.add_dataset(dataset)
    marks, start = {}, time.perf_counter()
    for i in range(1, args.bench_runs + 1):
        tab.start()
        wait(lambda: not tab.is_running())
        rows = len(tab.table_model.rows(means=False))
        marks[i] = (peak_mb(), rss_mb()[0], time.perf_counter() - start)
    from app.__main__ import teardown

    teardown(window)
    return {"marks": marks, "rows": rows}


PARTS = {"api": part_api, "cli": part_cli, "photos": part_photos, "benchmark": part_benchmark}


def summary(part: str, result: dict) -> dict:
    marks = {int(k): v for k, v in result["marks"].items()}
    warm = WARM[part]
    last = max(marks)
    growth = marks[last][0] - marks[warm][0]
    return {"part": part, "n": last, "peak_after_warmup_mb": round(marks[warm][0], 1),
            "peak_at_end_mb": round(marks[last][0], 1), "growth_mb": round(growth, 1),
            "limit_mb": LIMITS[part], "ok": growth <= LIMITS[part],
            "rss_after_warmup_mb": round(marks[warm][1], 1),
            "rss_at_end_mb": round(marks[last][1], 1), "seconds": round(marks[last][2], 1),
            "peaks_mb": {k: round(v[0], 1) for k, v in sorted(marks.items())},
            **{k: v for k, v in result.items() if k != "marks"}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    p.add_argument("--count", type=int, default=300, help="upscales in the api and cli parts")
    p.add_argument("--low", type=int, default=12, help="smallest input side (api, cli)")
    p.add_argument("--high", type=int, default=56, help="largest input side (api, cli)")
    p.add_argument("--photos", type=int, default=40)
    p.add_argument("--photo-low", type=int, default=320, help="smallest photo side")
    p.add_argument("--photo-high", type=int, default=480, help="largest photo side")
    p.add_argument("--bench-runs", type=int, default=5)
    p.add_argument("--model", default="DRRN_B1U9", help="model name or path, or bicubic")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "ncnn"],
                   help="the engine's backend (the app's parts: forced on every Upscaler it "
                        "builds; the app itself always runs auto)")
    p.add_argument("--release", action="store_true",
                   help="api: call drrn_core.memory.release_free_memory after each image (as "
                        "drrn upscale and the app's jobs do)")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--part", choices=list(PARTS), help=argparse.SUPPRESS)  # a child process
    args = p.parse_args()
    if args.part:
        with tempfile.TemporaryDirectory(prefix=f"soak-{args.part}-") as tmp:
            print(json.dumps(PARTS[args.part](args, Path(tmp))))
        return 0
    rows = []
    forward = [a for a in sys.argv[1:] if a != "--json"]
    if args.json:
        i = forward.index(str(args.json)) if str(args.json) in forward else -1
        forward = forward[:i] + forward[i + 1:] if i >= 0 else forward
    for part in args.parts:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, __file__, *forward, "--part", part], env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{part}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
            return 1
        row = summary(part, json.loads(done.stdout.strip().splitlines()[-1]))
        rows.append(row)
        print(f"{part:9s} n={row['n']:3d}  peak after warm-up {row['peak_after_warmup_mb']:7.1f} "
              f"MB  at end {row['peak_at_end_mb']:7.1f} MB  growth {row['growth_mb']:6.1f} MB "
              f"(limit {row['limit_mb']})  {'ok' if row['ok'] else 'OVER'}  RSS "
              f"{row['rss_after_warmup_mb']:.0f} -> {row['rss_at_end_mb']:.0f} MB  "
              f"{row['seconds']:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

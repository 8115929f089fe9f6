"""``auto`` decided by measurement: the fastest eligible path for this model on this machine.

The first time an Upscaler is built with device ``auto``/``cpu``/``cuda[:N]`` and backend and
precision both ``auto``, every candidate path runs the network on small tiles: a warm-up round on
a ``SMALL`` px tile (padded size) whose output is also checked, then two timed rounds on a
``SMALL`` and a ``TILE`` px tile; each keeps its fastest time per size (other programs only ever
slow a run down; interleaving spreads their load over all candidates). From the two times a
path's cost per tile is modelled as a cost per call plus a cost per pixel, and the paths are
ranked at the padded tile the engine will actually run (``padded_side``: the Upscaler's tile or
its automatic CPU tile, plus margins). A candidate is eligible only when its output is within
its precision's accuracy rule (``MAX_RMS``) of exact fp32 PyTorch; a candidate that fails (ncnn
missing, conversion or driver error, wrong numbers) is skipped with one notice. Every candidate's
measurement and the calibration's own cost are cached per machine (CPU name and flags, threads,
torch and ncnn versions, GPUs) and model (network shape and weights hash) in the engine's records
(``engine.records``, one file), so later runs only read it; the chosen path's rate on the
``TILE`` tile is also the small point of its time-estimate calibration.

A busy machine: other programs slow candidates unequally (ncnn's threads wait for each other),
so a choice measured while they used over ``contention.BUSY_CORES`` cores is marked
``contended``. It is used as it is while the machine stays busy; the first run that finds the
machine idle measures again, and every re-measurement keeps each candidate's best time (other
programs only ever slow a run down), so a busy first use never makes later idle runs slower.

Candidates (best known first; a challenger must be ``MARGIN`` faster to displace the first): CPU:
PyTorch bf16 (only with bf16 units: AMX / AVX-512 BF16), PyTorch fp32-fast (NNPACK; plain fp32
without NNPACK), ncnn fp32; device ``auto`` adds a hardware Vulkan GPU (ncnn fp16; software
drivers such as lavapipe never). CUDA: PyTorch bf16 (where supported) and fp16, plus ncnn fp16 on
a hardware Vulkan GPU with device ``auto``. Not candidates, measured on Set5 (benchmarks/
README.md): ncnn int8 and ncnn bf16 storage (PSNR loss over 0.05 dB or no speed-up), ncnn fp16
storage on x86 (no effect). ``$DRRN_AUTO=rule`` skips the measurement and uses
``device.resolve_target``'s fixed rule.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from drrn_core.engine import device as dev
from drrn_core.engine import records
from drrn_core.engine.contention import Meter, machine_busy
from drrn_core.engine.device import Target
from drrn_core.engine.tiling import CPU_MAX_TILE

if TYPE_CHECKING:
    from drrn_core.engine.ncnn_backend import NcnnBackend
    from drrn_core.engine.runner import Backend

SMALL, TILE = 64, 128
"""Padded sides (px) of the two timed tiles. A path's time per tile is modelled as a fixed cost
per call plus a cost per pixel, fitted to the two, and paths are ranked at the padded tile the
engine will run: per pixel, PyTorch bf16 on the AMX Xeon was ~5x slower at 96 px than at 296 px
(a ~0.6 s cost per call) while NNPACK fp32 hardly changed, so ranking on one small tile picked
the wrong path."""
GPU_TILE = 512
"""Core tile side (px) assumed for ranking GPU paths (their tiles come from memory budgets)."""
MARGIN = 0.05
"""A candidate must be this much faster (fraction) than the first-listed eligible one to win."""
MAX_RMS = {"fp32": 1e-4, "fp32-fast": 1e-4, "bf16": 1.5e-3, "fp16": 1.5e-3}
"""Accuracy rule: largest RMS difference (output in [0, 1] units) from exact fp32 PyTorch on the
calibration tile. fp32 paths differ by ~1e-7 (Winograd rounding). For bf16/fp16: an independent
error of RMS e lowers a PSNR of 37 dB (Set5 x2) by 10 log10(1 + e^2 / 10^(-3.7)), 0.05 dB at
e = 1.5e-3. Measured with DRRN_B1U9: PyTorch bf16 1.0e-3 on the check tile, and it moved Set5
PSNR by at most 0.005 dB (x2-x4)."""
SKIP_FACTOR = 3.0
"""A candidate predicted this many times slower than the best after the first timed round is
not timed a second time."""

Notice = Callable[[str], None]
_clock = time.perf_counter  # tests replace it with a fake clock


@dataclass(frozen=True)
class Trial:
    """One candidate's calibration: where it runs, seconds per padded pixel on the TILE px tile
    (None when it failed), RMS difference from exact fp32 (None when not run), why it was not
    eligible ("" when it was), and the fitted time model: ``overhead_s`` per call plus
    ``rate`` seconds per padded pixel."""

    backend: str
    device: str
    precision: str
    s_per_px: float | None
    rms: float | None
    problem: str = ""
    overhead_s: float = 0.0
    rate: float | None = None

    def cost_per_px(self, side: int) -> float:
        """Predicted seconds per padded pixel on a ``side`` px padded tile (inf if it failed)."""
        if self.s_per_px is None or self.problem:
            return math.inf
        if self.rate is None:
            return self.s_per_px
        return self.overhead_s / (side * side) + self.rate

    @property
    def label(self) -> str:
        """E.g. ``"cpu torch bf16"``, ``"vulkan:0 ncnn fp16"``."""
        return f"{self.device} {self.backend} {self.precision}"

    @property
    def target(self) -> Target:
        return Target(torch.device(self.device), self.backend, self.precision)


@dataclass(frozen=True)
class Choice:
    """The measured auto choice: ``pick`` indexes ``trials`` (the pick for the engine's own
    tiles; ``rank`` picks for another tile size); ``seconds``: what the calibration cost;
    ``when``: Unix time it was measured; ``cached``: read from the cache, not measured now;
    ``contended``: measured while other programs kept the CPU busy (see the module doc)."""

    trials: tuple[Trial, ...]
    pick: int
    seconds: float
    when: float
    cached: bool = False
    contended: bool = False

    @property
    def target(self) -> Target:
        return self.trials[self.pick].target

    @property
    def trial(self) -> Trial:
        return self.trials[self.pick]


def enabled() -> bool:
    """False when ``$DRRN_AUTO=rule`` asks for the fixed rule (no measurement)."""
    return os.environ.get("DRRN_AUTO", "").strip().lower() != "rule"


def measured_request(device: str | torch.device, precision: str, backend: str) -> bool:
    """True when these choices leave the path to the measurement (several candidates)."""
    if str(precision).strip().lower() != "auto" or str(backend).strip().lower() != "auto":
        return False
    text = str(device).strip().lower()
    return text == "auto" or text == "cpu" or text.startswith("cuda")


def candidates(device: str | torch.device = "auto") -> list[Target]:
    """The paths auto chooses among for ``device`` (auto, cpu or cuda[:N]), best known first."""
    text = str(device).strip().lower()
    dev_ = dev.resolve_device(device)
    out: list[Target] = []
    if dev_.type == "cuda":
        if torch.cuda.is_bf16_supported():
            out.append(Target(dev_, "torch", "bf16"))
        out.append(Target(dev_, "torch", "fp16"))
    elif dev_.type == "cpu":
        if dev.cpu_has_bf16_units():
            out.append(Target(dev_, "torch", "bf16"))
        out.append(Target(dev_, "torch", "fp32-fast" if dev.nnpack_available() else "fp32"))
        if dev.ncnn_usable():
            out.append(Target(dev_, "ncnn", "fp32"))
    else:
        return [dev.resolve_target(device)]
    if text == "auto":
        gpu = dev._hardware_vulkan()
        if gpu is not None:
            vk = Target(torch.device("vulkan", gpu), "ncnn", "fp16")
            out.insert(0 if dev_.type == "cpu" else len(out), vk)
    return out


def machine_key() -> str:
    """What a measurement depends on: CPU name and flags, threads, torch/ncnn versions, GPUs."""
    flags = hashlib.sha256(" ".join(sorted(dev.cpu_flags())).encode()).hexdigest()[:12]
    ncnn_version = "none"
    with contextlib.suppress(ImportError):
        if dev.ncnn_usable():
            import ncnn

            ncnn_version = str(getattr(ncnn, "__version__", "?"))
    gpus = []  # a probe that fails only leaves its GPUs out of the key (drrn devices says why)
    with contextlib.suppress(Exception):
        if torch.cuda.is_available():
            gpus += [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    with contextlib.suppress(Exception):
        from drrn_core.engine.ncnn_probe import probe_vulkan

        gpus += [g.name for g in probe_vulkan()[0] if not g.software]
    return (f"{dev.cpu_name()}|flags={flags}|{torch.get_num_threads()} threads|"
            f"torch {torch.__version__}|ncnn {ncnn_version}|gpus={','.join(gpus)}")


def shape_key(model) -> str:
    """What the speed of a network depends on: depth, width, BatchNorm (not weight values)."""
    c = model.config
    return f"B{c.B}U{c.U}c{c.channels}bn{int(c.batchnorm)}bias{int(c.bias)}"


def choice_key(model, device: str | torch.device = "auto") -> str:
    """Cache key of the auto choice for ``model`` on ``device`` on this machine: its shape and
    its weights (the speed depends on the shape only, but whether a half precision passes the
    accuracy rule depends on the weights: default-initialised random B1U9 weights amplify bf16
    rounding to RMS 0.019, trained ones give 1.1e-3)."""
    from drrn_core.engine.ncnn_backend import weights_hash

    return (f"auto|{machine_key()}|{str(device).strip().lower()}|{shape_key(model)}|"
            f"w{weights_hash(model)}")


def cached_choice(model, device: str | torch.device = "auto") -> Choice | None:
    """The cached choice for ``model`` on ``device`` (no measurement), or None."""
    entry = records.get(choice_key(model, device))
    if entry is None:
        return None
    try:
        trials = tuple(Trial(**t) for t in entry["trials"])
        pick = int(entry["pick"])
        trials[pick].target  # noqa: B018 - validates the stored device spec
        return Choice(trials, pick, float(entry["seconds"]), float(entry["when"]), cached=True,
                      contended=bool(entry.get("contended", False)))
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError):
        return None


def choose(model, device: str | torch.device = "auto", notice: Notice | None = None,
           force: bool = False) -> Choice:
    """The fastest eligible path for ``model`` on ``device``: cached, else measured now (a few
    seconds) and cached. A re-measurement (``force``, or a contended record on a machine that is
    idle now) keeps each candidate's best time of old and new. DeviceError when no candidate
    works at all."""
    old = cached_choice(model, device)
    if old is not None and not force:
        return old
    say = notice or (lambda message: None)
    t0 = time.perf_counter()
    meter = Meter()
    trials = measure(model, candidates(device), say)
    contended = meter.busy()
    seconds = time.perf_counter() - t0
    if not any(not t.problem for t in trials):
        raise dev.DeviceError("No way to run the model worked here: "
                              + "; ".join(f"{t.label}: {t.problem}" for t in trials))
    margin = margin_px(model)
    if old is not None:
        trials = best_of(old.trials, trials, margin)
        contended = contended and old.contended
    pick = rank(trials, margin)
    choice = Choice(tuple(trials), pick, seconds, time.time(), contended=contended)
    records.put(choice_key(model, device), {
        "trials": [asdict(t) for t in trials], "pick": pick, "seconds": seconds,
        "when": choice.when, "contended": contended})
    return choice


def best_of(old: tuple[Trial, ...], new: list[Trial], margin: int) -> list[Trial]:
    """``new``'s trials, each replaced by the same path's ``old`` trial where that one was
    faster at the engine's tile (a slow timing is other programs' doing, never the path's)."""
    before = {t.label: t for t in old if not t.problem and t.s_per_px}
    out = []
    for t in new:
        o = before.get(t.label)
        if o is not None and not t.problem and t.rms is not None and (
                o.cost_per_px(padded_side(o, margin)) < t.cost_per_px(padded_side(t, margin))):
            t = Trial(**{**asdict(o), "rms": t.rms})
        out.append(t)
    return out


def fresh_choice(model, device: str | torch.device, notice: Notice | None = None) -> Choice:
    """The choice to run now: the cached one, re-measured when it was taken on a busy machine
    and the machine is idle now; measured (with one notice) when there is none."""
    hit = cached_choice(model, device)
    if hit is not None:
        same = {t.label for t in hit.trials} == {
            _label(t) for t in candidates(device)}  # e.g. not when NNPACK or ncnn went away
        if same and not (hit.contended and not machine_busy()):
            return hit
    say = notice or (lambda message: None)
    say("Measuring which way of running this model is fastest here (once, a few seconds).")
    return choose(model, device, say, force=True)


def margin_px(model) -> int:
    """The network's receptive radius: the margin every tile carries on each side (px)."""
    from drrn_core.descriptor import ModelDescriptor

    return int(ModelDescriptor.for_config(model.config).receptive_radius)


def padded_side(trial: Trial, margin: int, tile: int | None = None) -> int:
    """The padded tile side (px) the engine runs ``trial``'s path with: ``tile`` (the
    Upscaler's) or its automatic CPU cap (``tiling.CPU_MAX_TILE``) or GPU_TILE, plus margins."""
    if tile is None:
        tile = GPU_TILE if trial.device != "cpu" else CPU_MAX_TILE
    return int(tile) + 2 * margin


def rank(trials, margin: int, tile: int | None = None) -> int:
    """Index of the trial to run: the lowest predicted cost per pixel at its padded tile
    (``padded_side``), the first eligible one unless another is MARGIN faster."""
    ok = [i for i, t in enumerate(trials) if not t.problem and t.s_per_px]
    if not ok:
        raise dev.DeviceError("No way to run the model worked here: "
                              + "; ".join(f"{t.label}: {t.problem}" for t in trials))
    cost = {i: trials[i].cost_per_px(padded_side(trials[i], margin, tile)) for i in ok}
    best = min(ok, key=cost.__getitem__)
    return ok[0] if cost[ok[0]] <= cost[best] * (1 + MARGIN) else best


def _probe_input(side: int) -> np.ndarray:
    """A fixed ILR-like tile: smooth shading, edges and mild noise, slightly outside [0, 1]."""
    yy, xx = np.mgrid[:side, :side].astype(np.float32)
    rng = np.random.default_rng(0)
    img = 0.5 + 0.35 * np.sin(yy / 5.0) * np.cos(xx / 7.0) + 0.15 * ((xx + yy) % 24 < 12)
    return (img - 0.1 + 0.05 * rng.standard_normal((side, side))).astype(np.float32)


def _build(model, target: Target) -> Backend | NcnnBackend:
    """A backend for ``target`` (the Upscaler's own classes); raises on any failure."""
    if target.backend == "ncnn":
        from drrn_core.engine.ncnn_backend import NcnnBackend

        vulkan = (target.device.index or 0) if target.device.type == "vulkan" else None
        return NcnnBackend(model, vulkan, target.precision, torch.get_num_threads())
    from drrn_core.engine.runner import Backend

    return Backend(model, target.device, target.precision)


def _reason(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:160]


def measure(model, targets: list[Target], notice: Notice | None = None) -> list[Trial]:
    """Time and check every target on a SMALL and a TILE px tile (see the module doc); one Trial
    each, in order. Failing targets get a problem and one notice; nothing raises."""
    say = notice or (lambda message: None)
    xs = {side: _probe_input(side) for side in (SMALL, TILE)}
    from drrn_core.engine.runner import Backend

    exact = Backend(model, torch.device("cpu"), "fp32").run(xs[SMALL])
    problems: dict[int, str] = {}
    backends: dict[int, Backend | NcnnBackend] = {}
    first: dict[int, float] = {}
    rms: dict[int, float] = {}
    for i, t in enumerate(targets):  # round 1: build, warm up, check the numbers
        try:
            b = _build(model, t)
            t0 = _clock()
            out = b.run(xs[SMALL])
            first[i] = _clock() - t0
            rms[i] = float(np.sqrt(np.mean((np.asarray(out, np.float64) - exact) ** 2)))
            if not math.isfinite(rms[i]) or rms[i] > MAX_RMS.get(t.precision, 1e-4):
                problems[i] = (f"output differs from exact fp32 by RMS {rms[i]:.2g} (allowed "
                               f"{MAX_RMS.get(t.precision, 1e-4):.2g})")
            else:
                backends[i] = b
        except Exception as e:  # noqa: BLE001 - any failure only rules this candidate out
            problems[i] = _reason(e)
        if i in problems:
            say(f"auto: {_label(t)} skipped ({problems[i]}).")
    times: dict[int, dict[int, float]] = {i: {SMALL: first[i]} for i in backends}
    margin = margin_px(model)
    for round_ in range(2):  # two timed rounds at both sizes; clear losers skip the second
        live = [i for i in backends if i not in problems]
        if round_:
            cost = {i: _trial(targets[i], times[i], None, "").cost_per_px(
                padded_side(_trial(targets[i], times[i], None, ""), margin)) for i in live}
            best = min(cost.values(), default=math.inf)
            live = [i for i in live if cost[i] <= SKIP_FACTOR * best]
        for i in live:
            for side in (TILE, SMALL):
                try:
                    t0 = _clock()
                    backends[i].run(xs[side])
                    dt = _clock() - t0
                except Exception as e:  # noqa: BLE001 - any failure only rules this candidate out
                    problems[i] = _reason(e)
                    say(f"auto: {_label(targets[i])} skipped ({problems[i]}).")
                    break
                times[i][side] = min(times[i].get(side, math.inf), dt)
    return [_trial(t, times.get(i, {}) if i not in problems else {}, rms.get(i),
                   problems.get(i, "")) for i, t in enumerate(targets)]


def _trial(t: Target, got: dict[int, float], rms: float | None, problem: str) -> Trial:
    """The Trial for ``t`` from its fastest times per tile side."""
    side = TILE if TILE in got else SMALL
    big = got.get(side)
    overhead, rate = _fit(got)
    return Trial(t.backend, _spec(t.device), t.precision,
                 None if big is None else max(big / side**2, 1e-15), rms, problem, overhead, rate)


def _fit(times: dict[int, float]) -> tuple[float, float | None]:
    """(seconds per call, seconds per pixel) through the SMALL and TILE timings; (0, None)
    without both. A large tile no slower than the small one is all cost per call (rate ~0); a
    small tile cheaper than proportional is all cost per pixel (no negative cost per call)."""
    if SMALL not in times or TILE not in times:
        return 0.0, None
    p1, p2 = SMALL * SMALL, TILE * TILE
    t1, t2 = times[SMALL], times[TILE]
    rate = (t2 - t1) / (p2 - p1)
    if rate <= 1e-15:
        return min(t1, t2), 1e-15
    overhead = t1 - rate * p1
    if overhead < 0:
        return 0.0, max(t2 / p2, 1e-15)
    return overhead, rate


def _spec(d: torch.device) -> str:
    return d.type if d.type in ("cpu", "mps") else f"{d.type}:{d.index or 0}"


def _label(t: Target) -> str:
    return f"{_spec(t.device)} {t.backend} {t.precision}"


def known_point(net, backend: str, device: str, precision: str) -> tuple[int, float] | None:
    """(padded pixels, seconds per pixel) the auto calibration measured for this path of
    ``net`` (device spec as in ``Trial.device``), for the time estimate; None when there is
    none."""
    for where in dict.fromkeys(("auto", "cpu", device, device.split(":")[0])):
        hit = cached_choice(net, where)
        for t in hit.trials if hit else ():
            if (t.backend, t.device, t.precision, t.problem) == (backend, device, precision, "") \
                    and t.s_per_px:
                return TILE * TILE, t.s_per_px
    return None

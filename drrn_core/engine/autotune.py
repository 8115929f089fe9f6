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
torch and ncnn versions, GPUs) and model (network shape and weights hash) in the estimate cache
(``engine.estimate``, one file), so later runs only read it; the chosen path's rate on the
``TILE`` tile is also the small point of its time-estimate calibration.

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

import numpy as np
import torch

from drrn_core.engine import device as dev
from drrn_core.engine.device import Target

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
    ``when``: Unix time it was measured; ``cached``: read from the cache, not measured now."""

    trials: tuple[Trial, ...]
    pick: int
    seconds: float
    when: float
    cached: bool = False

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
    with contextlib.suppress(Exception):
        if dev.ncnn_usable():
            import ncnn

            ncnn_version = str(getattr(ncnn, "__version__", "?"))
    gpus = []
    with contextlib.suppress(Exception):
        if torch.cuda.is_available():
            gpus += [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    with contextlib.suppress(Exception):
        from drrn_core.engine.ncnn_backend import probe_vulkan

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
    from drrn_core.engine import estimate

    entry = estimate._load().get(choice_key(model, device))
    if not isinstance(entry, dict):
        return None
    try:
        trials = tuple(Trial(**t) for t in entry["trials"])
        pick = int(entry["pick"])
        trials[pick].target  # noqa: B018 - validates the stored device spec
        return Choice(trials, pick, float(entry["seconds"]), float(entry["when"]), cached=True)
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError):
        return None


def choose(model, device: str | torch.device = "auto", notice: Notice | None = None,
           force: bool = False) -> Choice:
    """The fastest eligible path for ``model`` on ``device``: cached, else measured now (a few
    seconds) and cached. DeviceError when no candidate works at all."""
    if not force:
        hit = cached_choice(model, device)
        if hit is not None:
            return hit
    say = notice or (lambda message: None)
    t0 = time.perf_counter()
    trials = measure(model, candidates(device), say)
    seconds = time.perf_counter() - t0
    ok = [i for i, t in enumerate(trials) if not t.problem]
    if not ok:
        raise dev.DeviceError("No way to run the model worked here: "
                              + "; ".join(f"{t.label}: {t.problem}" for t in trials))
    pick = rank(trials, margin_px(model))
    choice = Choice(tuple(trials), pick, seconds, time.time())
    from drrn_core.engine import estimate

    estimate._store(choice_key(model, device), {
        "trials": [asdict(t) for t in trials], "pick": pick, "seconds": seconds,
        "when": choice.when})
    return choice


def margin_px(model) -> int:
    """The network's receptive radius: the margin every tile carries on each side (px)."""
    from drrn_core.descriptor import ModelDescriptor

    return int(ModelDescriptor.for_config(model.config).receptive_radius)


def padded_side(trial: Trial, margin: int, tile: int | None = None) -> int:
    """The padded tile side (px) the engine runs ``trial``'s path with: ``tile`` (the
    Upscaler's) or its automatic CPU cap (PyTorch 256, ncnn 192) or GPU_TILE, plus margins."""
    if tile is None:
        if trial.device != "cpu":
            tile = GPU_TILE
        elif trial.backend == "ncnn":
            from drrn_core.engine.upscale import NCNN_CPU_MAX_TILE as tile
        else:
            from drrn_core.engine.tiling import CPU_MAX_TILE as tile
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


def _build(model, target: Target):
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
    backends: dict[int, object] = {}
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
                except Exception as e:  # noqa: BLE001
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
    """(seconds per call, seconds per pixel) through the SMALL and TILE timings (clamped to
    non-negative values); (0, None) without both."""
    if SMALL not in times or TILE not in times:
        return 0.0, None
    p1, p2 = SMALL * SMALL, TILE * TILE
    t1, t2 = times[SMALL], times[TILE]
    rate = (t2 - t1) / (p2 - p1)
    overhead = t1 - rate * p1
    if rate <= 0 or overhead < 0:  # noise: fall back to the large tile's plain rate
        return 0.0, max(t2 / p2, 1e-15)
    return overhead, max(rate, 1e-15)


def _spec(d: torch.device) -> str:
    return d.type if d.type in ("cpu", "mps") else f"{d.type}:{d.index or 0}"


def _label(t: Target) -> str:
    return f"{_spec(t.device)} {t.backend} {t.precision}"


def resolve(model, device: str | torch.device = "auto", precision: str = "auto",
            backend: str = "auto", notice: Notice | None = None,
            tile: int | None = None) -> Target:
    """The Upscaler's target: the measured choice when the request leaves it to auto, ``model``
    is a loaded weights file (``weights.LoadedModel``) and ``$DRRN_AUTO`` is not ``rule``,
    ranked for ``tile`` (the Upscaler's core tile side; None: the engine's automatic tiles);
    else ``device.resolve_target``'s rule. A bare network (``nn.Module``) gets the rule: its
    weights may change between calls (training's validation builds an Upscaler per evaluation)
    and every new weights hash would be measured again."""
    net = getattr(model, "model", None)
    if not isinstance(net, torch.nn.Module) or not enabled() \
            or not measured_request(device, precision, backend):
        return dev.resolve_target(device, precision, backend)
    model = net
    dev.resolve_device(device)  # a bad or missing device: its own one-line error first
    say = notice or (lambda message: None)
    hit = cached_choice(model, device)
    if hit is None:
        say("Measuring which way of running this model is fastest here (once, a few seconds).")
        hit = choose(model, device, say, force=True)
    return hit.trials[rank(hit.trials, margin_px(model), tile)].target


def known_point(up) -> tuple[int, float] | None:
    """(padded pixels, seconds per pixel) measured for ``up``'s path by the auto calibration,
    for the time estimate; None when there is none (another path, compile, no cache entry)."""
    if up._backend is None or up.compile:
        return None
    info = up.run_info
    for device in dict.fromkeys(("auto", "cpu", info.device, info.device.split(":")[0])):
        hit = cached_choice(up.net, device)
        for t in hit.trials if hit else ():
            if (t.backend, t.device, t.precision, t.problem) == (
                    info.backend, info.device, info.precision, "") and t.s_per_px:
                return TILE * TILE, t.s_per_px
    return None

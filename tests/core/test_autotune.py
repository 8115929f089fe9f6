"""`auto` decided by measurement (engine.autotune): the faster candidate wins, the cache skips
measuring, failing or inexact candidates are skipped with a notice; one real calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from drrn_core.descriptor import ModelDescriptor
from drrn_core.engine import Upscaler, autotune, records
from drrn_core.engine import device as dev
from drrn_core.engine import ncnn_backend as nb
from drrn_core.model import DRRN, DRRNConfig
from drrn_core.weights import LoadedModel

pytest.importorskip("ncnn", reason="ncnn is not installed (pip install ncnn)")
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _measured_auto(tmp_path, monkeypatch):
    monkeypatch.setenv("DRRN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DRRN_AUTO", raising=False)
    monkeypatch.delenv("DRRN_NCNN_FAIL_CONVERSION", raising=False)
    monkeypatch.setenv("DRRN_NO_VULKAN_AUTO", "1")  # a hardware GPU would add a candidate


def _tiny(channels: int = 8, seed: int = 0) -> DRRN:
    """A tiny DRRN with gentle weights (trained DRRNs are; default-initialised random ones
    amplify bf16 rounding to RMS ~5e-3, over the half-precision accuracy rule)."""
    torch.manual_seed(seed)
    model = DRRN(DRRNConfig(U=2, channels=channels)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.4)
    return model


def _loaded(channels: int = 8, seed: int = 0) -> LoadedModel:
    """The tiny DRRN as a loaded weights file: what the CLI and the app give the Upscaler (a
    bare network gets the rule, see test_rule_when_not_left_to_auto)."""
    model = _tiny(channels, seed)
    return LoadedModel(model, ModelDescriptor.for_config(model.config), {}, Path("tiny.st"))


class _Clock:
    """A fake perf_counter: each backend run advances it by that candidate's cost."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _fake_timings(monkeypatch, costs: dict[str, float | tuple[float, float]],
                  skew: dict[str, float] | None = None):
    """Real backends (real outputs), fake time: a run of candidate ``label`` costs costs[label]
    seconds, or (seconds per call, seconds per pixel); ``skew[label]`` is added to its output.
    Returns the list of built labels."""
    clock, built, real_build = _Clock(), [], autotune._build

    class Timed:
        def __init__(self, inner, label):
            self.inner, self.label = inner, label

        def run(self, x):
            out = self.inner.run(x)
            cost = costs[self.label]
            clock.t += cost if isinstance(cost, float) else cost[0] + cost[1] * x.size
            return out + (skew or {}).get(self.label, 0.0)

    def build(model, target):
        label = autotune._label(target)
        built.append(label)
        return Timed(real_build(model, target), label)

    monkeypatch.setattr(autotune, "_clock", clock)
    monkeypatch.setattr(autotune, "_build", build)
    return built


def _labels() -> list[str]:
    return [autotune._label(t) for t in autotune.candidates("auto")]


def test_candidates_on_the_cpu(monkeypatch):
    monkeypatch.setattr(dev, "cpu_has_bf16_units", lambda: True)
    assert [t.precision for t in autotune.candidates("cpu")][:1] == ["bf16"]
    monkeypatch.setattr(dev, "cpu_has_bf16_units", lambda: False)
    got = autotune.candidates("cpu")
    assert all(t.precision != "bf16" for t in got)  # emulated bf16 is never a candidate
    assert (CPU, "ncnn", "fp32") in [(t.device, t.backend, t.precision) for t in got]
    assert autotune.measured_request("auto", "auto", "auto")
    assert autotune.measured_request("cpu", "auto", "auto")
    assert not autotune.measured_request("cpu", "fp32", "auto")  # explicit precision: no choice
    assert not autotune.measured_request("vulkan", "auto", "auto")


@pytest.mark.parametrize("winner", [0, -1])
def test_auto_picks_the_faster_candidate(monkeypatch, winner):
    labels = _labels()
    assert len(labels) >= 2
    fast = labels[winner]
    costs = {label: 0.010 if label == fast else 0.025 for label in labels}
    built = _fake_timings(monkeypatch, costs)
    notes: list[str] = []
    up = Upscaler(_loaded(), notice=notes.append)
    assert sorted(built) == sorted(labels)  # every candidate was measured once
    assert autotune._label(autotune.Target(up.device, up.backend, up.precision)) == fast
    assert any("Measuring" in n for n in notes)
    choice = autotune.cached_choice(up.net, "auto")
    assert choice is not None and choice.trial.label == fast
    px = autotune.TILE ** 2
    assert choice.trials[0].s_per_px == pytest.approx(costs[labels[0]] / px)


def test_paths_are_ranked_at_the_tile_the_engine_runs(monkeypatch):
    """A path with a large cost per call but a low cost per pixel (like PyTorch bf16 on AMX) is
    slower on the small calibration tiles yet faster on the engine's own large tiles."""
    labels = _labels()
    a, b = labels[0], labels[-1]
    costs = {label: (0.0, 1e-4) for label in labels}
    costs[a] = (0.5, 1e-6)  # 0.5 s per call, then cheap pixels
    costs[b] = (0.0, 2e-5)
    _fake_timings(monkeypatch, costs)
    choice = autotune.choose(_tiny(), "auto")
    ta = next(t for t in choice.trials if t.label == a)
    assert ta.overhead_s == pytest.approx(0.5) and ta.rate == pytest.approx(1e-6)
    assert ta.s_per_px > next(t for t in choice.trials if t.label == b).s_per_px  # at 128 px
    margin = autotune.margin_px(_tiny())
    assert choice.trial.label == a  # at the engine's automatic tiles (192/256 px + margins)
    assert choice.trials[autotune.rank(choice.trials, margin, tile=64)].label == b
    assert autotune.padded_side(ta, margin, 64) == 64 + 2 * margin
    up = Upscaler(_loaded(), tile=64)  # the Upscaler ranks for its own tile size
    assert autotune._label(autotune.Target(up.device, up.backend, up.precision)) == b


def test_a_candidate_must_be_clearly_faster_than_the_first(monkeypatch):
    labels = _labels()
    costs = {label: 0.0100 for label in labels}
    costs[labels[-1]] = 0.0100 * (1 - autotune.MARGIN / 2)  # faster, but within the margin
    _fake_timings(monkeypatch, costs)
    assert autotune.choose(_tiny(), "auto").trial.label == labels[0]


def test_cache_hit_skips_measuring(monkeypatch):
    labels = _labels()
    built = _fake_timings(monkeypatch, {label: 0.01 for label in labels})
    model = _tiny()
    first = autotune.choose(model, "auto")
    assert not first.cached and len(built) == len(labels)
    built.clear()
    notes: list[str] = []
    up = Upscaler(_loaded(), notice=notes.append)  # the same model again: a cache hit
    assert built == [] and not any("Measuring" in n for n in notes)
    assert (up.backend, up.precision) == (first.target.backend, first.target.precision)
    Upscaler(_loaded(channels=16))  # another network shape is measured again
    assert len(built) == len(labels)
    built.clear()
    Upscaler(_loaded(seed=5))  # same shape, other weights: accuracy may differ, measured again
    assert len(built) == len(labels)
    assert sum(k.startswith("auto|") for k in records.read()) == 3
    built.clear()
    monkeypatch.setattr(torch, "__version__", "0.0-other")  # another torch: measured again
    autotune.choose(model, "auto")
    assert len(built) == len(labels)


def test_failing_candidate_is_skipped_with_a_notice(monkeypatch):
    monkeypatch.setenv("DRRN_NCNN_FAIL_CONVERSION", "1")
    labels = _labels()
    ncnn = "cpu ncnn fp32"
    assert ncnn in labels
    _fake_timings(monkeypatch, {label: 0.001 if label == ncnn else 0.02 for label in labels})
    notes: list[str] = []
    up = Upscaler(_loaded(), notice=notes.append)
    assert up.backend == "torch"
    assert [n for n in notes if "skipped" in n] == [
        f"auto: {ncnn} skipped (conversion to ncnn failed (forced by "
        "$DRRN_NCNN_FAIL_CONVERSION))."]
    trial = next(t for t in autotune.cached_choice(up.net, "auto").trials if t.label == ncnn)
    assert trial.s_per_px is None and "conversion" in trial.problem


def test_inexact_candidate_is_not_eligible(monkeypatch):
    labels = _labels()
    wrong = labels[-1]
    _fake_timings(monkeypatch, {label: 0.001 if label == wrong else 0.02 for label in labels},
                  skew={wrong: 0.01})  # fastest, but 0.01 off everywhere
    notes: list[str] = []
    choice = autotune.choose(_tiny(), "auto", notes.append)
    assert choice.trial.label != wrong
    bad = next(t for t in choice.trials if t.label == wrong)
    assert bad.rms == pytest.approx(0.01, rel=1e-3) and "differs from exact fp32" in bad.problem
    assert any(wrong in n and "differs" in n for n in notes)


def test_rule_when_not_left_to_auto(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("measured")

    monkeypatch.setattr(autotune, "measure", boom)
    assert Upscaler(_loaded(), device="cpu", precision="fp32").backend == "torch"
    assert Upscaler(_loaded(), device="cpu", backend="ncnn").backend == "ncnn"
    up = Upscaler(_tiny())  # a bare network (training's validation): the rule, not measured
    assert dev.Target(up.device, up.backend, up.precision) == dev.resolve_target("auto")
    monkeypatch.setenv("DRRN_AUTO", "rule")
    up = Upscaler(_loaded())
    assert dev.Target(up.device, up.backend, up.precision) == dev.resolve_target("auto")


def test_real_short_calibration_feeds_the_estimate():
    """No fake timings: every candidate runs on the tiny model, is exact enough, gets a rate;
    the chosen path's rate becomes the small point of its time-estimate calibration."""
    notes: list[str] = []
    up = Upscaler(_loaded(), notice=notes.append)
    choice = autotune.cached_choice(up.net, "auto")
    assert choice is not None and len(choice.trials) == len(autotune.candidates("auto"))
    for t in choice.trials:
        assert t.problem == "" and t.s_per_px > 0, t
        assert t.rms <= autotune.MAX_RMS[t.precision]
    assert (up.backend, up.precision) == (choice.target.backend, choice.target.precision)
    assert choice.seconds < 60
    y = np.random.default_rng(0).random((200, 200)).astype(np.float32)
    up.tile = 120  # padded tiles larger than the calibration tile
    assert up.estimate_restore_seconds(y.shape) > 0
    points = records.get(up._path_key())["points"]
    assert points[0] == [autotune.TILE ** 2, pytest.approx(choice.trial.s_per_px)]
    assert points[-1][0] > autotune.TILE ** 2


def test_cuda_candidates_are_torch_half_precisions_plus_a_vulkan_gpu(monkeypatch):
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(dev, "resolve_device", lambda spec, vulkan=False: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(dev, "_hardware_vulkan", lambda: 1)
    assert [(t.backend, t.precision) for t in autotune.candidates("cuda")] == [
        ("torch", "bf16"), ("torch", "fp16")]
    got = autotune.candidates("auto")
    assert [(str(t.device), t.backend, t.precision) for t in got] == [
        ("cuda:0", "torch", "bf16"), ("cuda:0", "torch", "fp16"), ("vulkan:1", "ncnn", "fp16")]


@pytest.mark.skipif(nb.vulkan_count() == 0,
                    reason="no Vulkan device (CI installs mesa-vulkan-drivers: lavapipe)")
def test_a_vulkan_gpu_candidate_is_measured_checked_and_can_win(monkeypatch):
    """lavapipe stands in for a hardware GPU here (auto never lists a software driver)."""
    monkeypatch.setattr(dev, "_hardware_vulkan", lambda: 0)
    labels = _labels()
    assert labels[0] == "vulkan:0 ncnn fp16"
    _fake_timings(monkeypatch, {label: 0.001 if label.startswith("vulkan") else 0.02
                                for label in labels})
    up = Upscaler(_loaded())
    assert (up.device.type, up.backend, up.precision) == ("vulkan", "ncnn", "fp16")
    trial = autotune.cached_choice(up.net, "auto").trial
    assert trial.rms is not None and 0 < trial.rms <= autotune.MAX_RMS["fp16"]


class _Busy:
    """A contention meter that says other programs kept the CPU busy."""

    def busy(self) -> bool:
        return True


def test_a_busy_first_use_is_measured_again_once_the_machine_is_idle(monkeypatch):
    """Under load ncnn's threads wait for each other and another path wins; the record is marked
    and used while the machine stays busy, re-measured when it is idle: the idle ranking wins
    and no candidate keeps a slower time than it once had (best of both measurements)."""
    from drrn_core.engine.contention import Meter

    labels = _labels()
    ncnn, other = "cpu ncnn fp32", labels[0]
    assert ncnn in labels and other != ncnn
    costs = {label: 0.05 for label in labels}
    costs[ncnn], costs[other] = 0.04, 0.02  # busy: ncnn slowed the most
    built = _fake_timings(monkeypatch, costs)
    monkeypatch.setattr(autotune, "Meter", _Busy)
    up = Upscaler(_loaded())
    busy = autotune.cached_choice(up.net, "auto")
    assert busy.contended and busy.trial.label == other == _label(up)
    monkeypatch.setattr(autotune, "machine_busy", lambda: True)  # still busy: the record serves
    built.clear()
    assert _label(Upscaler(_loaded())) == other and built == []
    monkeypatch.setattr(autotune, "Meter", Meter)
    monkeypatch.setattr(autotune, "machine_busy", lambda: False)
    costs[ncnn], costs[other] = 0.01, 0.03  # idle: ncnn is fastest; the other path measures slower
    notes: list[str] = []
    up = Upscaler(_loaded(), notice=notes.append)
    assert any("Measuring" in n for n in notes) and sorted(built) == sorted(labels)
    idle = autotune.cached_choice(up.net, "auto")
    assert not idle.contended and idle.trial.label == ncnn == _label(up)
    kept = next(t for t in idle.trials if t.label == other)
    assert kept.s_per_px == pytest.approx(0.02 / autotune.TILE ** 2)  # its better, busy time


def _label(up: Upscaler) -> str:
    return autotune._label(autotune.Target(up.device, up.backend, up.precision))


def test_a_record_of_other_candidates_is_measured_again(monkeypatch):
    """A record made while ncnn was usable does not pick ncnn once it is gone ($DRRN_NO_NCNN,
    an uninstalled wheel): the request is measured again among what is here now."""
    labels = _labels()
    built = _fake_timings(monkeypatch, {label: 0.01 if "ncnn" in label else 0.03
                                        for label in labels})
    up = Upscaler(_loaded())
    assert up.backend == "ncnn"
    monkeypatch.setattr(dev, "ncnn_usable", lambda: False)
    built.clear()
    up = Upscaler(_loaded())
    assert up.backend == "torch" and built and all("ncnn" not in b for b in built)


def test_laptop_mode_hides_bf16_units(monkeypatch):
    """$DRRN_CPU_ISA=avx2 runs an AMX Xeon as an AVX2 laptop: no AVX-512/AMX flags, no bf16
    candidate, another machine key (its records are its own)."""
    xeon = frozenset({"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
    monkeypatch.setattr(dev, "_cpuinfo_flags", lambda: xeon)
    monkeypatch.delenv("DRRN_CPU_ISA", raising=False)
    assert dev.cpu_has_bf16_units() and "AMX bf16" in dev.cpu_isa()
    server_key = autotune.machine_key()
    monkeypatch.setenv("DRRN_CPU_ISA", "avx2")
    assert dev.laptop_mode() and not dev.cpu_has_bf16_units()
    assert dev.cpu_flags() == {"avx2", "fma"} and dev.cpu_isa() == "AVX2"
    assert all(t.precision != "bf16" for t in autotune.candidates("cpu"))
    assert autotune.machine_key() != server_key


CACHED_RUN = """
import hashlib, sys
import numpy as np
from drrn_core.engine import Upscaler
from drrn_core.weights import load_weights
notes = []
up = Upscaler(load_weights(sys.argv[1]), notice=notes.append)
y = np.random.default_rng(3).random((60, 50)).astype(np.float32)
out = up.restore_y(y)
print(up.backend, up.precision, hashlib.sha256(out.tobytes()).hexdigest(), len(notes))
print("\\n".join(notes), file=sys.stderr)
"""


def test_a_cached_choice_runs_exactly_what_a_fresh_one_ran(tmp_path):
    """Two fresh processes, one measuring and one reading the record: same path, no notice on
    the second (NNPACK used to fail there: it works only once initialised), the same bits."""
    import os
    import subprocess
    import sys

    from drrn_core.weights import save_weights

    path = tmp_path / "tiny.safetensors"
    save_weights(path, _tiny())
    env = {**os.environ, "DRRN_CACHE_DIR": str(tmp_path / "cache"), "DRRN_CPU_ISA": "avx2",
           "DRRN_NO_NCNN": "1", "DRRN_NO_VULKAN_AUTO": "1"}
    env.pop("DRRN_AUTO", None)
    runs = [subprocess.run([sys.executable, "-c", CACHED_RUN, str(path)], env=env,
                           capture_output=True, text=True, timeout=300) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    fresh, cached = (r.stdout.split() for r in runs)
    assert "Measuring" in runs[0].stderr and int(fresh[3]) == 1  # measured: one notice
    assert cached[:3] == fresh[:3] and cached[3] == "0", runs[1].stderr

"""The ncnn backend (CPU and Vulkan through lavapipe): exactness against fp32 PyTorch, tiling,
fallbacks, the conversion cache, device listing and the auto rule, time estimates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drrn_core.engine import Cancelled, Upscaler, calibration, records
from drrn_core.engine import device as dev
from drrn_core.engine import ncnn_backend as nb
from drrn_core.engine.device import DeviceError, list_devices, resolve_device, resolve_target
from drrn_core.model import DRRN, DRRNConfig

ncnn = pytest.importorskip("ncnn", reason="ncnn is not installed (pip install ncnn)")
VULKAN = nb.vulkan_count() > 0
needs_vulkan = pytest.mark.skipif(
    not VULKAN, reason="no Vulkan device (CI installs mesa-vulkan-drivers: lavapipe)")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DRRN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DRRN_NCNN_FAIL_CONVERSION", raising=False)


def _tiny(seed: int = 0, **kw) -> DRRN:
    torch.manual_seed(seed)
    model = DRRN(DRRNConfig(**{"U": 2, "channels": 8, **kw}))
    for m in model.modules():  # non-trivial BatchNorm statistics and biases
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
        elif isinstance(m, torch.nn.Conv2d) and m.bias is not None:
            m.bias.data.uniform_(-0.05, 0.05)
    return model.eval()


def _torch(model: DRRN, y: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(y.astype(np.float32))[None, None])[0, 0].numpy()


def _ilr(shape=(24, 24), seed=1) -> np.ndarray:
    """An ILR-like Y image: smooth content plus noise, slightly outside [0, 1] like bicubic."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (0.5 + 0.4 * np.sin(yy / 3.0) * np.cos(xx / 4.0) + 0.08 * rng.standard_normal(shape))


@pytest.mark.parametrize("kw", [{}, {"batchnorm": True}, {"chain": True, "batchnorm": True},
                                {"share": False}, {"B": 2, "U": 1, "bias": False}])
def test_ncnn_cpu_matches_fp32_pytorch(kw):
    model = _tiny(**kw)
    y = _ilr((29, 23))
    out = nb.NcnnBackend(model, None, "fp32", 2).run(y)
    ref = _torch(model, y)
    assert out.shape == ref.shape and out.dtype == np.float32
    assert np.abs(out - ref).max() < 1e-5


@needs_vulkan
@pytest.mark.parametrize(("precision", "tol"), [("fp32", 1e-5), ("fp16", 2e-2)])
def test_vulkan_matches_fp32_pytorch(precision, tol):
    model = _tiny(batchnorm=True)
    y = _ilr()
    ref = np.clip(_torch(model, y), 0, 1)
    up = Upscaler(model, device="vulkan", precision=precision)
    assert up.run_info.backend == "ncnn" and up.run_info.device == "vulkan:0"
    out = up.restore_y(y)
    err = np.abs(out - ref).max()
    assert err < tol
    if precision == "fp16":
        assert err > 1e-6  # it really ran in half precision (the GPU supports it)


@pytest.mark.parametrize("where", ["cpu", pytest.param("vulkan", marks=needs_vulkan)])
def test_ncnn_tiled_equals_untiled(where):
    model = _tiny(batchnorm=True)
    y = _ilr((41, 37))
    kw = {"device": where, "backend": "ncnn", "precision": "fp32"}
    whole = Upscaler(model, **kw).restore_y(y)
    up = Upscaler(model, tile=12, **kw)
    assert up.tile_size(y.shape) == 12
    seen = []
    tiled = up.restore_y(y, progress=seen.append)
    assert np.abs(tiled - whole).max() < 1e-5
    assert len(seen) >= 16 and seen[-1] == 1.0 and seen == sorted(seen)


def test_cancel_between_ncnn_tiles():
    up = Upscaler(_tiny(), device="cpu", backend="ncnn", tile=8)
    calls = []
    with pytest.raises(Cancelled):
        up.restore_y(_ilr(), progress=calls.append, cancel=lambda: len(calls) > 2)
    assert 0 < calls[-1] < 1


def test_forced_conversion_failure_falls_back_to_pytorch(monkeypatch):
    monkeypatch.setenv("DRRN_NCNN_FAIL_CONVERSION", "1")
    model = _tiny()
    notes: list[str] = []
    up = Upscaler(model, device="cpu", backend="ncnn", notice=notes.append)
    assert len(notes) == 1 and "ncnn failed" in notes[0] and "PyTorch" in notes[0]
    assert "\n" not in notes[0] and up.run_info.backend == "torch"
    y = _ilr()
    out = up.restore_y(y)
    expected = Upscaler(model, device="cpu").restore_y(y)  # the CPU's own auto path
    np.testing.assert_array_equal(out, expected)


def test_fallback_keeps_an_explicit_exact_fp32(monkeypatch):
    """Asked for exact fp32 (e.g. the self-test's reference, `drrn bench`), a failed ncnn
    setup continues in exact fp32 PyTorch, not in the CPU's fastest (bf16 on AMX) precision."""
    monkeypatch.setenv("DRRN_NCNN_FAIL_CONVERSION", "1")
    model = _tiny()
    up = Upscaler(model, device="cpu", backend="ncnn", precision="fp32")
    assert (up.run_info.backend, up.precision) == ("torch", "fp32")
    y = _ilr()
    assert np.abs(up.restore_y(y) - np.clip(_torch(model, y), 0, 1)).max() < 1e-5


def test_an_unwritable_cache_converts_into_a_temporary_folder(tmp_path, monkeypatch):
    """A file where the cache folder should be (or a read-only home): ncnn still runs, from a
    temporary folder that is removed again, and nothing is written to the cache."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file\n")
    monkeypatch.setenv("DRRN_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(nb.tempfile, "tempdir", None)  # re-read TMPDIR
    model = _tiny()
    notes: list[str] = []
    up = Upscaler(model, device="cpu", backend="ncnn", precision="fp32", notice=notes.append)
    assert up.run_info.backend == "ncnn" and not notes
    y = _ilr()
    assert np.abs(up.restore_y(y) - np.clip(_torch(model, y), 0, 1)).max() < 1e-4
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary folder is gone


def test_driver_failure_mid_run_falls_back_once(monkeypatch):
    model = _tiny()
    notes: list[str] = []
    up = Upscaler(model, device="cpu", backend="ncnn", tile=8, notice=notes.append)

    def broken(self, y):
        raise nb.NcnnError("ncnn failed on a tile (code -1)")

    monkeypatch.setattr(nb.NcnnBackend, "run", broken)
    y = _ilr()
    out = up.restore_y(y)
    assert len(notes) == 1 and "code -1" in notes[0]
    assert up.run_info.backend == "torch"
    tol = 1e-5 if up.precision.startswith("fp32") else 5e-2  # bf16 on CPUs with bf16 units
    assert np.abs(out - np.clip(_torch(model, y), 0, 1)).max() < tol


@needs_vulkan
def test_vulkan_out_of_memory_shrinks_tiles_then_moves_to_cpu(monkeypatch):
    model = _tiny()
    real = nb.NcnnBackend.run

    def oom_on_gpu(self, y):
        if self.vulkan is not None:
            raise nb.NcnnOutOfMemory("out of memory in ncnn")
        return real(self, y)

    monkeypatch.setattr(nb.NcnnBackend, "run", oom_on_gpu)
    notes: list[str] = []
    up = Upscaler(model, device="vulkan", precision="fp32", tile=64, backend="auto",
                  notice=notes.append)
    y = _ilr((70, 66))
    out = up.restore_y(y)
    assert any("smaller tiles" in n and "Vulkan" in n for n in notes)
    assert "continuing on the CPU" in notes[-1]
    assert up.device.type == "cpu"
    tol = 1e-5 if up.precision.startswith("fp32") else 5e-2
    assert np.abs(out - np.clip(_torch(model, y), 0, 1)).max() < tol


@pytest.mark.parametrize("damage", ["truncate-bin", "garbage-param", "empty-param", "no-bin"])
def test_a_damaged_conversion_cache_is_rebuilt(damage):
    """A cut-off download, a full disk or a killed writer of another version: the next run
    rewrites the files and runs, with no notice, and computes what PyTorch computes."""
    model = _tiny()
    param, binf = nb.converted_files(model)
    good = param.read_bytes(), binf.read_bytes()
    if damage == "truncate-bin":
        binf.write_bytes(good[1][: len(good[1]) // 2])
    elif damage == "garbage-param":
        param.write_bytes(b"7767517\n\x00garbage" * 3)
    elif damage == "empty-param":
        param.write_bytes(b"")
    else:
        binf.unlink()
    notes: list[str] = []
    up = Upscaler(model, device="cpu", backend="ncnn", notice=notes.append)
    y = _ilr()
    out = up.restore_y(y)
    assert notes == [] and up.run_info.backend == "ncnn"
    assert (param.read_bytes(), binf.read_bytes()) == good
    assert np.abs(out - np.clip(_torch(model, y), 0, 1)).max() < 1e-5


def test_conversion_is_cached_per_weights(tmp_path):
    a, b = _tiny(seed=0), _tiny(seed=1)
    pa, ba = nb.converted_files(a)
    assert pa.parent == tmp_path / "cache" / "ncnn" and pa.is_file() and ba.is_file()
    stamp = pa.stat().st_mtime_ns
    assert nb.converted_files(a) == (pa, ba) and pa.stat().st_mtime_ns == stamp
    pb, _ = nb.converted_files(b)
    assert pb != pa
    # the bin holds every conv weight and bias as float32 (4-byte tag per conv), nothing else
    convs = [m for m in a.modules() if isinstance(m, torch.nn.Conv2d)]
    uses = 1 + 2 * a.config.U + 1  # shared convs are written once per use
    per = sum(c.weight.numel() + c.bias.numel() for c in convs[:1] + convs[-1:])
    shared = sum(c.weight.numel() + c.bias.numel() for c in convs[1:-1])
    assert ba.stat().st_size == 4 * (per + shared * a.config.U + uses)


def test_ncnn_missing_gives_pytorch_and_a_notice(monkeypatch):
    monkeypatch.setenv("DRRN_NO_NCNN", "1")
    notes: list[str] = []
    up = Upscaler(_tiny(), device="cpu", backend="ncnn", notice=notes.append)
    assert up.run_info.backend == "torch" and len(notes) == 1 and "DRRN_NO_NCNN" in notes[0]


def test_list_devices_cpu_first_and_vulkan_named():
    devices = list_devices()
    cpu = devices[0]
    assert cpu.spec == "cpu" and cpu.kind == "cpu" and cpu.memory_mb is None
    assert any(isa in cpu.detail for isa in ("AVX2", "AVX-512", "NEON", "threads"))
    assert "ncnn" in cpu.backends
    vk = [d for d in devices if d.kind == "vulkan"]
    assert len(vk) == nb.vulkan_count()
    for d in vk:
        assert d.spec.startswith("vulkan:") and d.name and d.backends == ("ncnn",)
        assert resolve_device(d.spec, vulkan=True) == torch.device("vulkan", int(d.spec[7:]))
        assert d.label.startswith(d.spec) and "\n" not in d.label


def test_vulkan_device_errors_are_one_line():
    with pytest.raises(DeviceError, match="inference only"):
        resolve_device("vulkan")  # training and other torch-only users
    with pytest.raises(DeviceError, match="does not exist|no Vulkan device"):
        resolve_device("vulkan:9", vulkan=True)
    with pytest.raises(DeviceError, match="vulkan:N"):
        resolve_device("vulkan:x", vulkan=True)
    if VULKAN:
        with pytest.raises(DeviceError, match="Vulkan .* runs fp32 or fp16"):
            resolve_target("vulkan", "bf16")
    with pytest.raises(DeviceError, match="backend"):
        resolve_target("cpu", backend="onnx")


def test_auto_rule_on_the_cpu(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(dev, "cpu_has_bf16_units", lambda: True)
    assert resolve_target("cpu") == dev.Target(cpu, "torch", "bf16")
    monkeypatch.setattr(dev, "cpu_has_bf16_units", lambda: False)
    assert resolve_target("cpu") == dev.Target(cpu, "ncnn", "fp32")
    assert resolve_target("cpu", "fp32") == dev.Target(cpu, "torch", "fp32")  # exact stays torch
    assert resolve_target("cpu", backend="torch").backend == "torch"
    monkeypatch.setattr(dev, "ncnn_usable", lambda: False)
    assert resolve_target("cpu").backend == "torch"
    with pytest.raises(DeviceError, match="fp32"):
        resolve_target("cpu", "bf16", "ncnn")


@needs_vulkan
def test_auto_never_picks_a_software_vulkan_driver():
    if any(not d.software for d in list_devices() if d.kind == "vulkan"):
        pytest.skip("this machine has a hardware Vulkan GPU")
    assert resolve_target("auto").device.type != "vulkan"
    assert resolve_target("vulkan") == dev.Target(torch.device("vulkan", 0), "ncnn", "fp16")


def test_estimate_is_calibrated_once_and_scales_with_work():
    up = Upscaler(_tiny(), device="cpu", backend="ncnn")
    assert not up.calibrated
    small = up.estimate_seconds((40, 40), scale=2)
    assert up.calibrated and small > 0
    (p1, r1), (p2, r2) = records.get(up._path_key())["points"]
    assert p1 < p2 and r1 > 0 and r2 > 0
    cal = up.calibration()
    assert cal.tile_seconds(p1) == pytest.approx(p1 * r1)
    assert cal.tile_seconds(4 * p2) == pytest.approx(4 * p2 * r2)  # large tiles: large rate
    mid = cal.tile_seconds((p1 + p2) // 2) / ((p1 + p2) // 2)
    assert min(r1, r2) <= mid <= max(r1, r2)
    big = up.estimate_seconds((400, 400), scale=2)
    assert big > small  # 100x the pixels (a tiny model's time is mostly per call: far < 100x)
    up.tile = 16  # tiles with margins: the margins are priced too
    from drrn_core.engine.tiling import plan_tiles

    tiles = plan_tiles((320, 320), 16, up.margin)
    cores = sum(cal.tile_seconds(t.area) for t in tiles)
    assert up.estimate_restore_seconds((320, 320)) > cores
    up.tile = None
    assert up.estimate_seconds((40, 40), size=(160, None)) == pytest.approx(
        up.estimate_seconds((40, 40), scale=4))
    up.ensemble = True
    assert up.estimate_restore_seconds((80, 80)) == pytest.approx(
        8 * Upscaler(_tiny(), device="cpu", backend="ncnn").estimate_restore_seconds((80, 80)))
    bicubic = Upscaler(None)
    assert 0 < bicubic.estimate_seconds((40, 40), scale=2) < small


def test_finished_runs_correct_the_calibration(monkeypatch):
    up = Upscaler(_tiny(), device="cpu", backend="ncnn")
    seen = []
    with monkeypatch.context() as m:  # (undo() would also drop the cache folder's env var)
        m.setattr(calibration, "observe", lambda key, timings, passes, busy: seen.append(timings))
        up.restore_y(_ilr((30, 20)))
    assert len(seen) == 1 and seen[0][0][0] == 30 * 20  # one whole-image tile, no margins
    key = up._path_key()
    calibration.observe(key, [(4096, 10.0)], 1, False)  # not calibrated yet: nothing to correct
    assert not up.calibrated
    cal = up.calibration()
    predicted = cal.tile_seconds(4096)
    slow = 4 * predicted + calibration.OBSERVE_MIN_S
    calibration.observe(key, [(4096, slow)], 1, True)  # a busy run: an idle record stays
    assert up.calibration().tile_seconds(4096) == pytest.approx(predicted)
    calibration.observe(key, [(4096, slow)], 1, False)  # an idle run: halfway (in log)
    after = up.calibration()
    assert after.tile_seconds(4096) == pytest.approx(predicted * (slow / predicted) ** 0.5)


def test_an_idle_run_replaces_a_busy_record():
    up = Upscaler(_tiny(), device="cpu", backend="ncnn")
    key = up._path_key()
    records.put(key, {"points": [[4096, 1e-3], [90000, 1e-3]], "contended": True})
    busy = up.calibration()
    assert busy.contended and busy.tile_seconds(4096) == pytest.approx(4.096)
    calibration.observe(key, [(4096, 0.9)], 1, True)  # busy again: corrected, still marked
    assert up.calibration().contended
    calibration.observe(key, [(4096, 0.8)], 1, False)
    idle = up.calibration()
    assert not idle.contended and idle.tile_seconds(4096) == pytest.approx(0.8)


class _Load:
    """A contention meter whose verdict the test sets."""

    busy_now = False

    def busy(self) -> bool:
        return _Load.busy_now


def test_ncnn_gives_up_a_thread_while_another_program_is_busy(monkeypatch):
    """A run during which other programs kept a core busy makes the next run use one thread
    fewer (its own Net: ncnn fixes Winograd threads at load); idle again, all threads; the
    numbers do not change."""
    monkeypatch.setattr(nb, "Meter", _Load)
    backend = nb.NcnnBackend(_tiny(), None, "fp32", threads=2)
    y = _ilr((40, 30))
    first = backend.run(y)
    assert backend.threads_used == 2
    _Load.busy_now = True
    backend.run(y)  # busy during this run: the next one gives a thread up
    assert backend.threads_used == 2
    second = backend.run(y)
    assert backend.threads_used == 1 and np.array_equal(first, second)
    _Load.busy_now = False
    backend.run(y)
    assert backend.threads_used == 1  # the busy verdict came from the run before
    third = backend.run(y)
    assert backend.threads_used == 2 and np.array_equal(first, third)
    single = nb.NcnnBackend(_tiny(), None, "fp32", threads=1)
    _Load.busy_now = True
    single.run(y)
    single.run(y)
    assert single.threads_used == 1  # never below one thread

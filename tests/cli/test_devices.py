"""`drrn devices`; `--device vulkan` in bench and upscale (lavapipe in CI: tiny model, images)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import assert_one_error_line
from PIL import Image
from skimage import data

from drrn_core.engine import ncnn_backend as nb

needs_vulkan = pytest.mark.skipif(
    nb.vulkan_count() == 0, reason="no Vulkan device (CI installs mesa-vulkan-drivers: lavapipe)")


def test_devices_lists_cpu_vulkan_and_auto(drrn):
    result = drrn("devices")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("cpu ") and "threads" in lines[0]
    assert lines[-1].startswith("auto: ")
    assert sum(line.startswith("vulkan:") for line in lines) == nb.vulkan_count()
    doc = json.loads(drrn("devices", "--json").out)
    assert doc["devices"][0]["spec"] == "cpu" and doc["auto"]["backend"] in ("torch", "ncnn")


def test_devices_calibrate_shows_candidates_and_the_measured_pick(drrn, tiny_model, tmp_path,
                                                                   monkeypatch):
    from drrn_core.engine import autotune

    monkeypatch.setenv("DRRN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DRRN_AUTO", raising=False)
    before = drrn("devices", "--model", tiny_model)
    assert before.code == 0 and "(rule; not measured yet" in before.out.splitlines()[-1]
    result = drrn("devices", "--calibrate", "--model", tiny_model)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("auto candidates for"))
    rows = lines[head + 1:-1]
    assert len(rows) == len(autotune.candidates("auto"))
    picked = [r for r in rows if r.lstrip().startswith("*")]
    assert len(picked) == 1 and "us/px" in picked[0] and "GMAC/s" in picked[0]
    assert lines[-1].startswith("auto: ") and lines[-1].endswith("(measured)")
    doc = json.loads(drrn("devices", "--json", "--model", tiny_model).out)  # from the cache
    auto = doc["auto"]
    assert auto["how"] == "measured" and sum(c["picked"] for c in auto["candidates"]) == 1
    pick = next(c for c in auto["candidates"] if c["picked"])
    assert (pick["backend"], pick["precision"]) == (auto["backend"], auto["precision"])
    assert pick["s_per_px"] > 0 and pick["problem"] == ""
    monkeypatch.setenv("DRRN_AUTO", "rule")
    assert_one_error_line(drrn("devices", "--calibrate", "--model", tiny_model), "DRRN_AUTO")


def test_bad_vulkan_index_is_one_line(drrn, png, tiny_model):
    result = drrn("upscale", png, "-s", "2", "--device", "vulkan:7", "--model", tiny_model)
    assert_one_error_line(result, "Vulkan")


@needs_vulkan
@pytest.mark.parametrize(("precision", "tol_db"), [("fp32", 0.01), ("fp16", 0.03)])
def test_bench_on_vulkan_matches_exact_fp32(drrn, tiny_model, tmp_path, precision, tol_db):
    Image.fromarray(data.astronaut()[40:100, 180:240]).save(tmp_path / "a.png")
    runs = {}
    for device, prec in (("cpu", "fp32"), ("vulkan", precision)):
        out = tmp_path / f"{device}.json"
        result = drrn("bench", tmp_path / "a.png", "--scale", "3", "--model", tiny_model,
                      "--no-ifc", "--device", device, "--precision", prec, "--json", out)
        assert result.code == 0, result.err
        runs[device] = json.loads(out.read_text())["runs"][0]["mean"]
    assert abs(runs["vulkan"]["psnr"] - runs["cpu"]["psnr"]) < tol_db
    assert abs(runs["vulkan"]["ssim"] - runs["cpu"]["ssim"]) < 0.0005


@needs_vulkan
def test_upscale_on_vulkan_matches_the_cpu(drrn, png, tiny_model, tmp_path):
    images = {}
    for device in ("cpu", "vulkan"):
        out = tmp_path / f"{device}.png"
        result = drrn("upscale", png, "-s", "2", "--device", device, "--precision", "fp32",
                      "--model", tiny_model, "-o", out)
        assert result.code == 0, result.err
        images[device] = np.asarray(Image.open(out)).astype(int)
    assert images["vulkan"].shape == (48, 40, 3)
    assert np.abs(images["vulkan"] - images["cpu"]).max() <= 1  # 8-bit rounding at most


def test_devices_says_why_a_probe_failed(drrn, monkeypatch):
    """A CUDA probe that raises leaves no CUDA device and one line with its reason; the CPU and
    the other probes are listed as before."""
    from drrn_core.engine import device

    def broken() -> list:
        raise RuntimeError("CUDA driver initialization failed")

    monkeypatch.setattr(device, "_cuda_devices", broken)
    result = drrn("devices")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("cpu ")
    assert "(CUDA probe failed: RuntimeError: CUDA driver initialization failed)" in lines
    assert not any(line.startswith("cuda:") for line in lines)
    doc = json.loads(drrn("devices", "--json").out)
    assert doc["probe_problems"] == [
        "CUDA probe failed: RuntimeError: CUDA driver initialization failed"]
    devices, problems = device.probe_devices()
    assert devices == device.list_devices() and len(problems) == 1


def test_devices_no_probe_problem_on_a_working_machine(drrn):
    doc = json.loads(drrn("devices", "--json").out)
    assert doc["probe_problems"] == []

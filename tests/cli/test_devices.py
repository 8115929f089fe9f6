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

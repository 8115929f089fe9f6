"""`drrn metrics` (two images) and `drrn models` (the registry)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_error_line, save_tiny_model
from PIL import Image
from skimage import data

from drrn_core.imaging import rgb_to_y_u8
from drrn_core.metrics import ifc, psnr, ssim


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """An 80x80 RGB reference and a noisy copy (PNG)."""
    ref = data.astronaut()[100:180, 180:260]
    noise = np.random.default_rng(0).integers(-12, 13, ref.shape)
    dist = np.clip(ref.astype(int) + noise, 0, 255).astype(np.uint8)
    paths = tmp_path / "ref.png", tmp_path / "dist.png"
    Image.fromarray(ref).save(paths[0])
    Image.fromarray(dist).save(paths[1])
    return paths


def _table(out: str) -> dict[str, list[str]]:
    """Rows of the metrics table by channel label."""
    return {cols[0]: cols[1:] for cols in (ln.split() for ln in out.splitlines()[1:])}


def test_y_channel_matches_the_metrics_module(drrn, pair):
    result = drrn("metrics", *pair, "--y", "--shave", "4")
    assert result.code == 0, result.err
    ref, dist = (rgb_to_y_u8(np.asarray(Image.open(p)))[4:-4, 4:-4].astype(float) for p in pair)
    row = _table(result.out)["Y"]
    assert float(row[0]) == pytest.approx(psnr(ref, dist), abs=1e-4)
    assert float(row[1]) == pytest.approx(ssim(ref, dist), abs=1e-5)
    assert float(row[2]) == pytest.approx(ifc(ref, dist), abs=1e-4)


def test_rgb_per_channel_and_identical(drrn, pair):
    table = _table(drrn("metrics", *pair).out)
    assert set(table) == {"R", "G", "B"}
    same = _table(drrn("metrics", pair[0], pair[0]).out)
    assert same["G"][:2] == ["inf", "1.00000"]


def test_small_images_skip_ifc(drrn, tmp_path):
    img = tmp_path / "small.png"
    Image.fromarray(data.camera()[:30, :30]).save(img)
    assert _table(drrn("metrics", img, img).out)["grey"][2] == "-"


def test_grey_against_colour_needs_y(drrn, pair, tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(rgb_to_y_u8(np.asarray(Image.open(pair[0])))).save(grey)
    assert_one_error_line(drrn("metrics", grey, pair[1]), "--y")
    result = drrn("metrics", grey, pair[0], "--y")
    assert result.code == 0 and _table(result.out)["Y"][0] == "inf"


def test_size_mismatch_and_shave_too_large(drrn, pair, tmp_path):
    other = tmp_path / "other.png"
    Image.fromarray(data.astronaut()[:40, :40]).save(other)
    assert_one_error_line(drrn("metrics", pair[0], other), "differ in size")
    assert_one_error_line(drrn("metrics", *pair, "--shave", "35"), "--shave")


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "truncated_jpg", "text"])
def test_metrics_bad_inputs(drrn, pair, bad_files, tmp_path, kind):
    path = bad_files.get(kind, tmp_path / "missing.png")
    assert_one_error_line(drrn("metrics", pair[0], path), path.name)


def test_metrics_over_pixel_limit(drrn, pair):
    assert_one_error_line(drrn("metrics", *pair, "--max-pixels", "1000"), "limit")


def test_models_empty_registry(drrn):
    result = drrn("models")
    assert result.code == 0
    assert "No models installed" in result.out and "bicubic" in result.out


def test_models_lists_descriptors_and_results(drrn, isolated_models):
    results = {"dataset": "Set5", "runs": [
        {"model": "deep", "scale": 2, "mean": {"psnr": 37.1234, "ssim": 0.95678, "ifc": 8.1234},
         "images": []}]}
    save_tiny_model(isolated_models / "resources" / "weights", "deep", {"results": results})
    save_tiny_model(isolated_models / "user" / "models", "mine", {"results": {"note": "x"}})
    out = drrn("models").out
    assert "* deep  [bundled]" in out and "  mine  [user]" in out
    assert "B=1 U=2 C=8" in out
    assert "Set5 x2 deep: 37.12 / 0.9568 / 8.123" in out
    assert '{"note": "x"}' in out


def test_models_show_a_model_cards_scores_one_line_per_dataset(drrn, isolated_models):
    """The results a model card records ({"Set5_x2": scores, ...}) read as a table, not JSON."""
    cell = {"psnr": 37.23664, "ssim": 0.957103, "ifc": 7.81898}
    results = {"Set5_x2": cell, "Set5_x3": {**cell, "psnr": 33.37001}, "BSD100_x4": cell}
    save_tiny_model(isolated_models / "resources" / "weights", "card", {"results": results})
    out = drrn("models").out
    assert "    Set5: x2 37.24 / 0.9571 / 7.819 · x3 33.37 / 0.9571 / 7.819\n" in out
    assert "    BSD100: x4 37.24 / 0.9571 / 7.819\n" in out
    assert "{" not in out

"""Hostile images in every command that reads images: one `drrn: error:` line, exit 1, the input
untouched, nothing left behind, and never an external program (Ghostscript) started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import sha256
from hostile_files import (
    assert_user_error,
    eps_named_png,
    flat_png,
    float_tiff_with_nan,
    png_bomb,
)
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every attempt to start a program is recorded (and refused)."""
    started: list = []

    def refuse(self, args, *a, **kw):
        started.append(args)
        raise AssertionError(f"a program was started: {args}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    return started


def _hostile(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """(file, words its error line must contain) for each kind of hostile image."""
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    if kind == "eps":
        return eps_named_png(folder / "drawing.png"), "not one of the formats read here"
    if kind in ("zTXt", "iCCP"):
        return png_bomb(folder / f"{kind}.png", kind), "decompression bomb"
    return float_tiff_with_nan(folder / "float.tif"), "NaN or infinite"


KINDS = ["eps", "zTXt", "iCCP", "nan_tiff"]


@pytest.mark.parametrize("kind", KINDS)
def test_upscale_refuses_in_one_line(drrn, tmp_path, no_subprocess, kind):
    path, words = _hostile(tmp_path, kind)
    before = sha256(path)
    result = drrn("upscale", path, "-s", "2", "--model", "bicubic")
    assert_user_error(result, path.name, words)
    assert sha256(path) == before and not no_subprocess
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no output, no .part


@pytest.mark.parametrize("kind", KINDS)
def test_metrics_refuses_in_one_line(drrn, tmp_path, no_subprocess, kind):
    path, words = _hostile(tmp_path, kind)
    good = flat_png(tmp_path / "good.png", 32)
    assert_user_error(drrn("metrics", good, path), path.name, words)
    assert_user_error(drrn("metrics", path, good), path.name, words)
    assert not no_subprocess


@pytest.mark.parametrize("kind", KINDS)
def test_bench_reports_the_file_and_scores_the_others(drrn, tmp_path, no_subprocess, kind):
    path, words = _hostile(tmp_path, kind)
    good = flat_png(path.parent / "zz_good.png", 32)
    result = drrn("bench", path.parent, "--scale", "2", "--no-ifc")
    assert result.code == 1, result.err
    errors = [ln for ln in result.err.splitlines() if ln.startswith("drrn: error:")]
    assert len(errors) == 1 and path.name in errors[0] and words in errors[0], result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    assert good.name not in errors[0] and "bicubic" in result.out  # the good image was scored
    assert not no_subprocess


def test_fake_ghostscript_is_never_started(tmp_path):
    """With a fake `gs` first on PATH that leaves a marker, Pillow's EPS decoder would start it
    (checked first, so this test can fail); `drrn upscale/metrics/bench` never do."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "gs-was-started"
    bin_dir.mkdir()
    fake = bin_dir / "gs"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "DRRN_USER_DIR": str(tmp_path / "user"),
           "DRRN_RESOURCES": str(tmp_path / "res")}
    (tmp_path / "in").mkdir()
    eps = eps_named_png(tmp_path / "in" / "drawing.png")
    probe = ("import sys; from PIL import Image, EpsImagePlugin\n"
             "try:\n Image.open(sys.argv[1]).load()\nexcept Exception: pass\n")
    subprocess.run([sys.executable, "-c", probe, str(eps)], env=env, timeout=60, check=False)
    if not marker.exists():
        pytest.skip("Pillow's EPS plugin did not start the fake gs here; nothing to compare")
    marker.unlink()
    good = flat_png(tmp_path / "good.png", 32)
    for args in (["upscale", eps, "-s", "2", "--model", "bicubic"], ["metrics", good, eps],
                 ["bench", eps, "--scale", "2", "--no-ifc"]):
        run = subprocess.run([sys.executable, "-m", "drrn_core.cli", *map(str, args)], env=env,
                             capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 1, run.stderr
        assert "not one of the formats read here" in run.stderr and "Traceback" not in run.stderr
        assert not marker.exists(), f"gs started by {args[0]}"


def test_pasted_bytes_use_the_same_allowlist(no_subprocess):
    from drrn_core.imaging import io

    with pytest.raises(io.ImageReadError, match="not one of the formats"):
        io.load_image_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n", name="clip")
    assert not no_subprocess


def test_allowed_formats_still_read(tmp_path, small_rgb):
    """The allowlist is not too tight: every listed format reads back."""
    from drrn_core.imaging import io
    from drrn_core.metrics.protocol import read_gt

    grey = small_rgb[..., 0]
    for name, arr in (("a.png", small_rgb), ("a.jpg", small_rgb), ("a.webp", small_rgb),
                      ("a.tif", small_rgb), ("a.bmp", small_rgb), ("a.gif", small_rgb),
                      ("a.ppm", small_rgb), ("a.pgm", grey)):
        Image.fromarray(arr).save(tmp_path / name)
        assert io.load_image(tmp_path / name).size == (20, 24), name
        assert read_gt(tmp_path / name).shape[:2] == (24, 20), name


def test_flat_image_scores_infinite_psnr(drrn, tmp_path):
    """Bicubic is exact on a flat image: PSNR = inf in the table and CSV, null in JSON (the
    documented rule), and the mean with it is infinite; no crash."""
    folder = tmp_path / "flat"
    folder.mkdir()
    flat_png(folder / "grey.png", 96)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 96, 3), np.uint8)).save(
        folder / "noise.png")
    result = drrn("bench", folder, "--scale", "2", "--per-image", "--json", tmp_path / "r.json",
                  "--csv", tmp_path / "r.csv")
    assert result.code == 0, result.err
    rows = {ln.split()[0]: ln for ln in result.out.splitlines() if ln.strip()}
    assert rows["grey.png"].split()[1] == "inf"
    assert rows["noise.png"].split()[1] != "inf"
    assert rows["flat"].split()[2] == "inf"  # the mean
    doc = json.loads((tmp_path / "r.json").read_text())
    images = {im["image"]: im for im in doc["runs"][0]["images"]}
    assert images["grey.png"]["psnr"] is None and images["noise.png"]["psnr"] > 0
    assert doc["runs"][0]["mean"]["psnr"] is None
    csv_rows = {r.split(",")[3]: r.split(",") for r in (tmp_path / "r.csv").read_text().split()}
    assert csv_rows["grey.png"][4] == "inf"
    metrics = drrn("metrics", folder / "grey.png", folder / "grey.png", "--y")
    assert metrics.code == 0 and " inf " in metrics.out, metrics.err


def test_bench_never_writes_results_over_an_input(drrn, tmp_path):
    image = flat_png(tmp_path / "grey.png", 32)
    before = sha256(image)
    for flag in ("--json", "--csv"):
        result = drrn("bench", image, "--scale", "2", flag, image)
        assert_user_error(result, "refusing to overwrite an input")
        assert sha256(image) == before
    same = tmp_path / "r.txt"
    same.write_text("old")
    assert_user_error(drrn("bench", image, "--scale", "2", "--json", same, "--csv", same),
                      "same file")
    assert same.read_text() == "old"
    new = tmp_path / "new.txt"
    assert_user_error(drrn("bench", image, "--scale", "2", "--json", new, "--csv", new),
                      "same file")
    assert not new.exists()

"""`drrn upscale`: outputs, naming/overwrite policy, metadata, models, and every bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_error_line, save_tiny_model, sha256
from PIL import Image

from drrn_core.engine import Upscaler

BICUBIC = ("--model", "bicubic")


def _files(folder: Path) -> set[str]:
    """Names of everything in a folder, temporary files included."""
    return {p.name for p in folder.iterdir()}


def test_output_shape_and_input_untouched(drrn, png, tmp_path):
    before = sha256(png)
    result = drrn("upscale", png, "-s", "2", *BICUBIC)
    assert result.code == 0, result.err
    out = tmp_path / "small_x2.png"
    assert result.out.strip() == str(out)
    assert Image.open(out).size == (40, 48)
    assert sha256(png) == before


def test_compile_flag_reaches_the_engine_and_a_failure_is_one_notice(drrn, png, tiny_model,
                                                                     tmp_path, monkeypatch):
    import torch

    calls = []

    def no_compiler(module, **kwargs):
        calls.append(kwargs)

        def run(_x):
            raise RuntimeError("No working C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", no_compiler)
    result = drrn("upscale", png, "-s", "3", "--model", tiny_model, "-o", tmp_path / "c.png",
                  "--precision", "fp32", "--compile")
    plain = drrn("upscale", png, "-s", "3", "--model", tiny_model, "-o", tmp_path / "d.png",
                 "--precision", "fp32")
    assert result.code == plain.code == 0, result.err + plain.err
    assert len(calls) == 1 and "torch.compile failed (No working C++ compiler found)" in result.err
    assert "Traceback" not in result.err
    assert sha256(tmp_path / "c.png") == sha256(tmp_path / "d.png")


def test_compile_in_a_frozen_build_is_refused_with_one_notice(drrn, png, tiny_model, tmp_path,
                                                              monkeypatch):
    """Frozen, torch.compile fails inside its own registration (not catchable later), so the
    CLI never calls it there: one notice, the eager result, exit 0."""
    import sys

    import torch

    calls = []
    monkeypatch.setattr(torch, "compile", lambda *a, **k: calls.append(k))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    result = drrn("upscale", png, "-s", "2", "--model", tiny_model, "-o", tmp_path / "c.png",
                  "--precision", "fp32", "--compile")
    monkeypatch.delattr(sys, "frozen")
    plain = drrn("upscale", png, "-s", "2", "--model", tiny_model, "-o", tmp_path / "d.png",
                 "--precision", "fp32")
    assert result.code == plain.code == 0, result.err + plain.err
    assert calls == []
    notices = [ln for ln in result.err.splitlines() if "--compile" in ln]
    assert notices == ["drrn: --compile is not available in the packaged drrn (torch.compile "
                       "needs a Python installation and a C++ compiler); running without it"]
    assert sha256(tmp_path / "c.png") == sha256(tmp_path / "d.png")


def test_tiny_model_by_path_and_tile(drrn, png, tiny_model, tmp_path):
    whole = drrn("upscale", png, "-s", "3", "--model", tiny_model, "-o", tmp_path / "a.png",
                 "--precision", "fp32")
    tiled = drrn("upscale", png, "-s", "3", "--model", tiny_model, "-o", tmp_path / "b.png",
                 "--tile", "32", "--precision", "fp32")
    assert whole.code == tiled.code == 0, whole.err + tiled.err
    a = np.asarray(Image.open(tmp_path / "a.png"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "b.png"), dtype=int)
    assert a.shape == (72, 60, 3)
    assert np.abs(a - b).max() <= 1


def test_width_height_format_quality(drrn, png, tmp_path):
    assert drrn("upscale", png, "--width", "50", *BICUBIC).code == 0
    assert Image.open(tmp_path / "small_w50.png").size == (50, 60)
    result = drrn("upscale", png, "--height", "30", "--format", "jpg", "--quality", "70", *BICUBIC)
    assert result.code == 0, result.err
    with Image.open(tmp_path / "small_h30.jpg") as im:
        assert (im.format, im.size) == ("JPEG", (25, 30))


def test_target_size_smaller_than_input_is_refused(drrn, png, tmp_path):
    assert_one_error_line(drrn("upscale", png, "--width", "10", *BICUBIC), "shrink")
    assert _files(tmp_path) == {"small.png"}


def test_no_weights_is_an_error_unless_bicubic_is_asked(drrn, png, tmp_path):
    """An install without weights must not quietly fall back to bicubic and exit 0."""
    other = tmp_path / "other.png"
    other.write_bytes(png.read_bytes())
    result = drrn("upscale", png, other, "-s", "2")
    assert_one_error_line(result, "no DRRN weights are installed", "--model bicubic")
    assert _files(tmp_path) == {"small.png", "other.png"}  # nothing written
    result = drrn("upscale", png, other, "-s", "2", *BICUBIC)
    assert result.code == 0, result.err
    assert {"small_x2.png", "other_x2.png"} <= _files(tmp_path)


def test_default_model_is_the_bundled_one(drrn, png, tmp_path, isolated_models):
    save_tiny_model(isolated_models / "resources" / "weights", "bundled_tiny")
    assert drrn("upscale", png, "-s", "2", "-o", tmp_path / "model.png").code == 0
    assert drrn("upscale", png, "-s", "2", "-o", tmp_path / "bic.png", *BICUBIC).code == 0
    model = np.asarray(Image.open(tmp_path / "model.png"))
    bicubic = np.asarray(Image.open(tmp_path / "bic.png"))
    assert model.shape == bicubic.shape and not np.array_equal(model, bicubic)


def test_a_plus_after_the_model_is_its_self_ensemble(drrn, png, tmp_path, isolated_models):
    """`--model NAME+` runs NAME's self-ensemble, as --ensemble does; a model whose own name ends
    in "+" is that model."""
    save_tiny_model(isolated_models / "user" / "models", "mine")
    save_tiny_model(isolated_models / "user" / "models", "other+")  # no model "other"
    runs = {"plus": ("--model", "mine+"), "flag": ("--model", "mine", "--ensemble"),
            "plain": ("--model", "mine"), "named": ("--model", "other+"),
            "named_ensemble": ("--model", "other+", "--ensemble")}
    out = {}
    for key, args in runs.items():
        result = drrn("upscale", png, "-s", "2", "-o", tmp_path / f"{key}.png", *args,
                      "--precision", "fp32")
        assert result.code == 0, (key, result.err)
        out[key] = np.asarray(Image.open(tmp_path / f"{key}.png"))
    assert np.array_equal(out["plus"], out["flag"]) and not np.array_equal(out["plus"],
                                                                           out["plain"])
    assert np.array_equal(out["named"], out["plain"])  # the same weights, run once
    assert np.array_equal(out["named_ensemble"], out["plus"])


def test_unknown_model_lists_available(drrn, png, isolated_models):
    save_tiny_model(isolated_models / "user" / "models", "mine")
    result = drrn("upscale", png, "-s", "2", "--model", "nosuch")
    assert_one_error_line(result, "nosuch", "mine")
    assert result.code == 1


def test_bad_device_is_one_line(drrn, png, tiny_model, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    result = drrn("upscale", png, "-s", "2", "--model", tiny_model, "--device", "cuda")
    assert_one_error_line(result, "CUDA")


def test_never_overwrites_input(drrn, png):
    before = sha256(png)
    result = drrn("upscale", png, "-s", "2", "-o", png, *BICUBIC)
    assert_one_error_line(result, "refusing to overwrite the input")
    assert sha256(png) == before


def test_generated_names_never_replace_files(drrn, png, tmp_path):
    assert drrn("upscale", png, "-s", "2", *BICUBIC).code == 0
    first = sha256(tmp_path / "small_x2.png")
    (tmp_path / "small_x2.png").touch()
    assert drrn("upscale", png, "-s", "2", *BICUBIC).code == 0
    assert sha256(tmp_path / "small_x2.png") == first
    assert Image.open(tmp_path / "small_x2-2.png").size == (40, 48)


def test_output_flag_takes_one_input(drrn, png, tmp_path):
    result = drrn("upscale", png, png, "-s", "2", "-o", tmp_path / "x.png", *BICUBIC)
    assert_one_error_line(result, "single input")


def test_out_dir_batch_with_one_bad_file(drrn, png, bad_files, tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.arange(16 * 20, dtype=np.uint8).reshape(16, 20)).save(grey)
    out = tmp_path / "out"
    result = drrn("upscale", png, bad_files["text"], grey, "-s", "2", "--out-dir", out, *BICUBIC)
    assert result.code == 1
    assert _files(out) == {"small_x2.png", "grey_x2.png"}
    errors = [ln for ln in result.err.splitlines() if ln.startswith("drrn: error:")]
    assert len(errors) == 1 and "notes.png" in errors[0]
    assert "1 of 3 failed" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize(
    ("kind", "needle"),
    [("missing", "not found"), ("directory", "folder"), ("empty", "empty"),
     ("truncated_png", "truncated"), ("truncated_jpg", "truncated"), ("text", "not an image")],
)
def test_bad_input_file(drrn, bad_files, tmp_path, kind, needle):
    path = bad_files.get(kind, tmp_path / "missing.png")
    out = tmp_path / "out"
    result = drrn("upscale", path, "-s", "2", "--out-dir", out, *BICUBIC)
    assert_one_error_line(result, needle)
    assert result.code == 1
    assert not out.exists() or _files(out) == set()  # an empty folder is refused before it


def test_input_over_pixel_limit(drrn, png, tmp_path):
    result = drrn("upscale", png, "-s", "2", "--max-pixels", "400", *BICUBIC)
    assert_one_error_line(result, "limit")
    assert _files(tmp_path) == {"small.png"}


def test_output_over_pixel_limit(drrn, png, tmp_path):
    result = drrn("upscale", png, "-s", "4", "--max-pixels", "2000", *BICUBIC)
    assert_one_error_line(result, "output", "limit")
    assert _files(tmp_path) == {"small.png"}


@pytest.mark.parametrize("scale", ["1", "0.5", "-2", "17", "abc", "nan"])
def test_bad_scale_is_a_usage_error(drrn, png, scale):
    result = drrn("upscale", png, "-s", scale, *BICUBIC)
    assert_one_error_line(result, "scale")
    assert result.code == 2


def test_unwritable_output(drrn, png, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a regular file, so nothing can be created below it")
    result = drrn("upscale", png, "-s", "2", "-o", blocker / "out.png", *BICUBIC)
    assert_one_error_line(result, "out.png")
    result = drrn("upscale", png, "-s", "2", "--out-dir", blocker / "dir", *BICUBIC)
    assert_one_error_line(result, "cannot create")
    assert _files(tmp_path) == {"small.png", "file.txt"}


def test_unknown_output_suffix(drrn, png, tmp_path):
    result = drrn("upscale", png, "-s", "2", "-o", tmp_path / "out.xyz", *BICUBIC)
    assert_one_error_line(result, "format")


def test_keeps_alpha_16bit_exif_icc(drrn, tmp_path, small_rgb):
    rgba = np.dstack([small_rgb, np.full(small_rgb.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray((np.arange(20 * 24).reshape(20, 24) * 100).astype(np.uint16)).save(
        tmp_path / "deep.png")
    exif = Image.Exif()
    exif[0x010F] = "DRRN test camera"
    icc = b"\0" * 128  # carried as bytes, not interpreted
    Image.fromarray(small_rgb).save(tmp_path / "photo.jpg", exif=exif, icc_profile=icc)
    names = ("rgba.png", "deep.png", "photo.jpg")
    result = drrn("upscale", *(tmp_path / n for n in names), "-s", "2", *BICUBIC)
    assert result.code == 0, result.err
    with Image.open(tmp_path / "rgba_x2.png") as im:
        assert im.mode == "RGBA" and im.size == (40, 48)
    with Image.open(tmp_path / "deep_x2.png") as im:
        assert im.mode.startswith("I") and np.asarray(im).max() > 255
    with Image.open(tmp_path / "photo_x2.jpg") as im:
        assert im.getexif()[0x010F] == "DRRN test camera"
        assert im.info.get("icc_profile") == icc


def test_ctrl_c_exits_130_and_writes_nothing(drrn, png, tmp_path, monkeypatch):
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Upscaler, "upscale", interrupted)
    result = drrn("upscale", png, "-s", "2", *BICUBIC)
    assert result.code == 130
    assert "drrn: interrupted" in result.err and "Traceback" not in result.err
    assert _files(tmp_path) == {"small.png"}


def test_internal_error_traceback_only_with_debug(drrn, png, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Upscaler, "upscale", broken)
    result = drrn("upscale", png, "-s", "2", *BICUBIC)
    assert_one_error_line(result, "internal error", "boom", "--debug")
    result = drrn("--debug", "upscale", png, "-s", "2", *BICUBIC)
    assert result.code == 1 and "Traceback" in result.err and "boom" in result.err


@pytest.mark.skipif(os.name != "posix", reason="chmod semantics")
def test_read_only_folder_when_not_root(drrn, png, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write into read-only folders (covered by test_unwritable_output)")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = drrn("upscale", png, "-s", "2", "--out-dir", locked, *BICUBIC)
    finally:
        locked.chmod(0o755)
    assert_one_error_line(result, "locked")
    assert _files(locked) == set()


# -- names, formats and existing files (drrn_core.batch) -------------------------------------
def test_name_template_and_keep_format(drrn, png, tmp_path):
    Image.open(png).convert("RGB").save(tmp_path / "shot.bmp")
    Image.open(png).convert("RGB").save(tmp_path / "pic.jpg", quality=95)
    out = tmp_path / "out"
    result = drrn("upscale", png, tmp_path / "shot.bmp", tmp_path / "pic.jpg", "-s", "2",
                  "--out-dir", out, "--name-template", "{name}-{ext}-up{scale}", "--format",
                  "keep", *BICUBIC)
    assert result.code == 0, result.err
    assert _files(out) == {"small-png-up2.png", "shot-bmp-up2.png", "pic-jpg-up2.jpg"}
    with Image.open(out / "pic-jpg-up2.jpg") as im:
        assert (im.format, im.size) == ("JPEG", (40, 48))
    with Image.open(out / "shot-bmp-up2.png") as im:  # BMP is not written: PNG
        assert im.format == "PNG"


@pytest.mark.parametrize("template", ["../{name}", "sub/{name}", "{nosuch}", "plain"])
def test_bad_name_template_is_one_line(drrn, png, tmp_path, template):
    result = drrn("upscale", png, "-s", "2", "--name-template", template, *BICUBIC)
    assert_one_error_line(result, "template")
    assert result.code == 1 and _files(tmp_path) == {"small.png"}


def test_template_naming_an_input_never_overwrites_it(drrn, png, tmp_path):
    before = sha256(png)
    result = drrn("upscale", png, "-s", "2", "--name-template", "{name}", "--existing",
                  "replace", *BICUBIC)
    assert result.code == 0, result.err
    assert sha256(png) == before
    assert Image.open(tmp_path / "small-2.png").size == (40, 48)


def test_existing_skip_and_replace(drrn, png, tmp_path):
    old = tmp_path / "small_x2.png"
    old.write_bytes(b"old result")
    skipped = drrn("upscale", png, "-s", "2", "--existing", "skip", *BICUBIC)
    assert skipped.code == 0 and "skipped" in skipped.err and skipped.out == ""
    assert old.read_bytes() == b"old result" and _files(tmp_path) == {"small.png", old.name}
    replaced = drrn("upscale", png, "-s", "2", "--existing", "replace", *BICUBIC)
    assert replaced.code == 0 and replaced.out.strip() == str(old)
    assert Image.open(old).size == (40, 48) and _files(tmp_path) == {"small.png", old.name}


def test_a_folder_is_upscaled_into_out_dir_as_the_batch_tab_does(drrn, small_rgb, tmp_path):
    """A folder input: every file of its tree, each result in the same sub-folder of --out-dir
    (hidden files skipped, a file that is not an image fails alone), the input untouched."""
    tree = tmp_path / "in"
    (tree / "sub").mkdir(parents=True)
    (tree / ".cache").mkdir()
    Image.fromarray(small_rgb).save(tree / "a.png")
    Image.fromarray(small_rgb).save(tree / "sub" / "b.jpg")
    Image.fromarray(small_rgb).save(tree / ".cache" / "c.png")
    (tree / "sub" / "notes.txt").write_text("not an image")
    before = {p: sha256(p) for p in tree.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    result = drrn("upscale", tree, "--out-dir", out, "-s", "2", *BICUBIC)
    assert result.code == 1 and "notes.txt" in result.err  # the one failure, reported
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a_x2.png", str(Path("sub") / "b_x2.jpg")]
    assert Image.open(out / "sub" / "b_x2.jpg").size == (40, 48)
    assert {p: sha256(p) for p in tree.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("case", ["no_out_dir", "out_dir_inside", "dash_o", "empty"])
def test_folder_mistakes_are_one_line_and_write_nothing(drrn, png, tmp_path, case):
    tree = tmp_path / "in"
    tree.mkdir()
    if case != "empty":
        Image.open(png).save(tree / "a.png")
    args = {"no_out_dir": (), "out_dir_inside": ("--out-dir", tree / "big"),
            "dash_o": ("-o", tmp_path / "x.png"), "empty": ("--out-dir", tmp_path / "o")}[case]
    result = drrn("upscale", tree, "-s", "2", *BICUBIC, *args)
    needle = {"no_out_dir": "--out-dir", "out_dir_inside": "must not be the input folder",
              "dash_o": "single input file", "empty": "no files"}[case]
    assert_one_error_line(result, needle)
    assert sorted(p.name for p in tree.rglob("*")) == ([] if case == "empty" else ["a.png"])

"""drrn_core.batch: output names from templates, formats (keep the input's), overwrite guards
and the output size check, on real files in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from drrn_core import batch, limits
from drrn_core.batch import (
    REPLACE,
    SKIP,
    OutputTooLarge,
    TemplateError,
    check_output_size,
    check_template,
    output_name,
    output_suffix,
    plan,
    size_fields,
)


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# -- names ------------------------------------------------------------------------------------
def test_default_names_match_the_cli_of_before():
    src = Path("/photos/cat.jpg")
    assert output_name(batch.DEFAULT_TEMPLATE, src, size_fields(2.0), ".jpg") == "cat_x2.jpg"
    assert output_name(batch.DEFAULT_TEMPLATE, src, size_fields(2.5), ".png") == "cat_x2.5.png"
    assert output_name(batch.default_template(None), src, size_fields(width=1920), ".png") == \
        "cat_w1920.png"
    assert output_name(batch.default_template(None), src, size_fields(height=64), ".png") == \
        "cat_h64.png"


def test_template_fields():
    src = Path("dir/IMG_01.JPG")
    fields = size_fields(3.0)
    assert output_name("{name}", src, fields, ".png") == "IMG_01.png"
    assert output_name("{name}.{ext}_{size}", src, fields, ".tif") == "IMG_01.JPG_x3.tif"
    assert output_name("up{scale}-{name}", src, fields, ".webp") == "up3-IMG_01.webp"


@pytest.mark.parametrize("template", ["", "  ", "out/{name}", "..\\{name}", "{name}/..",
                                      "../{name}", "{name}..x", "{nam}", "{name.upper}",
                                      "{name[0]}", "fixed", "{name", "{0}"])
def test_bad_templates_are_refused_in_one_line(template):
    with pytest.raises(TemplateError) as info:
        check_template(template)
    assert "\n" not in str(info.value)


def test_a_filled_template_must_give_a_plain_file_name():
    with pytest.raises(TemplateError, match="path separator"):
        output_name("{name:/>12}", Path("a.png"), size_fields(2.0), ".png")
    with pytest.raises(TemplateError, match="not a plain file name"):
        output_name("{ext}", Path("README"), size_fields(2.0), ".png")  # no extension: ".png"


# -- formats ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "fmt", "suffix"), [
    ("a.png", None, ".png"), ("a.JPEG", None, ".JPEG"), ("a.tiff", "keep", ".tiff"),
    ("a.webp", "keep", ".webp"), ("a.bmp", "keep", ".png"), ("a.gif", None, ".png"),
    ("a.ppm", "keep", ".png"), ("a.png", "JPEG", ".jpg"), ("a.jpg", "png", ".png"),
    ("a.png", "WEBP", ".webp"), ("a.png", "tif", ".tif")])
def test_output_suffix_keeps_writable_formats(name, fmt, suffix):
    assert output_suffix(Path(name), fmt) == suffix
    assert suffix.lower() in limits.OUTPUT_FORMATS


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="bmp"):
        output_suffix(Path("a.png"), "bmp")


# -- guards -------------------------------------------------------------------------------------
def test_never_an_input_and_never_two_inputs_on_one_output(tmp_path):
    a_png, a_bmp = _touch(tmp_path / "a.png"), _touch(tmp_path / "a.bmp")
    # {name} + keep: a.png would land on itself, a.bmp on a.png too
    for existing in batch.EXISTING:
        planned = plan([(a_bmp, tmp_path), (a_png, tmp_path)], template="{name}",
                       existing=existing)
        targets = [p.target for p in planned]
        assert [t.name for t in targets] == ["a-2.png", "a-3.png"], existing
        assert not planned[0].skip and not planned[0].replaces


def test_a_hard_link_to_an_input_is_never_replaced(tmp_path):
    src = _touch(tmp_path / "in" / "a.png", b"original")
    out = tmp_path / "out"
    out.mkdir()
    os.link(src, out / "a.png")
    (planned,) = plan([(src, out)], template="{name}", existing=REPLACE)
    assert planned.target == out / "a-2.png"


def test_existing_outputs_rename_skip_or_replace(tmp_path):
    src = _touch(tmp_path / "a.png")
    out = tmp_path / "out"
    _touch(out / "a_x2.png")
    _touch(out / "a_x2-2.png")
    (renamed,) = plan([(src, out)], scale=2.0)
    assert renamed.target == out / "a_x2-3.png" and not renamed.replaces
    (skipped,) = plan([(src, out)], scale=2.0, existing=SKIP)
    assert skipped.target == out / "a_x2.png" and "already exists" in skipped.skip
    (replaced,) = plan([(src, out)], scale=2.0, existing=REPLACE)
    assert replaced.target == out / "a_x2.png" and replaced.replaces and not replaced.skip
    with pytest.raises(ValueError):
        plan([(src, out)], scale=2.0, existing="overwrite")


def test_plan_keeps_folders_and_refuses_a_bad_template(tmp_path):
    items = [(_touch(tmp_path / "in" / "x.jpg"), tmp_path / "out"),
             (_touch(tmp_path / "in" / "sub" / "x.jpg"), tmp_path / "out" / "sub")]
    planned = plan(items, fmt="PNG", width=100)
    assert [p.target for p in planned] == [tmp_path / "out" / "x_w100.png",
                                           tmp_path / "out" / "sub" / "x_w100.png"]
    with pytest.raises(TemplateError):
        plan(items, template="../{name}", scale=2.0)


# -- size -------------------------------------------------------------------------------------
def test_output_size_check():
    check_output_size("a.png", (100, 100), (200, 200), max_pixels=40_000)
    with pytest.raises(OutputTooLarge, match=r"a.png: the output 201x200 \(0.0 MP\) would be "
                                             r"over the 0.04 MP limit \(--max-pixels\)$"):
        check_output_size("a.png", (100, 100), (200, 201), max_pixels=40_000,
                          hint=" (--max-pixels)")
    with pytest.raises(OutputTooLarge, match="shrink"):
        check_output_size("a.png", (100, 100), (99, 200))
    with pytest.raises(OutputTooLarge, match="80 MP limit"):
        check_output_size("big.png", (5000, 5000), (10000, 10000))

"""File → Export: a labelled before/after image, the evaluation's panes and error maps (with
their colour scale) and aligned crops of the viewed region; PNGs with the provenance in text
chunks, checked pixel by pixel against what the Compare tab computed."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from app import export_dialogs as xd
from app.services import exports


def u8(image: np.ndarray) -> np.ndarray:
    return exports.as_rgb8(image)


def read(path) -> tuple[np.ndarray, dict]:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")), dict(im.text)


def test_before_after_side_and_split_pure(astronaut_rgb):
    a = np.ascontiguousarray(astronaut_rgb[:80, :60])
    b = np.ascontiguousarray(astronaut_rgb[100:180, 200:260])
    side = exports.before_after(a, b, ("Bicubic", "DRRN"))
    top = exports.LABEL_HEIGHT
    assert side.shape == (top + 80, 2 * 60 + exports.GAP, 3)
    np.testing.assert_array_equal(side[top:, :60], a)
    np.testing.assert_array_equal(side[top:, 60 + exports.GAP:], b)
    for x in (0, 60 + exports.GAP):  # a label (dark text) above each image
        assert (side[:top, x:x + 60] < 100).any()
    split = exports.before_after(a, b, ("Bicubic", "DRRN"), "split")
    assert split.shape == a.shape
    np.testing.assert_array_equal(split[40:, :30], a[40:, :30])  # below the labels
    np.testing.assert_array_equal(split[40:, 31:], b[40:, 31:])
    assert (split[40:, 30] == 255).all()
    with pytest.raises(ValueError, match="sizes differ"):
        exports.before_after(a, b[:70], ("a", "b"))



def test_a_label_of_several_lines_and_narrow_images(astronaut_rgb):
    """A second label line goes under the first (the strip grows for the whole row); a line too
    wide for its image breaks at its ' / ' separators."""
    a = np.ascontiguousarray(astronaut_rgb[:80, :300])
    b = np.ascontiguousarray(astronaut_rgb[100:180, :300])
    line = "PSNR 30.39 dB / SSIM 0.8682 / IFC 3.580"
    assert exports.label_lines(f"Bicubic\n{line}", 300) == ["Bicubic", line]
    assert exports.label_lines(f"Bicubic\n{line}", 110) == [
        "Bicubic", "PSNR 30.39 dB", "SSIM 0.8682", "IFC 3.580"]
    row = exports.labelled_row([a, b], ["Input", f"Bicubic\n{line}"])
    top = exports.strip_height(2)
    assert top == exports.LABEL_HEIGHT + exports.LINE_HEIGHT
    assert row.shape == (top + 80, 600 + exports.GAP, 3)
    np.testing.assert_array_equal(row[top:, :300], a)
    np.testing.assert_array_equal(row[top:, 300 + exports.GAP:], b)
    assert (row[exports.LABEL_HEIGHT:top, 300 + exports.GAP:] < 100).any()  # the second line
    assert not (row[exports.LABEL_HEIGHT:top, :300] < 100).any()  # one line: nothing below
    assert exports.score_label(type("S", (), {"psnr": float("inf"), "ssim": 1.0,
                                              "ifc": None})()) == "PSNR inf dB / SSIM 1.0000"

def test_colourise_and_colour_scale():
    lut = np.stack([np.arange(256)] * 3, axis=1).astype(np.uint8)[:, ::-1].copy()
    lut[:, 1] = 7
    error = np.array([[0.0, 10.0], [20.0, 99.0]], np.float32)
    out = exports.colourise(error, 20.0, lut)
    np.testing.assert_array_equal(out[0, 0], lut[0])
    np.testing.assert_array_equal(out[1, 0], lut[255])  # = top
    np.testing.assert_array_equal(out[1, 1], lut[255])  # above top: clipped
    np.testing.assert_array_equal(out[0, 1], lut[128])
    big = exports.colourise(np.zeros((200, 50), np.float32), 20.0, lut)
    scaled = exports.with_colour_scale(big, 20.0, lut)
    assert scaled.shape == (200, 50 + exports.SCALE_WIDTH, 3)
    np.testing.assert_array_equal(scaled[:, :50], big)
    np.testing.assert_array_equal(scaled[0, 60], lut[255])  # the ramp: top colour at the top
    np.testing.assert_array_equal(scaled[-1, 60], lut[0])


def test_crop_region_lines_up_a_stretched_input():
    small = np.arange(12 * 10 * 3, dtype=np.uint8).reshape(12, 10, 3)
    big = exports.stretch(small, (30, 36))
    box = (4, 7, 19, 25)
    np.testing.assert_array_equal(exports.crop_region(small, (30, 36), box), big[7:25, 4:19])
    np.testing.assert_array_equal(exports.crop_region(big, (30, 36), box), big[7:25, 4:19])


@pytest.fixture
def evaluated(window, astro_png, run_compare, model_store):
    compare = window.compare
    compare.set_mode("evaluate")
    compare.controls.scale.setValue(2)
    assert window.open_path(astro_png)
    run_compare(window)
    assert {"input", "bicubic", "drrn", "gt"} <= set(compare.results)
    digest = hashlib.sha256((model_store / "models" / "tiny.safetensors").read_bytes())
    return window, digest.hexdigest()


def test_export_before_after_through_the_menu(evaluated, tmp_path, monkeypatch, qtbot):
    window, digest = evaluated
    compare = window.compare
    target = tmp_path / "out" / "ba.png"
    target.parent.mkdir()
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "PNG image (*.png)")))
    window.actions["export_before_after"].trigger()  # composed here, written on a worker
    qtbot.waitUntil(lambda: "Exported" in window.statusBar().currentMessage(), timeout=30000)
    assert target.is_file(), window.statusBar().currentMessage()
    pixels, text = read(target)
    bic, drrn = u8(compare.results["bicubic"][0]), u8(compare.results["drrn"][0])
    h, w = bic.shape[:2]
    top = exports.LABEL_HEIGHT
    assert pixels.shape == (top + h, 2 * w + exports.GAP, 3)
    np.testing.assert_array_equal(pixels[top:, :w], bic)
    np.testing.assert_array_equal(pixels[top:, w + exports.GAP:], drrn)
    assert text["drrn:model_sha256"] == digest
    assert digest in text["Comment"] and "scale: x2" in text["Comment"]
    assert text["Source"] == compare.provenance and compare.provenance  # backend, precision
    assert [p.name for p in target.parent.iterdir()] == ["ba.png"]  # no temporary file left


def test_export_evaluation_panes_and_error_maps(evaluated, tmp_path):
    window, digest = evaluated
    compare = window.compare
    written = xd.export_evaluation(compare, tmp_path)
    names = {p.name for p in written}
    assert {"astro_x2_input.png", "astro_x2_bicubic.png", "astro_x2_drrn.png", "astro_x2_gt.png",
            "astro_x2_err_bicubic.png", "astro_x2_err_drrn.png", "astro_x2_panes.png"} == names
    gt = u8(compare.results["gt"][0])
    h, w = gt.shape[:2]
    for key in ("bicubic", "drrn", "gt"):
        pixels, text = read(tmp_path / f"astro_x2_{key}.png")
        np.testing.assert_array_equal(pixels, u8(compare.results[key][0]))
        assert text["drrn:model_sha256"] == digest
    pixels, _ = read(tmp_path / "astro_x2_input.png")
    lr = u8(compare.results["input"][0])
    assert pixels.shape == (h, w, 3)  # stretched as the pane draws it (nearest)
    np.testing.assert_array_equal(pixels[::2, ::2], lr)
    err = compare.grid.panes["err_drrn"].error
    top = float(compare.error_scale.bar.levels()[1])
    pixels, text = read(tmp_path / "astro_x2_err_drrn.png")
    assert pixels.shape == (err.shape[0], err.shape[1] + exports.SCALE_WIDTH, 3)
    np.testing.assert_array_equal(pixels[:, :err.shape[1]],
                                  exports.colourise(err, top, xd._lut()))
    assert f"0-{top:g}" in text["Comment"]
    sheet, text = read(tmp_path / "astro_x2_panes.png")
    # The figure carries the scores: under the Bicubic and DRRN titles, in the text chunks too.
    labels = xd.sheet_labels(compare)
    for key, title in (("bicubic", "Bicubic"), ("drrn", "DRRN")):
        s = compare.scores[key]
        line = f"PSNR {s.psnr:.2f} dB / SSIM {s.ssim:.4f}" + (
            f" / IFC {s.ifc:.3f}" if s.ifc is not None else "")
        assert labels[key] == f"{title}\n{line}"
        assert f"scores {title}: {line}" in text["Comment"]
    lines = max(len(exports.label_lines(labels[k], w)) for k in ("input", "bicubic", "drrn"))
    assert lines >= 2
    top = exports.strip_height(lines)
    assert sheet.shape[0] == top + h + exports.GAP + exports.LABEL_HEIGHT + h
    bicubic_x = w + exports.GAP
    np.testing.assert_array_equal(sheet[top:top + h, bicubic_x:bicubic_x + w],
                                  u8(compare.results["bicubic"][0]))
    second_line = sheet[exports.LABEL_HEIGHT:top, bicubic_x:bicubic_x + w]
    assert (second_line < 100).any()  # the scores are drawn under the title
    assert not (sheet[exports.LABEL_HEIGHT:top, :w] < 100).any()  # the input has no scores


def test_export_aligned_crops_of_the_view(evaluated, tmp_path):
    window, _ = evaluated
    compare = window.compare
    for _ in range(4):
        window.actions["zoom_in"].trigger()
    x0, y0, x1, y1 = compare.visible_region()
    size = compare._last_size
    box = (max(x0, 0), max(y0, 0), min(x1, size[0]), min(y1, size[1]))
    assert (box[2] - box[0]) < size[0]  # a part of the image, not all of it
    written = xd.export_crops(compare, tmp_path)
    assert len(written) == 7  # six panes and the sheet
    crops = {p.name.removeprefix("astro_x2_crop_").removesuffix(".png"): read(p)
             for p in written if "_crop_" in p.name}
    shape = (box[3] - box[1], box[2] - box[0], 3)
    assert all(c.shape == shape for c, _ in crops.values())
    drrn = u8(compare.results["drrn"][0])
    np.testing.assert_array_equal(crops["drrn"][0], drrn[box[1]:box[3], box[0]:box[2]])
    big_input = exports.stretch(u8(compare.results["input"][0]), size)
    np.testing.assert_array_equal(crops["input"][0], big_input[box[1]:box[3], box[0]:box[2]])
    assert f"x {box[0]}-{box[2]}, y {box[1]}-{box[3]}" in crops["gt"][1]["Comment"]


def test_nothing_to_export_is_one_message(window, tmp_path):
    with pytest.raises(xd.ExportError, match="Nothing to export"):
        xd.export_before_after(window.compare, tmp_path / "x.png")
    with pytest.raises(xd.ExportError, match="Nothing to export"):
        xd.export_evaluation(window.compare, tmp_path)
    assert list(tmp_path.glob("*.png")) == []


def test_exports_never_replace_files(evaluated, tmp_path):
    window, _ = evaluated
    first = xd.export_evaluation(window.compare, tmp_path)
    before = {p: p.read_bytes() for p in first}
    (tmp_path / "astro_x2_gt.png").write_bytes(b"mine")
    second = xd.export_evaluation(window.compare, tmp_path)
    assert not set(first) & set(second)
    assert (tmp_path / "astro_x2_gt.png").read_bytes() == b"mine"
    assert (tmp_path / "astro_x2_gt-2.png").is_file()
    assert all(p.read_bytes() == data for p, data in before.items() if p.name != "astro_x2_gt.png")


def test_crops_of_a_preview_take_the_computed_part(window, tmp_path, astronaut_rgb, monkeypatch,
                                                   wait_idle):
    from app.services import pipeline

    monkeypatch.setattr(pipeline, "AUTO_LIMIT_S", 0.0)
    monkeypatch.setattr(pipeline, "PREVIEW_BUDGET_S", 1e-9)  # a patch smaller than the view
    photo = tmp_path / "photo.png"
    Image.fromarray(np.ascontiguousarray(astronaut_rgb[60:156, 140:260])).save(photo)
    assert window.open_path(photo)
    wait_idle(window)
    compare = window.compare
    assert compare.preview and "drrn" not in compare.results
    patch, (px0, py0, px1, py1) = compare.grid.panes["drrn"].patch
    with pytest.raises(xd.ExportError, match="whole image"):
        xd.export_before_after(compare, tmp_path / "ba.png")
    out = tmp_path / "crops"
    out.mkdir()
    written = xd.export_crops(compare, out)
    drrn = read(out / "photo_x2_crop_drrn.png")[0]
    inp = read(out / "photo_x2_crop_input.png")[0]
    assert drrn.shape == inp.shape and drrn.shape[:2] == patch.shape[:2]
    np.testing.assert_array_equal(drrn, u8(patch))
    size = compare._last_size
    big_input = exports.stretch(u8(compare.results["input"][0]), size)
    np.testing.assert_array_equal(inp, big_input[py0:py1, px0:px1])
    assert len(written) == 4  # input, bicubic and DRRN crops, and the sheet


def test_before_after_never_replaces_the_opened_image(evaluated, monkeypatch, qtbot):
    window, _ = evaluated
    source = window.document.source_path
    original = source.read_bytes()
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(source), "PNG image (*.png)")))
    job = xd.before_after_dialog(window)
    qtbot.waitUntil(lambda: job.result is not None or job.error is not None, timeout=30000)
    assert source.read_bytes() == original
    assert job.result == [source.with_name(f"{source.stem}-2.png")] and job.result[0].is_file()


def test_nothing_to_export_from_the_menu_is_a_status_line(window):
    assert xd._export(window, lambda: xd.plan_evaluation(window.compare, "/nonexistent")) is None
    assert window.statusBar().currentMessage().startswith("Nothing to export")


def test_a_failed_write_is_one_message_and_leaves_nothing(evaluated, tmp_path, qtbot):
    window, _ = evaluated
    folder = tmp_path / "gone"
    folder.mkdir()
    outputs = xd.plan_evaluation(window.compare, folder)
    folder.rmdir()  # removed between choosing it and writing
    job = xd._export(window, lambda: outputs)
    qtbot.waitUntil(lambda: job.error is not None or job.result is not None, timeout=30000)
    qtbot.waitUntil(lambda: "Could not export" in window.statusBar().currentMessage())
    message = window.statusBar().currentMessage()
    assert "\n" not in message and "Traceback" not in message
    assert not folder.exists() and list(tmp_path.glob("**/*.part")) == []

"""app.document.Document (the opened image, reading and writing with the original's metadata) and
app.tabs._models.ModelRegistry (the one model list every tab follows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QImage

from app.document import Document, qimage_from_array
from app.tabs._models import ModelRegistry
from drrn_core.imaging import io


@pytest.fixture
def doc(qtbot):
    d = Document()
    d.failures: list[tuple[str, str]] = []
    d.messages: list[str] = []
    d.failed.connect(lambda title, text: d.failures.append((title, text)))
    d.message.connect(lambda text, _ms: d.messages.append(text))
    return d


def test_open_a_file_and_keep_the_last_good_one(doc, astro_png, tmp_path, qtbot):
    with qtbot.waitSignal(doc.opened) as blocker:
        opened = doc.open_file(astro_png, note="2 dropped items ignored")
    assert blocker.args[0] is opened and doc.current is opened
    assert opened.name == "astro.png" and opened.image.shape == (48, 48, 3)
    assert opened.note == "2 dropped items ignored" and opened.lr is None
    assert doc.source_path == astro_png.resolve() and doc.loaded.path is not None
    assert doc.is_input(astro_png) and not doc.is_input(tmp_path / "other.png")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    assert doc.open_file(bad) is None
    assert doc.failures[-1][0] == "Could not open the image" and "broken.png" in doc.failures[-1][1]
    assert "\n" not in doc.failures[-1][1] and "Traceback" not in doc.failures[-1][1]
    assert doc.current is opened  # nothing lost: the open image stays


def test_pairs_are_checked_by_the_protocol(doc, tmp_path, astro_crop):
    Image.fromarray(astro_crop).save(tmp_path / "hr.png")
    Image.fromarray(astro_crop[::2, ::2]).save(tmp_path / "lr.png")
    Image.fromarray(astro_crop[:40, :47]).save(tmp_path / "odd.png")
    opened = doc.open_pair(tmp_path / "lr.png", tmp_path / "hr.png")
    assert opened.lr.shape == (24, 24, 3) and opened.lr_path == tmp_path / "lr.png"
    assert opened.path == tmp_path / "hr.png" and opened.name == "lr.png vs hr.png"
    assert doc.open_pair(tmp_path / "odd.png", tmp_path / "hr.png") is None
    title, text = doc.failures[-1]
    assert title == "Not an LR + HR pair" and "is not the LR image (47×40)" in text
    assert doc.open_pair(tmp_path / "missing.png", tmp_path / "hr.png") is None
    assert doc.failures[-1][0] == "Could not open the pair"


def test_pasted_pixels_have_no_file(doc, astro_crop):
    opened = doc.open_qimage(qimage_from_array(astro_crop), "clipboard")
    assert opened.path is None and doc.source_path is None
    assert np.array_equal((opened.image * 255).round().astype(np.uint8), astro_crop)
    assert doc.suggested_name("drrn", 2.5) == "result_drrn_x2.5.png"
    assert doc.open_qimage(QImage(), "clipboard") is None
    assert doc.messages == ["The clipboard holds no readable image."] and not doc.failures


def test_dropped_and_pasted_content(doc, astro_png, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("x")
    second = tmp_path / "second.png"
    second.write_bytes(astro_png.read_bytes())
    dropped = doc.sort_dropped([text, astro_png, second, tmp_path])
    assert dropped.image == astro_png and dropped.folder == tmp_path
    assert dropped.note == ("1 dropped item(s) are not images and were ignored; "
                            "1 more dropped image(s) not opened")
    assert doc.sort_dropped([text]) == type(dropped)(None, None, dropped.note.split("; ")[0])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(astro_png))])
    assert doc.mime_content(mime) == [astro_png]
    mime = QMimeData()
    mime.setText(f"  {astro_png}\n")
    assert doc.mime_content(mime) == [astro_png]
    mime = QMimeData()
    mime.setImageData(qimage_from_array(np.zeros((4, 5, 3), np.uint8)))
    assert isinstance(doc.mime_content(mime), QImage) and doc.mime_content(mime).width() == 5
    mime = QMimeData()
    mime.setText("no such file")
    assert doc.mime_content(mime) is None and doc.mime_content(None) is None


def test_save_keeps_the_originals_metadata_and_says_what_bits_are_lost(doc, tmp_path,
                                                                      astro_crop):
    exif = Image.Exif()
    exif[0x010F] = "DRRN camera"
    photo = tmp_path / "photo.jpg"
    Image.fromarray(astro_crop).save(photo, exif=exif.tobytes(), icc_profile=b"fake-icc",
                                     quality=95)
    opened = doc.open_file(photo)
    out = tmp_path / "out.jpg"
    assert doc.save(out, opened.image, quality=90)
    with Image.open(out) as im:
        assert im.getexif()[0x010F] == "DRRN camera" and im.info["icc_profile"] == b"fake-icc"
    assert doc.depth_note(".jpg") == ""
    assert not doc.save(tmp_path / "no-folder" / "out.png", opened.image, quality=90)
    assert doc.failures[-1][0] == "Could not save" and "Traceback" not in doc.failures[-1][1]

    deep = tmp_path / "deep.png"
    io.save_image(deep, np.linspace(0, 1, 30 * 30 * 3, dtype=np.float32).reshape(30, 30, 3),
                  bit_depth=16)
    doc.open_file(deep)
    assert doc.loaded.bit_depth == 16
    assert "8 bits" in doc.depth_note(".jpg") and doc.depth_note(".png") == ""


# -- the model registry ------------------------------------------------------------------------
def test_registry_refresh_signals_once_and_lists_the_models(qtbot, model_store):
    registry = ModelRegistry()
    with qtbot.waitSignal(registry.modelsChanged) as blocker:
        registry.refresh()
    assert blocker.signal_triggered and not registry.problem
    names = [c.name for c in registry.choices()]
    assert names[0] == "bicubic" and {"tiny", "medium"} <= set(names[1:])
    assert [c.name for c in registry.choices(with_bicubic=False)] == names[1:]
    assert registry.name_of(model_store / "models" / "tiny.safetensors") == "tiny"
    assert registry.name_of("/elsewhere/new.safetensors") == "new"
    seen = []
    registry.modelsChanged.connect(lambda: seen.append(1))
    registry.refresh()
    assert seen == [1]


def test_a_broken_model_folder_is_one_line(qtbot, monkeypatch):
    from drrn_core import weights

    def broken():
        raise PermissionError(13, "Permission denied", "/models")

    monkeypatch.setattr(weights, "list_models", broken)
    registry = ModelRegistry()
    with qtbot.waitSignal(registry.modelsChanged):
        registry.refresh()
    assert registry.entries == [] and registry.problem.startswith("Could not list models:")
    assert [c.name for c in registry.choices()] == ["bicubic"]


def test_every_model_list_follows_the_registry(window, model_store):
    """A model added to the folder appears in Compare, Benchmark and Batch after one refresh."""
    from drrn_core import weights
    from drrn_core.model import DRRN, DRRNConfig

    path = weights.save_weights(model_store / "models" / "fresh.safetensors",
                                DRRN(DRRNConfig(B=1, U=1, channels=4)))
    try:
        bench, batch = window.extra_tabs["benchmark"], window.extra_tabs["batch"]
        before = window.compare.controls.model_name()
        window.models.refresh()
        assert window.compare.controls.model.findData("fresh") >= 0
        assert window.compare.controls.model_name() == before  # the choice is kept
        assert "fresh" in [bench.models.item(i).data(0x0100).name
                           for i in range(bench.models.count())]
        assert batch.model_combo.findText("fresh") >= 0
    finally:
        Path(path).unlink()
        window.models.refresh()
    assert window.compare.controls.model.findData("fresh") < 0

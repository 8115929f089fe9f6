"""The Benchmark tab: protocol numbers in the table, exports, double-click, cancel and errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from app.tabs.benchmark import BenchmarkTab
from app.workers import shutdown_jobs
from drrn_core import benchmark
from drrn_core.imaging.io import list_images
from drrn_core.metrics import protocol

RUN_TIMEOUT_MS = 30_000


def _crops(folder: Path, size: int, count: int = 3) -> Path:
    """``count`` size x size crops of scikit-image's pictures (RGB and greyscale) as PNG."""
    from skimage import data

    folder.mkdir(parents=True)
    pictures = [data.astronaut(), data.camera(), data.coffee(), data.chelsea()]
    for i in range(count):
        img = pictures[i % len(pictures)]
        y, x = 40 + 17 * i, 60 + 23 * i
        Image.fromarray(np.ascontiguousarray(img[y:y + size, x:x + size])).save(
            folder / f"img_{i + 1:03d}.png")
    return folder


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("DRRN_USER_DIR", str(tmp_path / "user"))
    yield
    shutdown_jobs()


@pytest.fixture
def dataset(tmp_path) -> Path:
    """3 images of 96x96: big enough for IFC (>= 72 px after shaving 4)."""
    return _crops(tmp_path / "Tiny", 96)


@pytest.fixture
def tab(qtbot) -> BenchmarkTab:
    widget = BenchmarkTab()
    qtbot.addWidget(widget)
    return widget


def _run(qtbot, tab: BenchmarkTab) -> None:
    tab.start()
    assert tab.is_running()
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=RUN_TIMEOUT_MS)


def _only_scales(tab: BenchmarkTab, scales: set[int]) -> None:
    for s, check in tab.scale_checks.items():
        check.setChecked(s in scales)


def test_bicubic_is_always_ticked(tab):
    models = tab.selected_models()
    assert [m.name for m in models][:1] == ["bicubic"]
    assert not tab.models.item(0).flags() & Qt.ItemFlag.ItemIsUserCheckable


def test_dropped_folders_become_datasets(tab, dataset, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dataset)), QUrl.fromLocalFile(str(tmp_path / "nope")),
                  QUrl.fromLocalFile(str(dataset))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    tab.datasets.dropEvent(event)
    assert tab.datasets.folders() == [dataset.resolve()]


def test_table_numbers_are_the_protocols(qtbot, tab, dataset):
    tab.add_dataset(dataset)
    _run(qtbot, tab)
    assert not tab.message.is_error(), tab.message.text()
    images = tab.table_model.rows(means=False)
    assert len(images) == 3 * 3
    for row in images:
        expected = protocol.evaluate_image(row.path, row.scale, "bicubic", with_ifc=True)
        assert (row.dataset, row.model) == ("Tiny", "bicubic")
        assert (row.psnr, row.ssim, row.ifc) == (expected.psnr, expected.ssim, expected.ifc)
    means = tab.table_model.rows(means=True)
    assert [m.scale for m in means] == [2, 3, 4]
    for mean in means:
        group = [r for r in images if r.scale == mean.scale]
        assert mean.psnr == pytest.approx(np.mean([r.psnr for r in group]), abs=1e-9)
        assert mean.ssim == pytest.approx(np.mean([r.ssim for r in group]), abs=1e-12)
        assert mean.ifc == pytest.approx(np.mean([r.ifc for r in group]), abs=1e-9)
    assert all(r.seconds > 0 for r in images)  # per-image time, shown in its own column
    col = [tab.table_model.headerData(c, Qt.Orientation.Horizontal)
           for c in range(tab.table_model.columnCount())].index("Time (s)")
    assert tab.table_model.index(3, col).data() == f"{images[0].seconds:.3f}"
    for mean in means:
        group = [r.seconds for r in images if r.scale == mean.scale]
        assert mean.seconds == pytest.approx(np.mean(group))
    assert "Done: 9 results" in tab.status.text()
    assert tab.progress.value() == tab.progress.maximum()
    curves = tab.plot.getPlotItem().listDataItems()
    assert len(curves) == 3  # one curve per model and scale: x2, x3, x4
    # The legend names each curve by its marker: x3's is a triangle drawn apex up, as "▲".
    assert "▲ bicubic ×3" in tab.plot_legend.text()
    assert _apex_up(curves[1].opts["symbol"])


def _apex_up(symbol: str) -> bool:
    """Whether pyqtgraph's marker ``symbol`` is a triangle with its apex at the top of the screen
    (markers are drawn in screen coordinates: y grows downwards)."""
    from pyqtgraph.graphicsItems.ScatterPlotItem import Symbols

    path = Symbols[symbol]
    ys = [path.elementAt(i).y for i in range(path.elementCount())]
    return ys.count(min(ys)) == 1 and len(set(ys)) == 2


def test_a_drrn_model_runs_through_the_protocol(qtbot, dataset, tmp_path):
    import torch

    from drrn_core import weights
    from drrn_core.engine import Upscaler
    from drrn_core.model import DRRN, DRRNConfig

    torch.manual_seed(0)
    path = tmp_path / "user" / "models" / "tiny.safetensors"
    path.parent.mkdir(parents=True)
    weights.save_weights(path, DRRN(DRRNConfig(B=1, U=1, channels=8)))
    tab = BenchmarkTab()
    qtbot.addWidget(tab)
    item = tab.models.item(1)
    assert item.text() == "tiny"
    item.setCheckState(Qt.CheckState.Checked)
    tab.add_dataset(dataset)
    _only_scales(tab, {3})
    tab.ifc_check.setChecked(False)
    tab.ensemble_check.setChecked(True)  # tiny and tiny+ (its self-ensemble)
    _run(qtbot, tab)
    assert not tab.message.is_error(), tab.message.text()
    for model, ensemble in (("tiny", False), ("tiny+", True)):
        rows = [r for r in tab.table_model.rows(means=False) if r.model == model]
        assert len(rows) == 3
        restore = Upscaler(weights.load_weights(path), precision="fp32",
                           ensemble=ensemble).restore_y
        for row in rows:
            expected = protocol.evaluate_image(row.path, 3, restore, with_ifc=False)
            assert row.psnr == pytest.approx(expected.psnr, abs=1e-4)
            assert row.ssim == pytest.approx(expected.ssim, abs=1e-6)
    assert len(tab.plot.getPlotItem().listDataItems()) == 3
    out = tmp_path / "r.csv"
    tab.export_csv(out)
    with out.open() as f:
        plus = [r for r in csv.DictReader(f) if r["model"] == "tiny+"]
    assert plus and all(r["model_sha256"] and "self-ensemble x8" in r["ran_on"] for r in plus)


def test_csv_and_json_exports(qtbot, tab, dataset, tmp_path):
    tab.add_dataset(dataset)
    _only_scales(tab, {2, 4})
    tab.ifc_check.setChecked(False)
    _run(qtbot, tab)

    tab.export_csv(tmp_path / "bench.csv", summary=False)
    with open(tmp_path / "bench.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["dataset", "model", "scale", "image", "psnr", "ssim", "ifc",
                             "seconds"]
    assert len(rows) == 6  # as `drrn bench --csv`: one row per image and run
    table = {(r.image, r.scale): r.psnr for r in tab.table_model.rows(means=False)}
    assert {(r["image"], int(r["scale"])): float(r["psnr"]) for r in rows} == table
    assert all(r["ifc"] == "" and r["dataset"] == "Tiny" for r in rows)

    times = {(r.image, r.scale): r.seconds for r in tab.table_model.rows(means=False)}
    assert {(r["image"], int(r["scale"])): float(r["seconds"]) for r in rows} == pytest.approx(
        times, abs=1e-6)
    assert all(t > 0 for t in times.values())

    tab.export_json(tmp_path / "bench.json")
    doc = json.loads((tmp_path / "bench.json").read_text())
    paths = list_images(dataset)
    expected = benchmark.bench_json("Tiny", benchmark.iter_benchmark(
        paths, [2, 4], {"bicubic": "bicubic"}, with_ifc=False))

    def scores_only(d: dict) -> dict:
        """The document without the measured seconds (a timing differs from run to run)."""
        return {**d, "runs": [{**run, "images": [{k: v for k, v in im.items() if k != "seconds"}
                                                 for im in run["images"]]}
                              for run in d["runs"]]}

    assert scores_only(doc) == scores_only(json.loads(json.dumps(expected)))
    assert all(im["seconds"] > 0 for run in doc["runs"] for im in run["images"])
    assert [(r["model"], r["scale"]) for r in doc["runs"]] == [("bicubic", 2), ("bicubic", 4)]
    assert not list(tmp_path.glob("*.tmp"))


def test_table_export_is_drrn_bench_table(qtbot, tab, dataset, tmp_path, monkeypatch):
    """Export table… writes benchmark.means_table of the results (as `drrn bench --table`); a
    name typed without a suffix takes the chosen filter's."""
    from PySide6.QtWidgets import QFileDialog

    tab.add_dataset(dataset)
    _only_scales(tab, {2})
    tab.ifc_check.setChecked(False)
    _run(qtbot, tab)
    docs = [benchmark.bench_json(n, rs) for n, rs in tab._results.items()]
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "table"), "LaTeX table (*.tex)"))
    tab.table_button.click()
    assert (tmp_path / "table.tex").read_text() == benchmark.means_table(docs, "latex")
    assert "table.tex" in tab.message.text()
    tab.export_table(tmp_path / "t.md")
    assert (tmp_path / "t.md").read_text() == benchmark.means_table(docs, "markdown")
    with pytest.raises(ValueError, match=".md or .tex"):
        tab.export_table(tmp_path / "t.txt")


def test_two_datasets_export_a_list(qtbot, tab, dataset, tmp_path):
    tab.add_dataset(dataset)
    tab.add_dataset(_crops(tmp_path / "Other", 48, count=2))
    _only_scales(tab, {3})
    tab.ifc_check.setChecked(False)
    _run(qtbot, tab)
    tab.export_json(tmp_path / "both.json")
    doc = json.loads((tmp_path / "both.json").read_text())
    assert [d["dataset"] for d in doc] == ["Tiny", "Other"]
    assert [len(d["runs"][0]["images"]) for d in doc] == [3, 2]
    assert tab.plot_dataset.count() == 2


def test_a_folder_of_datasets_runs_each_one(qtbot, tab, tmp_path):
    """A dropped collection (benchmark/Set5/HR, benchmark/Set14) is one dataset per sub-folder."""
    _crops(tmp_path / "benchmark" / "Set5" / "HR", 48, count=2)
    _crops(tmp_path / "benchmark" / "Set14", 48, count=1)
    tab.add_dataset(tmp_path / "benchmark")
    _only_scales(tab, {2})
    tab.ifc_check.setChecked(False)
    _run(qtbot, tab)
    assert not tab.message.is_error(), tab.message.text()
    rows = tab.table_model.rows(means=False)
    assert sorted((r.dataset, r.image) for r in rows) == [
        ("Set14", "img_001.png"), ("Set5", "img_001.png"), ("Set5", "img_002.png")]


def test_double_click_opens_the_image_in_evaluation(qtbot, tab, dataset):
    tab.add_dataset(dataset)
    _only_scales(tab, {3})
    tab.ifc_check.setChecked(False)
    _run(qtbot, tab)
    tab.table.sortByColumn(4, Qt.SortOrder.DescendingOrder)  # PSNR, best first
    proxy = tab.proxy
    psnrs = [proxy.index(r, 4).data(Qt.ItemDataRole.UserRole) for r in range(proxy.rowCount())]
    assert psnrs == sorted(psnrs, reverse=True)
    image_rows = [r for r in range(proxy.rowCount()) if proxy.index(r, 1).data() != "mean"]
    index = proxy.index(image_rows[0], 0)
    row = tab.table_model.row_at(proxy.mapToSource(index).row())
    with qtbot.waitSignal(tab.openInEvaluation, timeout=1000) as blocker:
        tab.table.doubleClicked.emit(index)
    assert blocker.args == [row.path, 3, row.model]
    assert Path(row.path).parent == dataset

    mean_row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 1).data() == "mean")
    with qtbot.assertNotEmitted(tab.openInEvaluation):
        tab.table.doubleClicked.emit(proxy.index(mean_row, 0))


def test_means_only_view(qtbot, tab, dataset):
    tab.add_dataset(dataset)
    _only_scales(tab, {2})
    tab.ifc_check.setChecked(False)
    _run(qtbot, tab)
    assert tab.proxy.rowCount() == 4
    tab.images_check.setChecked(False)
    assert tab.proxy.rowCount() == 1


def test_cancel_keeps_the_results_so_far(qtbot, tab, tmp_path):
    tab.add_dataset(_crops(tmp_path / "Many", 96, count=12))
    tab.table_model.rowsInserted.connect(lambda *_: tab.cancel())
    _run(qtbot, tab)
    assert "Cancelled" in tab.status.text()
    assert 1 <= len(tab.table_model.rows(means=False)) < 12 * 3
    assert tab.proxy.index(0, 1).data().endswith(" of 12)")  # a partial mean says so
    assert tab.run_button.isEnabled() and not tab.cancel_button.isEnabled()


def test_problems_are_one_line_messages(qtbot, tab, tmp_path):
    tab.start()
    assert not tab.is_running()
    assert tab.message.is_error() and "dataset" in tab.message.text()

    empty = tmp_path / "Empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    tab.add_dataset(empty)
    _run(qtbot, tab)
    assert tab.message.is_error()
    assert "No image files" in tab.message.text() and "\n" not in tab.message.text()

    tab.datasets.clear()
    with pytest.raises(ValueError, match="no results"):
        tab.export_json(tmp_path / "nothing.json")


def test_an_image_that_cannot_be_scored_fails_alone(qtbot, tab, tmp_path):
    """A broken file fails alone; an image too small for IFC's pyramid is still scored (PSNR and
    SSIM), with IFC left empty there and in its set's mean, as `drrn bench` does."""
    folder = _crops(tmp_path / "Mixed", 96, count=2)
    _crops(tmp_path / "small", 48, count=1)
    (tmp_path / "small" / "img_001.png").rename(folder / "img_003.png")  # too small for IFC
    (folder / "img_000.png").write_text("not a PNG")
    tab.add_dataset(folder)
    _only_scales(tab, {2})
    _run(qtbot, tab)
    rows = {r.image: r for r in tab.table_model.rows(means=False)}
    assert sorted(rows) == ["img_001.png", "img_002.png", "img_003.png"]
    assert rows["img_003.png"].ifc is None and rows["img_003.png"].psnr > 20
    assert rows["img_001.png"].ifc is not None
    (mean,) = [r for r in tab.table_model.rows(means=True) if r.is_mean]
    assert mean.ifc is None and mean.count == 3
    failed = {Path(p).name: reason for p, reason in tab.failures()}
    assert set(failed) == {"img_000.png"}
    assert tab.message.is_error() and "1 image could not be scored" in tab.message.text()
    assert tab.status.text() == "Done: 3 results, 1 image failed."
    assert tab.progress.value() == tab.progress.maximum()


# -- issue 12.9: asking before wiping, sensible default ticks, remembered choices, all failures --
def test_a_second_run_asks_before_replacing_the_results(qtbot, tab, dataset, monkeypatch):
    tab.add_dataset(dataset)
    _only_scales(tab, {2})
    tab.ifc_check.setChecked(False)
    _run(qtbot, tab)
    first = tab.table_model.rows()
    asked = []
    monkeypatch.setattr(tab, "confirm_replace", lambda: asked.append(1) or False)
    tab.start()
    assert asked == [1] and not tab.is_running()
    assert tab.table_model.rows() == first  # declined: nothing wiped
    monkeypatch.setattr(tab, "confirm_replace", lambda: asked.append(2) or True)
    _run(qtbot, tab)
    assert asked == [1, 2] and len(tab.table_model.rows(means=False)) == 3


def test_default_model_is_ticked_and_choices_are_remembered(qtbot, model_store, monkeypatch,
                                                            dataset, tmp_path):
    import shutil

    (tmp_path / "res" / "weights").mkdir(parents=True)
    shutil.copy(model_store / "models" / "tiny.safetensors", tmp_path / "res" / "weights")
    monkeypatch.setenv("DRRN_RESOURCES", str(tmp_path / "res"))  # a bundled default model
    first = BenchmarkTab()
    qtbot.addWidget(first)
    ticked = [m.name for m in first.selected_models()]
    assert ticked == ["bicubic", "tiny"]  # bicubic and the default model
    first.add_dataset(dataset)
    _only_scales(first, {3})
    first.ifc_check.setChecked(False)
    first.ensemble_check.setChecked(True)
    first.save_choices()
    again = BenchmarkTab()
    qtbot.addWidget(again)
    assert again.datasets.folders() == [dataset.resolve()]
    assert again.selected_scales() == [3] and not again.ifc_check.isChecked()
    assert again.ensemble_check.isChecked() and again.model_specs() == ["bicubic", "tiny",
                                                                         "tiny+"]
    assert [m.name for m in again.selected_models()] == ticked


def test_every_failed_image_is_listed(qtbot, tab, tmp_path):
    folder = _crops(tmp_path / "Broken", 96, count=1)
    for name in ("a.png", "b.png", "c.png"):
        (folder / name).write_text("not a PNG")
    tab.add_dataset(folder)
    _only_scales(tab, {2})
    tab.ifc_check.setChecked(False)
    _run(qtbot, tab)
    listed = [tab.failure_list.item(i).text() for i in range(tab.failure_list.count())]
    assert [t.split(":")[0] for t in listed] == ["a.png", "b.png", "c.png"]
    assert tab.failure_list.isVisible() or not tab.isVisible()
    assert "more" not in tab.message.text()


def test_csv_with_mean_and_std_rows_and_provenance(qtbot, tmp_path, dataset, model_store,
                                                  monkeypatch):
    """Researchers' export: mean and standard deviation rows, the model's SHA-256 and what it
    ran on in every row."""
    import hashlib
    import statistics

    monkeypatch.setenv("DRRN_USER_DIR", str(model_store))
    tab = BenchmarkTab()
    qtbot.addWidget(tab)
    for i in range(tab.models.count()):
        item = tab.models.item(i)
        if item.data(Qt.ItemDataRole.UserRole).name == "tiny":
            item.setCheckState(Qt.CheckState.Checked)
    tab.add_dataset(dataset)
    _only_scales(tab, {2})
    tab.ifc_check.setChecked(False)
    _run(qtbot, tab)
    tab.export_csv(tmp_path / "summary.csv")
    with open(tmp_path / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    images = [r for r in rows if not r["image"].startswith(("mean", "std"))]
    assert len(images) == 6
    for model in ("bicubic", "tiny"):
        psnrs = [float(r["psnr"]) for r in images if r["model"] == model]
        (mean,) = [r for r in rows if r["model"] == model and r["image"] == "mean (n=3)"]
        (std,) = [r for r in rows if r["model"] == model and r["image"] == "std (n=3)"]
        assert float(mean["psnr"]) == pytest.approx(statistics.fmean(psnrs), abs=1e-9)
        assert float(std["psnr"]) == pytest.approx(statistics.stdev(psnrs), abs=1e-9)
        assert mean["ifc"] == ""
    sha = hashlib.sha256((model_store / "models" / "tiny.safetensors").read_bytes()).hexdigest()
    tiny = [r for r in rows if r["model"] == "tiny"]
    assert {r["model_sha256"] for r in tiny} == {sha}
    assert all("fp32" in r["ran_on"] for r in tiny)

"""The Benchmark tab: protocol numbers in the table, exports, double-click, cancel and errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from app.tabs.benchmark import BenchmarkTab
from app.workers import shutdown_jobs
from drrn_core.imaging.io import list_images
from drrn_core.metrics import benchmark, protocol

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
def new_tab(qtbot):
    """new_tab(): a Benchmark tab as the app's next start makes it (the remembered choices and
    the kept results read now)."""

    def make() -> BenchmarkTab:
        widget = BenchmarkTab()
        qtbot.addWidget(widget)
        return widget

    return make


@pytest.fixture
def tab(new_tab) -> BenchmarkTab:
    return new_tab()


@pytest.fixture
def tiny_weights(tmp_path) -> Path:
    """A tiny DRRN named "tiny" in the user model folder."""
    return _tiny_model(tmp_path / "user")


@pytest.fixture
def tiny_tab(tiny_weights, new_tab) -> BenchmarkTab:
    """A Benchmark tab that lists the tiny model, not ticked: bicubic runs alone until a test
    ticks it."""
    widget = new_tab()
    _tick(widget, "tiny", False)
    return widget


def _run(qtbot, tab: BenchmarkTab) -> None:
    tab.start()
    assert tab.is_running()
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=RUN_TIMEOUT_MS)


def _only_scales(tab: BenchmarkTab, scales: set[int]) -> None:
    for s, check in tab.scale_checks.items():
        check.setChecked(s in scales)


def _choose(tab: BenchmarkTab, dataset: Path, scales: set[int], *, ifc: bool = False,
            tick: tuple[str, ...] = ()) -> None:
    """A run's usual choices: ``dataset`` added, only ``scales`` ticked, IFC on or off and the
    models in ``tick`` ticked beside bicubic."""
    tab.add_dataset(dataset)
    _only_scales(tab, scales)
    tab.ifc_check.setChecked(ifc)
    for name in tick:
        _tick(tab, name)


def _tiny_model(folder: Path, factor: float = 1.0) -> Path:
    """A tiny DRRN in the user model folder (weights scaled by ``factor``: other weights)."""
    import torch

    from drrn_core import weights
    from drrn_core.model import DRRN, DRRNConfig

    torch.manual_seed(0)
    net = DRRN(DRRNConfig(B=1, U=1, channels=8))
    with torch.no_grad():
        for param in net.parameters():
            param.mul_(factor)
    path = folder / "models" / "tiny.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    return weights.save_weights(path, net)


def _tick(tab: BenchmarkTab, name: str, on: bool = True) -> None:
    for i in range(tab.models.count()):
        item = tab.models.item(i)
        if item.data(Qt.ItemDataRole.UserRole).name == name:
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            return
    raise AssertionError(f"{name} not listed")


def _cells(tab: BenchmarkTab) -> dict[tuple, tuple]:
    return {(r.dataset, r.image, r.scale, r.model): (r.psnr, r.ssim, r.ifc, r.seconds, r.path)
            for r in tab.table_model.rows(means=False)}


def _computed(qtbot, tab: BenchmarkTab) -> list[tuple]:
    """Run and return the (image, scale, model) of every result the run computed."""
    got: list[tuple] = []
    original = tab._on_item

    def record(item):
        if isinstance(item, benchmark.Scored):
            got.append((item.result.image, item.result.scale, item.result.model))
        original(item)

    tab._on_item = record
    try:
        _run(qtbot, tab)
    finally:
        del tab._on_item
    return got


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


def test_a_drrn_model_runs_through_the_protocol(qtbot, tiny_tab, tiny_weights, dataset,
                                                tmp_path):
    from drrn_core import weights
    from drrn_core.engine import Upscaler

    tab = tiny_tab
    assert tab.models.item(1).text() == "tiny"
    _choose(tab, dataset, {3}, tick=("tiny",))
    tab.ensemble_check.setChecked(True)  # tiny and tiny+ (its self-ensemble)
    _run(qtbot, tab)
    assert not tab.message.is_error(), tab.message.text()
    for model, ensemble in (("tiny", False), ("tiny+", True)):
        rows = [r for r in tab.table_model.rows(means=False) if r.model == model]
        assert len(rows) == 3
        restore = Upscaler(weights.load_weights(tiny_weights), precision="fp32",
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
    _choose(tab, dataset, {2, 4})
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
        paths, [2, 4], {"bicubic": "bicubic"}, with_ifc=False),
        info={"bicubic": benchmark.RunInfo(with_ifc=False)})

    def scores_only(d: dict) -> dict:
        """The document without the measured seconds (a timing differs from run to run)."""
        return {**d, "runs": [{**run, "images": [{k: v for k, v in im.items() if k != "seconds"}
                                                 for im in run["images"]]}
                              for run in d["runs"]]}

    assert scores_only(doc) == scores_only(json.loads(json.dumps(expected)))
    assert all(im["seconds"] > 0 for run in doc["runs"] for im in run["images"])
    assert [(r["model"], r["scale"]) for r in doc["runs"]] == [("bicubic", 2), ("bicubic", 4)]
    assert not list(tmp_path.glob("*.tmp"))


def test_table_export_is_drrn_benchmark_table(qtbot, tab, dataset, tmp_path, monkeypatch):
    """Export table… writes benchmark.means_table of the results (as `drrn bench --table`); a
    name typed without a suffix takes the chosen filter's."""
    from PySide6.QtWidgets import QFileDialog

    _choose(tab, dataset, {2})
    _run(qtbot, tab)
    docs = tab.results().documents(extra=False)
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
    _choose(tab, _crops(tmp_path / "Other", 48, count=2), {3})
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
    _choose(tab, tmp_path / "benchmark", {2})
    _run(qtbot, tab)
    assert not tab.message.is_error(), tab.message.text()
    rows = tab.table_model.rows(means=False)
    assert sorted((r.dataset, r.image) for r in rows) == [
        ("Set14", "img_001.png"), ("Set5", "img_001.png"), ("Set5", "img_002.png")]


def test_double_click_opens_the_image_in_evaluation(qtbot, tab, dataset):
    _choose(tab, dataset, {3})
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
    _choose(tab, dataset, {2})
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


# -- sensible default ticks, remembered choices, all failures ---------------------------------
def test_default_model_is_ticked_and_choices_are_remembered(new_tab, model_store, monkeypatch,
                                                            dataset, tmp_path):
    import shutil

    (tmp_path / "res" / "weights").mkdir(parents=True)
    shutil.copy(model_store / "models" / "tiny.safetensors", tmp_path / "res" / "weights")
    monkeypatch.setenv("DRRN_RESOURCES", str(tmp_path / "res"))  # a bundled default model
    first = new_tab()
    ticked = [m.name for m in first.selected_models()]
    assert ticked == ["bicubic", "tiny"]  # bicubic and the default model
    _choose(first, dataset, {3})
    first.ensemble_check.setChecked(True)
    first.save_choices()
    again = new_tab()
    assert again.datasets.folders() == [dataset.resolve()]
    assert again.selected_scales() == [3] and not again.ifc_check.isChecked()
    assert again.ensemble_check.isChecked() and again.model_specs() == ["bicubic", "tiny",
                                                                         "tiny+"]
    assert [m.name for m in again.selected_models()] == ticked


def test_every_failed_image_is_listed(qtbot, tab, tmp_path):
    folder = _crops(tmp_path / "Broken", 96, count=1)
    for name in ("a.png", "b.png", "c.png"):
        (folder / name).write_text("not a PNG")
    _choose(tab, folder, {2})
    _run(qtbot, tab)
    listed = [tab.failure_list.item(i).text() for i in range(tab.failure_list.count())]
    assert [t.split(":")[0] for t in listed] == ["a.png", "b.png", "c.png"]
    assert tab.failure_list.isVisible() or not tab.isVisible()
    assert "more" not in tab.message.text()


def test_csv_with_mean_and_std_rows_and_provenance(qtbot, tiny_tab, tiny_weights, dataset,
                                                  tmp_path):
    """Researchers' export: mean and standard deviation rows, the model's SHA-256 and what it
    ran on in every row."""
    import hashlib
    import statistics

    tab = tiny_tab
    _choose(tab, dataset, {2}, tick=("tiny",))
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
    sha = hashlib.sha256(tiny_weights.read_bytes()).hexdigest()
    tiny = [r for r in rows if r["model"] == "tiny"]
    assert {r["model_sha256"] for r in tiny} == {sha}
    assert all("fp32" in r["ran_on"] for r in tiny)


# -- results that stay: kept between runs and sessions, only what is missing computed ----------
def test_results_come_back_after_a_restart(qtbot, tab, new_tab, dataset):
    from app.settings import AppSettings

    _choose(tab, dataset, {2, 3})
    _run(qtbot, tab)
    before = _cells(tab)
    assert len(before) == 6
    store = AppSettings().store
    assert tab.results_path.parent == Path(store.fileName()).parent  # beside the settings
    assert benchmark.read_results(tab.results_path).documents() == tab.results().documents()

    again = new_tab()
    assert _cells(again) == before
    assert [(m.dataset, m.scale, m.model, m.count) for m in again.table_model.rows(means=True)] \
        == [(m.dataset, m.scale, m.model, m.count) for m in tab.table_model.rows(means=True)]
    assert again.plot_dataset.currentText() == "Tiny"
    assert len(again.plot.getPlotItem().listDataItems()) == 2
    assert "6 results from earlier runs" in again.status.text()
    assert again.csv_button.isEnabled() and not again.message.is_error()


def test_a_run_computes_only_what_the_table_lacks(qtbot, tab, dataset):
    _choose(tab, dataset, {2})
    first = _computed(qtbot, tab)
    assert sorted(first) == [(f"img_00{i}.png", 2, "bicubic") for i in (1, 2, 3)]
    kept = _cells(tab)

    _only_scales(tab, {2, 4})  # a scale added: only its results run
    added = _computed(qtbot, tab)
    assert sorted(added) == [(f"img_00{i}.png", 4, "bicubic") for i in (1, 2, 3)]
    cells = _cells(tab)
    assert len(cells) == 6 and all(cells[k] == v for k, v in kept.items())
    assert tab.status.text() == "Done: 3 results (3 more kept from earlier runs)."

    tab.start()  # nothing missing: nothing runs
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=RUN_TIMEOUT_MS)
    assert tab.status.text() == "Nothing to compute: the table holds all 6 results of these " \
                                "choices."
    assert _cells(tab) == cells

    _only_scales(tab, {3})  # unticked scales keep their results in the table
    assert sorted(_computed(qtbot, tab)) == [(f"img_00{i}.png", 3, "bicubic") for i in (1, 2, 3)]
    assert len(_cells(tab)) == 9


def test_an_added_model_runs_alone_and_other_weights_run_again(qtbot, tiny_tab, tiny_weights,
                                                              dataset, tmp_path):
    tab, weights_path = tiny_tab, tiny_weights
    _choose(tab, dataset, {2})
    _computed(qtbot, tab)
    _tick(tab, "tiny")
    assert sorted(_computed(qtbot, tab)) == [(f"img_00{i}.png", 2, "tiny") for i in (1, 2, 3)]
    before = _cells(tab)
    doc = tab.results().documents()[0]
    sha = benchmark.file_sha256(weights_path)
    assert {r["model"]: r["weights_sha256"] for r in doc["runs"]} == {"bicubic": None,
                                                                      "tiny": sha}

    from app.services.upscalers import forget_models

    _tiny_model(tmp_path / "user", factor=0.5)  # retrained: the same name, other weights
    forget_models()
    again = _computed(qtbot, tab)
    assert sorted(again) == [(f"img_00{i}.png", 2, "tiny") for i in (1, 2, 3)]
    after = _cells(tab)
    assert len(after) == 6
    for key, value in before.items():
        if key[3] == "bicubic":
            assert after[key] == value
        else:
            assert after[key][0] != value[0]  # the new weights' scores replaced the old ones
    (mean,) = [m for m in tab.table_model.rows(means=True) if m.model == "tiny"]
    assert mean.count == 3
    assert tab.results().documents()[0]["runs"][1]["weights_sha256"] != sha


def test_the_ifc_choice_is_part_of_a_results_key(qtbot, tab, dataset):
    _choose(tab, dataset, {4})
    _computed(qtbot, tab)
    assert all(v[2] is None for v in _cells(tab).values())
    tab.ifc_check.setChecked(True)
    assert len(_computed(qtbot, tab)) == 3
    cells = _cells(tab)
    assert len(cells) == 3 and all(v[2] is not None for v in cells.values())


def test_a_damaged_results_file_is_ignored_with_one_notice(qtbot, tab, new_tab, dataset):
    path = tab.results_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[{"dataset": "Tiny", "runs": [{"model": "bicubic", "sca')
    first = new_tab()
    assert first.table_model.rowCount() == 0
    assert first.message.is_error() and "could not be read" in first.message.text()
    aside = path.with_name(f"{path.stem}.damaged-1{path.suffix}")
    assert aside.read_text().startswith('[{"dataset": "Tiny"') and not path.exists()
    second = new_tab()
    assert second.message.isHidden() and not second.message.text()
    _choose(second, dataset, {2})
    _run(qtbot, second)
    assert len(benchmark.read_results(path)) == 3


def test_clear_forgets_every_result(qtbot, tab, new_tab, dataset, monkeypatch):
    _choose(tab, dataset, {2})
    _run(qtbot, tab)
    monkeypatch.setattr(tab, "confirm_clear", lambda: False)
    tab.clear_button.click()
    assert len(_cells(tab)) == 3
    monkeypatch.setattr(tab, "confirm_clear", lambda: True)
    tab.clear_button.click()
    assert tab.table_model.rowCount() == 0 and not tab.csv_button.isEnabled()
    assert tab.plot_placeholder.is_empty()
    assert new_tab().table_model.rowCount() == 0


def test_a_run_over_a_minute_is_asked_about_first(qtbot, tiny_tab, dataset, monkeypatch):
    """The estimate (the engine's, on a worker thread) is shown and a long run asked about;
    Cancel runs nothing. A short run is not asked about."""
    from app.services import estimate

    tab = tiny_tab
    monkeypatch.setattr(estimate, "restore_seconds", lambda up, hw: 100.0)
    _choose(tab, dataset, {2})
    asked = []
    monkeypatch.setattr(tab, "confirm_long_run", lambda plan: asked.append(plan) or False)
    _run(qtbot, tab)  # bicubic only: seconds, not asked
    assert asked == [] and len(_cells(tab)) == 3

    _tick(tab, "tiny")
    _run(qtbot, tab)
    (plan,) = asked
    assert len(plan.cells) == 3 and plan.reused == 3 and plan.seconds >= 300
    assert len(_cells(tab)) == 3  # declined: nothing ran
    assert tab.status.text().startswith("Not run. 3 results to compute (3 in the table "
                                        "already): about 5 min")

    monkeypatch.setattr(tab, "confirm_long_run", lambda plan: asked.append(plan) or True)
    _run(qtbot, tab)
    assert len(asked) == 2 and len(_cells(tab)) == 6


def test_progress_eta_and_status_follow_the_real_work(qtbot, tiny_tab, dataset, monkeypatch):
    """The first ETA comes from the estimate, not from the quick bicubic results before the
    model's, and the status line names the result being computed (the model's, while it runs)."""
    from app.services import estimate

    tab = tiny_tab
    monkeypatch.setattr(estimate, "restore_seconds", lambda up, hw: 100.0)
    monkeypatch.setattr(tab, "confirm_long_run", lambda plan: True)
    _choose(tab, dataset, {2}, tick=("tiny",))
    events: list[tuple] = []
    on_progress, on_item = tab._on_progress, tab._on_item

    def progress(fraction, eta, message):
        on_progress(fraction, eta, message)
        events.append(("progress", fraction, message, tab.status.text()))

    def item(event):
        events.append(("result", event.result.image, event.result.scale, event.result.model))
        on_item(event)

    tab._on_progress, tab._on_item = progress, item
    _run(qtbot, tab)
    results = [e for e in events if e[0] == "result"]
    assert len(results) == 6
    for i, event in enumerate(events):
        if event[0] == "result":
            said = [e for e in events[:i] if e[0] == "progress"][-1]
            assert said[2] == f"Tiny ×2 {event[3]}: {event[1]}"
    first_bicubic = events.index(results[0])
    assert results[0][3] == "bicubic"
    after = [e for e in events[first_bicubic:] if e[0] == "progress"][0]
    assert after[1] < 0.01  # a bicubic result is a sliver of this run's work
    minutes = int(after[3].rsplit("ETA ", 1)[1].split(":")[0])
    assert minutes >= 4  # 3 x 100 s of DRRN ahead, not bicubic's pace


def test_run_eta_trusts_the_estimate_early_and_the_pace_later():
    from app.tabs.benchmark import run_eta

    assert run_eta(360.0, 0.0, 0.5, 26.0) == 360.0  # the estimate's, not the pace
    assert run_eta(360.0, 0.01, 2.0, 26.0) > 340.0  # a quick first result counts for little
    assert run_eta(360.0, 0.05, 10.0, float("nan")) == pytest.approx(350.0)
    assert run_eta(360.0, 0.5, 400.0, 390.0) == 390.0
    assert math.isnan(run_eta(0.0, 0.0, 1.0, float("nan")))


@pytest.mark.parametrize("slower", [0.5, 2.0, 4.0])
def test_the_eta_hands_over_to_the_pace_without_a_jump(slower):
    """A run ``slower`` times the estimate's: from the estimate to the measured pace, the ETA
    moves by a few seconds a step, never jumps (a 60 s estimate; the work in 1 % steps)."""
    from app.tabs.benchmark import run_eta

    estimated, total = 60.0, 60.0 * slower
    etas = []
    for step in range(100):
        fraction = step / 100
        elapsed = total * fraction
        pace = elapsed * (1 - fraction) / fraction if fraction else float("nan")
        etas.append(run_eta(estimated, fraction, elapsed, pace))
    assert etas[0] == pytest.approx(estimated)
    assert etas[40] == pytest.approx(total * 0.6)  # then the pace, as measured
    steps = [abs(b - a) for a, b in zip(etas, etas[1:], strict=False)]
    assert max(steps) < 0.05 * max(estimated, total), steps


def test_choices_are_remembered_as_the_boxes_are_left(tiny_tab, new_tab, dataset, tmp_path):
    """Without running: every box is remembered as the user leaves it."""
    first = tiny_tab
    first.add_dataset(dataset)
    other = _crops(tmp_path / "Other", 48, count=1)
    _choose(first, other, {2, 4}, tick=("tiny",))
    first.ensemble_check.setChecked(True)
    first.datasets.setCurrentRow(0)
    first.datasets.item(0).setSelected(True)
    first.remove_button.click()
    again = new_tab()
    assert again.datasets.folders() == [other.resolve()]
    assert again.selected_scales() == [2, 4] and not again.ifc_check.isChecked()
    assert again.model_specs() == ["bicubic", "tiny", "tiny+"]
    _tick(again, "tiny", False)
    assert new_tab().model_specs() == ["bicubic"]


@pytest.mark.parametrize("height", [720, 420])
def test_the_run_button_stays_where_it_is(qtbot, tab, dataset, height):
    """Nothing a run says (status lines, messages, the failure list) moves the Run and Cancel
    buttons, in a tall window and in one short enough to scroll."""
    tab.resize(1000, height)
    tab.show()
    qtbot.waitExposed(tab)

    def where() -> tuple:
        qtbot.wait(10)
        return (tab.run_button.mapTo(tab, tab.run_button.rect().topLeft()),
                tab.cancel_button.mapTo(tab, tab.cancel_button.rect().topLeft()),
                tab.csv_button.mapTo(tab, tab.csv_button.rect().topLeft()))

    start = where()
    tab.status.setText("Tiny ×4 a-model-with-a-long-name+: an_image_with_a_long_name.png  "
                       "ETA 5:55 and more words than fit on one line")
    assert where() == start
    tab.message.show_error("3 images could not be scored: and a message long enough to wrap "
                           "onto a second line in a narrow panel")
    tab.failure_list.addItem("a.png: cannot identify image file")
    tab.failure_list.show()
    assert where() == start
    _choose(tab, dataset, {2})
    tab.message.clear_message()
    tab.failure_list.hide()
    _run(qtbot, tab)
    assert where() == start and tab.status.text().startswith("Done")


def test_table_export_names_the_weights_hash(qtbot, tiny_tab, tiny_weights, dataset, tmp_path):
    tab, path = tiny_tab, tiny_weights
    _choose(tab, dataset, {3}, tick=("tiny",))
    _run(qtbot, tab)
    tab.export_table(tmp_path / "t.md")
    short = benchmark.file_sha256(path)[:16]
    assert (tmp_path / "t.md").read_text().splitlines()[-1] == (
        f"Weights (SHA-256, first 16 hex digits): tiny `{short}`.")
    tab.export_json(tmp_path / "r.json")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [r["weights_sha256"] for r in doc["runs"]] == [None, benchmark.file_sha256(path)]
    assert "path" not in doc["runs"][0]["images"][0]  # exactly drrn bench --json's shape

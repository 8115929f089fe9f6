"""drrn_core.metrics.benchmark: datasets and their names, the runner (a bad image fails alone,
per-image
seconds), means (infinite PSNR included), JSON/CSV and score text; on scikit-image's images."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drrn_core.imaging.io import list_images
from drrn_core.metrics import ImageScore, benchmark, evaluate_image, prepare
from drrn_core.metrics.benchmark import (
    BenchResult,
    DatasetError,
    Failed,
    Results,
    RunInfo,
    Scored,
    bench_csv,
    bench_json,
    collect_datasets,
    dataset_names,
    format_score,
    format_scores,
    iter_benchmark,
    mean_score,
)


@pytest.fixture(scope="module")
def small_rgb(astronaut_rgb: np.ndarray) -> np.ndarray:
    """A 130x151 RGB piece (odd sizes exercise modcrop; big enough for IFC after shaving)."""
    return astronaut_rgb[10:140, 200:351]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, small_rgb, camera_grey):
    folder = tmp_path_factory.mktemp("bench")
    Image.fromarray(small_rgb).save(folder / "b.png")
    Image.fromarray(camera_grey[:120, :100]).save(folder / "a.bmp")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"")
    return folder



def test_list_images_sorted_and_filtered(image_folder):
    assert [p.name for p in list_images(image_folder)] == ["a.bmp", "b.png"]
    with pytest.raises(NotADirectoryError):
        list_images(image_folder / "b.png")


def test_iter_benchmark_and_bench_json(image_folder):
    paths = list_images(image_folder)
    models = {"bicubic": None, "half": lambda ilr: 0.5 * ilr}
    results = list(iter_benchmark(paths, [2, 3], models, with_ifc=True))
    assert len(results) == 8
    assert [r.index for r in results] == list(range(1, 9)) and {r.total for r in results} == {8}
    first = results[0]
    assert (first.model, first.scale, first.image) == ("bicubic", 2, "a.bmp")
    assert first.score == evaluate_image(paths[0], 2)

    doc = bench_json("Tiny", results)
    json.dumps(doc, allow_nan=False)
    assert doc["dataset"] == "Tiny"
    assert [(r["model"], r["scale"]) for r in doc["runs"]] == [
        ("bicubic", 2),
        ("half", 2),
        ("bicubic", 3),
        ("half", 3),
    ]
    run = doc["runs"][0]
    assert set(run) == {"model", "scale", "mean", "images"}
    assert [i["image"] for i in run["images"]] == ["a.bmp", "b.png"]
    assert set(run["images"][0]) == {"image", "psnr", "ssim", "ifc", "seconds"}
    assert all(i["seconds"] > 0 for i in run["images"])
    for key in ("psnr", "ssim", "ifc"):
        assert run["mean"][key] == pytest.approx(np.mean([i[key] for i in run["images"]]))


def test_iter_benchmark_cancel_and_no_ifc(image_folder):
    paths = list_images(image_folder)
    calls = iter(range(100))
    results = list(iter_benchmark(paths, [2], {"bicubic": None}, False, lambda: next(calls) >= 1))
    assert len(results) == 1 and results[0].score.ifc is None
    doc = bench_json("Tiny", results)
    assert doc["runs"][0]["mean"]["ifc"] is None and doc["runs"][0]["images"][0]["ifc"] is None
    with pytest.raises(ValueError, match="scale"):
        next(iter_benchmark(paths, [2.5], {"bicubic": None}))


def test_perfect_restoration_psnr_is_null_in_json(image_folder):
    paths = list_images(image_folder)[:1]
    gt = {2: prepare(paths[0], 2).gt_y}
    results = list(iter_benchmark(paths, [2], {"oracle": lambda ilr: gt[2]}, with_ifc=False))
    doc = bench_json("Tiny", results)
    json.dumps(doc, allow_nan=False)
    assert doc["runs"][0]["images"][0]["psnr"] is None
    assert doc["runs"][0]["images"][0]["ssim"] == pytest.approx(1.0)



# -- datasets ---------------------------------------------------------------------------------
def test_dataset_names_one_rule(tmp_path):
    a, b, c = tmp_path / "a" / "Set5", tmp_path / "b" / "Set5", tmp_path / "Set14"
    assert dataset_names([c]) == ["Set14"]
    assert dataset_names([a, c, b]) == ["a/Set5", "Set14", "b/Set5"]
    twin = tmp_path / "x" / "a" / "Set5"  # same parent name too: the whole path
    assert dataset_names([a, twin]) == [str(a), str(twin)]


def test_collect_datasets_folders_and_loose_files(tmp_path, image_folder):
    loose = tmp_path / "Loose"
    loose.mkdir()
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(loose / "z.png")
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(loose / "y.png")
    sets = collect_datasets([image_folder, loose / "z.png", loose / "y.png", image_folder])
    assert [d.name for d in sets] == [image_folder.name, "Loose"]
    assert [p.name for p in sets[0].images] == ["a.bmp", "b.png"]  # given twice: once
    assert [p.name for p in sets[1].images] == ["z.png", "y.png"]
    assert sets[1].folder == loose.resolve()


def _pngs(folder, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(folder / name)


def test_collect_datasets_reads_the_common_benchmark_layouts(tmp_path):
    """EDSR's Set5/HR (LR folders beside it ignored), BasicSR's Set5/GTmod12, SelfExSR's *_HR
    beside *_LR files, and a collection folder dropped whole (one dataset per sub-folder)."""
    root = tmp_path / "benchmark"
    _pngs(root / "Set5" / "HR", "baby.png", "bird.png")
    _pngs(root / "Set5" / "LR_bicubic" / "X2", "babyx2.png", "birdx2.png")
    _pngs(root / "Set14" / "GTmod12", "zebra.png")
    _pngs(root / "Urban100", "img_001_SRF_2_HR.png", "img_001_SRF_2_LR.png")
    _pngs(root / "Manga109", "a.png")
    (root / "notes").mkdir()  # no images anywhere: not a dataset
    edsr = collect_datasets([root / "Set5"])
    assert [(d.name, [p.name for p in d.images]) for d in edsr] == [
        ("Set5", ["baby.png", "bird.png"])]
    assert [p.parent.name for p in edsr[0].images] == ["HR", "HR"]
    every = collect_datasets([root])
    assert [(d.name, [p.name for p in d.images]) for d in every] == [
        ("Manga109", ["a.png"]), ("Set14", ["zebra.png"]), ("Set5", ["baby.png", "bird.png"]),
        ("Urban100", ["img_001_SRF_2_HR.png"])]
    with pytest.raises(DatasetError, match="HR/GTmod12/GT sub-folder"):
        collect_datasets([root / "notes"])


@pytest.mark.parametrize("kind", ["missing", "empty", "fifo"])
def test_collect_datasets_refuses_bad_sources_in_one_line(tmp_path, kind):
    import os

    source = tmp_path / kind
    if kind == "empty":
        source.mkdir()
        (source / "notes.txt").write_text("x")
    elif kind == "fifo":
        os.mkfifo(source)
    with pytest.raises(DatasetError) as info:
        collect_datasets([source])
    assert str(source) in str(info.value) and "\n" not in str(info.value)


# -- the runner -------------------------------------------------------------------------------
def test_run_a_bad_image_fails_alone_with_progress(tmp_path, image_folder):
    import shutil

    folder = tmp_path / "Mixed"
    shutil.copytree(image_folder, folder)
    (folder / "0_broken.png").write_text("not a PNG")
    (folder / "c_tiny.png").write_bytes(b"")
    (sets,) = [collect_datasets([folder])]
    events = list(benchmark.run(sets, [2, 3], {"bicubic": None, "x": lambda ilr: ilr},
                                with_ifc=False))
    failed = [e for e in events if isinstance(e, Failed)]
    scored = [e for e in events if isinstance(e, Scored)]
    assert [e.path.name for e in failed] == ["0_broken.png", "c_tiny.png"]
    assert all(e.path.name in e.message and "\n" not in e.message for e in failed)
    assert len(scored) == 2 * 2 * 2  # two good images x two scales x two models
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert events[-1].done == events[-1].total == 4 * 2 * 2
    for e in scored:
        assert e.result.score == evaluate_image(e.path, e.result.scale, with_ifc=False)



def test_run_skips_known_cells_and_says_what_starts(image_folder, monkeypatch):
    """``skip`` leaves cells out (not computed, not counted; an image with nothing left is not
    read); ``starting`` names each cell just before its restoration runs."""
    from drrn_core.metrics import benchmark as bm

    (sets,) = [collect_datasets([image_folder])]
    read = []
    real_read = bm.read_gt
    monkeypatch.setattr(bm, "read_gt", lambda path, *a: read.append(Path(path).name)
                        or real_read(path, *a))
    log = []

    def restorer(name):
        def restore(ilr):
            log.append(("restore", name))
            return ilr
        return restore

    def skip(dataset, path, scale, model):
        return path.name == "a.bmp" or (scale == 3 and model == "x")

    events = list(benchmark.run(
        sets, [2, 3], {"bicubic": None, "x": restorer("x")}, with_ifc=False, skip=skip,
        starting=lambda d, path, scale, model: log.append(("start", path.name, scale, model))))
    got = [(e.result.image, e.result.scale, e.result.model) for e in events]
    assert got == [("b.png", 2, "bicubic"), ("b.png", 2, "x"), ("b.png", 3, "bicubic")]
    assert [(e.done, e.total) for e in events] == [(1, 3), (2, 3), (3, 3)]
    assert read == ["b.png"]
    assert log == [("start", "b.png", 2, "bicubic"), ("start", "b.png", 2, "x"),
                   ("restore", "x"), ("start", "b.png", 3, "bicubic")]
    everything = list(benchmark.run(sets, [2], {"bicubic": None}, with_ifc=False,
                                    skip=lambda *cell: True))
    assert everything == []

def test_run_cancel_stops_and_keeps_what_was_yielded(image_folder):
    sets = collect_datasets([image_folder])
    calls = iter(range(100))
    events = list(benchmark.run(sets, [2], {"bicubic": None}, False,
                                cancel=lambda: next(calls) >= 1))
    assert len(events) == 1 and isinstance(events[0], Scored)


def test_per_image_seconds_are_measured(image_folder):
    """Every result carries the wall time of its restoration: positive, and a deliberately slow
    restorer takes at least as long as it sleeps."""
    import time

    def slow(ilr):
        time.sleep(0.05)
        return ilr

    paths = list_images(image_folder)
    results = list(iter_benchmark(paths, [2], {"bicubic": None, "slow": slow}, with_ifc=False))
    assert all(r.seconds > 0 for r in results)
    assert all(r.seconds >= 0.05 for r in results if r.model == "slow")
    doc = bench_json("Tiny", results)
    assert [i["seconds"] for i in doc["runs"][1]["images"]] == [
        round(r.seconds, 6) for r in results if r.model == "slow"]
    rows = list(csv.DictReader(io.StringIO(bench_csv([doc]))))
    assert list(rows[0]) == list(benchmark.CSV_COLUMNS)
    assert all(float(r["seconds"]) > 0 for r in rows)


def test_bicubic_result_is_the_protocols_ilr(image_folder):
    """Bicubic's restoration is timed by recomputing the ILR: the scores are unchanged."""
    path = list_images(image_folder)[1]
    (result,) = iter_benchmark([path], [3], {"bicubic": "bicubic"})
    assert result.score == evaluate_image(path, 3, "bicubic")
    images = prepare(path, 3)
    from drrn_core.imaging import imresize

    assert np.array_equal(imresize(images.lr_y, 3.0), images.ilr_y)


# -- means and text ---------------------------------------------------------------------------
def test_mean_score_rules():
    scores = [ImageScore(30.0, 0.9, 2.0), ImageScore(32.0, 0.8, 4.0)]
    assert mean_score(scores) == ImageScore(31.0, pytest.approx(0.85), 3.0)
    with_inf = [*scores, ImageScore(math.inf, 1.0, 5.0)]
    assert math.isinf(mean_score(with_inf).psnr)
    assert math.isinf(mean_score([ImageScore(math.inf, 1.0), ImageScore(math.inf, 1.0)]).psnr)
    assert mean_score([*scores, ImageScore(33.0, 0.7, None)]).ifc is None
    with pytest.raises(ValueError):
        mean_score([])


def test_infinite_psnr_in_json_csv_and_text():
    results = [BenchResult("m", 2, "a.png", ImageScore(math.inf, 1.0, None), 1, 2, 0.1),
               BenchResult("m", 2, "b.png", ImageScore(30.0, 0.9, None), 2, 2, 0.2)]
    doc = bench_json("D", results)
    json.dumps(doc, allow_nan=False)
    run = doc["runs"][0]
    assert run["mean"]["psnr"] is None and run["images"][0]["psnr"] is None
    rows = list(csv.DictReader(io.StringIO(bench_csv([doc]))))
    assert [r["psnr"] for r in rows] == ["inf", "30.0"] and rows[0]["ifc"] == ""
    assert format_scores(run["mean"]) == "inf / 0.9500 / -"
    assert format_scores(run["images"][1]) == "30.00 / 0.9000 / -"
    assert format_scores(None) == "-"
    assert format_scores({"psnr": None, "ssim": 0.5}, missing="–",
                         null_psnr_is_inf=False) == "– / 0.5000 / –"


def test_format_score_digits_and_markers():
    assert format_score("psnr", 33.6621) == "33.66"
    assert format_score("ssim", 0.929912) == "0.9299"
    assert format_score("ifc", 6.08349) == "6.083"
    assert format_score("psnr", math.inf, inf="∞") == "∞"
    assert format_score("ifc", None, missing="…") == "…"
    assert format_score("psnr", 30.123456, digits=4) == "30.1235"


# -- paper-style tables -----------------------------------------------------------------------
def test_means_table_bolds_each_rows_best_psnr_and_escapes_latex():
    def run(model, scale, psnr, ssim, ifc=None):
        return {"model": model, "scale": scale, "images": [],
                "mean": {"psnr": psnr, "ssim": ssim, "ifc": ifc}}

    docs = [{"dataset": "Set5", "runs": [run("bicubic", 2, 33.66, 0.9299, 6.083),
                                         run("DRRN_B1U9+", 2, 37.4, 0.9583, 8.001),
                                         run("bicubic", 3, 30.39, 0.8682, 3.58)]},
            {"dataset": "Flat", "runs": [run("bicubic", 2, None, 1.0, 5.0),  # exact: inf
                                         run("DRRN_B1U9+", 2, 50.0, 1.0, 5.0)]}]
    md = benchmark.means_table(docs, "markdown").splitlines()
    assert md[:5] == [
        "| Dataset | Scale | bicubic | DRRN_B1U9+ |", "|---|---|---:|---:|",
        "| Set5 | ×2 | 33.66 / 0.9299 / 6.083 | **37.40 / 0.9583 / 8.001** |",
        "| Set5 | ×3 | **30.39 / 0.8682 / 3.580** | – |",
        "| Flat | ×2 | **inf / 1.0000 / 5.000** | 50.00 / 1.0000 / 5.000 |"]
    assert "PSNR (dB) / SSIM / IFC" in md[-1]
    tex = benchmark.means_table(docs, "latex")
    assert r"Dataset & Scale & bicubic & DRRN\_B1U9+ \\" in tex
    assert r"Set5 & $\times3$ & \textbf{30.39 / 0.8682 / 3.580} & -- \\" in tex
    no_ifc = [{"dataset": "Set5", "runs": [run("bicubic", 4, 28.42, 0.8104)]}]
    alone = benchmark.means_table(no_ifc, "markdown")  # one model: nothing to be best against
    assert "| Set5 | ×4 | 28.42 / 0.8104 |" in alone and "bold" not in alone
    with pytest.raises(ValueError, match="markdown or latex"):
        benchmark.means_table(docs, "html")



# -- results kept between runs ----------------------------------------------------------------
def _result(model, scale, image, psnr, ifc=None):
    return BenchResult(model, scale, image, ImageScore(psnr, 0.9, ifc), 1, 1, 0.5)


def test_results_reuse_only_under_the_same_run_info():
    drrn = RunInfo("ab" * 32, "fp32", with_ifc=False)
    kept = Results()
    assert not kept.add("Set5", _result("DRRN", 2, "a.png", 30.0), drrn, path="/d/a.png")
    kept.add("Set5", _result("DRRN", 2, "b.png", 32.0), drrn)
    kept.add("Set5", _result("bicubic", 2, "a.png", 28.0), RunInfo(with_ifc=False))
    assert len(kept) == 3
    assert kept.reusable("Set5", "a.png", 2, "DRRN", drrn)["psnr"] == 30.0
    for other in (RunInfo("cd" * 32, "fp32", False), RunInfo("ab" * 32, "bf16", False),
                  RunInfo("ab" * 32, "fp32", True)):
        assert kept.reusable("Set5", "a.png", 2, "DRRN", other) is None
    assert kept.reusable("Set5", "a.png", 3, "DRRN", drrn) is None
    assert kept.reusable("Set14", "a.png", 2, "DRRN", drrn) is None

    (doc,) = kept.documents()
    assert [(r["model"], r["weights_sha256"], r["precision"], r["with_ifc"])
            for r in doc["runs"]] == [("DRRN", "ab" * 32, "fp32", False),
                                      ("bicubic", None, None, False)]
    assert doc["runs"][0]["mean"]["psnr"] == 31.0
    assert doc["runs"][0]["images"][0]["path"] == "/d/a.png"  # extra fields are kept
    assert "path" not in kept.documents(extra=False)[0]["runs"][0]["images"][0]

    # A result of other weights replaces the run: older images are not comparable.
    retrained = RunInfo("cd" * 32, "fp32", False)
    assert kept.add("Set5", _result("DRRN", 2, "a.png", 31.0), retrained)
    (doc,) = kept.documents()
    assert [im["image"] for im in doc["runs"][0]["images"]] == ["a.png"]
    assert doc["runs"][0]["weights_sha256"] == "cd" * 32
    kept.add("Set5", _result("DRRN", 2, "a.png", 33.0), retrained)  # the same image: replaced
    assert len(kept) == 2 and kept.documents()[0]["runs"][0]["mean"]["psnr"] == 33.0


def test_results_round_trip_through_a_file(tmp_path):
    info = RunInfo("ef" * 32, "fp32", True)
    kept = Results()
    kept.add("Set5", _result("DRRN", 2, "a.png", math.inf, 3.0), info)
    kept.add("Set14", _result("DRRN", 3, "c.png", 27.5, 2.0), info)
    path = tmp_path / "r.json"
    path.write_text(benchmark.results_text(kept.documents()))
    again = benchmark.read_results(path)
    assert again.documents() == kept.documents()
    assert math.isinf(benchmark.entry_score(again.reusable("Set5", "a.png", 2, "DRRN",
                                                           info)).psnr)
    one = Results()
    one.add("Set5", _result("DRRN", 2, "a.png", 30.0), info)
    assert json.loads(benchmark.results_text(one.documents()))["dataset"] == "Set5"


@pytest.mark.parametrize("content", ["", "{", "[1]", '{"dataset": "S", "runs": [{"scale": 2}]}',
                                     '{"dataset": "S", "runs": [{"model": "m", "scale": 2, '
                                     '"images": [{"image": "a", "ssim": "x"}]}]}'])
def test_a_damaged_results_file_is_one_line(tmp_path, content):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(benchmark.ResultsFileError) as info:
        benchmark.read_results(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_file_sha256(tmp_path):
    import hashlib

    path = tmp_path / "w.bin"
    path.write_bytes(b"weights" * 100_000)
    assert benchmark.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_means_table_names_each_models_weights_hash():
    def run(model, scale, sha):
        return {"model": model, "scale": scale, "weights_sha256": sha, "precision": "fp32",
                "with_ifc": False, "images": [], "mean": {"psnr": 30.0, "ssim": 0.9, "ifc": None}}

    a, b = "0123456789abcdef" + "0" * 48, "fedcba9876543210" + "1" * 48
    docs = [{"dataset": "Set5", "runs": [
        {**run("bicubic", 2, None), "precision": None}, run("DRRN_B1U9", 2, a),
        run("DRRN_B1U9+", 2, a), run("mine", 2, b), run("mine", 3, a)]}]
    assert benchmark.weights_hashes(docs) == {"DRRN_B1U9": [a], "DRRN_B1U9+": [a],
                                              "mine": [b, a]}
    md = benchmark.means_table(docs, "markdown").splitlines()
    assert md[-1] == ("Weights (SHA-256, first 16 hex digits): DRRN_B1U9, DRRN_B1U9+ "
                      "`0123456789abcdef`; mine `fedcba9876543210` and `0123456789abcdef`.")
    tex = benchmark.means_table(docs, "latex").splitlines()
    assert tex[:3] == [r"\begin{table}", r"\centering", tex[2]]
    assert tex[2].startswith(r"\caption{PSNR (dB) / SSIM on Y") and tex[2].endswith(
        r"DRRN\_B1U9, DRRN\_B1U9+ \texttt{0123456789abcdef}; mine \texttt{fedcba9876543210} "
        r"and \texttt{0123456789abcdef}.}")
    assert tex[-2:] == [r"\end{tabular}", r"\end{table}"]
    bicubic_only = [{"dataset": "Set5", "runs": [run("bicubic", 2, None)]}]
    assert "Weights" not in benchmark.means_table(bicubic_only, "markdown")
    assert "Weights" not in benchmark.means_table(bicubic_only, "latex")

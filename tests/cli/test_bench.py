"""`drrn bench`: the protocol over folders, the paper-style table, JSON/CSV, and bad inputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_error_line, sha256
from PIL import Image
from skimage import data

from drrn_core.metrics import evaluate_image

METRICS = {"psnr", "ssim", "ifc"}


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    """A 'Tiny' dataset: three 84x84 crops (two RGB, one grey), big enough for IFC at x4."""
    folder = tmp_path / "Tiny"
    folder.mkdir()
    Image.fromarray(data.astronaut()[40:124, 180:264]).save(folder / "img_001.png")
    Image.fromarray(data.camera()[100:184, 200:284]).save(folder / "img_002.png")
    Image.fromarray(data.coffee()[150:234, 200:284]).save(folder / "img_003.png")
    return folder


def test_json_shape_csv_and_table(drrn, tiny_set, tiny_model, tmp_path):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    result = drrn("bench", tiny_set, "--scale", "2", "3", "--model", "bicubic", "--model",
                  tiny_model, "--json", out_json, "--csv", out_csv, "--per-image")
    assert result.code == 0, result.err
    doc = json.loads(out_json.read_text())
    assert set(doc) == {"dataset", "runs"} and doc["dataset"] == "Tiny"
    assert [(r["model"], r["scale"]) for r in doc["runs"]] == [
        ("bicubic", 2), ("tiny", 2), ("bicubic", 3), ("tiny", 3)]
    sha = sha256(Path(tiny_model))
    for run in doc["runs"]:
        assert set(run) == {"model", "scale", "weights_sha256", "precision", "with_ifc", "mean",
                            "images"}
        drrn_run = run["model"] == "tiny"
        assert run["weights_sha256"] == (sha if drrn_run else None)
        assert run["precision"] == ("fp32" if drrn_run else None) and run["with_ifc"] is True
        assert set(run["mean"]) == METRICS
        assert [im["image"] for im in run["images"]] == ["img_001.png", "img_002.png",
                                                         "img_003.png"]
        assert all(set(im) == {"image", "seconds"} | METRICS for im in run["images"])
        assert all(im["seconds"] > 0 for im in run["images"])
        assert run["mean"]["psnr"] == pytest.approx(np.mean([im["psnr"] for im in run["images"]]))
    expected = evaluate_image(tiny_set / "img_002.png", 3, "bicubic")
    got = doc["runs"][2]["images"][1]
    assert (got["psnr"], got["ssim"], got["ifc"]) == pytest.approx(
        (expected.psnr, expected.ssim, expected.ifc))
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 12
    assert set(rows[0]) == {"dataset", "model", "scale", "image", "seconds"} | METRICS
    assert [float(r["seconds"]) for r in rows] == [
        im["seconds"] for run in doc["runs"] for im in run["images"]]
    mean = doc["runs"][0]["mean"]
    line = next(ln for ln in result.out.splitlines() if ln.startswith("Tiny") and "x2" in ln)
    assert f"{mean['psnr']:.2f} / {mean['ssim']:.4f} / {mean['ifc']:.3f}" in line
    assert "tiny" in result.out and "  img_003.png" in result.out


def test_several_datasets_give_a_json_list(drrn, tiny_set, tmp_path):
    loose = tmp_path / "Loose"
    loose.mkdir()
    Image.fromarray(data.astronaut()[:40, :40]).save(loose / "a.png")
    out = tmp_path / "r.json"
    result = drrn("bench", tiny_set, loose / "a.png", "--scale", "2", "--no-ifc", "--json", out)
    assert result.code == 0, result.err
    doc = json.loads(out.read_text())
    assert [d["dataset"] for d in doc] == ["Tiny", "Loose"]
    image = doc[1]["runs"][0]["images"][0]
    assert image == {"image": "a.png", **doc[1]["runs"][0]["mean"], "seconds": image["seconds"]}
    assert doc[0]["runs"][0]["mean"]["ifc"] is None


def test_bad_image_fails_alone(drrn, tiny_set, tmp_path):
    (tiny_set / "img_000.png").write_bytes(b"")
    out = tmp_path / "r.json"
    result = drrn("bench", tiny_set, "--scale", "2", "--no-ifc", "--json", out)
    assert result.code == 1
    assert_one_error_line(result, "img_000.png")
    assert "1 of 4 failed" in result.err
    images = json.loads(out.read_text())["runs"][0]["images"]
    assert [im["image"] for im in images] == ["img_001.png", "img_002.png", "img_003.png"]


@pytest.mark.parametrize("kind", ["missing", "empty_folder", "text", "truncated_png"])
def test_bad_sources(drrn, bad_files, tmp_path, kind):
    empty = tmp_path / "empty"
    empty.mkdir()
    source = {"missing": tmp_path / "nope", "empty_folder": empty}.get(kind) or bad_files[kind]
    result = drrn("bench", source, "--scale", "2", "--json", tmp_path / "r.json")
    assert_one_error_line(result, source.name)
    assert not (tmp_path / "r.json").exists()


def test_unwritable_json_fails_before_running(drrn, tiny_set, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = drrn("bench", tiny_set, "--scale", "2", "--json", blocker / "r.json")
    assert_one_error_line(result, "r.json")
    assert "Tiny" not in result.out


def test_unknown_model(drrn, tiny_set):
    assert_one_error_line(drrn("bench", tiny_set, "--model", "nosuch"), "nosuch")


def test_drrn_models_are_scored_in_exact_fp32_by_default(drrn, tiny_set, tiny_model, tmp_path):
    """Protocol numbers must not depend on the machine (bf16 units or not): fp32 unless asked."""
    from drrn_core import weights
    from drrn_core.engine import Upscaler

    out = tmp_path / "r.json"
    result = drrn("bench", tiny_set / "img_001.png", "--scale", "3", "--model", tiny_model,
                  "--no-ifc", "--json", out)
    assert result.code == 0, result.err
    got = json.loads(out.read_text())["runs"][0]["images"][0]
    restore = Upscaler(weights.load_weights(tiny_model), precision="fp32").restore_y
    expected = evaluate_image(tiny_set / "img_001.png", 3, restore, with_ifc=False)
    assert (got["psnr"], got["ssim"]) == (expected.psnr, expected.ssim)


def test_unavailable_bench_precision(drrn, tiny_set, tiny_model):
    result = drrn("bench", tiny_set, "--model", tiny_model, "--precision", "fp16", "--device",
                  "cpu")
    assert_one_error_line(result, "fp16")


@pytest.mark.parametrize("scale", ["1", "2.5", "17"])
def test_bad_bench_scale(drrn, tiny_set, scale):
    result = drrn("bench", tiny_set, "--scale", scale)
    assert_one_error_line(result, "scale")
    assert result.code == 2


def _reference(shared: Path) -> dict[tuple[str, int, str], dict[str, str]]:
    path = shared / "data" / "reference" / "bicubic_per_image.csv"
    return {(r["dataset"], int(r["scale"]), r["image"]): r for r in csv.DictReader(path.open())}


def _compare(docs: list[dict], reference: dict, with_ifc: bool) -> int:
    """Assert every image against the reference CSV; the number compared."""
    n = 0
    for doc in docs:
        for run in doc["runs"]:
            for im in run["images"]:
                ref = reference[(doc["dataset"], run["scale"], im["image"])]
                assert im["psnr"] == pytest.approx(float(ref["psnr_y"]), abs=0.005), im
                assert im["ssim"] == pytest.approx(float(ref["ssim_y"]), abs=0.0005), im
                if with_ifc:
                    assert im["ifc"] == pytest.approx(float(ref["ifc_y"]), rel=1e-3), im
                n += 1
    return n


@pytest.mark.shared
def test_bicubic_reproduces_reference_set5_set14(drrn, shared_dir, tmp_path):
    bench = shared_dir / "data" / "benchmark"
    out = tmp_path / "r.json"
    result = drrn("bench", bench / "Set5", bench / "Set14", "--scale", "2", "3", "4",
                  "--model", "bicubic", "--no-ifc", "--json", out)
    assert result.code == 0, result.err
    assert _compare(json.loads(out.read_text()), _reference(shared_dir), False) == 3 * (5 + 14)
    assert "33.66 / 0.9299 / -" in result.out


@pytest.mark.shared
@pytest.mark.slow
def test_bicubic_ifc_reproduces_reference_set5(drrn, shared_dir, tmp_path):
    out = tmp_path / "r.json"
    result = drrn("bench", shared_dir / "data" / "benchmark" / "Set5", "--scale", "2", "3", "4",
                  "--json", out)
    assert result.code == 0, result.err
    reference = _reference(shared_dir)
    assert _compare([json.loads(out.read_text())], reference, True) == 15
    for scale in (2, 3, 4):  # the table's means, rounded as the paper's
        rows = [r for (d, s, _), r in reference.items() if (d, s) == ("Set5", scale)]
        psnr, ssim, ifc = (np.mean([float(r[k]) for r in rows]) for k in ("psnr_y", "ssim_y",
                                                                            "ifc_y"))
        assert f"Set5     x{scale}     {psnr:.2f} / {ssim:.4f} / {ifc:.3f}" in result.out


def test_two_folders_of_one_name_are_told_apart_as_in_the_app(drrn, tmp_path):
    """One naming rule (drrn_core.metrics.benchmark.dataset_names) for `drrn bench` and the tab."""
    for parent in ("a", "b"):
        (tmp_path / parent / "Set").mkdir(parents=True)
        Image.fromarray(data.astronaut()[:40, :40]).save(tmp_path / parent / "Set" / "x.png")
    out = tmp_path / "r.json"
    result = drrn("bench", tmp_path / "a" / "Set", tmp_path / "b" / "Set", "--scale", "2",
                  "--no-ifc", "--json", out)
    assert result.code == 0, result.err
    assert [d["dataset"] for d in json.loads(out.read_text())] == ["a/Set", "b/Set"]


def test_ground_truth_over_the_bench_pixel_limit_fails_alone(drrn, tiny_set):
    """The protocol holds float64 copies of each GT: `drrn bench` refuses GT images over its
    own limit (limits.MAX_BENCH_PIXELS by default) with one line, scores the rest, and
    --max-pixels raises it."""
    from drrn_core import limits

    assert limits.MAX_BENCH_PIXELS < limits.MAX_INPUT_PIXELS
    Image.fromarray(data.astronaut()[:100, :120]).save(tiny_set / "img_004.png")  # 12,000 px
    result = drrn("bench", tiny_set, "--scale", "2", "--no-ifc", "--max-pixels", "10000")
    assert result.code == 1
    assert "img_004.png: 120x100 (0.0 MP) is over the 0.01 MP limit" in result.err
    assert "Tiny" in result.out  # the three 84x84 images were scored
    assert drrn("bench", tiny_set, "--scale", "2", "--no-ifc", "--max-pixels", "12000").code == 0


def test_a_plus_after_the_model_scores_its_self_ensemble(drrn, tiny_set, tiny_model, tmp_path):
    """`--model PATH+` (or NAME+) is the model's self-ensemble, named NAME+ as in SR tables."""
    import torch

    from drrn_core import weights
    from drrn_core.engine import Upscaler

    loaded = weights.load_weights(tiny_model)
    with torch.no_grad():  # random weights saturate; scaled down, the residual stays small
        for param in loaded.model.parameters():
            param.mul_(0.3)
    tiny_model = weights.save_weights(tmp_path / "tiny.safetensors", loaded.model,
                                      loaded.descriptor, {})
    out = tmp_path / "r.json"
    result = drrn("bench", tiny_set / "img_001.png", "--scale", "3", "--model", tiny_model,
                  "--model", f"{tiny_model}+", "--no-ifc", "--json", out)
    assert result.code == 0, result.err
    runs = {r["model"]: r["images"][0] for r in json.loads(out.read_text())["runs"]}
    assert set(runs) == {"tiny", "tiny+"}
    restore = Upscaler(weights.load_weights(tiny_model), precision="fp32",
                       ensemble=True).restore_y
    expected = evaluate_image(tiny_set / "img_001.png", 3, restore, with_ifc=False)
    assert (runs["tiny+"]["psnr"], runs["tiny+"]["ssim"]) == (expected.psnr, expected.ssim)
    assert runs["tiny+"]["psnr"] != runs["tiny"]["psnr"]


def test_table_of_means_as_markdown_and_latex(drrn, tiny_set, tiny_model, tmp_path):
    """--table FILE.md / FILE.tex: the means to paste into a paper, best PSNR of a row in bold."""
    md, tex, data = tmp_path / "t.md", tmp_path / "t.tex", tmp_path / "r.json"
    for table in (md, tex):
        result = drrn("bench", tiny_set, "--scale", "2", "--no-ifc", "--json", data,
                      "--table", table, "--model", "bicubic", "--model", tiny_model)
        assert result.code == 0, result.err
    doc = json.loads(data.read_text())
    means = {run["model"]: run["mean"] for run in doc["runs"]}
    cells = {m: f"{v['psnr']:.2f} / {v['ssim']:.4f}" for m, v in means.items()}
    best = max(means, key=lambda m: means[m]["psnr"])
    shown = {m: f"**{c}**" if m == best else c for m, c in cells.items()}
    assert md.read_text().splitlines()[:3] == [
        "| Dataset | Scale | bicubic | tiny |", "|---|---|---:|---:|",
        f"| {doc['dataset']} | ×2 | {shown['bicubic']} | {shown['tiny']} |"]
    assert rf"\textbf{{{cells[best]}}}" in tex.read_text()
    assert r"\begin{tabular}{llcc}" in tex.read_text()
    # Each model's weights are named by their hash: a footnote line, a LaTeX caption.
    short = sha256(Path(tiny_model))[:16]
    assert md.read_text().splitlines()[-1] == (
        f"Weights (SHA-256, first 16 hex digits): tiny `{short}`.")
    caption = next(ln for ln in tex.read_text().splitlines() if ln.startswith(r"\caption{"))
    assert caption.endswith(rf"tiny \texttt{{{short}}}.}}") and "bicubic" not in caption


def test_bad_table_files_are_refused_before_running(drrn, tiny_set, tmp_path):
    assert_one_error_line(drrn("bench", tiny_set, "--table", tmp_path / "t.txt"), ".md", ".tex")
    same = tmp_path / "r.md"
    assert_one_error_line(drrn("bench", tiny_set, "--csv", same, "--table", same), "same file")
    assert not same.exists()


# -- --resume FILE.json: only what the file lacks is computed -----------------------------------
def _runs(path: Path) -> dict[tuple[str, int], dict]:
    return {(r["model"], r["scale"]): r for r in json.loads(path.read_text())["runs"]}


def test_resume_computes_only_the_missing_cells(drrn, tiny_set, tiny_model, tmp_path):
    saved = tmp_path / "r.json"
    first = drrn("bench", tiny_set, "--scale", "2", "--no-ifc", "--resume", saved)
    assert first.code == 0, first.err
    assert "0 of 3 results reused, 3 to compute" in first.err  # a new file is started
    # Mark a kept result: a reused result is copied, never computed again.
    doc = json.loads(saved.read_text())
    doc["runs"][0]["images"][0]["psnr"] = 99.0
    saved.write_text(json.dumps(doc))

    more = drrn("bench", tiny_set, "--scale", "2", "3", "--no-ifc", "--model", "bicubic",
                "--model", tiny_model, "--resume", saved)
    assert more.code == 0, more.err
    assert "3 of 12 results reused, 9 to compute" in more.err
    runs = _runs(saved)
    assert list(runs) == [("bicubic", 2), ("tiny", 2), ("bicubic", 3), ("tiny", 3)]
    assert runs[("bicubic", 2)]["images"][0]["psnr"] == 99.0
    for run in runs.values():
        assert [im["image"] for im in run["images"]] == ["img_001.png", "img_002.png",
                                                         "img_003.png"]
    expected = evaluate_image(tiny_set / "img_002.png", 3, "bicubic", with_ifc=False)
    assert runs[("bicubic", 3)]["images"][1]["psnr"] == pytest.approx(expected.psnr)
    # The mean is that of the merged images, the printed table is the whole file's.
    assert runs[("bicubic", 2)]["mean"]["psnr"] == pytest.approx(
        np.mean([im["psnr"] for im in runs[("bicubic", 2)]["images"]]))
    assert "tiny" in more.out and "x3" in more.out

    again = drrn("bench", tiny_set, "--scale", "3", "--no-ifc", "--model", tiny_model,
                 "--resume", saved)
    assert "3 of 3 results reused, 0 to compute" in again.err
    assert _runs(saved) == runs


def test_resume_recomputes_results_of_other_weights_or_choices(drrn, tiny_set, tiny_model,
                                                               tmp_path):
    import torch

    from drrn_core import weights

    saved = tmp_path / "r.json"
    assert drrn("bench", tiny_set, "--scale", "2", "3", "--no-ifc", "--model", tiny_model,
                "--resume", saved).code == 0
    before = _runs(saved)
    old_sha = sha256(Path(tiny_model))
    assert {r["weights_sha256"] for r in before.values()} == {old_sha}

    loaded = weights.load_weights(tiny_model)  # "retrained": other weights in the same file
    with torch.no_grad():
        for param in loaded.model.parameters():
            param.mul_(0.5)
    retrained = weights.save_weights(tiny_model, loaded.model, loaded.descriptor, {})
    assert sha256(retrained) != old_sha
    result = drrn("bench", tiny_set, "--scale", "2", "--no-ifc", "--model", tiny_model,
                  "--resume", saved)
    assert "0 of 3 results reused, 3 to compute" in result.err
    after = _runs(saved)
    assert after[("tiny", 2)]["weights_sha256"] == sha256(retrained)
    assert [im["psnr"] for im in after[("tiny", 2)]["images"]] != [
        im["psnr"] for im in before[("tiny", 2)]["images"]]
    assert after[("tiny", 3)] == before[("tiny", 3)]  # not asked for: kept as it was

    with_ifc = drrn("bench", tiny_set, "--scale", "3", "--model", tiny_model, "--resume", saved)
    assert "0 of 3 results reused" in with_ifc.err  # computed without IFC: not reusable
    run = _runs(saved)[("tiny", 3)]
    assert run["with_ifc"] is True and all(im["ifc"] is not None for im in run["images"])


def test_resume_reuses_nothing_from_a_file_that_names_no_weights(drrn, tiny_set, tmp_path):
    """A JSON without weights hashes (written before they were) is recomputed, not trusted."""
    saved = tmp_path / "r.json"
    assert drrn("bench", tiny_set, "--scale", "2", "--no-ifc", "--json", saved).code == 0
    doc = json.loads(saved.read_text())
    for run in doc["runs"]:
        for key in ("weights_sha256", "precision", "with_ifc"):
            del run[key]
    saved.write_text(json.dumps(doc))
    result = drrn("bench", tiny_set, "--scale", "2", "--no-ifc", "--resume", saved)
    assert result.code == 0 and "0 of 3 results reused" in result.err
    assert _runs(saved)[("bicubic", 2)]["with_ifc"] is False


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"dataset": "Tiny"}'])
def test_a_damaged_resume_file_is_one_error_and_left_alone(drrn, tiny_set, tmp_path, content):
    saved = tmp_path / "r.json"
    saved.write_text(content)
    result = drrn("bench", tiny_set, "--scale", "2", "--no-ifc", "--resume", saved)
    assert_one_error_line(result, "r.json", "drrn bench --json")
    assert saved.read_text() == content

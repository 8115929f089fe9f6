"""The Compare tab: both modes, protocol-exact readouts, cancel, stale results, responsiveness,
linked panes, split view and error maps."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QElapsedTimer, QTimer

from app.services import pipeline
from drrn_core import weights
from drrn_core.engine import Upscaler
from drrn_core.imaging import imresize
from drrn_core.metrics import protocol

TINY, MEDIUM = "tiny", "medium"  # the models tests/app/conftest.py saves


@pytest.fixture
def gt_png(tmp_path, astronaut_rgb):
    """A 96x96 ground truth crop (face and helmet edge) of the astronaut."""
    path = tmp_path / "gt.png"
    Image.fromarray(np.ascontiguousarray(astronaut_rgb[80:176, 160:256])).save(path)
    return path


def test_evaluation_readouts_are_the_protocols_numbers(window, gt_png, wait_idle):
    window.compare.set_mode("evaluate")
    window.compare.controls.scale.setValue(2)
    # exact fp32 whatever the Precision box says, with the engine set up as `drrn bench` does
    window.compare.controls.precision.setCurrentText("bf16")
    assert not window.compare.controls.precision.isEnabled()
    assert window.open_path(gt_png)
    wait_idle(window)
    gt = np.asarray(Image.open(gt_png))
    bicubic = protocol.evaluate_image(gt, 2, "bicubic")
    restorer = Upscaler(weights.resolve_model(TINY), precision="fp32").restore_y
    drrn = protocol.evaluate_image(gt, 2, restorer)
    # the DRRN image shown is that same fp32 result, coloured by the protocol's view images
    view = protocol.prepare_view(gt, 2)
    shown = window.compare.results["drrn"][0]
    assert np.array_equal(shown, view.colour(restorer(view.images.ilr_y)))
    assert np.array_equal(window.compare.results["gt"][0], view.gt)
    got = window.compare.scores
    assert got["bicubic"] == bicubic  # exactly what `drrn bench` computes
    assert got["drrn"] == drrn
    assert "fp32" in window.compare.provenance and "as drrn bench" in window.compare.provenance
    readouts = window.compare.controls.readouts
    assert readouts.text("bicubic", 0) == f"{bicubic.psnr:.2f}"
    assert readouts.text("bicubic", 1) == f"{bicubic.ssim:.4f}"
    assert readouts.text("drrn", 2) == f"{drrn.ifc:.3f}"
    results = window.compare.results
    assert results["input"][0].shape == (48, 48, 3)
    assert results["gt"][0].shape == results["drrn"][0].shape == (96, 96, 3)
    for key in ("gt", "err_bicubic", "err_drrn"):
        assert window.compare.grid.panes[key].isVisible()
        assert window.compare.grid.panes[key].has_image()
    err = window.compare.grid.panes["err_bicubic"].error
    prepared = protocol.prepare(gt, 2)
    expected = np.abs(protocol.quantize(prepared.ilr_y).astype(float)
                      - protocol.quantize(prepared.gt_y))
    assert np.array_equal(err, expected)
    assert "dB" in window.compare.grid.panes["bicubic"].title_text()


def test_self_ensemble_is_scored_as_drrn_bench_scores_name_plus(window, gt_png, wait_idle,
                                                                qtbot):
    """Ticking Self-ensemble evaluates MODEL+ (8 flips and rotations averaged): the scores are
    `drrn bench --model MODEL+`'s, and every label says MODEL+."""
    window.compare.set_mode("evaluate")
    window.compare.controls.scale.setValue(2)
    window.compare.controls.ensemble.setChecked(True)
    assert window.open_path(gt_png)
    wait_idle(window)
    gt = np.asarray(Image.open(gt_png))
    plain = protocol.evaluate_image(
        gt, 2, Upscaler(weights.resolve_model(TINY), precision="fp32").restore_y)
    plus = protocol.evaluate_image(gt, 2, Upscaler(weights.resolve_model(TINY), precision="fp32",
                                                   ensemble=True).restore_y)
    assert window.compare.scores["drrn"] == plus != plain
    assert "self-ensemble x8" in window.compare.provenance
    assert window.compare.grid.panes["drrn"].title_text().startswith(f"DRRN ({TINY}+)")
    assert window.compare.score_provenance().model == f"{TINY}+"
    gen = window.compare.generation.current
    window.compare.controls.ensemble.setChecked(False)  # unticked: the plain model again
    qtbot.waitUntil(lambda: window.compare.generation.current > gen, timeout=2000)
    wait_idle(window)
    assert window.compare.scores["drrn"] == plain


def test_ifc_arrives_after_psnr_and_ssim(astronaut_rgb):
    gt = np.ascontiguousarray(astronaut_rgb[80:176, 160:256])
    req = pipeline.Request(image=gt, mode="evaluate", scale=2, model=TINY)
    scores = [e for e in pipeline.run(req, lambda f: None, lambda: False)
              if isinstance(e, pipeline.Scores)]
    assert [(s.key, s.score.ifc is None) for s in scores] == [
        ("bicubic", True), ("drrn", True), ("bicubic", False), ("drrn", False)]


def test_lr_hr_pair_is_evaluated_at_its_scale(window, tmp_path, astronaut_rgb, wait_idle):
    hr = np.ascontiguousarray(astronaut_rgb[80:176, 160:256])
    lr = np.clip(imresize(hr.astype(float) / 255, 1 / 3) * 255 + 0.5, 0, 255).astype(np.uint8)
    Image.fromarray(hr).save(tmp_path / "hr.png")
    Image.fromarray(lr).save(tmp_path / "lr.png")
    assert window.open_pair(tmp_path / "lr.png", tmp_path / "hr.png")
    wait_idle(window)
    assert window.compare.mode == "evaluate"
    assert window.compare.controls.scale_value() == 3
    lr_y = protocol.gt_luma(lr)
    expected = protocol.score(protocol.gt_luma(hr), imresize(lr_y, 3.0), 3)
    assert window.compare.scores["bicubic"] == expected
    assert not window.open_pair(tmp_path / "hr.png", tmp_path / "hr.png")
    assert "Not an LR + HR pair" in window.statusBar().currentMessage()


def test_any_scale_and_target_size_in_upscale_mode(window, astro_png, run_compare):
    window.open_path(astro_png)
    c = window.compare.controls
    c.scale.setValue(1.5)
    run_compare(window)
    assert window.compare.results["drrn"][0].shape == (72, 72, 3)
    c.use_size.setChecked(True)
    c.width_box.setValue(100)
    assert c.height_box.value() == 100  # aspect kept
    run_compare(window)
    assert window.compare.results["drrn"][0].shape == (100, 100, 3)
    c.set_mode("evaluate")
    assert not c.use_size.isEnabled() and c.scale_value() == 2.0
    assert c.scale.minimum() == 2 and c.scale.decimals() == 0


def test_stale_results_never_overwrite_newer_ones(window, astro_png, wait_idle):
    window.open_path(astro_png)
    first = window.compare.generation.current
    window.compare.controls.scale.setValue(3)
    second = window.compare.run()
    assert second > first
    wait_idle(window)
    assert window.compare.results["drrn"][0].shape == (144, 144, 3)
    stale = pipeline.Stage("drrn", np.zeros((96, 96, 3)), (96, 96))
    window.compare._on_item(first, stale)
    assert window.compare.results["drrn"][0].shape == (144, 144, 3)
    assert window.compare.grid.panes["drrn"].output_size == (144, 144)


def test_changing_the_model_reruns(window, astro_png, wait_idle, qtbot):
    window.open_path(astro_png)
    wait_idle(window)
    gen = window.compare.generation.current
    window.compare.controls.model.setCurrentIndex(0)  # Bicubic only: debounced re-run
    qtbot.waitUntil(lambda: window.compare.generation.current > gen, timeout=2000)
    wait_idle(window)
    assert "drrn" not in window.compare.results
    assert window.compare.grid.panes["drrn"].placeholder.text().startswith("No model")


@pytest.fixture
def big_png(tmp_path, astronaut_rgb):
    path = tmp_path / "big.png"
    Image.fromarray(astronaut_rgb[:256, :256]).save(path)
    return path


def test_cancel_stops_within_a_second(window, big_png, qtbot, select_model, monkeypatch):
    from drrn_core.engine import Upscaler

    real, started = Upscaler._run_tile, threading.Event()

    def slower(self, x, cancel):  # a tile in flight when cancel comes, however fast the CPU
        started.set()
        time.sleep(0.3)
        return real(self, x, cancel)

    monkeypatch.setattr(Upscaler, "_run_tile", slower)
    select_model(window, MEDIUM)
    window.compare.controls.scale.setValue(4)
    window.open_path(big_png)
    job = window.compare.job
    qtbot.waitUntil(started.is_set, timeout=20000)
    t0 = time.monotonic()
    window.compare.cancel()
    assert not window.compare.is_busy()
    assert window.compare.controls.progress.format() == "Cancelled"
    assert job.wait(1000), "the worker did not stop within a second"
    assert time.monotonic() - t0 < 1.0
    qtbot.waitUntil(lambda: not job.is_running(), timeout=2000)
    assert "drrn" not in window.compare.results


def test_gui_stays_responsive_during_a_run(window, big_png, qtbot, wait_idle, select_model):
    select_model(window, MEDIUM)
    window.compare.controls.scale.setValue(2)
    window.compare.controls.precision.setCurrentText("fp32")  # as long on CPUs with bf16 units
    assert window.compare.controls.precision.currentText() == "fp32"
    gaps: list[int] = []
    clock = QElapsedTimer()
    timer = QTimer(interval=10)

    def tick():
        gaps.append(clock.restart())

    timer.timeout.connect(tick)
    clock.start()
    timer.start()
    window.open_path(big_png)
    wait_idle(window, 30000)
    timer.stop()
    assert "drrn" in window.compare.results
    assert len(gaps) > 20
    assert max(gaps[1:]) < 250, f"event loop blocked for {max(gaps[1:])} ms"


def test_panes_are_linked_and_report_pixels(window, astro_png, wait_idle, qtbot):
    window.open_path(astro_png)
    wait_idle(window)
    qtbot.wait(50)
    compare = window.compare
    compare.fit()
    compare.zoom_in()
    panes = [compare.grid.panes[k] for k in ("input", "bicubic", "drrn")]
    centres = {(round(p.view.viewRect().center().x(), 3), round(p.view.viewRect().center().y(), 3))
               for p in panes}
    upps = {round(p.units_per_pixel(), 4) for p in panes}
    assert len(centres) == 1 and len(upps) == 1
    panes[1].view.translateBy(x=5, y=3)
    compare.sync.follow(panes[1])
    c0, c1 = panes[0].view.viewRect().center(), panes[1].view.viewRect().center()
    assert (c0.x(), c0.y()) == pytest.approx((c1.x(), c1.y()))
    compare.actual_size()
    assert panes[2].units_per_pixel() == pytest.approx(1.0, rel=1e-3)
    texts = []
    compare.hoverText.connect(texts.append)
    compare._on_hover(10.5, 20.5)
    bic = compare.results["bicubic"][0]
    expected = "(" + ",".join(str(int(v)) for v in np.clip(bic[20, 10] * 255 + 0.5, 0, 255)) + ")"
    assert texts[-1].startswith("x 10, y 20") and f"Bic {expected}" in texts[-1]


def test_split_view_and_error_scale(window, gt_png, wait_idle, qtbot):
    window.compare.set_mode("evaluate")
    window.open_path(gt_png)
    wait_idle(window)
    window.actions["split"].trigger()
    split = window.compare.split
    assert window.compare.split_active() and window.actions["split"].isChecked()
    assert split.choice() == ("bicubic", "drrn")
    split.choose("input", "gt")
    split.set_divider(30)
    assert split.clip.rect().left() == 30
    assert split.value_at(10, 10).startswith("Input") and split.value_at(50, 10).startswith(
        "Ground truth")
    low, high = window.compare.error_scale.bar.levels()
    assert low == 0 and high >= 1
    window.actions["split"].trigger()
    assert not window.compare.split_active()


def test_evaluation_scores_copy_as_csv_markdown_latex_with_provenance(window, gt_png,
                                                                      wait_idle, model_store):
    """Researchers' export: the very numbers of the readouts, with image, scale, the model
    file's SHA-256 and what DRRN ran on."""
    import csv
    import hashlib
    import io as _io

    from PySide6.QtGui import QGuiApplication

    window.compare.set_mode("evaluate")
    window.compare.controls.scale.setValue(3)
    assert window.open_path(gt_png)
    wait_idle(window)
    scores = window.compare.scores
    sha = hashlib.sha256((model_store / "models" / "tiny.safetensors").read_bytes()).hexdigest()
    window.compare.copy_scores("CSV")
    rows = list(csv.DictReader(_io.StringIO(QGuiApplication.clipboard().text())))
    assert [r["method"] for r in rows] == ["Bicubic", "DRRN"]
    assert float(rows[1]["psnr_db"]) == pytest.approx(scores["drrn"].psnr, abs=1e-6)
    assert float(rows[0]["ifc"]) == pytest.approx(scores["bicubic"].ifc, abs=1e-6)
    assert rows[1]["model_sha256"] == sha and rows[1]["scale"] == "3"
    assert window.compare.provenance and rows[1]["ran_on"] == window.compare.provenance
    md = window.compare.scores_text("Markdown")
    assert f"| DRRN | {scores['drrn'].psnr:.2f} | {scores['drrn'].ssim:.4f} |" in md
    assert f"model sha256: {sha}" in md and "image: gt.png" in md
    tex = window.compare.scores_text("LaTeX")
    assert "\\begin{tabular}" in tex and f"Bicubic & {scores['bicubic'].psnr:.2f}" in tex
    assert f"% model sha256: {sha}" in tex


def test_evaluate_reads_the_ground_truth_as_bench_does(window, tmp_path, astronaut_rgb,
                                                        wait_idle):
    """A JPEG with an EXIF rotation: upscale mode shows it rotated (as a photo viewer does),
    the evaluate view scores it unrotated, as `drrn bench` (and MATLAB's imread) read it."""
    from drrn_core.metrics.protocol import read_gt

    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(np.ascontiguousarray(astronaut_rgb[80:181, 150:247])).save(
        path, exif=exif.tobytes(), quality=95)
    window.compare.set_mode("evaluate")
    window.compare.controls.scale.setValue(2)
    assert window.open_path(path)
    wait_idle(window)
    assert window.compare.source.image.shape[:2] == (97, 101)  # the opened photo, rotated
    assert window.compare.results["gt"][0].shape == (100, 96, 3)
    assert window.compare.scores["bicubic"] == protocol.evaluate_image(read_gt(path), 2)
    assert window.compare.scores["drrn"] == protocol.evaluate_image(
        path, 2, Upscaler(weights.resolve_model(TINY), precision="fp32").restore_y)

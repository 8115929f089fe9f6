"""The tabs' upscalers: each tab (owner) has its own engine, and an engine's notices reach the job
that caused them, never another tab's."""

from __future__ import annotations

import threading

import pytest

from app.services import upscalers
from app.tabs.batch import BatchEvent

TINY = "tiny"


@pytest.fixture(autouse=True)
def _fresh(app_env):
    upscalers.forget_models()
    yield
    upscalers.forget_models()


def test_each_owner_has_its_own_engine():
    compare = upscalers.upscaler_for(TINY, owner="compare")
    batch = upscalers.upscaler_for(TINY, owner="batch")
    assert compare is not batch
    assert upscalers.upscaler_for(TINY, owner="compare") is compare  # cached per owner
    batch.tile = 16  # what out-of-memory recovery does to a tab's engine
    assert compare.tile != 16


def test_an_owner_keeps_its_last_choices_only():
    first = upscalers.upscaler_for(TINY, precision="fp32", owner="batch")
    for precision in ("auto", "fp32-fast"):
        upscalers.upscaler_for(TINY, precision=precision, owner="batch")
    assert upscalers.upscaler_for(TINY, precision="fp32", owner="batch") is not first
    kept = [key for key in upscalers._CACHE.items if key[0] == "batch"]
    assert len(kept) == upscalers.PER_OWNER


def test_a_notice_reaches_only_the_job_that_caused_it():
    """Batch's engine falls back while Compare's job drains its notices: Compare gets none."""
    up = upscalers.upscaler_for(TINY, owner="batch")
    upscalers.take_notices()  # whatever loading said on this thread
    said, drained = threading.Event(), threading.Event()
    seen: dict[str, list[str]] = {}

    def batch_job() -> None:
        up.notice("ncnn failed: continuing with PyTorch")
        said.set()
        drained.wait(10)
        seen["batch"] = upscalers.take_notices()

    def compare_job() -> None:
        said.wait(10)
        seen["compare"] = upscalers.take_notices()
        drained.set()

    jobs = [threading.Thread(target=batch_job), threading.Thread(target=compare_job)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert seen == {"batch": ["ncnn failed: continuing with PyTorch"], "compare": []}


def test_a_batch_shows_its_engine_notice(qtbot, tmp_path, monkeypatch):
    """A fallback during a batch is said in the Batch tab, once."""
    from PIL import Image
    from PySide6.QtCore import Qt
    from skimage import data

    from app.tabs import batch as batch_module
    from app.tabs.batch import BatchTab

    real = batch_module.upscaler_for

    def noisy(*args, **kwargs):
        up = real(*args, **kwargs)
        up.notice("Vulkan failed: continuing on the CPU.")
        return up

    monkeypatch.setattr(batch_module, "upscaler_for", noisy)
    (tmp_path / "in").mkdir()
    Image.fromarray(data.camera()[:24, :30]).save(tmp_path / "in" / "a.png")
    tab = BatchTab()
    qtbot.addWidget(tab)
    tab.input_field.set_path(tmp_path / "in")
    tab.output_field.set_path(tmp_path / "out")
    tab.model_combo.setCurrentIndex(tab.model_combo.findText(TINY, Qt.MatchFlag.MatchContains))
    events: list[BatchEvent] = []
    tab.start()
    tab._job.yielded.connect(events.append)
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=30_000)
    assert [e.detail for e in events if e.kind == "notice"] == [
        "Vulkan failed: continuing on the CPU."]
    assert "Vulkan failed" in tab.message.text()
    assert upscalers.take_notices() == []  # nothing left for Compare's next run


def test_a_benchmark_shows_its_engine_notices(qtbot, tmp_path, monkeypatch):
    """Notices while loading (the plan) and while running reach the Benchmark tab's banner."""
    from PIL import Image
    from PySide6.QtCore import Qt
    from skimage import data

    from app.tabs import benchmark as bench_module
    from app.tabs.benchmark import BenchmarkTab

    real = bench_module.upscaler_for
    said = iter(["Out of memory on the GPU: continuing on the CPU (slower).",
                 "ncnn failed (test): continuing with PyTorch on the CPU."])

    def noisy(*args, **kwargs):
        up = real(*args, **kwargs)
        text = next(said, None)
        if text:
            up.notice(text)
        return up

    monkeypatch.setattr(bench_module, "upscaler_for", noisy)
    folder = tmp_path / "Tiny"
    folder.mkdir()
    Image.fromarray(data.camera()[:48, :48]).save(folder / "a.png")
    tab = BenchmarkTab()
    qtbot.addWidget(tab)
    tab.add_dataset(folder)
    for s, check in tab.scale_checks.items():
        check.setChecked(s == 2)
    tab.ifc_check.setChecked(False)
    for row in range(tab.models.count()):
        item = tab.models.item(row)
        if item.data(Qt.ItemDataRole.UserRole).name == TINY:
            item.setCheckState(Qt.CheckState.Checked)
    shown: list[str] = []
    monkeypatch.setattr(tab.message, "show_info", shown.append)
    tab.start()
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=60_000)
    assert shown == ["Out of memory on the GPU: continuing on the CPU (slower).",
                     "ncnn failed (test): continuing with PyTorch on the CPU."]

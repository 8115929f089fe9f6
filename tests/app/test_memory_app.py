"""Long runs keep their memory (issue 25.2), the app's side: nothing of a finished job, nor of
a photo no longer open, stays alive (benchmarks/bench_soak.py --parts photos measures RSS)."""

from __future__ import annotations

import gc
import weakref

import numpy as np
from PIL import Image

from app.workers import Job, start_job


def _alive(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def test_a_finished_job_keeps_nothing_of_its_run(qtbot):
    """A handler that holds its job (``lambda job=job: ...``, as the tabs connect them) made a
    cycle through Qt that Python's collector cannot see: every job stayed alive with the
    arguments its function was given (the Compare tab's: the opened photo's pixels)."""
    pixels = np.ones((64, 64, 3), np.float32)
    pixels_ref = weakref.ref(pixels)

    def work(ctx, image):
        return float(image.sum())

    job = start_job(work, pixels, name="memory")
    job.finished.connect(lambda job=job: job.result)
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert job.result == 64 * 64 * 3
    job_ref = weakref.ref(job)
    del job, pixels
    qtbot.wait(20)  # the event loop's next turn: a finished job is let go after it
    gc.collect()
    assert pixels_ref() is None, "the finished job's thread still holds its arguments"
    assert job_ref() is None, "the finished job is kept by its own handlers"


def test_opening_photos_one_after_another_keeps_only_the_open_one(window, wait_idle, tmp_path,
                                                                   astronaut_rgb):
    """Six photos opened one after another, each previewed in the Compare tab: the jobs of
    the earlier ones and their pixels are gone (each job kept its photo: +400 MB over the
    soak's 40 photos)."""
    refs = []
    for i in range(6):
        path = tmp_path / f"photo{i}.png"
        y, x = 20 * i, 30 * i
        Image.fromarray(np.ascontiguousarray(astronaut_rgb[y:y + 72, x:x + 88])).save(path)
        assert window.open_path(path)
        refs.append(weakref.ref(window.document.current.image))
        wait_idle(window)
    qtbot_wait_turn(window)
    kept = [i for i, r in enumerate(refs[:-1]) if r() is not None]
    assert kept == [], f"the pixels of earlier photos {kept} are still alive"
    assert refs[-1]() is not None  # the open photo itself
    assert _alive(Job) <= 2, "finished jobs are kept"  # the current run's, the device list's


def qtbot_wait_turn(window) -> None:
    from PySide6.QtCore import QCoreApplication

    for _ in range(3):
        QCoreApplication.processEvents()
    gc.collect()


def test_display_conversion_is_the_rounded_samples_with_one_temporary():
    """Float results become display uint8 (x * 255 + 0.5, clipped, truncated) computed in one
    float32 array in place: a 12 MP result's conversion made three 144 MB temporaries."""
    from app.views.image_pane import to_display_u8

    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        image = rng.uniform(-0.2, 1.2, (37, 41, 3)).astype(dtype)
        image[0, 0] = (0.5 / 255, 254.5 / 255, 1.0)  # halves round up, as the saved files do
        expected = np.floor(np.clip(image.astype(np.float32) * np.float32(255) + np.float32(0.5),
                                    0, 255)).astype(np.uint8)
        shown = to_display_u8(image)
        assert shown.dtype == np.uint8 and shown.flags.c_contiguous
        assert np.array_equal(shown, expected)
        assert tuple(shown[0, 0]) == (1, 255, 255)


def test_the_split_view_converts_a_result_once(qtbot, monkeypatch):
    """Compare offers the split view every result again after each new one: a result already
    converted for display keeps its conversion; a new array under the same key is converted."""
    from app.views import split_view

    calls = []
    real = split_view.to_display_u8
    monkeypatch.setattr(split_view, "to_display_u8",
                        lambda a, **k: calls.append(a.shape) or real(a, **k))
    view = split_view.SplitPane()
    qtbot.addWidget(view)
    bicubic = np.full((20, 30, 3), 0.25, np.float32)
    drrn = np.full((20, 30, 3), 0.75, np.float32)
    view.set_sources({"bicubic": ("Bicubic", bicubic, (30, 20))})
    view.set_sources({"bicubic": ("Bicubic", bicubic, (30, 20)),
                      "drrn": ("DRRN", drrn, (30, 20))})
    assert len(calls) == 2  # each array once
    assert view.value_at(25, 5) == "DRRN (191,191,191)"
    assert view.value_at(2, 5) == "Bicubic (64,64,64)"
    view.set_sources({"bicubic": ("Bicubic", bicubic, (30, 20)),
                      "drrn": ("DRRN", drrn.copy() * 0, (30, 20))})  # a new DRRN result
    assert len(calls) == 3
    assert view.value_at(25, 5) == "DRRN (0,0,0)"

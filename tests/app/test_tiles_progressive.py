"""Tiles of a whole-image run appear in the DRRN pane as they finish."""

from __future__ import annotations

import numpy as np

from app.services import pipeline, upscalers
from app.tabs.compare import CompareTab


def test_the_drrn_pane_shows_finished_tiles_before_the_run_ends(window, photo_png, wait_idle,
                                                                 monkeypatch):
    monkeypatch.setattr(upscalers, "CPU_TILE", 48)  # 20 tiles on this small photo
    monkeypatch.setattr(pipeline, "PARTIAL_INTERVAL_S", 0.0)  # every tile (a tiny model is fast)
    monkeypatch.setattr(pipeline, "PARTIAL_PIXELS_PER_S", float("inf"))
    monkeypatch.setattr(pipeline, "AUTO_LIMIT_S", 1e9)  # the whole image, on a loaded machine too
    upscalers.forget_models()
    seen: list[tuple[float, bool, np.ndarray, str]] = []
    original = CompareTab._show_partial

    def record(self, item):
        original(self, item)
        pane = self.grid.panes["drrn"]
        seen.append((item.done, self.is_busy() and "drrn" not in self.results,
                     pane.image.copy(), pane.title_text()))

    monkeypatch.setattr(CompareTab, "_show_partial", record)
    assert window.open_path(photo_png)
    wait_idle(window, 240_000)  # a loaded 2-core machine: generous, only a hang fails it
    compare = window.compare
    final, size = compare.results["drrn"]
    assert size == (240, 192)
    partial = [s for s in seen if s[0] < 1.0]
    assert len(partial) >= 3, len(seen)
    done, running, shown, title = partial[len(partial) // 2]
    assert running  # the pane showed it while the job was still going
    assert "% of the tiles done" in title
    expected = np.clip(final * 255 + 0.5, 0, 255).astype(np.uint8)
    final_px = (shown == expected).all(axis=2)
    assert (shown[~final_px] == 0).all()  # each pixel: the final one, or black (not done yet)
    assert final_px.mean() >= done and not final_px.all()  # done tiles shown, the rest not
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)  # in order, growing
    pane = compare.grid.panes["drrn"]
    assert np.array_equal(pane.image, expected) and "%" not in pane.title_text()


def test_large_outputs_are_redrawn_less_often():
    """A 48 MP result: a snapshot at most every ~10 s of run time (each is a copy on the worker
    and a full redraw on the GUI thread), a small one every PARTIAL_INTERVAL_S."""
    clock = iter(np.arange(0.0, 100.0, 1.0))
    events: list[pipeline.Partial] = []
    painter = pipeline._TilePainter("drrn", (8000, 6000), 3, events.append,
                                    clock=lambda: next(clock))
    for i in range(40):  # 40 tiles, one second each
        painter((0, 1, i, i + 1), np.zeros((1, 1, 3), np.float32))
    assert 3 <= len(events) <= 4
    assert pipeline._TilePainter("drrn", (400, 300), 3, events.append).interval == \
        pipeline.PARTIAL_INTERVAL_S


def test_painter_throttles_and_covers_the_output(monkeypatch):
    """The worker-side painter: snapshots at most every PARTIAL_INTERVAL_S, each a copy."""
    clock = iter(np.arange(0.0, 100.0, 0.2))
    events: list[pipeline.Partial] = []
    painter = pipeline._TilePainter("drrn", (4, 2), 3, events.append, clock=lambda: next(clock))
    for x in range(4):
        for y in range(2):
            painter((y, y + 1, x, x + 1), np.full((1, 1, 3), 0.5, np.float32))
    assert 2 <= len(events) <= 4  # 8 tiles, one clock tick (0.2 s) each, 0.5 s apart
    assert all(isinstance(e, pipeline.Partial) for e in events)
    assert events[0].image is not painter.canvas and events[0].done < events[-1].done
    assert (painter.canvas == 128).all() and painter.painted == 8

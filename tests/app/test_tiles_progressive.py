"""DRRN tile by tile from where the user looks: the first tile is the one under the view's
centre, the rest come outward from it; panning moves the remaining work; every finished tile is
kept per image and choices (a canvas), so a preview, a whole-image run, a cancelled run resumed
and the same file opened again never compute a tile twice; one coordinate convention (Box /
Size) between the app and the engine's rects."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF

from app.services import pipeline, upscalers
from app.services.pipeline import Box, Focus, Size
from drrn_core import weights
from drrn_core.engine import Upscaler

TINY = "tiny"


@pytest.fixture
def tiles48(monkeypatch):
    """48 px engine tiles (a 240x192 result is 5x4 of them), a fresh canvas cache, every run
    counted as long (only the visible region unasked) and the pieces DRRN finished counted."""
    monkeypatch.setattr(upscalers, "CPU_TILE", 48)
    monkeypatch.setattr(pipeline, "AUTO_LIMIT_S", 0.0)
    monkeypatch.setattr(pipeline, "FIRST_TILE_S", math.inf)  # the engine's tiles as they are
    monkeypatch.setattr(pipeline, "CANVASES", pipeline.CanvasCache())
    upscalers.forget_models()
    calls: Counter = Counter()
    original = pipeline.upscale_region

    def counted(up, image, scale, box, cancel=None):
        out = original(up, image, scale, box, cancel)
        if up.margin:  # DRRN (not the bicubic of the visible region), finished (not cancelled)
            calls[box] += 1
        return out

    monkeypatch.setattr(pipeline, "upscale_region", counted)
    yield calls
    upscalers.forget_models()


@pytest.fixture
def photo(astronaut_rgb) -> np.ndarray:
    return np.ascontiguousarray(astronaut_rgb[60:156, 140:260])  # 120x96 -> 240x192 at x2


def _run(req, cancel=lambda: False):
    return list(pipeline.run(req, lambda f: None, cancel))


def _tiles(events) -> list[pipeline.Tile]:
    return [e for e in events if isinstance(e, pipeline.Tile) and not e.replay]


def _dist(box: Box, centre) -> float:
    return math.hypot(box.centre[0] - centre[0], box.centre[1] - centre[1])


def test_box_and_size_convert_to_the_engines_rect_and_shape_in_one_place():
    box = Box(3, 5, 40, 20)
    assert box.rect == (5, 20, 3, 40) and Box.from_rect(box.rect) == box
    assert (box.w, box.h, box.area) == (37, 15, 555)
    size = Size(640, 480)
    assert size.hw == (480, 640) and Size.from_hw(size.hw) == size
    assert Box(-5, -5, 700, 100).clipped(size) == Box(0, 0, 640, 100)
    assert Box(700, 0, 800, 10).clipped(size) is None
    image = np.zeros((480, 640))
    image[box.slices()] = 1
    assert image.sum() == box.area and image[5, 3] == 1 and image[20, 3] == 0


@pytest.mark.parametrize("views", [[None], [Box(0, 0, 240, 100), Box(0, 90, 240, 192)]])
def test_a_preview_that_finishes_the_image_leaves_a_whole_bicubic_and_drrn_pair(tiles48, photo,
                                                                              views):
    """The whole image in view, or panned around until every tile is done: both results are
    whole images (the before/after export and Save need the pair), bicubic computed once."""
    events = []
    for view in views:
        events += _run(pipeline.Request(image=photo, model=TINY, view=view))
    stages = {e.key: e.image.shape[:2] for e in events if isinstance(e, pipeline.Stage)}
    assert stages[pipeline.BICUBIC] == stages["drrn"] == (192, 240)
    assert sum(isinstance(e, pipeline.Stage) and e.key == pipeline.BICUBIC for e in events) == 1


def test_the_first_tile_is_under_the_views_centre_and_the_rest_come_centre_out(tiles48, photo):
    view = Box(100, 60, 230, 180)
    req = pipeline.Request(image=photo, model=TINY, view=view)
    events = _run(req)
    assert all(isinstance(e, pipeline.Event) for e in events)  # the closed union
    tiles = _tiles(events)
    centre = view.centre
    assert tiles[0].box.contains(*centre)
    distances = [_dist(t.box, centre) for t in tiles[1:]]
    assert distances == sorted(distances)
    assert all(t.box.intersects(view) for t in tiles)  # a preview: the visible region only
    covered = np.zeros((192, 240), bool)
    for t in tiles:
        covered[t.box.slices()] = True
    assert covered[view.slices()].all() and not covered.all()
    assert all(n == 1 for n in tiles48.values())
    assert [t.done for t in tiles] == sorted(t.done for t in tiles) and tiles[-1].done == 1.0
    assert "drrn" not in {e.key for e in events if isinstance(e, pipeline.Stage)}
    (shown,) = [e.image for e in events if isinstance(e, pipeline.Stage) and e.key == "input"]
    assert shown.dtype == np.uint8 and np.array_equal(shown, photo)  # made on the worker


def test_each_tile_equals_that_part_of_the_whole_result(tiles48, photo):
    req = pipeline.Request(image=photo, model=TINY, whole=True)
    events = _run(req)
    (final,) = [e for e in events if isinstance(e, pipeline.Stage) and e.key == "drrn"]
    up = Upscaler(weights.resolve_model(TINY), precision="fp32")
    whole = up.upscale(photo.astype(np.float32) / 255, scale=2.0)
    expected = np.clip(whole * 255 + 0.5, 0, 255).astype(np.uint8)
    assert final.image.shape == expected.shape == (192, 240, 3)
    assert np.abs(final.image.astype(int) - expected).max() <= 1
    for t in _tiles(events):
        assert np.array_equal(t.image, final.image[t.box.slices()])


def test_panning_moves_the_pending_work_and_keeps_finished_tiles(tiles48, photo):
    focus = Focus(Box(0, 0, 120, 96))
    req = pipeline.Request(image=photo, model=TINY, focus=focus)
    run = pipeline.run(req, lambda f: None, lambda: False)
    first = []
    for e in run:
        if isinstance(e, pipeline.Tile):
            first.append(e.box)
            if len(first) == 2:
                break
    focus.look(Box(150, 110, 240, 192))  # the user pans to the bottom right
    rest = _tiles(run)
    assert rest[0].box.contains(195, 151)  # the next tile is under the new view's centre
    assert all(t.box.intersects(Box(150, 110, 240, 192)) for t in rest)
    assert all(n == 1 for n in tiles48.values())
    again = _tiles(_run(pipeline.Request(image=photo, model=TINY, focus=Focus(Box(0, 0, 240,
                                                                                    192)))))
    assert {t.box for t in again}.isdisjoint(first + [t.box for t in rest])  # not recomputed
    assert all(n == 1 for n in tiles48.values()) and len(tiles48) == 20


def test_a_click_moves_the_works_centre(tiles48, photo):
    focus = Focus(Box(0, 0, 240, 192))
    focus.point_at(20, 170)
    tiles = _tiles(_run(pipeline.Request(image=photo, model=TINY, focus=focus)))
    assert tiles[0].box.contains(20, 170)
    distances = [_dist(t.box, (20, 170)) for t in tiles[1:]]
    assert distances == sorted(distances)


def test_the_whole_image_run_starts_from_the_preview_tiles(tiles48, photo):
    view = Box(60, 40, 180, 150)
    preview = _tiles(_run(pipeline.Request(image=photo, model=TINY, view=view)))
    done = {t.box for t in preview}
    events = _run(pipeline.Request(image=photo, model=TINY, view=view, whole=True))
    replayed = [e.box for e in events if isinstance(e, pipeline.Tile) and e.replay]
    computed = _tiles(events)
    assert set(replayed) == done  # shown again at once, not computed again
    assert {t.box for t in computed}.isdisjoint(done)
    assert len(done) + len(computed) == 20 and all(n == 1 for n in tiles48.values())
    assert computed[0].box.contains(*view.centre) or _dist(computed[0].box, view.centre) == \
        min(_dist(t.box, view.centre) for t in computed)  # outward from the view again
    (whole_time,) = [e for e in events if isinstance(e, pipeline.WholeImageTime)]
    assert whole_time.runs_now and 0 < whole_time.done < 1
    assert any(isinstance(e, pipeline.Stage) and e.key == "drrn" for e in events)


def test_cancel_then_resume_equals_an_uninterrupted_run_bit_for_bit(tiles48, photo,
                                                                    monkeypatch):
    req = pipeline.Request(image=photo, model=TINY, whole=True, view=Box(40, 30, 200, 160))
    (straight,) = [e.image for e in _run(req) if isinstance(e, pipeline.Stage)
                   and e.key == "drrn"]
    monkeypatch.setattr(pipeline, "CANVASES", pipeline.CanvasCache())
    tiles48.clear()
    seen = []

    def cancel_after_five() -> bool:
        return len(seen) >= 5

    for e in pipeline.run(req, lambda f: None, cancel_after_five):
        if isinstance(e, pipeline.Tile):
            seen.append(e.box)
    assert len(seen) == 5
    events = _run(req)
    (resumed,) = [e.image for e in events if isinstance(e, pipeline.Stage) and e.key == "drrn"]
    assert np.array_equal(resumed, straight)
    assert all(n == 1 for n in tiles48.values()) and len(tiles48) == 20


def test_the_first_tile_is_small_when_an_engine_tile_takes_long(monkeypatch, photo):
    """An engine tile estimated over FIRST_TILE_S is cut at the view's centre: a small square
    first, then the four rectangles around it; together they cover the output once."""
    monkeypatch.setattr(pipeline, "CANVASES", pipeline.CanvasCache())
    monkeypatch.setattr(pipeline, "AUTO_LIMIT_S", 0.0)
    monkeypatch.setattr(pipeline, "FIRST_TILE_S", 0.0)  # every tile counts as slow
    view = Box(0, 0, 240, 192)
    tiles = _tiles(_run(pipeline.Request(image=photo, model=TINY, view=view)))
    first = tiles[0].box
    assert first.contains(120, 96) and first.w == first.h == pipeline.FIRST_SIDES[-1]
    covered = np.zeros((192, 240), int)
    for t in tiles:
        covered[t.box.slices()] += 1
    assert (covered == 1).all() and len(tiles) == 5


def test_canvases_are_bounded_in_bytes_least_recently_used_out():
    cache = pipeline.CanvasCache(max_bytes=3 * 100 * 100 * 3)

    def canvas(name: str) -> pipeline.Canvas:
        size = Size(100, 100)
        return pipeline.Canvas((name,), size, 3, np.uint8, [Box.whole(size)],
                               {Box.whole(size): 1.0}, "")

    for name in "abc":
        cache.put(canvas(name))
    assert cache.get(("a",)) is not None  # a is now the most recently used
    cache.put(canvas("d"))
    assert [k[0] for k in cache.kept_keys()] == ["c", "a", "d"]
    huge = pipeline.Canvas(("e",), Size(1000, 1000), 3, np.uint8,
                           [Box(0, 0, 1000, 1000)], {Box(0, 0, 1000, 1000): 1.0}, "")
    cache.put(huge)
    assert cache.kept_keys() == [("e",)]  # the canvas in use stays, however large


def test_finished_canvases_are_let_go_unfinished_ones_kept_to_resume():
    """A long run of photos keeps no memory: a finished canvas goes once another is used, an
    unfinished one stays (its tiles resume when the photo is opened again)."""
    cache = pipeline.CanvasCache()
    size = Size(64, 64)
    halves = [Box(0, 0, 32, 64), Box(32, 0, 64, 64)]

    def canvas(name: str, finished: int) -> pipeline.Canvas:
        c = pipeline.Canvas((name,), size, 3, np.uint8, halves, dict.fromkeys(halves, 1.0), "")
        for box in halves[:finished]:
            c.put(box, np.zeros((64, 32, 3), np.float32))
        return c

    cache.put(canvas("done", 2))
    assert cache.kept_keys() == [("done",)]  # in use: kept, finished or not
    cache.put(canvas("half", 1))
    cache.put(canvas("next", 2))
    assert cache.kept_keys() == [("half",), ("next",)]
    cache.put(canvas("other", 0))
    assert cache.kept_keys() == [("half",), ("other",)]


def test_the_drrn_pane_shows_each_tile_as_it_finishes(window, photo_png, wait_idle, tiles48,
                                                     monkeypatch):
    from app.tabs.compare import CompareTab

    monkeypatch.setattr(pipeline, "AUTO_LIMIT_S", 1e9)  # the whole image, unasked
    seen: list[tuple[Box, bool, int, str, str]] = []
    original = CompareTab._show_tile

    def record(self, item):
        original(self, item)
        bar = self.controls.progress
        seen.append((item.box, self.is_busy() and "drrn" not in self.results,
                     len(self.tiles.items), bar.text(), self.grid.panes["drrn"].title_text()))

    monkeypatch.setattr(CompareTab, "_show_tile", record)
    assert window.open_path(photo_png)
    wait_idle(window, 240_000)
    compare = window.compare
    final, size = compare.results["drrn"]
    assert size == (240, 192) and len(seen) == 20
    assert all(running for _, running, *_ in seen[:-1])  # drawn while the job was going
    assert [n for _, _, n, *_ in seen] == list(range(1, 21))  # one more on screen each time
    for _, _, _, bar, title in seen:  # the bar and the pane's title: one number
        (number,) = re.findall(r"(\d+) ?%", bar)
        assert title.endswith(f"whole image: {number} % done"), (bar, title)
    pane = compare.grid.panes["drrn"]
    assert np.array_equal(pane.image, final) and "%" not in pane.title_text()
    assert not compare.tiles.items and compare.controls.whole_button.isHidden()


def test_cancel_keeps_the_tiles_and_resume_finishes_also_after_reopening(
        window, photo_png, astro_png, wait_idle, tiles48, qtbot, monkeypatch):
    monkeypatch.setattr(pipeline, "PREVIEW_BUDGET_S", 1e-9)  # a preview of one tile
    compare = window.compare
    assert window.open_path(photo_png)
    wait_idle(window)
    assert compare.preview and "drrn" not in compare.results
    assert len(compare.tiles.items) == 1
    button = compare.controls.whole_button
    assert button.isVisible() and button.text().startswith("Resume whole image (")
    assert button.fontMetrics().horizontalAdvance(button.text()) < button.contentsRect().width()
    preview_tiles = set(compare.tiles.boxes())

    button.click()  # the whole image, from the preview's tile ...
    qtbot.waitUntil(lambda: len(compare.tiles.items) >= 4, timeout=60_000)
    assert button.isVisible() and not button.isEnabled()  # it stays, disabled, while it runs
    compare.cancel()  # ... cancelled: every finished tile stays on screen
    kept = set(compare.tiles.boxes())
    assert preview_tiles < kept and len(kept) < 20
    assert "drrn" not in compare.results and compare.grid.panes["drrn"].placeholder.isHidden()
    assert button.isVisible() and button.isEnabled() and button.text().startswith("Resume")
    assert "kept" in compare.controls.progress.format()
    assert compare.drrn_partial() and compare.result()[0] == "bicubic"

    assert window.open_path(astro_png)  # another image, then the first one again
    wait_idle(window)
    assert window.open_path(photo_png)
    wait_idle(window)
    assert kept <= set(compare.tiles.boxes())  # shown again from the canvas
    assert button.isVisible() and button.text().startswith("Resume whole image (")
    button.click()
    wait_idle(window, 120_000)
    assert "drrn" in compare.results and button.isHidden() and not compare.drrn_partial()
    photo_tiles = {b for b in tiles48 if b.x1 <= 240 and b.y1 <= 192 and (b.x1 > 96
                                                                         or b.y1 > 96)}
    assert all(tiles48[b] == 1 for b in photo_tiles)  # nothing of the photo computed twice
    up = Upscaler(weights.resolve_model(TINY), precision="fp32")
    image = np.asarray(Image.open(photo_png), dtype=np.float32) / 255
    expected = np.clip(up.upscale(image, scale=2.0) * 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(compare.results["drrn"][0].astype(int) - expected).max() <= 1


def _answer(qtbot, text: str, asked: list[str]) -> None:
    """Answer the next question box by clicking its button ``text`` (what it said goes to
    ``asked``)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        asked.append(box.text())
        (button,) = [b for b in box.buttons() if b.text().replace("&", "") == text]
        button.click()

    QTimer.singleShot(0, click)


def test_saving_a_partial_drrn_result_asks_first(window, photo_png, wait_idle, tiles48, qtbot,
                                                 monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(pipeline, "PREVIEW_BUDGET_S", 1e-9)
    compare = window.compare
    assert window.open_path(photo_png)
    wait_idle(window)
    compare.run_whole()
    qtbot.waitUntil(lambda: "bicubic" in compare.results and len(compare.tiles.items) >= 3,
                    timeout=60_000)
    compare.cancel()
    assert window.actions["save"].isEnabled() and compare.drrn_partial()
    offered: list[str] = []

    def choose(parent, caption, start, *args, **kwargs):
        offered.append(start)
        return str(tmp_path / f"out{len(offered)}.png"), "PNG image (*.png)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(choose))
    asked: list[str] = []
    _answer(qtbot, "Save bicubic", asked)
    window.save_dialog()
    assert asked and "DRRN covers" in asked[0] and "bicubic" in asked[0]
    assert offered and "_bicubic_x2" in offered[0]  # the name says what is saved
    saved = np.asarray(Image.open(tmp_path / "out1.png"))
    assert np.array_equal(saved, np.clip(compare.results["bicubic"][0] * 255 + 0.5, 0, 255)
                          .astype(np.uint8))

    _answer(qtbot, "Cancel", asked)
    window.save_dialog()  # asked again, and nothing chosen: nothing saved, nothing started
    assert len(asked) == 2 and len(offered) == 1 and not compare.is_busy()

    _answer(qtbot, "Resume DRRN", asked)
    window.save_dialog()
    assert len(offered) == 1 and compare.is_busy()  # no file: DRRN continues instead
    wait_idle(window, 120_000)
    assert "drrn" in compare.results
    window.save_dialog()  # a finished DRRN result: no question, its own name
    assert len(asked) == 3 and "_drrn_x2" in offered[-1]


def test_estimates_say_what_they_are_about_and_the_view_does_not_move_them(tiles48, photo,
                                                                         monkeypatch):
    """A preview's ETA is the preview's (nothing left when its region is done, while the whole
    image still has time left); the whole image's estimate comes from the tiles' estimates
    stored with the canvas, so looking elsewhere (or the engine's calibration moving after
    each run) does not change it."""
    from app.services import estimate

    view = Box(60, 40, 180, 150)
    events = _run(pipeline.Request(image=photo, model=TINY, view=view))
    tiles = _tiles(events)
    assert tiles[-1].seconds_left == 0.0 and tiles[-1].done == 1.0
    assert tiles[-1].whole_seconds > 0 and tiles[-1].whole_done < 1.0
    (canvas,) = [pipeline.CANVASES.get(k) for k in pipeline.CANVASES.kept_keys()]
    assert tiles[-1].whole_seconds == pytest.approx(
        sum(s for b, s in canvas.seconds.items() if b not in canvas.done))
    slower = estimate.upscale_seconds
    monkeypatch.setattr(estimate, "upscale_seconds", lambda *a, **k: 2 * slower(*a, **k))
    inside = Box(80, 60, 120, 100)  # zoomed in, inside what is done: nothing to compute
    again = _run(pipeline.Request(image=photo, model=TINY, view=inside, preview_only=True,
                                  replay=False))
    (whole,) = [e for e in again if isinstance(e, pipeline.WholeImageTime)]
    assert whole.seconds == tiles[-1].whole_seconds and not _tiles(again)


def test_evaluate_shows_a_moving_bar_while_it_prepares(window, astro_png, wait_idle, qtbot):
    compare = window.compare
    compare.set_mode("evaluate")
    compare.controls.scale.setValue(2)
    compare.debounce.stop()
    assert window.open_path(astro_png)
    bar = compare.controls.progress
    assert compare.is_busy() and bar.maximum() == 0  # no fraction yet: no stuck "5 %"
    assert "Preparing" in bar.format()
    wait_idle(window)
    assert bar.maximum() == 1000 and bar.value() == bar.maximum()


def test_a_finished_view_says_how_much_of_the_image_drrn_covers(window, photo_png, wait_idle,
                                                               tiles48, monkeypatch):
    """After a preview of part of the image, the DRRN pane's title gives the image's share done,
    never the percentage of an earlier view."""
    from app.tabs.compare import percent

    compare = window.compare
    monkeypatch.setattr(pipeline, "PREVIEW_BUDGET_S", 1e-9)  # the first preview: one tile
    assert window.open_path(photo_png)
    wait_idle(window)
    for _ in range(5):
        window.actions["zoom_in"].trigger()
    compare.preview_timer.stop()
    wait_idle(window)  # any run the view's changes started: still one tile each
    monkeypatch.setattr(pipeline, "PREVIEW_BUDGET_S", math.inf)  # now the whole zoomed view
    compare.refresh_preview()
    wait_idle(window)
    assert "drrn" not in compare.results and 0 < compare.drrn_done < 1
    title = compare.grid.panes["drrn"].title_text()
    assert title.endswith(f"{percent(compare.drrn_done)} % of the image done"), title


def test_zooming_into_finished_tiles_says_how_much_of_the_image_drrn_covers(
        window, photo_png, wait_idle, tiles48, monkeypatch):
    """A view inside a part the preview already finished computes nothing, and the DRRN pane's
    title stops giving the earlier view's percentage (seen at 100 % on a large photo). The view
    moves here without a pan/zoom signal, as a resize moves it: the preview takes the view
    shown, not the last one signalled (it computed a tile by an earlier click instead)."""
    from app.tabs.compare import percent

    compare = window.compare
    monkeypatch.setattr(pipeline, "PREVIEW_BUDGET_S", 1e-9)  # each preview: one tile
    assert window.open_path(photo_png)
    wait_idle(window)
    (canvas,) = pipeline.CANVASES._items.values()
    (done,) = canvas.done
    compare.look_at(2, 2)  # a click in the corner: its tile too (two tiles: no rectangle)
    wait_idle(window)
    assert len(canvas.done) == 2
    assert "visible region" in compare.grid.panes["drrn"].title_text()
    computed = sum(tiles48.values())
    centre = ((done.x0 + done.x1) / 2, (done.y0 + done.y1) / 2)
    compare.sync.apply(QPointF(*centre), 0.05)  # a view well inside the finished tile
    view = compare.visible_region()
    assert view is not None and done.contains(view.x0, view.y0), (view, done)
    compare.preview_timer.stop()
    compare.refresh_preview()
    wait_idle(window)
    assert sum(tiles48.values()) == computed  # nothing computed again
    title = compare.grid.panes["drrn"].title_text()
    assert title.endswith(f"{percent(compare.drrn_done)} % of the image done"), \
        (title, compare.preview_skipped)

"""Nothing heavy starts unasked (preview of the visible region, "Upscale whole image (about
N)"), an honest calibrated estimate, "Use this model" starts nothing, width/height follow the
scale, a too-small image in evaluation is one plain message, transparency shows as a
checkerboard."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.services import estimate, pipeline, upscalers
from drrn_core import weights
from drrn_core.engine import Upscaler

TINY = "tiny"



@pytest.fixture
def slow(monkeypatch):
    """Make every DRRN run count as long (the tiny model would otherwise run whole), cut the
    result into tiles and stop a preview after its first tile (the visible region at fit is the
    whole image)."""
    monkeypatch.setattr(pipeline, "AUTO_LIMIT_S", 0.0)
    monkeypatch.setattr(pipeline, "PREVIEW_BUDGET_S", 1e-9)
    monkeypatch.setattr(pipeline, "CANVASES", pipeline.CanvasCache())
    monkeypatch.setattr(upscalers, "CPU_TILE", 48)  # 5x4 tiles on the 240x192 result
    upscalers.forget_models()
    yield
    upscalers.forget_models()


def test_a_long_run_previews_the_visible_region_only(window, photo_png, slow, wait_idle,
                                                      qtbot, monkeypatch):
    assert window.open_path(photo_png)
    wait_idle(window)
    compare = window.compare
    assert "drrn" not in compare.results  # the whole image did not run
    assert "bicubic" not in compare.results  # (nor its bicubic: a 24 MP one takes a while too)
    assert not window.actions["save"].isEnabled()  # nothing whole to save yet
    assert compare.preview and compare.whole_time is not None
    assert not compare.whole_time.runs_now
    button = compare.controls.whole_button
    assert not button.isHidden() and "whole image (" in button.text()
    monkeypatch.setattr(pipeline, "PREVIEW_BUDGET_S", float("inf"))  # now the whole view
    for _ in range(5):  # zoom in with the keyboard's action: the preview follows the view
        window.actions["zoom_in"].trigger()
    assert compare.preview_timer.isActive()
    view = compare.visible_region()
    assert view is not None and view.w < 240, (view, compare._last_size)
    compare.preview_timer.stop()
    assert compare.refresh_preview() is not None, compare.preview_skipped  # what the timer runs
    # a late layout event on a loaded machine may move the view during the run: the preview
    # timer then runs the new view, so wait for the app to be idle with nothing scheduled
    try:
        qtbot.waitUntil(lambda: not compare.is_busy() and not compare.preview_timer.isActive()
                        and compare.grid.panes["drrn"].patch is not None, timeout=30000)
    except qtbot.TimeoutError:  # say what the app shows instead
        shown = (window.statusBar().currentMessage(), compare.visible_region(),
                 compare.controls.progress.format(), sorted(compare.results))
        raise AssertionError(shown) from None
    view = compare.visible_region()
    assert view is not None
    patch, box = compare.grid.panes["drrn"].patch
    assert box == view.clipped(pipeline.Size(240, 192))  # the whole visible region
    assert compare.grid.panes["bicubic"].patch[1] == box
    up = Upscaler(weights.resolve_model(TINY))
    image = np.asarray(Image.open(photo_png), dtype=np.float32) / 255
    full = up.upscale(image, scale=2.0)
    x0, y0, x1, y1 = box
    expected = np.clip(full[y0:y1, x0:x1] * 255 + 0.5, 0, 255).astype(np.uint8)
    assert patch.shape == expected.shape
    assert np.abs(patch.astype(int) - expected).max() <= 1  # the very pixels of the whole run
    assert "the whole image takes about" in window.statusBar().currentMessage()
    bar = compare.controls.progress
    assert bar.format() == "Visible region done"  # not "Done": the whole image is still to do
    assert compare.refresh_preview() is None and not compare.is_busy()  # same view: no rerun

    button.click()  # asked: now the whole image
    wait_idle(window)
    assert compare.results["drrn"][0].shape == full.shape
    expected = np.clip(full * 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(compare.results["drrn"][0].astype(int) - expected).max() <= 1
    assert button.isHidden() and window.actions["save"].isEnabled()
    assert (bar.format(), bar.value()) == ("Done", bar.maximum())  # a full bar, not an empty one


@pytest.mark.parametrize("scale", [2.0, 3.0, 2.5])
def test_region_equals_that_part_of_the_whole_result(scale, astronaut_rgb):
    up = Upscaler(weights.resolve_model(TINY), precision="fp32", tile=24)
    image = np.ascontiguousarray(astronaut_rgb[90:150, 150:220]).astype(np.float32) / 255
    full = up.upscale(image, scale=scale)
    h, w = full.shape[:2]
    for box in (pipeline.Box(11, 9, 70, 61), pipeline.Box(0, 0, 33, 20),
                pipeline.Box(w - 30, h - 25, w, h)):
        part = pipeline.upscale_region(up, image, scale, box)
        assert np.abs(part - full[box.slices()]).max() < 1e-6


def test_the_estimate_is_the_engines_and_the_result_says_what_ran(astronaut_rgb, monkeypatch):
    """The decision uses drrn_core's calibrated estimate of this very upscaler (the sum over
    the canvas's pieces: here one, the whole image), and the result names the backend, device
    and precision it came from (for the status bar and exports)."""
    monkeypatch.setattr(pipeline, "CANVASES", pipeline.CanvasCache())
    monkeypatch.setattr(pipeline, "FIRST_TILE_S", float("inf"))  # no first tile cut small
    image = np.ascontiguousarray(astronaut_rgb[90:150, 150:220])
    req = pipeline.Request(image=image, scale=3.0, model=TINY)
    up = upscalers.upscaler_for(TINY)
    expected = up.estimate_seconds(image.shape[:2], scale=3.0)  # before the run: each finished
    events = list(pipeline.run(req, lambda f: None, lambda: False))  # run refines the rates
    (est,) = [e for e in events if isinstance(e, pipeline.WholeImageTime)]
    assert est.seconds == pytest.approx(expected)
    assert est.runs_now  # a tiny model on a small crop: well under the limit
    (ran,) = [e for e in events if isinstance(e, pipeline.Ran)]
    assert ran.text == up.description and up.precision in ran.text
    assert estimate.format_duration(3000) == "about 50 min"
    assert estimate.format_duration(4000) == "about 1 h 07 min"


def test_use_this_model_selects_it_and_starts_nothing(window, photo_png, wait_idle,
                                                      model_store):
    window.open_path(photo_png)
    wait_idle(window)
    window.on_model_ready(str(model_store / "models" / "medium.safetensors"))
    assert window.compare.controls.model_name() == "medium"
    assert not window.compare.debounce.isActive() and not window.compare.is_busy()
    assert "nothing runs until you ask" in window.statusBar().currentMessage()


def test_width_and_height_follow_the_scale(window, photo_png, wait_idle):
    window.open_path(photo_png)
    wait_idle(window)
    c = window.compare.controls
    c.scale.setValue(3)
    assert (c.width_box.value(), c.height_box.value()) == (360, 288)
    c.use_size.setChecked(True)
    assert window.compare.request().size == (360, 288)
    window.compare.run()
    assert "to 360×288" in window.statusBar().currentMessage()
    wait_idle(window)


def test_evaluating_a_too_small_image_is_one_plain_message(window, photo_png, tmp_path,
                                                           wait_idle):
    window.open_path(photo_png)
    wait_idle(window)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(tiny)
    window.compare.set_mode("evaluate")
    window.compare.controls.scale.setValue(3)
    window.compare.debounce.stop()
    wait_idle(window)
    window.open_path(tiny)
    compare = window.compare
    assert not compare.is_busy()
    message = window.statusBar().currentMessage()
    assert message.startswith("The image is 8×8: too small to evaluate at ×3")
    assert "Error" not in message
    assert not compare.grid.panes["input"].has_image()  # not the previous image
    readouts = compare.controls.readouts
    assert {readouts.text(k, c) for k in ("bicubic", "drrn") for c in range(3)} == {"–"}


def test_a_result_over_the_limit_still_shows_the_photo(window, photo_png, wait_idle,
                                                       monkeypatch):
    from drrn_core import limits

    monkeypatch.setattr(limits, "COMPARE_MAX_OUTPUT_PIXELS", 40_000)  # 240x192 at x2 is over
    assert window.open_path(photo_png)
    wait_idle(window)
    compare = window.compare
    assert compare.job is None and "bicubic" not in compare.results
    message = window.statusBar().currentMessage()
    assert message.startswith("The result would be 240x192 (0 MP); the limit is 0 MP."), message
    photo = np.asarray(Image.open(photo_png).convert("RGB"))
    shown = compare.grid.panes["input"].displayed()
    assert shown is not None and np.array_equal(shown, photo)  # what the user opened
    assert compare.grid.panes["input"].title_text() == "Input 120×96"
    assert not compare.grid.panes["bicubic"].has_image()
    assert not compare.grid.panes["drrn"].has_image()
    compare.controls.scale.setValue(1.5)  # 180x144 fits: the run goes on as usual
    compare.debounce.stop()
    compare.run()
    wait_idle(window)
    assert compare.results["bicubic"][1] == (180, 144)
    assert compare.grid.panes["input"].title_text().startswith("Input 120×96 (nearest) → 180×144")


def test_transparency_is_shown_over_a_checkerboard(window, tmp_path, wait_idle):
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 255  # red ...
    rgba[:, 16:, 3] = 255  # ... opaque on the right half only
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    window.open_path(path)
    wait_idle(window)
    shown = window.compare.grid.panes["input"].displayed()
    left, right = shown[:, :8], shown[:, 20:]
    assert (right == [255, 0, 0]).all()
    greys = {tuple(v) for v in left.reshape(-1, 3)}
    assert len(greys) == 2 and all(r == g == b for r, g, b in greys)  # the checkerboard


def test_device_box_lists_the_engines_devices_and_the_status_names_the_backend(
        window, photo_png, qtbot, wait_idle):
    """The Device box offers what `drrn devices` lists (Vulkan GPUs included) and
    the status bar says which backend, device and precision the result came from."""
    from drrn_core.engine.device import list_devices

    c = window.compare.controls
    specs = ["auto", *(d.spec for d in list_devices())]
    qtbot.waitUntil(lambda: [c.device.itemData(i) for i in range(c.device.count())] == specs,
                    timeout=30_000)
    window.open_path(photo_png)
    wait_idle(window)
    up = upscalers.upscaler_for(TINY)
    assert window.compare.provenance == up.description
    assert up.run_info.text in window.statusBar().currentMessage()


def test_progress_and_the_whole_image_button_stay_in_sight_in_a_small_window(window, photo_png,
                                                                           slow, wait_idle):
    """At 150 % (or in a small window) the side panel scrolls; the progress row and "Upscale
    whole image" must not scroll away with it."""
    window.resize(800, 560)
    window.open_path(photo_png)
    wait_idle(window)
    c = window.compare.controls
    assert c.whole_button.isVisible()
    top_left = c.whole_button.mapTo(window.compare, c.whole_button.rect().topLeft())
    assert top_left.y() >= 0
    assert top_left.y() + c.whole_button.height() <= window.compare.height()
    assert c.footer.parent() is not c and c.progress.isVisible()

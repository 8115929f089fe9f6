"""Nothing in the Compare tab speaks of the image before: titles after a refused
evaluation, the size boxes in evaluate mode, a target size on a new image, the greyed factor."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.tabs.compare import TITLES
from app.views.control_panel import ControlPanel
from drrn_core.metrics import protocol


def _png(tmp_path, astro_crop, w: int, h: int, name: str):
    path = tmp_path / name
    Image.fromarray(np.resize(astro_crop, (h, w, 3)).astype(np.uint8)).save(path)
    return path


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_stated_minimum_is_the_protocols(scale):
    """The stated minimum is exactly what the protocol scores: one pixel less is refused with
    the same rule in words, the minimum itself is scored (PSNR and SSIM)."""
    least = protocol.min_side(scale)
    rng = np.random.default_rng(scale)
    with pytest.raises(ValueError, match=f"at least {least} px"):
        protocol.evaluate_image(rng.integers(0, 256, (least - 1, 40), dtype=np.uint8), scale)
    score = protocol.evaluate_image(rng.integers(0, 256, (least, least), dtype=np.uint8), scale,
                                    with_ifc=False)
    assert np.isfinite(score.psnr) and -1 <= score.ssim <= 1


@pytest.mark.parametrize("side", [1, 7])
def test_a_refused_evaluation_leaves_no_older_title_and_says_the_real_rule(
        window, astro_png, tmp_path, astro_crop, run_compare, side):
    c = window.compare
    c.set_mode("evaluate")
    c.controls.scale.setValue(3)
    window.open_path(astro_png)
    run_compare(window)
    assert "dB" in c.grid.panes["bicubic"].title_text()  # scores of the 48×48 image
    window.open_path(_png(tmp_path, astro_crop, side, side, "small.png"))
    c.debounce.stop()
    titles = {k: p.title_text() for k, p in c.grid.panes.items()}
    assert titles == {**TITLES, "drrn": "DRRN (tiny)"}
    message = window.statusBar().currentMessage()
    least = protocol.min_side(3)
    assert message.startswith(f"The image is {side}×{side}: too small to evaluate at ×3, which "
                              f"needs at least {least}×{least} px"), message
    assert not c.scores and c.controls.readouts.text("bicubic", 0) == "–"


def test_evaluate_size_boxes_show_the_evaluated_size(window, tmp_path, astro_crop, run_compare):
    c = window.compare
    c.set_mode("evaluate")
    c.controls.scale.setValue(3)
    window.open_path(_png(tmp_path, astro_crop, 50, 40, "gt.png"))
    assert (c.controls.width_box.value(), c.controls.height_box.value()) == (48, 39)
    run_compare(window)
    assert c.results["gt"][1] == (48, 39)  # every pane's size
    assert (c.controls.width_box.value(), c.controls.height_box.value()) == (48, 39)


def test_target_size_keeps_its_width_and_the_new_images_aspect(window, tmp_path, astro_crop):
    c = window.compare.controls
    window.open_path(_png(tmp_path, astro_crop, 120, 96, "first.png"))
    c.use_size.setChecked(True)
    c.width_box.setValue(500)
    assert c.height_box.value() == 400
    window.open_path(_png(tmp_path, astro_crop, 240, 200, "second.png"))
    window.compare.debounce.stop()
    assert window.compare.request().size == (500, 417)  # not 500×400: no stretch
    assert c.scale.text().startswith("2.08")
    c.height_box.setValue(300)  # the height set last is the one kept
    window.open_path(_png(tmp_path, astro_crop, 100, 100, "third.png"))
    window.compare.debounce.stop()
    assert window.compare.request().size == (300, 300)


def test_the_greyed_factor_shows_what_the_target_means(window, photo_png):
    c = window.compare.controls
    window.open_path(photo_png)  # 120×96
    window.compare.debounce.stop()
    c.scale.setValue(3)
    c.use_size.setChecked(True)
    c.width_box.setValue(300)
    assert not c.scale.isEnabled() and c.scale.text().startswith("2.50")
    c.use_size.setChecked(False)  # the factor takes over from what was shown
    assert c.scale_value() == 2.5 and (c.width_box.value(), c.height_box.value()) == (300, 240)


def test_size_boxes_say_nothing_before_an_image(qtbot):
    panel = ControlPanel()
    qtbot.addWidget(panel)
    assert panel.width_box.text() == panel.height_box.text() == "–"
    assert not panel.use_size.isEnabled() and not panel.width_box.isEnabled()
    panel.set_input_size(40, 30)
    assert panel.width_box.text() == "80 px" and panel.use_size.isEnabled()

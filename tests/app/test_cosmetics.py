"""Cosmetics: in preview-first mode the Bicubic/DRRN panes show the same region as the
Input pane (the input, dimmed, around the computed patch); the error maps' colour bar sits beside
the |DRRN − GT| pane without shrinking its image area; the model card speaks to users."""

from __future__ import annotations

import numpy as np
import pytest

from app.services import pipeline


def test_preview_panes_show_the_input_region_around_the_patch(window, photo_png, monkeypatch,
                                                              wait_idle):
    monkeypatch.setattr(pipeline, "AUTO_LIMIT_S", 0.0)
    monkeypatch.setattr(pipeline, "PREVIEW_BUDGET_S", 1e-9)  # a patch smaller than the view
    assert window.open_path(photo_png)
    wait_idle(window)
    compare = window.compare
    assert compare.preview
    panes = compare.grid.panes
    for _ in range(3):
        window.actions["zoom_in"].trigger()
    compare.preview_timer.stop()
    compare.refresh_preview()
    wait_idle(window)
    rects = {k: panes[k].view.viewRect() for k in ("input", "bicubic", "drrn")}
    for k in ("bicubic", "drrn"):  # linked: the same region in every pane
        assert abs(rects[k].center().x() - rects["input"].center().x()) < 1.0
        assert abs(rects[k].center().y() - rects["input"].center().y()) < 1.0
        assert abs(panes[k].units_per_pixel() - panes["input"].units_per_pixel()) < 1e-3
    _, box = panes["drrn"].patch
    view = compare.visible_region()
    assert (box[2] - box[0]) * (box[3] - box[1]) < (view[2] - view[0]) * (view[3] - view[1])
    for k in ("bicubic", "drrn"):  # ... and around the patch, that region's input (dimmed)
        pane = panes[k]
        assert pane.has_backdrop()
        np.testing.assert_array_equal(pane.backdrop_item.image, panes["input"].displayed())
        assert pane.backdrop_item.mapRectToParent(pane.backdrop_item.boundingRect()) == \
            panes["input"].item.mapRectToParent(panes["input"].item.boundingRect())
        assert 0 < pane.backdrop_item.opacity() < 1
    compare.run_whole()  # the whole result replaces the backdrop
    wait_idle(window)
    assert not panes["drrn"].has_backdrop() and panes["drrn"].has_image()


def test_colour_bar_does_not_shrink_the_error_pane(window, astro_png, run_compare):
    compare = window.compare
    compare.set_mode("evaluate")
    compare.controls.scale.setValue(2)
    window.resize(1200, 760)
    assert window.open_path(astro_png)
    run_compare(window)
    panes = [p for p in compare.grid.visible_panes()]
    assert len(panes) == 6
    widths = {p.key: p.view.width() for p in panes}
    assert max(widths.values()) - min(widths.values()) <= 2, widths
    bar = compare.error_scale.widget
    assert bar.isVisible() and bar.width() > 20
    err = compare.grid.panes["err_drrn"]
    assert not err.geometry().intersects(bar.geometry())
    assert bar.geometry().left() >= err.geometry().right()  # beside it, to the right
    compare.set_mode("upscale")
    assert not bar.isVisible()


INTERNAL = ("issue", "training/", "README", "PROTOCOL", "(ours)", "`", "ILR", "this project",
            "drrn bench")


def test_bundled_model_card_in_user_wording():
    """The About box shows the card as written; training/model_card.py writes it in users'
    words (tests/training/test_ship.py checks a freshly written one)."""
    from pathlib import Path

    from app.dialogs.about import model_card

    root = Path(__file__).resolve().parents[2]

    class Entry:
        name = "DRRN_B1U9"
        path = root / "resources" / "weights" / "DRRN_B1U9.safetensors"

    if not Entry.path.with_suffix(".md").is_file():
        pytest.skip("no bundled model card in this checkout")
    card = model_card(Entry())
    for word in INTERNAL:
        assert word not in card, (word, card)
    assert "| Property | Value |" in card and "dB" in card


def test_long_pane_titles_end_in_an_ellipsis(qtbot):
    from app.views.image_pane import ImagePane

    pane = ImagePane("input", "Input")
    qtbot.addWidget(pane)
    long = "Input 240×240 (nearest) → 480×480 and a good deal more text than fits"
    pane.set_title(long)
    pane.resize(200, 200)
    pane.show()
    qtbot.waitExposed(pane)
    label = pane.title_label
    assert label.width() <= 200 and label.elided().endswith("…")
    assert label.text() == long and label.toolTip() == long
    assert pane.minimumSizeHint().width() <= 200  # the title does not widen the pane


def test_panes_draw_8_bit_images_as_they_are(qtbot):
    """A pane hands its uint8 pixels to pyqtgraph without levels: drawn value for value, with no
    per-pixel rescaling on the GUI thread (with levels=(0, 255) pyqtgraph rescaled every pixel
    of every new image: 0.12 s per 48 MP image, for every snapshot of a streaming result)."""
    from app.views.image_pane import ImagePane

    pane = ImagePane("drrn", "DRRN")
    qtbot.addWidget(pane)
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    pane.set_image(rgb, (40, 30))
    assert pane.item.levels is None
    pane.item.render()
    q = pane.item.qimage
    drawn = np.frombuffer(q.constBits(), np.uint8, count=q.sizeInBytes())
    drawn = drawn.reshape(q.height(), q.bytesPerLine())[:, :40 * 3].reshape(30, 40, 3)
    assert np.array_equal(drawn, rgb)

"""Region scores of an evaluation (app.services.regions): the protocol's Y, quantisation and
border rules on a rectangle; and the Compare tab's copied scores with the region's line."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from app.services import regions
from drrn_core.metrics import protocol
from drrn_core.metrics.psnr import psnr
from drrn_core.metrics.ssim import ssim


@pytest.fixture(scope="module")
def grey_view(camera_grey):
    """A greyscale evaluation at x3, as the Compare tab shows it: GT uint8, results float."""
    return protocol.prepare_view(np.ascontiguousarray(camera_grey[100:220, 150:290]), 3)


@pytest.fixture(scope="module")
def colour_view(astronaut_rgb):
    return protocol.prepare_view(np.ascontiguousarray(astronaut_rgb[40:160, 120:250]), 2)


def whole(view) -> tuple[int, int, int, int]:
    h, w = view.images.gt_y.shape
    return 0, 0, w, h


def test_the_whole_image_as_a_region_scores_as_the_protocol(grey_view):
    """The displayed images (GT uint8, the bicubic result a float Y) over the whole image score
    exactly as protocol.score: same Y, quantisation and border shave."""
    im = grey_view.images
    shown = grey_view.colour(im.ilr_y)  # what the Bicubic pane holds
    region = regions.score_region(grey_view.gt, {"bicubic": shown}, whole(grey_view), im.scale)
    expected = protocol.score(im.gt_y, im.ilr_y, im.scale, with_ifc=False)
    assert region.scores["bicubic"].psnr == expected.psnr
    assert region.scores["bicubic"].ssim == expected.ssim
    h, w = im.gt_y.shape
    assert region.scored == (3, 3, w - 3, h - 3)


def test_colour_ground_truth_against_a_y_result_scores_as_the_protocol(colour_view):
    im = colour_view.images
    region = regions.score_region(colour_view.gt, {"bicubic": im.ilr_y}, whole(colour_view),
                                  im.scale)
    expected = protocol.score(im.gt_y, im.ilr_y, im.scale, with_ifc=False)
    assert (region.scores["bicubic"].psnr, region.scores["bicubic"].ssim) == (
        expected.psnr, expected.ssim)


def test_a_region_away_from_the_border_is_not_shaved(colour_view):
    im = colour_view.images
    box = (20, 30, 70, 90)
    region = regions.score_region(colour_view.gt, {"bicubic": im.ilr_y}, box, im.scale)
    assert region.box == box and region.scored == box
    ref = protocol.quantize(im.gt_y[30:90, 20:70])
    dist = protocol.quantize(im.ilr_y[30:90, 20:70])
    assert region.scores["bicubic"].psnr == psnr(ref, dist)
    assert region.scores["bicubic"].ssim == ssim(ref, dist)


def test_a_region_is_shaved_only_where_it_reaches_the_border(colour_view):
    im = colour_view.images
    h, w = im.gt_y.shape
    s = im.scale
    assert regions.scored_box((0, 10, 40, 60), (w, h), s) == (s, 10, 40, 60)
    assert regions.scored_box((1, 0, 40, h), (w, h), s) == (s, s, 40, h - s)
    assert regions.scored_box((30, 20, w, 50), (w, h), s) == (30, 20, w - s, 50)
    region = regions.score_region(colour_view.gt, {"bicubic": im.ilr_y}, (0, 10, 40, 60), s)
    ref = protocol.quantize(im.gt_y[10:60, s:40])
    dist = protocol.quantize(im.ilr_y[10:60, s:40])
    assert region.scores["bicubic"].psnr == psnr(ref, dist)


# 10 px wide; 12 px less the 2 px border; 10 px high
@pytest.mark.parametrize("box", [(50, 50, 60, 80), (0, 0, 12, 40), (40, 40, 100, 50)])
def test_a_region_smaller_than_the_crop_allows_is_refused_in_one_line(colour_view, box):
    im = colour_view.images
    with pytest.raises(regions.RegionError) as caught:
        regions.score_region(colour_view.gt, {"bicubic": im.ilr_y}, box, im.scale)
    text = str(caught.value)
    assert "\n" not in text
    x0, y0, x1, y1 = box
    assert f"{x0},{y0}-{x1},{y1}" in text and "too small" in text and "11×11" in text


def test_a_region_outside_the_image_is_refused(colour_view):
    im = colour_view.images
    h, w = im.gt_y.shape
    with pytest.raises(regions.RegionError, match="not inside"):
        regions.score_region(colour_view.gt, {"bicubic": im.ilr_y}, (10, 10, w + 5, 40),
                             im.scale)


def test_region_lines_in_every_copied_format(colour_view):
    from app.services.exports import FORMATS, Provenance

    im = colour_view.images
    scores = {"bicubic": protocol.score(im.gt_y, im.ilr_y, im.scale, with_ifc=False)}
    region = regions.score_region(colour_view.gt, {"bicubic": im.ilr_y, "drrn": im.gt_y},
                                  (20, 30, 70, 90), im.scale)
    prov = Provenance(image="astro.png", scale=2, model="tiny", model_sha256="ab" * 32)
    out = {}
    for fmt, (write, _suffix) in FORMATS.items():
        out[fmt] = regions.add_region(write(scores, prov), fmt, region, image="astro.png",
                                      scale=2, drrn=("tiny", "ab" * 32, ""))
    rows = list(csv.reader(io.StringIO(out["CSV"])))
    assert [r[2] for r in rows[-2:]] == ["Region 20,30-70,90 Bicubic", "Region 20,30-70,90 DRRN"]
    assert float(rows[-2][3]) == pytest.approx(region.scores["bicubic"].psnr, abs=1e-6)
    assert rows[-1][3] == "inf" and rows[-1][6] == "tiny" and rows[-2][6] == ""
    assert all(len(r) == len(rows[0]) for r in rows)
    bic = region.scores["bicubic"]
    assert (f"Region 20,30-70,90 (scored 50×60): Bicubic {bic.psnr:.2f} dB / {bic.ssim:.4f}, "
            "DRRN ∞ dB / 1.0000") in out["Markdown"]
    latex = out["LaTeX"]
    assert f"Region 20,30-70,90 Bicubic & {bic.psnr:.2f} & {bic.ssim:.4f} & -- \\\\" in latex
    assert latex.index("Region 20,30-70,90") < latex.index("\\bottomrule")


# -- the Compare tab -------------------------------------------------------------------------
def mark(window, pane_key: str, box: tuple[int, int, int, int]) -> None:
    """What a Shift+drag over a pane ends with: its rectangle, linked, and regionDragged."""
    pane = window.compare.grid.panes[pane_key]
    pane.set_region(box)
    pane.regionShown.emit(box)
    pane.regionDragged.emit(*box)


@pytest.fixture
def evaluated(window, tmp_path, astronaut_rgb, wait_idle):
    from PIL import Image

    path = tmp_path / "gt.png"
    Image.fromarray(np.ascontiguousarray(astronaut_rgb[80:176, 160:256])).save(path)
    window.compare.set_mode("evaluate")
    window.compare.controls.scale.setValue(2)
    assert window.open_path(path)
    wait_idle(window)
    assert set(window.compare.scores) == {"bicubic", "drrn"}
    return window


def test_a_marked_region_is_scored_shown_and_copied(evaluated, qtbot):
    c = evaluated.compare
    box = (20, 24, 70, 80)
    mark(evaluated, "drrn", box)
    assert c.grid.panes["gt"].region == box and c.split.region == box
    qtbot.waitUntil(lambda: c.region_scores is not None, timeout=10000)
    expected = regions.score_region(c.scored_y["gt"], {k: c.scored_y[k] for k in
                                                       ("bicubic", "drrn")}, box, 2)
    assert c.region_scores == expected
    assert expected.summary() in c.grid.panes["gt"].title_text()
    text = c.scores_text("CSV")
    rows = list(csv.reader(io.StringIO(text)))
    region_rows = [r for r in rows if r[2].startswith("Region 20,24-70,80")]
    assert [r[2] for r in region_rows] == ["Region 20,24-70,80 Bicubic", "Region 20,24-70,80 DRRN"]
    assert float(region_rows[1][3]) == pytest.approx(expected.scores["drrn"].psnr, abs=1e-6)
    assert float(region_rows[1][4]) == pytest.approx(expected.scores["drrn"].ssim, abs=1e-6)
    assert "Region 20,24-70,80 (scored 50×56)" in c.scores_text("Markdown")
    assert "Region 20,24-70,80 DRRN &" in c.scores_text("LaTeX")
    # Esc in a pane removes the rectangle everywhere, and the region's scores with it
    pane = c.grid.panes["bicubic"]
    assert pane._clear_region_key()
    assert c.region_link.region is None and c.region_scores is None
    assert "Region" not in c.scores_text("CSV")
    assert c.grid.panes["gt"].title_text() == c.grid.panes["gt"].title


def test_the_whole_colour_image_as_a_region_scores_as_the_readouts(evaluated, qtbot):
    """On a colour photo the region is scored on the protocol's own luma, not the shown
    (clipped) colours: the whole image gives exactly the readouts' PSNR and SSIM."""
    c = evaluated.compare
    h, w = c.results["gt"][0].shape[:2]
    mark(evaluated, "drrn", (0, 0, w, h))
    qtbot.waitUntil(lambda: c.region_scores is not None, timeout=10000)
    for key in ("bicubic", "drrn"):
        assert c.region_scores.scores[key].psnr == c.scores[key].psnr
        assert c.region_scores.scores[key].ssim == c.scores[key].ssim


def test_a_too_small_region_says_why_and_copies_no_region(evaluated, qtbot):
    c = evaluated.compare
    messages = []
    c.message.connect(lambda text, _ms: messages.append(text))
    mark(evaluated, "bicubic", (0, 0, 12, 50))
    qtbot.waitUntil(lambda: any("too small" in m for m in messages), timeout=10000)
    assert [m for m in messages if "too small" in m][0].count("\n") == 0
    assert c.region_scores is None
    assert "Region" not in c.scores_text("CSV")


def test_a_new_image_clears_the_region(evaluated, wait_idle, tmp_path, astronaut_rgb, qtbot):
    from PIL import Image

    c = evaluated.compare
    mark(evaluated, "drrn", (20, 24, 70, 80))
    qtbot.waitUntil(lambda: c.region_scores is not None, timeout=10000)
    path = tmp_path / "other.png"
    Image.fromarray(np.ascontiguousarray(astronaut_rgb[0:96, 0:96])).save(path)  # same size
    assert evaluated.open_path(path)
    wait_idle(evaluated)
    assert c.region_link.region is None
    assert all(p.region is None for p in c.grid.panes.values())
    assert c.region_scores is None and "Region" not in c.scores_text("CSV")

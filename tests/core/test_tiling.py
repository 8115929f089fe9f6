"""Tile plans cover the image exactly once, with margins clipped at the image border."""

from __future__ import annotations

import numpy as np
import pytest

from drrn_core.engine.tiling import MIN_TILE, plan_tiles, retile, tile_for_budget


@pytest.mark.parametrize(("shape", "tile"), [((61, 53), 16), ((100, 7), 32), ((5, 5), 64)])
def test_cores_cover_once(shape, tile):
    cover = np.zeros(shape, int)
    for t in plan_tiles(shape, tile, margin=6):
        cover[t.y0:t.y1, t.x0:t.x1] += 1
        assert t.y1 - t.y0 <= tile and t.x1 - t.x0 <= tile
        assert t.py0 == max(0, t.y0 - 6) and t.px1 == min(shape[1], t.x1 + 6)
        assert t.inner[0].stop - t.inner[0].start == t.y1 - t.y0
    assert (cover == 1).all()


def test_balanced_no_sliver():
    sizes = {t.y1 - t.y0 for t in plan_tiles((65, 10), 32, 0)}
    assert sizes == {21, 22}


def test_retile_splits_core():
    (t,) = plan_tiles((80, 80), None, 4)
    parts = retile(t, 40, (80, 80), 4)
    assert len(parts) == 4 and sum(p.area for p in parts) == t.area


def test_budget():
    assert tile_for_budget(1, 128, 20) == MIN_TILE
    side = tile_for_budget(768 * 2**20, 128, 20)
    assert side % 8 == 0 and (side + 40) ** 2 * 8 * 128 * 4 <= 768 * 2**20

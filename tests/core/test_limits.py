"""drrn_core.limits: the one table of limits, and the places that must agree with it."""

from __future__ import annotations

import math

import pytest

from drrn_core import limits
from drrn_core.limits import BENCH_SCALE, COMPARE_SCALE, UPSCALE_SCALE


@pytest.mark.parametrize(("rng", "ok", "bad"), [
    (UPSCALE_SCALE, [1.01, 2, 2.5, 16], [1, 0.5, -2, 16.01, math.nan, math.inf]),
    (COMPARE_SCALE, [1.1, 4, 8], [1.09, 8.5]),
    (BENCH_SCALE, [2, 3, 16], [1, 2.5, 17]),
])
def test_scale_ranges(rng, ok, bad):
    assert all(rng.problem(v) is None for v in ok)
    for v in bad:
        problem = rng.problem(v)
        assert problem and "scale" in problem and "\n" not in problem


def test_range_text():
    assert UPSCALE_SCALE.text() == "> 1 and <= 16"
    assert BENCH_SCALE.text() == "2..16"
    assert COMPARE_SCALE.text() == "1.1-8"


def test_the_engine_and_io_use_the_table():
    from drrn_core.engine import tiling
    from drrn_core.imaging import io

    assert tiling.MIN_TILE == limits.MIN_TILE  # the engine's own copy must agree
    assert io.DEFAULT_MAX_PIXELS == limits.MAX_INPUT_PIXELS
    assert io.FORMATS is limits.OUTPUT_FORMATS
    assert set(limits.FORMAT_SUFFIX) == set(limits.OUTPUT_FORMATS.values())
    assert set(limits.FORMAT_LABELS) == set(limits.FORMAT_SUFFIX)
    assert set(limits.LOSSY_FORMATS) <= set(limits.FORMAT_SUFFIX)


def test_cli_option_types_follow_the_table():
    import argparse

    from drrn_core.cli import common

    assert common.scale_factor("16") == 16.0
    for text in ("1", "16.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            common.scale_factor(text)
    assert common.integer_scale("16") == 16
    with pytest.raises(argparse.ArgumentTypeError, match="between 2 and 16"):
        common.integer_scale("17")
    assert common.tile_size(str(limits.MIN_TILE)) == limits.MIN_TILE
    with pytest.raises(argparse.ArgumentTypeError):
        common.tile_size(str(limits.MIN_TILE - 1))
    assert common.thread_count("2") == 2
    with pytest.raises(argparse.ArgumentTypeError):
        common.thread_count(str(limits.MAX_THREADS + 1))

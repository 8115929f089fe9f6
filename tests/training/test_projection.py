"""training/projection.py: the fitted curve and the projected patches come from the run's log."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
import projection  # noqa: E402


def _run(tmp_path: Path, a: float, b: float, before: int, batch: int, iters: list[int]) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    info = {"iteration": iters[-1], "patches_seen": iters[-1] * batch,
            "lineage": {"patches_seen": before}}
    header = json.dumps({"__metadata__": {"info": json.dumps(info)}}).encode()
    (run / "last.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    rows = ["iteration,epoch,loss,lr,patches_per_s,elapsed_s,val_psnr"]
    for i, it in enumerate(iters):
        rows.append(f"{it},0,0.002,0.0001,{30 + i},1.0,")
        psnr = a + b * math.log(before + it * batch)
        rows.append(f"{it},,,,,,x2:40.000 x3:{psnr:.6f}")
    (run / "log.csv").write_text("\n".join(rows) + "\n")
    return run


def test_recovers_a_known_curve_and_its_crossing(tmp_path: Path) -> None:
    run = _run(tmp_path, a=29.0, b=0.3, before=100_000, batch=16, iters=[500, 1000, 1500, 2000])
    points, rates = projection.read_curve(run, scale=3)
    assert [n for n, _ in points] == [108_000, 116_000, 124_000, 132_000]  # lineage + it * batch
    r = projection.project(points, rates, target=33.5)
    assert r.a == pytest.approx(29.0, abs=1e-4) and r.b == pytest.approx(0.3, abs=1e-5)
    assert r.patches_needed == pytest.approx(math.exp(4.5 / 0.3), rel=1e-3)
    lo, hi = r.range_needed  # an exact line: every leave-one-out fit agrees
    assert lo == pytest.approx(hi, rel=1e-3)
    assert r.hours(10.0) == pytest.approx((r.patches_needed - 132_000) / 10 / 3600)


def test_a_falling_curve_is_never_projected_to_arrive(tmp_path: Path, capsys) -> None:
    run = _run(tmp_path, a=34.0, b=-0.05, before=0, batch=16, iters=[500, 1000, 1500])
    assert projection.main([str(run), "--target", "33.5"]) == 0
    assert "not projected to be reached" in capsys.readouterr().out


def test_too_few_points_is_one_clear_message(tmp_path: Path) -> None:
    run = _run(tmp_path, a=29.0, b=0.3, before=0, batch=16, iters=[500, 1000])
    with pytest.raises(SystemExit, match="at least 3"):
        projection.main([str(run)])


def test_the_recent_rate_is_the_last_rows_median(tmp_path: Path) -> None:
    """A run whose code got faster: the recent rate follows the last 100 rows, not the history."""
    run = _run(tmp_path, a=29.0, b=0.3, before=0, batch=16, iters=list(range(10, 1510, 10)))
    points, rates = projection.read_curve(run, scale=3)
    r = projection.project(points, rates, target=33.5)
    assert rates == [30 + i for i in range(150)]
    assert r.rate_recent == 30 + 99.5 and r.rate_median == 30 + 74.5

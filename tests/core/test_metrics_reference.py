"""The bicubic baseline, image by image, against ../shared's per-image CSV and the paper's tables.

PSNR and SSIM are checked for every image of Set5, Set14 and BSD100 at x2/x3/x4. IFC (about
0.2 s per image) is checked for every Set5 and Set14 image and, to keep the suite fast, for a
fixed tenth of BSD100 (img_001, img_011, ..., img_091); the paper reports no BSD100 IFC.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from drrn_core.metrics import ImageScore, prepare, score
from drrn_core.metrics.protocol import read_gt

pytestmark = [pytest.mark.shared, pytest.mark.slow]

SETS = ("Set5", "Set14", "BSD100")
SCALES = (2, 3, 4)
PSNR_TOL, SSIM_TOL, IFC_REL_TOL = 0.005, 0.0005, 0.001


def _with_ifc(dataset: str, image: str) -> bool:
    return dataset != "BSD100" or int(Path(image).stem.split("_")[-1]) % 10 == 1


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def reference(shared_dir: Path) -> dict[tuple[str, int], dict[str, dict[str, float]]]:
    """(dataset, scale) -> image -> {"psnr", "ssim", "ifc"} from bicubic_per_image.csv."""
    table: dict[tuple[str, int], dict[str, dict[str, float]]] = defaultdict(dict)
    for row in _read_csv(shared_dir / "data" / "reference" / "bicubic_per_image.csv"):
        values = {k: float(row[f"{k}_y"]) for k in ("psnr", "ssim", "ifc")}
        table[(row["dataset"], int(row["scale"]))][row["image"]] = values
    return table


@pytest.fixture(scope="module")
def ours(shared_dir: Path, reference) -> dict[tuple[str, int], dict[str, ImageScore]]:
    """Our protocol on every image listed in the CSV (each image read once for all scales)."""
    images: dict[tuple[str, str], list[int]] = defaultdict(list)
    for dataset, scale in reference:
        for image in reference[(dataset, scale)]:
            images[(dataset, image)].append(scale)
    out: dict[tuple[str, int], dict[str, ImageScore]] = defaultdict(dict)
    for (dataset, image), scales in images.items():
        gt = read_gt(shared_dir / "data" / "benchmark" / dataset / image)
        for s in scales:
            p = prepare(gt, s)
            out[(dataset, s)][image] = score(p.gt_y, p.ilr_y, s, _with_ifc(dataset, image))
    return out


@pytest.mark.parametrize("dataset", SETS)
@pytest.mark.parametrize("scale", SCALES)
def test_bicubic_per_image(reference, ours, dataset, scale):
    expected = reference[(dataset, scale)]
    got = ours[(dataset, scale)]
    assert len(expected) == {"Set5": 5, "Set14": 14, "BSD100": 100}[dataset]
    bad = []
    for image, ref in expected.items():
        s = got[image]
        if abs(s.psnr - ref["psnr"]) > PSNR_TOL or abs(s.ssim - ref["ssim"]) > SSIM_TOL:
            bad.append((image, s, ref))
        if s.ifc is not None and abs(s.ifc / ref["ifc"] - 1) > IFC_REL_TOL:
            bad.append((image, s, ref))
    assert not bad, bad
    with_ifc = sum(s.ifc is not None for s in got.values())
    assert with_ifc == (10 if dataset == "BSD100" else len(expected))


def test_set_means_match_the_paper(shared_dir, ours):
    """Means vs the paper's rounded Table 2/3 figures. PROTOCOL.md notes these copies of Set14
    land within about 0.01 dB / 0.0008 SSIM of them, and BSD100's SSIM is a few 1e-4 off at x3;
    the per-image CSV above is the strict target, so these tolerances are the paper's rounding
    plus that known gap."""
    ref = shared_dir / "data" / "reference"
    table2 = _read_csv(ref / "paper_table2_psnr_ssim.csv")
    table3 = _read_csv(ref / "paper_table3_ifc.csv")
    checked = 0
    for row in table2 + table3:
        key = (row["dataset"], int(row["scale"]))
        if row["method"] != "Bicubic" or key not in ours:
            continue
        for metric, tol in (("psnr", 0.015), ("ssim", 0.001), ("ifc", 0.002)):
            if f"{metric}_y" in row:
                mean = np.mean([getattr(s, metric) for s in ours[key].values()])
                assert mean == pytest.approx(float(row[f"{metric}_y"]), abs=tol), (key, metric)
        checked += 1
    assert checked == 9 + 6

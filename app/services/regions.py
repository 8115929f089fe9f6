"""Scores of a region of an evaluation: PSNR and SSIM on Y with the protocol's crop rules.

The protocol (:mod:`drrn_core.metrics.protocol`) scores the whole image without its ``scale``
pixel border. A region is scored the same way: its Y (BT.601, MATLAB ``rgb2ycbcr``) quantised as
``round(255 y)``, without the part of it inside that border, so the border is shaved only where
the region reaches it, and the whole image as a region scores exactly as the protocol does.
IFC is not computed (its pyramid needs far larger regions). No Qt here.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from drrn_core.imaging import rgb_to_ycbcr
from drrn_core.metrics import protocol
from drrn_core.metrics.psnr import psnr
from drrn_core.metrics.ssim import WINDOW, ssim

Box = tuple[int, int, int, int]  # output pixels (x0, y0, x1, y1), x1/y1 exclusive
METHODS = {"bicubic": "Bicubic", "drrn": "DRRN"}


class RegionError(ValueError):
    """A region that cannot be scored (one line for the user)."""


@dataclass(frozen=True)
class RegionScores:
    """``box``: the region asked for; ``scored``: the part scored (inside the protocol's
    border); ``scores``: method key -> ImageScore (IFC None)."""

    box: Box
    scored: Box
    scores: dict[str, protocol.ImageScore]

    @property
    def label(self) -> str:
        x0, y0, x1, y1 = self.box
        return f"Region {x0},{y0}-{x1},{y1}"

    def summary(self) -> str:
        """One line: the region, then PSNR / SSIM per method."""
        parts = [f"{METHODS.get(k, k)} {_psnr_text(s.psnr)} dB / {s.ssim:.4f}"
                 for k, s in self.scores.items()]
        x0, y0, x1, y1 = self.scored
        return f"{self.label} (scored {x1 - x0}×{y1 - y0}): " + ", ".join(parts)


def _psnr_text(value: float) -> str:
    return "∞" if not math.isfinite(value) else f"{value:.2f}"


def scored_box(box: Box, size: tuple[int, int], scale: int) -> Box:
    """The part of ``box`` the protocol scores in an image of ``size`` = (w, h): without the
    ``scale`` pixels along each image border (only where the box reaches into them).
    RegionError when what is left is smaller than SSIM's window."""
    s = protocol.check_scale(scale)
    w, h = size
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise RegionError(f"The region {x0},{y0}-{x1},{y1} is not inside the {w}×{h} image.")
    cut = max(x0, s), max(y0, s), min(x1, w - s), min(y1, h - s)
    cw, ch = cut[2] - cut[0], cut[3] - cut[1]
    if cw < WINDOW or ch < WINDOW:
        got = f"{max(cw, 0)}×{max(ch, 0)}"
        raise RegionError(
            f"The region {x0},{y0}-{x1},{y1} is too small to score: without the protocol's "
            f"{s} px image border it is {got} px, and SSIM needs at least {WINDOW}×{WINDOW}.")
    return cut


def luma(image: np.ndarray) -> np.ndarray:
    """Y (float64 in [0, 1]) of a shown image: the protocol's ground-truth luma for 8/16-bit or
    greyscale images (MATLAB ``rgb2ycbcr`` Y), BT.601 Y without rounding for float colour."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.dtype.kind == "f":
        return rgb_to_ycbcr(arr[..., :3])[..., 0].astype(np.float64)
    return protocol.gt_luma(arr)


def score_region(gt: np.ndarray, results: dict[str, np.ndarray], box: Box,
                 scale: int) -> RegionScores:
    """Scores of ``box`` for each result (key -> image the size of ``gt``) against ``gt``;
    only the region's pixels are converted."""
    h, w = gt.shape[:2]
    cut = scored_box(box, (w, h), scale)
    x0, y0, x1, y1 = cut
    ref = protocol.quantize(luma(gt[y0:y1, x0:x1]))
    scores = {}
    for key, image in results.items():
        if image.shape[:2] != (h, w):
            raise ValueError(f"{key} is {image.shape[1]}×{image.shape[0]}, the ground truth "
                             f"{w}×{h}")
        dist = protocol.quantize(luma(image[y0:y1, x0:x1]))
        scores[key] = protocol.ImageScore(psnr=psnr(ref, dist), ssim=ssim(ref, dist))
    bx0, by0, bx1, by1 = (int(v) for v in box)
    return RegionScores((bx0, by0, bx1, by1), cut, scores)


def _value(v: float, digits: int) -> str:
    return f"{v:.{digits}f}" if math.isfinite(v) else "inf"


def add_region(text: str, fmt: str, region: RegionScores, image: str = "", scale: int = 0,
               drrn: tuple[str, str, str] = ("", "", "")) -> str:
    """Copied or saved scores ``text`` in ``fmt`` ("CSV", "Markdown", "LaTeX", as written by
    app.services.exports) with the region's scores added: CSV rows whose method is
    "Region x0,y0-x1,y1 METHOD" (``drrn`` = model, model SHA-256, where it ran, for DRRN's
    row), a Markdown line after the provenance, LaTeX rows above ``\\bottomrule``."""
    rows = [(f"{region.label} {METHODS.get(k, k)}", s) for k, s in region.scores.items()]
    if fmt == "CSV":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for (method, s), key in zip(rows, region.scores, strict=True):
            extra = drrn if key == "drrn" else ("", "", "")
            writer.writerow([image, scale, method, _value(s.psnr, 6), _value(s.ssim, 6), "",
                             *extra])
        return text + buf.getvalue()
    if fmt == "Markdown":
        return text + f"\n{region.summary()}\n"
    if fmt == "LaTeX":
        lines = "".join(f"{method} & {_value(s.psnr, 2)} & {_value(s.ssim, 4)} & -- \\\\\n"
                        for method, s in rows)
        head, sep, tail = text.rpartition("\\bottomrule")
        if not sep:
            raise ValueError("not a LaTeX table of scores")
        return head + "\\midrule\n" + lines + sep + tail
    raise ValueError(f"unknown format {fmt!r}")

"""`drrn metrics`: PSNR / SSIM / IFC between a reference image and a distorted one."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from drrn_core.cli.common import EXIT_OK, CLIError, non_negative_int, positive_int
from drrn_core.imaging import io, shave
from drrn_core.metrics import ifc, psnr, ssim
from drrn_core.metrics.benchmark import format_score
from drrn_core.metrics.ifc import min_size as ifc_min_size
from drrn_core.metrics.protocol import gt_luma, quantize
from drrn_core.metrics.ssim import WINDOW

Plane = tuple[str, np.ndarray, np.ndarray]  # label, reference, distorted

HELP = """\
Print PSNR (dB), SSIM and IFC of DIST against REF (same size), on the 0-255 scale.

--y compares the MATLAB Y channels (BT.601 rgb2ycbcr of the 8-bit RGB, as the paper's protocol;
a greyscale image is its own Y). Without --y two greyscale images are compared directly and two
colour images channel by channel (one R, G, B row each); mixing greyscale and colour needs --y.
An alpha channel is ignored. 16-bit images are brought to the 0-255 scale first.
--shave N removes N pixels from every border of both images first (the protocol shaves the scale).
IFC needs images of at least its pyramid's minimum size and prints '-' below it."""


def add_metrics_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `drrn metrics`."""
    p = sub.add_parser(
        "metrics", help="PSNR/SSIM/IFC of two images", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("reference", type=Path, metavar="REF", help="reference (ground truth) image")
    p.add_argument("distorted", type=Path, metavar="DIST", help="image to score")
    p.add_argument("--y", action="store_true", help="compare MATLAB Y channels")
    p.add_argument("--shave", type=non_negative_int, default=0, metavar="N",
                   help="pixels removed from each border first (default 0)")
    p.add_argument("--max-pixels", type=positive_int, default=io.DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse images larger than N pixels (default {io.DEFAULT_MAX_PIXELS:,})")
    return p


def _planes(ref: io.LoadedImage, dist: io.LoadedImage, y: bool) -> list[Plane]:
    """(label, reference uint8, distorted uint8) per compared channel, as the protocol quantises."""
    if y:
        return [("Y", quantize(gt_luma(ref.pixels)), quantize(gt_luma(dist.pixels)))]
    if ref.pixels.ndim != dist.pixels.ndim:
        raise CLIError("one image is greyscale and the other colour; compare Y channels with --y")
    if ref.pixels.ndim == 2:
        return [("grey", quantize(ref.pixels), quantize(dist.pixels))]
    return [(name, quantize(ref.pixels[..., c]), quantize(dist.pixels[..., c]))
            for c, name in enumerate("RGB")]


def _row(label: str, ref: np.ndarray, dist: np.ndarray, border: int) -> list[str]:
    """One output row: label, PSNR, SSIM, IFC ('-' when the image is too small for IFC)."""
    ref, dist = shave(ref, border).astype(np.float64), shave(dist, border).astype(np.float64)
    ifc_value = ifc(ref, dist) if min(ref.shape) >= ifc_min_size() else None
    return [label, format_score("psnr", psnr(ref, dist), digits=4),
            format_score("ssim", ssim(ref, dist), digits=5),
            format_score("ifc", ifc_value, digits=4)]


def run_metrics(args: argparse.Namespace) -> int:
    """`drrn metrics`: print a PSNR / SSIM / IFC row per compared channel."""
    ref = io.load_image(args.reference, max_pixels=args.max_pixels)
    dist = io.load_image(args.distorted, max_pixels=args.max_pixels)
    if ref.size != dist.size:
        raise CLIError(f"the images differ in size: {args.reference} is {ref.size[0]}x"
                       f"{ref.size[1]}, {args.distorted} is {dist.size[0]}x{dist.size[1]}")
    if min(ref.size) - 2 * args.shave < WINDOW:
        raise CLIError(f"after --shave {args.shave} the compared area must still be at least "
                       f"{WINDOW}x{WINDOW} pixels (SSIM's window)")
    rows = [["channel", "PSNR (dB)", "SSIM", "IFC"]]
    rows += [_row(*plane, args.shave) for plane in _planes(ref, dist, args.y)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return EXIT_OK

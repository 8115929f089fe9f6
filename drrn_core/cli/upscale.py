"""`drrn upscale`: upscale image files with a DRRN model (or bicubic), keeping their metadata."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from drrn_core import weights
from drrn_core.atomic import remove_stale_parts
from drrn_core.cli.common import (
    CLIError,
    check_output_folder,
    error,
    load_model,
    make_upscaler,
    note,
    positive_int,
    quality,
    report_failures,
    scale_factor,
    tile_size,
)
from drrn_core.engine import OutOfMemory, Upscaler
from drrn_core.engine.tiling import MIN_TILE
from drrn_core.imaging import io
from drrn_core.metrics.protocol import BICUBIC

FORMATS = {"png": ".png", "jpg": ".jpg", "webp": ".webp", "tif": ".tif"}

HELP = """\
Upscale images with DRRN on the Y channel (Cb, Cr and alpha by bicubic). Each output is written
atomically (a temporary file renamed into place) and keeps the input's EXIF, ICC profile, alpha
channel and 16-bit depth (8-bit for JPEG/WebP). The path of each result is printed on stdout.

Output names and overwriting: -o OUT (one input only) writes exactly OUT, replacing an existing
file there, but never one of the inputs (refused). Otherwise results are NAME_xSCALE.EXT (or
NAME_wW / NAME_hH) next to each input or in --out-dir DIR, and an existing file is never replaced:
the first free name NAME_xSCALE-2.EXT, -3, ... is used instead.

In a batch a failing file does not stop the others; a summary lists the failures and the exit
status is 1. Without --model the bundled default model is used; with no weights installed that is
an error (use --model bicubic for bicubic)."""


def add_upscale_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `drrn upscale`."""
    p = sub.add_parser(
        "upscale", help="upscale image files", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="input image files")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("-s", "--scale", type=scale_factor, help="upscaling factor, > 1 and <= 16")
    size.add_argument("--width", type=positive_int, metavar="W",
                      help="output width in pixels (height follows the aspect ratio)")
    size.add_argument("--height", type=positive_int, metavar="H",
                      help="output height in pixels (width follows the aspect ratio)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", type=Path, metavar="OUT",
                     help="output file (only with a single input)")
    out.add_argument("--out-dir", type=Path, metavar="DIR",
                     help="write NAME_xSCALE.EXT files into DIR (created if missing)")
    p.add_argument("--model", metavar="NAME|PATH|bicubic",
                   help="model name (see 'drrn models'), weights file, or 'bicubic' "
                   "(default: the bundled default model; an error when none is installed)")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda[:N]|mps|vulkan[:N]",
                   help="where to run the model (default: auto = CUDA, then MPS, then a Vulkan "
                        "GPU, then the CPU; 'drrn devices' lists them)")
    p.add_argument("--precision", default="auto", metavar="auto|fp32|fp32-fast|bf16|fp16",
                   help="numeric precision (default: auto = the fastest safe one for the device)")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "ncnn"],
                   help="how tiles run: PyTorch or ncnn (default: auto = the fastest measured "
                        "path for the device; vulkan always uses ncnn)")
    p.add_argument("--tile", type=tile_size, metavar="N",
                   help=f"process in N x N tiles to bound memory, N >= {MIN_TILE} (the result "
                   "is identical)")
    p.add_argument("--ensemble", action="store_true",
                   help="average the 8 flips/rotations (self-ensemble; 8x slower)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network: the first image of each size takes seconds "
                        "longer, the rest run faster (needs a C++ compiler on the CPU)")
    p.add_argument("--format", choices=sorted(FORMATS),
                   help="output format (default: the input's, by extension)")
    p.add_argument("--quality", type=quality, metavar="Q",
                   help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--max-pixels", type=positive_int, default=io.DEFAULT_MAX_PIXELS, metavar="N",
                   help="refuse inputs and outputs larger than N pixels "
                   f"(default {io.DEFAULT_MAX_PIXELS:,})")
    return p


@dataclass(frozen=True)
class Job:
    """One input file and where its result goes (`explicit`: named with -o by the user)."""

    source: Path
    target: Path
    explicit: bool = False


def _suffix(source: Path, fmt: str | None) -> str:
    """The output extension: --format's, else the input's when writable, else .png."""
    if fmt:
        return FORMATS[fmt]
    return source.suffix if source.suffix.lower() in io.FORMATS else ".png"


def _size_tag(args: argparse.Namespace) -> str:
    """The NAME_<tag> part of generated output names: x2, x2.5, w1920 or h1080."""
    if args.scale is not None:
        return f"x{args.scale:g}"
    return f"w{args.width}" if args.width is not None else f"h{args.height}"


def plan_jobs(args: argparse.Namespace) -> list[Job]:
    """Pair every input with its output path (unique names are picked just before writing)."""
    inputs: Sequence[Path] = args.inputs
    if args.output is not None:
        if len(inputs) != 1:
            raise CLIError(f"-o/--output takes a single input, got {len(inputs)}; use --out-dir")
        return [Job(inputs[0], args.output, explicit=True)]
    tag = _size_tag(args)
    return [
        Job(src, (args.out_dir or src.parent) / f"{src.stem}_{tag}{_suffix(src, args.format)}")
        for src in inputs
    ]


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (following links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def final_target(job: Job, inputs: Sequence[Path], fmt: str | None) -> Path:
    """Where `job` writes: -o's path (refused when it is an input), else the first free name."""
    if job.explicit:
        if any(_same_file(src, job.target) for src in inputs):
            raise CLIError(f"{job.target}: refusing to overwrite the input image")
        if fmt is None and job.target.suffix.lower() not in io.FORMATS:
            raise CLIError(f"{job.target}: unknown output format; use a .png, .jpg, .webp or "
                           ".tif name, or --format")
        target = job.target
    else:
        # temporary files of a killed earlier run, for this name or its -2, -3 ... variants
        variants = rf"{re.escape(job.target.stem)}(?:-\d+)?{re.escape(job.target.suffix)}"
        remove_stale_parts(job.target, variants)
        target = io.unique_output_path(job.target, avoid=tuple(inputs))
    check_output_folder(target)
    return target


def choose_model(spec: str | None) -> weights.LoadedModel | None:
    """The LoadedModel to run, or None for bicubic (asked for with ``--model bicubic``).

    Without --model and without any bundled weights this is an error rather than a quiet
    bicubic fallback: an install that lost its weights must be impossible to miss."""
    if spec is None:
        spec = weights.default_model_name()
        if spec is None:
            raise CLIError("no DRRN weights are installed (see 'drrn models'); reinstall DRRN "
                           "Studio, pass --model PATH.safetensors, or --model bicubic to "
                           "upscale with bicubic")
    return None if spec == BICUBIC else load_model(spec)


FROZEN_COMPILE_NOTICE = ("--compile is not available in the packaged drrn (torch.compile needs "
                         "a Python installation and a C++ compiler); running without it")


def compile_allowed(requested: bool) -> bool:
    """--compile, except in a frozen (PyInstaller) build, where torch.compile fails while it
    registers its lowerings, before the engine's eager fallback can catch it: say so once."""
    if requested and getattr(sys, "frozen", False):
        note(FROZEN_COMPILE_NOTICE)
        return False
    return requested


def check_size(args: argparse.Namespace, upscaler: Upscaler, image: io.LoadedImage) -> None:
    """Refuse an output over the pixel limit, or one smaller than the input."""
    w, h = image.size
    out_h, out_w = upscaler.output_shape((h, w), args.scale, _size(args))
    if out_h * out_w > args.max_pixels:
        raise CLIError(f"{image.path}: the output {out_w}x{out_h} ({out_w * out_h / 1e6:.1f} MP) "
                       f"would be over the {args.max_pixels / 1e6:g} MP limit (--max-pixels)")
    if out_h < h or out_w < w:
        raise CLIError(f"{image.path}: {out_w}x{out_h} would shrink the {w}x{h} image")


def _size(args: argparse.Namespace) -> tuple[int | None, int | None] | None:
    """--width/--height as the engine's (height, width) size; None when --scale is given."""
    return None if args.scale is not None else (args.height, args.width)


def upscale_file(job: Job, args: argparse.Namespace, upscaler: Upscaler) -> Path:
    """Load, upscale and atomically save one image; the path written."""
    target = final_target(job, args.inputs, args.format)
    image = io.load_image(job.source, max_pixels=args.max_pixels)
    check_size(args, upscaler, image)
    with tqdm(total=100, desc=job.source.name, unit="%", leave=False, disable=None,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]") as bar:
        def progress(fraction: float) -> None:
            bar.update(round(100 * fraction) - bar.n)

        result = upscaler.upscale(image.image, args.scale, _size(args), progress=progress)
    # only the metadata is needed from here: let the input's pixels go before encoding
    like = replace(image, pixels=np.empty((0, 0), np.float32), alpha=None)
    del image
    options = {"quality": args.quality} if args.quality is not None else {}
    fmt = io.FORMATS[FORMATS[args.format]] if args.format else None
    return io.save_image(target, result, like=like, format=fmt, **options)


def run_upscale(args: argparse.Namespace) -> int:
    """`drrn upscale`: every input in turn; a failing file is reported and the batch goes on."""
    jobs = plan_jobs(args)
    if args.out_dir is not None:
        try:
            args.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CLIError(f"{args.out_dir}: cannot create the output folder "
                           f"({exc.strerror or exc})") from None
    upscaler = make_upscaler(
        choose_model(args.model), device=args.device, precision=args.precision,
        backend=args.backend, tile=args.tile, ensemble=args.ensemble,
        compile=compile_allowed(args.compile),
        notice=note,
    )
    failures: list[str] = []
    with tqdm(total=len(jobs), desc="images", unit="img", disable=True if len(jobs) == 1 else None,
              leave=False) as overall:
        for job in jobs:
            try:
                written = upscale_file(job, args, upscaler)
            except (CLIError, io.ImageReadError, io.ImageWriteError, OutOfMemory) as exc:
                error(exc)
                failures.append(str(job.source))
            else:
                tqdm.write(str(written))  # the result's path on stdout, above the progress bars
            overall.update()
    return report_failures(failures, len(jobs))

"""`drrn upscale`: upscale image files with a DRRN model (or bicubic), keeping their metadata."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from drrn_core import batch, limits, weights
from drrn_core.atomic import remove_stale_parts
from drrn_core.cli.common import (
    CLIError,
    check_output_folder,
    compile_allowed,
    error,
    load_model_spec,
    make_upscaler,
    note,
    positive_int,
    quality,
    report_failures,
    scale_factor,
    tile_size,
)
from drrn_core.engine import OutOfMemory, Upscaler
from drrn_core.imaging import io
from drrn_core.imaging.resize import output_size
from drrn_core.memory import release_free_memory
from drrn_core.metrics.protocol import BICUBIC

FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "tif": "TIFF"}
"""--format choices (besides 'keep') and the format each writes (limits.FORMAT_SUFFIX)."""

HELP = """\
Upscale images with DRRN on the Y channel (Cb, Cr and alpha by bicubic). Each output is written
atomically (a temporary file renamed into place) and keeps the input's EXIF, ICC profile, alpha
channel and 16-bit depth (8-bit for JPEG/WebP). The path of each result is printed on stdout.

Output names and overwriting: -o OUT (one input only) writes exactly OUT, replacing an existing
file there, but never one of the inputs (refused). Otherwise results are named by
--name-template (default {name}_x{scale}, or {name}_{size} with --width/--height: NAME_x2.EXT,
NAME_w1920.EXT; fields {name}, {ext}, {scale}, {size}; no path separators or '..') next to each
input or in --out-dir DIR, with the input's format unless --format says otherwise (--format keep:
the input's when it is PNG/JPEG/WebP/TIFF, else PNG). A result never replaces an input, and two
inputs never share one: the later gets NAME_x2-2.EXT, -3, ... An existing file is kept and the
next free name used (--existing rename, the default), or the input skipped (skip), or the file
replaced (replace).

In a batch a failing file does not stop the others; a summary lists the failures and the exit
status is 1. Without --model the bundled default model is used; with no weights installed that is
an error (use --model bicubic for bicubic)."""


def add_upscale_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `drrn upscale`."""
    p = sub.add_parser(
        "upscale", help="upscale image files", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN",
                   help="input image files, or folders (every file in the tree; needs --out-dir)")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("-s", "--scale", type=scale_factor,
                      help=f"upscaling factor, {limits.UPSCALE_SCALE.text()}")
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
                   "(default: the bundled default model; an error when none is installed); "
                   "NAME+ is the same as --ensemble")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda[:N]|mps|vulkan[:N]",
                   help="where to run the model (default: auto = CUDA, then MPS, then a Vulkan "
                        "GPU, then the CPU; 'drrn devices' lists them)")
    p.add_argument("--precision", default="auto", metavar="auto|fp32|fp32-fast|bf16|fp16",
                   help="numeric precision (default: auto = the fastest safe one for the device)")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "ncnn"],
                   help="how tiles run: PyTorch or ncnn (default: auto = the fastest measured "
                        "path for the device; vulkan always uses ncnn)")
    p.add_argument("--tile", type=tile_size, metavar="N",
                   help=f"process in N x N tiles to bound memory, N >= {limits.MIN_TILE} (the "
                   "result "
                   "is identical)")
    p.add_argument("--ensemble", action="store_true",
                   help="average the 8 flips/rotations (self-ensemble; 8x slower)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network: the first image of each size takes seconds "
                        "longer, the rest run faster (needs a C++ compiler on the CPU)")
    p.add_argument("--format", choices=[*sorted(FORMATS), limits.KEEP_FORMAT],
                   help="output format (default: keep = the input's, by extension, when it is "
                        "PNG/JPEG/WebP/TIFF, else PNG)")
    p.add_argument("--name-template", metavar="TEMPLATE",
                   help="output file name without extension (default {name}_x{scale}; fields "
                        "{name}, {ext}, {scale}, {size})")
    p.add_argument("--existing", choices=list(batch.EXISTING), default=batch.RENAME,
                   help="when a generated output name exists: rename (default: next free "
                        "NAME-2 name), skip the input, or replace the file")
    p.add_argument("--quality", type=quality, metavar="Q",
                   help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--max-pixels", type=positive_int, default=limits.MAX_INPUT_PIXELS,
                   metavar="N", help="refuse inputs and outputs larger than N pixels "
                   f"(default {limits.MAX_INPUT_PIXELS:,})")
    return p


@dataclass(frozen=True)
class Job:
    """One input file and where its result goes (`explicit`: named with -o by the user;
    `skip`: why it is not written, an existing output with --existing skip)."""

    source: Path
    target: Path
    explicit: bool = False
    skip: str | None = None


def _format(args: argparse.Namespace) -> str | None:
    """--format as batch.output_suffix takes it (None: keep the input's)."""
    return None if args.format in (None, limits.KEEP_FORMAT) else FORMATS[args.format]


def plan_jobs(args: argparse.Namespace) -> list[Job]:
    """Pair every input with its output path (drrn_core.batch's names and guards)."""
    inputs: Sequence[Path] = args.inputs
    if args.output is not None:
        if len(inputs) != 1 or inputs[0].is_dir():
            raise CLIError(f"-o/--output takes a single input file, got {len(inputs)} "
                           f"input(s){' (a folder)' if inputs[0].is_dir() else ''}; use --out-dir")
        if args.name_template is not None:
            raise CLIError("--name-template names generated outputs; it cannot be used with -o")
        return [Job(inputs[0], args.output, explicit=True)]
    items: list[tuple[Path, Path]] = []
    for src in inputs:
        if not src.is_dir():
            items.append((src, args.out_dir or src.parent))
            continue
        if args.out_dir is None:
            raise CLIError(f"{src}: a folder needs --out-dir DIR (its sub-folders are recreated "
                           "there; nothing is written into the input folder)")
        found = batch.tree_items(src, args.out_dir)
        if not found:
            raise CLIError(f"{src}: there are no files in this folder")
        items += found
    try:
        planned = batch.plan(items, template=args.name_template, fmt=_format(args),
                             scale=args.scale, width=args.width, height=args.height,
                             existing=args.existing)
    except batch.TemplateError as exc:
        raise CLIError(exc) from None
    return [Job(p.source, p.target, skip=p.skip) for p in planned]


def final_target(job: Job, inputs: Sequence[Path], fmt: str | None) -> Path:
    """Where `job` writes: -o's path (refused when it is an input), else its planned name (stale
    temporaries of a killed earlier run for it and its -2, -3 ... variants removed first)."""
    if job.explicit:
        if batch.is_input(job.target, inputs):
            raise CLIError(f"{job.target}: refusing to overwrite the input image")
        if fmt is None and job.target.suffix.lower() not in limits.OUTPUT_FORMATS:
            raise CLIError(f"{job.target}: unknown output format; use a .png, .jpg, .webp or "
                           ".tif name, or --format")
    elif not job.target.parent.exists():  # a sub-folder of --out-dir: made when saving
        return job.target
    else:
        stem = re.sub(r"-\d+$", "", job.target.stem)
        variants = rf"{re.escape(stem)}(?:-\d+)?{re.escape(job.target.suffix)}"
        remove_stale_parts(job.target, variants)
    check_output_folder(job.target)
    return job.target


def choose_model(spec: str | None) -> tuple[weights.LoadedModel | None, bool]:
    """The LoadedModel to run, or None for bicubic (asked for with ``--model bicubic``), and
    whether the spec asked for its self-ensemble (``NAME+``).

    Without --model and without any bundled weights this is an error rather than a quiet
    bicubic fallback: an install that lost its weights must be impossible to miss."""
    if spec is None:
        spec = weights.default_model_name()
        if spec is None:
            raise CLIError("no DRRN weights are installed (see 'drrn models'); reinstall DRRN "
                           "Studio, pass --model PATH.safetensors, or --model bicubic to "
                           "upscale with bicubic")
    return (None, False) if spec == BICUBIC else load_model_spec(spec)


def check_size(args: argparse.Namespace, upscaler: Upscaler, image: io.LoadedImage) -> None:
    """Refuse an output over the pixel limit, or one smaller than the input."""
    w, h = image.size
    out_hw = upscaler.output_shape((h, w), args.scale, _size(args))
    try:
        batch.check_output_size(str(image.path), (h, w), out_hw, args.max_pixels,
                                hint=" (--max-pixels)")
    except batch.OutputTooLarge as exc:
        raise CLIError(exc) from None


def check_space(args: argparse.Namespace, in_hw: tuple[int, int], channels: int,
                sample_bytes: int, target: Path) -> None:
    """Refuse, before computing, a result whose folder has less free space than its estimated
    size (batch.check_free_space): a full disk fails in seconds, not after the whole image."""
    fmt = _format(args) or limits.OUTPUT_FORMATS.get(target.suffix.lower(), "PNG")
    if fmt == "JPEG":
        channels = min(channels, 3) if channels != 2 else 1  # JPEG drops alpha
    needed = batch.estimated_output_bytes(_planned_hw(args, in_hw), channels, sample_bytes, fmt)
    try:
        batch.check_free_space(target, needed)
    except batch.NoSpace as exc:
        raise CLIError(exc) from None


def _planned_hw(args: argparse.Namespace, in_hw: tuple[int, int]) -> tuple[int, int]:
    """The result's (height, width), as the engine computes it (Upscaler.output_shape), known
    before any model is loaded."""
    if args.scale is not None:
        return output_size(in_hw, float(args.scale))
    (h, w), th, tw = in_hw, args.height, args.width
    th = th if th is not None else max(1, round(h * tw / w))
    tw = tw if tw is not None else max(1, round(w * th / h))
    return int(th), int(tw)


def precheck_space(args: argparse.Namespace, job: Job) -> None:
    """The free-space check of a job from its input's header alone (8-bit samples, alpha not
    counted: the smallest the result can be), run for every job before the model is loaded and
    measured, so a batch onto a full disk fails in a second. Unreadable inputs pass here: their
    one line comes when they are read."""
    try:
        with io.open_image(job.source, max_pixels=args.max_pixels) as im:
            in_hw, bands = (im.height, im.width), im.getbands()
    except io.ImageReadError:
        return
    channels = 1 if bands[0] in ("L", "I", "F") and "R" not in bands else 3
    check_space(args, in_hw, channels, 1, final_target(job, args.inputs, _format(args)))


def _size(args: argparse.Namespace) -> tuple[int | None, int | None] | None:
    """--width/--height as the engine's (height, width) size; None when --scale is given."""
    return None if args.scale is not None else (args.height, args.width)


def upscale_file(job: Job, args: argparse.Namespace, upscaler: Upscaler,
                 created: list[Path]) -> Path:
    """Load, upscale and atomically save one image; the path written."""
    target = final_target(job, args.inputs, _format(args))
    image = io.load_image(job.source, max_pixels=args.max_pixels)
    check_size(args, upscaler, image)
    w, h = image.size
    check_space(args, (h, w), (3 if image.pixels.ndim == 3 else 1) + (image.alpha is not None),
                np.dtype(io.stored_dtype(target, image.bit_depth, _format(args))).itemsize,
                target)
    with tqdm(total=100, desc=job.source.name, unit="%", leave=False, disable=None,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]") as bar:
        def progress(fraction: float) -> None:
            bar.update(round(100 * fraction) - bar.n)

        # A cancel check that never cancels: with it, a tile that cannot stop (ncnn) runs on a
        # helper thread, so Ctrl+C and SIGTERM reach this one within a poll, not after the tile.
        result = upscaler.upscale(image.image, args.scale, _size(args), progress=progress,
                                  cancel=lambda: False,
                                  out_dtype=io.stored_dtype(target, image.bit_depth,
                                                            _format(args)))
    # only the metadata is needed from here: let the input's pixels go before encoding
    like = replace(image, pixels=np.empty((0, 0), np.float32), alpha=None)
    del image
    options = {"quality": args.quality} if args.quality is not None else {}
    make_folder(target.parent, created)  # a folder input's sub-folder
    return io.save_image(target, result, like=like, format=_format(args), notice=note, **options)


def make_folder(folder: Path, created: list[Path]) -> None:
    """Create ``folder`` and its missing parents, adding each one made to ``created`` (removed
    again by :func:`remove_empty` when nothing was written into it); CLIError on failure."""
    missing = []
    for parent in (folder, *folder.parents):
        if parent.is_dir() or os.path.lexists(parent):
            break
        missing.append(parent)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"{folder}: cannot create the output folder "
                       f"({exc.strerror or exc})") from None
    created += reversed(missing)


def remove_empty(created: list[Path]) -> None:
    """Remove the folders this run made that stayed empty (deepest first): a failed run leaves
    nothing behind."""
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only an empty folder


def run_upscale(args: argparse.Namespace) -> int:
    """`drrn upscale`: every input in turn; a failing file is reported and the batch goes on."""
    jobs = plan_jobs(args)
    created: list[Path] = []
    if args.out_dir is not None:
        make_folder(args.out_dir, created)
    try:
        return _run_jobs(args, jobs, created)
    finally:
        remove_empty(created)


def _run_jobs(args: argparse.Namespace, jobs: list[Job], created: list[Path]) -> int:
    failures: list[str] = []
    runnable = []
    for job in jobs:  # a full disk: one line per file in a second, before any model is measured
        try:
            if not job.skip:
                precheck_space(args, job)
        except CLIError as exc:
            error(exc)
            failures.append(str(job.source))
        else:
            runnable.append(job)
    if not any(not job.skip for job in runnable):
        for job in runnable:
            note(f"{job.source}: skipped, {job.skip} (--existing skip)")
        return report_failures(failures, len(jobs))
    model, plus = choose_model(args.model)
    upscaler = make_upscaler(
        model, device=args.device, precision=args.precision,
        backend=args.backend, tile=args.tile, ensemble=args.ensemble or plus,
        compile=compile_allowed(args.compile),
        notice=note,
    )
    with tqdm(total=len(jobs), desc="images", unit="img", disable=True if len(jobs) == 1 else None,
              leave=False, initial=len(jobs) - len(runnable)) as overall:
        for job in runnable:
            if job.skip:
                note(f"{job.source}: skipped, {job.skip} (--existing skip)")
                overall.update()
                continue
            try:
                written = upscale_file(job, args, upscaler, created)
            except (CLIError, io.ImageReadError, io.ImageWriteError, OutOfMemory) as exc:
                error(exc)
                failures.append(str(job.source))
            else:
                tqdm.write(str(written))  # the result's path on stdout, above the progress bars
            release_free_memory()  # this image's buffers: back to the OS, not kept for ever
            overall.update()
    return report_failures(failures, len(jobs))

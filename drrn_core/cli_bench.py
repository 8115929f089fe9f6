"""`drrn bench`: the paper's evaluation protocol over image folders, as a table, JSON and CSV."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from drrn_core.atomic import write_text_atomic
from drrn_core.cli_common import (
    CLIError,
    check_output_folder,
    error,
    integer_scale,
    load_model,
    make_upscaler,
    note,
    report_failures,
    require_file,
)
from drrn_core.errors import READ_ERRORS, describe_read_error
from drrn_core.metrics.protocol import (
    BICUBIC,
    IMAGE_SUFFIXES,
    BenchResult,
    Restorer,
    bench_csv,
    bench_json,
    iter_benchmark,
    list_images,
)

METRICS = ("psnr", "ssim", "ifc")

HELP = """\
Evaluate models with the paper's protocol (MATLAB Y channel, modcrop, bicubic LR/ILR, shave = scale,
PSNR/SSIM/IFC) and print a paper-style table of means per dataset, scale and model.

A folder is a dataset named after the folder; loose image files are grouped into one dataset per
parent folder. 'bicubic' always runs the protocol's own bicubic baseline.

--json FILE writes {"dataset": NAME, "runs": [{"model", "scale", "mean": {...}, "images": [...]}]}
for one dataset, and a JSON list of such objects, one per dataset, when several are given.
--csv FILE writes one row per image: dataset,model,scale,image,psnr,ssim,ifc.
An exact restoration (e.g. bicubic on a flat image) has an infinite PSNR: 'inf' in the table and
CSV, null in JSON (PSNR is never skipped, so null means infinite); a mean with one infinite PSNR
is infinite.
Both are written atomically, and only when at least one image was scored. A bad image is
reported and left out (the others still run; exit status 1). --no-ifc skips IFC (the slowest
metric; its fields are then null); IFC needs at least 72 px per side after shaving."""


def add_bench_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `drrn bench`."""
    p = sub.add_parser(
        "bench", help="benchmark models on image folders (PSNR/SSIM/IFC)", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sources", nargs="+", type=Path, metavar="DIR_OR_FILE",
                   help="dataset folders and/or ground-truth image files")
    p.add_argument("--scale", nargs="+", type=integer_scale, default=[2, 3, 4], metavar="S",
                   help="integer scales (default: 2 3 4)")
    p.add_argument("--model", action="append", metavar="bicubic|NAME|PATH",
                   help="model to evaluate; repeat for several (default: bicubic)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    p.add_argument("--csv", type=Path, metavar="FILE", help="write per-image results as CSV")
    p.add_argument("--per-image", action="store_true", help="print per-image rows in the table")
    p.add_argument("--no-ifc", action="store_true", help="skip IFC")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda[:N]|mps|vulkan[:N]",
                   help="where DRRN models run (default: auto; 'drrn devices' lists them)")
    p.add_argument("--precision", default="fp32", metavar="fp32|auto|fp32-fast|bf16|fp16",
                   help="DRRN arithmetic (default: exact fp32, so the numbers do not depend on "
                        "the machine's matrix units; auto is faster)")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "ncnn"],
                   help="how DRRN tiles run (default: auto; on the CPU, fp32 means PyTorch "
                        "unless --backend ncnn; vulkan always uses ncnn)")
    return p


def psnr_text(value: float | None, digits: int = 2) -> str:
    """PSNR as printed: a null PSNR in bench JSON is an exact restoration, shown as 'inf'
    (protocol module docstring: PSNR is never skipped)."""
    return "inf" if value is None or value == float("inf") else f"{value:.{digits}f}"


def format_cell(mean: dict | None) -> str:
    """One table cell: 'PSNR / SSIM / IFC' with the paper's precision ('-' where missing)."""
    if mean is None:
        return "-"
    ifc = mean.get("ifc")
    ifc_text = "-" if ifc is None else f"{ifc:.3f}"
    ssim = mean.get("ssim")
    ssim_text = "-" if ssim is None else f"{ssim:.4f}"
    return f"{psnr_text(mean.get('psnr'))} / {ssim_text} / {ifc_text}"


def _align(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def format_table(results: list[dict], per_image: bool = False) -> str:
    """A paper-style table of bench results (objects of the bench JSON shape): one row per dataset
    and scale, one 'PSNR / SSIM / IFC' column per model, optionally per-image rows below each."""
    models = list(dict.fromkeys(run["model"] for res in results for run in res["runs"]))
    rows = [["dataset", "scale", *models]]
    for res in results:
        runs = {(run["model"], run["scale"]): run for run in res["runs"]}
        for scale in sorted({run["scale"] for run in res["runs"]}):
            found = [runs.get((m, scale)) for m in models]
            rows.append([res["dataset"], f"x{scale:g}",
                         *(format_cell(r["mean"] if r else None) for r in found)])
            if per_image:
                by_model = [{im["image"]: im for im in (r["images"] if r else [])} for r in found]
                names = dict.fromkeys(n for images in by_model for n in images)
                rows += [[f"  {name}", "", *(format_cell(images.get(name)) for images in by_model)]
                         for name in names]
    return "PSNR / SSIM / IFC on Y, border shaved by the scale\n" + _align(rows)


@dataclass(frozen=True)
class Dataset:
    """A named group of ground-truth images."""

    name: str
    images: list[Path]


def collect_datasets(sources: Sequence[Path]) -> list[Dataset]:
    """Folders become datasets named after them; loose files are grouped by parent folder."""
    groups: dict[Path, Dataset] = {}
    for src in sources:
        if src.is_dir():
            images = list_images(src)
            if not images:
                raise CLIError(f"{src}: no images found ({', '.join(IMAGE_SUFFIXES)})")
            key = src.resolve()
        else:
            images = [require_file(src)]
            key = src.resolve().parent
        groups.setdefault(key, Dataset(key.name or str(key), [])).images.extend(images)
    return list(groups.values())


def bench_models(specs: Sequence[str] | None, device: str,
                 precision: str = "fp32", backend: str = "auto") -> dict[str, Restorer | str]:
    """Display name -> protocol restorer ('bicubic' is the protocol's own baseline)."""
    models: dict[str, Restorer | str] = {}
    for spec in specs or [BICUBIC]:
        if spec == BICUBIC:
            models[BICUBIC] = BICUBIC
            continue
        loaded = load_model(spec)
        name = loaded.descriptor.name
        if name in models:  # two files of one architecture: tell them apart by the argument
            name = f"{name} ({spec})"
        models[name] = make_upscaler(loaded, device=device, precision=precision,
                                     backend=backend, notice=note).restore_y
    return models


def run_dataset(
    dataset: Dataset, args: argparse.Namespace, models: dict[str, Restorer | str], bar: tqdm
) -> tuple[dict, list[str]]:
    """Score one dataset image by image (a bad image fails alone); its JSON and failures."""
    results: list[BenchResult] = []
    failures: list[str] = []
    for path in dataset.images:
        scored: list[BenchResult] = []
        try:
            for result in iter_benchmark([path], args.scale, models, with_ifc=not args.no_ifc):
                scored.append(result)
                bar.update()
        except READ_ERRORS as exc:
            error(describe_read_error(exc, path))
            failures.append(str(path))
            bar.update(len(args.scale) * len(models) - len(scored))
        else:
            results += scored
    return bench_json(dataset.name, results), failures


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file (following links; by resolved path when one is new)."""
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def run_bench(args: argparse.Namespace) -> int:
    """`drrn bench`: run, print the table, write --json/--csv; 1 when any image failed."""
    for out in (args.json, args.csv):
        if out is not None:
            check_output_folder(out)
    if args.json is not None and args.csv is not None and _same(args.json, args.csv):
        raise CLIError(f"{args.json}: --json and --csv name the same file")
    datasets = collect_datasets(args.sources)
    for out in (args.json, args.csv):
        inputs = [p for d in datasets for p in d.images] + list(args.sources)
        if out is not None and any(_same(out, p) for p in inputs):
            raise CLIError(f"{out}: refusing to overwrite an input with the results")
    models = bench_models(args.model, args.device, args.precision, args.backend)
    total = sum(len(d.images) for d in datasets) * len(args.scale) * len(models)
    results, failures = [], []
    with tqdm(total=total, desc="bench", unit="run", disable=None, leave=False) as bar:
        for dataset in datasets:
            bar.set_postfix_str(dataset.name)
            res, failed = run_dataset(dataset, args, models, bar)
            results.append(res)
            failures += failed
    total_images = sum(len(d.images) for d in datasets)
    if not any(res["runs"] for res in results):
        return report_failures(failures, total_images)  # nothing scored: no table, no files
    print(format_table(results, per_image=args.per_image))
    if args.json is not None:
        doc = results[0] if len(results) == 1 else results
        write_text_atomic(args.json, json.dumps(doc, indent=2) + "\n")
    if args.csv is not None:
        write_text_atomic(args.csv, bench_csv(results))
    return report_failures(failures, total_images)

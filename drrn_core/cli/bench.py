"""`drrn bench`: the paper's evaluation protocol over image folders, as a table, JSON and CSV."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

from drrn_core import limits, weights
from drrn_core.atomic import write_text_atomic
from drrn_core.cli.common import (
    CLIError,
    check_output_folder,
    error,
    integer_scale,
    load_model_spec,
    make_upscaler,
    note,
    positive_int,
    report_failures,
)
from drrn_core.metrics import benchmark
from drrn_core.metrics.benchmark import (
    Dataset,
    DatasetError,
    Failed,
    Results,
    ResultsFileError,
    RunInfo,
    bench_csv,
)
from drrn_core.metrics.protocol import BICUBIC, Restorer

HELP = """\
Evaluate models with the paper's protocol (MATLAB Y channel, modcrop, bicubic LR/ILR, shave = scale,
PSNR/SSIM/IFC) and print a paper-style table of means per dataset, scale and model.

A folder is a dataset named after the folder (two folders of one name get their parent's name in
front, e.g. a/Set5 and b/Set5); loose image files are grouped into one dataset per parent folder.
'bicubic' always runs the protocol's own bicubic baseline.

--json FILE writes {"dataset": NAME, "runs": [{"model", "scale", "mean": {...}, "images": [...]}]}
for one dataset, and a JSON list of such objects, one per dataset, when several are given.
--csv FILE writes one row per image: dataset,model,scale,image,psnr,ssim,ifc,seconds (the
seconds the restoration of that image took; JSON has them as "seconds" per image).
--table FILE.md or FILE.tex writes the table of means to paste into a paper (Markdown, or a
LaTeX booktabs table), each row's best PSNR in bold, each model's weights hash named below it.
--resume FILE.json reuses the results of an earlier --json file: only the images, scales and
models it lacks are computed, and FILE.json is rewritten with all of them. A result is reused only
when it was computed with the same weights file (its SHA-256, kept in the JSON), precision and
--no-ifc choice; otherwise it is computed again. A missing FILE.json is started.
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
                   help="dataset folders (their images, or those of an HR / GTmod12 / GT "
                   "sub-folder; a folder of such folders gives one dataset each) and/or "
                   "ground-truth image files")
    p.add_argument("--scale", nargs="+", type=integer_scale, default=[2, 3, 4], metavar="S",
                   help="integer scales (default: 2 3 4)")
    p.add_argument("--model", action="append", metavar="bicubic|NAME|PATH",
                   help="model to evaluate; repeat for several (default: bicubic); NAME+ or "
                   "PATH+ evaluates its self-ensemble (8 flips/rotations averaged, 8x slower)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    p.add_argument("--csv", type=Path, metavar="FILE", help="write per-image results as CSV")
    p.add_argument("--table", type=Path, metavar="FILE.md|FILE.tex",
                   help="write the table of means as Markdown (.md) or LaTeX (.tex)")
    p.add_argument("--resume", type=Path, metavar="FILE.json",
                   help="reuse the results in FILE.json (as --json writes it), compute only what "
                        "it lacks, and write all of them back to FILE.json")
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
    p.add_argument("--max-pixels", type=positive_int, default=limits.MAX_BENCH_PIXELS,
                   metavar="N", help="refuse ground-truth images larger than N pixels "
                   f"(default {limits.MAX_BENCH_PIXELS:,}: the protocol holds float64 copies)")
    return p


def format_cell(scores: Mapping | None) -> str:
    """One table cell: 'PSNR / SSIM / IFC' with the paper's precision ('-' where missing)."""
    return benchmark.format_scores(scores)


def _align(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def format_table(results: list[dict], per_image: bool = False) -> str:
    """A paper-style table of bench results (objects of the bench JSON shape): one row per dataset
    and scale, one 'PSNR / SSIM / IFC' column per model, optionally per-image rows below each."""
    models, grid = benchmark.means_grid(results)
    runs = {(res["dataset"], run["model"], run["scale"]): run
            for res in results for run in res["runs"]}
    rows = [["dataset", "scale", *models]]
    for row in grid:
        rows.append([row.dataset, f"x{row.scale:g}", *(format_cell(m) for m in row.means)])
        if per_image:
            found = [runs.get((row.dataset, m, row.scale)) for m in models]
            by_model = [{im["image"]: im for im in (r["images"] if r else [])} for r in found]
            names = dict.fromkeys(n for images in by_model for n in images)
            rows += [[f"  {name}", "", *(format_cell(images.get(name)) for images in by_model)]
                     for name in names]
    return "PSNR / SSIM / IFC on Y, border shaved by the scale\n" + _align(rows)


def collect_datasets(sources: Sequence[Path]) -> list[Dataset]:
    """benchmark.collect_datasets, a bad source becoming a CLIError."""
    try:
        return benchmark.collect_datasets(sources)
    except DatasetError as exc:
        raise CLIError(exc) from None


def bench_models(specs: Sequence[str] | None, device: str,
                 precision: str = "fp32", backend: str = "auto") -> dict[str, Restorer | str]:
    """Display name -> protocol restorer ('bicubic' is the protocol's own baseline)."""
    return {name: restorer for name, (restorer, _) in
            _models_with_info(specs, device, precision, backend, True).items()}


def _models_with_info(specs: Sequence[str] | None, device: str, precision: str, backend: str,
                      with_ifc: bool) -> dict[str, tuple[Restorer | str, RunInfo]]:
    """Display name -> (protocol restorer, what its results depend on: weights hash, precision,
    IFC)."""
    models: dict[str, tuple[Restorer | str, RunInfo]] = {}
    for spec in specs or [BICUBIC]:
        if spec == BICUBIC:
            models[BICUBIC] = (BICUBIC, RunInfo(with_ifc=with_ifc))
            continue
        loaded, ensemble = load_model_spec(spec)
        name = loaded.descriptor.name + (weights.ENSEMBLE_SUFFIX if ensemble else "")
        if name in models:  # two files of one architecture: tell them apart by the argument
            name = f"{name} ({spec})"
        up = make_upscaler(loaded, device=device, precision=precision, backend=backend,
                           ensemble=ensemble, notice=note)
        info = RunInfo(benchmark.file_sha256(loaded.path), up.precision, with_ifc)
        models[name] = (up.restore_y, info)
    return models


def load_resume(path: Path) -> Results:
    """The results of a --resume file (none when it does not exist yet); a damaged file is a
    CLIError (it is not overwritten)."""
    if not path.exists():
        return Results()
    try:
        return benchmark.read_results(path)
    except ResultsFileError as exc:
        raise CLIError(exc) from None


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file (following links; by resolved path when one is new)."""
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def run_bench(args: argparse.Namespace) -> int:
    """`drrn bench`: run (with --resume, only what FILE.json lacks), print the table, write
    --json/--csv/--table (and the --resume file); 1 when any image failed."""
    outputs = [out for out in (args.json, args.csv, args.table) if out is not None]
    for out in [*outputs, *([args.resume] if args.resume is not None else [])]:
        check_output_folder(out)
    if args.table is not None and args.table.suffix.lower() not in benchmark.TABLE_FORMATS:
        raise CLIError(f"{args.table}: --table writes .md (Markdown) or .tex (LaTeX)")
    for i, out in enumerate(outputs):
        if any(_same(out, other) for other in outputs[i + 1:]):
            raise CLIError(f"{out}: two outputs name the same file")
    datasets = collect_datasets(args.sources)
    inputs = [p for d in datasets for p in d.images] + list(args.sources)
    for out in [*outputs, *([args.resume] if args.resume is not None else [])]:
        if any(_same(out, p) for p in inputs):
            raise CLIError(f"{out}: refusing to overwrite an input with the results")
    kept = load_resume(args.resume) if args.resume is not None else Results()
    found = _models_with_info(args.model, args.device, args.precision, args.backend,
                              not args.no_ifc)
    models = {name: restorer for name, (restorer, _) in found.items()}
    infos = {name: info for name, (_, info) in found.items()}

    def known(dataset: Dataset, path: Path, scale: int, model: str) -> bool:
        return kept.reusable(dataset.name, path.name, scale, model, infos[model]) is not None

    wanted = sum(len(d.images) for d in datasets) * len(args.scale) * len(models)
    reused = sum(known(d, p, s, m) for d in datasets for p in d.images for s in args.scale
                 for m in models)
    if args.resume is not None:
        note(f"{args.resume}: {reused} of {wanted} results reused, "
             f"{wanted - reused} to compute")
    failures: list[str] = []
    with tqdm(total=wanted - reused, desc="bench", unit="run", disable=None, leave=False) as bar:
        for event in benchmark.run(datasets, args.scale, models, with_ifc=not args.no_ifc,
                                   max_pixels=args.max_pixels, skip=known):
            if isinstance(event, Failed):
                error(event.message)
                failures.append(str(event.path))
            else:
                kept.add(event.dataset.name, event.result, infos[event.result.model])
            bar.set_postfix_str(event.dataset.name, refresh=False)
            bar.update(event.done - bar.n)
    results = kept.documents()
    total_images = sum(len(d.images) for d in datasets)
    if not results:
        return report_failures(failures, total_images)  # nothing scored: no table, no files
    print(format_table(results, per_image=args.per_image))
    text = benchmark.results_text(results)
    for out in (args.resume, args.json):
        if out is not None:
            write_text_atomic(out, text)
    if args.csv is not None:
        write_text_atomic(args.csv, bench_csv(results))
    if args.table is not None:
        fmt = benchmark.TABLE_FORMATS[args.table.suffix.lower()]
        write_text_atomic(args.table, benchmark.means_table(results, fmt))
    return report_failures(failures, total_images)

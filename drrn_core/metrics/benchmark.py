"""Benchmark runs: the paper's protocol over dataset folders (`drrn bench`, the Benchmark tab).

One implementation of everything between the protocol (drrn_core.metrics.protocol: one image,
one scale, one restorer) and a front end:

* datasets: :func:`collect_datasets` groups folders and loose image files into named datasets
  (one naming rule, :func:`dataset_names`);
* the runner: :func:`run` scores every image x scale x model, yielding :class:`Scored` per result
  and :class:`Failed` for an image that cannot be scored (it fails alone; the others still run),
  with the seconds each restoration took;
* means: :func:`mean_score` (arithmetic, as the paper's tables; one infinite PSNR makes the mean
  infinite; IFC only when every image has one);
* outputs: :func:`bench_json` (the documented JSON), :func:`bench_csv`, and
  :func:`format_score` / :func:`format_scores`, the one way scores are written as text;
* results kept between runs: :class:`RunInfo` (what a run's numbers depend on besides the image)
  and :class:`Results` (results by dataset, run and image, merged run after run; what
  `drrn bench --resume` and the Benchmark tab reuse instead of computing again).

JSON shape (one object per dataset)::

    {"dataset": "Set5", "runs": [{"model": "bicubic", "scale": 2,
      "weights_sha256": null, "precision": null, "with_ifc": true,
      "mean": {"psnr": .., "ssim": .., "ifc": ..},
      "images": [{"image": "img_001.png", "psnr": .., "ssim": .., "ifc": .., "seconds": ..}]}]}

"weights_sha256" (the SHA-256 of the model's weights file), "precision" (what the model ran in)
and "with_ifc" (whether IFC was computed) are the run's :class:`RunInfo`; both are null for
bicubic. Files written before they existed lack them: their results are never reused.

"ifc" is null when skipped or when the shaved image is under 72 px a side. Non-finite values are
null so the JSON stays standard: PSNR is never skipped, so a null "psnr" means an exact
restoration (PSNR = inf). "seconds" is the wall time of that image's restoration (the model on
the ILR; for bicubic, the protocol's bicubic upscale of the LR).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drrn_core import limits
from drrn_core.errors import READ_ERRORS, UserError, describe_read_error
from drrn_core.filesystem import missing_reason, resolved
from drrn_core.imaging import imresize
from drrn_core.imaging.io import IMAGE_SUFFIXES, list_images, read_gt
from drrn_core.metrics.protocol import (
    BICUBIC,
    ImageScore,
    ProtocolImages,
    Restorer,
    check_scale,
    prepare,
    restore,
    score,
)

METRICS = ("psnr", "ssim", "ifc")
CSV_COLUMNS = ("dataset", "model", "scale", "image", *METRICS, "seconds")
DIGITS = {"psnr": 2, "ssim": 4, "ifc": 3}
"""Decimals of each metric in tables and readouts, as the paper prints them."""


class DatasetError(UserError):
    """A benchmark source that cannot be used (missing, not an image file, an empty folder)."""


# -- datasets -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """A named group of ground-truth images (``folder``: where they are)."""

    name: str
    folder: Path
    images: list[Path] = field(default_factory=list)


def dataset_names(folders: Sequence[Path]) -> list[str]:
    """The one naming rule: a dataset is named after its folder; when two folders share a name,
    both get their parent's name in front ("a/Set5", "b/Set5"), and when that still clashes,
    their whole path."""
    names = [f.name or str(f) for f in folders]
    longer = [f"{f.parent.name}/{n}" if names.count(n) > 1 else n
              for f, n in zip(folders, names, strict=True)]
    return [str(f) if longer.count(n) > 1 else n for f, n in zip(folders, longer, strict=True)]


HR_FOLDERS = ("HR", "GTmod12", "GT")
"""Sub-folders holding a dataset's ground truth in common benchmark downloads (EDSR's
``Set5/HR``, BasicSR's ``Set5/GTmod12``), looked for (any case) in a folder without images of
its own. Low-resolution images beside them are never read: the protocol makes its own LR."""


def ground_truth_images(folder: Path) -> list[Path]:
    """A dataset folder's ground-truth images: its own (IMAGE_SUFFIXES, sorted), else those of its
    first HR_FOLDERS sub-folder; where ``*_HR`` files lie beside ``*_LR`` ones (SelfExSR's
    layout), only the ``*_HR`` ones. Empty when there are none."""
    images = list_images(folder)
    if not images:
        subs = {p.name.lower(): p for p in folder.iterdir() if p.is_dir()}
        hr = next((subs[n.lower()] for n in HR_FOLDERS if n.lower() in subs), None)
        images = list_images(hr) if hr is not None else []
    tagged = {tag: [p for p in images if p.stem.upper().endswith(tag)] for tag in ("_HR", "_LR")}
    return tagged["_HR"] if tagged["_HR"] and tagged["_LR"] else images


def collect_datasets(sources: Sequence[str | os.PathLike]) -> list[Dataset]:
    """Folders become datasets (ground_truth_images: a folder's images, or its HR sub-folder's);
    a folder with neither, whose sub-folders are datasets (a collection such as ``benchmark/``
    holding Set5 and Set14), gives one dataset per sub-folder; loose image files are grouped
    into one dataset per parent folder; a folder given twice (or a file inside a folder given)
    joins that folder's dataset. DatasetError for a missing source, a non-file or a folder
    without any of these."""
    groups: dict[Path, list[Path]] = {}
    for src in map(Path, sources):
        if src.is_dir():
            found = [(src, ground_truth_images(src))]
            if not found[0][1]:
                found = [(sub, ground_truth_images(sub)) for sub in sorted(src.iterdir())
                         if sub.is_dir() and not sub.name.startswith(".")]
                found = [(sub, images) for sub, images in found if images]
            if not found:
                raise DatasetError(
                    f"No image files in {src} ({', '.join(IMAGE_SUFFIXES)}), nor in an "
                    f"{'/'.join(HR_FOLDERS)} sub-folder or dataset sub-folders")
            pairs = [(resolved(folder), images) for folder, images in found]
        else:
            if not src.exists():
                reason = missing_reason(src)
                raise DatasetError(
                    f"{src}: {'no such file' if reason == 'file not found' else reason}")
            if not src.is_file():
                raise DatasetError(f"{src}: not a regular file")
            pairs = [(resolved(src).parent, [src])]
        for key, images in pairs:
            group = groups.setdefault(key, [])
            group.extend(p for p in images if p not in group)
    return [Dataset(name, folder, images) for name, (folder, images) in
            zip(dataset_names(list(groups)), groups.items(), strict=True)]


# -- the runner -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchResult:
    """One scored image of a benchmark run; ``index`` of ``total`` counts results (1-based);
    ``seconds``: wall time of the restoration (> 0)."""

    model: str
    scale: int
    image: str
    score: ImageScore
    index: int
    total: int
    seconds: float = 0.0


def _restore_timed(images: ProtocolImages, restorer: Restorer | str | None
                   ) -> tuple[np.ndarray, float]:
    """The restored Y and the seconds it took. Bicubic's work is the protocol's bicubic upscale
    of the LR (recomputed here, so its time is measured; the result equals ``images.ilr_y``)."""
    start = time.perf_counter()
    if restorer is None or restorer == BICUBIC:
        out = imresize(images.lr_y, float(images.scale))
    else:
        out = restore(images, restorer)
    return out, time.perf_counter() - start


Cell = Callable[[Path, int, str], bool]
"""(image path, scale, model name) -> bool: a cell of a benchmark run."""


def iter_benchmark(
    paths: Sequence[str | os.PathLike],
    scales: Sequence[int],
    models: Mapping[str, Restorer | str | None],
    with_ifc: bool = True,
    cancel: Callable[[], bool] | None = None,
    max_pixels: int = limits.MAX_BENCH_PIXELS,
    skip: Cell | None = None,
    starting: Callable[[Path, int, str], None] | None = None,
) -> Iterator[BenchResult]:
    """Score every image x scale x model, yielding each result as soon as it is ready.

    ``models`` maps a display name to a restorer (None or "bicubic" = the protocol's bicubic).
    Each image (at most ``max_pixels``) is read and prepared once per scale. ``cancel()``
    returning True (checked before
    every restoration) ends the run early; results already yielded stand. ``skip(path, scale,
    model)`` True leaves that cell out (an image whose every cell is skipped is not even read);
    ``starting(path, scale, model)`` is called just before each restoration. Errors propagate
    (use :func:`run` for a run where a bad image fails alone).
    """
    checked = [check_scale(s) for s in scales]
    todo = [(Path(path), _wanted(Path(path), checked, models, skip)) for path in paths]
    total = sum(len(names) for _, wanted in todo for names in wanted.values())
    index = 0
    for path, wanted in todo:
        if not wanted:
            continue
        arr = read_gt(path, max_pixels)
        last = list(wanted)[-1]
        for s, names in wanted.items():
            images = prepare(arr, s)
            if s == last:
                del arr  # only the lumas are scored: the decoded image can go before scoring
            for name in names:
                if cancel is not None and cancel():
                    return
                index += 1
                if starting is not None:
                    starting(path, s, name)
                out, seconds = _restore_timed(images, models[name])
                result = score(images.gt_y, out, s, with_ifc)
                yield BenchResult(name, s, path.name, result, index, total, seconds)


def _wanted(path: Path, scales: Sequence[int], models: Mapping, skip: Cell | None
            ) -> dict[int, list[str]]:
    """The scales of one image with anything to compute, and their models (``skip`` left out)."""
    wanted = {s: [m for m in models if skip is None or not skip(path, s, m)] for s in scales}
    return {s: names for s, names in wanted.items() if names}


@dataclass(frozen=True)
class Scored:
    """One result of :func:`run`; ``done`` of ``total`` results of the whole run so far."""

    dataset: Dataset
    path: Path
    result: BenchResult
    done: int
    total: int


@dataclass(frozen=True)
class Failed:
    """An image that could not be scored (read error, too small for the scale, ...); its
    ``skipped`` results count as done."""

    dataset: Dataset
    path: Path
    error: BaseException
    done: int
    total: int

    @property
    def reason(self) -> str:
        """One line (naming the file when the error does)."""
        return describe_read_error(self.error)

    @property
    def message(self) -> str:
        """One line that always names the file."""
        return describe_read_error(self.error, self.path)


def run(datasets: Sequence[Dataset], scales: Sequence[int],
        models: Mapping[str, Restorer | str | None], with_ifc: bool = True,
        cancel: Callable[[], bool] | None = None,
        max_pixels: int = limits.MAX_BENCH_PIXELS,
        skip: Callable[[Dataset, Path, int, str], bool] | None = None,
        starting: Callable[[Dataset, Path, int, str], None] | None = None,
        ) -> Iterator[Scored | Failed]:
    """Every image of every dataset through the protocol, image by image: a bad image yields one
    :class:`Failed` and the run goes on. ``cancel()`` (checked before every restoration and
    after every image) ends the run; what was yielded stands. Bad scales raise ValueError first.
    ``skip(dataset, path, scale, model)`` True leaves a cell out (e.g. a result kept from an
    earlier run): it is neither computed nor counted in ``total``. ``starting(dataset, path,
    scale, model)`` is called just before each restoration (to say what runs now).
    """
    checked = [check_scale(s) for s in scales]

    def cells(dataset: Dataset) -> Cell | None:
        return None if skip is None else lambda p, s, m: skip(dataset, p, s, m)

    counts = {(d.name, Path(p)): sum(map(len, _wanted(Path(p), checked, models,
                                                       cells(d)).values()))
              for d in datasets for p in d.images}
    total = sum(counts.values())
    done = 0
    for dataset in datasets:
        skip_here = cells(dataset)
        start_here = None if starting is None else (
            lambda p, s, m, d=dataset: starting(d, p, s, m))
        for path in dataset.images:
            needed = counts[(dataset.name, Path(path))]
            if not needed:
                continue
            start = done
            try:
                for result in iter_benchmark([path], checked, models, with_ifc, cancel,
                                             max_pixels, skip_here, start_here):
                    done += 1
                    yield Scored(dataset, Path(path), result, done, total)
            except READ_ERRORS as exc:
                if cancel is not None and cancel():
                    return
                done = start + needed
                yield Failed(dataset, Path(path), exc, done, total)
            if cancel is not None and cancel():
                return


# -- means and outputs ------------------------------------------------------------------------
def mean_score(scores: Iterable[ImageScore]) -> ImageScore:
    """Arithmetic means (as the paper's tables); IFC is None unless every image has one. An
    infinite PSNR (exact restoration) makes the mean PSNR infinite."""
    scores = list(scores)
    if not scores:
        raise ValueError("no scores to average")
    ifcs = [s.ifc for s in scores if s.ifc is not None]
    return ImageScore(
        psnr=float(np.mean([s.psnr for s in scores])),
        ssim=float(np.mean([s.ssim for s in scores])),
        ifc=float(np.mean(ifcs)) if len(ifcs) == len(scores) else None,
    )


def _json_number(value: float | None) -> float | None:
    """Finite floats as they are; None (JSON null) for missing and non-finite values."""
    return float(value) if value is not None and math.isfinite(value) else None


def _score_dict(s: ImageScore) -> dict[str, float | None]:
    return {"psnr": _json_number(s.psnr), "ssim": _json_number(s.ssim), "ifc": _json_number(s.ifc)}


def _seconds(value: float) -> float:
    return round(float(value), 6)


def bench_json(dataset: str, results: Iterable[BenchResult],
               info: Mapping[str, RunInfo] | None = None) -> dict:
    """The benchmark JSON (module docstring): one run per (model, scale) in order of appearance;
    ``info`` (model name -> RunInfo) adds each run's weights hash, precision and IFC choice."""
    runs: dict[tuple[str, int], list[BenchResult]] = {}
    for r in results:
        runs.setdefault((r.model, r.scale), []).append(r)
    info = info or {}
    return {
        "dataset": dataset,
        "runs": [
            {
                "model": model,
                "scale": scale,
                **(info[model].fields() if model in info else {}),
                "mean": _score_dict(mean_score(r.score for r in rs)),
                "images": [image_entry(r) for r in rs],
            }
            for (model, scale), rs in runs.items()
        ],
    }


def image_entry(result: BenchResult) -> dict:
    """One image of a bench JSON run: its name, scores (null for infinite) and seconds."""
    return {"image": result.image, **_score_dict(result.score),
            "seconds": _seconds(result.seconds)}


def entry_score(entry: Mapping) -> ImageScore:
    """The ImageScore of a bench JSON image (a null PSNR is an exact restoration: infinite)."""
    psnr = entry.get("psnr")
    return ImageScore(math.inf if psnr is None else float(psnr), float(entry["ssim"]),
                      None if entry.get("ifc") is None else float(entry["ifc"]))


# -- results kept between runs ----------------------------------------------------------------
def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (a model's weights: what its results depend on)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


INFO_FIELDS = ("weights_sha256", "precision", "with_ifc")


@dataclass(frozen=True)
class RunInfo:
    """What a run's scores depend on besides the images and the scale: the SHA-256 of the
    model's weights file and the precision it ran in (both None for bicubic), and whether IFC
    was computed. A kept result is reused only by a run of the same model with equal RunInfo."""

    weights_sha256: str | None = None
    precision: str | None = None
    with_ifc: bool = True

    def fields(self) -> dict:
        """The run's JSON fields (INFO_FIELDS)."""
        return {"weights_sha256": self.weights_sha256, "precision": self.precision,
                "with_ifc": self.with_ifc}

    @classmethod
    def of_run(cls, run: Mapping) -> RunInfo | None:
        """A bench JSON run's RunInfo; None when it does not say (a file from before they were
        written: its results are never reused)."""
        if not all(k in run for k in INFO_FIELDS):
            return None
        sha, precision, ifc = (run[k] for k in INFO_FIELDS)
        if not (isinstance(sha, str | None) and isinstance(precision, str | None)
                and isinstance(ifc, bool)):
            return None
        return cls(sha, precision, ifc)


class ResultsFileError(UserError):
    """A results file that cannot be read as bench JSON (one line, naming the file)."""


@dataclass
class _Run:
    info: RunInfo | None
    images: dict[str, dict] = field(default_factory=dict)


class Results:
    """Benchmark results by dataset, run (model, scale) and image, each run with its RunInfo:
    what `drrn bench --resume` and the Benchmark tab keep from run to run.

    A result is reusable (:meth:`reusable`) by a run of the same model whose RunInfo is equal
    (same weights, precision and IFC choice); :meth:`add` records a new result, replacing the
    image's earlier one, and first drops a run's results computed under another RunInfo (they
    are not comparable with the new ones). :meth:`documents` gives the bench JSON (means
    recomputed). Image entries and datasets may carry extra fields (the tab keeps each image's
    path), written by :meth:`documents` unless ``extra=False``.
    """

    def __init__(self) -> None:
        self._sets: dict[str, dict] = {}
        self._runs: dict[str, dict[tuple[str, int], _Run]] = {}

    @classmethod
    def from_documents(cls, docs: Iterable[Mapping]) -> Results:
        """Results of bench JSON documents (ValueError, one line, for anything else)."""
        out = cls()
        for doc in docs:
            if not isinstance(doc, Mapping) or not isinstance(doc.get("dataset"), str) \
                    or not isinstance(doc.get("runs"), list):
                raise ValueError("expected objects with a \"dataset\" name and \"runs\"")
            name = doc["dataset"]
            out._sets.setdefault(name, {}).update(
                {k: v for k, v in doc.items() if k not in ("dataset", "runs")})
            runs = out._runs.setdefault(name, {})
            for run in doc["runs"]:
                key, info = _run_key(run), RunInfo.of_run(run)
                if key in runs and runs[key].info != info:
                    runs[key] = _Run(info)
                target = runs.setdefault(key, _Run(info))
                for entry in run.get("images", []):
                    _check_entry(entry)
                    target.images[entry["image"]] = dict(entry)
        return out

    def __len__(self) -> int:
        return sum(len(r.images) for runs in self._runs.values() for r in runs.values())

    def datasets(self) -> list[str]:
        return list(self._runs)

    def dataset_extra(self, dataset: str) -> dict:
        """A dataset's extra fields (a dict to update)."""
        return self._sets.setdefault(dataset, {})

    def reusable(self, dataset: str, image: str, scale: int, model: str,
                 info: RunInfo) -> dict | None:
        """The kept entry of this cell when it was computed under ``info``, else None."""
        run = self._runs.get(dataset, {}).get((model, int(scale)))
        if run is None or run.info is None or run.info != info:
            return None
        return run.images.get(image)

    def add(self, dataset: str, result: BenchResult, info: RunInfo, **extra) -> bool:
        """Record one result (with ``extra`` fields on its image entry). True when the run's
        earlier results, computed under another RunInfo, were dropped first."""
        self._sets.setdefault(dataset, {})
        runs = self._runs.setdefault(dataset, {})
        key = (result.model, int(result.scale))
        dropped = key in runs and runs[key].info != info and bool(runs[key].images)
        if key not in runs or runs[key].info != info:
            runs[key] = _Run(info)
        runs[key].images[result.image] = {**image_entry(result), **extra}
        return dropped

    def entries(self) -> Iterator[tuple[str, str, int, RunInfo | None, dict]]:
        """(dataset, model, scale, info, image entry) of every result, in order."""
        for dataset, runs in self._runs.items():
            for (model, scale), run in runs.items():
                for entry in run.images.values():
                    yield dataset, model, scale, run.info, entry

    def documents(self, extra: bool = True) -> list[dict]:
        """The bench JSON documents (one per dataset with results); means recomputed."""
        docs = []
        for dataset, runs in self._runs.items():
            out = [{"model": model, "scale": scale,
                    **(run.info.fields() if run.info is not None else {}),
                    "mean": _score_dict(mean_score(map(entry_score, run.images.values()))),
                    "images": [e if extra else {k: e[k] for k in e if k in _ENTRY_KEYS}
                               for e in run.images.values()]}
                   for (model, scale), run in runs.items() if run.images]
            if out:
                docs.append({"dataset": dataset, **(self._sets.get(dataset, {}) if extra else {}),
                             "runs": out})
        return docs


_ENTRY_KEYS = ("image", *METRICS, "seconds")


def _run_key(run: object) -> tuple[str, int]:
    if not isinstance(run, Mapping) or not isinstance(run.get("model"), str) \
            or not isinstance(run.get("scale"), int) or isinstance(run.get("scale"), bool) \
            or not isinstance(run.get("images", []), list):
        raise ValueError("a run without a \"model\" name, an integer \"scale\" or \"images\"")
    return run["model"], run["scale"]


def _check_entry(entry: object) -> None:
    ok = isinstance(entry, Mapping) and isinstance(entry.get("image"), str) and all(
        isinstance(entry.get(m), int | float | None) and not isinstance(entry.get(m), bool)
        for m in (*METRICS, "seconds")) and entry.get("ssim") is not None
    if not ok:
        raise ValueError("an image without a name or with scores that are not numbers")


def read_results(path: str | os.PathLike) -> Results:
    """The results of a bench JSON file (``drrn bench --json``: one object or a list);
    ResultsFileError (one line naming the file) when it cannot be read as one."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return Results.from_documents(doc if isinstance(doc, list) else [doc])
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"{path}: {describe_read_error(exc)}") from None
    except ValueError as exc:  # json.JSONDecodeError included
        raise ResultsFileError(f"{path}: not benchmark results as drrn bench --json writes "
                               f"them ({exc})") from None


def results_text(docs: Sequence[dict]) -> str:
    """Bench JSON documents as the text of a file: one object for one dataset, else a list."""
    return json.dumps(docs[0] if len(docs) == 1 else list(docs), indent=2) + "\n"


def csv_cells(image: Mapping) -> list:
    """The metric and time cells of one image of a bench JSON run, as CSV writes them: an
    infinite (null) PSNR reads ``inf``, a missing IFC or time is empty."""
    cells = [("inf" if m == "psnr" else "") if image.get(m) is None else image[m] for m in METRICS]
    return [*cells, "" if image.get("seconds") is None else image["seconds"]]


def bench_csv(results: Iterable[dict]) -> str:
    """Benchmark JSON documents (:func:`bench_json`) as CSV text, one row per image and run:
    dataset,model,scale,image,psnr,ssim,ifc,seconds (:func:`csv_cells`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for res in results:
        for run_ in res["runs"]:
            for im in run_["images"]:
                writer.writerow([res["dataset"], run_["model"], run_["scale"], im["image"],
                                 *csv_cells(im)])
    return buf.getvalue()


def format_score(metric: str, value: float | None, *, inf: str = "inf",
                 missing: str = "-", digits: int | None = None) -> str:
    """One metric as text with the paper's decimals (DIGITS: PSNR 2, SSIM 4, IFC 3; ``digits``
    overrides them, e.g. `drrn metrics` prints more).

    ``value`` None is ``missing``, except for PSNR in bench JSON, where null means infinite:
    pass ``None`` as PSNR only through :func:`format_scores` with ``null_psnr_is_inf``. An
    infinite value is ``inf`` ("inf" in the CLI and files, "∞" in the app)."""
    if value is None:
        return missing
    if math.isinf(value):
        return inf
    return f"{value:.{DIGITS[metric] if digits is None else digits}f}"


def format_scores(scores: Mapping | None, *, inf: str = "inf", missing: str = "-",
                  null_psnr_is_inf: bool = True, sep: str = " / ") -> str:
    """'PSNR / SSIM / IFC' of a mapping with psnr/ssim/ifc (a bench JSON mean or image);
    ``missing`` for the whole cell when ``scores`` is None. In bench JSON a null PSNR is an
    exact restoration (``null_psnr_is_inf``); elsewhere (e.g. a paper's missing figure) pass
    False to show it as missing."""
    if scores is None:
        return missing
    psnr = scores.get("psnr")
    if psnr is None and null_psnr_is_inf:
        psnr = math.inf
    return sep.join(format_score(m, v, inf=inf, missing=missing)
                    for m, v in zip(METRICS, (psnr, scores.get("ssim"), scores.get("ifc")),
                                    strict=True))


# -- paper-style tables ------------------------------------------------------------------------
TABLE_FORMATS = {".md": "markdown", ".tex": "latex"}
"""Means-table file suffixes and their formats (:func:`means_table`)."""


@dataclass(frozen=True)
class GridRow:
    """One dataset and scale of a means table: each model's mean (None where it did not run)."""

    dataset: str
    scale: int
    means: list[Mapping | None]


def means_grid(results: Iterable[dict]) -> tuple[list[str], list[GridRow]]:
    """(models in order of appearance, one row per dataset and scale) of bench JSON documents."""
    results = list(results)
    models = list(dict.fromkeys(run["model"] for res in results for run in res["runs"]))
    rows = []
    for res in results:
        runs = {(run["model"], run["scale"]): run for run in res["runs"]}
        for scale in sorted({run["scale"] for run in res["runs"]}):
            rows.append(GridRow(res["dataset"], scale,
                                [runs[m, scale]["mean"] if (m, scale) in runs else None
                                 for m in models]))
    return models, rows


def _best(means: list[Mapping | None]) -> int | None:
    """Index of the highest PSNR of a row (null PSNR = infinite), None without any."""
    psnrs = [(math.inf if m.get("psnr") is None else m["psnr"], i)
             for i, m in enumerate(means) if m is not None]
    return max(psnrs)[1] if psnrs else None


HASH_DIGITS = 16
"""Hex digits of a weights SHA-256 named under a means table (64 bits: enough to tell files
apart at a glance; the JSON and CSV carry the whole hash)."""


def weights_hashes(results: Iterable[dict]) -> dict[str, list[str]]:
    """Each model's weights SHA-256 in bench JSON documents (runs that name one; bicubic has
    none), in order of appearance; a model with results from two weights files has both."""
    out: dict[str, list[str]] = {}
    for res in results:
        for run in res["runs"]:
            sha = run.get("weights_sha256")
            if isinstance(sha, str) and sha and sha not in out.setdefault(run["model"], []):
                out[run["model"]].append(sha)
    return {m: shas for m, shas in out.items() if shas}


def _weights_note(results: list[dict], code: Callable[[str], str],
                  name: Callable[[str], str] = str) -> str:
    """'Weights (SHA-256, first 16 hex digits): A, A+ `1234…`; B `abcd…`.' (models sharing a
    file named together), or '' when no run names a weights hash."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for model, shas in weights_hashes(results).items():
        groups.setdefault(tuple(shas), []).append(model)
    if not groups:
        return ""
    parts = [f"{', '.join(map(name, models))} "
             f"{' and '.join(code(sha[:HASH_DIGITS]) for sha in shas)}"
             for shas, models in groups.items()]
    return f"Weights (SHA-256, first {HASH_DIGITS} hex digits): {'; '.join(parts)}."


def means_table(results: Iterable[dict], fmt: str) -> str:
    """The means of bench JSON documents as a paper-style table to paste: one row per dataset and
    scale, one column per model, cells 'PSNR / SSIM / IFC' (the paper's decimals; IFC only when
    it was measured), each row's best PSNR in bold (with two models or more). Each model's
    weights hash (:func:`weights_hashes`) is named in a footnote line (Markdown) or in the
    caption (LaTeX). ``fmt``: "markdown" or "latex" (a booktabs tabular in a table float)."""
    if fmt not in TABLE_FORMATS.values():
        raise ValueError(f"unknown table format {fmt!r} (markdown or latex)")
    results = list(results)
    models, rows = means_grid(results)
    with_ifc = any(m is not None and m.get("ifc") is not None for r in rows for m in r.means)
    shown = METRICS if with_ifc else METRICS[:2]
    metrics = " / ".join({"psnr": "PSNR (dB)", "ssim": "SSIM", "ifc": "IFC"}[m] for m in shown)

    def cell(mean: Mapping | None, bold: bool) -> str:
        if mean is None:
            return "–" if fmt == "markdown" else "--"
        text = " / ".join(format_score(m, math.inf if m == "psnr" and mean.get(m) is None
                                       else mean.get(m), missing="–") for m in shown)
        if not bold:
            return text
        return f"**{text}**" if fmt == "markdown" else rf"\textbf{{{text}}}"

    compared = len(models) > 1  # a lone column has nothing to be best against
    body = [[r.dataset, f"×{r.scale}" if fmt == "markdown" else rf"$\times{r.scale}$",
             *(cell(m, compared and i == _best(r.means)) for i, m in enumerate(r.means))]
            for r in rows]
    caption = f"{metrics} on Y, border shaved by the scale" + (
        "; best PSNR in bold" if compared else "")
    if fmt == "markdown":
        lines = ["| Dataset | Scale | " + " | ".join(models) + " |",
                 "|---|---|" + "---:|" * len(models)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        note = _weights_note(results, lambda sha: f"`{sha}`")
        return "\n".join([*lines, "", caption + ".", *(["", note] if note else [])]) + "\n"
    escape = str.maketrans({"_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#"})
    note = _weights_note(results, lambda sha: rf"\texttt{{{sha}}}",
                         lambda m: m.translate(escape))
    caption += "." + (f" {note}" if note else "")
    lines = [r"\begin{table}", r"\centering", rf"\caption{{{caption}}}",
             r"\begin{tabular}{ll" + "c" * len(models) + "}", r"\toprule",
             "Dataset & Scale & " + " & ".join(m.translate(escape) for m in models) + r" \\",
             r"\midrule"]
    lines += [" & ".join([row[0].translate(escape), *row[1:]]) + r" \\" for row in body]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}", r"\end{table}"]) + "\n"

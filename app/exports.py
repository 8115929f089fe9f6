"""Scores out of the app for papers and notebooks: the evaluation view's table as CSV, Markdown or
LaTeX, and benchmark summaries (mean and standard deviation per dataset, scale and model), each
with its provenance (image, scale, model file and its SHA-256, backend, device and precision), so
a number can always be traced to what produced it. Pure functions, no Qt."""

from __future__ import annotations

import csv
import hashlib
import io
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

METHODS = {"bicubic": "Bicubic", "drrn": "DRRN"}


def file_sha256(path: str | Path | None) -> str:
    """Hex SHA-256 of a file ("" for None or an unreadable file)."""
    if path is None:
        return ""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()


@dataclass(frozen=True)
class Provenance:
    """Where scores come from. ``run`` is the engine's one-line description (model, backend,
    device, precision); ``model_sha256`` the weights file's hash."""

    image: str
    scale: int
    model: str
    model_file: str = ""
    model_sha256: str = ""
    run: str = ""
    protocol: str = "Y (BT.601), MATLAB bicubic, border = scale"
    extra: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        items = [("image", self.image), ("scale", f"x{self.scale}"), ("model", self.model),
                 ("model file", self.model_file), ("model sha256", self.model_sha256),
                 ("ran on", self.run), ("protocol", self.protocol), *self.extra.items()]
        return [f"{k}: {v}" for k, v in items if v]


def _value(v: float | None, digits: int) -> str:
    if v is None:
        return ""
    if not math.isfinite(v):
        return "inf"
    return f"{v:.{digits}f}"


def _rows(scores: dict) -> list[tuple[str, str, str, str]]:
    """(method, PSNR, SSIM, IFC) rows of ImageScore-like objects keyed bicubic / drrn."""
    return [(METHODS.get(k, k), _value(s.psnr, 2), _value(s.ssim, 4), _value(s.ifc, 3))
            for k, s in scores.items()]


def scores_csv(scores: dict, prov: Provenance) -> str:
    """One row per method with full-precision values and the provenance in every row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image", "scale", "method", "psnr_db", "ssim", "ifc", "model", "model_sha256",
                "ran_on"])
    for k, s in scores.items():
        w.writerow([prov.image, prov.scale, METHODS.get(k, k), _value(s.psnr, 6),
                    _value(s.ssim, 6), _value(s.ifc, 6), prov.model if k != "bicubic" else "",
                    prov.model_sha256 if k != "bicubic" else "",
                    prov.run if k != "bicubic" else ""])
    return buf.getvalue()


def scores_markdown(scores: dict, prov: Provenance) -> str:
    """A Markdown table followed by the provenance as a list."""
    out = ["| Method | PSNR (dB) | SSIM | IFC |", "|---|---:|---:|---:|"]
    out += [f"| {m} | {p} | {s} | {i or '–'} |" for m, p, s, i in _rows(scores)]
    out.append("")
    out += [f"- {line}" for line in prov.lines()]
    return "\n".join(out) + "\n"


def scores_latex(scores: dict, prov: Provenance) -> str:
    """A booktabs tabular; the provenance as LaTeX comments above it."""
    out = [f"% {line}" for line in prov.lines()]
    out += [r"\begin{tabular}{lrrr}", r"\toprule",
            r"Method & PSNR (dB) & SSIM & IFC \\", r"\midrule"]
    out += [f"{m} & {p} & {s} & {i or '--'} \\\\" for m, p, s, i in _rows(scores)]
    out += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(out) + "\n"


FORMATS = {"CSV": (scores_csv, ".csv"), "Markdown": (scores_markdown, ".md"),
           "LaTeX": (scores_latex, ".tex")}


def summary_rows(rows: list) -> list[list]:
    """Mean and sample standard deviation rows per (dataset, model, scale) of benchmark image
    rows (objects with dataset, model, scale, psnr, ssim, ifc): [dataset, model, scale,
    "mean"|"std", psnr, ssim, ifc] (IFC empty when any image lacks it; std empty for n < 2)."""
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r.dataset, r.model, r.scale), []).append(r)
    out = []
    for (dataset, model, scale), group in groups.items():
        n = len(group)
        for label, fn in (("mean", statistics.fmean), ("std", statistics.stdev)):
            values = []
            for metric in ("psnr", "ssim", "ifc"):
                xs = [getattr(r, metric) for r in group]
                ok = all(x is not None and math.isfinite(x) for x in xs) and (
                    label == "mean" or n > 1)
                values.append(repr(fn(xs)) if ok else "")
            out.append([dataset, model, scale, f"{label} (n={n})", *values])
    return out

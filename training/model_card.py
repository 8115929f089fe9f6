"""Write the model card of shipped weights from what was measured: the weights' own training
metadata and the JSON of ``drrn bench``, beside the paper's tables (from ../shared when present).

    drrn bench Set5 Set14 --scale 2 3 4 --model bicubic --model PATH --json a.json
    python training/model_card.py --weights PATH --bench a.json [b.json ...] --default

Writes <weights>.md (the card) and <weights>.json (the sidecar metadata: results, default flag)
and prints the Markdown results table for the README. The card is read by users (Help > About
shows it as it is), so it is written in their words: no source paths, commands or jargon.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
from pathlib import Path

from drrn_core.engine.device import cpu_name
from drrn_core.metrics.benchmark import format_scores
from drrn_core.weights import read_header

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference"


def paper_numbers(method: str) -> dict[tuple[str, int], dict[str, float]]:
    """{(dataset, scale): {"psnr", "ssim", "ifc"}} of one method in the paper's Tables 2 and 3."""
    out: dict[tuple[str, int], dict[str, float]] = {}
    for name, keys in (("paper_table2_psnr_ssim.csv", ("psnr_y", "ssim_y")),
                       ("paper_table3_ifc.csv", ("ifc_y",))):
        path = REFERENCE / name
        if not path.is_file():
            continue
        for row in csv.DictReader(path.open()):
            if row["method"] == method:
                entry = out.setdefault((row["dataset"], int(row["scale"])), {})
                for k in keys:
                    entry[k.removesuffix("_y")] = float(row[k])
    return out


def fmt(m: dict | None) -> str:
    """'PSNR / SSIM / IFC' as drrn bench prints it; '–' for a missing figure (a paper's)."""
    if not m or m.get("psnr") is None:
        return "–"
    return format_scores(m, missing="–", null_psnr_is_inf=False)


def results_table(bench: list[dict], model_name: str, paper_name: str,
                  paper: dict) -> tuple[str, dict]:
    lines = [f"| set | scale | bicubic | {model_name} | the paper's {paper_name} "
             "| PSNR difference to the paper |", "|---|---|---|---|---|---|"]
    results: dict = {}
    for ds in bench:
        runs = {(r["model"], r["scale"]): r["mean"] for r in ds["runs"]}
        for scale in sorted({r["scale"] for r in ds["runs"]}):
            ours = next((m for (name, s), m in runs.items() if s == scale and name != "bicubic"),
                        None)
            ref = paper.get((ds["dataset"], scale))
            gap = (f"{ours['psnr'] - ref['psnr']:+.2f} dB" if ours and ref and "psnr" in ref
                   else "–")
            lines.append(f"| {ds['dataset']} | x{scale} | {fmt(runs.get(('bicubic', scale)))} | "
                         f"{fmt(ours)} | {fmt(ref)} | {gap} |")
            if ours:
                results[f"{ds['dataset']}_x{scale}"] = ours
    return "\n".join(lines), results


def lineage_text(training: dict) -> str:
    """Where the weights came from: a fresh start, or the run/model they continued."""
    lineage = training.get("lineage") or {}
    text = "trained from scratch in one run" if not lineage else (
        f"started from {lineage.get('from', '?')} ({lineage.get('patches_seen', 0):,} patches, "
        f"{lineage.get('elapsed_s', 0) / 3600:.2f} h), then {training.get('patches_seen', 0):,} "
        "patches in this run")
    return text + ("; the file holds an EMA of the weights" if training.get("ema") else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--bench", type=Path, nargs="+", required=True,
                    help="JSON files written by drrn bench --json")
    ap.add_argument("--paper-name", default="DRRN_B1U9", help="method name in the paper's tables")
    ap.add_argument("--default", action="store_true", help="mark as the default bundled model")
    ap.add_argument("--note", default="", help="a status paragraph for the card, in users' words")
    ap.add_argument("--hardware", help="where it was trained, when not only on this machine")
    a = ap.parse_args()
    config, descriptor, meta = read_header(a.weights)
    bench: list[dict] = []
    for path in a.bench:
        doc = json.loads(path.read_text())
        bench += doc if isinstance(doc, list) else [doc]
    table, results = results_table(bench, descriptor.name, a.paper_name,
                                   paper_numbers(a.paper_name))
    training = meta.get("training", {})
    recipe = meta.get("recipe", {})
    hours = training.get("elapsed_s_total", training.get("elapsed_s", 0)) / 3600
    scales = "/".join(f"x{s:g}" for s in recipe.get("scales", []))
    rows = [
        ("architecture", f"B={config.B} U={config.U} channels={config.channels} "
         f"depth={config.depth} (BatchNorm: {config.batchnorm}, biases: {config.bias})"),
        ("input / output", "brightness (Y, MATLAB BT.601) in [0, 1]; it refines a bicubic "
         "enlargement; global residual"),
        ("training data", f"the paper's 291 images (T91 + BSD200), {scales} mixed, "
         "8 rotations/flips"),
        ("training recipe", f"{recipe.get('name', '?')}: {recipe.get('optimizer', '?')} lr "
         f"{recipe.get('lr', '?')} ({recipe.get('schedule', '?')}), batch "
         f"{recipe.get('batch', '?')}, patch {recipe.get('patch', '?')} "
         f"({recipe.get('sampling', '?')})"),
        ("iterations / patches seen", f"{training.get('iteration', '?')} / "
         f"{training.get('patches_seen_total', training.get('patches_seen', 0)):,} "
         "(the paper: ~660K iterations, ~85M patches)"),
        ("lineage", lineage_text(training)),
        ("wall-clock", f"{hours:.2f} h of training, " + (a.hardware or "; ".join(
            training.get("hardware") or [
                f"on {training.get('device', '?')} ({training.get('precision', '?')}), "
                f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()}"]))),
    ]
    facts = "\n".join(f"| {k} | {v} |" for k, v in rows)
    card = (
        f"# {a.weights.stem}\n\nDRRN (Tai, Yang, Liu, CVPR 2017) trained by DRRN Studio's own "
        "engine; one model for every scale.\n\n" + (a.note + "\n\n" if a.note else "")
        + "| Property | Value |\n|---|---|\n" + facts
        + "\n\n## Measured quality\n\nPSNR (dB) / SSIM / IFC on the brightness (Y) channel of "
        "the standard test sets, a border as wide as the scale left out; higher is better.\n\n"
        + table
        + "\n\nThe numbers for bicubic and this model were measured by DRRN Studio on these "
        "weights; the paper's are from its Tables 2 and 3. A negative difference means these "
        "weights are behind the paper's released model.\n"
    )
    a.weights.with_suffix(".md").write_text(card, encoding="utf-8")
    sidecar = {"results": results, "model_card": a.weights.with_suffix(".md").name}
    if a.default:
        sidecar["default"] = True
    a.weights.with_suffix(".json").write_text(json.dumps(sidecar, indent=1) + "\n")
    print(table)


if __name__ == "__main__":
    main()

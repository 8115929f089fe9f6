"""`drrn models`: the bundled and user models, with their descriptors and recorded results."""

from __future__ import annotations

import argparse
import json
import re
from typing import TypeGuard

from drrn_core import weights
from drrn_core.cli.common import EXIT_OK
from drrn_core.metrics.benchmark import format_scores


def add_models_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `drrn models`."""
    return sub.add_parser(
        "models", help="list bundled and user models",
        description="List the bundled and user models: name, where it lives, its architecture, "
        "the precisions it runs in, how it was trained and the results recorded in its "
        "metadata. The default model is marked with '*'; a file "
        "that cannot be used (damaged, or a user model with a bundled model's name) is marked "
        "'!' with the reason, and never stops the others from being listed.",
    )


_CELL = re.compile(r"(?P<dataset>.+)_x(?P<scale>\d+)")


def _result_lines(results: object) -> list[str]:
    """Recorded results: bench-JSON objects (one or a list) as 'Set5 x2 bicubic: P / S / I' lines,
    a model card's ``{"Set5_x2": {"psnr", "ssim", "ifc"}, ...}`` as one 'Set5: x2 P / S / I · x3
    ...' line per dataset, anything else as compact JSON."""
    docs = results if isinstance(results, list) else [results]
    runs = [d for d in docs if isinstance(d, dict) and {"dataset", "runs"} <= d.keys()]
    if len(runs) == len(docs):
        return [f"{doc['dataset']} x{run['scale']:g} {run['model']}: {format_scores(run['mean'])}"
                for doc in runs for run in doc["runs"]]
    cells = [(_CELL.fullmatch(k), v) for k, v in results.items()] \
        if isinstance(results, dict) else []
    found = [(m, v) for m, v in cells if m and isinstance(v, dict) and "psnr" in v]
    if cells and len(found) == len(cells):
        by_dataset: dict[str, list[str]] = {}
        for m, scores in found:
            by_dataset.setdefault(m["dataset"], []).append(
                f"x{m['scale']} {format_scores(scores)}")
        return [f"{name}: " + " · ".join(parts) for name, parts in by_dataset.items()]
    return [json.dumps(results, separators=(", ", ": "))]


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _training_line(training: object) -> str | None:
    """Where the weights come from, as the training loop records it in metadata["training"]:
    'trained on 1,283,744 patches in 18.0 h (recipe anytime; on CPU NAME (cpu, bf16))'; None when
    the metadata records no training."""
    if not isinstance(training, dict):
        return None
    patches = training.get("patches_seen_total", training.get("patches_seen"))
    if not _number(patches):
        return None
    line = f"trained on {int(patches):,} patches"
    seconds = training.get("elapsed_s_total", training.get("elapsed_s"))
    if _number(seconds):
        line += f" in {seconds / 3600:.1f} h"
    notes: list[str] = []
    if isinstance(training.get("recipe"), str):
        notes.append(f"recipe {training['recipe']}")
    hardware = training.get("hardware")
    if isinstance(hardware, list) and hardware and all(isinstance(h, str) for h in hardware):
        notes.append("on " + ", ".join(hardware))
    return line + (f" ({'; '.join(notes)})" if notes else "")


def run_models(args: argparse.Namespace) -> int:
    """`drrn models`: one block per model; a hint where to put weights when there are none."""
    entries, broken = weights.scan_models()
    default = weights.default_model_name()
    for entry in entries:
        mark = "*" if entry.source == "bundled" and entry.name == default else " "
        print(f"{mark} {entry.name}  [{entry.source}]  {entry.path}")
        print(f"    {entry.descriptor.summary()}")
        trained = _training_line(entry.metadata.get("training"))
        if trained:
            print(f"    {trained}")
        for line in _result_lines(entry.metadata["results"]) if "results" in entry.metadata else []:
            print(f"    {line}")
    for b in broken:
        print(f"! {b.name}  [{b.source}, not usable]  {b.path}")
        print(f"    {b.reason}")
    if not entries:
        print(f"No models installed. Bundled weights go in {weights.bundled_dir()}, user models "
              f"in {weights.user_dir()}.")
    print(f"'bicubic' is always available (--model bicubic); NAME{weights.ENSEMBLE_SUFFIX} runs a "
          "model's self-ensemble (8 flips/rotations averaged, 8x the time).")
    return EXIT_OK

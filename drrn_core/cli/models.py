"""`drrn models`: the bundled and user models, with their descriptors and recorded results."""

from __future__ import annotations

import argparse
import json

from drrn_core import weights
from drrn_core.benchmark import format_scores
from drrn_core.cli.common import EXIT_OK


def add_models_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `drrn models`."""
    return sub.add_parser(
        "models", help="list bundled and user models",
        description="List the bundled and user models: name, where it lives, its architecture "
        "and the results recorded in its metadata. The default model is marked with '*'; a file "
        "that cannot be used (damaged, or a user model with a bundled model's name) is marked "
        "'!' with the reason, and never stops the others from being listed.",
    )


def _result_lines(results: object) -> list[str]:
    """Recorded results: bench-JSON objects (one or a list) as 'Set5 x2 bicubic: P / S / I' lines,
    anything else as compact JSON."""
    docs = results if isinstance(results, list) else [results]
    if not all(isinstance(d, dict) and {"dataset", "runs"} <= d.keys() for d in docs):
        return [json.dumps(results, separators=(", ", ": "))]
    return [f"{doc['dataset']} x{run['scale']:g} {run['model']}: {format_scores(run['mean'])}"
            for doc in docs for run in doc["runs"]]


def run_models(args: argparse.Namespace) -> int:
    """`drrn models`: one block per model; a hint where to put weights when there are none."""
    entries, broken = weights.scan_models()
    default = weights.default_model_name()
    for entry in entries:
        mark = "*" if entry.source == "bundled" and entry.name == default else " "
        print(f"{mark} {entry.name}  [{entry.source}]  {entry.path}")
        print(f"    {entry.descriptor.summary()}")
        for line in _result_lines(entry.metadata["results"]) if "results" in entry.metadata else []:
            print(f"    {line}")
    for b in broken:
        print(f"! {b.name}  [{b.source}, not usable]  {b.path}")
        print(f"    {b.reason}")
    if not entries:
        print(f"No models installed. Bundled weights go in {weights.bundled_dir()}, user models "
              f"in {weights.user_dir()}.")
    print("'bicubic' is always available (--model bicubic).")
    return EXIT_OK

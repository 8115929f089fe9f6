"""Parsers of training option text shared by `drrn train` (drrn_core.cli.train) and
training/gpu_oneshot.py. The command itself lives in the CLI package."""

from __future__ import annotations

import argparse
import re


def parse_duration(text: str) -> float:
    """'90s', '45m', '2h', '1h30m' or plain seconds -> seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 90m or 2h)")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)

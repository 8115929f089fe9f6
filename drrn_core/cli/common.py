"""What every `drrn` subcommand shares: the user-facing error type, one-line messages, argument
types and the batch summary. No image or model logic lives here (that is drrn_core's)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from drrn_core import limits
from drrn_core.errors import UserError, one_line

if TYPE_CHECKING:  # imported where used: both load torch, which `drrn --help` must not wait for
    from drrn_core import weights
    from drrn_core.engine import Upscaler

PROG = "drrn"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class CLIError(UserError):
    """A failure the user can act on: printed as one `drrn: error: ...` line, never a traceback."""


# What scoring one ground-truth image can raise for a bad image: the reader's ImageReadError
# (a UserError naming the file), the protocol's ValueError (e.g. too small for the scale) and an
# OSError from the file system.
def error(message: object) -> None:
    """Print `drrn: error: MESSAGE` on stderr (above any progress bar)."""
    from tqdm import tqdm  # here: a tenth of a second that `drrn --help` does not need

    tqdm.write(f"{PROG}: error: {one_line(message)}", file=sys.stderr)


def note(message: object) -> None:
    """Print `drrn: MESSAGE` on stderr (above any progress bar; stdout stays for results)."""
    from tqdm import tqdm

    tqdm.write(f"{PROG}: {one_line(message)}", file=sys.stderr)


FROZEN_COMPILE_NOTICE = ("--compile is not available in the packaged drrn (torch.compile needs "
                         "a Python installation and a C++ compiler); running without it")


def compile_allowed(requested: bool) -> bool:
    """--compile, except in a frozen (PyInstaller) build, where torch.compile fails while it
    registers its lowerings, before the engine's eager fallback can catch it: say so once."""
    if requested and getattr(sys, "frozen", False):
        note(FROZEN_COMPILE_NOTICE)
        return False
    return requested


def scale_factor(text: str) -> float:
    """argparse type: an upscaling factor in limits.UPSCALE_SCALE (> 1 and <= 16)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"scale must be a number, got {text!r}") from None
    problem = limits.UPSCALE_SCALE.problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def integer_scale(text: str) -> int:
    """argparse type: an integer benchmark scale in limits.BENCH_SCALE (2..16; the protocol
    modcrops by it)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"benchmark scales are integers, got {text!r}") from None
    if limits.BENCH_SCALE.problem(value):
        raise argparse.ArgumentTypeError(
            f"benchmark scale must be between {limits.BENCH_SCALE.low:g} and "
            f"{limits.BENCH_SCALE.high:g}, got {text}")
    return value


def _int_at_least(text: str, low: int) -> int:
    """An integer >= ``low`` from argparse text, else ArgumentTypeError (one line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected a number >= {low}, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def tile_size(text: str) -> int:
    """argparse type: a tile side in pixels, >= limits.MIN_TILE (smaller tiles would be almost
    all margin and take hours)."""
    value = positive_int(text)
    if value < limits.MIN_TILE:
        raise argparse.ArgumentTypeError(
            f"tile must be at least {limits.MIN_TILE} pixels, got {text}")
    return value


def thread_count(text: str) -> int:
    """argparse type: a number of CPU threads in limits.MIN_THREADS..MAX_THREADS."""
    value = positive_int(text)
    if not limits.MIN_THREADS <= value <= limits.MAX_THREADS:
        raise argparse.ArgumentTypeError(
            f"threads must be between {limits.MIN_THREADS} and {limits.MAX_THREADS}, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def quality(text: str) -> int:
    """argparse type: a JPEG/WebP quality in limits.QUALITY_RANGE (1..100)."""
    value = positive_int(text)
    low, high = limits.QUALITY_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"quality must be between {low} and {high}, got {text}")
    return value


def report_failures(failures: Sequence[str], total: int) -> int:
    """Print a summary of a batch's failed files on stderr; the exit status for the batch."""
    if not failures:
        return EXIT_OK
    if total > 1:
        note(f"{len(failures)} of {total} failed: " + ", ".join(failures))
    return EXIT_FAILED


def check_output_folder(path: Path) -> None:
    """Fail early (before a long run) when `path` cannot be created: its folder is missing."""
    folder = path.parent
    if not folder.is_dir():
        raise CLIError(f"{path}: cannot write, {folder} is not an existing folder")
    if path.is_dir():
        raise CLIError(f"{path}: is a directory, expected a file name")


def load_model_spec(spec: str) -> tuple[weights.LoadedModel, bool]:
    """(model, ensemble) of a model name (see `drrn models`) or weights file, either maybe
    followed by "+" for its self-ensemble (weights.split_ensemble); an unknown name fails with
    one line that lists the installed models."""
    from drrn_core import weights

    name, ensemble = weights.split_ensemble(spec)
    try:
        return weights.resolve_model(name), ensemble
    except weights.WeightsError as exc:
        raise CLIError(exc) from None


def make_upscaler(loaded: weights.LoadedModel | None, **options) -> Upscaler:
    """engine.Upscaler(loaded, **options), a bad device or precision becoming a CLIError."""
    from drrn_core.engine import DeviceError, Upscaler

    try:
        return Upscaler(loaded, **options)
    except DeviceError as exc:
        raise CLIError(exc) from None

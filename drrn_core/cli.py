"""`drrn`: the command-line face of drrn_core (upscale, bench, metrics, models, devices, train).

A thin layer: argument parsing, one-line error reporting and exit codes live here; every image,
model and metric operation is drrn_core's. Exit status: 0 success, 1 failure (in a batch: any file
failed), 2 usage error, 130 interrupted (Ctrl-C). Errors are one `drrn: error: ...` line on stderr;
a traceback is printed only for internal errors and only with --debug.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from drrn_core import __version__
from drrn_core.cli_bench import add_bench_parser, run_bench
from drrn_core.cli_common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    CLIError,
    error,
    note,
    one_line,
)
from drrn_core.cli_devices import add_devices_parser, run_devices
from drrn_core.cli_metrics import add_metrics_parser, run_metrics
from drrn_core.cli_models import add_models_parser, run_models
from drrn_core.cli_upscale import add_upscale_parser, run_upscale
from drrn_core.training.command import add_train_parser, run_train

Handler = Callable[[argparse.Namespace], int]


class ArgumentParser(argparse.ArgumentParser):
    """argparse with usage errors as one `drrn: error: ...` line (exit 2) instead of usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{PROG}: error: {one_line(message)} (see '{self.prog} --help')\n")


def build_parser() -> tuple[ArgumentParser, dict[str, Handler]]:
    """The `drrn` parser and the handler of each subcommand."""
    parser = ArgumentParser(
        prog=PROG,
        description="DRRN single-image super-resolution: upscale images, benchmark models with "
        "the paper's protocol (PSNR/SSIM/IFC on MATLAB Y), compare two images, list and train "
        "models, list devices.",
        epilog="Exit status: 0 ok, 1 failed (any file of a batch), 2 usage error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="print a traceback for internal errors"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_upscale_parser(sub)
    add_bench_parser(sub)
    add_metrics_parser(sub)
    add_models_parser(sub)
    add_devices_parser(sub)
    add_train_parser(sub)
    handlers: dict[str, Handler] = {
        "upscale": run_upscale,
        "bench": run_bench,
        "metrics": run_metrics,
        "models": run_models,
        "devices": run_devices,
        "train": run_train,
    }
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    """Run `drrn` with `argv` (default: sys.argv[1:]); the exit status."""
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    try:
        return handlers[args.command](args)
    except CLIError as exc:
        error(exc)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        note("interrupted")
        return EXIT_INTERRUPTED
    except MemoryError:
        error("out of memory (try a smaller --tile, a smaller image or a smaller scale)")
    except Exception as exc:  # an internal error: one line unless --debug
        if args.debug:
            traceback.print_exc()
            error(f"internal error: {type(exc).__name__}: {exc}")
        else:
            error(f"internal error: {type(exc).__name__}: {exc} (run 'drrn --debug ...' for a "
                  "traceback)")
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

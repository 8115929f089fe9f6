"""`drrn`: the command-line face of drrn_core (upscale, bench, metrics, models, devices, train).

A thin layer: argument parsing, one-line error reporting and exit codes live here; every image,
model and metric operation is drrn_core's. Exit status: 0 success, 1 failure (in a batch: any file
failed), 2 usage error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Errors are one
`drrn: error: ...` line on stderr: a user mistake (any drrn_core.errors.UserError: a bad file,
option, model or folder) as its own message, anything else as "internal error" (our bug), with a
traceback only with --debug. SIGTERM is handled like Ctrl-C, so temporary files are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import traceback
from collections.abc import Callable, Sequence

from drrn_core import __version__
from drrn_core.cli.bench import add_bench_parser, run_bench
from drrn_core.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    PROG,
    error,
    note,
    one_line,
)
from drrn_core.cli.devices import add_devices_parser, run_devices
from drrn_core.cli.metrics import add_metrics_parser, run_metrics
from drrn_core.cli.models import add_models_parser, run_models
from drrn_core.cli.train import add_train_parser, run_train
from drrn_core.cli.upscale import add_upscale_parser, run_upscale
from drrn_core.errors import Terminated, UserError

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
        epilog="Exit status: 0 ok, 1 failed (any file of a batch), 2 usage error, 130 "
        "interrupted, 143 terminated (SIGTERM).",
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


def _terminate(_signum: int, _frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_cleans_up():
    """While a command runs, SIGTERM raises Terminated (so atomic writes remove their temporary
    files, as on Ctrl-C); the previous handler is restored afterwards. A no-op outside the main
    thread, where handlers cannot be installed. `drrn train` installs its own handler."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `drrn` with `argv` (default: sys.argv[1:]); the exit status."""
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    try:
        with _sigterm_cleans_up():
            return handlers[args.command](args)
    except UserError as exc:
        error(exc)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        note("interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        note("terminated")
        return EXIT_TERMINATED
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


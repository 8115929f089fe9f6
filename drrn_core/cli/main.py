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
import importlib
import signal
import sys
import traceback
from collections.abc import Callable, Collection, Sequence

from drrn_core import __version__, memory
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
from drrn_core.errors import Terminated, UserError

Handler = Callable[[argparse.Namespace], int]


class ArgumentParser(argparse.ArgumentParser):
    """argparse with usage errors as one `drrn: error: ...` line (exit 2) instead of usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{PROG}: error: {one_line(message)} (see '{self.prog} --help')\n")


# Each command lives in drrn_core.cli.NAME as add_NAME_parser (its options) and run_NAME; the
# module is imported only when its command is on the command line: most of them load torch, which
# `drrn --help` and `drrn --version` must not wait for. The one-line help is `drrn --help`'s list
# (the same text as the module's own; tests/cli/test_cli_startup.py keeps the two equal).
COMMANDS: dict[str, str] = {
    "upscale": "upscale image files",
    "bench": "benchmark models on image folders (PSNR/SSIM/IFC)",
    "metrics": "PSNR/SSIM/IFC of two images",
    "models": "list bundled and user models",
    "devices": "list the devices DRRN can run on",
    "train": "train a DRRN model (resumable; runs under torchrun for several processes)",
}


class _Registrar:
    """Stands in for the subparsers action when a command's module adds its parser: it gets the
    parser build_parser made for the command (listed with its help), with the module's
    description, epilog and formatter."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser
        self.help: str | None = None

    def add_parser(self, name: str, *, help: str | None = None,  # noqa: A002 - argparse's name
                   **settings: object) -> argparse.ArgumentParser:
        unknown = set(settings) - {"description", "epilog", "formatter_class"}
        if unknown:
            raise TypeError(f"drrn {name}: unsupported parser settings {sorted(unknown)}")
        self.help = help
        for key, value in settings.items():
            setattr(self.parser, key, value)
        return self.parser


def _module(name: str):
    return importlib.import_module(f"drrn_core.cli.{name}")


def handler(name: str) -> Handler:
    """The function that runs `drrn NAME` (imports its module)."""
    return getattr(_module(name), f"run_{name}")


def build_parser(load: Collection[str] | None = None
                 ) -> tuple[ArgumentParser, dict[str, Handler]]:
    """The `drrn` parser and the handler of each subcommand in ``load`` (default: every one).

    Every command is listed; only those in ``load`` get their options (importing their modules),
    so a parser for ``load=()`` answers --help and --version without torch."""
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
    handlers: dict[str, Handler] = {}
    for name, text in COMMANDS.items():
        command = sub.add_parser(name, help=text)
        if load is None or name in load:
            getattr(_module(name), f"add_{name}_parser")(_Registrar(command))
            handlers[name] = handler(name)
    return parser, handlers


def command_in(argv: Sequence[str]) -> str | None:
    """The command `argv` names: its first word that is not an option (drrn's own options,
    --debug, --version and --help, take no value), or None."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


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
    memory.share_one_heap()  # before torch, ncnn or a worker starts a thread
    argv = sys.argv[1:] if argv is None else list(argv)
    command = command_in(argv)
    parser, handlers = build_parser([command] if command else [])
    args = parser.parse_args(argv)
    try:
        with _sigterm_cleans_up():
            return (handlers.get(args.command) or handler(args.command))(args)
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
    except Exception as exc:  # noqa: BLE001 - an internal error: one line unless --debug
        if args.debug:
            traceback.print_exc()
            error(f"internal error: {type(exc).__name__}: {exc}")
        else:
            error(f"internal error: {type(exc).__name__}: {exc} (run 'drrn --debug ...' for a "
                  "traceback)")
    return EXIT_FAILED


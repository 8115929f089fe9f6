"""`drrn`, the command line of drrn_core: one module per command (upscale, bench, metrics,
models, devices, train), the shared parts in :mod:`drrn_core.cli.common`, the entry point in
:mod:`drrn_core.cli.main`. Every image, model and metric operation is drrn_core's own services;
the app never imports this package (an import-linter contract in pyproject.toml)."""

from drrn_core.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

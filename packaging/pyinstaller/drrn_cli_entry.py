"""Frozen entry point of the `drrn` console executable (build.spec); mirrors the console script."""

import multiprocessing
import sys

if __name__ == "__main__":
    # A no-op unless a child process was spawned (e.g. `drrn train` DataLoader workers).
    multiprocessing.freeze_support()
    from drrn_core.cli import main

    sys.exit(main())

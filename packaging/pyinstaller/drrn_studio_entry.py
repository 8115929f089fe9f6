"""Frozen entry point of the `drrn-studio` executable (build.spec); mirrors the gui-script.

A file of its own because PyInstaller runs its entry scripts as top-level `__main__`, where
app/__main__.py's package-relative imports would not resolve.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    # A no-op unless a child process was spawned (DataLoader workers on Windows/macOS); then it
    # runs the child's job instead of starting a second window.
    multiprocessing.freeze_support()
    from app.__main__ import main

    sys.exit(main())

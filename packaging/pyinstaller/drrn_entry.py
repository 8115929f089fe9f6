"""Frozen entry point of both programs (build.spec): the `drrn` command-line tool when started
under that name, the `drrn-studio` desktop app otherwise.

On Linux the bundle has one executable, `drrn-studio`, and `drrn` is a symbolic link to it; on
Windows both executables are built from this script (windowed app, console CLI). A file of its
own because PyInstaller runs entry scripts as top-level `__main__`, where app/__main__.py's
package-relative imports would not resolve.
"""

import multiprocessing
import os
import sys

CLI_NAMES = ("drrn",)


def program_name(argv0: str) -> str:
    """The name this process was started as: `drrn` for /usr/bin/drrn or drrn.exe."""
    name = os.path.basename(argv0).lower()
    return name[:-4] if name.endswith(".exe") else name


if __name__ == "__main__":
    # A no-op unless a child process was spawned (DataLoader workers); then it runs the
    # child's job instead of starting the app or the CLI again.
    multiprocessing.freeze_support()
    if program_name(sys.argv[0]) in CLI_NAMES:
        from drrn_core.cli import main
    else:
        from app.__main__ import main

    sys.exit(main())

"""Where the data folders the code reads at run time live: the repository's folders in a source
checkout, ``drrn_core/_data/NAME`` in an installed wheel, beside the executable in a frozen
bundle."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def packaged_data(name: str) -> Path | None:
    """``drrn_core/_data/NAME`` of an installed wheel (found through importlib.resources), or
    None in a source checkout / editable install, where setup.py copies nothing there."""
    from importlib.resources import files

    folder = files("drrn_core").joinpath("_data", name)
    return Path(str(folder)) if isinstance(folder, Path) and folder.is_dir() else None


def resources_dir() -> Path:
    """Icons, weights and model cards: $DRRN_RESOURCES, the frozen bundle's, the installed
    wheel's package data (``drrn_core/_data/resources``), or the repository's ``resources/``."""
    if os.environ.get("DRRN_RESOURCES"):
        return Path(os.environ["DRRN_RESOURCES"])
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        return Path(sys._MEIPASS) / "resources"
    return packaged_data("resources") or Path(__file__).resolve().parents[2] / "resources"

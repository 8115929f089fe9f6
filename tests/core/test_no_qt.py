"""drrn_core never imports Qt (PySide6, PyQt, pyqtgraph, superqt): the CLI runs headless."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import drrn_core

QT = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "shiboken6")
PACKAGE = Path(drrn_core.__file__).parent


def test_importing_every_module_loads_no_qt():
    names = [m.name for m in pkgutil.walk_packages([str(PACKAGE)], "drrn_core.")]
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}:\n"
        "    importlib.import_module(n)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {QT!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_source_line_imports_qt():
    pattern = re.compile(rf"^\s*(from|import)\s+({'|'.join(QT)})\b", re.MULTILINE)
    offenders = [str(p) for p in PACKAGE.rglob("*.py") if pattern.search(p.read_text("utf-8"))]
    assert offenders == []

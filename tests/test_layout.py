"""README's Layout section is the tree: every package and module of drrn_core/ and app/ is named
there, every top-level folder too, and everything it names exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INDENT = 2
"""Spaces per level of the tree in the README block."""
DESCRIPTION_COLUMN = 27
"""Where a line's description starts; a line starting there continues the line above."""


def layout_entries() -> list[Path]:
    """The paths (relative to the repository) that README's Layout block names."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout and conventions", 1)[1]
    block = section.split("```\n", 2)[1]
    parents: list[Path] = []
    entries = []
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if not line.strip() or indent >= DESCRIPTION_COLUMN:
            continue
        assert indent % INDENT == 0, f"odd indent in README layout: {line!r}"
        depth = indent // INDENT
        names = re.split(r" {2,}", line.strip(), maxsplit=1)[0]
        parents = parents[:depth]
        base = parents[-1] if parents else Path()
        for name in names.split(", "):
            path = base / name.rstrip("/")
            entries.append(path)
            if name.endswith("/"):
                folder = path
        if names.endswith("/"):
            parents.append(folder)
    return entries


def tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return [Path(p) for p in out.stdout.splitlines() if (ROOT / p).exists()]


def test_everything_the_layout_names_exists():
    missing = [str(p) for p in layout_entries() if not (ROOT / p).exists()]
    assert not missing, f"README's Layout names what the tree lacks: {missing}"


def test_every_package_module_and_top_level_folder_is_named():
    named = set(layout_entries())
    files = tracked() or [p.relative_to(ROOT) for p in ROOT.rglob("*.py")]
    wanted = set()
    for path in files:
        if len(path.parts) > 1 and not path.parts[0].startswith("."):
            wanted.add(Path(path.parts[0]))  # every top-level folder
        if path.parts[0] in ("drrn_core", "app"):
            for i in range(2, len(path.parts)):
                wanted.add(Path(*path.parts[:i]))  # every sub-package or folder
            if path.suffix == ".py" and path.name != "__init__.py":
                wanted.add(path)
    unnamed = sorted(str(p) for p in wanted - named)
    assert not unnamed, f"README's Layout does not name: {unnamed}"


def test_the_reader_sees_a_change_of_tree():
    """The parser follows nesting: a module is placed under the folder line above it."""
    entries = layout_entries()
    assert Path("drrn_core/engine/upscale.py") in entries
    assert Path("app/services/pipeline.py") in entries
    assert Path("drrn_core/upscale.py") not in entries

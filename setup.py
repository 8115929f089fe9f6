"""Build hook: put the product's data files into the wheel as package data.

The source tree keeps icons, weights and model cards in ``resources/`` and the named training
recipes in ``training/*.toml`` (where the scripts, the PyInstaller spec and the trainers expect
them). A wheel must carry them too, or ``pip install .`` ships a CLI with no model and no recipe.
``build_py`` therefore copies them into the built package as ``drrn_core/_data/resources/...``
and ``drrn_core/_data/training/*.toml``, where ``drrn_core.packaging.data.resources_dir`` and
``drrn_core.trainer.recipe.recipes_dir`` find them through ``importlib.resources``. Editable
installs skip the copy: there the lookups fall back to the source tree. Everything else about
the project is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA = Path("drrn_core") / "_data"


def product_data() -> list[tuple[Path, Path]]:
    """(source file, path inside the package tree) for every data file the wheel must hold."""
    pairs = []
    resources = ROOT / "resources"
    for src in sorted(resources.rglob("*")):
        rel = src.relative_to(resources)
        if src.is_file() and not any(part.startswith((".", "__")) for part in rel.parts):
            pairs.append((src, DATA / "resources" / rel))
    for src in sorted((ROOT / "training").glob("*.toml")):
        pairs.append((src, DATA / "training" / src.name))
    return pairs


class BuildPyWithData(build_py):
    """build_py that also copies resources/ and training/*.toml into drrn_core/_data/."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # editable: drrn_core finds the source tree's files directly
        shutil.rmtree(Path(self.build_lib) / DATA, ignore_errors=True)  # no stale files
        for src, rel in product_data():
            target = Path(self.build_lib) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [str(Path(self.build_lib) / rel) for _, rel in product_data()]


setup(cmdclass={"build_py": BuildPyWithData})

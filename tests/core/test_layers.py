"""The import-linter contract that keeps drrn_core's services off the CLI names every module."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import drrn_core

ROOT = Path(__file__).resolve().parents[2]


def test_every_service_module_is_under_the_no_cli_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"]
                   if c.get("forbidden_modules") == ["drrn_core.cli"]
                   and c["source_modules"][0].startswith("drrn_core.")]
    modules = {f"drrn_core.{m.name}" for m in pkgutil.iter_modules(drrn_core.__path__)
               if m.name not in ("cli", "_data")}
    assert set(contract["source_modules"]) == modules

"""Third-party notices from installed metadata (drrn_core.packaging.notices; build.spec uses the
same code
for the bundle's THIRD_PARTY_NOTICES.txt)."""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

import pytest

from drrn_core.packaging import notices


def test_top_level_names_map_to_their_distributions():
    found = {d.metadata["Name"].lower() for d in notices.distributions_for(
        ["torch", "numpy.libs", "PySide6", "shiboken6", "_no_such_module_"])}
    assert {"torch", "numpy", "pyside6_essentials", "shiboken6"} <= found
    assert notices.distributions_for(["_no_such_module_"]) == []


def test_notice_carries_the_licence_text_and_expression():
    numpy = notices.notice_for(md.distribution("numpy"))
    assert numpy.licence.startswith("BSD-3-Clause")
    assert any("Redistribution and use in source and binary forms" in t for _, t in numpy.texts)
    rendered = numpy.render()
    assert rendered.splitlines()[1] == f"numpy {md.version('numpy')}"


@pytest.mark.skipif(not (notices.COMMON_LICENCES / "LGPL-3").is_file(),
                    reason="no /usr/share/common-licenses/LGPL-3 (Debian base-files) here")
def test_pyside_without_licence_files_gets_the_lgpl_text():
    pyside = notices.notice_for(md.distribution("PySide6_Essentials"))
    assert "LGPL-3.0" in pyside.licence
    names = [Path(n).name for n, _ in pyside.texts]
    assert names[:2] == ["LGPL-3", "GPL-3"] or any("LICENSE" in n.upper() for n in names)
    assert any("GNU LESSER GENERAL PUBLIC LICENSE" in t for _, t in pyside.texts)


def test_closure_covers_the_runtime_dependencies_not_the_project(tmp_path):
    out = tmp_path / "n.txt"
    assert notices.main(["--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    heads = {line for line in text.splitlines() if line and not line.startswith(" ")}
    for dist in ("torch", "numpy", "scipy", "safetensors", "platformdirs", "tqdm", "pyqtgraph"):
        meta = md.distribution(dist).metadata
        assert f"{meta['Name']} {md.version(dist)}" in heads, dist
    assert f"Python {sys.version.split()[0]}" in heads
    assert not any(h.startswith("drrn-studio ") for h in heads)


def test_project_licence_is_mit():
    text = notices.project_licence()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text

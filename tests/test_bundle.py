"""Smoke tests of a built PyInstaller bundle (opt-in: they need `scripts/build_bundle.sh` first).

    DRRN_TEST_BUNDLE=dist/drrn-studio pytest tests/test_bundle.py -v

Each test is one check of scripts/smoke_bundle.py (which the build script also runs): the frozen
`drrn --version`, `drrn upscale` giving the source tree's pixels, `--compile` refused with one
notice, `drrn-studio` without a display (one line, exit 1 within 2 s), `drrn metrics` (IFC
without matplotlib), `drrn-studio --self-test` offscreen and on Xvfb, a path with a space and
non-ASCII letters, a read-only install folder and unwritable user config folders.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = os.environ.get("DRRN_TEST_BUNDLE", "")

pytestmark = [
    pytest.mark.bundle,
    pytest.mark.slow,
    pytest.mark.skipif(
        not BUNDLE,
        reason="opt-in: set DRRN_TEST_BUNDLE=/path/to/dist/drrn-studio (built by "
        "scripts/build_bundle.sh) to smoke-test a frozen bundle",
    ),
]


def _load_smoke():
    path = ROOT / "scripts" / "smoke_bundle.py"
    spec = importlib.util.spec_from_file_location("smoke_bundle", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


smoke = _load_smoke()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = Path(BUNDLE).resolve()
    if not (root / "_internal").is_dir():
        pytest.fail(f"DRRN_TEST_BUNDLE={BUNDLE} is not a PyInstaller one-folder bundle")
    return smoke.Bundle(root=root, work=tmp_path_factory.mktemp("bundle"),
                        version=smoke.source_version())


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("check", list(smoke.CHECKS))
def test_bundle(bundle, check):
    result = smoke.run_check(bundle, check)
    if result.status == "skip":
        pytest.skip(result.detail)
    assert result.status == "pass", result.detail

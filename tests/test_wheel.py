"""The wheel is the product: built, installed (not editable) into a fresh venv, and used.

`pip install .` once shipped a CLI with no model and no recipe (they were found through the
source tree only). Here the wheel is built from a copy of the project's files, installed with
``--no-deps`` into a new venv that sees the test environment's dependencies through a ``.pth``
line (so nothing is downloaded), and run from a folder outside the source tree with
PYTHONPATH cleared: ``drrn models`` lists the bundled DRRN, ``drrn upscale`` uses it (the
pixels of the source tree's DRRN, not bicubic), and ``drrn train --recipe fast`` runs an
iteration. About 30-60 s on 2 busy cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drrn_core import cli

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "resources" / "weights"
PROJECT_FILES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"]
PROJECT_TREES = ["drrn_core", "app", "resources"]

pytestmark = pytest.mark.slow


def _run(argv: list, cwd: Path, env: dict, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{proc.args}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return proc


def _copy_project(dest: Path) -> Path:
    """Only what a release's source holds: no build/, caches, training runs or tests."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "_data")
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, dest / name)
    for name in PROJECT_TREES:
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    (dest / "training").mkdir()
    for recipe in (ROOT / "training").glob("*.toml"):
        shutil.copy2(recipe, dest / "training" / recipe.name)
    return dest


def _venv_reusing_dependencies(folder: Path) -> Path:
    """A new venv (no pip of its own) whose sys.path ends with this environment's
    site-packages, so the wheel can be installed with --no-deps and run without downloads."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True,
                   timeout=120)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(folder),
                                                       "platbase": str(folder)}))
    here = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    # A plain path line: the directories are appended to sys.path *after* the venv's own
    # site-packages, and their .pth files (such as an editable drrn-studio) are not processed.
    (purelib / "_deps_from_test_env.pth").write_text("\n".join(sorted(here)) + "\n")
    return folder / ("Scripts" if os.name == "nt" else "bin")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    pytest.importorskip("setuptools", minversion="77",
                        reason="building the wheel without isolation needs setuptools >= 77")
    models = sorted(p.stem for p in WEIGHTS.glob("*.safetensors"))
    if not models:
        pytest.skip(f"no weights committed in {WEIGHTS}: nothing to check the wheel carries")
    base = tmp_path_factory.mktemp("wheel")
    (base / "src").mkdir()
    src = _copy_project(base / "src")
    wheels = base / "wheels"
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
              "--no-index", "-q", "-w", wheels, src], base, dict(os.environ)))
    (wheel,) = wheels.glob("drrn_studio-*.whl")
    bindir = _venv_reusing_dependencies(base / "venv")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "DRRN_RESOURCES", "PYTHONHOME")}
    home = base / "home"
    env.update(DRRN_USER_DIR=str(home / "user"), XDG_CONFIG_HOME=str(home / "config"),
               XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(home / "cache"),
               XDG_STATE_HOME=str(home / "state"), OMP_NUM_THREADS="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    # pip comes from the test environment through the .pth; it installs into the new venv.
    _ok(_run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
              "-q", wheel], base, env))
    work = base / "work"
    work.mkdir()
    return {"wheel": wheel, "bin": bindir, "python": python, "env": env, "work": work,
            "venv": base / "venv", "models": models}


def test_wheel_holds_weights_cards_recipes_icons_and_licence(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for model in installed["models"]:
        assert f"drrn_core/_data/resources/weights/{model}.safetensors" in names
        for sidecar in (".json", ".md"):
            if (WEIGHTS / f"{model}{sidecar}").is_file():
                assert f"drrn_core/_data/resources/weights/{model}{sidecar}" in names
    for recipe in ("fast", "paper"):
        assert f"drrn_core/_data/training/{recipe}.toml" in names
    assert "drrn_core/_data/resources/icons/drrn-studio.svg" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any("/tests/" in n or n.startswith("tests/") for n in names)


def test_installed_package_is_the_wheel_not_the_source_tree(installed):
    proc = _ok(_run([installed["python"], "-c",
                     "import drrn_core, drrn_core.packaging.data as w; print(drrn_core.__file__); "
                     "print(w.resources_dir())"], installed["work"], installed["env"]))
    module, resources = (Path(line) for line in proc.stdout.splitlines())
    venv = installed["venv"].resolve()
    assert module.resolve().is_relative_to(venv), module
    assert resources.resolve().is_relative_to(venv), resources
    assert resources.parts[-3:] == ("drrn_core", "_data", "resources")
    licence = _ok(_run([installed["python"], "-c", "from drrn_core.packaging import notices; "
                        "print(notices.project_licence())"], installed["work"], installed["env"]))
    assert licence.stdout.startswith("MIT License")  # from the wheel's dist-info


def test_drrn_models_lists_the_bundled_model(installed):
    proc = _ok(_run([installed["bin"] / "drrn", "models"], installed["work"], installed["env"]))
    default = proc.stdout.splitlines()[0]
    assert default.startswith("* ") and "[bundled]" in default, proc.stdout
    assert default.split()[1] in installed["models"]
    assert str(installed["venv"]) in default  # the wheel's copy, not the checkout's


def test_drrn_upscale_uses_the_bundled_drrn(installed, astronaut_rgb, tmp_path):
    crop = tmp_path / "crop.png"
    Image.fromarray(astronaut_rgb[100:160, 180:236]).save(crop)
    out, bicubic, reference = (tmp_path / f"{n}.png" for n in ("out", "bicubic", "reference"))
    drrn, work, env = installed["bin"] / "drrn", installed["work"], installed["env"]
    proc = _ok(_run([drrn, "upscale", crop, "-s", "2", "-o", out], work, env))
    assert "bicubic" not in proc.stderr, proc.stderr
    _ok(_run([drrn, "upscale", crop, "-s", "2", "-o", bicubic, "--model", "bicubic"], work, env))
    # The source tree's DRRN, in this process, with the checkout's copy of the same weights.
    default = _ok(_run([drrn, "models"], work, env)).stdout.split()[1]
    assert cli.main(["upscale", str(crop), "-s", "2", "-o", str(reference), "--model",
                     str(WEIGHTS / f"{default}.safetensors")]) == 0
    got, ref, bic = (np.asarray(Image.open(p)) for p in (out, reference, bicubic))
    assert got.shape == (120, 112, 3)
    np.testing.assert_array_equal(got, ref)
    assert np.abs(got.astype(int) - bic.astype(int)).mean() > 0.1  # DRRN, not bicubic


def test_drrn_upscale_without_weights_fails_clearly(installed, tmp_path):
    """With the wheel's weights gone, no quiet bicubic: one error line and exit 1."""
    crop = tmp_path / "crop.png"
    Image.fromarray(np.full((20, 20, 3), 128, np.uint8)).save(crop)
    env = {**installed["env"], "DRRN_RESOURCES": str(tmp_path / "no-resources")}
    proc = _run([installed["bin"] / "drrn", "upscale", crop, "-s", "2"], installed["work"], env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # one line
    assert "no DRRN weights are installed" in proc.stderr and "--model bicubic" in proc.stderr
    assert not (tmp_path / "crop_x2.png").exists()


def test_drrn_train_fast_recipe_runs_an_iteration(installed, tmp_path):
    hr = tmp_path / "hr"
    hr.mkdir()
    from skimage import data

    Image.fromarray(data.astronaut()[100:196, 180:276]).save(hr / "a.png")
    Image.fromarray(data.coffee()[50:146, 300:396]).save(hr / "b.png")
    run = tmp_path / "run"
    proc = _ok(_run([installed["bin"] / "drrn", "train", "--recipe", "fast", "--data", hr,
                     "--val", hr, "--out", run, "--iters", "1", "--threads", "1", "--device",
                     "cpu", "--cache-dir", tmp_path / "cache"], installed["work"],
                    installed["env"], timeout=300))
    assert "stopped at iteration 1" in proc.stderr + proc.stdout
    assert (run / "last_model.safetensors").is_file()
    assert '"name": "fast"' in (run / "recipe.json").read_text()

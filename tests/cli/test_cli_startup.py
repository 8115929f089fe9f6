"""`drrn --version` and `drrn --help` answer quickly, without importing torch;
a command's module, and with it torch, is imported only when that command is on the command
line. Structural checks in a fresh interpreter, not timings (those are measured by hand)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

# the module (the package's `main` attribute is the function it defines)
cli_main = importlib.import_module("drrn_core.cli.main")

ROOT = Path(__file__).resolve().parents[2]

# Runs drrn's main(ARGV) in a fresh interpreter and prints, as JSON, its exit status and which of
# the heavy modules it had imported.
PROBE = """
import json, sys
from drrn_core.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = ("torch", "numpy", "tqdm", "PIL", "drrn_core.engine", "drrn_core.weights")
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def _probe(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["-h"], [], ["frobnicate"],
                                  ["--debug", "--version"]])
def test_version_help_and_usage_errors_import_no_torch(argv):
    result = _probe(*argv)
    assert result["code"] == (0 if argv and argv[-1] in ("--version", "--help", "-h") else 2)
    assert result["loaded"] == [], result


def test_a_command_loads_its_module_only_when_it_runs():
    """The probe itself can see torch: `drrn models --help` loads the models command, which
    needs the weights module (and torch)."""
    result = _probe("models", "--help")
    assert result["code"] == 0
    assert "torch" in result["loaded"] and "drrn_core.weights" in result["loaded"]


def test_the_listed_help_is_each_modules_own():
    """COMMANDS' one-line help (what `drrn --help` lists before any module is imported) is the
    text each module registers for its command."""
    for name, text in cli_main.COMMANDS.items():
        module = sys.modules.get(f"drrn_core.cli.{name}") or cli_main._module(name)
        registrar = cli_main._Registrar(cli_main.ArgumentParser(prog=f"drrn {name}"))
        getattr(module, f"add_{name}_parser")(registrar)
        assert registrar.help == text, name


def test_only_the_named_command_gets_its_options(capsys):
    parser, handlers = cli_main.build_parser(["metrics"])
    assert set(handlers) == {"metrics"}
    args = parser.parse_args(["metrics", "a.png", "b.png", "--y", "--shave", "4"])
    assert (args.command, args.y, args.shave) == ("metrics", True, 4)
    parser, handlers = cli_main.build_parser()
    assert set(handlers) == set(cli_main.COMMANDS)
    with pytest.raises(SystemExit):
        parser.parse_args(["upscale", "--help"])
    out = capsys.readouterr().out
    assert "--scale" in out and "--name-template" in out  # the module's options and description


@pytest.mark.parametrize("argv, command", [
    (["upscale", "a.png", "-s", "2"], "upscale"),
    (["--debug", "bench", "Set5"], "bench"),
    (["--", "models"], "models"),
    (["--version"], None),
    (["frobnicate", "upscale"], None),
    ([], None),
])
def test_command_in(argv, command):
    assert cli_main.command_in(argv) == command


def test_a_module_asking_for_other_parser_settings_is_refused():
    registrar = cli_main._Registrar(cli_main.ArgumentParser(prog="drrn x"))
    with pytest.raises(TypeError, match="aliases"):
        registrar.add_parser("x", help="x", aliases=["y"])

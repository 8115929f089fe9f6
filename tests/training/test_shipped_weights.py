"""The bundled default weights reproduce their model card: `drrn bench` gives the card's numbers."""

from __future__ import annotations

import json

import pytest

from drrn_core import weights
from drrn_core.cli import main


@pytest.mark.slow
@pytest.mark.shared
def test_default_model_reproduces_its_card_on_set5_x3(shared_dir, tmp_path, capsys) -> None:
    name = weights.default_model_name()
    if name is None:
        pytest.skip("no bundled weights in resources/weights")
    entry = weights.find_model(name)
    card = entry.metadata.get("results", {}).get("Set5_x3")
    assert card, f"the model card of {name} has no Set5 x3 result"
    out = tmp_path / "set5.json"
    code = main(["bench", str(shared_dir / "data" / "benchmark" / "Set5"), "--scale", "3",
                 "--model", name, "--no-ifc", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    run = next(r for r in json.loads(out.read_text())["runs"] if r["model"] != "bicubic")
    assert round(run["mean"]["psnr"], 2) == round(card["psnr"], 2)
    assert round(run["mean"]["ssim"], 4) == round(card["ssim"], 4)

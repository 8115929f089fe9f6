"""Model specs: "NAME+" asks for NAME's self-ensemble unless NAME+ is itself a model or file."""

from __future__ import annotations

import pytest

from drrn_core import weights


@pytest.fixture
def user_models(tmp_path, monkeypatch):
    import torch

    from drrn_core.model import DRRN, DRRNConfig

    monkeypatch.setenv("DRRN_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("DRRN_RESOURCES", str(tmp_path / "res"))
    torch.manual_seed(0)
    (tmp_path / "user" / "models").mkdir(parents=True)
    for name in ("mine", "odd+"):
        weights.save_weights(tmp_path / "user" / "models" / f"{name}.safetensors",
                             DRRN(DRRNConfig(B=1, U=1, channels=4)))
    return tmp_path


def test_plus_suffix_is_the_self_ensemble_unless_it_names_something(user_models) -> None:
    assert weights.split_ensemble("mine+") == ("mine", True)
    assert weights.split_ensemble("MINE+") == ("MINE", True)
    assert weights.split_ensemble("mine") == ("mine", False)
    assert weights.split_ensemble("odd+") == ("odd+", False)  # a model of that very name
    assert weights.split_ensemble("odd++") == ("odd+", True)
    assert weights.split_ensemble("+") == ("+", False)
    path = user_models / "user" / "models" / "mine.safetensors"
    assert weights.split_ensemble(f"{path}+") == (str(path), True)
    plus_file = user_models / "w.safetensors+"
    plus_file.write_bytes(b"")  # an existing file whose name ends in "+" is that file
    assert weights.split_ensemble(str(plus_file)) == (str(plus_file), False)

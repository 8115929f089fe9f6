"""The descriptor of a weights file decides: channels and colour space checked at load, the
precisions the engine may run a model in, the smallest input it takes; files written before these
checks (with a ``trained`` flag) still load; the Upscaler's model argument is checked."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from drrn_core import weights
from drrn_core.descriptor import Y_COLOUR_SPACE, ModelDescriptor
from drrn_core.engine import (
    PRECISIONS,
    DeviceError,
    InputTooSmall,
    Upscaler,
    offered_precisions,
)
from drrn_core.engine.device import Target
from drrn_core.model import DRRN, DRRNConfig
from drrn_core.weights import WeightsError, load_weights, save_weights


def _net() -> DRRN:
    torch.manual_seed(0)
    return DRRN(DRRNConfig(U=2, channels=8)).eval()


def _saved(tmp_path, name: str = "tiny", **fields) -> weights.LoadedModel:
    net = _net()
    desc = ModelDescriptor.for_config(net.config, name=name, **fields)
    return load_weights(save_weights(tmp_path / f"{name}.safetensors", net, desc))


def test_a_file_in_the_earlier_layout_with_its_trained_flag_still_loads(tmp_path):
    net = _net()
    old = {"name": "old", "scales": [2.0, 3.0, 4.0], "precisions": ["fp32", "bf16", "fp16"],
           "in_channels": 1, "colour_space": Y_COLOUR_SPACE, "min_size": 1, "trained": True,
           "extra": {}}
    header = {"format": weights.FORMAT, "architecture": json.dumps(net.config.to_dict()),
              "descriptor": json.dumps(old), "metadata": "{}"}
    path = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path),
              metadata=header)
    loaded = load_weights(path)
    assert loaded.descriptor == ModelDescriptor.for_config(net.config, name="old")
    again = save_weights(tmp_path / "again.safetensors", loaded.model, loaded.descriptor)
    written = json.loads(weights.read_safetensors_header(again)[0]["descriptor"])
    assert "trained" not in written
    assert {"precisions", "in_channels", "colour_space", "min_size"} <= written.keys()


@pytest.mark.parametrize(("fields", "words"), [
    ({"in_channels": 3}, "3 input channels; this engine runs DRRN on the Y"),
    ({"colour_space": "RGB in [0, 1]"}, "colour space 'RGB in [0, 1]'"),
    ({"colour_space": "YCbCr"}, "colour space 'YCbCr'"),
    ({"precisions": ("fp16",)}, "lack fp32"),
    ({"precisions": ("fp32", "int8")}, "precision 'int8'"),
    ({"precisions": ()}, "not a list of names"),
    ({"min_size": 0}, "minimum size 0"),
    ({"min_size": "8"}, "minimum size 8"),
])
def test_what_the_engine_cannot_run_is_refused_at_load_in_one_line(tmp_path, fields, words):
    with pytest.raises(WeightsError) as e:
        _saved(tmp_path, **fields)
    text = str(e.value)
    assert words in text and "tiny.safetensors" in text and "\n" not in text


@pytest.fixture
def user_models(tmp_path, monkeypatch):
    """An empty user model folder and no bundled models; the folder."""
    monkeypatch.setenv("DRRN_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("DRRN_RESOURCES", str(tmp_path / "res"))
    (tmp_path / "res" / "weights").mkdir(parents=True)
    folder = weights.user_dir()
    folder.mkdir(parents=True)
    return folder


def test_a_refused_file_is_listed_as_broken_with_its_reason(user_models):
    folder = user_models
    net = _net()
    save_weights(folder / "rgb.safetensors", net,
                 ModelDescriptor.for_config(net.config, in_channels=3))
    save_weights(folder / "fine.safetensors", net)
    entries, broken = weights.scan_models()
    assert [e.name for e in entries] == ["fine"]
    assert [b.name for b in broken] == ["rgb"] and "3 input channels" in broken[0].reason


def test_the_precisions_offered_are_the_declared_ones(tmp_path):
    every = _saved(tmp_path, "every")
    assert offered_precisions(every) == PRECISIONS
    fp32 = _saved(tmp_path, "exact", precisions=("fp32",))
    assert fp32.precisions == ("fp32",)
    assert offered_precisions(fp32) == ("fp32", "fp32-fast")
    assert offered_precisions(_saved(tmp_path, "half", precisions=("fp32", "fp16"))) == \
        ("fp32", "fp32-fast", "fp16")
    assert offered_precisions(_net()) == PRECISIONS and offered_precisions(None) == ()
    up = Upscaler(fp32, device="cpu", precision="fp32")
    assert up.precisions == ("fp32", "fp32-fast") and up.precision == "fp32"
    with pytest.raises(DeviceError) as e:
        Upscaler(fp32, device="cpu", precision="bf16")
    assert str(e.value) == ("exact runs in fp32, fp32-fast (as its weights file declares), "
                            "not bf16.")


def test_auto_keeps_to_the_declared_precisions(tmp_path, monkeypatch):
    from drrn_core.engine import upscale

    fp32 = _saved(tmp_path, "exact", precisions=("fp32",))
    monkeypatch.setattr(upscale, "decide",
                        lambda *a, **k: Target(torch.device("cpu"), "torch", "bf16"))
    notes: list[str] = []
    up = Upscaler(fp32, device="cpu", notice=notes.append)
    assert up.precision in ("fp32-fast", "fp32") and up.backend == "torch"
    assert notes == [f"exact runs in fp32 (as its weights file declares): {up.precision} "
                     "instead of bf16."]
    every = _saved(tmp_path, "every")
    assert Upscaler(every, device="cpu", notice=notes.append).precision == "bf16"
    assert len(notes) == 1


def test_an_input_under_the_declared_minimum_is_refused_before_any_work(tmp_path, monkeypatch):
    loaded = _saved(tmp_path, min_size=8)
    up = Upscaler(loaded, device="cpu", precision="fp32")
    ran: list[object] = []
    monkeypatch.setattr(up, "_run_tile", lambda *a: ran.append(a))
    with pytest.raises(InputTooSmall) as e:
        up.upscale(np.zeros((5, 6, 3), np.float32), scale=2)
    assert str(e.value) == "the image is 6x5 px; tiny needs at least 8 px a side"
    with pytest.raises(InputTooSmall):
        up.restore_y(np.zeros((9, 7)))
    assert ran == []
    monkeypatch.undo()
    assert up.upscale(np.zeros((8, 8, 3), np.float32), scale=2).shape == (16, 16, 3)
    assert "at least 8 px a side" in loaded.descriptor.summary()
    assert Upscaler(None).upscale(np.zeros((5, 6)), scale=2).shape == (10, 12)


def test_drrn_upscale_says_the_image_is_too_small_in_one_line(tmp_path, capsys):
    from PIL import Image

    from drrn_core.cli import main

    model = save_weights(tmp_path / "big-input.safetensors", _net(),
                         ModelDescriptor.for_config(_net().config, min_size=16))
    Image.new("RGB", (12, 20), (90, 120, 30)).save(tmp_path / "small.png")
    code = main(["upscale", str(tmp_path / "small.png"), "-s", "2", "--model", str(model),
                 "--precision", "fp32"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "the image is 12x20 px; DRRN_B1U2 needs at least 16 px a side" in err
    assert not (tmp_path / "small_x2.png").exists()


@pytest.mark.parametrize("bad", ["DRRN_B1U9", nn.Conv2d(1, 1, 3), {"model": None}, 3])
def test_the_upscaler_takes_a_loaded_model_a_drrn_or_none(bad):
    with pytest.raises(TypeError) as e:
        Upscaler(bad)
    assert "weights.LoadedModel, a DRRN network or None" in str(e.value)
    assert type(bad).__name__ in str(e.value)


def test_drrn_models_shows_precisions_and_the_training_the_metadata_records(user_models,
                                                                            capsys):
    from drrn_core.cli import main

    folder = user_models
    net = _net()
    training = {"patches_seen_total": 1283744, "elapsed_s_total": 64674.5, "recipe": "anytime",
                "hardware": ["Some CPU x2 cores (cpu, bf16)"]}
    save_weights(folder / "a.safetensors", net,
                 ModelDescriptor.for_config(net.config, name="a", precisions=("fp32",)),
                 {"training": training})
    save_weights(folder / "b.safetensors", net, metadata={"training": "by hand"})
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    block_a, block_b = out.split("\n  b  ")[0], out.split("\n  b  ")[1]
    assert "precisions fp32\n" in block_a
    assert ("trained on 1,283,744 patches in 18.0 h (recipe anytime; on Some CPU x2 cores "
            "(cpu, bf16))") in block_a
    assert "precisions fp32, bf16, fp16" in block_b and "trained on" not in block_b

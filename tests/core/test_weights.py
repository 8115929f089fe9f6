"""weights: safetensors round trip with metadata, refusals, registry (bundled + user)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from drrn_core import weights
from drrn_core.descriptor import ModelDescriptor
from drrn_core.model import DRRN, DRRNConfig
from drrn_core.weights import WeightsError, load_weights, save_weights


@pytest.fixture()
def dirs(tmp_path, monkeypatch):
    bundled, user = tmp_path / "res", tmp_path / "user"
    (bundled / "weights").mkdir(parents=True)
    monkeypatch.setenv("DRRN_RESOURCES", str(bundled))
    monkeypatch.setenv("DRRN_USER_DIR", str(user))
    return bundled / "weights", user / "models"


def _model(**kw) -> DRRN:
    torch.manual_seed(0)
    return DRRN(DRRNConfig(U=2, channels=8, **kw))


def test_round_trip_with_metadata(tmp_path):
    model = _model(batchnorm=True)
    desc = ModelDescriptor.for_config(model.config, name="tiny", scales=(2.0, 3.0))
    meta = {"recipe": {"lr": 0.1}, "results": {"Set5": {"x2": 30.1}}}
    path = save_weights(tmp_path / "tiny.safetensors", model, desc, meta)
    loaded = load_weights(path)
    assert not loaded.model.training and loaded.metadata == meta and loaded.path == path
    assert loaded.descriptor == desc and loaded.descriptor.scales == (2.0, 3.0)
    for (k, a), b in zip(model.state_dict().items(), loaded.model.state_dict().values(),
                         strict=True):
        assert torch.equal(a, b), k
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.safetensors"]  # no temp file left


def test_sidecar_json_is_merged(tmp_path):
    path = save_weights(tmp_path / "m.safetensors", _model(), metadata={"a": 1, "b": 1})
    path.with_suffix(".json").write_text(json.dumps({"b": 2}))
    assert load_weights(path).metadata == {"a": 1, "b": 2}


def test_refusals_are_one_line(tmp_path):
    (tmp_path / "old.pth").write_bytes(b"\x80\x04pickle")
    (tmp_path / "junk.safetensors").write_bytes(b"garbage")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    net = _model()
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    state["conv_rec.weight"] = torch.full_like(state["conv_rec.weight"], float("nan"))
    save_weights(tmp_path / "nan.safetensors", net)
    good = load_weights(tmp_path / "nan.safetensors")
    header = {"format": weights.FORMAT, "architecture": json.dumps(good.model.config.to_dict())}
    save_file(state, str(tmp_path / "nan.safetensors"), metadata=header)
    cases = {"old.pth": "pickle", "missing.safetensors": "not found", "junk.safetensors":
             "not a readable", "other.safetensors": "not a DRRN Studio", "nan.safetensors": "NaN"}
    for name, words in cases.items():
        with pytest.raises(WeightsError) as e:
            load_weights(tmp_path / name)
        assert words in str(e.value) and "\n" not in str(e.value), name


def test_shape_mismatch(tmp_path):
    path = save_weights(tmp_path / "m.safetensors", _model())
    header = {"architecture": json.dumps(DRRNConfig(U=2, channels=16).to_dict())}
    state = {k: v.contiguous() for k, v in _model().state_dict().items()}
    save_file(state, str(path), metadata=header)
    with pytest.raises(WeightsError, match="shape"):
        load_weights(path)


def test_registry(dirs, tmp_path):
    bundled, user = dirs
    assert weights.list_models() == [] and weights.default_model_name() is None
    save_weights(bundled / "DRRN_B1U2.safetensors", _model())
    save_weights(bundled / "preferred.safetensors", _model(), metadata={"default": True})
    (bundled / "broken.safetensors").write_bytes(b"x")
    assert weights.default_model_name() == "preferred"
    src = save_weights(tmp_path / "mine.safetensors", _model())
    entry = weights.import_user_model(src)
    assert entry.source == "user" and entry.path == user / "mine.safetensors"
    assert [(e.name, e.source) for e in weights.list_models()] == [
        ("DRRN_B1U2", "bundled"), ("preferred", "bundled"), ("mine", "user")]
    assert weights.resolve_model("MINE").descriptor.name == "DRRN_B1U2"
    assert weights.resolve_model(str(src)).path == src
    with pytest.raises(WeightsError, match="already exists"):
        weights.import_user_model(src)
    with pytest.raises(WeightsError, match="bundled model"):
        weights.import_user_model(src, name="preferred")
    with pytest.raises(WeightsError, match="bicubic") as e:
        weights.resolve_model("nope")
    assert "mine" in str(e.value)


def test_import_validates_before_copying(dirs, tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"nope")
    with pytest.raises(WeightsError):
        weights.import_user_model(tmp_path / "bad.safetensors")
    assert not dirs[1].exists() or not any(dirs[1].iterdir())


def test_default_dirs(monkeypatch):
    monkeypatch.delenv("DRRN_RESOURCES", raising=False)
    monkeypatch.delenv("DRRN_USER_DIR", raising=False)
    assert weights.bundled_dir().parts[-2:] == ("resources", "weights")
    assert weights.user_dir().name == "models"


def test_saved_weights_get_the_usual_file_mode(tmp_path):
    """safetensors writes 0600 files; shipped weights must be readable like any other output."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    path = tmp_path / "m.safetensors"
    save_weights(path, _model())
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_reading_a_header_builds_no_random_weights():
    """Shapes come from a network on the meta device, where random init would import
    torch._dynamo (seconds at every app start and `drrn upscale`)."""
    import subprocess
    import sys

    code = ("import sys; from drrn_core import weights; "
            "shapes = weights.expected_shapes(weights.DRRNConfig(U=3, channels=16)); "
            "print(shapes['conv_rec.weight'][0], 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == ["(1,", "16,", "3,", "3)", "False"]

"""Hostile inputs at the library level: readers that must not hang or over-allocate, and the header
checks that training checkpoints can reuse."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from drrn_core import weights
from drrn_core.errors import UserError
from drrn_core.imaging import io
from drrn_core.metrics.protocol import read_gt
from drrn_core.model import DRRN, DRRNConfig


def test_multi_page_16bit_tiff_reads_the_first_page_only(tmp_path):
    import tifffile

    pages = np.random.default_rng(0).integers(0, 65535, (6, 20, 30, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "multi.tif", pages, photometric="rgb")
    loaded = io.load_image(tmp_path / "multi.tif")
    assert loaded.pixels.shape == (20, 30, 3) and loaded.bit_depth == 16
    assert np.allclose(loaded.pixels, pages[0] / 65535.0, atol=1e-6)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX special files")
def test_special_files_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # reading it would block forever
    for path in (fifo, "/dev/zero"):
        with pytest.raises(io.ImageReadError, match="not a regular file"):
            io.load_image(path)
        with pytest.raises(io.ImageReadError, match="not a regular file"):
            read_gt(path)


def test_float_grey_with_nan_is_refused_by_every_reader(tmp_path):
    from PIL import Image

    arr = np.full((16, 16), 0.5, np.float32)
    arr[2, 2] = np.nan
    Image.fromarray(arr, "F").save(tmp_path / "f.tif")
    for read in (io.load_image, read_gt):
        with pytest.raises(io.ImageReadError, match="1 pixel value"):
            read(tmp_path / "f.tif")


def test_errors_are_user_errors_with_one_line():
    for exc in (io.ImageReadError("a\nb"), io.ImageWriteError("a\nb"),
                weights.WeightsError("a\nb")):
        assert isinstance(exc, UserError) and str(exc) == "a b"


def test_checkpoint_style_header_with_a_prefix(tmp_path):
    """A checkpoint stores 'model.'-prefixed tensors next to other state: the same checks apply."""
    config = DRRNConfig(U=2, channels=8)
    state = {f"model.{k}": v.contiguous() for k, v in DRRN(config).state_dict().items()}
    state["opt.step"] = torch.zeros(1)
    path = tmp_path / "last.safetensors"
    save_file(state, str(path), metadata={"info": json.dumps({"iteration": 3})})
    meta, tensors = weights.read_safetensors_header(path)
    assert json.loads(meta["info"]) == {"iteration": 3}
    weights.check_tensors(path, config, tensors, prefix="model.")
    with pytest.raises(weights.WeightsError, match="has shape"):
        weights.check_tensors(path, DRRNConfig(U=2, channels=16), tensors, prefix="model.")
    with pytest.raises(weights.WeightsError, match="missing"):
        weights.check_tensors(path, DRRNConfig(B=2, U=2, channels=8), tensors, prefix="model.")


def test_architecture_limits_are_checked_before_building(tmp_path):
    for arch, words in (({"B": 1, "U": 10 ** 9}, "U="), ({"channels": 0}, "channels="),
                        ({"B": "2"}, "B="), ({"share": "yes"}, "share"), ([], "architecture")):
        with pytest.raises(weights.WeightsError, match=words):
            weights.config_from_header(tmp_path / "x.safetensors", json.dumps(arch))
    assert weights.config_from_header(tmp_path / "x", json.dumps({"B": 16, "U": 64})).U == 64


@pytest.mark.parametrize("name", ["DRRN_B1U9", "my model", "v2.1+ft", "a", "9-lives_x"])
def test_ordinary_model_names_are_accepted(name):
    assert weights.check_model_name(name) == name


def test_oversized_sidecar_is_ignored_unread(tmp_path, caplog, monkeypatch):
    from drrn_core.weights import MAX_HEADER_BYTES, save_weights

    path = save_weights(tmp_path / "m.safetensors", DRRN(DRRNConfig(U=1, channels=4)))
    (tmp_path / "m.json").write_bytes(b" " * (MAX_HEADER_BYTES + 1) + b'{"results": {}}')
    read = []
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: read.append(self) or real(
        self, *a, **k))
    with caplog.at_level("WARNING"):
        _config, _descriptor, metadata = weights.read_header(path)
    assert "results" not in metadata and tmp_path / "m.json" not in read
    assert "larger than" in caplog.text


@pytest.mark.parametrize("damage", [b'{"results": [1, 2', b"\xff\xfe\x00", b"[1, 2]", b""])
def test_a_damaged_sidecar_leaves_the_model_usable(tmp_path, monkeypatch, caplog, damage):
    """A torn, binary, non-object or empty <name>.json: the model still lists and loads, one
    warning in the log however often it is read, and the file is left as it is."""
    monkeypatch.setenv("DRRN_USER_DIR", str(tmp_path))
    (tmp_path / "models").mkdir()
    path = weights.save_weights(tmp_path / "models" / "m.safetensors",
                                DRRN(DRRNConfig(U=1, channels=4)))
    (tmp_path / "models" / "m.json").write_bytes(damage)
    with caplog.at_level("WARNING"):
        assert "m" in [e.name for e in weights.list_models()]
        assert weights.resolve_model("m").path == path
        weights.read_header(path)
    assert caplog.text.count("damaged model metadata ignored") == 1
    assert (tmp_path / "models" / "m.json").read_bytes() == damage


def test_an_allowed_format_pillow_cannot_decode_is_named(tmp_path):
    import tifffile

    rgb = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)  # float RGB TIFF
    tifffile.imwrite(tmp_path / "f.tif", rgb, photometric="rgb")
    with pytest.raises(io.ImageReadError, match="a TIFF file of a kind this program cannot"):
        io.load_image(tmp_path / "f.tif")

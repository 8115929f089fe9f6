"""Weights files whose headers lie: refused in one line before anything is allocated, listed as
broken in the models folder without blocking the others; model names that are paths refused."""

from __future__ import annotations

import json
import signal

import pytest
from cli_helpers import save_tiny_model, sha256
from hostile_files import assert_user_error, flat_png, mutate_weights, read_st, set_arch, write_st

from drrn_core import weights


@pytest.fixture(autouse=True)
def no_hang():
    """A header that allocated before it was checked would hang: fail instead of hanging."""
    def expire(*_):
        raise TimeoutError("took over 60 s: something was built from an unchecked header")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _bytes(change):
    def wrap(header, data):
        return change(header), data
    return wrap


def _offsets_outside(header):
    header["conv_rec.weight"]["data_offsets"] = [0, 10 ** 12]
    return header


def _wrong_shape(header):
    entry = header["conv_rec.weight"]
    entry["shape"] = [1, 8, 1, 9]  # same number of values, wrong shape
    return header


def _size_mismatch(header):
    header["conv_rec.weight"]["shape"] = [1, 8, 3, 4]  # more values than its bytes hold
    return header


def _no_architecture(header):
    del header["__metadata__"]["architecture"]
    return header


def _non_string_metadata(header):
    header["__metadata__"]["descriptor"] = {"name": 5}
    return header


def _bad_descriptor(header):
    header["__metadata__"]["descriptor"] = json.dumps({"scales": "abc"})
    return header


def _bad_dtype(header):
    header["conv_rec.weight"]["dtype"] = "F1024"
    return header


def _missing_tensor(header):
    del header["conv_rec.bias"]
    return header


CASES = {
    "U=20,000,000": (set_arch(U=20_000_000), "U=20000000 is not a whole number in 0..64"),
    "channels=60000": (set_arch(channels=60_000), "channels=60000"),
    "B=1.5": (set_arch(B=1.5), "B=1.5"),
    "B=true": (set_arch(B=True), "B=True"),
    "batchnorm=1": (set_arch(batchnorm=1), "batchnorm must be true or false"),
    "offsets outside": (_bytes(_offsets_outside), "outside the file"),
    "wrong shape": (_bytes(_wrong_shape), "has shape (1, 8, 1, 9), expected (1, 8, 3, 3)"),
    "size mismatch": (_bytes(_size_mismatch), "size that does not match"),
    "no architecture": (_bytes(_no_architecture), "not a DRRN Studio weights file"),
    "non-string metadata": (_bytes(_non_string_metadata), "values must be strings"),
    "bad descriptor": (_bytes(_bad_descriptor), "damaged descriptor"),
    "bad dtype": (_bytes(_bad_dtype), "unsupported dtype"),
    "missing tensor": (_bytes(_missing_tensor), "missing conv_rec.bias"),
    "other channels": (set_arch(channels=16), "has shape"),
}


def _make(kind, good, folder):
    out = folder / "evil.safetensors"
    if kind == "huge header length":
        header, data = read_st(good)
        return write_st(out, header, data, length=2 ** 62), "does not fit"
    if kind == "deep JSON":
        return write_st(out, b"[" * 100_000 + b"]" * 100_000, b""), "damaged header"
    if kind == "short":
        out.write_bytes(b"\x05\x00")
        return out, "too short"
    change, words = CASES[kind]
    return mutate_weights(good, out, change), words


KINDS = [*CASES, "huge header length", "deep JSON", "short"]


@pytest.mark.parametrize("kind", KINDS)
def test_lying_header_is_refused_in_one_line(drrn, tmp_path, kind):
    good = save_tiny_model(tmp_path / "w", "good")
    evil, words = _make(kind, good, tmp_path)
    before = sha256(evil)
    image = flat_png(tmp_path / "in.png", 16)
    assert_user_error(drrn("upscale", image, "-s", "2", "--model", evil), evil.name, words)
    assert sha256(evil) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.safetensors", "in.png", "w"]
    assert_user_error(drrn("bench", image, "--scale", "2", "--model", evil), words)


@pytest.mark.parametrize("kind", ["U=20,000,000", "channels=60000", "huge header length",
                                  "other channels"])
def test_broken_user_model_is_listed_and_does_not_block(drrn, tmp_path, isolated_models, kind):
    user = isolated_models / "user" / "models"
    good = save_tiny_model(user, "good")
    evil, words = _make(kind, good, user)
    out = drrn("models")
    assert out.code == 0, out.err
    assert "  good  [user]" in out.out
    assert f"! {evil.stem}  [user, not usable]" in out.out and words in out.out
    image = flat_png(tmp_path / "in.png", 16)
    ok = drrn("upscale", image, "-s", "2", "--model", "good", "-o", tmp_path / "o.png")
    assert ok.code == 0 and ok.err == "", ok.err
    # no bundled model here: the default is refused plainly, the broken file is not in the way
    default = drrn("upscale", image, "-s", "2", "-o", tmp_path / "d.png")  # lists the models
    assert default.code == 1 and "no DRRN weights are installed" in default.err, default.err
    assert evil.name not in default.err
    assert_user_error(drrn("upscale", image, "-s", "2", "--model", "evil"), "cannot be used",
                      words)


def test_user_model_with_the_bundled_name_is_listed_once(drrn, isolated_models):
    save_tiny_model(isolated_models / "resources" / "weights", "DRRN_B1U9")
    save_tiny_model(isolated_models / "user" / "models", "drrn_b1u9")
    out = drrn("models").out
    assert out.count("[bundled]") == 1 and "  drrn_b1u9  [user]" not in out
    assert "! drrn_b1u9  [user, not usable]" in out and "hidden by the bundled model" in out
    assert [e.name for e in weights.list_models()] == ["DRRN_B1U9"]


@pytest.mark.parametrize("name", ["../../escaped", "a/b", "a\\b", "..", ".hidden", "", "x" * 65,
                                  "CON", "nul.txt", "a..b", "/abs"])
def test_model_names_cannot_be_paths(tmp_path, isolated_models, name):
    good = save_tiny_model(tmp_path / "w", "good")
    with pytest.raises(weights.WeightsError, match="not a valid model name"):
        weights.import_user_model(good, name=name)
    assert not (isolated_models / "user").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def test_a_valid_name_is_imported(tmp_path, isolated_models):
    good = save_tiny_model(tmp_path / "w", "good")
    entry = weights.import_user_model(good, name="my model-2.1")
    assert entry.path == isolated_models / "user" / "models" / "my model-2.1.safetensors"
    assert [e.name for e in weights.list_models()] == ["my model-2.1"]


@pytest.mark.parametrize("tile", ["1", "31", "0", "-5"])
def test_tile_below_the_minimum_is_a_usage_error(drrn, tmp_path, tile):
    image = flat_png(tmp_path / "in.png", 16)
    result = drrn("upscale", image, "-s", "2", "--model", "bicubic", "--tile", tile)
    assert_user_error(result, "--tile" if tile in ("0", "-5") else "at least 32", code=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]

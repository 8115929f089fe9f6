"""Packed training data: the file, the device-made (ILR, HR) pairs, and the mini-batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from drrn_core.imaging import imresize
from drrn_core.trainer.data import dihedral, list_images, make_pair, read_y_u8
from drrn_core.trainer.packed import (
    PackedSampler,
    load_packed,
    pack_training_data,
    packed_matches,
    resize_matrix,
)
from drrn_core.trainer.recipe import load_recipe

SHARED_TRAIN = Path(__file__).resolve().parents[3] / "shared" / "data" / "train"


@pytest.fixture()
def packed(tiny_folder: Path, tmp_path: Path) -> Path:
    return pack_training_data(tiny_folder, tmp_path / "pack" / "train_y.npz")


def recipe(**kw):
    base = {"patch": 16, "batch": 8, "scales": (2.0, 3.0, 4.0), "seed": 7}
    return load_recipe("fast").with_overrides(**{**base, **kw})


def test_pack_round_trip_is_the_training_readers_y(tiny_folder: Path, packed: Path) -> None:
    names, planes = load_packed(packed)
    files = list_images(tiny_folder)
    assert names == [str(f.relative_to(tiny_folder)) for f in files] == [
        "a.png", "b.png", "nested/c.png"]
    for f, plane in zip(files, planes, strict=True):
        np.testing.assert_array_equal(plane, read_y_u8(f))
        assert plane.dtype == np.uint8
    with np.load(packed, allow_pickle=False) as z:  # nothing in it needs pickle
        assert {"names", "planes", "shapes", "version"} <= set(z.files)


def test_pack_tracks_its_source(tiny_folder: Path, packed: Path) -> None:
    assert packed_matches(packed, tiny_folder)
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tiny_folder / "d.png")
    assert not packed_matches(packed, tiny_folder)
    assert not packed_matches(packed.with_name("missing.npz"), tiny_folder)


def test_pack_skips_unreadable_images_with_one_line(tiny_folder: Path, tmp_path: Path) -> None:
    (tiny_folder / "broken.png").write_bytes(b"not a png")
    lines: list[str] = []
    out = pack_training_data(tiny_folder, tmp_path / "p.npz", warn=lines.append)
    assert len(lines) == 1 and "broken.png" in lines[0] and "\n" not in lines[0]
    assert load_packed(out)[0] == ["a.png", "b.png", "nested/c.png"]


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        pack_training_data(tmp_path / "nope", tmp_path / "p.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        pack_training_data(tmp_path / "empty", tmp_path / "p.npz")
    assert not (tmp_path / "p.npz").exists()
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="not a packed training file"):
        load_packed(junk)


@pytest.mark.parametrize(("n_in", "scale"), [(60, 1 / 3), (20, 3.0), (61, 1 / 2.5), (25, 2.44)])
def test_resize_matrix_is_imresize_along_one_axis(n_in: int, scale: float) -> None:
    col = np.random.default_rng(0).random((n_in, 3))
    n_out = int(np.ceil(n_in * scale))
    ref = imresize(col, output_shape=(n_out, 3))  # the per-axis scale imresize uses: out / in
    np.testing.assert_allclose(resize_matrix(n_in, n_out, n_out / n_in) @ col, ref, atol=1e-13)


def test_device_made_pairs_equal_make_pair(tiny_folder: Path, packed: Path) -> None:
    """Scales 2, 3, 4 (modcrop) and 2.5 (no modcrop) on odd-sized crops of real pictures."""
    sampler = PackedSampler(packed, recipe(scales=(2.0, 3.0, 4.0, 2.5)), "cpu")
    files = list_images(tiny_folder)
    assert len(sampler.entries) == 4 * len(files)
    for e, (scale, i) in enumerate(sampler.entries):
        hr, ilr = make_pair(read_y_u8(files[i]), scale)
        start, n = int(sampler._offsets[e]), hr.size
        np.testing.assert_array_equal(sampler.hr[start:start + n].numpy().reshape(hr.shape), hr)
        got = sampler.ilr[start:start + n].numpy().reshape(hr.shape)
        np.testing.assert_allclose(got, ilr, rtol=0, atol=1e-6)
        assert sampler.ilr.dtype == torch.float32


def test_batches_are_augmented_crops_of_the_pairs(tiny_folder: Path, packed: Path) -> None:
    sampler = PackedSampler(packed, recipe(batch=32), "cpu")
    files = list_images(tiny_folder)
    pairs = {(s, i): make_pair(read_y_u8(files[i]), s) for s, i in sampler.entries}
    x, y = sampler.batch(11)
    assert x.shape == y.shape == (32, 1, 16, 16)
    assert x.dtype == y.dtype == torch.float32
    for j, (e, top, left, aug) in enumerate(sampler.items(11)):
        hr, ilr = pairs[sampler.entries[e]]
        crop = (slice(top, top + 16), slice(left, left + 16))
        np.testing.assert_allclose(x[j, 0].numpy(), dihedral(ilr[crop], aug), atol=1e-6)
        np.testing.assert_array_equal(y[j, 0].numpy(), dihedral(hr[crop], aug) / np.float32(255))
    assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_batches_are_deterministic_and_split_across_ranks(packed: Path) -> None:
    a = PackedSampler(packed, recipe(batch=10), "cpu")
    b = PackedSampler(packed, recipe(batch=10), "cpu")
    for it in (0, 5, 12345):
        for ta, tb in zip(a.batch(it), b.batch(it), strict=True):
            assert torch.equal(ta, tb)
    assert not torch.equal(a.batch(5)[0], a.batch(6)[0])
    x0, _ = a.batch(5, rank=0, world=3)
    x1, _ = a.batch(5, rank=1, world=3)
    assert x0.shape == x1.shape == (4, 1, 16, 16)  # ceil(10 / 3)
    assert not torch.equal(x0, x1)
    other_seed = PackedSampler(packed, recipe(batch=10, seed=8), "cpu")
    assert not torch.equal(a.batch(5)[0], other_seed.batch(5)[0])


def test_sampling_statistics(packed: Path) -> None:
    """Crops are drawn in proportion to valid-crop area, uniformly in position and over the 8
    augmentations; without augmentation every crop is upright."""
    sampler = PackedSampler(packed, recipe(batch=20000), "cpu")
    items = sampler.items(3)
    n = len(items)
    counts = np.bincount(items[:, 0], minlength=len(sampler.entries))
    expected = sampler.weights * n
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected) + 1)
    assert np.isclose(sampler.weights.sum(), 1)
    # the largest entry (64x64 at x2 / x4) has 49x49 positions; the smaller 60x54 one 45x39
    spans = sampler._shapes[items[:, 0]] - 16 + 1
    assert np.all(items[:, 1:3] >= 0) and np.all(items[:, 1:3] < spans)
    assert items[:, 1].max() == spans[:, 0].max() - 1 and items[:, 1].min() == 0
    frac = (items[:, 1:3] + 0.5) / spans
    assert abs(frac.mean() - 0.5) < 0.01
    aug = np.bincount(items[:, 3], minlength=8)
    assert np.all(np.abs(aug - n / 8) < 5 * np.sqrt(n / 8))
    x, y = sampler.batch(3)
    assert abs(float(x.mean()) - float(y.mean())) < 0.01  # bicubic keeps the mean brightness
    upright = PackedSampler(packed, recipe(batch=500, augment=False), "cpu")
    assert set(upright.items(3)[:, 3]) == {0}


def test_small_images_are_skipped_and_grid_recipes_refused(packed: Path) -> None:
    lines: list[str] = []
    sampler = PackedSampler(packed, recipe(patch=58), "cpu", warn=lines.append)
    assert lines == ["skipped b.png: smaller than a 58x58 patch"]  # 60x56: 56 < 58
    assert {i for _, i in sampler.entries} == {0, 2}
    with pytest.raises(ValueError, match="smaller than"):
        PackedSampler(packed, recipe(patch=80), "cpu")
    with pytest.raises(ValueError, match="grid sampling"):
        PackedSampler(packed, recipe(sampling="grid"), "cpu")


@pytest.mark.skipif(not SHARED_TRAIN.is_dir(), reason="../shared/data/train is absent")
def test_the_291_images_pack_under_30_mb(tmp_path: Path) -> None:
    out = pack_training_data(SHARED_TRAIN, tmp_path / "train_y.npz")
    names, planes = load_packed(out)
    assert len(names) == 291
    assert out.stat().st_size <= 30e6
    assert sum(p.size for p in planes) > 30e6  # 36 M pixels of uint8 Y, compressed


def test_the_gpu_gather_path_gives_the_same_batches(packed: Path) -> None:
    """On a GPU the crops are gathered with torch ops on the device; on the CPU with NumPy.
    Both paths run here on the CPU and must agree bit for bit."""
    sampler = PackedSampler(packed, recipe(batch=40), "cpu")
    for it in (0, 9):
        items = sampler.items(it)
        host, device = sampler._gather_host(items), sampler._gather_device(items)
        for a, b in zip(host, device, strict=True):
            assert a.dtype == b.dtype == torch.float32
            assert torch.equal(a, b)

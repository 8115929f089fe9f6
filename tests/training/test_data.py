"""Training data: the protocol's ILR, augmentation, deterministic sampling, cache, bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drrn_core.imaging import imresize
from drrn_core.metrics.protocol import prepare
from drrn_core.trainer import data as data_mod
from drrn_core.trainer.data import PatchSampler, TrainingData, dihedral, make_pair, read_y_u8


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_pairs_are_the_protocols_ilr(tiny_folder: Path, scale: int) -> None:
    path = tiny_folder / "a.png"
    hr, ilr = make_pair(read_y_u8(path), scale)
    ref = prepare(path, scale)
    np.testing.assert_array_equal(hr, np.round(ref.gt_y * 255).astype(np.uint8))
    np.testing.assert_allclose(ilr, ref.ilr_y, atol=1e-6)  # stored as float32
    assert ilr.dtype == np.float32


def test_fractional_scale_pair_has_hr_size(tiny_folder: Path) -> None:
    hr, ilr = make_pair(read_y_u8(tiny_folder / "a.png"), 2.5)
    assert hr.shape == ilr.shape == (64, 64)


def test_dihedral_gives_eight_distinct_versions() -> None:
    a = np.arange(12.0).reshape(3, 4)
    versions = {dihedral(a, k).tobytes() + bytes(dihedral(a, k).shape) for k in range(8)}
    assert len(versions) == 8


@pytest.mark.parametrize("k", range(8))
def test_augmentation_commutes_with_bicubic(k: int) -> None:
    """Why one prepared copy per scale serves all 8 augmentations."""
    rng = np.random.default_rng(k)
    hr = rng.random((24, 36))
    ilr = imresize(imresize(hr, 1 / 3), 3.0)
    aug = dihedral(hr, k)
    np.testing.assert_allclose(dihedral(ilr, k), imresize(imresize(aug, 1 / 3), 3.0), atol=1e-12)


def test_sampler_patches_are_crops_of_the_prepared_pairs(tiny_folder: Path) -> None:
    d = TrainingData(tiny_folder, (2.0, 3.0), 16)
    sampler = PatchSampler(d, batch=8, sampling="grid", stride=7, augment=True, seed=3)
    xs, ys = sampler.batch(5)
    assert xs.shape == ys.shape == (8, 1, 16, 16)
    start = 5 * 8
    for j in range(8):
        si, img, y, x, aug = sampler._grid_item(start + j)
        sd = d.data[d.scales[si]]
        h, w = sd.shapes[img]
        o = sd.offsets[img]
        full_ilr = np.asarray(sd.ilr[o:o + h * w]).reshape(h, w)
        full_hr = np.asarray(sd.hr[o:o + h * w]).reshape(h, w)
        np.testing.assert_array_equal(xs[j, 0], dihedral(full_ilr[y:y + 16, x:x + 16], aug))
        np.testing.assert_array_equal(ys[j, 0] * 255, dihedral(full_hr[y:y + 16, x:x + 16], aug))


def test_grid_epoch_visits_every_patch_once(tiny_folder: Path) -> None:
    d = TrainingData(tiny_folder, (2.0,), 16)
    sampler = PatchSampler(d, batch=1, sampling="grid", stride=21, augment=True, seed=0)
    n = len(sampler.grid) * 8
    seen = {sampler._grid_item(i) for i in range(n)}
    assert len(seen) == n
    expected = sum(len(range(0, h - 15, 21)) * len(range(0, w - 15, 21))
                   for h, w in d.data[2.0].shapes)
    assert len(sampler.grid) == expected


@pytest.mark.parametrize("sampling", ["grid", "random"])
def test_batches_depend_only_on_iteration_and_rank(tiny_folder: Path, sampling: str) -> None:
    d = TrainingData(tiny_folder, (2.0, 4.0), 16)
    a = PatchSampler(d, 6, sampling, 7, True, seed=1)
    b = PatchSampler(d, 6, sampling, 7, True, seed=1)
    for it in (0, 9, 4, 100):
        np.testing.assert_array_equal(a.batch(it)[0], b.batch(it)[0])
    r0, r1 = a.batch(2, rank=0, world=2)[0], a.batch(2, rank=1, world=2)[0]
    assert r0.shape[0] == 3 and not np.array_equal(r0, r1)


def test_cache_is_reused(tiny_folder: Path, tmp_path: Path, monkeypatch) -> None:
    first = TrainingData(tiny_folder, (2.0, 3.0), 16, cache_dir=tmp_path / "cache")

    def fail(*_a, **_k):
        raise AssertionError("prepared again despite a cache")

    monkeypatch.setattr(data_mod, "make_pair", fail)
    second = TrainingData(tiny_folder, (2.0, 3.0), 16, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(np.asarray(first.data[3.0].ilr), np.asarray(second.data[3.0].ilr))
    assert second.images == first.images == ["a.png", "b.png", "nested/c.png"]


def test_unreadable_images_are_skipped_and_counted(tiny_folder: Path) -> None:
    (tiny_folder / "notes.png").write_text("not an image")
    (tiny_folder / "empty.jpg").write_bytes(b"")
    warnings: list[str] = []
    d = TrainingData(tiny_folder, (2.0,), 16, warn=warnings.append)
    assert len(d.images) == 3 and len(d.skipped) == 2
    assert sum("skipped unreadable" in w for w in warnings) == 2


def test_images_smaller_than_a_patch_are_skipped(tiny_folder: Path) -> None:
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tiny_folder / "tiny.png")
    warnings: list[str] = []
    d = TrainingData(tiny_folder, (2.0,), 16, warn=warnings.append)
    assert "tiny.png" not in [d.images[i] for i in d.usable]
    assert any("smaller than a 16x16 patch" in w for w in warnings)


def test_empty_and_useless_folders_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        TrainingData(tmp_path / "empty", (2.0,), 16)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_text("text")
    with pytest.raises(ValueError, match="could be read"):
        TrainingData(bad, (2.0,), 16)
    small = tmp_path / "small"
    small.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(small / "s.png")
    with pytest.raises(ValueError, match="smaller than"):
        TrainingData(small, (2.0,), 16)
    with pytest.raises(ValueError, match="not found"):
        TrainingData(tmp_path / "missing", (2.0,), 16)

"""Training images packed into one file, and a sampler that crops them on the training device.

``pack_training_data`` stores the uint8 Y plane of every training image (read exactly as the
training data reads it, ``read_y_u8``) in one compressed ``.npz`` (no pickle): the 291 images of
the paper's set take about 27 MB, small enough to travel with a checkout to a GPU machine.

``PackedSampler`` loads the planes onto the device and builds every (ILR, HR) pair there, exactly
as ``make_pair`` does (modcrop for integer scales; LR = MATLAB bicubic by 1/s; ILR = bicubic back
to the HR size; double-precision maths, ILR stored as float32): each resize is a dense per-axis
matrix made from ``imaging.resize.contributions``, so a pair is four float64 matmuls. Mini-batches
are random crops weighted by the valid-crop area of each (image, scale), with the 8 rotations/flips
when the recipe augments, gathered on the device; the crop positions come from a NumPy generator
seeded by (seed, iteration, rank), so a batch is the same on every device and after a resume.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from drrn_core.atomic import atomic_path
from drrn_core.imaging import modcrop
from drrn_core.imaging.resize import contributions, output_size
from drrn_core.trainer.data import dihedral, list_images, read_y_planes
from drrn_core.trainer.recipe import Recipe

PACK_VERSION = 1


def _listing(src: Path, files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    names = np.array([str(f.relative_to(src)) for f in files], dtype=np.str_)
    sizes = np.array([f.stat().st_size for f in files], dtype=np.int64)
    return names, sizes


def pack_training_data(src: str | Path, out: str | Path,
                       warn: Callable[[str], None] | None = None) -> Path:
    """Pack the Y planes of every image under ``src`` (recursive) into ``out`` (.npz), atomically.

    Unreadable images are skipped with one ``warn`` line each; ValueError (one line) when ``src``
    is missing or holds no readable image. Returns ``out``.
    """
    src, out, warn = Path(src), Path(out), warn or (lambda _m: None)
    if not src.is_dir():
        raise ValueError(f"training folder not found: {src}")
    files = list_images(src)
    if not files:
        raise ValueError(f"no images found in {src}")
    planes, kept, skipped = read_y_planes(files, src, warn)
    names, sizes = _listing(src, kept)
    all_names, all_sizes = _listing(src, files)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh, version=np.int64(PACK_VERSION),
            planes=np.concatenate([p.ravel() for p in planes]),
            shapes=np.array([p.shape for p in planes], dtype=np.int64),
            names=names, sizes=sizes, source_names=all_names, source_sizes=all_sizes,
            skipped=np.array(skipped, dtype=np.str_))
    return out


def load_packed(path: str | Path) -> tuple[list[str], list[np.ndarray]]:
    """(image names, uint8 Y planes) of a packed file; ValueError (one line) if it is not one."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != PACK_VERSION:
                raise ValueError(f"{path}: packed format {int(z['version'])}, "
                                 f"expected {PACK_VERSION}; pack it again")
            flat, shapes, names = z["planes"], z["shapes"], [str(n) for n in z["names"]]
    except (OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a packed training file ({exc})") from None
    sizes = shapes[:, 0] * shapes[:, 1]
    if flat.dtype != np.uint8 or shapes.shape != (len(names), 2) or sizes.sum() != flat.size:
        raise ValueError(f"{path} is damaged: its planes do not match its shapes")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    planes = [flat[s:s + n].reshape(h, w) for s, n, (h, w) in zip(starts, sizes, shapes,
                                                                    strict=True)]
    return names, planes


def packed_matches(path: str | Path, src: str | Path) -> bool:
    """Whether ``path`` is a readable pack of exactly the files now under ``src`` (names and
    byte sizes; modification times are not compared, so a copied folder still matches)."""
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            if int(z["version"]) != PACK_VERSION:
                return False
            names, sizes = z["source_names"], z["source_sizes"]
    except (OSError, KeyError, EOFError, ValueError, zipfile.BadZipFile):
        return False
    now_names, now_sizes = _listing(Path(src), list_images(Path(src)))
    return np.array_equal(names, now_names) and np.array_equal(sizes, now_sizes)


def resize_matrix(n_in: int, n_out: int, scale: float, antialias: bool = True) -> np.ndarray:
    """Dense float64 (n_out, n_in) matrix of MATLAB bicubic along one axis: ``M @ column``
    equals ``imresize``'s result for that axis (mirrored taps are summed into one entry)."""
    idx, w = contributions(n_in, n_out, scale, antialias)
    m = np.zeros((n_out, n_in), np.float64)
    np.add.at(m, (np.repeat(np.arange(n_out), idx.shape[1]), idx.ravel()), w.ravel())
    return m


def ilr_matrices(length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(down, up) float64 matrices along one axis, as ``make_pair`` resizes it: down by 1/scale
    to ``ceil(length / scale)`` samples, then back up to ``length``."""
    small = output_size((length, length), 1.0 / scale)[0]
    return (resize_matrix(length, small, 1.0 / scale),
            resize_matrix(small, length, length / small))


def _dihedral_maps(p: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) int64 (8, p, p): output pixel (i, j) of ``dihedral(patch, k)`` is
    ``patch[rows[k, i, j], cols[k, i, j]]``."""
    index = np.arange(p * p).reshape(p, p)
    maps = np.stack([dihedral(index, k) for k in range(8)])
    return maps // p, maps % p


class PackedSampler:
    """Random (ILR, HR) mini-batches cropped on ``device`` from a packed file.

    ``batch(iteration, rank, world)`` -> (x, y) float32 tensors on the device, shape
    (ceil(batch / world), 1, patch, patch): x the ILR in [0, 1] (bicubic may overshoot slightly,
    as in ``make_pair``), y the HR / 255. Same semantics as ``PatchSampler.batch`` with random
    sampling. ``warn`` gets one line per image too small for a patch.
    """

    def __init__(self, packed: str | Path, recipe: Recipe, device: torch.device | str,
                 warn: Callable[[str], None] | None = None) -> None:
        if recipe.sampling != "random":
            raise ValueError(f"the packed sampler draws random crops; recipe {recipe.name!r} "
                             f"uses {recipe.sampling} sampling")
        self.device = torch.device(device)
        self.patch, self.batch_size, self.seed = int(recipe.patch), int(recipe.batch), recipe.seed
        self.n_aug = 8 if recipe.augment else 1
        self.scales = tuple(float(s) for s in recipe.scales)
        warn = warn or (lambda _m: None)
        self.names, planes = load_packed(packed)
        p = self.patch
        crops = {s: [modcrop(y, int(s)) if s.is_integer() else y for y in planes]
                 for s in self.scales}
        small = {i for s in self.scales for i, y in enumerate(crops[s]) if min(y.shape) < p}
        for i in sorted(small):
            warn(f"skipped {self.names[i]}: smaller than a {p}x{p} patch")
        usable = [i for i in range(len(planes)) if i not in small]
        if not usable:
            raise ValueError(f"every image in {packed} is smaller than a {p}x{p} patch")
        self.entries: list[tuple[float, int]] = [(s, i) for s in self.scales for i in usable]
        self._build([crops[s][i] for s, i in self.entries])
        area = (self._shapes[:, 0] - p + 1) * (self._shapes[:, 1] - p + 1)
        self.weights = area.astype(np.float64) / area.sum()
        # the crop index arithmetic runs where the data is: NumPy for the CPU (single-threaded:
        # small multi-threaded torch ops stall when other jobs load the cores), torch on a GPU
        rows, cols = _dihedral_maps(p)
        self._host_layout = (self._offsets, self._shapes[:, 1].copy(), rows, cols)
        self._device_layout = tuple(torch.from_numpy(a).to(self.device)
                                    for a in self._host_layout)

    def _build(self, hrs: list[np.ndarray]) -> None:
        """HR planes and their ILR, made on the device, as flat tensors with per-entry offsets."""
        dev = self.device
        mats: dict[tuple[int, float], tuple[torch.Tensor, torch.Tensor]] = {}

        def mat(length: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
            if (length, scale) not in mats:
                down, up = ilr_matrices(length, scale)
                mats[(length, scale)] = (torch.from_numpy(down).to(dev),
                                         torch.from_numpy(up).to(dev))
            return mats[(length, scale)]

        ilrs, flat_hr = [], []
        for (s, _), hr in zip(self.entries, hrs, strict=True):
            y = torch.from_numpy(np.ascontiguousarray(hr)).to(dev)
            flat_hr.append(y.reshape(-1))
            (down_h, up_h), (down_w, up_w) = mat(hr.shape[0], s), mat(hr.shape[1], s)
            lr = down_h @ (y.to(torch.float64) / 255.0) @ down_w.T  # rows first, as imresize
            ilr = up_h @ lr @ up_w.T
            ilrs.append(ilr.to(torch.float32).reshape(-1))
        self.hr, self.ilr = torch.cat(flat_hr), torch.cat(ilrs)
        self._shapes = np.array([h.shape for h in hrs], dtype=np.int64)
        sizes = self._shapes[:, 0] * self._shapes[:, 1]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._offsets = offsets

    def local_batch(self, world: int) -> int:
        return max(1, math.ceil(self.batch_size / world))

    def items(self, iteration: int, rank: int = 0, world: int = 1) -> np.ndarray:
        """int64 (local batch, 4): entry (index into ``entries``), top, left, augmentation."""
        local = self.local_batch(world)
        rng = np.random.default_rng([self.seed, iteration, rank])
        picks = rng.choice(self.weights.size, size=local, p=self.weights)
        span = self._shapes[picks] - self.patch + 1
        top_left = np.floor(rng.random((local, 2)) * span).astype(np.int64)
        aug = rng.integers(0, self.n_aug, size=local)
        return np.column_stack([picks, top_left, aug]).astype(np.int64)

    @staticmethod
    def _flat_index(items, layout):
        """Flat indices (local batch * patch * patch) of every crop pixel, dihedral applied; the
        same arithmetic on NumPy arrays or torch tensors."""
        offsets, widths, rows, cols = layout
        pick, top, left, aug = (items[:, k] for k in range(4))
        width = widths[pick][:, None, None]
        start = (offsets[pick] + top * widths[pick] + left)[:, None, None]
        return (start + rows[aug] * width + cols[aug]).reshape(-1)

    def _gather_host(self, items: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        index = self._flat_index(items, self._host_layout)
        shape = (len(items), 1, self.patch, self.patch)
        x = self.ilr.numpy()[index].reshape(shape)
        return torch.from_numpy(x), torch.from_numpy(self.hr.numpy()[index].reshape(shape)
                                                     / np.float32(255.0))

    def _gather_device(self, items: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        index = self._flat_index(torch.from_numpy(items).to(self.device), self._device_layout)
        shape = (len(items), 1, self.patch, self.patch)
        x = self.ilr.index_select(0, index).reshape(shape)
        return x, self.hr.index_select(0, index).to(torch.float32).div_(255.0).reshape(shape)

    def batch(self, iteration: int, rank: int = 0,
              world: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of one step; see the class docstring."""
        items = self.items(iteration, rank, world)
        # the crop arithmetic runs where the data is: NumPy on the CPU (single-threaded, since
        # small multi-threaded torch ops stall when other jobs load the cores), torch on a GPU
        gather = self._gather_host if self.device.type == "cpu" else self._gather_device
        return gather(items)

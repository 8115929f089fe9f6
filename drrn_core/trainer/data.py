"""Training data: (ILR, HR) Y patches from any folder of HR images.

For every image and scale s: Y as MATLAB's ``rgb2ycbcr`` of the uint8 image, ``modcrop``,
LR = bicubic by 1/s, ILR = bicubic back to the HR size (drrn_core.imaging.imresize, double maths,
stored as float32). The 8 rotations/flips are applied to patches on the fly: bicubic resizing with
mirror borders commutes with them, so one prepared copy per scale serves all 8.

Which patch a step sees is a pure function of (seed, iteration, rank): resuming at an iteration
continues the exact data sequence, with no sampler state to save.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from drrn_core.atomic import atomic_path
from drrn_core.filesystem import missing_reason
from drrn_core.imaging import imresize, modcrop
from drrn_core.imaging.io import IMAGE_SUFFIXES, read_gt
from drrn_core.metrics.protocol import gt_luma, quantize

_CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """Where training data's patch caches go unless a run names a folder: the user cache."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("drrn-studio")) / "datasets"


def read_y_u8(path: Path) -> np.ndarray:
    """An image file as uint8 Y, read exactly as the evaluation protocol reads ground truth."""
    return quantize(gt_luma(read_gt(path)))


def read_y_planes(files: list[Path], folder: Path, warn: Callable[[str], None],
                  ) -> tuple[list[np.ndarray], list[Path], list[str]]:
    """(uint8 Y planes, the files read, one line per file skipped) of training images; an
    unreadable file is skipped with a warning, none readable is a ValueError naming ``folder``."""
    planes, kept, skipped = [], [], []
    for f in files:
        try:
            planes.append(read_y_u8(f))
            kept.append(f)
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as e:
            line = f"skipped unreadable image {f.name}: {type(e).__name__}: {e}"
            skipped.append(line)
            warn(line)
    if not planes:
        raise ValueError(f"none of the {len(files)} image files in {folder} could be read")
    return planes, kept, skipped


def _scale_key(s: float) -> str:
    return f"{s:g}".replace(".", "p")


def make_pair(hr_y_u8: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(HR uint8, ILR float32 in [0, 1]) for one image and scale, as the protocol makes them."""
    hr = modcrop(hr_y_u8, int(scale)) if float(scale).is_integer() else hr_y_u8
    y = hr.astype(np.float64) / 255.0
    lr = imresize(y, 1.0 / scale)
    ilr = imresize(lr, output_shape=y.shape)
    return hr, ilr.astype(np.float32)


@dataclass
class ScaleData:
    """All prepared images of one scale, concatenated into flat arrays (memory-mapped)."""

    scale: float
    hr: np.ndarray  # uint8, flat
    ilr: np.ndarray  # float32, flat
    offsets: np.ndarray  # int64 (n,) start of each image in the flat arrays
    shapes: np.ndarray  # int64 (n, 2) height, width

    def patch(self, img: int, y: int, x: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.shapes[img]
        rows = self.offsets[img] + (y + np.arange(size))[:, None] * w + x + np.arange(size)
        return self.ilr[rows], self.hr[rows]


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted for a stable order."""
    return sorted(
        p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _cache_key(files: list[Path], root: Path, scales: tuple[float, ...]) -> str:
    h = hashlib.sha1(f"v{_CACHE_VERSION} {scales}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _save_atomic(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, arr)


class TrainingData:
    """Prepared (ILR, HR) pairs for a folder and a set of scales, cached on disk.

    ``warn(message)`` is called once per skipped file (unreadable, or too small for a patch).
    Raises ValueError when no usable image is left.
    """

    def __init__(
        self,
        folder: str | Path,
        scales: tuple[float, ...],
        patch: int,
        cache_dir: str | Path | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.scales = tuple(float(s) for s in scales)
        self.patch_size = int(patch)
        warn = warn or (lambda _m: None)
        if not self.folder.is_dir():
            reason = missing_reason(self.folder)
            raise ValueError(f"training folder not found: {self.folder}" if reason ==
                             "file not found" else f"{self.folder}: {reason}, not a folder")
        files = list_images(self.folder)
        if not files:
            raise ValueError(f"no images found in {self.folder}")
        key = _cache_key(files, self.folder, self.scales)
        self.cache = Path(cache_dir) / key if cache_dir else None
        manifest = self._load_manifest()
        if manifest is None:
            manifest = self._prepare(files, warn)
        else:
            for line in manifest["skipped"]:
                warn(line)
        self.images: list[str] = manifest["images"]
        self.skipped: list[str] = manifest["skipped"]
        self.data = {s: self._load_scale(s, manifest) for s in self.scales}
        self._drop_small(warn)

    def _load_manifest(self) -> dict | None:
        if self.cache is None or not (self.cache / "manifest.json").is_file():
            return None
        try:
            return json.loads((self.cache / "manifest.json").read_text())
        except (OSError, ValueError):
            return None

    def _prepare(self, files: list[Path], warn: Callable[[str], None]) -> dict:
        ys, kept, skipped = read_y_planes(files, self.folder, warn)
        names = [str(f.relative_to(self.folder)) for f in kept]
        manifest = {"images": names, "skipped": skipped, "arrays": {}}
        self._arrays: dict[float, ScaleData] = {}
        for s in self.scales:
            hrs, ilrs = zip(*(make_pair(y, s) for y in ys), strict=True)
            shapes = np.array([h.shape for h in hrs], dtype=np.int64)
            sizes = shapes[:, 0] * shapes[:, 1]
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
            sd = ScaleData(s, np.concatenate([h.ravel() for h in hrs]),
                           np.concatenate([i.ravel() for i in ilrs]), offsets, shapes)
            self._arrays[s] = sd
            if self.cache is not None:
                self.cache.mkdir(parents=True, exist_ok=True)
                k = _scale_key(s)
                for name, arr in (("hr", sd.hr), ("ilr", sd.ilr), ("shapes", shapes)):
                    _save_atomic(self.cache / f"{name}_x{k}.npy", arr)
        if self.cache is not None:
            with atomic_path(self.cache / "manifest.json") as tmp:
                tmp.write_text(json.dumps(manifest))
        return manifest

    def _load_scale(self, s: float, manifest: dict) -> ScaleData:
        if hasattr(self, "_arrays"):
            return self._arrays[s]
        assert self.cache is not None  # without a cache the arrays are held (above)
        k = _scale_key(s)
        shapes = np.load(self.cache / f"shapes_x{k}.npy")
        sizes = shapes[:, 0] * shapes[:, 1]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return ScaleData(s, np.load(self.cache / f"hr_x{k}.npy", mmap_mode="r"),
                         np.load(self.cache / f"ilr_x{k}.npy", mmap_mode="r"), offsets, shapes)

    def _drop_small(self, warn: Callable[[str], None]) -> None:
        """Images smaller than a patch at some scale cannot give patches there: say so once."""
        p = self.patch_size
        small = set()
        for sd in self.data.values():
            small |= {i for i, (h, w) in enumerate(sd.shapes) if h < p or w < p}
        for i in sorted(small):
            warn(f"skipped {self.images[i]}: smaller than a {p}x{p} patch")
        self.usable = np.array([i for i in range(len(self.images)) if i not in small], np.int64)
        if self.usable.size == 0:
            raise ValueError(f"every image in {self.folder} is smaller than a {p}x{p} patch")

    def grid_positions(self, stride: int) -> np.ndarray:
        """Every patch at ``stride`` of every usable (scale, image): int64 (N, 4) rows of
        (scale index, image, y, x) — the paper's patch extraction."""
        p, rows = self.patch_size, []
        for si, s in enumerate(self.scales):
            for i in self.usable:
                h, w = self.data[s].shapes[i]
                ys, xs = np.arange(0, h - p + 1, stride), np.arange(0, w - p + 1, stride)
                g = np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)
                rows.append(np.column_stack([np.full(len(g), si), np.full(len(g), i), g]))
        return np.concatenate(rows).astype(np.int64)


def dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """The k-th of the 8 rotations/flips (k in 0..7): rotate by 90*(k % 4), flip if k >= 4."""
    a = np.rot90(a, k % 4)
    return a[:, ::-1] if k >= 4 else a


class PatchSampler:
    """Deterministic mini-batches: ``batch(iteration, rank, world)`` -> (ILR, HR) float32 arrays
    of shape (local batch, 1, patch, patch) in [0, 1]. Grid sampling walks a seeded permutation
    of all grid patches x 8 augmentations epoch after epoch; random sampling draws crops with a
    generator seeded by (seed, iteration, rank)."""

    def __init__(self, data: TrainingData, batch: int, sampling: str, stride: int,
                 augment: bool, seed: int) -> None:
        self.data, self.batch_size, self.sampling = data, batch, sampling
        self.n_aug = 8 if augment else 1
        self.seed = seed
        if sampling == "grid":
            self.grid = data.grid_positions(stride)
            self._perm_epoch, self._perm = -1, np.empty(0, np.int64)
        else:
            p = data.patch_size
            areas = []
            for s in data.scales:
                sh = data.data[s].shapes[data.usable]
                areas.append((sh[:, 0] - p + 1) * (sh[:, 1] - p + 1))
            self.weights = np.concatenate(areas).astype(np.float64)
            self.weights /= self.weights.sum()

    def _grid_item(self, index: int) -> tuple[int, int, int, int, int]:
        n = len(self.grid) * self.n_aug
        epoch, pos = divmod(index, n)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(n)
            self._perm_epoch = epoch
        g, aug = divmod(int(self._perm[pos]), self.n_aug)
        si, img, y, x = self.grid[g]
        return int(si), int(img), int(y), int(x), aug

    def _random_items(self, iteration: int, rank: int, count: int):
        rng = np.random.default_rng([self.seed, iteration, rank])
        d, p = self.data, self.data.patch_size
        picks = rng.choice(self.weights.size, size=count, p=self.weights)
        n_img = d.usable.size
        for pick in picks:
            si, img = divmod(int(pick), n_img)
            h, w = d.data[d.scales[si]].shapes[d.usable[img]]
            y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            yield si, int(d.usable[img]), y, x, int(rng.integers(0, self.n_aug))

    def local_batch(self, world: int) -> int:
        return max(1, math.ceil(self.batch_size / world))

    def batch(self, iteration: int, rank: int = 0, world: int = 1) -> tuple[np.ndarray, np.ndarray]:
        local = self.local_batch(world)
        if self.sampling == "grid":
            start = iteration * local * world + rank * local
            items = [self._grid_item(start + j) for j in range(local)]
        else:
            items = list(self._random_items(iteration, rank, local))
        p = self.data.patch_size
        xs = np.empty((local, 1, p, p), np.float32)
        ys = np.empty((local, 1, p, p), np.float32)
        for j, (si, img, y, x, aug) in enumerate(items):
            ilr, hr = self.data.data[self.data.scales[si]].patch(img, y, x, p)
            xs[j, 0] = dihedral(ilr, aug)
            ys[j, 0] = dihedral(hr, aug) / np.float32(255.0)
        return xs, ys

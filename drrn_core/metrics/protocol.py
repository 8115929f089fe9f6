"""The paper's evaluation protocol (../shared/docs/PROTOCOL.md): the one implementation for all.

Steps, for an integer scale s in {2, 3, 4, ...}:

1. GT luma (:func:`gt_luma`): uint8 RGB -> MATLAB ``rgb2ycbcr`` Y (uint8), greyscale used as is,
   alpha dropped; 16-bit images are first reduced to 8 bits as ``round(v / 257)`` (MATLAB
   ``im2uint8``); float arrays are taken as [0, 1] and quantised ``round(255 x)``; then
   Y / 255 as float64. EXIF orientation is ignored (as MATLAB's ``imread``).
2. modcrop to multiples of s.  3. LR = imresize(Y, 1/s), ILR = imresize(LR, s), MATLAB-exact
   bicubic in double (:func:`prepare`).
4. The restored Y (the ILR itself for "bicubic") is quantised ``round(255 x)`` clipped to [0, 255].
5. s pixels are shaved from every border of both.  6-8. PSNR, SSIM, IFC on those uint8 values as
   doubles (:func:`score`).

API:
    ``Restorer`` = ``Callable[[ilr_y], out_y]``: float64 [0, 1] HxW -> restored Y, same shape.
    ``prepare(gt, scale) -> ProtocolImages(gt_y, lr_y, ilr_y)``;
    ``score(gt_y, out_y, scale, with_ifc=True) -> ImageScore(psnr, ssim, ifc | None)``;
    ``evaluate_image(gt_or_path, scale, restorer=None | "bicubic" | Restorer) -> ImageScore``;
    ``list_images(folder)``; ``iter_benchmark(paths, scales, models, ...)`` yields
    :class:`BenchResult` as each image is scored (a generator, so a GUI can show progress and
    stop pulling to abort); ``bench_json(dataset, results)`` builds the benchmark JSON::

        {"dataset": "Set5", "runs": [{"model": "bicubic", "scale": 2,
          "mean": {"psnr": .., "ssim": .., "ifc": ..},
          "images": [{"image": "img_001.png", "psnr": .., "ssim": .., "ifc": ..}, ...]}, ...]}

    where "ifc" is null when it was skipped or the image is under 72 px a side after the shave.
    Non-finite values are written as null so the JSON stays standard: PSNR is never skipped, so a
    null "psnr" always means an exact restoration (infinite PSNR, e.g. bicubic on a flat image).
    Means are arithmetic means over the images (:func:`mean_score`); one infinite PSNR makes the
    mean PSNR infinite (null in JSON, "inf" in tables and CSV).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drrn_core.imaging import imresize, modcrop, rgb_to_y_u8, shave
from drrn_core.imaging.io import DEFAULT_MAX_PIXELS, check_finite, open_image
from drrn_core.metrics.ifc import ifc as ifc_metric
from drrn_core.metrics.ifc import min_size as ifc_min_size
from drrn_core.metrics.psnr import psnr as psnr_metric
from drrn_core.metrics.ssim import ssim as ssim_metric

Restorer = Callable[[np.ndarray], np.ndarray]
BICUBIC = "bicubic"
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@dataclass(frozen=True)
class ProtocolImages:
    """Steps 1-3: modcropped GT Y, its LR and ILR, float64 in [0, 1] (ILR unclipped)."""

    gt_y: np.ndarray
    lr_y: np.ndarray
    ilr_y: np.ndarray
    scale: int


@dataclass(frozen=True)
class ImageScore:
    """PSNR (dB), SSIM and IFC (bits/pixel; None when skipped) of one image."""

    psnr: float
    ssim: float
    ifc: float | None = None


@dataclass(frozen=True)
class BenchResult:
    """One scored image of a benchmark run; ``index`` of ``total`` counts results (1-based)."""

    model: str
    scale: int
    image: str
    score: ImageScore
    index: int
    total: int


def check_scale(scale: object) -> int:
    """The scale as an int >= 2; ValueError for anything else (e.g. 2.5, "x2", True)."""
    is_number = isinstance(scale, int | float | np.integer | np.floating)
    if isinstance(scale, bool) or not is_number or not math.isfinite(scale):
        raise ValueError(f"scale must be an integer >= 2, got {scale!r}")
    if scale != int(scale) or int(scale) < 2:
        raise ValueError(f"the protocol needs an integer scale >= 2, got {scale!r}")
    return int(scale)


def _to_u8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return np.floor(arr / 257.0 + 0.5).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        return quantize(arr)
    raise ValueError(f"unsupported image dtype {arr.dtype} (use uint8, uint16 or float in [0, 1])")


def gt_luma(image: np.ndarray) -> np.ndarray:
    """Step 1: HxW / HxWx1 / HxWx3 / HxWx4 image -> Y float64 in [0, 1] (multiples of 1/255)."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] in (2, 4):  # grey+alpha / RGBA: drop alpha
        arr = arr[..., :-1]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        y = _to_u8(arr)
    elif arr.ndim == 3 and arr.shape[2] == 3:
        y = rgb_to_y_u8(_to_u8(arr))
    else:
        raise ValueError(f"expected an HxW or HxWxC (C = 1..4) image, got shape {arr.shape}")
    out = y.astype(np.float64)
    out /= 255.0  # in place: one float64 copy of a possibly large image
    return out


def read_gt(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as HxW (grey) or HxWx3 (RGB) array for :func:`gt_luma`; alpha dropped.
    Opened by :func:`drrn_core.imaging.io.open_image` (the same formats, pixel limit and one-line
    ImageReadError as every other reader); float images with NaN/inf are refused."""
    with open_image(path, max_pixels) as im:
        im.load()
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.asarray(im, dtype=np.int64).clip(0, 65535).astype(np.uint16)
        if im.mode == "F":
            check_finite(str(path), np.asarray(im, dtype=np.float32))
        if im.mode not in ("L", "RGB"):
            im = im.convert("L" if im.mode in ("1", "LA", "La", "F") else "RGB")
        return np.asarray(im)


def prepare(gt_image: np.ndarray | str | os.PathLike, scale: int) -> ProtocolImages:
    """Steps 1-3 for an image array or file: GT Y, modcrop, LR = bicubic 1/s, ILR = bicubic s."""
    s = check_scale(scale)
    arr = read_gt(gt_image) if isinstance(gt_image, str | os.PathLike) else gt_image
    gt_y = modcrop(gt_luma(arr), s)
    if min(gt_y.shape) < 2 * s + 1:
        raise ValueError(f"image {np.shape(arr)[:2]} is too small for scale {s}")
    lr_y = imresize(gt_y, 1.0 / s)
    ilr_y = imresize(lr_y, float(s))
    if ilr_y.shape != gt_y.shape:  # cannot happen for modcropped sizes; guards the resize maths
        raise ValueError(f"ILR shape {ilr_y.shape} differs from GT {gt_y.shape}")
    return ProtocolImages(gt_y=gt_y, lr_y=lr_y, ilr_y=ilr_y, scale=s)


def quantize(y: np.ndarray) -> np.ndarray:
    """Step 4: float [0, 1] -> uint8 as ``round(255 x)`` (half away from zero) clipped to 0..255.
    Row bands of ~1 Mpx keep the float64 temporaries small whatever the image size."""
    y = np.asarray(y)
    out = np.empty(y.shape, np.uint8)
    if y.ndim == 0 or y.size == 0:
        out[...] = np.clip(np.floor(np.asarray(y, dtype=np.float64) * 255.0 + 0.5), 0, 255)
        return out
    rows = max(1, (1 << 20) // max(1, y[0].size))
    for r in range(0, y.shape[0], rows):
        band = np.asarray(y[r:r + rows], dtype=np.float64) * 255.0 + 0.5
        out[r:r + rows] = np.clip(np.floor(band, out=band), 0, 255, out=band)
    return out


def score(gt_y: np.ndarray, out_y: np.ndarray, scale: int, with_ifc: bool = True) -> ImageScore:
    """Steps 4-8: quantise both Y images (float [0, 1], same HxW), shave ``scale``, measure.
    IFC is None when skipped or when the shaved image is smaller than its pyramid needs."""
    s = check_scale(scale)
    gt_y, out_y = np.asarray(gt_y), np.asarray(out_y)
    if gt_y.shape != out_y.shape or gt_y.ndim != 2:
        raise ValueError(f"expected two HxW images of one shape, got {gt_y.shape}, {out_y.shape}")
    ref = shave(quantize(gt_y), s)  # uint8: the metrics convert them in bands
    dist = shave(quantize(out_y), s)
    return ImageScore(
        psnr=psnr_metric(ref, dist),
        ssim=ssim_metric(ref, dist),
        ifc=ifc_metric(ref, dist) if with_ifc and min(ref.shape) >= ifc_min_size() else None,
    )


def restore(images: ProtocolImages, restorer: Restorer | str | None) -> np.ndarray:
    """Apply ``restorer`` to the ILR (None / "bicubic": the ILR itself), checking the output."""
    if restorer is None or restorer == BICUBIC:
        return images.ilr_y
    if isinstance(restorer, str):
        raise ValueError(f"unknown restorer {restorer!r} (pass a callable, None or 'bicubic')")
    out = np.asarray(restorer(images.ilr_y))
    if out.shape != images.ilr_y.shape:
        raise ValueError(f"restorer returned shape {out.shape}, expected {images.ilr_y.shape}")
    return out


def evaluate_image(
    gt_image: np.ndarray | str | os.PathLike,
    scale: int,
    restorer: Restorer | str | None = None,
    with_ifc: bool = True,
) -> ImageScore:
    """The whole protocol for one GT image (array or path) and one restorer (None = bicubic)."""
    images = prepare(gt_image, scale)
    return score(images.gt_y, restore(images, restorer), images.scale, with_ifc)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder`` (suffix, any case; not hidden), sorted by file name."""
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    files = [
        p
        for p in root.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(files, key=lambda p: p.name)


def iter_benchmark(
    paths: Sequence[str | os.PathLike],
    scales: Sequence[int],
    models: Mapping[str, Restorer | str | None],
    with_ifc: bool = True,
    cancel: Callable[[], bool] | None = None,
) -> Iterator[BenchResult]:
    """Score every image x scale x model, yielding each result as soon as it is ready.

    ``models`` maps a display name to a restorer (None or "bicubic" = the ILR). Each image is
    read and prepared once per scale. ``cancel()`` returning True (checked before every
    restoration) ends the run early; results already yielded stand.
    """
    checked = [check_scale(s) for s in scales]
    total = len(paths) * len(checked) * len(models)
    index = 0
    for path in paths:
        arr = read_gt(path)
        for s in checked:
            images = prepare(arr, s)
            for name, restorer in models.items():
                if cancel is not None and cancel():
                    return
                index += 1
                result = score(images.gt_y, restore(images, restorer), s, with_ifc)
                yield BenchResult(name, s, Path(path).name, result, index, total)


def mean_score(scores: Iterable[ImageScore]) -> ImageScore:
    """Arithmetic means (as the paper's tables); IFC is None unless every image has one. An
    infinite PSNR (exact restoration) makes the mean PSNR infinite."""
    scores = list(scores)
    if not scores:
        raise ValueError("no scores to average")
    ifcs = [s.ifc for s in scores]
    return ImageScore(
        psnr=float(np.mean([s.psnr for s in scores])),
        ssim=float(np.mean([s.ssim for s in scores])),
        ifc=None if any(v is None for v in ifcs) else float(np.mean(ifcs)),
    )


def _json_number(value: float | None) -> float | None:
    """Finite floats as they are; None (JSON null) for missing and non-finite values."""
    return float(value) if value is not None and math.isfinite(value) else None


def _score_dict(s: ImageScore) -> dict[str, float | None]:
    return {"psnr": _json_number(s.psnr), "ssim": _json_number(s.ssim), "ifc": _json_number(s.ifc)}


BENCH_CSV_METRICS = ("psnr", "ssim", "ifc")


def bench_csv(results: Iterable[dict]) -> str:
    """Benchmark JSON documents (``bench_json``) as CSV text: one row per image and run,
    dataset,model,scale,image,psnr,ssim,ifc; an infinite PSNR reads ``inf``, a missing IFC is
    empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "model", "scale", "image", *BENCH_CSV_METRICS])
    for res in results:
        for run in res["runs"]:
            for im in run["images"]:
                values = (("inf" if m == "psnr" else "") if im[m] is None else im[m]
                          for m in BENCH_CSV_METRICS)
                writer.writerow([res["dataset"], run["model"], run["scale"], im["image"], *values])
    return buf.getvalue()


def bench_json(dataset: str, results: Iterable[BenchResult]) -> dict:
    """The benchmark JSON (module docstring): one run per (model, scale) in order of appearance."""
    runs: dict[tuple[str, int], list[BenchResult]] = {}
    for r in results:
        runs.setdefault((r.model, r.scale), []).append(r)
    return {
        "dataset": dataset,
        "runs": [
            {
                "model": model,
                "scale": scale,
                "mean": _score_dict(mean_score(r.score for r in rs)),
                "images": [{"image": r.image, **_score_dict(r.score)} for r in rs],
            }
            for (model, scale), rs in runs.items()
        ],
    }

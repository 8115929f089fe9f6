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
    ``prepare_view(gt, scale, lr=None) -> ViewImages`` (the same images plus the colour a viewer
    shows; also for a given LR + HR pair, whose scale ``pair_scale`` checks);
    ``score(gt_y, out_y, scale, with_ifc=True) -> ImageScore(psnr, ssim, ifc | None)``;
    ``evaluate_image(gt_or_path, scale, restorer=None | "bicubic" | Restorer) -> ImageScore``;

Ground truth is read by :func:`drrn_core.imaging.io.read_gt` (re-exported here with
``list_images`` and ``IMAGE_SUFFIXES``); benchmark runs over folders, their means, JSON and CSV
are :mod:`drrn_core.metrics.benchmark`'s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from drrn_core.bands import row_bands
from drrn_core.imaging import imresize, modcrop, rgb_to_y_u8, rgb_to_ycbcr, shave, ycbcr_to_rgb

# The protocol's file reading lives with IO; re-exported here for the callers that read ground
# truth through the protocol (prepare() takes a path too).
from drrn_core.imaging.io import IMAGE_SUFFIXES, list_images, read_gt  # noqa: F401
from drrn_core.metrics.ifc import ifc as ifc_metric
from drrn_core.metrics.ifc import min_size as ifc_min_size
from drrn_core.metrics.psnr import psnr as psnr_metric
from drrn_core.metrics.ssim import WINDOW as SSIM_WINDOW
from drrn_core.metrics.ssim import ssim as ssim_metric

Restorer = Callable[[np.ndarray], np.ndarray]
BICUBIC = "bicubic"


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


def check_scale(scale: object) -> int:
    """The scale as an int >= 2; ValueError for anything else (e.g. 2.5, "x2", True)."""
    if (isinstance(scale, bool) or not isinstance(scale, int | float | np.integer | np.floating)
            or not math.isfinite(scale)):
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


def min_side(scale: int) -> int:
    """The smallest side (px) of an image the protocol scores at ``scale``: cropped to a multiple
    of ``scale`` and shaved by ``scale`` at each border, SSIM's 11x11 window must still fit."""
    s = check_scale(scale)
    return s * math.ceil((SSIM_WINDOW + 2 * s) / s)


def prepare(gt_image: np.ndarray | str | os.PathLike, scale: int) -> ProtocolImages:
    """Steps 1-3 for an image array or file: GT Y, modcrop, LR = bicubic 1/s, ILR = bicubic s."""
    s = check_scale(scale)
    arr = read_gt(gt_image) if isinstance(gt_image, str | os.PathLike) else gt_image
    gt_y = modcrop(gt_luma(arr), s)
    if min(gt_y.shape) < min_side(s):
        h, w = np.shape(arr)[:2]
        raise ValueError(f"the image is {w}x{h} px: too small to score at x{s}, which needs at "
                         f"least {min_side(s)} px a side")
    lr_y = imresize(gt_y, 1.0 / s)
    ilr_y = imresize(lr_y, float(s))
    if ilr_y.shape != gt_y.shape:  # cannot happen for modcropped sizes; guards the resize maths
        raise ValueError(f"ILR shape {ilr_y.shape} differs from GT {gt_y.shape}")
    return ProtocolImages(gt_y=gt_y, lr_y=lr_y, ilr_y=ilr_y, scale=s)


def pair_scale(lr_hw: Sequence[int], hr_hw: Sequence[int]) -> int:
    """The integer scale s >= 2 of a given LR + HR pair: the HR (height, width) is the LR's times
    s after cropping the HR to multiples of s; ValueError (one line for the user) otherwise."""
    (lh, lw), (hh, hw) = lr_hw[:2], hr_hw[:2]
    s = round(hh / lh) if lh > 0 else 0
    if s < 2 or hh // s != lh or hw // s != lw:
        raise ValueError(f"The HR image ({hw}×{hh}) is not the LR image ({lw}×{lh}) times an "
                         "integer scale of 2 or more.")
    return s


@dataclass(frozen=True)
class ViewImages:
    """What an evaluation view shows and scores, all from one reading of the files.

    ``images``: the protocol images (steps 1-3) that are scored. ``gt``: the ground truth as
    read for scoring, modcropped, alpha dropped, 8 bits (uint8 HxW or HxWx3), so its luma is
    exactly ``images.gt_y``. ``lr_cbcr`` / ``ilr_cbcr``: chroma (float64 HxWx2 in [0, 1]) at LR
    and GT size to colour a Y image for display (None for greyscale).
    """

    images: ProtocolImages
    gt: np.ndarray
    lr_cbcr: np.ndarray | None
    ilr_cbcr: np.ndarray | None

    def colour(self, y: np.ndarray) -> np.ndarray:
        """Display image (float in [0, 1]) of a Y image at LR or GT size: Y clipped to [0, 1]
        plus the matching chroma, so the displayed luma is the Y that is scored."""
        y = np.clip(y, 0.0, 1.0)
        cbcr = self.lr_cbcr if y.shape == self.images.lr_y.shape else self.ilr_cbcr
        if cbcr is None:
            return y
        return np.clip(ycbcr_to_rgb(np.dstack([y, cbcr])), 0.0, 1.0)


def _colour_u8(arr: np.ndarray) -> np.ndarray:
    """An image as :func:`gt_luma` sees it before the luma: 8 bits, alpha dropped, HxW grey."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        arr = arr[..., :-1]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    return _to_u8(arr)


def _cbcr(u8: np.ndarray) -> np.ndarray | None:
    """Chroma of an 8-bit image (float64 HxWx2 in [0, 1]); None for greyscale."""
    return None if u8.ndim == 2 else rgb_to_ycbcr(u8.astype(np.float64) / 255.0)[..., 1:]


def prepare_view(gt_image: np.ndarray | str | os.PathLike, scale: int | None = None,
                 lr: np.ndarray | str | os.PathLike | None = None) -> ViewImages:
    """Steps 1-3 plus display colour for an evaluation view. Files are read by :func:`read_gt`,
    as ``drrn bench`` reads them (EXIF orientation ignored).

    Without ``lr``: the protocol's LR/ILR of ``gt_image`` at ``scale`` (:func:`prepare`); LR
    chroma is bicubic 1/s of the GT's, ILR chroma bicubic s of that. With ``lr`` (a given LR +
    HR pair): the scale comes from the sizes (:func:`pair_scale`; ``scale``, when given, must
    agree), the LR is taken as it is and its ILR is bicubic s of it.
    """
    arr = read_gt(gt_image) if isinstance(gt_image, str | os.PathLike) else np.asarray(gt_image)
    gt8 = _colour_u8(arr)
    if lr is None:
        images = prepare(gt8, check_scale(scale))
        s = images.scale
        gt_c = _cbcr(modcrop(gt8, s))
        lr_c = None if gt_c is None else imresize(gt_c, 1.0 / s)
        return ViewImages(images, modcrop(gt8, s), lr_c,
                          None if lr_c is None else imresize(lr_c, float(s)))
    lr8 = _colour_u8(read_gt(lr) if isinstance(lr, str | os.PathLike) else lr)
    s = pair_scale(lr8.shape, gt8.shape)
    if scale is not None and check_scale(scale) != s:
        raise ValueError(f"the pair's scale is {s}, not {scale}")
    lr_y = gt_luma(lr8)
    images = ProtocolImages(gt_y=modcrop(gt_luma(gt8), s), lr_y=lr_y,
                            ilr_y=imresize(lr_y, float(s)), scale=s)
    lr_c = _cbcr(lr8)
    return ViewImages(images, modcrop(gt8, s), lr_c,
                      None if lr_c is None else imresize(lr_c, float(s)))


def quantize(y: np.ndarray) -> np.ndarray:
    """Step 4: float [0, 1] -> uint8 as ``round(255 x)`` (half away from zero) clipped to 0..255.
    Row bands of ~1 Mpx keep the float64 temporaries small whatever the image size."""
    y = np.asarray(y)
    out = np.empty(y.shape, np.uint8)
    if y.ndim == 0 or y.size == 0:
        out[...] = np.clip(np.floor(np.asarray(y, dtype=np.float64) * 255.0 + 0.5), 0, 255)
        return out
    for rows in row_bands(y.shape[0], y[0].size):
        band = np.asarray(y[rows], dtype=np.float64) * 255.0 + 0.5
        out[rows] = np.clip(np.floor(band, out=band), 0, 255, out=band)
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

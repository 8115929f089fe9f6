"""Image quality metrics and the paper's evaluation protocol (one implementation for every caller).

``psnr``, ``ssim`` and ``ifc`` take 2-D (HxW) arrays, uint8 or float, values in [0, 255],
reference first, and compute in float64. :mod:`drrn_core.metrics.protocol` runs the whole
protocol for one image (GT luma, modcrop, bicubic LR/ILR, quantisation, shave, metrics);
benchmark runs over folders are :mod:`drrn_core.metrics.benchmark`'s.
"""

from drrn_core.metrics.ifc import ifc
from drrn_core.metrics.protocol import (
    ImageScore,
    ProtocolImages,
    Restorer,
    evaluate_image,
    prepare,
    score,
)
from drrn_core.metrics.psnr import psnr
from drrn_core.metrics.ssim import ssim

__all__ = [
    "ImageScore",
    "ProtocolImages",
    "Restorer",
    "evaluate_image",
    "ifc",
    "prepare",
    "psnr",
    "score",
    "ssim",
]

"""Image quality metrics and the paper's evaluation protocol (one implementation for every caller).

``psnr``, ``ssim`` and ``ifc`` take 2-D (HxW) arrays, uint8 or float, values in [0, 255],
reference first, and compute in float64. :mod:`drrn_core.metrics.protocol` runs the whole
protocol (GT luma, modcrop, bicubic LR/ILR, quantisation, shave, metrics) and benchmark runs.
"""

from drrn_core.metrics.ifc import ifc
from drrn_core.metrics.protocol import (
    BenchResult,
    ImageScore,
    ProtocolImages,
    Restorer,
    bench_json,
    evaluate_image,
    iter_benchmark,
    list_images,
    prepare,
    score,
)
from drrn_core.metrics.psnr import psnr
from drrn_core.metrics.ssim import ssim

__all__ = [
    "BenchResult",
    "ImageScore",
    "ProtocolImages",
    "Restorer",
    "bench_json",
    "evaluate_image",
    "ifc",
    "iter_benchmark",
    "list_images",
    "prepare",
    "psnr",
    "score",
    "ssim",
]

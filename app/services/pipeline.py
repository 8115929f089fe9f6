"""What the Compare tab computes, as generators run on a worker thread (no Qt here).

Both pipelines only orchestrate drrn_core: the engine upscales, the protocol prepares LR/ILR
and scores (so the readouts are the very numbers ``drrn bench`` prints). They yield events as
results become available, so the GUI shows bicubic before DRRN and PSNR/SSIM before IFC.

Preview first: before DRRN runs, its time is estimated (app.services.estimate, calibrated on this
machine). Above ``AUTO_LIMIT_S`` only the region the user is looking at is upscaled (with the
receptive-field margin, so it equals that part of the whole result) and an :class:`Estimate`
says what the whole image would take; the whole image runs only when the request asks
(``whole=True``: the user pressed "Upscale whole image").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from app.services.upscalers import take_notices, upscaler_for
from drrn_core import limits
from drrn_core.imaging.resize import output_size
from drrn_core.metrics import protocol

BICUBIC = protocol.BICUBIC  # the model name that means "no network"
MIN_SCALE, MAX_SCALE = limits.COMPARE_SCALE.low, limits.COMPARE_SCALE.high
AUTO_LIMIT_S = 10.0
"""A DRRN run estimated to take longer than this (seconds) does not start unasked."""
PREVIEW_BUDGET_S = 6.0
"""Estimated seconds a preview of the visible region may take (the region shrinks to fit)."""
MIN_PREVIEW_SIDE = 48

PARTIAL_INTERVAL_S = 0.5
"""Shortest time (s) between two Partial events of a whole-image run (the GUI redraws the pane)."""
PARTIAL_PIXELS_PER_S = 5e6
"""Output pixels per second of run time that Partial events may carry: a large result redraws
less often (48 MP: every ~10 s), since each snapshot copies the whole canvas on the worker (144 MB
for 48 MP RGB) and is drawn again on the GUI thread."""

Progress = Callable[[float], None]
Cancel = Callable[[], bool]
Emit = Callable[[object], None]


@dataclass(frozen=True)
class Request:
    """One run. ``image`` is the opened photo (upscale) or the ground truth (evaluate), float
    [0, 1] or uint8, HW or HWC. ``lr`` is set for an LR + HR pair (then ``image`` is the HR)."""

    image: np.ndarray
    mode: str = "upscale"
    scale: float = 2.0
    size: tuple[int, int] | None = None  # target (width, height), upscale mode only
    model: str = BICUBIC
    device: str = "auto"
    precision: str = "auto"
    lr: np.ndarray | None = None
    path: Path | None = None  # the file ``image`` was read from (evaluate reads it as bench does)
    lr_path: Path | None = None  # the file ``lr`` was read from
    whole: bool = False  # the user asked for DRRN on the whole image, however long it takes
    view: tuple[int, int, int, int] | None = None  # visible output region (x0, y0, x1, y1)
    preview_only: bool = False  # only refresh the DRRN preview of ``view`` (pan/zoom)


@dataclass(frozen=True)
class Estimate:
    """DRRN's estimated time (seconds) on the whole image; ``whole``: it runs now (short enough,
    or asked for), else only a preview of the visible region runs."""

    seconds: float
    whole: bool
    device: str = ""


@dataclass(frozen=True)
class Patch:
    """A part of ``key``'s result: ``image`` covers output pixels ``box`` = (x0, y0, x1, y1) of
    an output of ``size`` = (w, h). ``preview``: DRRN of the visible region only."""

    key: str
    image: np.ndarray
    box: tuple[int, int, int, int]
    size: tuple[int, int]
    preview: bool = True


@dataclass(frozen=True)
class Partial:
    """A whole-image run in progress: ``image`` (uint8, output size; black where no tile is done
    yet) holds every tile finished so far; ``done`` is their share of the output's pixels."""

    key: str
    image: np.ndarray
    size: tuple[int, int]
    done: float


class _TilePainter:
    """The engine's per-tile callback for a whole-image run: paints each finished tile into a
    uint8 canvas (worker thread) and emits a :class:`Partial` snapshot at most every
    ``PARTIAL_INTERVAL_S`` seconds, and less often for large outputs (``PARTIAL_PIXELS_PER_S``),
    so the GUI only redraws, and not most of the time."""

    def __init__(self, key: str, size: tuple[int, int], channels: int, emit: Emit,
                 clock: Callable[[], float] = time.monotonic) -> None:
        w, h = size
        self.key, self.size, self.emit, self.clock = key, size, emit, clock
        self.canvas = np.zeros((h, w) if channels == 1 else (h, w, channels), np.uint8)
        self.painted, self.last = 0, clock()
        self.interval = max(PARTIAL_INTERVAL_S, w * h / PARTIAL_PIXELS_PER_S)

    def __call__(self, rect: tuple[int, int, int, int], pixels: np.ndarray) -> None:
        y0, y1, x0, x1 = rect
        px = pixels if pixels.ndim == self.canvas.ndim else pixels[..., 0]
        self.canvas[y0:y1, x0:x1] = np.clip(px * 255.0 + 0.5, 0, 255)
        self.painted += (y1 - y0) * (x1 - x0)
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            done = self.painted / (self.size[0] * self.size[1])
            self.emit(Partial(self.key, self.canvas.copy(), self.size, done))


@dataclass(frozen=True)
class Ran:
    """What produced the DRRN result: model, backend, device and precision (after any
    fallback), one line, e.g. "DRRN_B1U9 on CPU (...), ncnn fp32 (Winograd convolutions)"."""

    text: str


@dataclass(frozen=True)
class Stage:
    """A pane's image is ready: ``key`` in input/bicubic/drrn/gt; drawn over ``size`` (w, h)."""

    key: str
    image: np.ndarray
    size: tuple[int, int]


@dataclass(frozen=True)
class Scores:
    """Protocol scores of ``key`` (bicubic/drrn); ``score.ifc`` is None until IFC is done."""

    key: str
    score: protocol.ImageScore


@dataclass(frozen=True)
class ErrorMap:
    """|quantised result - quantised GT| on Y, 0-255 units, GT size (not shaved)."""

    key: str
    error: np.ndarray


@dataclass(frozen=True)
class Note:
    """A one-line notice from the engine (e.g. an out-of-memory fallback to smaller tiles)."""

    text: str


def _span(progress: Progress, lo: float, hi: float) -> Progress:
    return lambda f: progress(lo + (hi - lo) * min(max(f, 0.0), 1.0))


def target_size(image: np.ndarray, scale: float, size: tuple[int, int] | None) -> tuple[int, int]:
    """Output (width, height) for ``scale`` or an explicit ``size``; ValueError when too large."""
    h, w = image.shape[:2]
    if size is not None:
        out_w, out_h = size
    else:
        out_h, out_w = output_size((h, w), scale)
    if out_w * out_h > limits.COMPARE_MAX_OUTPUT_PIXELS:
        raise ValueError(
            f"The result would be {out_w}x{out_h} ({out_w * out_h / 1e6:.0f} MP); the limit is "
            f"{limits.COMPARE_MAX_OUTPUT_PIXELS / 1e6:.0f} MP. Choose a smaller scale or size."
        )
    return out_w, out_h


def as_float(image: np.ndarray) -> np.ndarray:
    """The engine's input: float in [0, 1] (uint8 / uint16 are scaled)."""
    arr = np.asarray(image)
    if np.issubdtype(arr.dtype, np.floating):
        return arr
    return arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)


def min_evaluate_side(scale: int) -> int:
    """The smallest side an image evaluated at ``scale`` may have: the protocol crops it to a
    multiple of ``scale`` and needs more than ``2 * scale`` pixels (``scale`` are shaved at each
    border), so three multiples: ``3 * scale``."""
    return 3 * scale


def check_request(req: Request) -> str | None:
    """Why ``req`` cannot run (one line for the user), or None. Cheap: call on the GUI thread."""
    h, w = (req.lr if req.lr is not None else req.image).shape[:2]
    if req.mode == "evaluate" and req.lr is not None:
        try:
            protocol.pair_scale(req.lr.shape, req.image.shape)
        except ValueError as exc:
            return str(exc)
        return None
    if req.mode == "evaluate":
        s = max(2, int(round(req.scale)))
        least = min_evaluate_side(s)
        if min(h, w) < least:
            return (f"The image is {w}×{h}: too small to evaluate at ×{s}, which needs at least "
                    f"{least}×{least} px (the protocol crops it to a multiple of {s} and leaves "
                    f"out {s} px at each border). Choose a smaller scale or a larger image.")
        return None
    try:
        target_size(req.image, req.scale, req.size)
    except ValueError as exc:
        return str(exc)
    return None


def _exact_step(scale: float) -> int:
    """Input-pixel step q such that q * scale is a whole number of output pixels (so a crop
    starting at a multiple of q upscales onto the whole image's pixel grid); 0 if none small."""
    frac = Fraction(scale).limit_denominator(64)
    return frac.denominator if abs(float(frac) - scale) < 1e-9 else 0


def preview_box(view: tuple[int, int, int, int] | None, size: tuple[int, int],
                max_pixels: float) -> tuple[int, int, int, int]:
    """The output region (x0, y0, x1, y1) to preview: the visible ``view`` clipped to the image
    (the centre when unknown), shrunk about its centre to at most ``max_pixels`` pixels."""
    w, h = size
    if view is None:
        x0, y0, x1, y1 = 0, 0, w, h
    else:
        x0, y0 = max(0, int(math.floor(view[0]))), max(0, int(math.floor(view[1])))
        x1, y1 = min(w, int(math.ceil(view[2]))), min(h, int(math.ceil(view[3])))
        if x1 - x0 < 1 or y1 - y0 < 1:
            x0, y0, x1, y1 = 0, 0, w, h
    bw, bh = x1 - x0, y1 - y0
    if bw * bh > max_pixels:
        shrink = math.sqrt(max_pixels / (bw * bh))
        nw = min(bw, max(MIN_PREVIEW_SIDE, int(bw * shrink)))
        nh = min(bh, max(MIN_PREVIEW_SIDE, int(bh * shrink)))
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        x0 = min(max(x0, cx - nw // 2), x1 - nw)
        y0 = min(max(y0, cy - nh // 2), y1 - nh)
        x1, y1 = x0 + nw, y0 + nh
    return x0, y0, x1, y1


def _input_span(up, hw: tuple[int, int], scale: float,
                box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Input rows/cols (y0, y1, x0, x1) that :func:`upscale_region` reads for ``box``."""
    x0, y0, x1, y1 = box
    q = _exact_step(scale) or 1
    m = math.ceil(up.margin / scale) + 3  # receptive field (output px) + bicubic support

    def span(lo: int, hi: int, n: int) -> tuple[int, int]:
        a = max(0, int(math.floor(lo / scale)) - m)
        a -= a % q
        return a, min(n, int(math.ceil(hi / scale)) + m)

    return (*span(y0, y1, hw[0]), *span(x0, x1, hw[1]))


def fit_preview(up, hw: tuple[int, int], scale: float, view, size: tuple[int, int],
                budget_s: float) -> tuple[int, int, int, int]:
    """The visible region, shrunk about its centre until the engine's estimate of upscaling it
    (margins and tiles included) is within ``budget_s``."""
    from app.services import estimate

    limit = float(size[0] * size[1])
    box = preview_box(view, size, limit)
    for _ in range(6):
        iy0, iy1, ix0, ix1 = _input_span(up, hw, scale, box)
        seconds = estimate.upscale_seconds(up, (iy1 - iy0, ix1 - ix0), scale=scale)
        area = (box[2] - box[0]) * (box[3] - box[1])
        if seconds <= budget_s or area <= MIN_PREVIEW_SIDE ** 2:
            break
        limit = area * budget_s / seconds * 0.9
        box = preview_box(box, size, limit)
    return box


def upscale_region(up, image: np.ndarray, scale: float, box: tuple[int, int, int, int],
                   cancel: Cancel | None = None) -> np.ndarray:
    """DRRN (or bicubic) of output pixels ``box`` = (x0, y0, x1, y1) only: the input region
    under it plus a margin covering the bicubic kernel and the network's receptive field is
    upscaled and cut. For scales whose crops land on the whole image's pixel grid (any scale
    p/q with q <= 64: 2, 3, 2.5, 1.75 ...) the patch equals that part of the whole result."""
    x0, y0, x1, y1 = box
    iy0, iy1, ix0, ix1 = _input_span(up, image.shape[:2], scale, box)
    out = up.upscale(np.ascontiguousarray(image[iy0:iy1, ix0:ix1]), scale=scale, cancel=cancel)
    oy, ox = int(round(iy0 * scale)), int(round(ix0 * scale))
    return out[y0 - oy:y1 - oy, x0 - ox:x1 - ox]


def upscale(req: Request, progress: Progress, cancel: Cancel,
            emit: Emit | None = None) -> Iterator[object]:
    """Input (nearest at output size), Bicubic, then DRRN (when a model is chosen): on the whole
    image when that is quick or asked for, else on the visible region (see module doc).
    ``emit``: delivers :class:`Partial` events while a whole-image DRRN run is going (the
    worker's ``JobContext.emit``); without it only the finished result is yielded."""
    from app.services import estimate

    size = target_size(req.image, req.scale, req.size)
    kw = {"size": (size[1], size[0])} if req.size is not None else {"scale": req.scale}
    image = as_float(req.image)
    if not req.preview_only:
        yield Stage("input", image, size)

    def bicubic(lo: float, hi: float) -> Iterator[Stage]:
        out = upscaler_for(BICUBIC).upscale(image, progress=_span(progress, lo, hi),
                                            cancel=cancel, **kw)
        yield Stage("bicubic", out, size)

    if req.model == BICUBIC:
        yield from bicubic(0.0, 1.0)
        progress(1.0)
        return
    try:
        up = upscaler_for(req.model, req.device, req.precision)
    except Exception:
        if not req.preview_only:  # an unusable model: still show bicubic, then say why
            yield from bicubic(0.0, 1.0)
        raise
    seconds = estimate.upscale_seconds(up, image.shape[:2], **kw)
    whole = req.whole or (seconds <= AUTO_LIMIT_S and not req.preview_only)
    yield Estimate(seconds, whole, up.run_info.text)
    if whole:
        yield from bicubic(0.0, 0.1)
        channels = 1 if image.ndim == 2 else image.shape[2]
        painter = None if emit is None else _TilePainter("drrn", size, channels, emit)
        out = up.upscale(image, progress=_span(progress, 0.1, 1.0), cancel=cancel,
                         on_tile=painter, **kw)
        yield from (Note(t) for t in take_notices())
        yield Ran(up.description)
        yield Stage("drrn", out, size)
    else:  # bicubic and DRRN of the visible region only (the whole bicubic is heavy too)
        scale = req.scale if req.size is None else size[0] / image.shape[1]
        box = fit_preview(up, image.shape[:2], scale, req.view, size, PREVIEW_BUDGET_S)
        cheap = upscale_region(upscaler_for(BICUBIC), image, scale, box, cancel)
        box = (box[0], box[1], box[0] + cheap.shape[1], box[1] + cheap.shape[0])
        yield Patch(BICUBIC, cheap, box, size)
        progress(0.1)
        patch = upscale_region(up, image, scale, box, cancel)
        yield from (Note(t) for t in take_notices())
        yield Ran(up.description)
        yield Patch("drrn", patch, box, size)
    progress(1.0)


EXACT = "fp32"
"""The evaluate view's precision, whatever the Precision box says: exact fp32, as ``drrn bench``
measures (bf16 moves PSNR by up to 0.005 dB), so its scores are the benchmark's scores."""


def evaluate(req: Request, progress: Progress, cancel: Cancel) -> Iterator[object]:
    """Protocol evaluation: Input (LR), Ground truth, Bicubic (+scores), DRRN (+scores), IFC.

    Every image comes from ``protocol.prepare_view``, reading ``req.path`` / ``req.lr_path``
    (when given) as ``drrn bench`` reads them; DRRN runs in exact fp32 on the chosen device, with
    an engine set up as ``drrn bench`` sets it up, so the scores are its scores."""
    view = protocol.prepare_view(
        req.path if req.path is not None else req.image,
        None if (req.lr is not None or req.lr_path is not None) else int(req.scale),
        lr=req.lr_path if req.lr_path is not None else req.lr)
    images = view.images
    s = images.scale
    h, w = images.gt_y.shape
    gt_q = protocol.quantize(images.gt_y).astype(np.float32)
    yield Stage("input", view.colour(images.lr_y), (w, h))
    yield Stage("gt", view.gt, (w, h))
    outputs = {BICUBIC: images.ilr_y}
    yield Stage(BICUBIC, view.colour(images.ilr_y), (w, h))
    yield ErrorMap(BICUBIC, np.abs(protocol.quantize(images.ilr_y) - gt_q))
    yield Scores(BICUBIC, protocol.score(images.gt_y, images.ilr_y, s, with_ifc=False))
    progress(0.05)
    run_drrn = req.model != BICUBIC
    if run_drrn:
        from app.services import estimate

        up = upscaler_for(req.model, req.device, EXACT, exact=True)
        seconds = estimate.restore_seconds(up, (h, w))
        run_drrn = req.whole or seconds <= AUTO_LIMIT_S
        yield Estimate(seconds, run_drrn, up.run_info.text)
    if run_drrn:
        out_y = up.restore_y(images.ilr_y, progress=_span(progress, 0.05, 0.8), cancel=cancel)
        yield from (Note(t) for t in take_notices())
        yield Ran(f"{up.description} (exact, as drrn bench)")
        outputs["drrn"] = out_y
        yield Stage("drrn", view.colour(out_y), (w, h))
        yield ErrorMap("drrn", np.abs(protocol.quantize(out_y) - gt_q))
        yield Scores("drrn", protocol.score(images.gt_y, out_y, s, with_ifc=False))
    for i, (key, out) in enumerate(outputs.items()):
        if cancel():
            return
        progress(0.8 + 0.2 * i / len(outputs))
        yield Scores(key, protocol.score(images.gt_y, out, s, with_ifc=True))
    progress(1.0)


def run(req: Request, progress: Progress, cancel: Cancel,
        emit: Emit | None = None) -> Iterator[object]:
    """The pipeline for ``req.mode`` (``emit``: see :func:`upscale`)."""
    if req.mode == "evaluate":
        return evaluate(req, progress, cancel)
    return upscale(req, progress, cancel, emit)

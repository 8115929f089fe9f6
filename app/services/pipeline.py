"""What the Compare tab computes, as generators run on a worker thread (no Qt here).

Both pipelines only orchestrate drrn_core: the engine upscales, the protocol prepares LR/ILR
and scores (so the readouts are the very numbers ``drrn bench`` prints). They yield typed events
(:data:`Event`) as results become available, so the GUI shows bicubic before DRRN and PSNR/SSIM
before IFC.

Coordinates: the app speaks of output regions as :class:`Box` (x0, y0, x1, y1) and sizes as
:class:`Size` (w, h); the engine's rects are (y0, y1, x0, x1) and its shapes (h, w). The two
meet only in ``Box.from_rect`` / ``Box.rect`` and ``Size.from_hw`` / ``Size.hw``.

DRRN in upscale mode fills a :class:`Canvas`: the output cut into the engine's tiles (cores of
the engine's tile size; each computed from its input region plus the receptive-field margin, so
it equals that part of the whole result). A canvas is kept per image file and choices
(:class:`CanvasCache`, bounded in bytes), so no tile is ever computed twice: a preview, a
whole-image run, a cancelled run resumed, the same file opened again all continue from the
finished tiles. Tiles are computed outward from where the user looks (:class:`Focus`: the view's
centre, or a clicked spot), read again before every tile, so panning moves the remaining work.
The first tile of a new canvas is small (:data:`FIRST_TILE_S`) so DRRN shows at once.

Preview first: a run whose whole-image DRRN time (the sum of its tiles' calibrated estimates,
app.services.estimate) is above ``AUTO_LIMIT_S`` computes only the tiles of the visible region,
unless the request asks for the whole image (``whole=True``: "Upscale whole image" / Resume).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np

from app.services.upscalers import take_notices, upscaler_for
from drrn_core import limits
from drrn_core.imaging.resize import output_size
from drrn_core.metrics import protocol

BICUBIC = protocol.BICUBIC  # the model name that means "no network"
MIN_SCALE, MAX_SCALE = limits.COMPARE_SCALE.low, limits.COMPARE_SCALE.high
AUTO_LIMIT_S = 10.0
"""A whole-image DRRN run estimated to take longer than this (seconds) does not start unasked;
only the visible region's tiles are computed."""
PREVIEW_BUDGET_S = 120.0
"""Estimated seconds of tiles one preview run computes before it stops (at least one tile): the
visible region at 100 % on a laptop's screen fits; at "fit" on a large photo (the whole image
visible, an hour of DRRN on 2 cores) the preview stops there, centre first, and "Resume whole
image" continues it when asked."""
FIRST_TILE_S = 0.6
"""Estimated seconds the first tile of a new canvas may take (PREVIEW_BUDGET_S, when smaller):
a larger engine tile under the view's centre is cut into a small square there and four
rectangles around it (a pinwheel), so the first DRRN pixels show within about a second of the
estimate being known."""
FIRST_SIDES = (128, 96, 64, 48, 32)
"""Sides (px) tried, largest first, for that first square."""
CANVAS_CACHE_BYTES = 256 * 2**20
"""Pixels the kept unfinished canvases may hold together; the least recently used go first (the
canvas in use stays, however large). A finished canvas is let go once another is used: its
result is on screen and saved from there, and a long run of photos keeps no memory."""

Progress = Callable[[float], None]
Cancel = Callable[[], bool]


class Size(NamedTuple):
    """An output size in pixels, width first (the engine's shapes are (h, w): :meth:`hw`)."""

    w: int
    h: int

    @classmethod
    def from_hw(cls, hw: tuple[int, int]) -> Size:
        return cls(int(hw[1]), int(hw[0]))

    @property
    def hw(self) -> tuple[int, int]:
        return self.h, self.w

    @property
    def area(self) -> int:
        return self.w * self.h


class Box(NamedTuple):
    """Pixels ``[x0, x1) x [y0, y1)`` (of the output unless said otherwise). The engine's rect
    (y0, y1, x0, x1) converts only through :meth:`from_rect` and :attr:`rect`."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def from_rect(cls, rect: tuple[int, int, int, int]) -> Box:
        y0, y1, x0, x1 = rect
        return cls(x0, y0, x1, y1)

    @property
    def rect(self) -> tuple[int, int, int, int]:
        """The engine's (y0, y1, x0, x1)."""
        return self.y0, self.y1, self.x0, self.x1

    @classmethod
    def whole(cls, size: Size) -> Box:
        return cls(0, 0, size.w, size.h)

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return max(0, self.w) * max(0, self.h)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def slices(self) -> tuple[slice, slice]:
        """Index of this box in an (h, w[, c]) array: ``array[box.slices()]``."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def intersects(self, other: Box) -> bool:
        return (self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1
                and other.y0 < self.y1)

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x < self.x1 and self.y0 <= y < self.y1

    def clipped(self, size: Size) -> Box | None:
        """This box inside an output of ``size`` (whole pixels), or None when outside it."""
        b = Box(max(0, int(math.floor(self.x0))), max(0, int(math.floor(self.y0))),
                min(size.w, int(math.ceil(self.x1))), min(size.h, int(math.ceil(self.y1))))
        return b if b.w > 0 and b.h > 0 else None


@dataclass(frozen=True)
class Stage:
    """A pane's image is ready: ``key`` in input/bicubic/drrn/gt; drawn over ``size``. In
    evaluation, ``y`` is the luma the protocol scores (float [0, 1], HW), which region scores
    use instead of the shown colours."""

    key: str
    image: np.ndarray
    size: Size
    y: np.ndarray | None = None


@dataclass(frozen=True)
class Patch:
    """A part of ``key``'s result: ``image`` covers output pixels ``box`` of an output of
    ``size`` (the bicubic of the visible region; DRRN's finished part of it)."""

    key: str
    image: np.ndarray
    box: Box
    size: Size


@dataclass(frozen=True)
class Tile:
    """A finished DRRN tile: ``image`` (uint8, for display) covers output pixels ``box``.

    ``done`` is the share of the run's work (``scope``: "visible region" or "whole image")
    finished, ``seconds_left`` the estimate for the rest of it (corrected by this run's speed);
    ``whole_done`` and ``whole_seconds`` the same for the whole image, from the tiles' stored
    estimates only (they do not depend on the view). ``replay``: a tile finished earlier (a
    canvas opened again), shown again."""

    box: Box
    image: np.ndarray
    size: Size
    done: float
    scope: str
    seconds_left: float
    whole_done: float
    whole_seconds: float
    replay: bool = False


@dataclass(frozen=True)
class WholeImageTime:
    """DRRN's estimated time (seconds) for what is left of the whole image (``done``: the share
    already computed); ``runs_now``: it runs in this run (short enough, or asked for), else only
    the visible region's tiles are computed."""

    seconds: float
    runs_now: bool
    device: str = ""
    done: float = 0.0


@dataclass(frozen=True)
class Ran:
    """What produced the DRRN result: model, backend, device and precision (after any
    fallback), one line, e.g. "DRRN_B1U9 on CPU (...), ncnn fp32 (Winograd convolutions)"."""

    text: str


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


Event = Stage | Patch | Tile | WholeImageTime | Ran | Scores | ErrorMap | Note
"""Everything a pipeline yields."""


class Focus:
    """Where the user looks: the visible output region and, after a click, a spot in it. The
    GUI writes it, a running job reads it before every tile (so it is locked)."""

    def __init__(self, view: Box | None = None) -> None:
        self._lock = threading.Lock()
        self._view = view
        self._point: tuple[float, float] | None = None

    def look(self, view: Box | None) -> None:
        """The view changed (pan, zoom, resize): its centre is the work's centre again."""
        with self._lock:
            self._view, self._point = view, None

    def point_at(self, x: float, y: float) -> None:
        """The work's centre moves to (x, y) (a click), the view staying as it is."""
        with self._lock:
            self._point = (float(x), float(y))

    def get(self) -> tuple[Box | None, tuple[float, float] | None]:
        with self._lock:
            return self._view, self._point


@dataclass(frozen=True)
class Request:
    """One run. ``image`` is the opened photo (upscale) or the ground truth (evaluate), float
    [0, 1] or uint8, HW or HWC. ``lr`` is set for an LR + HR pair (then ``image`` is the HR)."""

    image: np.ndarray
    mode: str = "upscale"
    scale: float = 2.0
    size: Size | None = None  # target size, upscale mode only
    model: str = BICUBIC
    device: str = "auto"
    precision: str = "auto"
    lr: np.ndarray | None = None
    path: Path | None = None  # the file ``image`` was read from (evaluate reads it as bench does)
    lr_path: Path | None = None  # the file ``lr`` was read from
    whole: bool = False  # the user asked for DRRN on the whole image, however long it takes
    view: Box | None = None  # visible output region (when no ``focus`` is given)
    preview_only: bool = False  # only the visible region's tiles and bicubic (pan/zoom)
    focus: Focus | None = None  # where the user looks now (read before every tile)
    replay: bool = True  # send the canvas's finished tiles first (the DRRN pane is empty)
    bit_depth: int = 8  # of the opened file: 8-bit results are kept as uint8, else float32


class Canvas:
    """The DRRN result of one image and set of choices, tile by tile (worker threads write it;
    ``lock`` guards every change). ``pieces`` cover the output exactly once; ``seconds`` holds
    each piece's estimate, made once, so what is left never changes with the view."""

    def __init__(self, key: tuple, size: Size, channels: int, dtype: np.dtype | type,
                 pieces: list[Box], seconds: dict[Box, float], description: str) -> None:
        self.key, self.size, self.dtype = key, size, np.dtype(dtype)
        self.shape = size.hw if channels == 1 else (*size.hw, channels)
        self.pieces, self.seconds, self.description = pieces, seconds, description
        self.done: set[Box] = set()
        self.pixels: np.ndarray | None = None
        self.lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    @property
    def complete(self) -> bool:
        return len(self.done) == len(self.pieces)

    def _in(self, scope: Box | None) -> list[Box]:
        return self.pieces if scope is None else [p for p in self.pieces if p.intersects(scope)]

    def pending(self, scope: Box | None = None) -> list[Box]:
        """Pieces not finished yet (of those meeting ``scope``; None: all)."""
        with self.lock:
            return [p for p in self._in(scope) if p not in self.done]

    def fraction(self, scope: Box | None = None) -> float:
        """Share of the pixels of the pieces meeting ``scope`` that are finished."""
        with self.lock:
            pieces = self._in(scope)
            total = sum(p.area for p in pieces)
            return 1.0 if total == 0 else sum(p.area for p in pieces if p in self.done) / total

    def seconds_left(self, scope: Box | None = None) -> float:
        """The stored estimates of the pieces meeting ``scope`` that are not finished."""
        with self.lock:
            return sum(self.seconds[p] for p in self._in(scope) if p not in self.done)

    def put(self, box: Box, result: np.ndarray) -> np.ndarray:
        """Store a finished piece (float [0, 1], ``box``'s shape); its display pixels (uint8)."""
        from drrn_core.imaging.io import quantise

        shown = quantise(np.asarray(result), 255).astype(np.uint8, copy=False)
        with self.lock:
            if self.pixels is None:
                self.pixels = np.zeros(self.shape, self.dtype)
            part = shown if self.dtype == np.uint8 else result
            self.pixels[box.slices()] = part.reshape(self.pixels[box.slices()].shape)
            self.done.add(box)
        return shown

    def piece_pixels(self, box: Box) -> np.ndarray:
        """A finished piece's uint8 display pixels (a copy)."""
        from drrn_core.imaging.io import quantise

        with self.lock:
            assert self.pixels is not None  # made by the first put
            part = self.pixels[box.slices()]
            return part.copy() if part.dtype == np.uint8 else quantise(part, 255).astype(np.uint8)

    def region(self, box: Box) -> np.ndarray:
        """A copy of the stored pixels under ``box`` (finished pieces only make sense)."""
        with self.lock:
            assert self.pixels is not None  # made by the first put
            return self.pixels[box.slices()].copy()


class CanvasCache:
    """Canvases by key, the most recently used last: the one just used, and unfinished ones (to
    resume) up to ``max_bytes`` of pixels."""

    def __init__(self, max_bytes: int = CANVAS_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, Canvas] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Canvas | None:
        with self._lock:
            canvas = self._items.get(key)
            if canvas is not None:
                self._items.move_to_end(key)
            return canvas

    def put(self, canvas: Canvas) -> Canvas:
        """Keep ``canvas`` (or the one already kept under its key, which is returned)."""
        with self._lock:
            kept = self._items.setdefault(canvas.key, canvas)
            self._items.move_to_end(canvas.key)
            for key in [k for k, c in self._items.items() if k != canvas.key and c.complete]:
                del self._items[key]
            while len(self._items) > 1 and self.nbytes() > self.max_bytes:
                self._items.popitem(last=False)
            return kept

    def nbytes(self) -> int:
        return sum(c.nbytes for c in self._items.values())

    def kept_keys(self) -> list[tuple]:
        """The keys kept, the least recently used first."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CANVASES = CanvasCache()
"""The canvases of this process (Compare's runs on any image)."""


def _span(progress: Progress, lo: float, hi: float) -> Progress:
    return lambda f: progress(lo + (hi - lo) * min(max(f, 0.0), 1.0))


def target_size(image: np.ndarray, scale: float, size: tuple[int, int] | None) -> Size:
    """Output size for ``scale`` or an explicit ``size`` (w, h); ValueError when too large."""
    h, w = image.shape[:2]
    if size is not None:
        out = Size(int(size[0]), int(size[1]))
    else:
        out = Size.from_hw(output_size((h, w), scale))
    if out.area > limits.COMPARE_MAX_OUTPUT_PIXELS:
        raise ValueError(
            f"The result would be {out.w}x{out.h} ({out.area / 1e6:.0f} MP); the limit is "
            f"{limits.COMPARE_MAX_OUTPUT_PIXELS / 1e6:.0f} MP. Choose a smaller scale or size."
        )
    return out


def as_float(image: np.ndarray) -> np.ndarray:
    """The engine's input: float in [0, 1] (uint8 / uint16 are scaled)."""
    arr = np.asarray(image)
    if np.issubdtype(arr.dtype, np.floating):
        return arr
    return arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)


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
        least = protocol.min_side(s)
        if min(h, w) < least:
            return (f"The image is {w}×{h}: too small to evaluate at ×{s}, which needs at least "
                    f"{least}×{least} px (the protocol crops it to a multiple of {s}, leaves out "
                    f"{s} px at each border and SSIM needs 11×11 px). Choose a smaller scale or "
                    "a larger image.")
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


def _input_span(up, hw: tuple[int, int], scale: float, box: Box) -> Box:
    """The input pixels :func:`upscale_region` reads for output ``box``."""
    q = _exact_step(scale) or 1
    m = math.ceil(up.margin / scale) + 3  # receptive field (output px) + bicubic support

    def span(lo: int, hi: int, n: int) -> tuple[int, int]:
        a = max(0, int(math.floor(lo / scale)) - m)
        a -= a % q
        return a, min(n, int(math.ceil(hi / scale)) + m)

    (y0, y1), (x0, x1) = span(box.y0, box.y1, hw[0]), span(box.x0, box.x1, hw[1])
    return Box(x0, y0, x1, y1)


def upscale_region(up, image: np.ndarray, scale: float, box: Box,
                   cancel: Cancel | None = None) -> np.ndarray:
    """DRRN (or bicubic) of output pixels ``box`` only: the input region under it plus a margin
    covering the bicubic kernel and the network's receptive field is upscaled and cut. For
    scales whose crops land on the whole image's pixel grid (any scale p/q with q <= 64: 2, 3,
    2.5, 1.75 ...) the patch equals that part of the whole result."""
    src = _input_span(up, image.shape[:2], scale, box)
    out = up.upscale(np.ascontiguousarray(image[src.slices()]), scale=scale, cancel=cancel)
    oy, ox = int(round(src.y0 * scale)), int(round(src.x0 * scale))
    return out[box.y0 - oy:box.y1 - oy, box.x0 - ox:box.x1 - ox]


def _pinwheel(cell: Box, inner: Box) -> list[Box]:
    """``cell`` cut into ``inner`` and the four rectangles turning around it (empty ones left
    out): they cover the cell exactly once."""
    around = [Box(cell.x0, cell.y0, inner.x1, inner.y0), Box(inner.x1, cell.y0, cell.x1, inner.y1),
              Box(inner.x0, inner.y1, cell.x1, cell.y1), Box(cell.x0, inner.y0, inner.x0, cell.y1)]
    return [inner] + [b for b in around if b.area > 0]


def _square_at(cell: Box, side: int, x: float, y: float) -> Box:
    """A ``side`` square inside ``cell``, centred on (x, y) as far as the cell allows."""
    sw, sh = min(side, cell.w), min(side, cell.h)
    x0 = min(max(int(round(x - sw / 2)), cell.x0), cell.x1 - sw)
    y0 = min(max(int(round(y - sh / 2)), cell.y0), cell.y1 - sh)
    return Box(x0, y0, x0 + sw, y0 + sh)


def _centre(focus: Focus, size: Size) -> tuple[float, float]:
    view, point = focus.get()
    if point is not None:
        return point
    return (view.clipped(size) or Box.whole(size)).centre if view is not None else \
        Box.whole(size).centre


def _scope(focus: Focus, size: Size) -> Box:
    view, _ = focus.get()
    return (view.clipped(size) if view is not None else None) or Box.whole(size)


def _nearest(pieces: list[Box], centre: tuple[float, float]) -> Box:
    """The piece under ``centre`` or else the one whose centre is nearest."""
    x, y = centre
    return min(pieces, key=lambda b: (not b.contains(x, y),
                                      math.hypot(b.centre[0] - x, b.centre[1] - y)))


def centre_out(pieces: list[Box], centre: tuple[float, float]) -> list[Box]:
    """``pieces`` in the order a run computes them from ``centre`` (nearest first)."""
    x, y = centre
    return sorted(pieces, key=lambda b: (not b.contains(x, y),
                                         math.hypot(b.centre[0] - x, b.centre[1] - y)))


def _source_id(req: Request) -> tuple:
    """The opened image's identity: its file (path, mtime, size) or, pasted, its pixels."""
    if req.path is not None:
        try:
            st = Path(req.path).stat()
            return ("file", str(Path(req.path).resolve()), st.st_mtime_ns, st.st_size)
        except OSError:
            pass
    data = np.ascontiguousarray(req.image)
    return ("pixels", data.shape, str(data.dtype),
            hashlib.blake2b(data.data.cast("B"), digest_size=16).hexdigest())


def _model_id(model: str) -> tuple:
    from app.services.upscalers import weights_file
    from drrn_core.weights import split_ensemble

    name, ensemble = split_ensemble(model)
    try:
        return model, weights_file(name)[1], ensemble
    except (OSError, LookupError, ValueError):
        return model, None, ensemble


def exact_regions(image: np.ndarray, scale: float, size: Size) -> bool:
    """Whether regions of the output can be computed alone and equal the whole result: the
    scale lands crops on the output's grid and gives exactly ``size``."""
    return bool(_exact_step(scale)) and Size.from_hw(output_size(image.shape[:2], scale)) == size


def canvas_for(req: Request, up, image: np.ndarray, size: Size, scale: float,
               focus: Focus, cache: CanvasCache | None = None) -> Canvas:
    """The canvas of this image and these choices: kept, or new (its pieces the engine's tiles of
    the output, the one under the focus cut small when it would take over FIRST_TILE_S)."""
    from app.services import estimate
    from drrn_core.engine.tiling import plan_tiles

    cache = CANVASES if cache is None else cache
    channels = 1 if image.ndim == 2 else image.shape[2]
    regions = exact_regions(image, scale, size)
    tile = up.tile_size(size.hw) if regions else None
    key = (_source_id(req), _model_id(req.model), req.device, req.precision, up.description,
           size, channels, req.bit_depth, tile, regions)
    kept = cache.get(key)
    if kept is not None:
        return kept
    whole = Box.whole(size)

    def seconds(box: Box) -> float:
        if box == whole:
            return estimate.upscale_seconds(up, image.shape[:2], scale=scale) if req.size is None \
                else estimate.upscale_seconds(up, image.shape[:2], size=size.hw)
        src = _input_span(up, image.shape[:2], scale, box)
        return estimate.upscale_seconds(up, (src.h, src.w), scale=scale)

    cells = [Box(t.x0, t.y0, t.x1, t.y1) for t in plan_tiles(size.hw, tile, up.margin)]
    pieces = list(cells)
    if regions:
        x, y = _centre(focus, size)
        first = _nearest(cells, (x, y))
        limit = min(FIRST_TILE_S, PREVIEW_BUDGET_S)
        if seconds(first) > limit:
            inner = None
            for side in FIRST_SIDES:
                inner = _square_at(first, side, x, y)
                if side < min(first.w, first.h) and seconds(inner) <= limit:
                    break
            if inner is not None and inner != first:
                i = pieces.index(first)
                pieces[i:i + 1] = _pinwheel(first, inner)
    canvas = Canvas(key, size, channels, np.uint8 if req.bit_depth <= 8 else np.float32,
                    pieces, {p: seconds(p) for p in pieces}, up.description)
    return cache.put(canvas)


def _compute(up, image: np.ndarray, scale: float, box: Box, size: Size, req: Request,
             cancel: Cancel) -> np.ndarray:
    """DRRN of one piece: the whole image through the engine when the piece is all of it."""
    if box == Box.whole(size):
        kw = {"size": size.hw} if req.size is not None else {"scale": req.scale}
        return up.upscale(image, cancel=cancel, **kw)
    return upscale_region(up, image, scale, box, cancel)


def _shown(req: Request, image: np.ndarray) -> np.ndarray:
    """The input as the Input pane shows it: an 8-bit photo as its uint8 samples, made here on
    the worker (converting 12 MP on the GUI thread holds it for seconds, and the first tile
    waits); other depths as they are."""
    from drrn_core.imaging.io import quantise

    if req.bit_depth > 8 or image.dtype == np.uint8:
        return image
    return quantise(image, 255).astype(np.uint8, copy=False)


def upscale(req: Request, progress: Progress, cancel: Cancel) -> Iterator[Event]:
    """Input (nearest at output size), Bicubic, then DRRN (when a model is chosen) tile by tile
    from where the user looks: every tile of the image when that is quick or asked for, else
    those of the visible region (see module doc)."""
    size = target_size(req.image, req.scale, req.size)
    kw = {"size": size.hw} if req.size is not None else {"scale": req.scale}
    image = as_float(req.image)
    if not req.preview_only:
        yield Stage("input", _shown(req, image), size)

    bicubic: list[np.ndarray] = []  # the whole image's bicubic result, computed once

    def bicubic_image() -> np.ndarray:
        if not bicubic:
            bicubic.append(upscaler_for(BICUBIC).upscale(image, cancel=cancel, **kw))
        return bicubic[0]

    def bicubic_whole() -> Iterator[Event]:
        yield Stage(BICUBIC, bicubic_image(), size)

    scale = req.scale if req.size is None else size.w / image.shape[1]

    def bicubic_view(view: Box) -> Iterator[Event]:
        if view == Box.whole(size):
            yield Patch(BICUBIC, bicubic_image(), view, size)
        elif exact_regions(image, scale, size):
            yield Patch(BICUBIC, upscale_region(upscaler_for(BICUBIC), image, scale, view, cancel),
                        view, size)

    if req.model == BICUBIC:
        yield from bicubic_whole()
        progress(1.0)
        return
    try:
        up = upscaler_for(req.model, req.device, req.precision)
    except Exception:
        if not req.preview_only:  # an unusable model: still show bicubic, then say why
            yield from bicubic_whole()
        raise
    focus = req.focus if req.focus is not None else Focus(req.view)
    canvas = canvas_for(req, up, image, size, scale, focus)
    total = sum(canvas.seconds.values())
    whole = req.whole or canvas.complete or (total <= AUTO_LIMIT_S and not req.preview_only)
    yield WholeImageTime(canvas.seconds_left(), whole, up.run_info.text, canvas.fraction())
    if req.replay:
        for box in centre_out([p for p in canvas.pieces if p in canvas.done],
                              _centre(focus, size)):
            yield Tile(box, canvas.piece_pixels(box), size, canvas.fraction(), "whole image",
                       canvas.seconds_left(), canvas.fraction(), canvas.seconds_left(), True)
    if whole:
        yield from bicubic_whole()
    name = "whole image" if whole else "visible region"
    spent = estimated = computed = 0.0
    bicubic_shown = whole
    while True:
        scope = None if whole else _scope(focus, size)
        pending = canvas.pending(scope)
        if not pending or (not whole and computed >= PREVIEW_BUDGET_S):
            break
        if cancel():
            return
        box = _nearest(pending, _centre(focus, size))
        t0 = time.perf_counter()
        result = _compute(up, image, scale, box, size, req, cancel)
        spent += time.perf_counter() - t0
        estimated += canvas.seconds[box]
        computed += canvas.seconds[box]
        shown = canvas.put(box, result)
        done = canvas.fraction(scope)
        left = canvas.seconds_left(scope) * (spent / estimated if estimated > 0 else 1.0)
        progress(done)
        yield Tile(box, shown, size, done, name, left, canvas.fraction(), canvas.seconds_left())
        if not bicubic_shown:
            bicubic_shown = True
            yield from bicubic_view(_scope(focus, size))
    if not bicubic_shown:
        yield from bicubic_view(_scope(focus, size))
    yield from (Note(t) for t in take_notices())
    yield Ran(up.description)
    if canvas.complete:
        assert canvas.pixels is not None  # made by the first finished piece
        if not whole:
            yield from bicubic_whole()  # DRRN finished by previews: the pair is whole too
        yield Stage("drrn", canvas.pixels, size)
    else:
        view = _scope(focus, size)
        if not canvas.pending(view):
            yield Patch("drrn", canvas.region(view), view, size)
        else:
            finished = [p for p in canvas.pieces if p in canvas.done and p.intersects(view)]
            if finished:  # the finished part, when it is a rectangle
                part = Box(min(p.x0 for p in finished), min(p.y0 for p in finished),
                           max(p.x1 for p in finished), max(p.y1 for p in finished))
                if not canvas.pending(part):
                    yield Patch("drrn", canvas.region(part), part, size)
    progress(1.0 if whole else canvas.fraction(_scope(focus, size)))


EXACT = "fp32"
"""The evaluate view's precision, whatever the Precision box says: exact fp32, as ``drrn bench``
measures (bf16 moves PSNR by up to 0.005 dB), so its scores are the benchmark's scores."""


def evaluate(req: Request, progress: Progress, cancel: Cancel) -> Iterator[Event]:
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
    size = Size(w, h)
    yield Stage("input", view.colour(images.lr_y), size)
    yield Stage("gt", view.gt, size, images.gt_y)
    outputs = {BICUBIC: images.ilr_y}
    yield Stage(BICUBIC, view.colour(images.ilr_y), size, images.ilr_y)
    yield ErrorMap(BICUBIC, np.abs(protocol.quantize(images.ilr_y) - gt_q))
    yield Scores(BICUBIC, protocol.score(images.gt_y, images.ilr_y, s, with_ifc=False))
    progress(0.05)
    run_drrn = req.model != BICUBIC
    if run_drrn:
        from app.services import estimate

        up = upscaler_for(req.model, req.device, EXACT, exact=True)
        seconds = estimate.restore_seconds(up, (h, w))
        run_drrn = req.whole or seconds <= AUTO_LIMIT_S
        yield WholeImageTime(seconds, run_drrn, up.run_info.text)
    if run_drrn:
        out_y = up.restore_y(images.ilr_y, progress=_span(progress, 0.05, 0.8), cancel=cancel)
        yield from (Note(t) for t in take_notices())
        yield Ran(f"{up.description} (exact, as drrn bench)")
        outputs["drrn"] = out_y
        yield Stage("drrn", view.colour(out_y), size, out_y)
        yield ErrorMap("drrn", np.abs(protocol.quantize(out_y) - gt_q))
        yield Scores("drrn", protocol.score(images.gt_y, out_y, s, with_ifc=False))
    for i, (key, out) in enumerate(outputs.items()):
        if cancel():
            return
        progress(0.8 + 0.2 * i / len(outputs))
        yield Scores(key, protocol.score(images.gt_y, out, s, with_ifc=True))
    progress(1.0)


def run(req: Request, progress: Progress, cancel: Cancel) -> Iterator[Event]:
    """The pipeline for ``req.mode``."""
    if req.mode == "evaluate":
        return evaluate(req, progress, cancel)
    return upscale(req, progress, cancel)

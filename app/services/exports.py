"""Scores and images out of the app for papers and notebooks: the evaluation view's table as CSV,
Markdown or LaTeX, benchmark summaries (mean and standard deviation per dataset, scale and
model), a labelled before/after image (bicubic vs DRRN, side by side or split), the evaluation's
panes and error maps (with their colour scale) and aligned crops of the viewed region. Each
carries its provenance (image, scale, model file and its SHA-256, backend, device and
precision), in PNG text chunks for images, so a number or a picture can always be traced to
what produced it. Pure functions (numpy, Pillow), no Qt; files are written atomically."""

from __future__ import annotations

import csv
import hashlib
import io
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

METHODS = {"bicubic": "Bicubic", "drrn": "DRRN"}


def file_sha256(path: str | Path | None) -> str:
    """Hex SHA-256 of a file ("" for None or an unreadable file)."""
    if path is None:
        return ""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()


@dataclass(frozen=True)
class Provenance:
    """Where scores come from. ``run`` is the engine's one-line description (model, backend,
    device, precision); ``model_sha256`` the weights file's hash."""

    image: str
    scale: int
    model: str
    model_file: str = ""
    model_sha256: str = ""
    run: str = ""
    protocol: str = "Y (BT.601), MATLAB bicubic, border = scale"
    extra: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        items = [("image", self.image), ("scale", f"x{self.scale}"), ("model", self.model),
                 ("model file", self.model_file), ("model sha256", self.model_sha256),
                 ("ran on", self.run), ("protocol", self.protocol), *self.extra.items()]
        return [f"{k}: {v}" for k, v in items if v]


def _value(v: float | None, digits: int) -> str:
    if v is None:
        return ""
    if not math.isfinite(v):
        return "inf"
    return f"{v:.{digits}f}"


def _rows(scores: dict) -> list[tuple[str, str, str, str]]:
    """(method, PSNR, SSIM, IFC) rows of ImageScore-like objects keyed bicubic / drrn."""
    return [(METHODS.get(k, k), _value(s.psnr, 2), _value(s.ssim, 4), _value(s.ifc, 3))
            for k, s in scores.items()]


def scores_csv(scores: dict, prov: Provenance) -> str:
    """One row per method with full-precision values and the provenance in every row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image", "scale", "method", "psnr_db", "ssim", "ifc", "model", "model_sha256",
                "ran_on"])
    for k, s in scores.items():
        w.writerow([prov.image, prov.scale, METHODS.get(k, k), _value(s.psnr, 6),
                    _value(s.ssim, 6), _value(s.ifc, 6), prov.model if k != "bicubic" else "",
                    prov.model_sha256 if k != "bicubic" else "",
                    prov.run if k != "bicubic" else ""])
    return buf.getvalue()


def scores_markdown(scores: dict, prov: Provenance) -> str:
    """A Markdown table followed by the provenance as a list."""
    out = ["| Method | PSNR (dB) | SSIM | IFC |", "|---|---:|---:|---:|"]
    out += [f"| {m} | {p} | {s} | {i or '–'} |" for m, p, s, i in _rows(scores)]
    out.append("")
    out += [f"- {line}" for line in prov.lines()]
    return "\n".join(out) + "\n"


def scores_latex(scores: dict, prov: Provenance) -> str:
    """A booktabs tabular; the provenance as LaTeX comments above it."""
    out = [f"% {line}" for line in prov.lines()]
    out += [r"\begin{tabular}{lrrr}", r"\toprule",
            r"Method & PSNR (dB) & SSIM & IFC \\", r"\midrule"]
    out += [f"{m} & {p} & {s} & {i or '--'} \\\\" for m, p, s, i in _rows(scores)]
    out += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(out) + "\n"


FORMATS = {"CSV": (scores_csv, ".csv"), "Markdown": (scores_markdown, ".md"),
           "LaTeX": (scores_latex, ".tex")}


def summary_rows(rows: list) -> list[list]:
    """Mean and sample standard deviation rows per (dataset, model, scale) of benchmark image
    rows (objects with dataset, model, scale, psnr, ssim, ifc): [dataset, model, scale,
    "mean"|"std", psnr, ssim, ifc] (IFC empty when any image lacks it; std empty for n < 2)."""
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r.dataset, r.model, r.scale), []).append(r)
    out = []
    for (dataset, model, scale), group in groups.items():
        n = len(group)
        for label, fn in (("mean", statistics.fmean), ("std", statistics.stdev)):
            values = []
            for metric in ("psnr", "ssim", "ifc"):
                xs = [getattr(r, metric) for r in group]
                ok = all(x is not None and math.isfinite(x) for x in xs) and (
                    label == "mean" or n > 1)
                values.append(repr(fn(xs)) if ok else "")
            out.append([dataset, model, scale, f"{label} (n={n})", *values])
    return out


# -- images ---------------------------------------------------------------------------------
LABEL_HEIGHT = 24
"""Pixels of the label strip above each image of a sheet (labels never cover pixels)."""
GAP = 4
"""Pixels between the images of a sheet."""
SHEET_BACKGROUND = 255
LABEL_COLOUR = (20, 20, 20)


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] or uint8 HW / HWx1-4 -> uint8 HxWx3 (alpha dropped, grey repeated)."""
    if image.dtype != np.uint8:
        image = np.clip(np.asarray(image, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(
            np.uint8)
    if image.ndim == 3 and image.shape[2] in (2, 4):
        image = image[..., :-1]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image)


def stretch(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized nearest-neighbour to ``size`` = (w, h), as the panes draw the input."""
    h, w = image.shape[:2]
    if (w, h) == tuple(size):
        return image
    rows = np.minimum((np.arange(size[1]) * h) // size[1], h - 1)
    cols = np.minimum((np.arange(size[0]) * w) // size[0], w - 1)
    return image[rows][:, cols]


def _font(size: int = 14):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _draw_label(canvas, xy: tuple[int, int], text: str, box: bool = False) -> None:
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas)
    font = _font()
    if box:  # on top of pixels (the split view): white text on a dark box
        x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
        draw.rectangle((x0 - 4, y0 - 3, x1 + 4, y1 + 3), fill=(0, 0, 0))
        draw.text(xy, text, fill=(255, 255, 255), font=font)
    else:
        draw.text(xy, text, fill=LABEL_COLOUR, font=font)


LINE_HEIGHT = 18
"""Pixels of each further line of a label (a label's first line takes LABEL_HEIGHT)."""


def label_lines(label: str, width: int) -> list[str]:
    """A label's lines (split at newlines), each line wider than ``width`` - 8 pixels broken at
    its " / " separators where it can be (scores under a narrow image)."""
    from PIL import Image, ImageDraw

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font = _font()
    lines: list[str] = []
    for line in plain(label).split("\n"):
        parts = line.split(" / ")
        current = parts[0]
        for part in parts[1:]:
            longer = f"{current} / {part}"
            if draw.textlength(longer, font=font) <= width - 8:
                current = longer
            else:
                lines.append(current)
                current = part
        lines.append(current)
    return lines


def strip_height(lines: int) -> int:
    """Pixels of a label strip of ``lines`` lines."""
    return LABEL_HEIGHT + LINE_HEIGHT * max(lines - 1, 0)


def labelled_row(images: Sequence[np.ndarray], labels: Sequence[str]) -> np.ndarray:
    """Images of one height side by side, GAP apart, each under its label (:func:`label_lines`:
    a second line, e.g. scores, goes under the first): with labels of one line image i occupies
    rows LABEL_HEIGHT.. and columns i * (w + GAP).. of the result (uint8 RGB); each further
    line adds LINE_HEIGHT rows to the strip of every image of the row."""
    from PIL import Image

    rgb = [as_rgb8(im) for im in images]
    lines = [label_lines(label, im.shape[1]) for im, label in zip(rgb, labels, strict=True)]
    top = strip_height(max(len(ls) for ls in lines))
    h = max(im.shape[0] for im in rgb)
    width = sum(im.shape[1] for im in rgb) + GAP * (len(rgb) - 1)
    out = np.full((top + h, width, 3), SHEET_BACKGROUND, np.uint8)
    x = 0
    for im in rgb:
        out[top:top + im.shape[0], x:x + im.shape[1]] = im
        x += im.shape[1] + GAP
    x = 0
    for im, label in zip(rgb, lines, strict=True):  # each label clipped to its image's width
        strip = Image.fromarray(out[:top, x:x + im.shape[1]].copy())
        for i, line in enumerate(label):  # further lines below the first line's strip
            _draw_label(strip, (4, 4 if i == 0 else LABEL_HEIGHT + (i - 1) * LINE_HEIGHT), line)
        out[:top, x:x + im.shape[1]] = np.asarray(strip)
        x += im.shape[1] + GAP
    return out


def score_label(score) -> str:
    """The scores of one result for a figure: 'PSNR 30.39 dB / SSIM 0.8682 / IFC 3.580'
    (ImageScore-like; the paper's decimals; IFC only when measured)."""
    from drrn_core.metrics.benchmark import format_score

    parts = [f"PSNR {format_score('psnr', score.psnr)} dB",
             f"SSIM {format_score('ssim', score.ssim)}"]
    if getattr(score, "ifc", None) is not None:
        parts.append(f"IFC {format_score('ifc', score.ifc)}")
    return " / ".join(parts)


def plain(label: str) -> str:
    """A label in characters every font has (the minus sign becomes a hyphen)."""
    return label.replace("\u2212", "-").replace("\u00d7", "x")


def stack_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """uint8 RGB images one above the other, GAP apart, left-aligned on the sheet background."""
    width = max(r.shape[1] for r in rows)
    height = sum(r.shape[0] for r in rows) + GAP * (len(rows) - 1)
    out = np.full((height, width, 3), SHEET_BACKGROUND, np.uint8)
    y = 0
    for r in rows:
        out[y:y + r.shape[0], :r.shape[1]] = r
        y += r.shape[0] + GAP
    return out


def before_after(before: np.ndarray, after: np.ndarray, labels: tuple[str, str],
                 layout: str = "side") -> np.ndarray:
    """A labelled before/after image of two results of the same size (uint8 RGB).

    ``side``: :func:`labelled_row` of the two. ``split``: one image, the left half (columns
    < w // 2) from ``before``, the rest from ``after``, a 1-px white line at column w // 2 and
    each label in a dark box in its half's top corner.
    """
    from PIL import Image

    a, b = as_rgb8(before), as_rgb8(after)
    if a.shape != b.shape:
        raise ValueError(f"before/after: sizes differ ({a.shape[1]}×{a.shape[0]} and "
                         f"{b.shape[1]}×{b.shape[0]})")
    if layout == "side":
        return labelled_row([a, b], labels)
    if layout != "split":
        raise ValueError(f"unknown layout {layout!r}")
    mid = a.shape[1] // 2
    out = b.copy()
    out[:, :mid] = a[:, :mid]
    out[:, mid] = 255
    canvas = Image.fromarray(out)
    labels = (plain(labels[0]), plain(labels[1]))
    _draw_label(canvas, (8, 6), labels[0], box=True)
    from PIL import ImageDraw

    right = ImageDraw.Draw(canvas).textbbox((0, 0), labels[1], font=_font())[2]
    _draw_label(canvas, (max(mid + 8, out.shape[1] - right - 8), 6), labels[1], box=True)
    return np.asarray(canvas)


def colourise(error: np.ndarray, top: float, lut: np.ndarray) -> np.ndarray:
    """An error map (HxW, 0-255 units) through ``lut`` (Nx3 uint8, low to high) over [0, top]:
    values >= top get the last colour. uint8 HxWx3."""
    n = len(lut)
    idx = np.clip(np.asarray(error, dtype=np.float32) / max(float(top), 1e-9) * (n - 1) + 0.5,
                  0, n - 1).astype(np.intp)
    return np.ascontiguousarray(np.asarray(lut, dtype=np.uint8)[idx])


SCALE_WIDTH = 90
"""Pixels of the colour scale added right of an exported error map: the ramp, its tick values
and, in a column of its own, the label (written upwards, so it never meets a tick)."""


def with_colour_scale(coloured: np.ndarray, top: float, lut: np.ndarray,
                      label: str = "|error| (Y, 0-255)") -> np.ndarray:
    """``coloured`` (uint8 HxWx3) with a vertical colour scale (0 at the bottom, ``top`` at the
    top, up to five tick values) in SCALE_WIDTH extra columns on the right; ``label`` runs
    upwards in the last column, beside the tick values, when the map is tall enough for it."""
    from PIL import Image, ImageDraw

    h, w = coloured.shape[:2]
    out = np.full((h, w + SCALE_WIDTH, 3), SHEET_BACKGROUND, np.uint8)
    out[:, :w] = coloured
    ramp = np.asarray(lut, dtype=np.uint8)[
        np.linspace(len(lut) - 1, 0, h).round().astype(np.intp)]
    out[:, w + 6:w + 20] = ramp[:, None, :]
    canvas = Image.fromarray(out)
    draw = ImageDraw.Draw(canvas)
    font_h = 12
    ticks = max(2, min(5, h // 24))
    right = w + 24  # where the widest tick value ends
    for i in range(ticks):
        y = round((h - 1) * (1 - i / (ticks - 1)))
        value = top * i / (ticks - 1)
        text = f"{value:g}" if value == int(value) else f"{value:.1f}"
        xy = (w + 24, min(max(y - font_h // 2, 0), h - font_h - 2))
        _draw_label(canvas, xy, text)
        right = max(right, draw.textbbox(xy, text, font=_font())[2])
    if label:
        font = _font(11)
        x0, y0, x1, y1 = draw.textbbox((0, 0), label, font=font)
        strip = Image.new("RGB", (int(x1 - x0 + 2), int(y1 - y0 + 2)), (SHEET_BACKGROUND,) * 3)
        ImageDraw.Draw(strip).text((1 - x0, 1 - y0), label, fill=LABEL_COLOUR, font=font)
        strip = strip.rotate(90, expand=True)  # reads upwards
        x = max(right + 6, w + SCALE_WIDTH - strip.width - 2)
        if strip.height <= h - 4 and x + strip.width <= w + SCALE_WIDTH:
            canvas.paste(strip, (x, (h - strip.height) // 2))
    return np.asarray(canvas)


def crop_region(image: np.ndarray, size: tuple[int, int], box: tuple[int, int, int, int]
                ) -> np.ndarray:
    """The part of ``image`` (drawn over ``size`` = (w, h) output pixels, as in a pane) under
    output box (x0, y0, x1, y1), at output resolution (nearest): every pane's crop of the same
    box has the same size and shows the same place."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    rows = np.minimum((np.arange(y0, y1) * h) // size[1], h - 1)
    cols = np.minimum((np.arange(x0, x1) * w) // size[0], w - 1)
    return np.ascontiguousarray(image[rows][:, cols])


def png_text(prov: Provenance, what: str) -> dict[str, str]:
    """PNG tEXt entries: Software, Title, Source (the run), Comment (every provenance line)."""
    from app import __version__

    entries = {"Software": f"DRRN Studio {__version__}", "Title": what,
               "Comment": "\n".join(prov.lines())}
    if prov.run:
        entries["Source"] = prov.run
    if prov.model_sha256:
        entries["drrn:model_sha256"] = prov.model_sha256
    return entries


def write_png(path: str | Path, image: np.ndarray, text: dict[str, str]) -> Path:
    """Write uint8 RGB ``image`` as PNG with ``text`` chunks, atomically (temp file + rename)."""
    from PIL import Image, PngImagePlugin

    from drrn_core.atomic import atomic_path

    path = Path(path)
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value)
    with atomic_path(path) as tmp:
        Image.fromarray(as_rgb8(image)).save(tmp, format="PNG", pnginfo=info)
    return path


@dataclass(frozen=True)
class Output:
    """One file an export writes: uint8 RGB ``image`` as PNG at ``path`` with ``text`` chunks."""

    path: Path
    image: np.ndarray
    text: dict


def write_all(outputs: Sequence[Output]) -> list[Path]:
    """Write every output (PNG encoding is the slow part: a worker thread may call this)."""
    return [write_png(o.path, o.image, o.text) for o in outputs]

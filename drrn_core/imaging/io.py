"""Reading and writing user photos: float32 pixels in [0, 1], metadata kept, atomic saves.

Reading applies the EXIF orientation, converts palette/CMYK/1-bit/LA/I;16 images to grey or RGB
(+ a separate alpha), keeps 16-bit depth (grey PNG/TIFF via Pillow, colour TIFF via tifffile,
RGB/RGBA PNG via Pillow's PNG decoder run once per byte of each sample), and refuses images over
``max_pixels``. Errors are
``ImageReadError`` / ``ImageWriteError`` whose ``str()`` is one user-facing line.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeGuard

import numpy as np
from PIL import Image, ImageFile, ImageOps, TiffImagePlugin, UnidentifiedImageError

from drrn_core import limits
from drrn_core.atomic import atomic_path
from drrn_core.bands import row_bands
from drrn_core.errors import UserError, first_line
from drrn_core.filesystem import is_disk_full, missing_reason

DEFAULT_MAX_PIXELS = limits.MAX_INPUT_PIXELS
"""Largest image accepted by default (below Pillow's own decompression-bomb limit)."""
DECODERS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF", "PPM", "HEIF", "AVIF")
"""The only Pillow decoders ever used on input (PPM covers PGM/PBM/PNM; JPEG includes MPO; HEIF
is HEIC/HEIF photos through pillow-heif's libheif, AVIF is Pillow's own libavif decoder).
Anything else (EPS, PDF, PSD, ICO, ...) is refused without trying it: no external program runs."""
READABLE = ("PNG", "JPEG", "WebP", "TIFF", "BMP", "GIF", "PPM/PGM", "HEIC/HEIF", "AVIF")
"""DECODERS as users name them, for messages and docs."""
try:  # registers the "HEIF" decoder with Pillow
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:  # the packaged app leaves it out (see _NO_HEIF)
    HEIF_AVAILABLE = False
PHOTO_SUFFIXES = ((".heic", ".heif", ".hif") if HEIF_AVAILABLE else ()) + (".avif",)
"""Suffixes of the HEIF (when pillow-heif is installed) and AVIF decoders, offered by the app's
Open dialog beside IMAGE_SUFFIXES."""
_NO_HEIF = ("HEIC/HEIF needs the pillow-heif package, which this installation lacks (the "
            "packaged app leaves it out: its HEVC library, x265, is GPL); convert the photo to "
            "PNG or JPEG, or use a pip installation of DRRN Studio")
# Our own limit (max_pixels) is checked on every open; Pillow's warning between its two limits
# would only add a multi-line warning to a run the user allowed with --max-pixels.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
FORMATS = limits.OUTPUT_FORMATS
"""Suffix -> format of what save_image writes (the table lives in drrn_core.limits)."""
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
"""Which files of a folder are taken as images (benchmark datasets, training data): by suffix."""
JPEG_BACKGROUND = (255, 255, 255)
"""8-bit RGB colour under the transparent parts of an image saved as JPEG (which has no alpha):
white, as image viewers show transparency on a page."""
_log = logging.getLogger(__name__)
_SIXTEEN = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_ORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: np.rot90(a, 1)}


class ImageReadError(UserError, ValueError):
    """An image could not be read; ``str()`` is one line naming the file and the reason."""


class ImageWriteError(UserError, OSError):
    """An image could not be written (nothing partial is left behind); one-line ``str()``."""


@dataclass
class LoadedImage:
    """pixels: float32 HxWx3 RGB or HxW grey in [0, 1]; alpha: float32 HxW or None.

    bit_depth: 8 or 16 (per channel, as stored); mode: the file's PIL mode; exif/icc: bytes to
    carry into the saved result (orientation already applied and removed from ``exif``).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8
    mode: str = "RGB"
    exif: bytes | None = None
    icc: bytes | None = None
    format: str | None = None
    path: Path | None = None

    @property
    def image(self) -> np.ndarray:
        """Pixels with alpha as a last channel (HW, HWx2, HWx3 or HWx4), as the engine takes."""
        if self.alpha is None:
            return self.pixels
        colour = self.pixels if self.pixels.ndim == 3 else self.pixels[..., None]
        return np.concatenate([colour, self.alpha[..., None]], axis=2)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.pixels.shape[1], self.pixels.shape[0]


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file; ImageReadError with a one-line reason when that is not possible."""
    p = Path(path)
    with open_image(p, max_pixels) as im:
        loaded = _decode(im, str(p), max_pixels, p)
    loaded.path = p
    return loaded


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder`` (IMAGE_SUFFIXES, any case; not hidden), sorted by
    name. NotADirectoryError when ``folder`` is not a folder."""
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    files = [p for p in root.iterdir()
             if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()]
    return sorted(files, key=lambda p: p.name)


def read_gt(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image file as the evaluation protocol reads ground truth: HxW (grey; uint16 for 16-bit
    files) or HxWx3 uint8 RGB, alpha dropped, EXIF orientation ignored (as MATLAB's ``imread``).
    Opened by :func:`open_image` (formats, pixel limit, one-line ImageReadError); float images
    with NaN/inf are refused. The protocol's ``gt_luma`` turns it into Y."""
    with open_image(path, max_pixels) as im:
        im.load()
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.asarray(im, dtype=np.int64).clip(0, 65535).astype(np.uint16)
        if im.mode == "F":
            check_finite(str(path), np.asarray(im, dtype=np.float32))
        if im.mode not in ("L", "RGB"):
            im = im.convert("L" if im.mode in ("1", "LA", "La", "F") else "RGB")
        return np.asarray(im)


def load_image_bytes(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
                     name: str = "pasted image") -> LoadedImage:
    """Read an encoded image from memory (clipboard, drag and drop); ``name`` labels errors."""
    if not data:
        raise ImageReadError(f"{name}: no data (0 bytes)")
    with open_image(io.BytesIO(data), max_pixels, label=name) as im:
        return _decode(im, name, max_pixels, io.BytesIO(data))


@contextmanager
def open_image(source: str | os.PathLike | IO[bytes], max_pixels: int = DEFAULT_MAX_PIXELS,
               label: str | None = None) -> Iterator[Image.Image]:
    """The one place where image files are opened: Pillow restricted to ``DECODERS``, the pixel
    limit checked from the header, every failure (missing, empty, damaged, other format,
    decompression bomb) an ImageReadError with one line. Yields the opened (not yet decoded)
    image; decoding errors inside the ``with`` body become ImageReadError too.

    No other decoder is ever tried: an EPS/PDF/PSD file is refused, so Ghostscript or any other
    external program is never started on input.
    """
    is_path = isinstance(source, str | os.PathLike)
    label = label or (str(source) if is_path else "image")
    if isinstance(source, str | os.PathLike):
        p = Path(source)
        if not p.exists():
            raise ImageReadError(f"{p}: {missing_reason(p)}")
        if p.is_dir():
            raise ImageReadError(f"{p}: is a folder, not an image")
        if not p.is_file():
            raise ImageReadError(f"{p}: not a regular file")
    try:
        if isinstance(source, str | os.PathLike) and Path(source).stat().st_size == 0:
            raise ImageReadError(f"{label}: the file is empty (0 bytes)")
        with Image.open(source, formats=_registered_decoders()) as im:
            check_pixels(label, im.width, im.height, max_pixels)
            yield im
    except ImageReadError:
        raise
    except PermissionError:
        raise ImageReadError(f"{label}: permission denied") from None
    except UnidentifiedImageError:
        kind = _sniff(source)
        if kind == "HEIF" and not HEIF_AVAILABLE:
            raise ImageReadError(f"{label}: {_NO_HEIF}") from None
        if kind:
            article = "an" if kind[0] in "AEIOU" else "a"
            raise ImageReadError(f"{label}: {article} {kind} file of a kind this program cannot "
                                 "decode (damaged, or an unsupported variant)") from None
        raise ImageReadError(f"{label}: not an image, or not one of the formats read here "
                             f"({', '.join(READABLE)})") from None
    except Image.DecompressionBombError:
        raise ImageReadError(f"{label}: the image is too large to open safely (Pillow's "
                             f"decompression-bomb limit)") from None
    except ValueError as e:
        if "too large" in str(e).lower():  # PNG zTXt/iTXt/iCCP chunks inflating past the limit
            raise ImageReadError(f"{label}: refused, a compressed metadata chunk inflates past "
                                 "the safety limit (a decompression bomb?)") from None
        raise ImageReadError(f"{label}: the file is truncated or damaged ({first_line(e)})") \
            from None
    except (OSError, SyntaxError, EOFError, struct.error, zlib.error) as e:
        why = e.strerror if isinstance(e, OSError) and e.errno and e.strerror else \
            f"the file is truncated or damaged: {first_line(e)}"
        raise ImageReadError(f"{label}: cannot read ({why})") from None


@functools.cache
def _registered_decoders() -> tuple[str, ...]:
    """DECODERS this Pillow has (HEIF only with pillow-heif, AVIF only in a Pillow built with
    libavif): Image.open raises KeyError for a format name it does not know."""
    Image.init()
    return tuple(f for f in DECODERS if f in Image.OPEN)


_MAGIC = ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\x00", "TIFF"),
          (b"MM\x00*", "TIFF"), (b"GIF8", "GIF"), (b"BM", "BMP"))


def _sniff(source: str | os.PathLike | IO[bytes]) -> str | None:
    """The allowed format a file's first bytes claim (for a clearer refusal), or None."""
    try:
        if isinstance(source, str | os.PathLike):
            with open(source, "rb") as f:
                head = f.read(12)
        else:
            source.seek(0)
            head = source.read(12)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "AVIF"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim"):
        return "HEIF"
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def check_pixels(label: str, width: int, height: int, max_pixels: int) -> None:
    """ImageReadError (the one wording for the limit) when width x height > max_pixels."""
    if width * height > max_pixels:
        raise ImageReadError(f"{label}: {width}x{height} ({width * height / 1e6:.1f} MP) is over "
                             f"the {max_pixels / 1e6:g} MP limit")


def _decode(im: Image.Image, label: str, max_pixels: int, source) -> LoadedImage:
    check_pixels(label, im.width, im.height, max_pixels)
    fmt, mode = im.format, im.mode
    try:
        if fmt == "TIFF" and _colour16_tiff(im):
            return _decode_tiff16(im, source, fmt)
        if fmt == "PNG" and _colour16_png(im):
            return _decode_png16(im, label, max_pixels, source)
        im.load()
        im = ImageOps.exif_transpose(im)
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise ImageReadError(f"{label}: the file is truncated or damaged ({first_line(e)})") \
            from None
    exif = im.info.get("exif") or None
    icc = im.info.get("icc_profile") or None
    alpha = None
    bit_depth = 8
    if im.mode in _SIXTEEN or im.mode == "F":
        scale = 1.0 if im.mode == "F" else 65535.0
        pixels = np.asarray(im, dtype=np.float32) / np.float32(scale)
        check_finite(label, pixels)
        np.clip(pixels, 0.0, 1.0, out=pixels)
        bit_depth = 16
    elif im.mode in ("1", "L"):
        pixels = _unit8(im.convert("L"))
    elif im.mode in ("LA", "La"):
        la = _unit8(im.convert("LA"))
        pixels, alpha = la[..., 0].copy(), la[..., 1].copy()
    elif im.mode in ("RGBA", "RGBa", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = _unit8(im.convert("RGBA"))
        pixels, alpha = rgba[..., :3].copy(), rgba[..., 3].copy()
    else:  # RGB, P, CMYK, YCbCr, LAB, HSV, RGBX
        if im.mode == "CMYK":
            icc = None  # a CMYK profile does not describe the RGB pixels we return
        pixels = _unit8(im.convert("RGB"))
    return LoadedImage(pixels, alpha, bit_depth, mode, exif, icc, fmt)


def _unit8(im: Image.Image) -> np.ndarray:
    out = np.asarray(im, dtype=np.uint8).astype(np.float32)
    out /= np.float32(255.0)  # in place: one float32 copy of a possibly huge photo
    return out


def _colour16_tiff(im: Image.Image) -> bool:
    if not isinstance(im, TiffImagePlugin.TiffImageFile):
        return False
    bits = im.tag_v2.get(258, (8,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    return len(bits) >= 3 and max(bits) == 16


def _decode_tiff16(im: Image.Image, source, fmt: str) -> LoadedImage:
    """16-bit colour TIFF via tifffile (Pillow reduces it to 8 bits); orientation applied."""
    import tifffile

    if isinstance(source, io.BytesIO):
        source.seek(0)
    arr = tifffile.imread(source, key=0)  # the first page only, as Pillow reads
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageReadError(f"{fmt}: unsupported 16-bit TIFF layout {arr.shape}")
    arr = _ORIENT.get(im.getexif().get(0x0112, 1), lambda a: a)(arr)
    if arr.dtype.kind == "f":  # float TIFF: values are taken as [0, 1]
        unit = np.ascontiguousarray(arr, dtype=np.float32)
        check_finite(fmt, unit)
        np.clip(unit, 0.0, 1.0, out=unit)
    else:
        top = np.float32(np.iinfo(arr.dtype).max)
        unit = np.ascontiguousarray(arr).astype(np.float32) / top
    alpha = unit[..., 3].copy() if unit.shape[2] == 4 else None
    icc = im.info.get("icc_profile") or None
    return LoadedImage(unit[..., :3].copy(), alpha, 16, im.mode, None, icc, fmt)


_PNG16_LOW_BYTE = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L"}
"""Pillow's raw modes of a 16-bit RGB / RGBA PNG (which keep the high byte of each big-endian
sample) -> the raw modes that unpack the same samples' other byte: the low byte."""


def _colour16_png(im: Image.Image) -> TypeGuard[ImageFile.ImageFile]:
    """Whether ``im`` (an opened, not yet loaded PNG) is 16-bit RGB or RGBA."""
    if not isinstance(im, ImageFile.ImageFile) or len(im.tile) != 1:
        return False
    rawmode = im.tile[0].args
    return isinstance(rawmode, str) and rawmode in _PNG16_LOW_BYTE


def _decode_png16(im: ImageFile.ImageFile, label: str, max_pixels: int,
                  source) -> LoadedImage:
    """A 16-bit RGB/RGBA PNG at 16 bits, orientation applied, EXIF and ICC kept.

    Pillow has no 16-bit colour mode and keeps the high byte of each sample. Its PNG decoder
    (zlib, the five row filters, Adam7 interlacing: C code) runs a second time on the file with
    the little-endian raw mode, whose unpacker takes each sample's other byte, the low one; the two
    8-bit images make the 16-bit samples."""
    low_rawmode = _PNG16_LOW_BYTE[str(im.tile[0].args)]
    im.load()
    high = ImageOps.exif_transpose(im)
    if isinstance(source, io.BytesIO):
        source.seek(0)
    with open_image(source, max_pixels, label) as again:
        if not _colour16_png(again) or again.size != im.size or again.mode != im.mode:
            raise ImageReadError(f"{label}: the file changed while it was read")
        again.tile = [again.tile[0]._replace(args=low_rawmode)]
        again.load()
        low = ImageOps.exif_transpose(again)
    hi, lo = np.asarray(high), np.asarray(low)
    h, w, c = hi.shape
    pixels = np.empty((h, w, 3), np.float32)
    alpha = np.empty((h, w), np.float32) if c == 4 else None
    for rows in row_bands(h, w * c):
        band = (hi[rows].astype(np.uint16) << 8 | lo[rows]).astype(np.float32)
        band /= np.float32(65535.0)
        pixels[rows] = band[..., :3]
        if alpha is not None:
            alpha[rows] = band[..., 3]
    exif = high.info.get("exif") or None
    icc = high.info.get("icc_profile") or None
    return LoadedImage(pixels, alpha, 16, im.mode, exif, icc, "PNG")


def check_finite(label: str, pixels: np.ndarray) -> None:
    """ImageReadError when a float image holds NaN or infinite values (they would come out
    black or white with no warning); the user must fix the file."""
    bad = pixels.size - int(np.count_nonzero(np.isfinite(pixels)))
    if bad:
        raise ImageReadError(f"{label}: {bad} pixel value(s) are NaN or infinite (a float "
                             "image); replace them before using this file")


def save_image(path: str | os.PathLike, pixels: np.ndarray, alpha: np.ndarray | None = None,
               bit_depth: int | None = None, exif: bytes | None = None, icc: bytes | None = None,
               quality: int = 95, format: str | None = None, like: LoadedImage | None = None,
               background: tuple[int, int, int] = JPEG_BACKGROUND,
               notice: Callable[[str], None] | None = None) -> Path:
    """Write float pixels in [0, 1] atomically (temp file in the same folder, then os.replace).
    uint8 / uint16 pixels (e.g. ``Upscaler.upscale(..., out_dtype=...)``, quantised by the same
    :func:`quantise`) are written as they are when they match the file's depth (uint8 for 8-bit,
    uint16 for 16-bit), else rescaled from [0, their max].

    pixels: HW, HWx1, HWx3, or with alpha last (HWx2 / HWx4) when ``alpha`` is None.
    bit_depth 16 is honoured by PNG and TIFF (JPEG/WebP are 8-bit); WebP at quality 100 is
    lossless. JPEG has no alpha: an image with alpha is flattened onto ``background`` (8-bit RGB,
    :func:`flatten_alpha`) and, when some of it is transparent, ``notice`` gets one line saying
    so (without ``notice``: a warning of this module's logger, which a program that configures
    no logging prints on stderr).
    ``like``: a LoadedImage whose bit depth, EXIF and ICC profile are used unless given here.
    format: PNG, JPEG, WEBP or TIFF (default: from the suffix). Returns the path written.
    """
    p = Path(path)
    fmt = _format_of(p, format)
    if like is not None:
        bit_depth = like.bit_depth if bit_depth is None else bit_depth
        exif = like.exif if exif is None else exif
        icc = like.icc if icc is None else icc
    sixteen = stored_dtype(p, bit_depth, fmt) == np.uint16
    arr = _with_alpha(np.asarray(pixels), alpha)
    if fmt == "JPEG" and arr.ndim == 3 and arr.shape[2] in (2, 4):
        transparent = _has_transparency(arr)
        arr = flatten_alpha(arr, background)
        if transparent:
            (notice or _log.warning)(flatten_notice(p.name, background))
    q = quantise(arr, 65535) if sixteen else arr  # 8-bit: quantised band by band in _encode
    if not p.parent.is_dir():
        raise ImageWriteError(f"{p}: the folder {p.parent} does not exist")
    existed = p.exists()
    try:
        with atomic_path(p) as tmp:
            _encode(str(tmp), q, fmt, sixteen, exif, icc, quality)
    except (OSError, ValueError) as e:
        if is_disk_full(e):
            kept = " (the existing file is untouched)" if existed else ""
            raise ImageWriteError(f"{p}: the disk holding {p.parent} is full; nothing was "
                                  f"written{kept}") from None
        raise ImageWriteError(f"{p}: cannot write ({first_line(e)})") from None
    return p


def _format_of(p: Path, format: str | None) -> str:
    fmt = (format or FORMATS.get(p.suffix.lower(), "")).upper()
    if fmt not in set(FORMATS.values()):
        raise ImageWriteError(f"{p}: unknown image format {p.suffix or '(no suffix)'!r}; "
                              "use .png, .jpg, .webp or .tif")
    return fmt


def stored_dtype(path: str | os.PathLike, bit_depth: int | None = None,
                 format: str | None = None) -> type[np.unsignedinteger]:
    """The sample type :func:`save_image` stores at ``path``: uint16 for a 16-bit image as PNG or
    TIFF, else uint8 (so ``Upscaler.upscale(..., out_dtype=...)`` can hand over the final
    samples instead of a float image four times their size)."""
    sixteen = (bit_depth or 8) == 16 and _format_of(Path(path), format) in ("PNG", "TIFF")
    return np.uint16 if sixteen else np.uint8


def depth_note(loaded: LoadedImage | None, suffix: str) -> str:
    """One line when saving ``loaded``'s result with ``suffix`` loses bits (a 16-bit input as
    JPEG or WebP), else ""."""
    fmt = FORMATS.get(suffix.lower())
    if loaded is None or loaded.bit_depth != 16 or fmt is None or fmt in ("PNG", "TIFF"):
        return ""
    return (f"the input has 16 bits per channel; {suffix.lstrip('.').upper()} holds 8, "
            "so the result is saved at 8 bits (PNG or TIFF keep 16).")


def colour_name(background: tuple[int, int, int]) -> str:
    """``white (#ffffff)``, ``black (#000000)`` or just ``#rrggbb``: a background for messages."""
    hexa = "#{:02x}{:02x}{:02x}".format(*background)
    names: dict[tuple[int, ...], str] = {(255, 255, 255): "white", (0, 0, 0): "black"}
    named = names.get(tuple(background))
    return f"{named} ({hexa})" if named else hexa


def flatten_notice(name: str, background: tuple[int, int, int] = JPEG_BACKGROUND) -> str:
    """The one line that says an image's transparency was flattened for JPEG."""
    return (f"{name}: JPEG has no transparency, so the transparent parts were flattened onto "
            f"{colour_name(background)}")


def _has_transparency(arr: np.ndarray) -> bool:
    """Whether the last (alpha) channel of ``arr`` holds a value that is not stored as fully
    opaque (for floats: below 254.5 / 255)."""
    opaque = (254.5 / 255.0) if arr.dtype.kind == "f" else np.iinfo(arr.dtype).max
    return bool(arr.size) and float(arr[..., -1].min()) < opaque


def flatten_alpha(arr: np.ndarray, background: tuple[int, int, int] = JPEG_BACKGROUND
                  ) -> np.ndarray:
    """Colour over ``background``: HWx2 (grey + alpha) or HWx4 (RGB + alpha) pixels, float
    [0, 1], uint8 or uint16, composited as ``colour * alpha + background * (1 - alpha)``
    (alpha not premultiplied), in the same type (integers rounded). The result is HxWx3, or HxW
    for grey on a grey background. Row bands keep the float temporaries ~1 Mpx."""
    if arr.ndim != 3 or arr.shape[2] not in (2, 4):
        raise ValueError(f"flatten_alpha needs grey or RGB plus alpha, got shape {arr.shape}")
    bg = np.asarray(background, dtype=np.float32).reshape(3) / np.float32(255.0)
    grey_bg = bool(bg[0] == bg[1] == bg[2])
    grey = arr.shape[2] == 2
    h, w = arr.shape[:2]
    floating = arr.dtype.kind == "f"
    top = np.float32(1.0 if floating else np.iinfo(arr.dtype).max)
    out_dtype = np.float32 if floating else arr.dtype
    out = np.empty((h, w) if grey and grey_bg else (h, w, 3), out_dtype)
    back = bg[:1] if grey and grey_bg else bg
    for rows in row_bands(h, w * arr.shape[2]):
        band = np.asarray(arr[rows], dtype=np.float32)
        if not floating:
            band /= top
        a = band[..., -1:]
        colour = band[..., :-1]
        mixed = colour * a + back * (np.float32(1.0) - a)
        if grey and grey_bg:
            mixed = mixed[..., 0]
        if floating:
            out[rows] = mixed
        else:
            out[rows] = np.clip(mixed * top + np.float32(0.5), 0, top)
    return out


def _with_alpha(arr: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise ImageWriteError(f"cannot save an array of shape {arr.shape} as an image")
    if alpha is not None:
        colour = arr if arr.ndim == 3 else arr[..., None]
        arr = np.concatenate([colour, np.asarray(alpha)[..., None].astype(arr.dtype)], axis=2)
    return arr


def quantise(arr: np.ndarray, top: int, out: np.ndarray | None = None) -> np.ndarray:
    """Float [0, 1] pixels -> uint8 (``top`` 255) or uint16 (65535): ``v * top + 0.5`` in
    float32, clipped, truncated; the one rounding rule of every saved image. Integer ``arr`` of
    the target type passes unchanged; other integers are read as [0, their max]. Row bands keep
    the float temporaries ~1 Mpx. ``out``: an array of the target type and shape to fill."""
    dtype = np.uint16 if top > 255 else np.uint8
    if out is None:
        out = np.empty(arr.shape, dtype)
    if arr.dtype == dtype:
        out[...] = arr
        return out
    scale = 1.0 if arr.dtype.kind == "f" else 1.0 / np.iinfo(arr.dtype).max
    for rows in row_bands(arr.shape[0], arr[0].size if arr.size else 1):
        band = np.asarray(arr[rows], dtype=np.float32)
        if scale != 1.0:
            band = band * np.float32(scale)
        band = band * np.float32(top) + np.float32(0.5)
        out[rows] = np.clip(band, 0, top)
    return out


def _pillow8(arr: np.ndarray) -> Image.Image:
    """Float [0, 1] pixels (HW, HWx2, HWx3, HWx4) as an 8-bit Pillow image, quantised and pasted
    in row bands: no full-size uint8 copy besides Pillow's own buffer."""
    if arr.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(arr))
    first = Image.fromarray(quantise(arr[:1], 255))
    im = Image.new(first.mode, (arr.shape[1], arr.shape[0]))
    for rows in row_bands(arr.shape[0], arr[0].size):
        im.paste(Image.fromarray(quantise(arr[rows], 255)), (0, rows.start))
    return im


def _encode(target: str, q: np.ndarray, fmt: str, sixteen: bool, exif: bytes | None,
            icc: bytes | None, quality: int) -> None:
    """Write ``q`` (uint16 when ``sixteen``, else float [0, 1] quantised here) as ``fmt``."""
    channels = 1 if q.ndim == 2 else q.shape[2]
    if sixteen and fmt == "TIFF":
        import tifffile

        tifffile.imwrite(target, q, photometric="minisblack" if channels <= 2 else "rgb",
                         extrasamples=("unassalpha",) if channels in (2, 4) else None,
                         compression="zlib", iccprofile=icc)
        return
    if sixteen and channels > 1:
        Path(target).write_bytes(_png16(q, exif, icc))
        return
    im = Image.fromarray(q) if sixteen else _pillow8(q)  # sixteen here: grey 16-bit PNG
    kw: dict = {}
    if icc:
        kw["icc_profile"] = icc
    if exif and fmt in ("PNG", "JPEG", "WEBP"):
        kw["exif"] = exif
    if fmt in ("JPEG", "WEBP"):
        kw["quality"] = int(quality)
    if fmt == "WEBP" and quality >= 100:
        kw.update(lossless=True, exact=True)
    if fmt == "TIFF":
        kw["compression"] = "tiff_deflate"
    im.save(target, format=fmt, **kw)


def _png16(q: np.ndarray, exif: bytes | None, icc: bytes | None) -> bytes:
    """A 16-bit grey+alpha / RGB / RGBA PNG (Pillow cannot write these), filter 0, zlib level 6."""
    h, w, c = q.shape
    colour_type = {2: 4, 3: 2, 4: 6}[c]
    rows = np.empty((h, 1 + w * c * 2), np.uint8)
    rows[:, 0] = 0
    rows[:, 1:] = q.astype(">u2").view(np.uint8).reshape(h, -1)
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))]
    if icc:
        chunks.append((b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if exif:
        chunks.append((b"eXIf", exif.removeprefix(b"Exif\x00\x00")))
    chunks += [(b"IDAT", zlib.compress(rows.tobytes(), 6)), (b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chunks)


def unique_output_path(path: str | os.PathLike, avoid: tuple[Path, ...] = ()) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext``... : the first that does not exist and is not
    one of ``avoid`` (e.g. the input files), so results never overwrite anything."""
    p = Path(path)
    taken = {Path(a).resolve() for a in avoid}
    candidate, n = p, 1
    while candidate.exists() or candidate.resolve() in taken:
        n += 1
        candidate = p.with_name(f"{p.stem}-{n}{p.suffix}")
    return candidate

"""Generators of hostile inputs for the hostile-input tests (small, made on the fly, never
committed): files that lie about their format, decompression bombs, float images with NaN, and
safetensors files whose headers lie."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from cli_helpers import Result
from PIL import Image

EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n"
       b"newpath 0 0 moveto 16 16 lineto stroke\nshowpage\n%%EOF\n")


def eps_named_png(path: Path) -> Path:
    """An EPS file (Pillow would hand it to Ghostscript) with a .png name."""
    path.write_bytes(EPS)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, chunk: str) -> Path:
    """A valid 16x16 PNG plus a zTXt or iCCP chunk that inflates to 64 MB (64 KB on disk)."""
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(buf, "PNG")
    png = buf.getvalue()
    bomb = zlib.compress(b"\0" * (64 << 20), 9)
    data = {"zTXt": b"Comment\0\0" + bomb, "iCCP": b"ICC\0\0" + bomb}[chunk]
    i = png.index(b"IDAT") - 4
    path.write_bytes(png[:i] + _chunk(chunk.encode(), data) + png[i:])
    return path


def float_tiff_with_nan(path: Path) -> Path:
    """A 32x32 float ('F') TIFF in [0, 1] with one NaN and one +inf pixel."""
    arr = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    arr[3, 4], arr[10, 20] = np.nan, np.inf
    Image.fromarray(arr, "F").save(path)
    return path


def flat_png(path: Path, size: int = 96, value: int = 128) -> Path:
    """A flat grey RGB PNG: bicubic reproduces it exactly, so PSNR is infinite."""
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)
    return path


def read_st(path: Path) -> tuple[dict, bytes]:
    """(header JSON, data bytes) of a safetensors file."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_st(path: Path, header: dict | bytes, data: bytes, length: int | None = None) -> Path:
    """A safetensors file with this header (a dict, or raw bytes), data, and optionally a lying
    header length."""
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes((len(blob) if length is None else length).to_bytes(8, "little") + blob + data)
    return path


def mutate_weights(good: Path, out: Path, change: Callable[[dict, bytes], tuple]) -> Path:
    """``good`` with its header and data changed by ``change(header, data) -> (header, data)``."""
    header, data = read_st(good)
    header, data = change(header, data)
    return write_st(out, header, data)


def set_arch(**fields) -> Callable[[dict, bytes], tuple]:
    """A mutation that overwrites fields of the architecture JSON."""
    def change(header: dict, data: bytes) -> tuple:
        arch = json.loads(header["__metadata__"]["architecture"])
        arch.update(fields)
        header["__metadata__"]["architecture"] = json.dumps(arch)
        return header, data
    return change


def assert_user_error(result: Result, *needles: str, code: int = 1) -> str:
    """A user mistake: exit ``code``, stderr exactly one `drrn: error:` line containing every
    needle, not an internal error, no traceback. Returns the line."""
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert result.code == code, (result.code, result.err)
    assert len(lines) == 1 and lines[0].startswith("drrn: error: "), result.err
    assert "internal error" not in lines[0] and "Traceback" not in result.err, result.err
    for needle in needles:
        assert needle in lines[0], result.err
    return lines[0]

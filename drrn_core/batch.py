"""Batch planning: where each input's result goes, in which format, and what is never overwritten.

One implementation for `drrn upscale` (several files or folders, --out-dir) and the app's Batch
tab:

* folders (:func:`tree_items`): every file of the tree, each result in the same sub-folder of
  the output folder, which must not lie inside the input folder;

* names from a template (:func:`check_template`, :func:`output_name`): fields ``{name}`` (the
  input's name without extension), ``{ext}`` (its extension without the dot), ``{scale}`` (the
  factor as written: ``2``, ``2.5``; with a target width/height ``w1920`` / ``h1080``) and
  ``{size}`` (``x2``, ``w1920``, ``h1080``). DEFAULT_TEMPLATE ``{name}_x{scale}`` (with a target
  size: SIZE_TEMPLATE ``{name}_{size}``). Templates with a path separator or ``..`` are refused;
  the extension comes from the format.
* format (:func:`output_suffix`): a chosen one (limits.FORMAT_SUFFIX) or limits.KEEP_FORMAT, the
  input's own when it is writable (limits.OUTPUT_FORMATS), else PNG.
* guards (:func:`plan`): an output never replaces an input, two inputs never share an output
  (the later ones get ``-2``, ``-3`` ...), and an existing file is kept (``rename``: the next
  free ``-N`` name), left alone (``skip``) or replaced (``replace``) by choice.
* size (:func:`check_output_size`): the result must fit limits.MAX_OUTPUT_PIXELS and not shrink.
* space (:func:`check_free_space`): the output folder must have room for the result's estimated
  size (limits.OUTPUT_BYTES_FLOOR), checked before anything is computed.
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from drrn_core import limits
from drrn_core.errors import UserError
from drrn_core.filesystem import free_bytes, human_bytes, resolved

DEFAULT_TEMPLATE = "{name}_x{scale}"
SIZE_TEMPLATE = "{name}_{size}"
FIELDS = ("name", "ext", "scale", "size")
RENAME, SKIP, REPLACE = "rename", "skip", "replace"
EXISTING = (RENAME, SKIP, REPLACE)
"""What to do with an output that already exists: keep it and use the next free name, skip the
input, or replace the file."""


class TemplateError(UserError, ValueError):
    """A file-name template that cannot be used; one line saying why."""


class OutputTooLarge(UserError, ValueError):
    """A result over the pixel limit (or smaller than its input); one line naming the file."""


class NoSpace(UserError, OSError):
    """The output folder has no room for a result; one line naming the file and the folder."""


def size_fields(scale: float | None = None, width: int | None = None,
                height: int | None = None) -> dict[str, str]:
    """The ``{scale}`` and ``{size}`` fields of a factor, or of a target width or height."""
    if scale is not None:
        return {"scale": f"{scale:g}", "size": f"x{scale:g}"}
    tag = f"w{width}" if width is not None else f"h{height}"
    return {"scale": tag, "size": tag}


def default_template(scale: float | None) -> str:
    """DEFAULT_TEMPLATE when upscaling by a factor, SIZE_TEMPLATE for a target size."""
    return DEFAULT_TEMPLATE if scale is not None else SIZE_TEMPLATE


def check_template(template: str) -> str:
    """``template`` when it can name files; TemplateError (one line) when it is empty, has an
    unknown field, a path separator or ``..``."""
    if not template or not template.strip():
        raise TemplateError("the file-name template is empty (e.g. {name}_x{scale})")
    if "/" in template or "\\" in template or ".." in template:
        raise TemplateError(f"the file-name template {template!r} must not contain a path "
                            "separator or '..' (results go to the output folder)")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"the file-name template {template!r} is malformed ({exc})") from None
    fields = [f for _, f, _, _ in parsed if f is not None]
    if not fields:
        raise TemplateError(f"the file-name template {template!r} has no field, so every result "
                            "would get the same name; use {name}")
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise TemplateError(f"unknown field {{{unknown[0]}}} in the file-name template; the "
                            f"fields are {', '.join('{' + f + '}' for f in FIELDS)}")
    return template


def output_name(template: str, source: Path, fields: dict[str, str], suffix: str) -> str:
    """The result's file name: ``template`` filled for ``source`` plus ``suffix``."""
    check_template(template)
    values = {"name": source.stem, "ext": source.suffix.lstrip("."), **fields}
    try:
        stem = template.format(**values)
    except (ValueError, KeyError, IndexError) as exc:
        raise TemplateError(f"the file-name template {template!r} cannot be filled ({exc})") \
            from None
    name = stem + suffix
    if not stem or "/" in name or "\\" in name or stem in (".", "..") or name.startswith("."):
        raise TemplateError(f"the file-name template {template!r} gives the name {name!r} for "
                            f"{source.name}, which is not a plain file name")
    return name


def output_suffix(source: Path, fmt: str | None) -> str:
    """The result's extension: ``fmt`` (a format such as "PNG"/"png"/"jpg", see
    limits.FORMAT_SUFFIX) or, for None / limits.KEEP_FORMAT, the input's own when it is a
    writable format (limits.OUTPUT_FORMATS), else ".png"."""
    if fmt is None or fmt.lower() == limits.KEEP_FORMAT:
        return source.suffix if source.suffix.lower() in limits.OUTPUT_FORMATS else ".png"
    key = fmt.upper()
    if key in limits.FORMAT_SUFFIX:
        return limits.FORMAT_SUFFIX[key]
    suffix = "." + fmt.lower().lstrip(".")
    if suffix in limits.OUTPUT_FORMATS:
        return limits.FORMAT_SUFFIX[limits.OUTPUT_FORMATS[suffix]]
    raise ValueError(f"unknown output format {fmt!r}")


@dataclass(frozen=True)
class Planned:
    """One input and its result: written to ``target`` unless ``skip`` says why not;
    ``replaces``: an existing file at ``target`` will be replaced."""

    source: Path
    target: Path
    skip: str | None = None
    replaces: bool = False


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def plan(items: Sequence[tuple[Path, Path]], *, template: str | None = None,
         fmt: str | None = None, scale: float | None = None, width: int | None = None,
         height: int | None = None, existing: str = RENAME) -> list[Planned]:
    """Where each ``(input file, output folder)`` pair's result goes (order kept).

    Guards: a result never lands on an input (same path, or the same file through a link) and
    two inputs never get one result: such a name gets the next free ``-2``, ``-3`` ...;
    an existing file is handled by ``existing`` (RENAME: the next free name, SKIP: the input is
    skipped, REPLACE: the file is replaced). TemplateError for a bad template."""
    if existing not in EXISTING:
        raise ValueError(f"existing must be one of {EXISTING}, got {existing!r}")
    template = check_template(template or default_template(scale))
    fields = size_fields(scale, width, height)
    sources = [Path(s) for s, _ in items]
    input_ids = {i for i in map(_file_id, sources) if i is not None}
    taken = {os.path.normcase(resolved(p)) for p in sources}

    def blocked(candidate: Path) -> bool:
        if os.path.normcase(resolved(candidate)) in taken:
            return True
        if candidate.exists():
            return _file_id(candidate) in input_ids or (existing == RENAME)
        return False

    out: list[Planned] = []
    for source, folder in items:
        source = Path(source)
        base = Path(folder) / output_name(template, source, fields, output_suffix(source, fmt))
        target, n = base, 1
        while blocked(target):
            n += 1
            target = base.with_name(f"{base.stem}-{n}{base.suffix}")
        taken.add(os.path.normcase(resolved(target)))
        if target.exists() and existing == SKIP:
            out.append(Planned(source, target, skip=f"{target.name} already exists"))
        else:
            out.append(Planned(source, target, replaces=target.exists()))
    return out


def tree_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` (hidden files and folders left out), in a stable
    order: what a folder batch processes (a file that is not an image fails alone)."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / n for n in sorted(names) if not n.startswith(".")]
    return found


def tree_items(folder: Path, out_dir: Path) -> list[tuple[Path, Path]]:
    """(file, output folder) of every file of a folder batch: the same sub-folder under
    ``out_dir``; UserError when ``out_dir`` is ``folder`` or inside it (results would become
    inputs)."""
    if inside(out_dir, folder):
        raise UserError(f"{out_dir}: the output folder must not be the input folder {folder} "
                        "or inside it")
    return [(f, out_dir / f.relative_to(folder).parent) for f in tree_files(folder)]


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (after resolving links)."""
    p, f = resolved(Path(path).expanduser()), resolved(Path(folder).expanduser())
    return p == f or f in p.parents


def is_input(target: Path, inputs: Sequence[Path]) -> bool:
    """Whether ``target`` names one of ``inputs`` (same path or, through links, same file)."""
    key = os.path.normcase(resolved(target))
    if any(os.path.normcase(resolved(p)) == key for p in inputs):
        return True
    ident = _file_id(Path(target))
    return ident is not None and any(_file_id(Path(p)) == ident for p in inputs)


def check_output_size(label: str, in_hw: tuple[int, int], out_hw: tuple[int, int],
                      max_pixels: int = limits.MAX_OUTPUT_PIXELS, hint: str = "") -> None:
    """OutputTooLarge (one line naming ``label``) when the result (height, width) is over
    ``max_pixels`` or smaller than the input; ``hint`` ends the over-the-limit line (e.g. the
    CLI's " (--max-pixels)")."""
    (h, w), (out_h, out_w) = in_hw, out_hw
    if out_h * out_w > max_pixels:
        raise OutputTooLarge(f"{label}: the output {out_w}x{out_h} ({out_w * out_h / 1e6:.1f} MP) "
                             f"would be over the {max_pixels / 1e6:g} MP limit{hint}")
    if out_h < h or out_w < w:
        raise OutputTooLarge(f"{label}: {out_w}x{out_h} would shrink the {w}x{h} image")


def estimated_output_bytes(out_hw: tuple[int, int], channels: int, bytes_per_sample: int,
                           fmt: str) -> int:
    """The fewest bytes a result of (height, width) x ``channels`` samples of
    ``bytes_per_sample`` is expected to take as ``fmt`` (limits.OUTPUT_BYTES_FLOOR of its raw
    size; an unknown format counts as PNG)."""
    raw = out_hw[0] * out_hw[1] * channels * bytes_per_sample
    return int(raw * limits.OUTPUT_BYTES_FLOOR.get(fmt.upper(), limits.OUTPUT_BYTES_FLOOR["PNG"]))


def check_free_space(target: Path, needed: int) -> None:
    """NoSpace (one line naming ``target`` and its folder) when the folder ``target`` will be
    written in has less free space than ``needed`` bytes; nothing when the file system cannot
    say. An existing ``target`` is no credit: an atomic write needs the room beside it."""
    free = free_bytes(Path(target).parent)
    if free is None or free >= needed:
        return
    kept = " (the existing file is untouched)" if Path(target).exists() else ""
    folder = Path(target).parent
    raise NoSpace(f"{target}: not enough free space in {folder} ({human_bytes(free)} free, the "
                  f"result needs about {human_bytes(needed)}); nothing was computed or "
                  f"written{kept}")

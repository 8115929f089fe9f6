"""Model weights as safetensors with JSON metadata in the header, and the model registry.

File format (``.safetensors``): the DRRN state dict, plus header metadata (string values):
``format`` = "drrn-studio/1", ``architecture`` = JSON of DRRNConfig.to_dict(), ``descriptor`` =
JSON of name/scales/precisions/in_channels/colour_space/min_size (fields the engine checks at load
and acts on; others, such as the ``trained`` flag older files carry, are ignored), ``metadata`` =
JSON of anything else (training recipe, results, ``"default": true`` to mark the preferred
bundled model). An optional sidecar
``<name>.json`` next to the file is merged into ``metadata`` (the sidecar wins).

Pickle checkpoints (.pth/.pt/.ckpt/.bin/.pkl) are refused, never unpickled: they can run code.

Registry: bundled models in ``resources/weights`` ($DRRN_RESOURCES/weights, the PyInstaller
bundle's resources, the installed wheel's ``drrn_core/_data/resources``, or the repository's),
user models in ``platformdirs.user_data_dir("drrn-studio")/models`` ($DRRN_USER_DIR/models).
A model's name is its file stem.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from drrn_core import limits
from drrn_core.atomic import atomic_path
from drrn_core.descriptor import ModelDescriptor
from drrn_core.errors import UserError, first_line
from drrn_core.filesystem import missing_reason
from drrn_core.model import DRRN, DRRNConfig

FORMAT = "drrn-studio/1"
SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl", ".tar")
_log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 8 << 20
"""Largest safetensors JSON header (or sidecar .json) read: a DRRN header is a few KB, a
checkpoint's some 100 KB."""
ARCH_LIMITS = limits.ARCH_LIMITS
"""Inclusive ranges accepted for the architecture fields of a weights header (the same as a
training recipe's: limits.ARCH_LIMITS)."""
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
               "U8": 1, "BOOL": 1}
"""safetensors dtypes accepted in a header, with their sizes in bytes."""
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _.+-]{0,62}[A-Za-z0-9_+-])?")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
             *(f"lpt{i}" for i in range(10))}


class WeightsError(UserError, ValueError):
    """Weights could not be saved, found or read; ``str()`` is one user-facing line."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor entry of a safetensors header: dtype name, shape, byte range in the data."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


def read_safetensors_header(
    path: str | os.PathLike,
) -> tuple[dict[str, str], dict[str, TensorInfo]]:
    """(metadata, tensors) of a safetensors file, every field checked before anything is
    allocated: header length against MAX_HEADER_BYTES and the file size, JSON object types,
    dtypes (DTYPE_BYTES), shapes (non-negative ints), and each byte range inside the data and
    exactly ``prod(shape) x dtype size`` long. WeightsError (one line) for anything else. Used for
    weights and training checkpoints alike."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            first = f.read(8)
            if len(first) < 8:
                raise WeightsError(f"{p}: not a readable safetensors file (too short)")
            n = int.from_bytes(first, "little")
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise WeightsError(f"{p}: not a readable safetensors file (its header length "
                                   f"does not fit the {size:,}-byte file)")
            raw = f.read(n)
    except OSError as e:
        raise WeightsError(f"{p}: cannot read ({e.strerror or e})") from None
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise WeightsError(f"{p}: not a readable safetensors file (damaged header)") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{p}: not a readable safetensors file (damaged header)")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise WeightsError(f"{p}: damaged metadata in the header (values must be strings)")
    data = size - 8 - n
    tensors = {}
    for name, entry in header.items():
        tensors[name] = _tensor_info(p, name, entry, data)
    return meta, tensors


def _tensor_info(p: Path, name: str, entry: object, data: int) -> TensorInfo:
    bad = f"{p}: not a readable safetensors file (tensor {name[:60]!r}"
    if not isinstance(entry, dict):
        raise WeightsError(f"{bad} has no description)")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise WeightsError(f"{bad} has an unsupported dtype {str(dtype)[:20]!r})")
    if (not isinstance(shape, list) or len(shape) > 8
            or not all(type(d) is int and 0 <= d < 1 << 40 for d in shape)):
        raise WeightsError(f"{bad} has an invalid shape)")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(type(o) is int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data):
        raise WeightsError(f"{bad} lies outside the file: truncated or damaged)")
    if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_BYTES[dtype]:
        raise WeightsError(f"{bad} has a size that does not match its shape)")
    return TensorInfo(dtype, tuple(shape), offsets[0], offsets[1])


def config_from_header(p: Path, text: str) -> DRRNConfig:
    """The DRRNConfig of an ``architecture`` header value; every field type- and range-checked
    (ARCH_LIMITS) so nothing huge is ever built from it. WeightsError (one line) otherwise."""
    try:
        arch = json.loads(text)
    except (ValueError, RecursionError):
        raise WeightsError(f"{p}: damaged metadata in the header (architecture)") from None
    if not isinstance(arch, dict):
        raise WeightsError(f"{p}: damaged metadata in the header (architecture)")
    problem = limits.architecture_problem(
        {k: arch.get(k, getattr(DRRNConfig, k)) for k in (*ARCH_LIMITS, *limits.ARCH_FLAGS)})
    if problem:
        raise WeightsError(f"{p}: {problem}")
    return DRRNConfig.from_dict(arch)


def expected_shapes(config: DRRNConfig) -> dict[str, tuple[tuple[int, ...], bool]]:
    """Name -> (shape, is floating point) of every tensor a DRRN with ``config`` has (built on
    the meta device: no memory is allocated). Callers bound ``config`` first."""
    with torch.device("meta"):
        net = DRRN(config)
    return {k: (tuple(v.shape), v.is_floating_point()) for k, v in net.state_dict().items()}


def check_tensors(p: Path, config: DRRNConfig, tensors: dict[str, TensorInfo],
                  prefix: str = "") -> None:
    """WeightsError unless the tensors under ``prefix`` are exactly the model's, with its shapes
    and kind of dtype (floating point or integer)."""
    expected = expected_shapes(config)
    found = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        what = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0][:60]}"
        raise WeightsError(f"{p}: weights do not match {config.name} ({what})")
    for k, (shape, floating) in expected.items():
        if found[k].shape != shape:
            raise WeightsError(f"{p}: {k} has shape {found[k].shape}, expected {shape}")
        if floating != (found[k].dtype in ("F64", "F32", "F16", "BF16")):
            raise WeightsError(f"{p}: {k} has dtype {found[k].dtype}, expected "
                               f"{'floating point' if floating else 'an integer'}")


@dataclass
class LoadedModel:
    """A ready model: ``model`` in eval mode on the CPU, its descriptor and metadata."""

    model: DRRN
    descriptor: ModelDescriptor
    metadata: dict
    path: Path

    @property
    def precisions(self) -> tuple[str, ...]:
        """The precisions the file declares (descriptor.PRECISIONS names; the engine's own
        choices for it: ``engine.offered_precisions``)."""
        return self.descriptor.precisions


@dataclass(frozen=True)
class ModelEntry:
    """A registry entry read from a file's header only (cheap): load it with ``load()``."""

    name: str
    path: Path
    source: str  # "bundled" or "user"
    descriptor: ModelDescriptor
    metadata: dict = field(default_factory=dict, compare=False)

    def load(self) -> LoadedModel:
        return load_weights(self.path)


def save_weights(path: str | os.PathLike, model: nn.Module,
                 descriptor: ModelDescriptor | None = None, metadata: dict | None = None) -> Path:
    """Write ``model`` (a DRRN) and its metadata atomically to a .safetensors file."""
    p = Path(path)
    net = getattr(model, "module", model)  # unwrap DistributedDataParallel
    config = getattr(net, "config", None)
    if not isinstance(config, DRRNConfig):
        raise TypeError(f"save_weights takes a DRRN network, not {type(net).__name__}")
    descriptor = descriptor or ModelDescriptor.for_config(config)
    header = {
        "format": FORMAT,
        "architecture": json.dumps(config.to_dict()),
        "descriptor": json.dumps(_descriptor_fields(descriptor)),
        "metadata": json.dumps(metadata or {}, default=str),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    _atomic_write(p, lambda tmp: save_file(tensors, str(tmp), metadata=header))
    return p


def _descriptor_fields(d: ModelDescriptor) -> dict:
    fields = asdict(d)
    fields.pop("config")
    return fields


def _atomic_write(path: Path, write) -> None:
    if not path.parent.is_dir():
        raise WeightsError(f"{path}: the folder {path.parent} does not exist")
    try:
        with atomic_path(path) as tmp:
            write(tmp)
    except (OSError, SafetensorError) as e:
        raise WeightsError(f"{path}: cannot write ({e})") from None


_DAMAGED_SIDECARS: set[tuple[str, int]] = set()
"""Damaged sidecars already warned about, by (path, mtime): one warning per file and change."""


def _sidecar(sidecar: Path) -> dict:
    """The optional ``<name>.json`` beside a weights file: extra metadata (a model card's
    results). A damaged one (unreadable, not JSON, not an object, oversized) is ignored with one
    warning in the log: the weights stay usable and the file is left as it is."""
    mtime = 0
    try:
        if not sidecar.is_file():
            return {}
        st = sidecar.stat()
        mtime = st.st_mtime_ns
        if st.st_size > MAX_HEADER_BYTES:
            raise ValueError(f"larger than {MAX_HEADER_BYTES >> 20} MiB")
        extra = json.loads(sidecar.read_text(encoding="utf-8"))
        if not isinstance(extra, dict):
            raise ValueError("not a JSON object")
        return extra
    except (OSError, ValueError, RecursionError) as e:
        key = (str(sidecar), mtime)
        if key not in _DAMAGED_SIDECARS:
            _DAMAGED_SIDECARS.add(key)
            _log.warning("%s: damaged model metadata ignored (%s); the weights are used without it",
                        sidecar, first_line(e))
        return {}


def read_header(path: str | os.PathLike) -> tuple[DRRNConfig, ModelDescriptor, dict]:
    """(config, descriptor, metadata) from a weights file's header, without loading tensors.

    The whole header is validated first (read_safetensors_header, config_from_header,
    check_tensors), so a file that passes can be loaded without surprises."""
    p = _check_file(Path(path))
    header, tensors = read_safetensors_header(p)
    if "architecture" not in header:
        raise WeightsError(f"{p}: not a DRRN Studio weights file (no architecture in its header)")
    config = config_from_header(p, header["architecture"])
    check_tensors(p, config, tensors)
    try:
        fields = json.loads(header.get("descriptor", "{}"))
        metadata = json.loads(header.get("metadata", "{}"))
    except (ValueError, RecursionError) as e:
        raise WeightsError(f"{p}: damaged metadata in the header ({first_line(e)})") from None
    if not isinstance(fields, dict) or not isinstance(metadata, dict):
        raise WeightsError(f"{p}: damaged metadata in the header (descriptor/metadata)")
    metadata.update(_sidecar(p.with_suffix(".json")))
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()
              if k in ModelDescriptor.__dataclass_fields__ and k != "config"}
    try:
        fields["name"] = str(fields.get("name") or config.name)
        descriptor = ModelDescriptor(config=config, **fields)
        problem = descriptor.problem()
        if problem is None:
            descriptor.summary()  # formats scales: fails here, not later in a list
    except (TypeError, ValueError) as e:
        raise WeightsError(f"{p}: damaged descriptor in the header ({first_line(e)})") from None
    if problem is not None:
        raise WeightsError(f"{p}: {problem}")
    return config, descriptor, metadata


def load_weights(path: str | os.PathLike) -> LoadedModel:
    """Load a .safetensors model; WeightsError (one line) for pickles, damage or mismatches."""
    p = Path(path)
    config, descriptor, metadata = read_header(p)
    try:
        state = load_file(str(p))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{p}: damaged weights ({first_line(e)})") from None
    model = DRRN(config)
    for k, v in state.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise WeightsError(f"{p}: {k} contains NaN or infinite values")
    model.load_state_dict(state)
    return LoadedModel(model.eval(), descriptor, metadata, p)


def _check_file(p: Path) -> Path:
    if p.suffix.lower() in PICKLE_SUFFIXES:
        raise WeightsError(f"{p.name}: PyTorch pickle checkpoints ({p.suffix}) are not loaded "
                           f"because they can run code; convert it to {SUFFIX} first")
    if not p.exists():
        reason = missing_reason(p)
        raise WeightsError(
            f"{p}: {'weights file not found' if reason == 'file not found' else reason}")
    if not p.is_file():
        raise WeightsError(f"{p}: not a file")
    return p


# --- registry -------------------------------------------------------------------------------


def bundled_dir() -> Path:
    """Bundled weights: ``resources_dir() / "weights"``."""
    from drrn_core.packaging.data import resources_dir

    return resources_dir() / "weights"


def user_dir() -> Path:
    """User models: $DRRN_USER_DIR/models or platformdirs' user data dir for drrn-studio."""
    if os.environ.get("DRRN_USER_DIR"):
        return Path(os.environ["DRRN_USER_DIR"]) / "models"
    import platformdirs

    return Path(platformdirs.user_data_dir("drrn-studio", appauthor=False)) / "models"


@dataclass(frozen=True)
class BrokenModel:
    """A file in a models folder that is not offered: ``reason`` is one line (damaged header,
    or a user model hidden by a bundled one of the same name)."""

    name: str
    path: Path
    source: str
    reason: str


def scan_models() -> tuple[list[ModelEntry], list[BrokenModel]]:
    """(usable, broken) models of both folders. Only headers are read, each one validated and
    bounded, so a damaged file costs milliseconds and never stops the others. A user model with
    a bundled model's name (any case) is listed as broken: the bundled one wins."""
    entries: list[ModelEntry] = []
    broken: list[BrokenModel] = []
    for source, folder in (("bundled", bundled_dir()), ("user", user_dir())):
        try:
            paths = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
        except OSError as e:
            _log.warning("cannot list %s: %s", folder, e)
            continue
        for path in paths:
            if source == "user" and any(e.name.lower() == path.stem.lower() for e in entries):
                broken.append(BrokenModel(path.stem, path, source, f"{path}: hidden by the "
                                          "bundled model of the same name; rename it"))
                continue
            try:
                _, descriptor, metadata = read_header(path)
            except WeightsError as e:
                broken.append(BrokenModel(path.stem, path, source, str(e)))
                continue
            entries.append(ModelEntry(path.stem, path, source, descriptor, metadata))
    return entries, broken


def list_models() -> list[ModelEntry]:
    """Bundled then user models, each sorted by name; broken files are left out (see
    scan_models, which also returns them with their reasons)."""
    entries, broken = scan_models()
    for b in broken:  # INFO: `drrn models` and the app show broken files themselves
        _log.info("skipping %s", b.reason)
    return entries


def find_model(name: str) -> ModelEntry:
    """The registry entry called ``name`` (case-insensitive; bundled before user)."""
    entries, broken = scan_models()
    for entry in entries:
        if entry.name.lower() == name.lower():
            return entry
    for b in broken:
        if b.name.lower() == name.lower():
            raise WeightsError(f"model {name!r} cannot be used: {b.reason}")
    known = ", ".join(e.name for e in entries) or "none installed"
    raise WeightsError(f"No model named {name!r} (models: {known}); bicubic upscaling is "
                       "available without one")


def check_model_name(name: str) -> str:
    """``name`` when it is a safe model (file) name: 1-64 letters, digits, spaces and ``_ . + -``,
    starting with a letter or digit, no ``..``, no path separators, not a Windows device name;
    WeightsError otherwise."""
    if (not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name
            or name.split(".")[0].strip().lower() in _RESERVED):
        raise WeightsError(f"{str(name)[:80]!r} is not a valid model name: use 1-64 letters, "
                           "digits, spaces, '_', '.', '+' or '-' (no path separators or '..')")
    return name


def resolve_model(name_or_path: str | os.PathLike) -> LoadedModel:
    """Load a registry model by name, or a weights file by path."""
    text = str(name_or_path)
    p = Path(text)
    path_like = "/" in text or os.sep in text or p.suffix.lower() in (SUFFIX, *PICKLE_SUFFIXES)
    if path_like or p.exists():
        return load_weights(p)
    return find_model(text).load()


ENSEMBLE_SUFFIX = "+"
"""A model name or weights path followed by this runs as the model's self-ensemble (the mean of
its 8 flips and rotations, 8x the time), as "DRRN+" in super-resolution tables."""


def split_ensemble(spec: str | os.PathLike) -> tuple[str, bool]:
    """``("NAME", True)`` for ``"NAME+"``; ``(spec, False)`` otherwise, and also when ``spec``
    itself names an installed model or an existing file (model names may end in "+")."""
    text = str(spec)
    if len(text) < 2 or not text.endswith(ENSEMBLE_SUFFIX) or Path(text).exists():
        return text, False
    if any(e.name.lower() == text.lower() for e in list_models()):
        return text, False
    return text[:-len(ENSEMBLE_SUFFIX)], True


def default_model_name() -> str | None:
    """Best bundled model: metadata ``"default": true`` first, then the deepest; None if none."""
    bundled = [e for e in list_models() if e.source == "bundled"]
    if not bundled:
        return None
    best = max(bundled, key=lambda e: (bool(e.metadata.get("default")), e.descriptor.depth,
                                       e.descriptor.config.B, e.name))
    return best.name


def import_user_model(path: str | os.PathLike, name: str | None = None,
                      overwrite: bool = False) -> ModelEntry:
    """Validate a weights file (fully loads it) and copy it atomically into the user folder."""
    src = Path(path)
    target_name = check_model_name(name if name is not None else src.stem)
    loaded = load_weights(src)
    if any(e.name.lower() == target_name.lower() and e.source == "bundled"
           for e in list_models()):
        raise WeightsError(f"A bundled model is already called {target_name!r}; choose another "
                           "name")
    folder = user_dir()
    target = folder / f"{target_name}{SUFFIX}"
    if target.exists() and not overwrite:
        raise WeightsError(f"A user model called {target_name!r} already exists")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WeightsError(f"{folder}: cannot create the models folder ({e.strerror or e})") \
            from None
    _atomic_write(target, lambda tmp: shutil.copyfile(src, tmp))
    sidecar = src.with_suffix(".json")
    if sidecar.is_file():
        _atomic_write(target.with_suffix(".json"),
                      lambda tmp: shutil.copyfile(sidecar, tmp))
    return ModelEntry(target_name, target, "user", loaded.descriptor, loaded.metadata)

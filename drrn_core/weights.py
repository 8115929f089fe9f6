"""Model weights as safetensors with JSON metadata in the header, and the model registry.

File format (``.safetensors``): the DRRN state dict, plus header metadata (string values):
``format`` = "drrn-studio/1", ``architecture`` = JSON of DRRNConfig.to_dict(), ``descriptor`` =
JSON of name/scales/precisions/trained, ``metadata`` = JSON of anything else (training recipe,
results, ``"default": true`` to mark the preferred bundled model). An optional sidecar
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
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from drrn_core.atomic import atomic_path
from drrn_core.descriptor import ModelDescriptor
from drrn_core.model import DRRN, DRRNConfig

FORMAT = "drrn-studio/1"
SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl", ".tar")
_log = logging.getLogger(__name__)


class WeightsError(ValueError):
    """Weights could not be saved, found or read; ``str()`` is one user-facing line."""


@dataclass
class LoadedModel:
    """A ready model: ``model`` in eval mode on the CPU, its descriptor and metadata."""

    model: DRRN
    descriptor: ModelDescriptor
    metadata: dict
    path: Path


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
    config: DRRNConfig = net.config
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


def read_header(path: str | os.PathLike) -> tuple[DRRNConfig, ModelDescriptor, dict]:
    """(config, descriptor, metadata) from a weights file's header, without loading tensors."""
    p = _check_file(Path(path))
    try:
        with safe_open(str(p), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{p}: not a readable safetensors file ({_one_line(e)})") from None
    if "architecture" not in header:
        raise WeightsError(f"{p}: not a DRRN Studio weights file (no architecture in its header)")
    try:
        config = DRRNConfig.from_dict(json.loads(header["architecture"]))
        fields = json.loads(header.get("descriptor", "{}"))
        metadata = json.loads(header.get("metadata", "{}"))
    except (ValueError, TypeError) as e:
        raise WeightsError(f"{p}: damaged metadata in the header ({_one_line(e)})") from None
    sidecar = p.with_suffix(".json")
    if sidecar.is_file():
        try:
            metadata.update(json.loads(sidecar.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise WeightsError(f"{sidecar}: unreadable sidecar metadata ({_one_line(e)})") from None
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()
              if k in ModelDescriptor.__dataclass_fields__ and k != "config"}
    fields["name"] = fields.get("name") or config.name
    return config, ModelDescriptor(config=config, **fields), metadata


def load_weights(path: str | os.PathLike) -> LoadedModel:
    """Load a .safetensors model; WeightsError (one line) for pickles, damage or mismatches."""
    p = Path(path)
    config, descriptor, metadata = read_header(p)
    try:
        state = load_file(str(p))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{p}: damaged weights ({_one_line(e)})") from None
    model = DRRN(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        what = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        raise WeightsError(f"{p}: weights do not match {config.name} ({what})")
    for k, v in state.items():
        if v.shape != expected[k].shape:
            raise WeightsError(f"{p}: {k} has shape {tuple(v.shape)}, expected "
                               f"{tuple(expected[k].shape)}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise WeightsError(f"{p}: {k} contains NaN or infinite values")
    model.load_state_dict(state)
    return LoadedModel(model.eval(), descriptor, metadata, p)


def _check_file(p: Path) -> Path:
    if p.suffix.lower() in PICKLE_SUFFIXES:
        raise WeightsError(f"{p.name}: PyTorch pickle checkpoints ({p.suffix}) are not loaded "
                           f"because they can run code; convert it to {SUFFIX} first")
    if not p.exists():
        raise WeightsError(f"{p}: weights file not found")
    if not p.is_file():
        raise WeightsError(f"{p}: not a file")
    return p


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# --- registry -------------------------------------------------------------------------------


def packaged_data(name: str) -> Path | None:
    """``drrn_core/_data/NAME`` of an installed wheel (found through importlib.resources), or
    None in a source checkout / editable install, where setup.py copies nothing there."""
    from importlib.resources import files

    folder = files("drrn_core").joinpath("_data", name)
    return Path(str(folder)) if isinstance(folder, Path) and folder.is_dir() else None


def resources_dir() -> Path:
    """Icons, weights and model cards: $DRRN_RESOURCES, the frozen bundle's, the installed
    wheel's package data (``drrn_core/_data/resources``), or the repository's ``resources/``."""
    if os.environ.get("DRRN_RESOURCES"):
        return Path(os.environ["DRRN_RESOURCES"])
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        return Path(sys._MEIPASS) / "resources"
    return packaged_data("resources") or Path(__file__).resolve().parents[1] / "resources"


def bundled_dir() -> Path:
    """Bundled weights: ``resources_dir() / "weights"``."""
    return resources_dir() / "weights"


def user_dir() -> Path:
    """User models: $DRRN_USER_DIR/models or platformdirs' user data dir for drrn-studio."""
    if os.environ.get("DRRN_USER_DIR"):
        return Path(os.environ["DRRN_USER_DIR"]) / "models"
    import platformdirs

    return Path(platformdirs.user_data_dir("drrn-studio", appauthor=False)) / "models"


def list_models() -> list[ModelEntry]:
    """Bundled then user models, each sorted by name; unreadable files are skipped (logged)."""
    entries = []
    for source, folder in (("bundled", bundled_dir()), ("user", user_dir())):
        for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
            try:
                _, descriptor, metadata = read_header(path)
            except WeightsError as e:
                _log.warning("skipping %s", e)
                continue
            entries.append(ModelEntry(path.stem, path, source, descriptor, metadata))
    return entries


def find_model(name: str) -> ModelEntry:
    """The registry entry called ``name`` (case-insensitive; bundled before user)."""
    entries = list_models()
    for entry in entries:
        if entry.name.lower() == name.lower():
            return entry
    known = ", ".join(e.name for e in entries) or "none installed"
    raise WeightsError(f"No model named {name!r} (models: {known}); bicubic upscaling is "
                       "available without one")


def resolve_model(name_or_path: str | os.PathLike) -> LoadedModel:
    """Load a registry model by name, or a weights file by path."""
    text = str(name_or_path)
    p = Path(text)
    path_like = "/" in text or os.sep in text or p.suffix.lower() in (SUFFIX, *PICKLE_SUFFIXES)
    if path_like or p.exists():
        return load_weights(p)
    return find_model(text).load()


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
    loaded = load_weights(src)
    target_name = name or src.stem
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

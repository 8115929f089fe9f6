"""Training checkpoints as safetensors (no pickle): tensors for the model, its moving average
(EMA, when the recipe keeps one) and the optimiser state, a JSON header for everything else
(iteration, recipe, RNG states, best score, smoothed loss).

Writes are atomic (drrn_core.atomic) and rotate ``last`` -> ``prev``, so a crash, a kill
or a full disk at any moment leaves at least one complete checkpoint; ``load_latest`` falls back to
``prev`` when ``last`` is damaged.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from drrn_core.atomic import atomic_path, signals_held
from drrn_core.errors import UserError, first_line
from drrn_core.filesystem import is_disk_full

LAST, PREV = "last.safetensors", "prev.safetensors"


class CheckpointError(UserError, RuntimeError):
    """A checkpoint could not be written or read; the message is one user-facing line."""


class DiskFull(CheckpointError):
    """A run's file could not be written because its disk (or quota) is full; the message names
    the run folder and the checkpoint that stands."""


def standing_checkpoint(run_dir: Path) -> str:
    """What a failed write leaves of a run, as a user reads it: "the previous checkpoint
    (iteration N) is untouched", or "the run has no checkpoint yet"."""
    for name in (LAST, PREV):
        try:
            iteration = int(read_info(Path(run_dir) / name)["iteration"])
            return f"the previous checkpoint (iteration {iteration}) is untouched"
        except (CheckpointError, KeyError, TypeError, ValueError):
            continue
    return "the run has no checkpoint yet"


def disk_full(run_dir: Path, what: str, exc: BaseException) -> DiskFull:
    """The one-line error for ``what`` (e.g. "the checkpoint of iteration 120") that could not be
    written in ``run_dir`` because the disk is full (``exc`` its error)."""
    reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror
              else "No space left on device")
    return DiskFull(f"could not write {what} in {run_dir}: the disk is full ({reason}); "
                    f"{standing_checkpoint(run_dir)}")


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for pid, pstate in state["state"].items():
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for name, value in meta["scalars"].items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    info: dict, ema: torch.nn.Module | None = None) -> Path:
    """Write ``run_dir/last.safetensors`` atomically, keeping the previous one as ``prev``.

    SIGINT and SIGTERM are held back while the file is written (when called on the main thread),
    so a second Ctrl-C cannot cut a checkpoint short; they are delivered right after.
    """
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v.detach().cpu().contiguous()
                        for k, v in ema.state_dict().items()})
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    header = {"info": json.dumps(info), "optimizer": json.dumps(opt_meta)}
    run_dir = Path(run_dir)
    try:
        with signals_held(), atomic_path(run_dir / LAST) as tmp:
            save_file(tensors, str(tmp), metadata=header)
            if (run_dir / LAST).exists():  # the current one also becomes prev, as a hard link,
                with atomic_path(run_dir / PREV) as keep:  # so there is never a moment
                    keep.unlink()  # without a last checkpoint
                    try:
                        os.link(run_dir / LAST, keep)
                    except OSError:  # a file system without hard links
                        shutil.copyfile(run_dir / LAST, keep)
    except (OSError, SafetensorError) as exc:
        what = f"the checkpoint of iteration {info.get('iteration', '?')}"
        if is_disk_full(exc):
            raise disk_full(run_dir, what, exc) from None
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else first_line(exc)
        raise CheckpointError(f"could not write {what} in {run_dir}: {reason}; "
                              f"{standing_checkpoint(run_dir)}") from None
    return run_dir / LAST


def _header(path: Path) -> tuple[dict[str, str], dict]:
    """(metadata, tensor infos) of a checkpoint, every field checked before anything is read
    (drrn_core.weights.read_safetensors_header); CheckpointError (one line) otherwise."""
    from drrn_core.weights import WeightsError, read_safetensors_header

    try:
        return read_safetensors_header(path)
    except WeightsError as exc:
        raise CheckpointError(f"checkpoint {exc}") from None


def read_info(path: Path) -> dict:
    """The ``info`` header of a checkpoint (iteration, patches seen, best score...), read without
    loading any tensor; CheckpointError if it cannot be read."""
    try:
        info = json.loads(_header(path)[0]["info"])
        if not isinstance(info, dict):
            raise TypeError("info is not an object")
        return info
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise CheckpointError(f"checkpoint {path} is damaged or unreadable ({exc})") from None


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """(tensors, info, optimizer metadata) of one checkpoint file; CheckpointError if damaged,
    if its header lacks a field a resume needs, if its model tensors do not fit the architecture
    it names (all checked before any tensor is allocated), or if its weights hold NaN or
    infinity."""
    from drrn_core.weights import WeightsError, check_tensors, config_from_header

    info = read_info(path)
    metadata, infos = _header(path)
    try:
        optimizer = json.loads(metadata["optimizer"])
        missing = [k for k in ("iteration", "elapsed_s", "model") if k not in info]
        if missing or "rng.torch" not in infos:
            raise ValueError(f"missing {', '.join(missing) or 'rng.torch'}")
        config = config_from_header(Path(path), json.dumps(info["model"]))
        check_tensors(Path(path), config, infos, prefix="model.")
        if any(k.startswith("ema.") for k in infos):
            check_tensors(Path(path), config, infos, prefix="ema.")
        tensors = load_file(str(path))
    except WeightsError as exc:
        raise CheckpointError(f"checkpoint {exc}") from None
    except (OSError, SafetensorError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} is damaged or unreadable ({exc})") from None
    bad = [k for k, v in tensors.items() if k.startswith(("model.", "ema."))
           and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"checkpoint {path} holds NaN or infinite weights ({bad[0]}); "
                              "the run diverged before it was saved")
    return tensors, info, optimizer


def load_latest(run_dir: Path, warn: Callable[[str], None]) -> tuple[dict, dict, dict] | None:
    """The newest readable checkpoint of a run (``last``, else ``prev``), or None if there is none.

    Raises CheckpointError when checkpoints exist but none can be read.
    """
    found = [Path(run_dir) / n for n in (LAST, PREV) if (Path(run_dir) / n).exists()]
    errors = []
    for path in found:
        try:
            return read_checkpoint(path)
        except CheckpointError as exc:
            errors.append(str(exc))
            warn(f"{exc}; trying an older checkpoint")
    if errors:
        raise CheckpointError(f"no readable checkpoint in {run_dir}: {'; '.join(errors)}")
    return None


def restore(model: torch.nn.Module, optimizer: torch.optim.Optimizer, tensors: dict,
            opt_meta: dict, ema: torch.nn.Module | None = None) -> None:
    """Load model, optimiser, EMA and torch RNG state from ``read_checkpoint`` output; raises
    CheckpointError (one line) when the tensors do not fit the model. An EMA the checkpoint lacks
    (a run that did not keep one) starts as a copy of the model."""
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        if ema is not None:
            saved = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
            ema.load_state_dict(saved or model.state_dict())
        optimizer.load_state_dict(_unflatten_optimizer(tensors, opt_meta))
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"the checkpoint does not fit this model ({first})") from None
    torch.set_rng_state(tensors["rng.torch"])

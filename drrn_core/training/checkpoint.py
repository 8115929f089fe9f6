"""Training checkpoints as safetensors (no pickle): tensors for the model and optimiser state,
a JSON header for everything else (iteration, recipe, RNG states, best score).

Writes are atomic (drrn_core.atomic) and rotate ``last`` -> ``prev``, so a crash, a kill
or a full disk at any moment leaves at least one complete checkpoint; ``load_latest`` falls back to
``prev`` when ``last`` is damaged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from drrn_core.atomic import atomic_path

LAST, PREV = "last.safetensors", "prev.safetensors"


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read; the message is one user-facing line."""


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
                    info: dict) -> Path:
    """Write ``run_dir/last.safetensors`` atomically, keeping the previous one as ``prev``."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    header = {"info": json.dumps(info), "optimizer": json.dumps(opt_meta)}
    run_dir = Path(run_dir)
    try:
        with atomic_path(run_dir / LAST) as tmp:
            save_file(tensors, str(tmp), metadata=header)
            if (run_dir / LAST).exists():  # keep the previous one until the new one is in place
                os.replace(run_dir / LAST, run_dir / PREV)
    except OSError as exc:
        reason = exc.strerror or exc
        raise CheckpointError(f"could not write a checkpoint in {run_dir}: {reason}") from None
    return run_dir / LAST


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """(tensors, info, optimizer metadata) of one checkpoint file; CheckpointError if damaged."""
    try:
        tensors = load_file(str(path))
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))["__metadata__"]
        return tensors, json.loads(header["info"]), json.loads(header["optimizer"])
    except (OSError, SafetensorError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} is damaged or unreadable ({exc})") from None


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
            opt_meta: dict) -> None:
    """Load model, optimiser and torch RNG state from ``read_checkpoint`` output."""
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    optimizer.load_state_dict(_unflatten_optimizer(tensors, opt_meta))
    torch.set_rng_state(tensors["rng.torch"])

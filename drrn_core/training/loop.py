"""The training loop as a generator of events, so the CLI and a GUI worker drive the same code.

``iter_training(spec)`` yields Progress / Validation / Checkpoint / Notice events and ends with
Finished. Pull it to train; stop pulling to pause; ``close()`` it to cancel (a checkpoint is written
first). Under ``torchrun`` it trains with DistributedDataParallel (gloo on CPU, NCCL on CUDA), each
rank drawing its own share of every mini-batch; only rank 0 writes files or validates.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from drrn_core.atomic import atomic_path
from drrn_core.descriptor import ModelDescriptor
from drrn_core.model import DRRN, DRRNConfig
from drrn_core.training import checkpoint as ckpt
from drrn_core.training.data import PatchSampler, TrainingData
from drrn_core.training.recipe import Recipe


@dataclass
class TrainSpec:
    """One training run. ``max_iters`` (absolute iteration) and ``time_budget_s`` (this call's
    seconds of training; time the consumer holds an event, e.g. paused, does not count) stop
    early; the recipe's epochs x iters_per_epoch is the full length."""

    run_dir: Path
    data_dir: Path
    recipe: Recipe
    model: DRRNConfig | None = None
    resume: bool = False
    time_budget_s: float | None = None
    max_iters: int | None = None
    device: str = "auto"
    precision: str | None = None
    val_dir: Path | None = None
    cache_dir: Path | None = None
    checkpoint_every_iters: int | None = None
    log_every: int = 10
    threads: int | None = None


@dataclass
class Progress:
    iteration: int
    total: int
    epoch: int
    loss: float
    lr: float
    patches_per_s: float
    eta_s: float


@dataclass
class Validation:
    iteration: int
    psnr: dict[int, float]
    best: bool


@dataclass
class Checkpoint:
    iteration: int
    path: Path


@dataclass
class Notice:
    message: str


@dataclass
class Finished:
    iteration: int
    reason: str  # "done" | "max_iters" | "time_budget" | "cancelled"
    weights: Path | None
    best_psnr: dict[int, float] = field(default_factory=dict)


TrainEvent = Progress | Validation | Checkpoint | Notice | Finished


def lr_at(recipe: Recipe, iteration: int, horizon: int | None = None) -> float:
    """Learning rate of an iteration: step (x gamma every step_epochs) or warm-up + cosine that
    reaches ``min_lr`` at ``horizon`` (default: the recipe's full length)."""
    if recipe.schedule == "step":
        epoch = iteration // recipe.iters_per_epoch
        return recipe.lr * recipe.gamma ** (epoch // recipe.step_epochs)
    if iteration < recipe.warmup_iters:
        return recipe.lr * (iteration + 1) / recipe.warmup_iters
    span = max(1, (horizon or recipe.total_iters) - recipe.warmup_iters)
    t = min(1.0, (iteration - recipe.warmup_iters) / span)
    return recipe.min_lr + 0.5 * (recipe.lr - recipe.min_lr) * (1 + math.cos(math.pi * t))


def clip_gradients(params: list[nn.Parameter], recipe: Recipe, lr: float) -> None:
    """The recipe's rule: "adjustable" clips every gradient element to [-theta/lr, theta/lr]
    (the paper's adjustable gradient clipping); "norm" limits the global L2 norm to theta."""
    if recipe.clip == "adjustable":
        bound = recipe.theta / lr
        for p in params:
            if p.grad is not None:
                p.grad.clamp_(-bound, bound)
    elif recipe.clip == "norm":
        nn.utils.clip_grad_norm_(params, recipe.theta)


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD (momentum) or Adam; biases get ``bias_lr_mult`` x the rate and no weight decay."""
    weights = [p for n, p in model.named_parameters() if not n.endswith("bias")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    groups = [
        {"params": weights, "lr_mult": 1.0, "weight_decay": recipe.weight_decay},
        {"params": biases, "lr_mult": recipe.bias_lr_mult, "weight_decay": 0.0},
    ]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum)
    return torch.optim.Adam(groups, lr=recipe.lr, betas=recipe.betas)


def loss_fn(recipe: Recipe, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    diff = out.float() - target
    if recipe.loss == "euclidean":  # Caffe EuclideanLoss: sum over pixels / (2 * batch)
        return diff.pow(2).sum() / (2 * out.shape[0])
    return diff.pow(2).mean()


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _resolve(spec: TrainSpec) -> tuple[torch.device, str]:
    from drrn_core.engine.device import resolve_device, resolve_precision

    device = resolve_device(spec.device)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device, resolve_precision(device, spec.precision or spec.recipe.precision)


def default_val_dir() -> Path | None:
    """Set5 from ../shared beside a checkout, if present (validation is skipped otherwise)."""
    candidate = Path(__file__).resolve().parents[3] / "shared" / "data" / "benchmark" / "Set5"
    return candidate if candidate.is_dir() else None


def validate(model: DRRN, val_dir: Path, scales: tuple[int, ...]) -> dict[int, float]:
    """Mean PSNR (the protocol's own code) of the current weights per scale, run through the
    inference engine on a private eval-mode copy, so training state is untouched."""
    from drrn_core.engine import Upscaler
    from drrn_core.metrics.protocol import evaluate_image, list_images

    restorer = Upscaler(model, device=next(model.parameters()).device).restore_y
    files = list_images(val_dir)
    return {s: float(np.mean([evaluate_image(f, s, restorer, with_ifc=False).psnr for f in files]))
            for s in scales}


def save_model_weights(path: Path, model: nn.Module, recipe: Recipe, info: dict) -> Path:
    """The model of a run as bundled-format safetensors with its training metadata."""
    from drrn_core.weights import save_weights

    cfg = model.config
    descriptor = ModelDescriptor.for_config(cfg, scales=tuple(float(s) for s in recipe.scales))
    meta = {"recipe": recipe.to_dict(), "training": info}
    save_weights(path, model, descriptor, meta)
    return path


class _CsvLog:
    FIELDS = ["iteration", "epoch", "loss", "lr", "patches_per_s", "elapsed_s", "val_psnr"]

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(self.FIELDS)

    def write(self, **row) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in self.FIELDS])


class _ActiveClock:
    """Seconds of training, not counting the time the consumer holds an event (a GUI's pause)."""

    def __init__(self) -> None:
        self._start, self._outside = time.monotonic(), 0.0

    def active(self) -> float:
        return time.monotonic() - self._start - self._outside

    @contextmanager
    def handed_out(self) -> Iterator[None]:
        """Wrap a ``yield``: the time until the consumer pulls again is not training time."""
        left = time.monotonic()
        try:
            yield
        finally:
            self._outside += time.monotonic() - left


def iter_training(spec: TrainSpec) -> Iterator[TrainEvent]:
    """Train as ``spec`` says, yielding events; see the module docstring."""
    recipe, max_iters = spec.recipe, spec.max_iters
    if spec.model is not None:
        recipe = recipe.with_overrides(model=spec.model)
    run_dir = Path(spec.run_dir)
    saved = run_dir / "recipe.json"
    if spec.resume and saved.is_file():  # a resumed run keeps its own recipe and length
        stored = json.loads(saved.read_text())
        recipe = Recipe.from_dict(stored["recipe"])
        max_iters = max_iters or stored.get("max_iters")
    elif not spec.resume and (run_dir / ckpt.LAST).exists():
        raise ValueError(f"{run_dir} already holds a run: resume it or choose another folder")
    recipe.validate()
    rank, world = _distributed()
    if spec.threads:
        torch.set_num_threads(spec.threads)
    device, precision = _resolve(spec)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not spec.resume or spec.max_iters is not None:  # a new horizon holds for later resumes
            with atomic_path(saved) as tmp:
                tmp.write_text(json.dumps({"recipe": recipe.to_dict(), "max_iters": max_iters},
                                          indent=1))
    notices: list[str] = []
    data = TrainingData(spec.data_dir, recipe.scales, recipe.patch, spec.cache_dir,
                        warn=notices.append)
    sampler = PatchSampler(data, recipe.batch, recipe.sampling, recipe.stride, recipe.augment,
                           recipe.seed)
    torch.manual_seed(recipe.seed)
    model = DRRN(recipe.model)
    if recipe.zero_init_rec:  # start from the bicubic ILR itself: output = 0 + x
        nn.init.zeros_(model.conv_rec.weight)
    model.to(device)
    optimizer = make_optimizer(model, recipe)
    iteration, elapsed, best = 0, 0.0, {}
    if spec.resume:
        state = ckpt.load_latest(run_dir, warn=notices.append)
        if state is None:
            raise ckpt.CheckpointError(f"nothing to resume: no checkpoint in {run_dir}")
        tensors, info, opt_meta = state
        if DRRNConfig.from_dict(info["model"]) != recipe.model:
            raise ckpt.CheckpointError("the checkpoint's model differs from the requested one")
        ckpt.restore(model, optimizer, tensors, opt_meta)
        model.to(device)
        iteration, elapsed = int(info["iteration"]), float(info["elapsed_s"])
        best = {int(k): v for k, v in info.get("best_psnr", {}).items()}
        notices.append(f"resumed {run_dir} at iteration {iteration}")
    for message in notices if rank == 0 else []:
        yield Notice(message)
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model)
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    val_dir = spec.val_dir or default_val_dir()
    if spec.val_dir is not None and not Path(spec.val_dir).is_dir():
        raise ValueError(f"validation folder not found: {spec.val_dir}")
    log = _CsvLog(run_dir / "log.csv") if rank == 0 else None
    total = recipe.total_iters if max_iters is None else min(max_iters, recipe.total_iters)
    params = list(model.parameters())
    clock, last_ckpt, reason = _ActiveClock(), 0.0, "done"
    run_loss, window_t, window_n = 0.0, 0.0, 0

    def info() -> dict:
        return {"iteration": iteration, "elapsed_s": elapsed + clock.active(),
                "patches_seen": iteration * recipe.batch, "model": recipe.model.to_dict(),
                "recipe": recipe.name, "best_psnr": best, "world_size": world,
                "device": str(device), "precision": precision}

    def checkpoint() -> Path | None:
        if rank != 0:
            return None
        return ckpt.save_checkpoint(run_dir, model, optimizer, info())

    model.train()
    try:
        while iteration < total:
            if spec.time_budget_s is not None and clock.active() >= spec.time_budget_s:
                reason = "time_budget"
                break
            lr = lr_at(recipe, iteration, total)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_mult"]
            xb, yb = sampler.batch(iteration, rank, world)
            x = torch.from_numpy(xb).to(device)
            y = torch.from_numpy(yb).to(device)
            with torch.autocast(device.type, dtype=autocast or torch.float32,
                                enabled=autocast is not None):
                out = net(x)
            loss = loss_fn(recipe, out, y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            clip_gradients(params, recipe, lr)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            iteration += 1
            run_loss = float(loss.detach()) if window_n == 0 and run_loss == 0 else (
                0.9 * run_loss + 0.1 * float(loss.detach()))
            window_n += 1
            if iteration % spec.log_every == 0 or iteration == total:
                now = clock.active()
                rate = window_n * recipe.batch / max(now - window_t, 1e-9)
                window_t, window_n = now, 0
                eta = (total - iteration) * recipe.batch / max(rate, 1e-9)
                if log is not None:
                    log.write(iteration=iteration, epoch=iteration // recipe.iters_per_epoch,
                              loss=f"{run_loss:.6g}", lr=f"{lr:.6g}", patches_per_s=f"{rate:.1f}",
                              elapsed_s=f"{info()['elapsed_s']:.1f}")
                with clock.handed_out():
                    yield Progress(iteration, total, iteration // recipe.iters_per_epoch,
                                   run_loss, lr, rate, eta)
            if rank == 0 and val_dir is not None and iteration % recipe.validate_every == 0:
                psnr = validate(model, val_dir, recipe.val_scales)
                improved = not best or np.mean(list(psnr.values())) > np.mean(list(best.values()))
                if improved:
                    best = psnr
                    save_model_weights(run_dir / "best.safetensors", model, recipe, info())
                if log is not None:
                    log.write(iteration=iteration, val_psnr=" ".join(
                        f"x{s}:{v:.3f}" for s, v in psnr.items()))
                with clock.handed_out():
                    yield Validation(iteration, psnr, improved)
            every = spec.checkpoint_every_iters
            due = (every and iteration % every == 0) or (
                not every and clock.active() - last_ckpt >= recipe.checkpoint_minutes * 60)
            if due:
                last_ckpt = clock.active()
                path = checkpoint()
                if path is not None:
                    with clock.handed_out():
                        yield Checkpoint(iteration, path)
        else:
            reason = "done" if total == recipe.total_iters else "max_iters"
    except (GeneratorExit, KeyboardInterrupt):  # cancelled, Ctrl-C or SIGTERM: keep the work
        checkpoint()
        raise
    path = checkpoint()
    if path is not None:
        yield Checkpoint(iteration, path)
    weights = None
    if rank == 0:
        weights = save_model_weights(run_dir / "last_model.safetensors", model, recipe, info())
    yield Finished(iteration, reason, weights, best)

"""The training loop as a generator of events, so the CLI and a GUI worker drive the same code.

``iter_training(spec)`` yields Progress / Validation / Checkpoint / Notice events and ends with
Finished. Pull it to train; stop pulling to pause; ``close()`` it to cancel (a checkpoint is written
first). Everything a run needs is checked before its folder is touched; a new run that fails
before its first checkpoint leaves nothing behind; a loss that turns NaN/inf stops the run with
TrainingError, keeping the last (finite) checkpoint. Under ``torchrun`` it trains with
DistributedDataParallel (gloo on CPU, NCCL on CUDA), each rank drawing its own share of every
mini-batch; only rank 0 writes files or validates.
"""

from __future__ import annotations

import copy
import gc
import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from drrn_core.atomic import atomic_path
from drrn_core.descriptor import ModelDescriptor
from drrn_core.engine.runner import compile_failed
from drrn_core.errors import UserError
from drrn_core.filesystem import is_disk_full, missing_reason
from drrn_core.model import DRRN, DRRNConfig
from drrn_core.trainer import checkpoint as ckpt
from drrn_core.trainer import runlock
from drrn_core.trainer.data import PatchSampler, TrainingData
from drrn_core.trainer.recipe import Recipe
from drrn_core.trainer.runlog import LOG_NAME, RunLog

if TYPE_CHECKING:
    from drrn_core.trainer.packed import PackedSampler


@dataclass
class TrainSpec:
    """One training run. ``max_iters`` (absolute iteration) and ``time_budget_s`` (this call's
    seconds of training; time the consumer holds an event, e.g. paused, does not count) stop
    early; the recipe's epochs x iters_per_epoch is the full length. ``init_from`` starts a new
    run from the weights of a model file or of another run's checkpoint (the model only);
    ``packed`` trains from a file of ``drrn_core.trainer.packed`` with crops made on the device;
    ``compile`` runs the forward pass and loss through torch.compile (seconds to compile; if that
    fails, one notice and the run goes on eagerly)."""

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
    init_from: Path | None = None
    packed: Path | None = None
    compile: bool = False


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


class TrainingError(UserError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); ``str()`` is one user-facing line."""


def lr_at(recipe: Recipe, iteration: int, horizon: int | None = None) -> float:
    """Learning rate of an iteration: step (x gamma every step_epochs), warm-up + cosine that
    reaches ``min_lr`` at ``horizon`` (default: the recipe's full length), or warm-up + constant."""
    if recipe.schedule == "step":
        epoch = iteration // recipe.iters_per_epoch
        return recipe.lr * recipe.gamma ** (epoch // recipe.step_epochs)
    if iteration < recipe.warmup_iters:
        return recipe.lr * (iteration + 1) / recipe.warmup_iters
    if recipe.schedule == "constant":
        return recipe.lr
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
    if recipe.loss == "l1":
        return diff.abs().mean()
    if recipe.loss == "euclidean":  # Caffe EuclideanLoss: sum over pixels / (2 * batch)
        return diff.pow(2).sum() / (2 * out.shape[0])
    return diff.pow(2).mean()


def is_writer() -> bool:
    """Whether this process writes, prints and cleans up for the run: True except on the other
    ranks of a torchrun job (RANK > 0), which train in step and touch nothing."""
    return int(os.environ.get("RANK", "0")) == 0


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


def save_model_weights(path: Path, model: DRRN, recipe: Recipe, info: dict) -> Path:
    """The model of a run as bundled-format safetensors with its training metadata."""
    from drrn_core.weights import WeightsError, save_weights

    cfg = model.config
    descriptor = ModelDescriptor.for_config(cfg, scales=tuple(float(s) for s in recipe.scales))
    meta = {"recipe": recipe.to_dict(), "training": info}
    try:
        save_weights(path, model, descriptor, meta)
    except WeightsError as exc:
        if is_disk_full(exc):
            raise ckpt.disk_full(path.parent, path.name, exc) from None
        raise
    return path


class _Ema:
    """An exponential moving average of a model's weights, held in a second (eval-mode) model.
    The decay is ramped as min(decay, (1 + t) / (10 + t)) so early averages are not stale."""

    def __init__(self, model: DRRN, decay: float) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, model: nn.Module, iteration: int) -> None:
        d = min(self.decay, (1 + iteration) / (10 + iteration))
        for e, p in zip(self.model.parameters(), model.parameters(), strict=True):
            e.lerp_(p.detach(), 1.0 - d)
        for mean, b in zip(self.model.buffers(), model.buffers(), strict=True):
            mean.copy_(b)


def _initial_weights(source: Path, config: DRRNConfig) -> tuple[dict, dict]:
    """(state dict, lineage) from a model file or a run's checkpoint (its EMA if it kept one).
    Lineage records what the weights had already seen and where, so a model card counts all of
    it."""
    from drrn_core.weights import load_weights

    source = Path(source)
    if source.is_dir():
        tensors, info, _ = ckpt.read_checkpoint(source / ckpt.LAST)
        if DRRNConfig.from_dict(info["model"]) != config:
            raise ckpt.CheckpointError(f"{source}: its model is not {config.name}")
        prefix = "ema." if any(k.startswith("ema.") for k in tensors) else "model."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        lineage = {"from": str(source), "iteration": info["iteration"],
                   "patches_seen": info.get("patches_seen_total", info.get("patches_seen", 0)),
                   "elapsed_s": info.get("elapsed_s_total", info["elapsed_s"]),
                   "hardware": list(info.get("hardware", []))}
        return state, lineage
    loaded = load_weights(source)
    if loaded.descriptor.config != config:
        raise ValueError(f"{source}: the file holds {loaded.descriptor.config.name}, "
                         f"not {config.name}")
    training = loaded.metadata.get("training", {}) if isinstance(loaded.metadata, dict) else {}
    lineage = {"from": source.name, "iteration": training.get("iteration", 0),
               "patches_seen": training.get("patches_seen_total",
                                            training.get("patches_seen", 0)),
               "elapsed_s": training.get("elapsed_s_total", training.get("elapsed_s", 0.0)),
               "hardware": list(training.get("hardware", []))}
    return loaded.model.state_dict(), lineage


def _keep_torch_caches_out_of_tmp() -> None:
    """torch's optimisers import TorchDynamo, which makes its cache folder in TMPDIR on import
    (torchinductor_USER, left behind empty): point it at our user cache folder unless the user
    chose one."""
    from platformdirs import user_cache_dir

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR",
                          str(Path(user_cache_dir("drrn-studio")) / "torchinductor"))


def _hardware(device: torch.device, precision: str, world: int) -> str:
    """Where this part of a run trains, for the model card: e.g. 'Intel(R) Xeon(R) ... x2 cores
    (cpu, bf16)' or 'NVIDIA H200 (cuda, bf16)'; x N processes under torchrun."""
    from drrn_core.engine.device import cpu_name

    what = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{cpu_name()} x{os.cpu_count()} cores")
    return f"{what} ({device.type}, {precision})" + (f" x{world} processes" if world > 1 else "")


def read_run_recipe(saved: Path) -> tuple[Recipe, int | None]:
    """The recipe and horizon a run stored in recipe.json; ValueError (one line) if unusable."""
    try:
        stored = json.loads(saved.read_text())
        recipe = Recipe.from_dict(stored["recipe"])
        recipe.validate()
        return recipe, stored.get("max_iters")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{saved} is damaged or not a run's recipe ({exc})") from None


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


def iter_training(spec: TrainSpec) -> Generator[TrainEvent, None, None]:
    """Train as ``spec`` says, yielding events; see the module docstring. The run folder is
    locked first (runlock: RunBusy when another process trains it); a write that fails because
    the disk is full ends the run with ckpt.DiskFull, which names the checkpoint that stands."""
    run_dir = Path(spec.run_dir)
    lock = runlock.acquire(run_dir, create=not spec.resume) if is_writer() else None
    try:
        yield from _train(spec, run_dir)
    except BaseException as exc:
        unstarted = is_writer() and not spec.resume and not (run_dir / ckpt.LAST).exists()
        if unstarted:
            _remove_unstarted(run_dir, lock)
            lock = None
        if (isinstance(exc, Exception) and not isinstance(exc, ckpt.DiskFull)
                and is_disk_full(exc)):
            raise ckpt.disk_full(run_dir, _written_name(exc), exc) from None
        raise
    finally:
        if lock is not None:
            lock.release()


def _written_name(exc: BaseException) -> str:
    """The name of the file an OSError was writing (an atomic write's temporary file named as
    its target), else "the run's files"."""
    name = getattr(exc, "filename", None)
    if not isinstance(name, str | os.PathLike):
        return "the run's files"
    name = Path(name).name
    part = re.fullmatch(r"\.(.+)\.\d+\.[A-Za-z0-9_]{8}\.part", name)
    return part.group(1) if part else name


def _remove_unstarted(run_dir: Path, lock: runlock.RunLock | None) -> None:
    """Undo what a new run wrote before its first checkpoint: its files, its lock (released) and
    the folders made for it when they are left empty."""
    for name in ("recipe.json", LOG_NAME, "best.safetensors") if run_dir.is_dir() else ():
        (run_dir / name).unlink(missing_ok=True)
    if lock is not None:
        lock.release(remove=True)
        for folder in reversed(lock.created):  # innermost first; only empty ones
            if folder.is_dir() and not any(folder.iterdir()):
                shutil.rmtree(folder, ignore_errors=True)


def _check_spec(spec: TrainSpec, run_dir: Path) -> tuple[Recipe, int | None]:
    """The recipe and iteration limit of the run: a resumed run keeps its own; every option is
    checked before anything is built or written."""
    recipe, max_iters = spec.recipe, spec.max_iters
    if spec.model is not None:
        recipe = recipe.with_overrides(model=spec.model)
    saved = run_dir / "recipe.json"
    if spec.resume:  # a resumed run keeps its own recipe and length
        if not (run_dir / ckpt.LAST).exists() and not (run_dir / ckpt.PREV).exists():
            raise ckpt.CheckpointError(f"nothing to resume: no checkpoint in {run_dir}")
        if saved.is_file():
            recipe, stored_iters = read_run_recipe(saved)
            max_iters = max_iters or stored_iters
    elif (run_dir / ckpt.LAST).exists():
        raise ValueError(f"{run_dir} already holds a run: resume it or choose another folder")
    elif os.path.lexists(run_dir) and not run_dir.is_dir():
        raise ValueError(f"{run_dir} is a file, not a run folder" if run_dir.exists()
                         else f"{run_dir}: {missing_reason(run_dir)}, not a run folder")
    recipe.validate()
    if max_iters is not None and max_iters < 1:
        raise ValueError(f"--iters must be at least 1 (got {max_iters})")
    if spec.time_budget_s is not None and not spec.time_budget_s > 0:
        raise ValueError("the time budget must be positive")
    if spec.threads is not None and spec.threads < 1:
        raise ValueError(f"--threads must be at least 1 (got {spec.threads})")
    if spec.val_dir is not None and not Path(spec.val_dir).is_dir():
        raise ValueError(f"validation folder not found: {spec.val_dir}")
    if spec.init_from is not None and spec.resume:
        raise ValueError("--init-from starts a new run; a resumed run has its own weights")
    return recipe, max_iters


class _Run:
    """One training run's state and its steps. ``_train`` calls them in order: feed_data,
    optimise_step, log, maybe_validate, maybe_checkpoint, and finish (or cancelled). Steps that
    hand events to the consumer are generators; the time the consumer holds an event is not
    training time (``_ActiveClock``)."""

    def __init__(self, spec: TrainSpec, run_dir: Path) -> None:
        recipe, max_iters = _check_spec(spec, run_dir)
        self.spec, self.run_dir, self.recipe = spec, run_dir, recipe
        self.rank, self.world = _distributed()
        if spec.threads:
            torch.set_num_threads(spec.threads)
        device, precision = self.device, self.precision = _resolve(spec)
        self.notices: list[str] = []
        self.sampler = self._make_sampler()
        torch.manual_seed(recipe.seed)
        model = self.model = DRRN(recipe.model)
        if recipe.zero_init_rec:  # start from the bicubic ILR itself: output = 0 + x
            nn.init.zeros_(model.conv_rec.weight)
        self.lineage: dict = {}
        if spec.init_from is not None:
            state, self.lineage = _initial_weights(spec.init_from, recipe.model)
            model.load_state_dict(state)
            self.notices.append(f"started from the weights of {self.lineage['from']} "
                                f"({self.lineage['patches_seen']:,} patches seen before)")
        model.to(device)
        _keep_torch_caches_out_of_tmp()
        # NHWC on every device: tensor cores on CUDA; on CPUs much faster in bf16 and within 2 %
        # of NCHW or faster in fp32 (benchmarks/README.md, bench_training.py --variants)
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # not in stubs
        self.optimizer = make_optimizer(model, recipe)
        self.ema = _Ema(model, recipe.ema_decay) if recipe.ema_decay > 0 else None
        self.iteration, self.elapsed, self.run_loss = 0, 0.0, 0.0
        self.best: dict[int, float] = {}
        # where the weights trained before
        self.hardware: list[str] = list(self.lineage.get("hardware", []))
        if spec.resume:
            self._restore()
        if self.rank == 0:  # everything checked: now the run folder may be written
            run_dir.mkdir(parents=True, exist_ok=True)
            if not spec.resume or spec.max_iters is not None:  # a new horizon holds for resumes
                with atomic_path(run_dir / "recipe.json") as tmp:
                    tmp.write_text(json.dumps({"recipe": recipe.to_dict(),
                                               "max_iters": max_iters}, indent=1))
        self.runlog = (RunLog(run_dir, self.iteration if spec.resume else None,
                              warn=self.notices.append) if self.rank == 0 else None)
        self.net: nn.Module = model
        if self.world > 1:
            self.net = nn.parallel.DistributedDataParallel(model)
        self.autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
        self.compiled = torch.compile(self._forward_loss) if spec.compile else None
        self.compile_proven = False  # one compiled step has run: later failures are not its
        self.val_dir = spec.val_dir or default_val_dir()
        self.total = recipe.total_iters if max_iters is None \
            else min(max_iters, recipe.total_iters)
        self.params = list(model.parameters())
        self.clock, self.last_ckpt = _ActiveClock(), 0.0  # started again by started()
        self.window_t, self.window_n = 0.0, 0
        here = _hardware(device, precision, self.world)
        self.hardware = self.hardware if here in self.hardware else [*self.hardware, here]
        # what validation measures and exports
        self.shipped = self.ema.model if self.ema is not None else model

    def _make_sampler(self) -> PatchSampler | PackedSampler:
        spec, recipe = self.spec, self.recipe
        if spec.packed is not None:
            from drrn_core.trainer.packed import PackedSampler

            return PackedSampler(spec.packed, recipe, self.device, warn=self.notices.append)
        data = TrainingData(spec.data_dir, recipe.scales, recipe.patch, spec.cache_dir,
                            warn=self.notices.append)
        return PatchSampler(data, recipe.batch, recipe.sampling, recipe.stride,
                            recipe.augment, recipe.seed)

    def _restore(self) -> None:
        """Model, optimiser, EMA and counters from the run's latest good checkpoint."""
        run_dir, ema = self.run_dir, self.ema
        state = ckpt.load_latest(run_dir, warn=self.notices.append)
        if state is None:
            raise ckpt.CheckpointError(f"nothing to resume: no checkpoint in {run_dir}")
        tensors, info, opt_meta = state
        if DRRNConfig.from_dict(info["model"]) != self.recipe.model:
            raise ckpt.CheckpointError("the checkpoint's model differs from the requested one")
        ckpt.restore(self.model, self.optimizer, tensors, opt_meta, ema.model if ema else None)
        self.model.to(self.device)
        if ema is not None:
            ema.model.to(self.device)
        self.iteration, self.elapsed = int(info["iteration"]), float(info["elapsed_s"])
        self.best = {int(k): v for k, v in info.get("best_psnr", {}).items()}
        self.run_loss = float(info.get("smoothed_loss", 0.0))
        self.lineage = info.get("lineage", {})
        self.hardware = list(info.get("hardware", []))
        self.notices.append(f"resumed {run_dir} at iteration {self.iteration}")

    # -- what the loop calls ----------------------------------------------------------------

    def started(self) -> Iterator[TrainEvent]:
        """The notices gathered while setting up (rank 0 only); then the model trains."""
        for message in self.notices if self.rank == 0 else []:
            yield Notice(message)
        self.clock = _ActiveClock()
        self.model.train()

    def out_of_time(self) -> bool:
        return self.spec.time_budget_s is not None and \
            self.clock.active() >= self.spec.time_budget_s

    def feed_data(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        """This iteration's learning rate set on the optimiser, and its mini-batch (this rank's
        share) on the device: (x, y, lr)."""
        lr = lr_at(self.recipe, self.iteration, self.total)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_mult"]
        xb, yb = self.sampler.batch(self.iteration, self.rank, self.world)
        x = (xb if torch.is_tensor(xb) else torch.from_numpy(xb).to(self.device)).contiguous(
            memory_format=torch.channels_last)
        y = yb if torch.is_tensor(yb) else torch.from_numpy(yb).to(self.device)
        return x, y, lr

    def _forward_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=self.autocast or torch.float32,
                            enabled=self.autocast is not None):
            out = self.net(x)
        return loss_fn(self.recipe, out, y)

    def _forward_backward(self, fn: Callable, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = fn(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()
        return loss

    def optimise_step(self, x: torch.Tensor, y: torch.Tensor,
                      lr: float) -> Iterator[TrainEvent]:
        """Forward, backward, gradient clipping and the optimiser step; then the EMA and the
        smoothed loss. A torch.compile failure on the first compiled step is one notice and the
        step runs eagerly (as every later one); a non-finite loss stops the run."""
        compiled = self.compiled
        try:
            loss = self._forward_backward(self._forward_loss if compiled is None else compiled,
                                          x, y)
            self.compile_proven = compiled is not None
        except (torch.OutOfMemoryError, MemoryError):
            raise
        except Exception as e:  # torch.compile failed (no C++ compiler...): eagerly from now
            if compiled is None or self.compile_proven:
                raise
            self.compiled = None
            with self.clock.handed_out():
                yield Notice(compile_failed(e))
            loss = self._forward_backward(self._forward_loss, x, y)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingError(
                f"the loss became {value} at iteration {self.iteration + 1}; training stopped "
                "and the last checkpoint was kept (try a lower learning rate)")
        scaler = self.scaler
        if scaler is not None:
            scaler.unscale_(self.optimizer)
        clip_gradients(self.params, self.recipe, lr)
        if scaler is not None:
            scaler.step(self.optimizer)
            scaler.update()
        else:
            self.optimizer.step()
        self.iteration += 1
        if self.ema is not None:
            self.ema.update(self.model, self.iteration)
        self.run_loss = value if self.run_loss == 0 else 0.9 * self.run_loss + 0.1 * value
        self.window_n += 1

    def log(self, lr: float) -> Iterator[TrainEvent]:
        """Every ``log_every`` iterations and at the last: a log.csv row and a Progress event."""
        iteration, recipe, spec = self.iteration, self.recipe, self.spec
        if not (iteration % spec.log_every == 0 or iteration == self.total):
            return
        now = self.clock.active()
        rate = self.window_n * recipe.batch / max(now - self.window_t, 1e-9)
        self.window_t, self.window_n = now, 0
        eta = (self.total - iteration) * recipe.batch / max(rate, 1e-9)
        if spec.time_budget_s is not None:
            eta = min(eta, max(0.0, spec.time_budget_s - now))
        if self.runlog is not None:
            self.runlog.write(iteration=iteration, epoch=iteration // recipe.iters_per_epoch,
                              loss=f"{self.run_loss:.6g}", lr=f"{lr:.6g}",
                              patches_per_s=f"{rate:.1f}",
                              elapsed_s=f"{self.info()['elapsed_s']:.1f}")
        with self.clock.handed_out():
            yield Progress(iteration, self.total, iteration // recipe.iters_per_epoch,
                           self.run_loss, lr, rate, eta)

    def maybe_validate(self) -> Iterator[TrainEvent]:
        """Every ``validate_every`` iterations on rank 0 (with a validation folder): PSNR of the
        shipped weights; an improvement is saved as best.safetensors."""
        if not (self.rank == 0 and self.val_dir is not None
                and self.iteration % self.recipe.validate_every == 0):
            return
        psnr = validate(self.shipped, self.val_dir, self.recipe.val_scales)
        best = self.best
        improved = not best or np.mean(list(psnr.values())) > np.mean(list(best.values()))
        if improved:
            self.best = psnr
            save_model_weights(self.run_dir / "best.safetensors", self.shipped, self.recipe,
                               self.info())
        if self.runlog is not None:
            self.runlog.write_validation(self.iteration, psnr)
        with self.clock.handed_out():
            yield Validation(self.iteration, psnr, improved)

    def maybe_checkpoint(self) -> Iterator[TrainEvent]:
        """A checkpoint every ``checkpoint_every_iters`` iterations, else every
        ``checkpoint_minutes`` of training time."""
        every = self.spec.checkpoint_every_iters
        due = (every and self.iteration % every == 0) or (
            not every and self.clock.active() - self.last_ckpt >=
            self.recipe.checkpoint_minutes * 60)
        if not due:
            return
        self.last_ckpt = self.clock.active()
        path = self.checkpoint()
        if path is not None:
            with self.clock.handed_out():
                yield Checkpoint(self.iteration, path)

    def cancelled(self) -> None:
        """Cancelled, Ctrl-C or SIGTERM: keep the work done (a checkpoint), free DDP."""
        if self.iteration > 0 or self.spec.resume:
            self.checkpoint()
        self.release_ddp()

    def finish(self, reason: str) -> Iterator[TrainEvent]:
        """The last checkpoint and last_model.safetensors; then Finished."""
        path = self.checkpoint()
        if path is not None:
            yield Checkpoint(self.iteration, path)
        weights = None
        if self.rank == 0:
            weights = save_model_weights(self.run_dir / "last_model.safetensors", self.shipped,
                                         self.recipe, self.info())
        if self.world > 1:  # no rank leaves (tearing down its process group) while rank 0 writes
            dist.barrier()
        self.release_ddp()
        yield Finished(self.iteration, reason, weights, self.best)

    # -- helpers ----------------------------------------------------------------------------

    def info(self) -> dict:
        """The run's counters and provenance, as checkpoints and weights metadata keep them."""
        recipe, lineage, iteration = self.recipe, self.lineage, self.iteration
        now = self.elapsed + self.clock.active()
        return {"iteration": iteration, "elapsed_s": now,
                "patches_seen": iteration * recipe.batch,
                "patches_seen_total": lineage.get("patches_seen", 0) + iteration * recipe.batch,
                "elapsed_s_total": lineage.get("elapsed_s", 0.0) + now,
                "lineage": lineage, "model": recipe.model.to_dict(), "recipe": recipe.name,
                "best_psnr": self.best, "world_size": self.world, "device": str(self.device),
                "precision": self.precision, "smoothed_loss": self.run_loss,
                "ema": self.ema is not None, "hardware": self.hardware}

    def checkpoint(self) -> Path | None:
        if self.rank != 0:
            return None
        return ckpt.save_checkpoint(self.run_dir, self.model, self.optimizer, self.info(),
                                    self.ema.model if self.ema else None)

    def release_ddp(self) -> None:
        """Free the DDP wrapper while the process group lives. Its reducer sits in reference
        cycles: freed by a later garbage collection, after the caller destroyed the group, it
        can abort a rank at exit (SIGABRT)."""
        if self.world > 1 and hasattr(self, "net"):
            del self.net
            gc.collect()


def _train(spec: TrainSpec, run_dir: Path) -> Iterator[TrainEvent]:
    run = _Run(spec, run_dir)
    yield from run.started()
    reason = "done"
    try:
        while run.iteration < run.total:
            if run.out_of_time():
                reason = "time_budget"
                break
            x, y, lr = run.feed_data()
            yield from run.optimise_step(x, y, lr)
            yield from run.log(lr)
            yield from run.maybe_validate()
            yield from run.maybe_checkpoint()
        else:
            reason = "done" if run.total == run.recipe.total_iters else "max_iters"
    except (GeneratorExit, KeyboardInterrupt):  # cancelled, Ctrl-C or SIGTERM: keep the work
        run.cancelled()
        raise
    yield from run.finish(reason)

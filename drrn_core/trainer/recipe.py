"""Training recipes: small TOML files under ``training/`` (``paper``, ``fast``) or any path."""

from __future__ import annotations

import math
import sys
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from drrn_core.limits import TRAIN_MAX_SCALE, architecture_problem
from drrn_core.model import DRRNConfig

MAX_PATCH, MAX_BATCH = 512, 65536  # beyond these a recipe is a typo, not a plan
MAX_SCALE = TRAIN_MAX_SCALE


@dataclass(frozen=True)
class Recipe:
    """Everything that defines a training run except the data folder and the budget.

    Learning rates are per iteration; ``batch`` is the global mini-batch (split across ranks);
    ``patch`` is the side of the square (ILR, HR) patches in pixels; ``zero_init_rec`` starts the
    reconstruction conv at zero, so an untrained model returns the bicubic ILR. ``ema_decay`` > 0
    keeps an exponential moving average of the weights (per iteration), which is what validation
    measures and what the run exports; the "constant" schedule (warm-up, then ``lr`` for ever) has
    no horizon, so a run can be continued indefinitely.
    """

    name: str
    model: DRRNConfig
    description: str = ""
    scales: tuple[float, ...] = (2.0, 3.0, 4.0)
    patch: int = 31
    stride: int = 21
    sampling: str = "grid"  # "grid" (paper) | "random"
    augment: bool = True
    optimizer: str = "sgd"  # "sgd" | "adam"
    lr: float = 0.1
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-4
    bias_lr_mult: float = 0.1
    loss: str = "euclidean"  # "euclidean" (Caffe: sum / 2N) | "mse" | "l1"
    clip: str = "adjustable"  # "adjustable" | "norm" | "none"
    theta: float = 0.01
    schedule: str = "step"  # "step" | "cosine" | "constant"
    step_epochs: int = 10
    gamma: float = 0.5
    warmup_iters: int = 0
    min_lr: float = 0.0
    ema_decay: float = 0.0
    batch: int = 128
    iters_per_epoch: int = 6536
    epochs: int = 101
    precision: str = "auto"
    checkpoint_minutes: float = 10.0
    validate_every: int = 6536
    val_scales: tuple[int, ...] = (2, 3, 4)
    seed: int = 0
    zero_init_rec: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def total_iters(self) -> int:
        return self.iters_per_epoch * self.epochs

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["model"] = DRRNConfig.from_dict(d["model"])
        for key in ("scales", "val_scales", "betas"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)

    def with_overrides(self, **kw) -> Recipe:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    def validate(self) -> None:
        """Raise ValueError with a user-facing message for inconsistent settings."""
        finite = all(math.isfinite(v) for v in (self.lr, self.min_lr, self.momentum, self.theta,
                                                 self.weight_decay, self.gamma, *self.betas))
        checks = [
            (finite, "lr, min_lr, momentum, betas, theta, weight_decay and gamma must be finite"),
            (self.sampling in ("grid", "random"), f"sampling must be grid/random: {self.sampling}"),
            (self.optimizer in ("sgd", "adam"), f"optimizer must be sgd/adam: {self.optimizer}"),
            (self.loss in ("euclidean", "mse", "l1"),
             f"loss must be euclidean, mse or l1: {self.loss}"),
            (self.clip in ("adjustable", "norm", "none"), f"unknown clip rule: {self.clip}"),
            (self.schedule in ("step", "cosine", "constant"),
             f"schedule must be step/cosine/constant: {self.schedule}"),
            (3 <= self.patch <= MAX_PATCH and self.stride >= 1,
             f"patch must be 3..{MAX_PATCH} and stride >= 1"),
            (1 <= self.batch <= MAX_BATCH, f"batch must be 1..{MAX_BATCH}"),
            (self.iters_per_epoch >= 1 and self.epochs >= 1,
             "iters_per_epoch and epochs must be >= 1"),
            (self.scales and all(1 < s <= MAX_SCALE for s in self.scales),
             f"training scales must be in (1, {MAX_SCALE}]: {self.scales}"),
            (self.lr > 0 and self.min_lr >= 0, "lr must be positive and min_lr not negative"),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1): {self.ema_decay}"),
            (self.warmup_iters >= 0 and self.validate_every >= 1 and self.checkpoint_minutes > 0,
             "warmup_iters >= 0, validate_every >= 1 and checkpoint_minutes > 0 are required"),
            (self.val_scales and all(2 <= s <= MAX_SCALE for s in self.val_scales),
             f"val_scales must be integers in 2..{MAX_SCALE}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        problem = architecture_problem(self.model.to_dict())  # the bounds of a weights header
        if problem:
            raise ValueError(f"model {problem}")


_SECTIONS = ("data", "optim", "schedule", "run")
_RENAMES = {"kind": "schedule"}


def recipes_dir() -> Path:
    """The folder holding the named recipes: ``training/`` in a frozen bundle, the installed
    wheel's package data (``drrn_core/_data/training``) or the checkout."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "training"
    from drrn_core.packaging.data import packaged_data

    return packaged_data("training") or Path(__file__).resolve().parents[2] / "training"


def parse_recipe(text: str, source: str = "<recipe>") -> Recipe:
    """Parse TOML text into a validated Recipe; errors name the source."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML ({exc})") from None
    flat: dict = {"name": doc.get("name", Path(source).stem),
                  "description": doc.get("description", "")}
    for section in _SECTIONS:
        for key, value in doc.get(section, {}).items():
            flat[_RENAMES.get(key, key)] = value
    try:
        flat["model"] = DRRNConfig(**doc.get("model", {}))
        recipe = Recipe.from_dict({**flat, "model": flat["model"].to_dict()})
        recipe.validate()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from None
    return recipe


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A named recipe (``paper``, ``fast``) from ``training/`` or a TOML file path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = recipes_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            names = sorted(p.stem for p in recipes_dir().glob("*.toml"))
            raise ValueError(f"unknown recipe {name_or_path!r}; available: {', '.join(names)}")
    if not path.is_file():
        raise ValueError(f"recipe file not found: {path}")
    return parse_recipe(path.read_text(encoding="utf-8"), str(path))

"""What a model is, in one typed record that the engine, CLI and GUI read instead of guessing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from drrn_core.model import DRRNConfig

PRECISIONS = ("fp32", "bf16", "fp16")
"""The numeric formats a weights file may declare its model runs in. "fp32" covers every fp32
path of the engine (exact fp32, fp32-fast: NNPACK Winograd, ncnn fp32); every model declares it,
the reference the other precisions are measured against."""
Y_COLOUR_SPACE = "Y (BT.601, MATLAB rgb2ycbcr), in [0, 1]"
"""The one colour space the engine feeds a model: luma, as the protocol computes it."""
MAX_MIN_SIZE = 1 << 16
"""Largest ``min_size`` a weights file may declare (px a side)."""


def base_precision(precision: str) -> str:
    """The declared precision an engine precision runs in: "fp32-fast" -> "fp32"."""
    return precision.split("-", 1)[0]


@dataclass(frozen=True)
class ModelDescriptor:
    """A DRRN model as callers see it.

    ``receptive_radius`` is the number of pixels one output pixel sees on each side (= depth): a
    tile margin at least this wide makes tiled inference equal to untiled inference.
    ``scales`` lists the factors it was trained for; it runs at any scale > 1 (input is the ILR).
    ``precisions``: what the engine may run it in (PRECISIONS; fp32 always). ``in_channels`` and
    ``colour_space``: what it takes, 1 and Y for every model the engine runs (a weights file
    declaring anything else is refused at load: ``problem``). ``min_size``: the smallest input
    side (px) it accepts; the Upscaler refuses smaller images before any work.
    """

    name: str
    config: DRRNConfig
    scales: tuple[float, ...] = (2.0, 3.0, 4.0)
    precisions: tuple[str, ...] = PRECISIONS
    in_channels: int = 1
    colour_space: str = Y_COLOUR_SPACE
    min_size: int = 1
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def depth(self) -> int:
        return self.config.depth

    @property
    def receptive_radius(self) -> int:
        return self.config.depth

    @property
    def receptive_field(self) -> int:
        return 2 * self.config.depth + 1

    def problem(self) -> str | None:
        """One line saying why the engine cannot run a model so declared, or None."""
        if (not isinstance(self.precisions, tuple) or not self.precisions
                or not all(isinstance(p, str) for p in self.precisions)):
            return "its descriptor's precisions are not a list of names"
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown:
            return (f"it declares the precision {unknown[0][:20]!r}; known: "
                    f"{', '.join(PRECISIONS)}")
        if "fp32" not in self.precisions:
            return "its declared precisions lack fp32, which every model must run in"
        if type(self.in_channels) is not int or self.in_channels != 1:
            return (f"the model takes {str(self.in_channels)[:20]} input channels; this engine "
                    "runs DRRN on the Y (luma) channel only, 1 channel")
        if not isinstance(self.colour_space, str) or self.colour_space.split(" ", 1)[0] != "Y":
            return (f"the model works in the colour space {str(self.colour_space)[:40]!r}; this "
                    "engine feeds it Y (luma, BT.601) only")
        if type(self.min_size) is not int or not 1 <= self.min_size <= MAX_MIN_SIZE:
            return (f"its declared minimum size {str(self.min_size)[:20]} is not a whole number "
                    f"of pixels in 1..{MAX_MIN_SIZE}")
        return None

    def allows(self, precision: str) -> bool:
        """Whether the engine precision ``precision`` ("fp32", "fp32-fast", "bf16", "fp16")
        runs in one of the declared ones."""
        return base_precision(precision) in self.precisions

    def offered(self, precisions: Iterable[str]) -> tuple[str, ...]:
        """``precisions`` (an engine's choices, e.g. engine.device.PRECISIONS) that this model
        allows, in their order."""
        return tuple(p for p in precisions if self.allows(p))

    def size_problem(self, width: int, height: int) -> str | None:
        """One line when an input of ``width`` x ``height`` px is under ``min_size``, else
        None."""
        if min(width, height) >= self.min_size:
            return None
        return (f"the image is {width}x{height} px; {self.name} needs at least "
                f"{self.min_size} px a side")

    def summary(self) -> str:
        c = self.config
        flags = ", ".join(
            f for f, on in (
                ("BN", c.batchnorm), ("bias", c.bias), ("no sharing", not c.share),
                ("chain", c.chain),
            ) if on
        )
        scales = "/".join(f"x{s:g}" for s in self.scales)
        minimum = f", inputs of at least {self.min_size} px a side" if self.min_size > 1 else ""
        return (
            f"{self.name}: B={c.B} U={c.U} C={c.channels} depth={self.depth} ({flags or 'plain'}), "
            f"receptive field {self.receptive_field}px, trained for {scales}; "
            f"precisions {', '.join(self.precisions)}{minimum}"
        )

    @classmethod
    def for_config(cls, config: DRRNConfig, name: str | None = None, **kw) -> ModelDescriptor:
        return cls(name=name or config.name, config=config, **kw)

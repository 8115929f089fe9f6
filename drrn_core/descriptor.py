"""What a model is, in one typed record that the engine, CLI and GUI read instead of guessing."""

from __future__ import annotations

from dataclasses import dataclass, field

from drrn_core.model import DRRNConfig

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class ModelDescriptor:
    """A DRRN model as callers see it.

    ``receptive_radius`` is the number of pixels one output pixel sees on each side (= depth): a
    tile margin at least this wide makes tiled inference equal to untiled inference.
    ``scales`` lists the factors it was trained for; it runs at any scale > 1 (input is the ILR).
    """

    name: str
    config: DRRNConfig
    scales: tuple[float, ...] = (2.0, 3.0, 4.0)
    precisions: tuple[str, ...] = PRECISIONS
    in_channels: int = 1
    colour_space: str = "Y (BT.601, MATLAB rgb2ycbcr), in [0, 1]"
    min_size: int = 1
    trained: bool = True
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

    def summary(self) -> str:
        c = self.config
        flags = ", ".join(
            f for f, on in (
                ("BN", c.batchnorm), ("bias", c.bias), ("no sharing", not c.share),
                ("chain", c.chain),
            ) if on
        )
        scales = "/".join(f"x{s:g}" for s in self.scales)
        return (
            f"{self.name}: B={c.B} U={c.U} C={c.channels} depth={self.depth} ({flags or 'plain'}), "
            f"receptive field {self.receptive_field}px, trained for {scales}"
        )

    @classmethod
    def for_config(cls, config: DRRNConfig, name: str | None = None, **kw) -> ModelDescriptor:
        return cls(name=name or config.name, config=config, **kw)

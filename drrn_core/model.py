"""The DRRN network (Tai, Yang, Liu, CVPR 2017) and its VDSR special case (U = 0).

Input and output are NCHW float tensors holding the Y channel in [0, 1] at output size: the input
is the bicubic-upscaled low-resolution image (ILR), the output ``f_rec(x_B) + x``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DRRNConfig:
    """Architecture hyper-parameters.

    B: recursive blocks; U: residual units per block (0 gives VDSR); channels: feature maps;
    batchnorm: per-unit BatchNorm + scale/shift before every ReLU (the authors' Caffe release);
    bias: convolution biases; share: conv weights shared by the units of a block (False = the
    "NS" ablation); chain: identity branch from the previous unit instead of H0 (the "C" ablation).
    """

    B: int = 1
    U: int = 9
    channels: int = 128
    batchnorm: bool = False
    bias: bool = True
    share: bool = True
    chain: bool = False

    def __post_init__(self) -> None:
        if self.B < 1 or self.U < 0 or self.channels < 1:
            raise ValueError(f"invalid DRRN size B={self.B} U={self.U} channels={self.channels}")

    @property
    def depth(self) -> int:
        """Number of convolution layers, (1 + 2U) B + 1."""
        return (1 + 2 * self.U) * self.B + 1

    @property
    def macs_per_pixel(self) -> int:
        """Multiply-accumulates per output pixel of one forward pass (shared convs count once per
        use): 2,656,512 for B1U9 with 128 channels."""
        c = self.channels
        first = 1 * c + (self.B - 1) * c * c
        return 9 * (first + self.B * self.U * 2 * c * c + c * 1)

    @property
    def name(self) -> str:
        return f"DRRN_B{self.B}U{self.U}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DRRNConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @classmethod
    def parse(cls, text: str, **overrides) -> DRRNConfig:
        """'B1U9' or 'DRRN_B1U9' (case-insensitive) -> config; keyword overrides win."""
        t = text.upper().removeprefix("DRRN_").removeprefix("DRRN")
        if not (t.startswith("B") and "U" in t):
            raise ValueError(f"model name must look like B1U9, got {text!r}")
        b, u = t[1:].split("U", 1)
        return cls(B=int(b), U=int(u), **overrides)


def _conv(cin: int, cout: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias)


class PreAct(nn.Sequential):
    """[BatchNorm (affine = Caffe's Scale layer)] then ReLU: what precedes every convolution."""

    def __init__(self, channels: int, batchnorm: bool) -> None:
        layers: list[nn.Module] = [nn.BatchNorm2d(channels)] if batchnorm else []
        super().__init__(*layers, nn.ReLU(inplace=False))


class RecursiveBlock(nn.Module):
    """One recursive block: H0 = conv_in(act(x)); H_u = F(H_{u-1}) + H0 for u = 1..U."""

    def __init__(self, cin: int, cfg: DRRNConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.chain = cfg.chain
        self.act_in = PreAct(cin, cfg.batchnorm)
        self.conv_in = _conv(cin, c, cfg.bias)
        n_pairs = 1 if cfg.share else cfg.U
        self.conv1 = nn.ModuleList(_conv(c, c, cfg.bias) for _ in range(n_pairs if cfg.U else 0))
        self.conv2 = nn.ModuleList(_conv(c, c, cfg.bias) for _ in range(n_pairs if cfg.U else 0))
        # Per-unit pre-activations: BatchNorm statistics are never shared across units.
        self.act1 = nn.ModuleList(PreAct(c, cfg.batchnorm) for _ in range(cfg.U))
        self.act2 = nn.ModuleList(PreAct(c, cfg.batchnorm) for _ in range(cfg.U))

    def forward(self, x: torch.Tensor, check: Callable[[], None] | None = None) -> torch.Tensor:
        """``check()`` (optional) runs after every unit: it may raise to abandon the pass."""
        h0 = self.conv_in(self.act_in(x))
        h = h0
        for u in range(len(self.act1)):
            if check is not None:
                check()
            k = u if len(self.conv1) > 1 else 0
            t = self.conv2[k](self.act2[u](self.conv1[k](self.act1[u](h))))
            h = t + (h if self.chain else h0)
        return h


class DRRN(nn.Module):
    """DRRN: B recursive blocks, a reconstruction conv, and the global residual ``+ x``."""

    def __init__(self, config: DRRNConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = config or DRRNConfig(**kwargs)
        cfg = self.config
        self.blocks = nn.ModuleList(
            RecursiveBlock(1 if b == 0 else cfg.channels, cfg) for b in range(cfg.B)
        )
        self.act_rec = PreAct(cfg.channels, cfg.batchnorm)
        self.conv_rec = _conv(cfg.channels, 1, cfg.bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He (MSRA, fan-in) initialisation as in the authors' release; zero biases. Nothing on
        the meta device (shapes only: its random init would import torch._dynamo, ~1.7 s)."""
        if self.conv_rec.weight.is_meta:
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_in))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, check: Callable[[], None] | None = None) -> torch.Tensor:
        """``check()`` (optional) runs between recursive units and before the reconstruction:
        a caller's cancel flag raises there, so a long tile stops within one unit's time."""
        h = x
        for block in self.blocks:
            h = block(h, check)
        if check is not None:
            check()
        return self.conv_rec(self.act_rec(h)) + x


def conv_weight_count(model: nn.Module) -> int:
    """Convolution weights only (no biases, no BatchNorm), as the paper counts parameters."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))

"""The models a tab can offer: the protocol's bicubic baseline plus the registry's bundled and user
models (drrn_core.weights). Upscalers come from app.pipeline.upscaler_for (cached, tiled)."""

from __future__ import annotations

from dataclasses import dataclass

from drrn_core.metrics.protocol import BICUBIC


@dataclass(frozen=True)
class ModelChoice:
    """One entry of a model list: what to show, what drrn_core resolves, where it comes from."""

    label: str
    name: str
    source: str = ""

    @property
    def is_bicubic(self) -> bool:
        return self.name == BICUBIC


def model_choices(*, with_bicubic: bool = True) -> list[ModelChoice]:
    """Bicubic first, then the registry's models (bundled, then user) as drrn_core lists them."""
    from drrn_core import weights

    choices = [ModelChoice("Bicubic", BICUBIC, "protocol baseline")] if with_bicubic else []
    for entry in weights.list_models():
        choices.append(ModelChoice(entry.name, entry.name, entry.source))
    return choices


def default_model() -> str:
    """The registry's default model name, else bicubic."""
    from drrn_core import weights

    return weights.default_model_name() or BICUBIC

"""The models a tab can offer: the protocol's bicubic baseline plus the registry's bundled and user
models (drrn_core.weights), and :class:`ModelRegistry`, the window's one model list whose
``modelsChanged`` every tab follows. Upscalers come from app.services.upscalers.upscaler_for
(cached,
tiled)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from drrn_core.metrics.protocol import BICUBIC

log = logging.getLogger("drrn-studio.models")


@dataclass(frozen=True)
class ModelChoice:
    """One entry of a model list: what to show, what drrn_core resolves, where it comes from."""

    label: str
    name: str
    source: str = ""
    precisions: tuple[str, ...] = ()  # the engine's precisions it runs in; () for bicubic

    @property
    def is_bicubic(self) -> bool:
        return self.name == BICUBIC


def model_choices(*, with_bicubic: bool = True) -> list[ModelChoice]:
    """Bicubic first, then the registry's models (bundled, then user) as drrn_core lists them."""
    from drrn_core import weights

    choices = [ModelChoice("Bicubic", BICUBIC, "protocol baseline")] if with_bicubic else []
    return choices + [_choice(entry) for entry in weights.list_models()]


def _choice(entry) -> ModelChoice:
    """A registry entry (drrn_core.weights.ModelEntry) as a list offers it."""
    from drrn_core.engine.device import PRECISIONS

    return ModelChoice(entry.name, entry.name, entry.source, entry.descriptor.offered(PRECISIONS))


def default_model() -> str:
    """The registry's default model name, else bicubic."""
    from drrn_core import weights

    return weights.default_model_name() or BICUBIC


class ModelRegistry(QObject):
    """The app's one model list (drrn_core.weights' bundled and user models). Every model list
    in the window follows ``modelsChanged``, emitted once per :meth:`refresh` (after importing
    weights, after a training run exported some, ...); cached upscalers are dropped then, since a
    file of the same name may have been replaced."""

    modelsChanged = Signal()  # noqa: N815 (Qt signal naming)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: list = []
        self.default: str | None = None
        self.problem = ""

    def refresh(self) -> None:
        """Re-read the models and tell every list. A broken model folder leaves the list empty
        and ``problem`` set to one line; it never raises."""
        from app.services import upscalers
        from app.workers import describe_error
        from drrn_core import weights

        try:
            self.entries = list(weights.list_models())
            self.default = weights.default_model_name()
            self.problem = ""
        except Exception as exc:  # noqa: BLE001 - a broken model folder must not stop the app
            log.exception("listing models failed")
            self.entries, self.default = [], None
            self.problem = f"Could not list models: {describe_error(exc)}"
        upscalers.forget_models()
        self.modelsChanged.emit()

    def choices(self, *, with_bicubic: bool = True) -> list[ModelChoice]:
        """Bicubic first (unless not wanted), then the models as last read."""
        first = [ModelChoice("Bicubic", BICUBIC, "protocol baseline")] if with_bicubic else []
        return first + [_choice(e) for e in self.entries]

    def name_of(self, path: str | Path) -> str:
        """The listed name of a weights file (its stem when it is not listed)."""
        return next((e.name for e in self.entries
                     if str(getattr(e, "path", "")) == str(path)), Path(path).stem)

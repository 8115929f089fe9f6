"""The About box: version, runtime, where logs and models live, each model's card, and the
licences (DRRN Studio's MIT licence and the third-party notices of what it ships)."""

from __future__ import annotations

import platform
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.services.logging_setup import default_log_dir
from drrn_core.weights import bundled_dir

CARDS = bundled_dir()


def model_card(entry: object) -> str:
    """The Markdown card of a model, shown as it is written: ``<weights>.md`` beside it, else
    resources/weights/NAME.md, else a summary from its descriptor (when available)."""
    path = getattr(entry, "path", None)
    name = getattr(entry, "name", str(entry))
    for candidate in ([Path(path).with_suffix(".md")] if path else []) + [CARDS / f"{name}.md"]:
        if candidate.is_file():
            try:
                return candidate.read_text(encoding="utf-8")
            except OSError:
                break
    descriptor = getattr(entry, "descriptor", None)
    summary = descriptor.summary() if descriptor is not None else ""
    return f"# {name}\n\n{summary or 'No model card was found for this model.'}\n"


def runtime_text() -> str:
    import torch

    return (
        f"# DRRN Studio {__version__}\n\n"
        "Single-image super-resolution with DRRN (Tai, Yang and Liu, CVPR 2017), the paper's "
        "evaluation protocol (MATLAB-exact bicubic, PSNR / SSIM / IFC on Y) and a tiled "
        "inference engine.\n\n"
        f"- Python {platform.python_version()}, PyTorch {torch.__version__}, "
        f"PySide6 {pyside_version}\n"
        f"- {platform.system()} {platform.release()} ({platform.machine()})\n"
        f"- CUDA available: {'yes' if torch.cuda.is_available() else 'no'}\n"
        f"- Log folder: `{default_log_dir()}`\n\n"
        "Licensed under the MIT licence; see the Licences tab for it and for the third-party "
        "software DRRN Studio includes."
    )


def licences_text() -> str:
    """DRRN Studio's licence, then the third-party notices (the bundle's file, or generated
    from the installed dependencies' metadata)."""
    from drrn_core.packaging import notices

    return (f"DRRN Studio {__version__}\n\n{notices.project_licence().rstrip()}\n\n\n"
            f"{notices.installed_notices()}")


class AboutDialog(QDialog):
    """Tabs: "DRRN Studio" (versions, paths) and one per model with its card."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About DRRN Studio")
        self.resize(640, 520)
        tabs = QTabWidget()
        tabs.addTab(self._browser(runtime_text()), "DRRN Studio")
        try:
            from drrn_core import weights

            entries = weights.list_models()
        except Exception as exc:  # noqa: BLE001 - the About box must always open
            entries = []
            tabs.addTab(QLabel(f"Could not list models: {exc}"), "Models")
        for entry in entries:
            tabs.addTab(self._browser(model_card(entry)), entry.name)
        if not entries:
            tabs.addTab(self._browser("# No models installed\n\nDRRN Studio upscales with "
                                      "bicubic only until a model is imported (File → Import "
                                      "weights…) or trained (Training tab)."), "Models")
        # Up to a few MB of text: filled when the tab is first shown.
        self.licences = QPlainTextEdit()
        self.licences.setReadOnly(True)
        self.licences.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.licences_index = tabs.addTab(self.licences, "Licences")
        tabs.currentChanged.connect(self._fill_licences)
        self.tabs = tabs
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(buttons)

    def _fill_licences(self, index: int) -> None:
        if index != self.licences_index or self.licences.toPlainText():
            return
        try:
            text = licences_text()
        except Exception as exc:  # noqa: BLE001 - the About box must always open
            text = f"Could not read the licence texts: {exc}"
        self.licences.setPlainText(text)

    @staticmethod
    def _browser(markdown: str) -> QTextBrowser:
        view = QTextBrowser()
        view.setOpenExternalLinks(True)
        view.setMarkdown(markdown)
        return view

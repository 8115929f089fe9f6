"""The measured `auto` in the app (engine.autotune) runs its calibration on the
worker thread that builds the Upscaler, never on the GUI thread, and the run then uses it."""

from __future__ import annotations

import threading

from app.services import upscalers
from drrn_core import weights
from drrn_core.engine import autotune

TINY = "tiny"


def test_auto_calibration_runs_off_the_gui_thread(window, astro_png, wait_idle, monkeypatch,
                                                  tmp_path):
    monkeypatch.delenv("DRRN_AUTO", raising=False)  # measured auto (the suite uses the rule)
    monkeypatch.setenv("DRRN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DRRN_NO_VULKAN_AUTO", "1")
    upscalers.forget_models()  # an Upscaler cached by an earlier test would skip the choice
    on_gui: list[bool] = []
    real = autotune.measure

    def spy(*args, **kwargs):
        on_gui.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(autotune, "measure", spy)
    assert window.open_path(astro_png)
    wait_idle(window)
    assert on_gui == [False]  # measured once, on a worker thread
    assert "drrn" in window.compare.results
    choice = autotune.cached_choice(weights.resolve_model(TINY).model, "auto")
    assert choice is not None
    up = upscalers.upscaler_for(TINY)
    assert (up.backend, up.precision) == (choice.target.backend, choice.target.precision)
    upscalers.forget_models()

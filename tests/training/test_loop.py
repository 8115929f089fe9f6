"""The training loop: learning, the paper's rules, checkpoints and their failure modes."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import torch

from drrn_core.model import DRRN, DRRNConfig
from drrn_core.trainer import checkpoint as ckpt
from drrn_core.trainer.loop import (
    Checkpoint,
    Finished,
    Notice,
    Progress,
    TrainSpec,
    clip_gradients,
    iter_training,
    loss_fn,
    lr_at,
    make_optimizer,
)
from drrn_core.trainer.recipe import load_recipe, parse_recipe

TINY_MODEL = DRRNConfig(B=1, U=2, channels=8)


def run(spec: TrainSpec) -> list:
    return list(iter_training(spec))


def spec_for(tmp_path: Path, folder: Path, recipe, **kw) -> TrainSpec:
    kw.setdefault("run_dir", tmp_path / "run")
    kw.setdefault("val_dir", None)
    return TrainSpec(data_dir=folder, recipe=recipe, device="cpu", threads=1,
                     cache_dir=tmp_path / "cache", log_every=1, **kw)


def test_paper_recipe_is_the_papers() -> None:
    r = load_recipe("paper")
    assert (r.optimizer, r.lr, r.momentum, r.weight_decay) == ("sgd", 0.1, 0.9, 1e-4)
    assert (r.clip, r.theta, r.batch, r.iters_per_epoch) == ("adjustable", 0.01, 128, 6536)
    assert (r.patch, r.stride, r.sampling, r.scales) == (31, 21, "grid", (2, 3, 4))
    assert (r.schedule, r.step_epochs, r.gamma) == ("step", 10, 0.5)
    assert r.model.name == "DRRN_B1U9" and r.model.batchnorm and r.model.bias


def test_step_schedule_halves_every_ten_epochs() -> None:
    r = load_recipe("paper")
    assert lr_at(r, 0) == 0.1
    assert lr_at(r, 10 * 6536 - 1) == 0.1
    assert lr_at(r, 10 * 6536) == 0.05
    assert lr_at(r, 25 * 6536) == 0.025


def test_cosine_schedule_warms_up_and_ends_at_min_lr() -> None:
    r = load_recipe("fast")
    assert lr_at(r, 0) == pytest.approx(r.lr / r.warmup_iters)
    assert lr_at(r, r.warmup_iters) == pytest.approx(r.lr)
    assert lr_at(r, 1000, horizon=1000) == pytest.approx(r.min_lr)
    assert lr_at(r, 600, horizon=1000) < lr_at(r, 400, horizon=1000)


def test_adjustable_clipping_bounds_every_gradient_by_theta_over_lr() -> None:
    r = load_recipe("paper")
    p = torch.nn.Parameter(torch.zeros(5))
    p.grad = torch.tensor([-10.0, -0.05, 0.0, 0.05, 10.0])
    clip_gradients([p], r, lr=0.1)  # bound = 0.01 / 0.1 = 0.1
    assert p.grad.tolist() == pytest.approx([-0.1, -0.05, 0.0, 0.05, 0.1])
    p.grad = torch.tensor([-10.0, -0.05, 0.0, 0.05, 10.0])
    clip_gradients([p], r, lr=0.001)  # bound 10: nothing clipped
    assert p.grad.tolist() == pytest.approx([-10.0, -0.05, 0.0, 0.05, 10.0])


def test_bias_learning_rate_multiplier() -> None:
    opt = make_optimizer(DRRN(TINY_MODEL), load_recipe("paper"))
    weights, biases = opt.param_groups
    assert (weights["lr_mult"], biases["lr_mult"]) == (1.0, 0.1)
    assert biases["weight_decay"] == 0.0 and weights["weight_decay"] == 1e-4


@pytest.mark.parametrize("recipe_name", ["paper", "fast"])
def test_one_step_lowers_the_loss(recipe_name: str) -> None:
    torch.manual_seed(0)
    r = load_recipe(recipe_name).with_overrides(model=TINY_MODEL, lr=0.01)
    model = DRRN(TINY_MODEL)
    opt = make_optimizer(model, r)
    for g in opt.param_groups:
        g["lr"] = r.lr * g["lr_mult"]
    x = torch.rand(8, 1, 16, 16)
    y = (x + 0.05 * torch.sin(6 * x)).clamp(0, 1)
    before = loss_fn(r, model(x), y)
    opt.zero_grad()
    before.backward()
    clip_gradients(list(model.parameters()), r, r.lr)
    opt.step()
    with torch.no_grad():
        after = loss_fn(r, model(x), y)
    assert after < before


def test_training_writes_log_checkpoints_and_weights(tmp_path, tiny_folder, tiny_recipe) -> None:
    events = run(spec_for(tmp_path, tiny_folder, tiny_recipe, max_iters=6,
                          checkpoint_every_iters=3))
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.iteration for p in progress] == [1, 2, 3, 4, 5, 6]
    assert [e.iteration for e in events if isinstance(e, Checkpoint)] == [3, 6, 6]
    done = events[-1]
    assert isinstance(done, Finished) and done.reason == "max_iters" and done.iteration == 6
    run_dir = tmp_path / "run"
    assert {"last.safetensors", "prev.safetensors", "log.csv", "recipe.json",
            "last_model.safetensors"} <= {p.name for p in run_dir.iterdir()}
    assert len((run_dir / "log.csv").read_text().splitlines()) == 7
    from drrn_core.weights import load_weights

    loaded = load_weights(run_dir / "last_model.safetensors")
    assert loaded.descriptor.config == TINY_MODEL


def test_new_run_refuses_a_folder_holding_a_run(tmp_path, tiny_folder, tiny_recipe) -> None:
    run(spec_for(tmp_path, tiny_folder, tiny_recipe, max_iters=2))
    with pytest.raises(ValueError, match="already holds a run"):
        run(spec_for(tmp_path, tiny_folder, tiny_recipe, max_iters=2))


def test_resume_continues_exactly(tmp_path, tiny_folder, tiny_recipe) -> None:
    straight = tmp_path / "straight"
    run(spec_for(tmp_path, tiny_folder, tiny_recipe, run_dir=straight, max_iters=8))
    split = tmp_path / "split"
    gen = iter_training(spec_for(tmp_path, tiny_folder, tiny_recipe, run_dir=split, max_iters=8))
    for event in gen:
        if isinstance(event, Progress) and event.iteration == 3:
            break
    gen.close()
    events = run(spec_for(tmp_path, tiny_folder, tiny_recipe, run_dir=split, resume=True))
    assert events[-1].iteration == 8
    a = ckpt.read_checkpoint(straight / ckpt.LAST)[0]
    b = ckpt.read_checkpoint(split / ckpt.LAST)[0]
    assert {k for k in a if k != "rng.torch"} == {k for k in b if k != "rng.torch"}
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith(("model.", "optim.")))


def test_cancel_by_closing_writes_a_checkpoint(tmp_path, tiny_folder, tiny_recipe) -> None:
    gen = iter_training(spec_for(tmp_path, tiny_folder, tiny_recipe, max_iters=50))
    for event in gen:
        if isinstance(event, Progress) and event.iteration == 4:
            break
    gen.close()
    _, info, _ = ckpt.read_checkpoint(tmp_path / "run" / ckpt.LAST)
    assert info["iteration"] == 4


def test_corrupt_last_checkpoint_falls_back_to_prev(tmp_path, tiny_folder, tiny_recipe) -> None:
    run(spec_for(tmp_path, tiny_folder, tiny_recipe, max_iters=4, checkpoint_every_iters=2))
    run_dir = tmp_path / "run"
    (run_dir / ckpt.LAST).write_bytes(b"\x00" * 100)
    events = run(spec_for(tmp_path, tiny_folder, tiny_recipe, resume=True, max_iters=6))
    notes = [e.message for e in events if isinstance(e, Notice)]
    assert any("damaged" in n for n in notes)
    assert any("resumed" in n and "iteration 4" in n for n in notes)
    assert events[-1].iteration == 6


def test_iters_given_on_resume_become_the_runs_horizon(tmp_path, tiny_folder,
                                                      tiny_recipe) -> None:
    """`--iters` on a resume ends the schedule there, and later resumes without it keep that."""
    run(spec_for(tmp_path, tiny_folder, tiny_recipe, max_iters=2))
    saved = tmp_path / "run" / "recipe.json"
    assert json.loads(saved.read_text())["max_iters"] == 2
    events = run(spec_for(tmp_path, tiny_folder, tiny_recipe, resume=True, max_iters=4))
    assert events[-1].iteration == 4
    assert json.loads(saved.read_text())["max_iters"] == 4
    events = run(spec_for(tmp_path, tiny_folder, tiny_recipe, resume=True, max_iters=None))
    assert events[-1].iteration == 4  # nothing left to do under the stored horizon
    assert json.loads(saved.read_text())["max_iters"] == 4


def test_all_checkpoints_corrupt_is_a_clear_error(tmp_path, tiny_folder, tiny_recipe) -> None:
    run(spec_for(tmp_path, tiny_folder, tiny_recipe, max_iters=2))
    for name in (ckpt.LAST, ckpt.PREV):
        (tmp_path / "run" / name).write_bytes(b"garbage")
    with pytest.raises(ckpt.CheckpointError, match="no readable checkpoint"):
        run(spec_for(tmp_path, tiny_folder, tiny_recipe, resume=True, max_iters=4))


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, tiny_folder, tiny_recipe) -> None:
    with pytest.raises(ckpt.CheckpointError, match="nothing to resume"):
        run(spec_for(tmp_path, tiny_folder, tiny_recipe, resume=True, max_iters=4))


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, tiny_folder, tiny_recipe,
                                                 monkeypatch) -> None:
    run(spec_for(tmp_path, tiny_folder, tiny_recipe, max_iters=2))
    good = (tmp_path / "run" / ckpt.LAST).read_bytes()

    def disk_full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", disk_full)
    with pytest.raises(ckpt.CheckpointError, match="No space left"):
        run(spec_for(tmp_path, tiny_folder, tiny_recipe, resume=True, max_iters=4))
    assert (tmp_path / "run" / ckpt.LAST).read_bytes() == good
    assert not list((tmp_path / "run").glob("*.tmp"))


def test_bad_recipe_files_are_clear_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="not valid TOML"):
        parse_recipe("this is = = not toml", "bad.toml")
    with pytest.raises(ValueError, match="optimizer"):
        parse_recipe('[optim]\noptimizer = "rmsprop"\n', "x.toml")
    with pytest.raises(ValueError, match="unknown recipe"):
        load_recipe("no-such-recipe")


def test_validation_uses_the_protocol_and_keeps_the_best_weights(tmp_path, tiny_folder,
                                                                 tiny_recipe) -> None:
    from drrn_core.engine import Upscaler
    from drrn_core.metrics.protocol import evaluate_image, list_images
    from drrn_core.trainer.loop import Validation
    from drrn_core.weights import load_weights

    recipe = tiny_recipe.with_overrides(validate_every=3, val_scales=(2, 3))
    val = tmp_path / "val"
    val.mkdir()
    for p in list(tiny_folder.glob("*.png"))[:2]:
        (val / p.name).write_bytes(p.read_bytes())
    events = run(spec_for(tmp_path, tiny_folder, recipe, max_iters=6, val_dir=val))
    vals = [e for e in events if isinstance(e, Validation)]
    assert [v.iteration for v in vals] == [3, 6] and vals[0].best
    best = max(vals, key=lambda v: sum(v.psnr.values()))
    loaded = load_weights(tmp_path / "run" / "best.safetensors")
    restorer = Upscaler(loaded, device="cpu").restore_y
    for scale in (2, 3):
        expected = sum(evaluate_image(f, scale, restorer, with_ifc=False).psnr
                       for f in list_images(val)) / 2
        assert best.psnr[scale] == pytest.approx(expected, abs=1e-9)
    assert events[-1].best_psnr == best.psnr


def test_missing_validation_folder_is_a_clear_error(tmp_path, tiny_folder, tiny_recipe) -> None:
    with pytest.raises(ValueError, match="validation folder not found"):
        run(spec_for(tmp_path, tiny_folder, tiny_recipe, max_iters=1, val_dir=tmp_path / "nope"))


def test_time_held_by_the_consumer_does_not_count_toward_the_budget(tmp_path, tiny_folder,
                                                                      tiny_recipe) -> None:
    """A GUI pauses by not pulling the next event; a pause longer than the budget must not end
    the run when it continues."""
    import time

    budget = 0.8
    gen = iter_training(spec_for(tmp_path, tiny_folder, tiny_recipe, time_budget_s=budget))
    events = []
    for event in gen:
        events.append(event)
        if isinstance(event, Progress) and event.iteration == 1:
            time.sleep(budget + 0.4)  # paused for longer than the whole budget
    progress = [e for e in events if isinstance(e, Progress)]
    assert isinstance(events[-1], Finished)
    assert progress[-1].iteration > 1  # counting the pause would have stopped it at 1
    _, info, _ = ckpt.read_checkpoint(tmp_path / "run" / ckpt.LAST)
    assert info["elapsed_s"] < budget + 0.4


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in ckpt.read_checkpoint(run_dir / ckpt.LAST)[0].items()
            if k.startswith("model.")}


def test_a_failing_compile_is_one_notice_and_the_eager_result(tmp_path, tiny_folder, tiny_recipe,
                                                             monkeypatch) -> None:
    """No C++ compiler: the first compiled step fails, the run says so once and trains eagerly,
    step for step what a run without --compile computes."""
    eager = tmp_path / "eager"
    run(spec_for(tmp_path, tiny_folder, tiny_recipe, run_dir=eager, max_iters=4))

    def no_compiler(fn, **_kwargs):
        def compiled(*_args):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore")
        return compiled

    monkeypatch.setattr(torch, "compile", no_compiler)
    failed = tmp_path / "failed"
    events = run(spec_for(tmp_path, tiny_folder, tiny_recipe, run_dir=failed, max_iters=4,
                          compile=True))
    assert [e.message for e in events if isinstance(e, Notice) and "compile" in e.message] == [
        "torch.compile failed (InvalidCxxCompiler: No working C++ compiler found); "
        "continuing without it."]
    assert events[-1].iteration == 4
    a, b = _weights(eager), _weights(failed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_an_error_after_compiled_steps_ran_is_not_blamed_on_the_compiler(
        tmp_path, tiny_folder, tiny_recipe, monkeypatch) -> None:
    """Once a compiled step has run, a later failure is the run's own error: raised as it is,
    not retried eagerly under a "torch.compile failed" notice."""
    calls = []

    def fails_on_third_step(fn, **_kwargs):
        def compiled(*args):
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("a genuine error in step 3")
            return fn(*args)
        return compiled

    monkeypatch.setattr(torch, "compile", fails_on_third_step)
    events = []
    with pytest.raises(RuntimeError, match="a genuine error in step 3"):
        for event in iter_training(spec_for(tmp_path, tiny_folder, tiny_recipe, max_iters=6,
                                            compile=True)):
            events.append(event)
    assert not [e for e in events if isinstance(e, Notice) and "compile" in e.message]
    assert len(calls) == 3


@pytest.mark.slow
def test_a_compiled_run_learns_what_the_eager_one_learns(tmp_path, tiny_folder,
                                                         tiny_recipe) -> None:
    """torch.compile (inductor) of the forward pass and loss, and its backward: the same
    weights after a few steps, within float rounding."""
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    run(spec_for(tmp_path, tiny_folder, tiny_recipe, run_dir=eager, max_iters=4))
    events = run(spec_for(tmp_path, tiny_folder, tiny_recipe, run_dir=compiled, max_iters=4,
                          compile=True))
    assert not [e for e in events if isinstance(e, Notice) and "compile" in e.message]
    a, b = _weights(eager), _weights(compiled)
    torch.manual_seed(tiny_recipe.seed)  # the loop's initial weights
    start = DRRN(TINY_MODEL).state_dict()
    start["conv_rec.weight"].zero_()
    moved = [k for k in a if not torch.allclose(a[k], start[k.removeprefix("model.")])]
    assert len(moved) == len(a)  # every tensor trained
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)

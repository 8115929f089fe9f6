"""Anytime training: constant schedule + EMA weights, starting from other weights, exact resumes
(EMA and smoothed loss included), a monotonic log, NaN stops, and runs that fail leave nothing."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from drrn_core.trainer import checkpoint as ckpt
from drrn_core.trainer import loop
from drrn_core.trainer.loop import (
    Finished,
    Progress,
    TrainingError,
    TrainSpec,
    iter_training,
    lr_at,
)
from drrn_core.trainer.recipe import load_recipe, parse_recipe
from drrn_core.weights import load_weights


@pytest.fixture()
def anytime(tiny_recipe):
    """The tiny recipe with the anytime rules: constant rate after warm-up, EMA 0.9."""
    return tiny_recipe.with_overrides(schedule="constant", ema_decay=0.9, warmup_iters=2)


def spec_for(tmp_path: Path, folder: Path, recipe, **kw) -> TrainSpec:
    kw.setdefault("run_dir", tmp_path / "run")
    kw.setdefault("val_dir", None)
    return TrainSpec(data_dir=folder, recipe=recipe, device="cpu", threads=1,
                     cache_dir=tmp_path / "cache", log_every=1, **kw)


def iterations_logged(run_dir: Path) -> list[int]:
    with open(run_dir / "log.csv", newline="") as f:
        return [int(r["iteration"]) for r in csv.DictReader(f) if r["loss"]]


def test_the_anytime_recipe_has_no_horizon_and_keeps_an_ema() -> None:
    recipe = load_recipe("anytime")
    assert recipe.schedule == "constant" and 0 < recipe.ema_decay < 1
    assert lr_at(recipe, 0) < recipe.lr  # warm-up
    assert lr_at(recipe, recipe.warmup_iters) == recipe.lr
    assert lr_at(recipe, 10**8) == recipe.lr  # no decay, however long it runs


def test_ema_is_what_the_run_exports_and_it_lags_the_model(tmp_path, tiny_folder,
                                                           anytime) -> None:
    events = list(iter_training(spec_for(tmp_path, tiny_folder, anytime, max_iters=6)))
    assert isinstance(events[-1], Finished)
    tensors, info, _ = ckpt.read_checkpoint(tmp_path / "run" / ckpt.LAST)
    assert info["ema"] is True
    exported = load_weights(tmp_path / "run" / "last_model.safetensors").model.state_dict()
    for name, value in exported.items():
        assert torch.equal(value, tensors[f"ema.{name}"])
    moved = [n for n in exported if not torch.equal(tensors[f"ema.{n}"], tensors[f"model.{n}"])]
    assert moved  # the average trails the raw weights


def test_resume_is_exact_for_weights_ema_optimizer_and_smoothed_loss(tmp_path, tiny_folder,
                                                                     anytime) -> None:
    straight = list(iter_training(spec_for(tmp_path, tiny_folder, anytime,
                                           run_dir=tmp_path / "a", max_iters=8)))
    gen = iter_training(spec_for(tmp_path, tiny_folder, anytime, run_dir=tmp_path / "b",
                                 max_iters=8))
    for event in gen:
        if isinstance(event, Progress) and event.iteration == 3:
            break
    gen.close()
    resumed = list(iter_training(spec_for(tmp_path, tiny_folder, anytime,
                                          run_dir=tmp_path / "b", resume=True)))
    a = ckpt.read_checkpoint(tmp_path / "a" / ckpt.LAST)[0]
    b = ckpt.read_checkpoint(tmp_path / "b" / ckpt.LAST)[0]
    assert any(k.startswith("ema.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith(("model.", "ema.", "optim.")))
    losses_a = {e.iteration: e.loss for e in straight if isinstance(e, Progress)}
    losses_b = {e.iteration: e.loss for e in resumed if isinstance(e, Progress)}
    assert min(losses_b) == 4
    assert all(losses_b[i] == losses_a[i] for i in losses_b)  # the smoothed curve continues


def test_log_rows_past_the_checkpoint_are_dropped_on_resume(tmp_path, tiny_folder,
                                                            anytime) -> None:
    run_dir = tmp_path / "run"
    list(iter_training(spec_for(tmp_path, tiny_folder, anytime, max_iters=4,
                                checkpoint_every_iters=4)))
    with open(run_dir / "log.csv", "a", newline="") as f:  # a killed run logged further
        csv.writer(f).writerows([[5, 0, 0.1, 1e-3, 9, 1.0, ""], [6, 0, 0.1, 1e-3, 9, 1.0, ""]])
    list(iter_training(spec_for(tmp_path, tiny_folder, anytime, resume=True, max_iters=7)))
    assert iterations_logged(run_dir) == [1, 2, 3, 4, 5, 6, 7]


def test_a_new_run_can_start_from_another_runs_weights(tmp_path, tiny_folder, anytime,
                                                       monkeypatch) -> None:
    elsewhere = "cuda bf16 on another machine"
    monkeypatch.setattr(loop, "_hardware", lambda *_args: elsewhere)  # the old run trained there
    list(iter_training(spec_for(tmp_path, tiny_folder, anytime, run_dir=tmp_path / "old",
                                max_iters=5)))
    monkeypatch.undo()
    old = ckpt.read_checkpoint(tmp_path / "old" / ckpt.LAST)[0]
    gen = iter_training(spec_for(tmp_path, tiny_folder, anytime, run_dir=tmp_path / "new",
                                 init_from=tmp_path / "old" / "last_model.safetensors",
                                 max_iters=1))
    events = list(gen)
    _, info, _ = ckpt.read_checkpoint(tmp_path / "new" / ckpt.LAST)
    batch = anytime.batch
    assert info["lineage"]["patches_seen"] == 5 * batch
    assert info["patches_seen_total"] == 6 * batch and info["patches_seen"] == batch
    assert info["hardware"][0] == elsewhere and len(info["hardware"]) == 2  # then this machine
    assert "started from the weights of last_model.safetensors" in events[0].message
    # from a run folder: its EMA weights are taken
    list(iter_training(spec_for(tmp_path, tiny_folder, anytime.with_overrides(lr=1e-12),
                                run_dir=tmp_path / "copy", init_from=tmp_path / "old",
                                max_iters=1, checkpoint_every_iters=1)))
    copy = ckpt.read_checkpoint(tmp_path / "copy" / ckpt.LAST)[0]
    w = "model.conv_in.weight" if "model.conv_in.weight" in copy else next(
        k for k in copy if k.startswith("model.") and k.endswith("weight"))
    ema_name = "ema." + w[len("model."):]
    assert torch.allclose(copy[w], old[ema_name], atol=1e-6)


def test_init_from_refuses_another_architecture(tmp_path, tiny_folder, anytime) -> None:
    list(iter_training(spec_for(tmp_path, tiny_folder, anytime, run_dir=tmp_path / "old",
                                max_iters=1)))
    other = anytime.with_overrides(model=anytime.model.__class__(B=1, U=3, channels=8))
    with pytest.raises(ValueError, match="not DRRN_B1U3"):
        list(iter_training(spec_for(tmp_path, tiny_folder, other, run_dir=tmp_path / "new",
                                    init_from=tmp_path / "old" / "last_model.safetensors")))
    assert not (tmp_path / "new").exists()


def test_a_nan_loss_stops_the_run_and_keeps_the_last_finite_checkpoint(
        tmp_path, tiny_folder, anytime, monkeypatch) -> None:
    real, calls = loop.loss_fn, []

    def poisoned(recipe, out, target):
        calls.append(1)
        value = real(recipe, out, target)
        return value * math.nan if len(calls) > 4 else value

    monkeypatch.setattr(loop, "loss_fn", poisoned)
    with pytest.raises(TrainingError, match="loss became nan at iteration 5"):
        list(iter_training(spec_for(tmp_path, tiny_folder, anytime, max_iters=20,
                                    checkpoint_every_iters=2)))
    tensors, info, _ = ckpt.read_checkpoint(tmp_path / "run" / ckpt.LAST)
    assert info["iteration"] == 4


def test_nan_weights_in_a_checkpoint_are_refused(tmp_path, tiny_folder, anytime) -> None:
    list(iter_training(spec_for(tmp_path, tiny_folder, anytime, max_iters=2)))
    path = tmp_path / "run" / ckpt.LAST
    tensors, info, opt = ckpt.read_checkpoint(path)
    from safetensors.torch import load_file, save_file

    raw = load_file(str(path))
    first = next(k for k in raw if k.startswith("model."))
    raw[first] = torch.full_like(raw[first], math.nan)
    with open(path, "rb") as f:
        import json

        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    save_file(raw, str(path), metadata=header)
    (tmp_path / "run" / ckpt.PREV).unlink(missing_ok=True)
    with pytest.raises(ckpt.CheckpointError, match="NaN or infinite weights"):
        list(iter_training(spec_for(tmp_path, tiny_folder, anytime, resume=True)))


@pytest.mark.parametrize("folder_exists", [False, True])
def test_a_run_that_cannot_start_leaves_nothing_behind(tmp_path, anytime,
                                                       folder_exists) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    run_dir = tmp_path / "run"
    if folder_exists:
        run_dir.mkdir()
    with pytest.raises(ValueError):
        list(iter_training(spec_for(tmp_path, empty, anytime)))
    assert run_dir.exists() == folder_exists
    assert not folder_exists or not any(run_dir.iterdir())


def test_the_cooldown_branch_decays_to_zero_on_the_canonical_model() -> None:
    """training/cooldown.toml continues the canonical run's model (--init-from its folder) and
    its rate falls from half the anytime rate to zero at its own horizon."""
    folder = Path(__file__).parents[2] / "training"
    cool, canonical = load_recipe(folder / "cooldown.toml"), load_recipe(folder / "anytime.toml")
    assert cool.model == canonical.model and cool.lr == canonical.lr / 2
    rates = [lr_at(cool, i) for i in range(0, cool.total_iters + 1, 100)]
    assert rates[cool.warmup_iters // 100] == cool.lr and rates[-1] == 0.0
    after = rates[cool.warmup_iters // 100:]
    assert after == sorted(after, reverse=True)


@pytest.mark.parametrize("line, message", [
    ("lr = inf", "must be finite"),
    ("lr = nan", "must be finite"),
    ("batch = 100000000", "batch must be"),
    ("ema_decay = 1.0", "ema_decay"),
    ('lr = "fast"', "bad.toml"),
])
def test_nonsense_recipes_are_refused(line: str, message: str) -> None:
    base = (Path(__file__).parents[2] / "training" / "anytime.toml").read_text()
    key = line.split(" = ")[0]
    text = "\n".join(r for r in base.splitlines() if not r.startswith(f"{key} ="))
    text = text.replace("[schedule]", f"[schedule]\n{line}")
    with pytest.raises(ValueError, match=message):
        parse_recipe(text, "bad.toml")


def _rewrite_info(path: Path, change) -> None:
    import json

    from safetensors.torch import load_file, save_file

    raw = load_file(str(path))
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    info = json.loads(header["info"])
    change(info)
    header["info"] = json.dumps(info)
    save_file(raw, str(path), metadata=header)


@pytest.mark.parametrize("change, words", [
    (lambda info: info.update(model={**info["model"], "channels": 16}), "shape"),
    (lambda info: info.pop("model"), "missing model"),
    (lambda info: info.update(model={**info["model"], "channels": 60000}), "channels"),
])
def test_a_checkpoint_whose_header_lies_is_refused_in_one_line(tmp_path, tiny_folder, anytime,
                                                               change, words) -> None:
    list(iter_training(spec_for(tmp_path, tiny_folder, anytime, max_iters=2)))
    (tmp_path / "run" / ckpt.PREV).unlink(missing_ok=True)
    _rewrite_info(tmp_path / "run" / ckpt.LAST, change)
    with pytest.raises(ckpt.CheckpointError, match=words) as caught:
        ckpt.read_checkpoint(tmp_path / "run" / ckpt.LAST)
    assert "\n" not in str(caught.value)


def test_train_user_errors_exit_1_and_bad_options_exit_2(tmp_path, tiny_folder) -> None:
    from drrn_core.cli import main

    missing = main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])
    assert missing == 1 and not (tmp_path / "r").exists()
    with pytest.raises(SystemExit) as usage:
        main(["train", "--data", str(tiny_folder), "--out", str(tmp_path / "r"), "--threads",
              "-1"])
    assert usage.value.code == 2

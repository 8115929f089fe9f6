"""GPU one-shot: continue a training run on a CUDA GPU for a fixed wall-clock budget and write a
run folder the CPU harvester continues from.

    python training/gpu_oneshot.py [--run training/runs/b1u9-anytime] [--budget 7m] [--batch 256]
    python training/gpu_oneshot.py --adopt carry/gpu-result/b1u9-anytime --run RUN_DIR
    python training/gpu_oneshot.py --pack-only      # make carry/ ready to travel, nothing else

The training images are packed once into ``carry/train_y.npz`` (git-ignored, ~27 MB, with a copy
of Set5 in ``carry/Set5`` for validation) and cropped on the GPU (drrn_core.trainer.packed).
RUN_DIR is only read. The GPU steps run in ``carry/gpu-work/NAME`` with the run's own recipe except
a large batch, a learning rate scaled by sqrt(batch ratio) and a short warm-up; the result
(``--out``, default ``carry/gpu-result/NAME``) is RUN_DIR continued: its recipe.json, its checkpoint
with the iteration counted in the run's own batches (iteration += GPU steps x GPU batch / batch, so
``patches_seen`` stays true), its log.csv with the GPU rows appended the same way, and
``gpu_oneshot.json`` (what ran where). ``--adopt`` copies a result into RUN_DIR (stop the harvester
first); it refuses when RUN_DIR went on training after the GPU run started from it.
A RUN_DIR without a recipe.json starts a new run from ``--recipe`` (and ``--model``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from drrn_core.atomic import atomic_path  # noqa: E402
from drrn_core.trainer import checkpoint as ckpt  # noqa: E402
from drrn_core.trainer.command import parse_duration  # noqa: E402
from drrn_core.trainer.recipe import Recipe, load_recipe  # noqa: E402

CARRY = ROOT / "carry"
SHARED = ROOT.parent / "shared" / "data"
SUMMARY = "gpu_oneshot.json"


class OneShotError(Exception):
    """A user-facing problem: printed as one line, exit code 2."""


def say(message: str) -> None:
    print(f"gpu-oneshot: {message}", flush=True)


# ---------------------------------------------------------------- data and validation folder
def ensure_packed(packed: Path, data: Path | None, check: bool = True) -> Path:
    """The packed file, (re)made from ``data`` when it is missing or (``check``) no longer
    matches it."""
    from drrn_core.trainer.packed import pack_training_data, packed_matches

    if packed.is_file() and (not check or data is None or not data.is_dir()
                             or packed_matches(packed, data)):
        say(f"packed data: {packed} ({packed.stat().st_size / 1e6:.1f} MB)")
        return packed
    if data is None or not data.is_dir():
        raise OneShotError(f"no packed data at {packed} and no training folder to pack "
                           f"(give --data DIR or carry {packed.parent})")
    t0 = time.perf_counter()
    pack_training_data(data, packed, warn=say)
    say(f"packed {data} into {packed} ({packed.stat().st_size / 1e6:.1f} MB, "
        f"{time.perf_counter() - t0:.0f} s)")
    return packed


def resolve_val(arg: Path | None, no_val: bool, carry: Path) -> Path | None:
    """--val, else Set5 from ../shared (copied into the carry folder so it travels), else the
    carried copy, else none."""
    if no_val:
        return None
    if arg is not None:
        if not arg.is_dir():
            raise OneShotError(f"validation folder not found: {arg}")
        return arg
    shared, carried = SHARED / "benchmark" / "Set5", carry / "Set5"
    if shared.is_dir() and not carried.is_dir():
        carried.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(shared, carried)
    return carried if carried.is_dir() else (shared if shared.is_dir() else None)


# ---------------------------------------------------------------- checkpoints
def newest_checkpoint(run: Path) -> tuple[Path | None, dict]:
    """(path, info) of the newest readable checkpoint of ``run`` (last, else prev)."""
    for name in (ckpt.LAST, ckpt.PREV):
        path = run / name
        if path.is_file():
            try:
                return path, ckpt.read_checkpoint(path)[1]
            except ckpt.CheckpointError as exc:
                say(f"{exc}; trying an older checkpoint")
    return None, {}


def retag_checkpoint(src: Path, dst: Path, changes: dict, rotate: bool = False) -> dict:
    """Copy checkpoint ``src`` to ``dst`` (atomically) with ``changes`` merged into its info;
    every tensor and every other header entry is kept. ``rotate`` keeps the old ``dst`` as the
    run's ``prev`` checkpoint, as the training loop does."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    tensors, info, _ = ckpt.read_checkpoint(src)
    with safe_open(str(src), "pt") as f:
        header = dict(f.metadata())
    info = {**info, **changes}
    header["info"] = json.dumps(info)
    with atomic_path(dst) as tmp:
        save_file(tensors, str(tmp), metadata=header)
        if rotate and dst.exists():
            os.replace(dst, dst.with_name(ckpt.PREV))
    return info


def write_json(path: Path, obj: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1))


# ---------------------------------------------------------------- recipes
def base_recipe(run: Path, recipe: str | None, model: str | None) -> tuple[Recipe, dict]:
    """The run's own recipe (and recipe.json), or a new one from --recipe/--model."""
    from drrn_core.model import DRRNConfig

    saved = run / "recipe.json"
    if saved.is_file():
        stored = json.loads(saved.read_text())
        return Recipe.from_dict(stored["recipe"]), stored
    if recipe is None:
        raise OneShotError(f"{run} holds no recipe.json: give --recipe (and --model) to start "
                           "a new run")
    r = load_recipe(recipe)
    if model:
        r = r.with_overrides(model=DRRNConfig.parse(model))
    return r, {"recipe": r.to_dict(), "max_iters": None}


def gpu_recipe(base: Recipe, batch: int, lr: float | None, warmup: int, start_iter: int,
               validate_every: int) -> Recipe:
    """The run's recipe for big GPU batches: learning rate x sqrt(batch ratio) unless given, a
    warm-up of ``warmup`` GPU steps, a data seed of its own for each starting iteration (so two
    one-shots from different points never draw the same crops)."""
    import numpy as np

    seed = int(np.random.SeedSequence([base.seed, start_iter, 0x6770]).generate_state(1)[0])
    return base.with_overrides(
        name=f"{base.name}-gpu", batch=batch, lr=lr or base.lr * math.sqrt(batch / base.batch),
        warmup_iters=max(1, warmup), seed=seed, validate_every=validate_every,
        checkpoint_minutes=2.0)


# ---------------------------------------------------------------- training
def train(args: argparse.Namespace) -> int:
    import torch

    from drrn_core.engine.device import resolve_device
    from drrn_core.trainer.loop import (
        Finished,
        Notice,
        Progress,
        TrainingError,
        TrainSpec,
        Validation,
        iter_training,
    )

    run: Path = args.run
    name = run.name
    carry: Path = args.carry
    # a pack named with --packed is used as it is; the default one follows --data
    packed = ensure_packed(args.packed or carry / "train_y.npz", args.data,
                           check=args.packed is None)
    val = resolve_val(args.val, args.no_val, carry)
    base, stored = base_recipe(run, args.recipe, args.model)
    start, info0 = newest_checkpoint(run) if run.is_dir() else (None, {})
    if (run / "recipe.json").is_file() and start is None:
        raise OneShotError(f"{run} has a recipe but no readable checkpoint to continue")
    n0 = int(info0.get("iteration", 0))
    patches0 = int(info0.get("patches_seen", n0 * base.batch))
    total0 = int(info0.get("patches_seen_total", patches0))
    # without a validation folder the loop would fall back to ../shared's Set5: validate never
    recipe = gpu_recipe(base, args.batch, args.lr, args.warmup, n0,
                        args.validate_every if val is not None else 10**9)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch size: let cuDNN pick its kernels
    gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"

    work = carry / "gpu-work" / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if start is not None:
        write_json(work / "recipe.json", {"recipe": recipe.to_dict(), "max_iters": None})
        retag_checkpoint(start, work / ckpt.LAST, {"iteration": 0})
    say(f"{gpu_name}: {name} from iteration {n0} ({patches0:,} patches seen), "
        f"{base.model.name}, batch {recipe.batch} (run: {base.batch}), "
        f"lr {recipe.lr:.3g} (run: {base.lr:.3g}), warm-up {recipe.warmup_iters} steps, "
        f"budget {args.budget:.0f} s, validation: {val or 'none'}")

    ratio = recipe.batch / base.batch
    spec = TrainSpec(run_dir=work, data_dir=packed.parent, recipe=recipe,
                     resume=start is not None, time_budget_s=args.budget,
                     max_iters=args.max_steps, device=str(device), precision=args.precision,
                     val_dir=val, log_every=args.log_every, packed=packed)
    t_start, finished, interrupted = time.perf_counter(), None, False
    events = iter_training(spec)
    try:  # a loss that turns NaN raises TrainingError: nothing is exported then
        for event in events:
            if isinstance(event, Progress):
                say(f"step {event.iteration}  iteration {n0 + round(event.iteration * ratio)}  "
                    f"loss {event.loss:.4g}  lr {event.lr:.3g}  "
                    f"{event.patches_per_s:,.0f} patches/s")
            elif isinstance(event, Validation):
                say(f"step {event.iteration}: {val.name if val else 'validation'} " + " ".join(
                    f"x{s} {v:.3f} dB" for s, v in event.psnr.items()))
            elif isinstance(event, Notice) and not event.message.startswith("resumed "):
                say(event.message)  # (the work copy's "resumed at iteration 0" would mislead)
            elif isinstance(event, Finished):
                finished = event
    except KeyboardInterrupt:
        interrupted = True
    except TrainingError as exc:
        raise OneShotError(f"{exc}; nothing exported (the GPU run stays in {work})") from None
    finally:
        events.close()  # writes a checkpoint unless the loop already ended
    wall = time.perf_counter() - t_start
    work_ckpt, info1 = newest_checkpoint(work)
    if work_ckpt is None:
        raise OneShotError(f"the GPU run wrote no checkpoint in {work}")
    steps = int(info1["iteration"])
    n1 = n0 + round(steps * ratio)
    out = args.run if args.in_place else (args.out or carry / "gpu-result" / name)
    summary = {
        "run": name, "base_iteration": n0, "iteration": n1, "gpu_steps": steps,
        "gpu_batch": recipe.batch, "run_batch": base.batch, "gpu_lr": recipe.lr,
        "patches": steps * recipe.batch, "patches_seen": patches0 + steps * recipe.batch,
        "patches_seen_total": total0 + steps * recipe.batch,
        "train_s": round(float(info1["elapsed_s"]) - float(info0.get("elapsed_s", 0.0)), 1),
        "wall_s": round(wall, 1), "device": gpu_name, "precision": info1.get("precision"),
        "reason": "interrupted" if interrupted else (finished.reason if finished else "?"),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # measured before the export: with --in-place the export replaces the start checkpoint
    before = validate_checkpoint(start, base, val, device) if start and val else None
    export(work, out, run, stored, summary, in_place=args.in_place)
    if val is not None:
        after = validate_checkpoint(out / ckpt.LAST, base, val, device)
        summary["val_before"], summary["val_after"] = before, after
        write_json(out / SUMMARY, summary)
        say(f"{val.name} " + " ".join(f"x{s} {after[s]:.3f} dB" + (
            f" (was {before[s]:.3f})" if before else "") for s in after))
    rate = summary["patches"] / max(summary["train_s"], 1e-9)
    say(f"done: {steps} steps x {recipe.batch} = {summary['patches']:,} patches in "
        f"{summary['train_s']:.0f} s ({rate:,.0f} patches/s); iteration {n0} -> {n1}; "
        f"result in {out}" + ("" if args.in_place else "; adopt with: python "
                              f"training/gpu_oneshot.py --adopt {out} --run {run}"))
    return 130 if interrupted else 0


def validate_checkpoint(path: Path, recipe: Recipe, val: Path, device) -> dict[int, float]:
    """Validation PSNR per scale of the weights a checkpoint ships: its EMA if it keeps one,
    else the model."""
    from drrn_core.model import DRRN
    from drrn_core.trainer.loop import validate

    tensors = ckpt.read_checkpoint(path)[0]
    prefix = "ema." if any(k.startswith("ema.") for k in tensors) else "model."
    model = DRRN(recipe.model)
    model.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                           if k.startswith(prefix)})
    return validate(model.to(device), val, recipe.val_scales)


def convert_log(work_log: Path, n0: int, ratio: float, iters_per_epoch: int) -> list[list[str]]:
    """The GPU run's log rows with iterations counted in the run's own batches."""
    if not work_log.is_file():
        return []
    with open(work_log, newline="") as f:
        rows = list(csv.reader(f))
    header, out = rows[0], []
    i_it, i_ep = header.index("iteration"), header.index("epoch")
    for row in rows[1:]:
        it = n0 + round(int(row[i_it]) * ratio)
        row[i_it] = str(it)
        if row[i_ep] != "":
            row[i_ep] = str(it // iters_per_epoch)
        out.append(row)
    return out


def export(work: Path, out: Path, run: Path, stored: dict, summary: dict,
           in_place: bool) -> None:
    """Write the continued run: recipe.json, retagged checkpoint, log.csv, gpu_oneshot.json."""
    base = Recipe.from_dict(stored["recipe"])
    ratio = summary["gpu_batch"] / summary["run_batch"]
    if in_place:
        refuse_if_harvested(run)
        _, now = newest_checkpoint(run)
        if int(now.get("iteration", 0)) != summary["base_iteration"]:
            raise OneShotError(f"{run} went on to iteration {now.get('iteration')} during the GPU "
                               f"run; the result stays in {work}")
    else:
        if out.exists() and any(out.iterdir()) and not (out / SUMMARY).is_file():
            raise OneShotError(f"{out} is not empty and holds no earlier one-shot result")
        out.mkdir(parents=True, exist_ok=True)
    changes = {"iteration": summary["iteration"], "patches_seen": summary["patches_seen"],
               "patches_seen_total": summary["patches_seen_total"], "recipe": base.name}
    if not in_place or not (run / "recipe.json").is_file():
        write_json(out / "recipe.json", stored)
    rows = convert_log(work / "log.csv", summary["base_iteration"], ratio, base.iters_per_epoch)
    header = ["iteration", "epoch", "loss", "lr", "patches_per_s", "elapsed_s", "val_psnr"]
    old = (run / "log.csv").read_text() if (run / "log.csv").is_file() else ""
    with atomic_path(out / "log.csv") as tmp, open(tmp, "w", newline="") as f:
        if old:
            f.write(old if old.endswith("\n") else old + "\n")
        else:
            csv.writer(f).writerow(header)
        csv.writer(f).writerows(rows)
    work_ckpt, _ = newest_checkpoint(work)
    retag_checkpoint(work_ckpt, out / ckpt.LAST, changes, rotate=in_place)
    if not in_place and (out / ckpt.PREV).exists():
        (out / ckpt.PREV).unlink()  # an older result's; this one has a single checkpoint
    write_json(out / SUMMARY, summary)


# ---------------------------------------------------------------- adopt
def harvester_pid(run: Path) -> int | None:
    """The PID of a live harvester (``drrn train``, from scripts/harvest.sh) training ``run``."""
    try:
        pid = int((run / "harvest.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except (OSError, ValueError):
        return None
    return pid if b"drrn_core.cli train" in cmdline else None


def refuse_if_harvested(run: Path) -> None:
    pid = harvester_pid(run)
    if pid is not None:
        raise OneShotError(f"the harvester (pid {pid}) is training {run}: its next checkpoint "
                           "would overwrite this one; scripts/harvest.sh stop first")


def adopt(result: Path, run: Path, force: bool) -> int:
    """Copy a one-shot result into its run folder (the harvester must be stopped)."""
    refuse_if_harvested(run)
    summary_path = result / SUMMARY
    if not summary_path.is_file():
        raise OneShotError(f"{result} holds no {SUMMARY}: not a one-shot result")
    summary = json.loads(summary_path.read_text())
    if (run / "recipe.json").is_file():
        mine = json.loads((run / "recipe.json").read_text())["recipe"]
        theirs = json.loads((result / "recipe.json").read_text())["recipe"]
        if mine != theirs:
            raise OneShotError(f"{result} continues a different recipe than {run}")
    _, now = newest_checkpoint(run)
    at = int(now.get("iteration", 0))
    if at != summary["base_iteration"] and not force:
        raise OneShotError(f"{run} is at iteration {at}, the GPU run started from "
                           f"{summary['base_iteration']}: adopting would drop that work "
                           "(--force adopts anyway)")
    run.mkdir(parents=True, exist_ok=True)
    if not (run / "recipe.json").is_file():
        shutil.copyfile(result / "recipe.json", run / "recipe.json")
    retag_checkpoint(result / ckpt.LAST, run / ckpt.LAST, {}, rotate=True)
    with atomic_path(run / "log.csv") as tmp:
        shutil.copyfile(result / "log.csv", tmp)
    say(f"{run} now continues from iteration {summary['iteration']} "
        f"({summary['patches_seen']:,} patches seen)")
    return 0


def _interrupt(_signum: int, _frame) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=ROOT / "training" / "runs" / "b1u9-anytime",
                    help="run folder to continue (only read unless --in-place)")
    ap.add_argument("--data", type=Path, default=SHARED / "train",
                    help="training images, packed when no matching pack exists")
    ap.add_argument("--carry", type=Path, default=CARRY,
                    help="git-ignored folder for the pack, Set5 and work files (default carry/)")
    ap.add_argument("--packed", type=Path,
                    help="packed file, used as it is if present (default CARRY/train_y.npz, "
                         "remade when --data changed)")
    ap.add_argument("--budget", type=parse_duration, default=420.0,
                    help="seconds of training, e.g. 7m (default 7m; at most 8m)")
    ap.add_argument("--max-steps", type=int, help="stop after this many GPU steps (tests)")
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu (tests)")
    ap.add_argument("--precision", help="default: the recipe's (bf16 autocast on a GPU)")
    ap.add_argument("--batch", type=int, default=256, help="GPU mini-batch (default 256)")
    ap.add_argument("--lr", type=float, help="default: the run's lr x sqrt(batch / run batch)")
    ap.add_argument("--warmup", type=int, default=100, help="warm-up steps (default 100)")
    ap.add_argument("--validate-every", type=int, default=2500,
                    help="GPU steps between Set5 validations (default 2500)")
    ap.add_argument("--log-every", type=int, default=200,
                    help="GPU steps between progress lines (default 200)")
    ap.add_argument("--val", type=Path, help="validation folder (default Set5)")
    ap.add_argument("--no-val", action="store_true", help="skip validation")
    ap.add_argument("--recipe", help="recipe for a new run (when RUN has no recipe.json)")
    ap.add_argument("--model", help="architecture for a new run, e.g. B1U25")
    ap.add_argument("--out", type=Path, help="result folder (default CARRY/gpu-result/NAME)")
    ap.add_argument("--in-place", action="store_true",
                    help="write the result into RUN itself (nothing else may train it meanwhile)")
    ap.add_argument("--adopt", type=Path, metavar="RESULT",
                    help="copy a one-shot result into --run (stop the harvester first)")
    ap.add_argument("--force", action="store_true", help="--adopt even if RUN moved on")
    ap.add_argument("--pack-only", action="store_true",
                    help="only pack the data (and copy Set5) into CARRY, to carry it elsewhere")
    args = ap.parse_args(argv)
    if args.budget > 480:
        ap.error("--budget is at most 8 minutes (480 s)")
    if args.batch < 1 or args.warmup < 0:
        ap.error("--batch must be >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    from drrn_core.trainer.loop import TrainingError

    try:
        if args.adopt:
            return adopt(args.adopt, args.run, args.force)
        if args.pack_only:
            ensure_packed(args.packed or args.carry / "train_y.npz", args.data,
                          check=args.packed is None)
            val = resolve_val(args.val, args.no_val, args.carry)
            say(f"validation folder: {val or 'none'}")
            return 0
        return train(args)
    except (OneShotError, ValueError, OSError, TrainingError, ckpt.CheckpointError) as exc:
        print(f"gpu-oneshot: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``drrn train``: the training engine from the command line (a thin layer over loop.py)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from drrn_core.cli.common import compile_allowed, positive_int, thread_count
from drrn_core.errors import UserError
from drrn_core.trainer.command import parse_duration

if TYPE_CHECKING:
    from drrn_core.trainer.loop import TrainSpec


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a DRRN model (resumable; runs under torchrun for several processes)",
        description="Train DRRN on a folder of HR images with a recipe (paper, fast or a TOML "
                    "file). Checkpoints go to RUN_DIR; --resume continues a run exactly.")
    p.add_argument("--recipe", default="fast", help="paper | fast | path to a TOML recipe")
    p.add_argument("--data", type=Path, help="folder of HR training images (recursive)")
    p.add_argument("--model", help="architecture such as B1U9 (default: the recipe's)")
    p.add_argument("--channels", type=int, help="feature maps (default: the recipe's)")
    p.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=None,
                   help="per-unit BatchNorm as in the authors' release")
    p.add_argument("--out", type=Path, help="run folder for checkpoints, log.csv and weights")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run")
    p.add_argument("--time-budget", type=parse_duration, help="stop after this long, e.g. 2h")
    p.add_argument("--iters", type=positive_int,
                   help="stop at this iteration (and end the schedule there)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--precision", help="auto | fp32 | bf16 | fp16 (default: the recipe's)")
    p.add_argument("--val", type=Path, help="validation folder (default: Set5 from ../shared)")
    p.add_argument("--cache-dir", type=Path, help="where prepared patches are cached")
    p.add_argument("--checkpoint-every", type=positive_int, metavar="ITERS",
                   help="checkpoint every N iterations (default: every N minutes per recipe)")
    p.add_argument("--threads", type=thread_count, help="CPU threads for torch")
    p.add_argument("--init-from", type=Path, metavar="WEIGHTS_OR_RUN",
                   help="start a new run from a model file or another run's checkpoint")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the training step: seconds to compile, then faster "
                        "(needs a C++ compiler on the CPU)")
    return p


def _spec(args: argparse.Namespace) -> TrainSpec:
    from drrn_core.model import DRRNConfig
    from drrn_core.trainer.data import default_cache_dir
    from drrn_core.trainer.loop import TrainSpec
    from drrn_core.trainer.recipe import load_recipe

    run_dir = args.resume or args.out
    if run_dir is None:
        raise ValueError("give --out RUN_DIR for a new run or --resume RUN_DIR")
    if args.resume and args.out and args.out != args.resume:
        raise ValueError("--out and --resume name different folders")
    recipe = load_recipe(args.recipe)  # a resumed run uses the recipe saved in its folder
    model = recipe.model
    if args.model or args.channels or args.batchnorm is not None:
        base = DRRNConfig.parse(args.model) if args.model else model
        model = DRRNConfig(**{**base.to_dict(), **{k: v for k, v in (
            ("channels", args.channels), ("batchnorm", args.batchnorm)) if v is not None}})
    data = args.data
    if data is None:
        raise ValueError("give --data DIR (a folder of HR images)")
    return TrainSpec(
        run_dir=run_dir, data_dir=data, recipe=recipe.with_overrides(model=model),
        resume=args.resume is not None, time_budget_s=args.time_budget, max_iters=args.iters,
        device=args.device, precision=args.precision, val_dir=args.val,
        cache_dir=args.cache_dir or default_cache_dir(),
        checkpoint_every_iters=args.checkpoint_every, threads=args.threads,
        init_from=args.init_from, compile=compile_allowed(args.compile))


def _interrupt(_signum: int, _frame) -> None:
    """The first Ctrl-C or SIGTERM stops training; later ones are ignored, so they cannot cut
    short the checkpoint the stop writes."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def _saved_iteration(run_dir: Path | None) -> int | None:
    """The iteration of a run's newest checkpoint, or None when it has none."""
    from drrn_core.trainer import checkpoint as ckpt

    try:
        return int(ckpt.read_info(Path(run_dir) / ckpt.LAST)["iteration"]) if run_dir else None
    except (ckpt.CheckpointError, KeyError, TypeError, ValueError):
        return None


def run_train(args: argparse.Namespace) -> int:
    """Run ``drrn train``; returns the exit code. User mistakes give one line on stderr."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:  # a scheduler's stop checkpoints like Ctrl-C
        signal.signal(sig, _interrupt)
    try:
        return _train_with_progress(args)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _leave_process_group()


def _leave_process_group() -> None:
    """Tear down the process group a torchrun job trained in before the process exits, as
    PyTorch asks of every program that made one (NCCL reports a leak otherwise)."""
    dist = sys.modules.get("torch.distributed")  # never imported: there is no group
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _train_with_progress(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from drrn_core.trainer.checkpoint import CheckpointError
    from drrn_core.trainer.loop import (
        Finished,
        Notice,
        Progress,
        TrainingError,
        Validation,
        is_writer,
        iter_training,
    )

    events = None
    run_dir = args.resume or args.out
    quiet = not is_writer()  # under torchrun one rank speaks for all: no second progress bar
    try:
        spec = _spec(args)
        events = iter_training(spec)
        bar = None
        for event in events:
            if isinstance(event, Progress):
                if bar is None:
                    bar = tqdm(total=event.total, initial=event.iteration - 1, unit="it",
                               dynamic_ncols=True, disable=True if quiet else None)
                bar.n = event.iteration
                bar.set_postfix(loss=f"{event.loss:.4g}", lr=f"{event.lr:.2g}",
                                pps=f"{event.patches_per_s:.0f}")
                bar.refresh()
            elif isinstance(event, Validation):
                text = " ".join(f"x{s} {v:.3f} dB" for s, v in event.psnr.items())
                tqdm.write(f"iteration {event.iteration}: validation PSNR {text}"
                           + (" (best)" if event.best else ""))
            elif isinstance(event, Notice):
                tqdm.write(f"drrn train: {event.message}", file=sys.stderr)
            elif isinstance(event, Finished):
                if bar is not None:
                    bar.close()
                if not quiet:
                    print(f"stopped at iteration {event.iteration} ({event.reason}); "
                          f"weights: {event.weights}")
    except (UserError, ValueError, CheckpointError, TrainingError, OSError) as exc:
        print(f"drrn: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        try:
            if events is not None:
                events.close()  # writes a checkpoint when there is anything to keep
        except (CheckpointError, OSError) as exc:
            print(f"drrn: interrupted; {exc}", file=sys.stderr)
            return 130
        if quiet:  # rank 0 says what was kept
            return 130
        saved = _saved_iteration(run_dir)
        if saved is None:
            print("drrn: interrupted before the first checkpoint; nothing to resume",
                  file=sys.stderr)
        else:
            print(f"drrn: interrupted; checkpoint written (iteration {saved}), resume with "
                  "--resume", file=sys.stderr)
        return 130
    return 0

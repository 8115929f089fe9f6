"""Run under torchrun by test_ddp.py: train a few steps, then record what each rank wrote and a
checksum of its parameters into OUT/rank<N>.json (outside the run folder)."""

import json
import sys
from pathlib import Path

import torch.distributed as dist

from drrn_core.model import DRRN
from drrn_core.training import checkpoint as ckpt
from drrn_core.training import loop
from drrn_core.training.recipe import load_recipe

data_dir, run_dir, out_dir = (Path(a) for a in sys.argv[1:4])
writes: list[str] = []
models: list[DRRN] = []
save_checkpoint, save_weights = ckpt.save_checkpoint, loop.save_model_weights


class RecordedDRRN(DRRN):
    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        models.append(self)


def record(kind, fn):
    def wrapped(*a, **k):
        writes.append(kind)
        return fn(*a, **k)
    return wrapped


loop.DRRN = RecordedDRRN
ckpt.save_checkpoint = record("checkpoint", save_checkpoint)
loop.save_model_weights = record("weights", save_weights)
spec = loop.TrainSpec(run_dir=run_dir, data_dir=data_dir,
                      recipe=load_recipe(Path(__file__).with_name("tiny_recipe.toml")),
                      max_iters=6, device="cpu", threads=1, checkpoint_every_iters=3,
                      cache_dir=out_dir / "cache", log_every=1)
losses = [e.loss for e in loop.iter_training(spec) if isinstance(e, loop.Progress)]
rank = dist.get_rank()
params = {n: p.detach().double().sum().item() for n, p in models[0].named_parameters()}
out_dir.mkdir(parents=True, exist_ok=True)
(out_dir / f"rank{rank}.json").write_text(json.dumps(
    {"writes": writes, "world": dist.get_world_size(), "params": params, "steps": len(losses)}))
dist.destroy_process_group()

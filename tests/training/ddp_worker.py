"""Run under torchrun by test_ddp.py: train a few steps, then record what each rank wrote and a
checksum of its parameters into OUT/rank<N>.json (outside the run folder). With a fourth
argument N, every rank stops the run after N steps as a cancel or Ctrl-C does (closing the
training generator), and rank 0 writes checkpoints as a slow disk would (a second late), so
the other rank is certainly done first."""

import json
import sys
import time
from pathlib import Path

import torch.distributed as dist

from drrn_core.model import DRRN
from drrn_core.trainer import checkpoint as ckpt
from drrn_core.trainer import loop
from drrn_core.trainer.recipe import load_recipe

data_dir, run_dir, out_dir = (Path(a) for a in sys.argv[1:4])
writes: list[str] = []
models: list[DRRN] = []
save_checkpoint, save_weights = ckpt.save_checkpoint, loop.save_model_weights


class RecordedDRRN(DRRN):
    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        models.append(self)


stop_after = int(sys.argv[4]) if len(sys.argv) > 4 else None


def record(kind, fn):
    def wrapped(*a, **k):
        writes.append(kind)
        if stop_after is not None:
            time.sleep(1.0)
        return fn(*a, **k)
    return wrapped


loop.DRRN = RecordedDRRN
ckpt.save_checkpoint = record("checkpoint", save_checkpoint)
loop.save_model_weights = record("weights", save_weights)
spec = loop.TrainSpec(run_dir=run_dir, data_dir=data_dir,
                      recipe=load_recipe(Path(__file__).with_name("tiny_recipe.toml")),
                      max_iters=6, device="cpu", threads=1, checkpoint_every_iters=3,
                      cache_dir=out_dir / "cache", log_every=1)
losses = []
training = loop.iter_training(spec)
for event in training:
    if isinstance(event, loop.Progress):
        losses.append(event.loss)
        if len(losses) == stop_after:
            training.close()
rank = dist.get_rank()
params = {n: p.detach().double().sum().item() for n, p in models[0].named_parameters()}
out_dir.mkdir(parents=True, exist_ok=True)
(out_dir / f"rank{rank}.json").write_text(json.dumps(
    {"writes": writes, "world": dist.get_world_size(), "params": params, "steps": len(losses)}))
dist.destroy_process_group()

#!/usr/bin/env bash
# GPU one-shot: continue a training run on a CUDA GPU for a fixed wall-clock budget.
#
#   scripts/train_gpu.sh [RUN_DIR] [options of training/gpu_oneshot.py]
#
# RUN_DIR defaults to training/runs/b1u9-anytime and is only read. This:
#   1. packs ../shared/data/train into carry/train_y.npz (~27 MB, git-ignored) unless a pack of
#      the same files is already there, and copies Set5 into carry/Set5 for validation,
#   2. trains on the GPU (bf16 autocast, channels_last, batch 256, crops made on the GPU) for
#      --budget (default 7m, at most 8m), starting from RUN_DIR's newest checkpoint,
#   3. writes RUN_DIR continued to carry/gpu-result/NAME (or --out DIR): recipe.json, the
#      checkpoint (iteration counted in the run's own batches), log.csv, gpu_oneshot.json,
#      and prints Set5 PSNR before and after.
# Then, with the harvester stopped: python training/gpu_oneshot.py --adopt carry/gpu-result/NAME --run RUN_DIR
# --pack-only does step 1 alone (to carry carry/train_y.npz and carry/Set5 to a GPU machine).
#
# Environment: PYTHON (default: .venv/bin/python if present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-}
if [ -z "$py" ]; then
    if [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
fi
run=training/runs/b1u9-anytime
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    run=$1
    shift
fi
export PYTHONUNBUFFERED=1
exec "$py" training/gpu_oneshot.py --run "$run" "$@"

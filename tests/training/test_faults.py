"""`drrn train` against faults of the machine: a full disk at a checkpoint, a model
whose header or recipe declares 60,000 channels, a second trainer on a run being trained, and a
damaged log.csv. Each is one `drrn: error:` line and exit 1 (or, for the log, one notice and a
run that goes on); the checkpoint that stood before is untouched and nothing is left behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors import SafetensorError

from drrn_core.cli import main
from drrn_core.trainer import checkpoint as ckpt
from drrn_core.trainer import runlock
from drrn_core.trainer.loop import Notice, TrainSpec, iter_training
from drrn_core.trainer.recipe import load_recipe
from drrn_core.trainer.runlog import LOG_NAME, read_history

RECIPE = Path(__file__).with_name("tiny_recipe.toml")


def train(run: Path, folder: Path, cache: Path, *extra: str, resume: bool = False) -> list[str]:
    where = ["--resume", str(run)] if resume else ["--recipe", str(RECIPE), "--out", str(run)]
    return ["train", *where, "--data", str(folder), "--device", "cpu", "--threads", "1",
            "--cache-dir", str(cache), "--val", str(folder), *extra]


def one_error(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("drrn: error:")]
    assert code == 1, err
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- a full disk at a checkpoint -------------------------------------------------------------

def test_a_full_disk_at_a_checkpoint_is_one_line(tmp_path, tiny_folder, small_disk, capsys):
    run = small_disk.path / "run"
    assert main(train(run, tiny_folder, tmp_path / "cache", "--iters", "3",
                      "--checkpoint-every", "1")) == 0
    before = {name: digest(run / name) for name in files(run)}
    small_disk.fill()
    # the run's horizon (3) is reached: the resume goes straight to its final checkpoint
    code = main(train(run, tiny_folder, tmp_path / "cache", resume=True))
    one_error(capsys, code, f"could not write the checkpoint of iteration 3 in {run}",
              "the disk is full (No space left on device)",
              "the previous checkpoint (iteration 3) is untouched")
    assert {name: digest(run / name) for name in files(run)} == before  # no .part left either


def test_the_reported_safetensors_error_is_one_line(tmp_path, tiny_folder, capsys, monkeypatch):
    """Without a mount: the writer raises what safetensors raised on the full disk."""
    run = tmp_path / "run"
    assert main(train(run, tiny_folder, tmp_path / "cache", "--iters", "2")) == 0
    before = {name: digest(run / name) for name in files(run)}

    def full(*_a, **_k):
        raise SafetensorError("Error while serializing: I/O error: No space left on device "
                              "(os error 28)")

    monkeypatch.setattr(ckpt, "save_file", full)
    code = main(train(run, tiny_folder, tmp_path / "cache", "--iters", "4", resume=True))
    one_error(capsys, code, str(run), "the disk is full",
              "the previous checkpoint (iteration 2) is untouched")
    # the checkpoints are untouched and nothing is left behind (log.csv holds rows 3 and 4,
    # dropped again by the next resume; recipe.json holds the new horizon, 4)
    assert files(run) == sorted(before)
    for name in before:
        if name.endswith(".safetensors"):
            assert digest(run / name) == before[name]


def test_a_new_run_whose_first_checkpoint_fails_leaves_nothing(tmp_path, tiny_folder, capsys,
                                                               monkeypatch):
    def full(*_a, **_k):
        raise SafetensorError("Error while serializing: I/O error: No space left on device "
                              "(os error 28)")

    monkeypatch.setattr(ckpt, "save_file", full)
    code = main(train(tmp_path / "run", tiny_folder, tmp_path / "cache", "--iters", "2"))
    one_error(capsys, code, "the disk is full", "the run has no checkpoint yet")
    assert not (tmp_path / "run").exists()


def test_a_full_disk_while_logging_names_the_run(tmp_path, tiny_folder, small_disk, capsys):
    """The log, not the checkpoint, is what meets the full disk first."""
    run = small_disk.path / "run"
    assert main(train(run, tiny_folder, tmp_path / "cache", "--iters", "2")) == 0
    before = digest(run / ckpt.LAST)
    small_disk.fill()
    code = main(train(run, tiny_folder, tmp_path / "cache", "--iters", "40", resume=True))
    one_error(capsys, code, str(run), "the disk is full",
              "the previous checkpoint (iteration 2) is untouched")
    assert digest(run / ckpt.LAST) == before
    assert not [p for p in run.iterdir() if p.name.endswith(".part")]


# --- 60,000 channels -------------------------------------------------------------------------

def test_sixty_thousand_channels_are_refused_before_anything_is_built(tmp_path, tiny_folder,
                                                                      capsys):
    """The bounds of a weights header hold for every way a trainer gets an architecture."""
    cache = tmp_path / "cache"
    code = main(train(tmp_path / "r1", tiny_folder, cache, "--channels", "60000"))
    one_error(capsys, code, "channels=60000 is not a whole number in 1..1024")
    code = main(train(tmp_path / "r2", tiny_folder, cache, "--model", "B1000U9"))
    one_error(capsys, code, "B=1000")
    recipe = tmp_path / "wide.toml"
    recipe.write_text(RECIPE.read_text().replace("channels = 8", "channels = 60000"))
    code = main(["train", "--recipe", str(recipe), "--out", str(tmp_path / "r3"), "--data",
                 str(tiny_folder)])
    one_error(capsys, code, "wide.toml", "channels=60000")
    assert not any((tmp_path / r).exists() for r in ("r1", "r2", "r3"))

    run = tmp_path / "run"  # a run folder whose recipe.json says 60,000
    assert main(train(run, tiny_folder, cache, "--iters", "2")) == 0
    stored = json.loads((run / "recipe.json").read_text())
    stored["recipe"]["model"]["channels"] = 60_000
    (run / "recipe.json").write_text(json.dumps(stored))
    before = {name: digest(run / name) for name in files(run)}
    code = main(train(run, tiny_folder, cache, resume=True))
    one_error(capsys, code, "recipe.json", "channels=60000")
    assert {name: digest(run / name) for name in files(run)} == before


# --- one trainer per run ---------------------------------------------------------------------

def endless(tmp_path: Path) -> Path:
    recipe = tmp_path / "endless.toml"
    recipe.write_text(RECIPE.read_text().replace("epochs = 10", "epochs = 100000"))
    return recipe


def wait_for(condition, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_locked_run_is_refused_and_a_killed_holder_leaves_no_lock(tmp_path, tiny_folder,
                                                                    capsys):
    run = tmp_path / "run"
    assert main(train(run, tiny_folder, tmp_path / "cache", "--iters", "2")) == 0
    before = {name: digest(run / name) for name in files(run)}
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom drrn_core.trainer import runlock\n"
         f"lock = runlock.acquire({str(run)!r}, create=False)\nprint('held', flush=True)\n"
         "time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code = main(train(run, tiny_folder, tmp_path / "cache", "--iters", "4", resume=True))
        one_error(capsys, code, f"{run} is being trained by another process (pid {holder.pid})")
        code = main(train(run, tiny_folder, tmp_path / "cache", "--iters", "4"))  # as new
        one_error(capsys, code, "is being trained by another process")
        before.pop(runlock.LOCK_NAME, None)
        assert {n: digest(run / n) for n in files(run) if n != runlock.LOCK_NAME} == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    # the OS let the lock go with the process: the run resumes
    assert main(train(run, tiny_folder, tmp_path / "cache", "--iters", "4", resume=True)) == 0
    assert ckpt.read_info(run / ckpt.LAST)["iteration"] == 4


def test_the_lock_is_released_when_training_ends_and_taken_again(tmp_path, tiny_folder):
    spec = TrainSpec(run_dir=tmp_path / "run", data_dir=tiny_folder, recipe=load_recipe(RECIPE),
                     device="cpu", threads=1, cache_dir=tmp_path / "cache", max_iters=2,
                     val_dir=None)
    events = iter_training(spec)
    next(events)  # running: the run is locked
    with pytest.raises(runlock.RunBusy):
        runlock.acquire(tmp_path / "run")
    list(events)  # finished: released
    runlock.acquire(tmp_path / "run").release()
    events = iter_training(TrainSpec(**{**spec.__dict__, "resume": True, "max_iters": 4}))
    next(events)
    events.close()  # cancelled: released too
    runlock.acquire(tmp_path / "run").release()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="the harvester is for Linux")
def test_a_second_trainer_and_a_second_harvester_are_refused(tmp_path, tiny_folder):
    """A real `drrn train` trains the run; a second one, and `harvest.sh start`, are each
    refused with one line; SIGKILL the first and the run can be resumed at once."""
    run, cache = tmp_path / "run", tmp_path / "cache"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "drrn_core.cli", *train(run, tiny_folder, cache,
                                                         "--checkpoint-every", "5")]
    cmd[cmd.index(str(RECIPE))] = str(endless(tmp_path))
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    try:
        wait_for(lambda: (run / ckpt.LAST).exists())
        second = subprocess.run(
            [sys.executable, "-m", "drrn_core.cli", *train(run, tiny_folder, cache, resume=True)],
            env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1, second.stderr
        assert second.stderr.strip() == (
            f"drrn: error: {run} is being trained by another process (pid {first.pid}); wait "
            "for it to stop (or stop it: Ctrl-C, the Training tab's Stop, scripts/harvest.sh "
            "stop), or choose another run folder")
        script = Path(__file__).resolve().parents[2] / "scripts" / "harvest.sh"
        harvester = subprocess.run(
            [str(script), "start"], capture_output=True, text=True, timeout=60,
            env={**env, "HARVEST_RUN": str(run), "HARVEST_DATA": str(tiny_folder),
                 "HARVEST_PYTHON": sys.executable, "HARVEST_INIT": ""})
        assert harvester.returncode == 1
        assert harvester.stderr.strip() == (f"harvest: {run} is being trained by another "
                                             f"process (pid {first.pid}); nothing started")
        assert not (run / "harvest.pid").exists()
        assert first.poll() is None  # the first one trains on
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    resumed = subprocess.run(
        [sys.executable, "-m", "drrn_core.cli",
         *train(run, tiny_folder, cache, "--iters", "1", resume=True)],
        env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr


# --- a damaged log.csv -----------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["garbage", "truncated", "nul", "empty"])
def test_a_damaged_log_is_rebuilt_with_one_notice(tmp_path, tiny_folder, damage):
    run = tmp_path / "run"
    spec = TrainSpec(run_dir=run, data_dir=tiny_folder, recipe=load_recipe(RECIPE), device="cpu",
                     threads=1, cache_dir=tmp_path / "cache", max_iters=20, val_dir=None,
                     log_every=5)
    list(iter_training(spec))
    log = run / LOG_NAME
    good = log.read_bytes()
    broken = {"garbage": os.urandom(3000), "truncated": good[:len(good) // 2 + 7],
              "nul": good.replace(b"\n10,", b"\n\0\0\0,", 1), "empty": b""}[damage]
    log.write_bytes(broken)
    events = list(iter_training(TrainSpec(**{**spec.__dict__, "resume": True,
                                             "max_iters": 30})))
    notices = [e.message for e in events if isinstance(e, Notice) and "was damaged" in e.message]
    assert len(notices) == (0 if damage == "empty" else 1), notices
    kept = sorted(p.name for p in run.glob("log.damaged-*.csv"))
    if damage == "empty":
        assert kept == []
    else:
        assert kept == ["log.damaged-1.csv"] and (run / kept[0]).read_bytes() == broken
        assert kept[0] in notices[0]
    iterations = [i for i, _ in read_history(run).loss]
    assert iterations == sorted(set(iterations)) and iterations[-1] == 30
    if damage == "truncated":  # the whole rows before the tear are kept
        assert 5 in iterations


# --- symbolic-link loops ---------------------------------------------------------------------

@pytest.mark.parametrize("where", ["--out", "--data", "--init-from", "--resume"])
def test_a_symlink_loop_given_to_train_is_one_line(tmp_path, tiny_folder, capsys, where):
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    args = {"--out": ["--out", loop, "--data", tiny_folder],
            "--data": ["--out", tmp_path / "run", "--data", loop],
            "--init-from": ["--out", tmp_path / "run", "--data", tiny_folder, "--init-from", loop],
            "--resume": ["--resume", loop, "--data", tiny_folder]}[where]
    code = main(["train", "--recipe", str(RECIPE), "--cache-dir", str(tmp_path / "cache"),
                 *map(str, args)])
    one_error(capsys, code, "loop" if where == "--resume" else "a symbolic-link loop")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["hr", "loop"]

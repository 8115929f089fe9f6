#!/usr/bin/env bash
# Train on idle CPU: continue the canonical run in the background at the lowest CPU and I/O
# priority, so it takes only what nothing else wants.
#
#   scripts/harvest.sh start    continue the run (create it from the bundled weights if absent)
#   scripts/harvest.sh stop     checkpoint and exit (within 30 s)
#   scripts/harvest.sh pause    SIGSTOP: free the CPU for a benchmark
#   scripts/harvest.sh resume   SIGCONT
#   scripts/harvest.sh status   'running', 'running (paused)' or 'stopped', then the run's figures
#
# The run checkpoints every few minutes (recipe: checkpoint_minutes) and on SIGTERM; checkpoints
# are atomic, so whatever kills it loses at most one interval. Without HARVEST_RUN, stop, pause,
# resume and status act on every run under HARVEST_RUNS (training/runs) that is being harvested
# (a branch started with HARVEST_RUN=... included), or on the canonical run when none is.
# Settings (environment):
# HARVEST_RUN (training/runs/b1u9-anytime), HARVEST_DATA (../shared/data/train),
# HARVEST_PYTHON (.venv/bin/python), HARVEST_RECIPE (anytime), HARVEST_INIT (the bundled
# DRRN_B1U9 weights a new run starts from), HARVEST_COMPILE (1: `drrn train --compile`, 1.2x
# faster bf16 steps here, benchmarks/README.md; 0: eager), HARVEST_ARGS (extra `drrn train`
# options).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${HARVEST_RUNS:-training/runs}
RUN=${HARVEST_RUN:-$RUNS/b1u9-anytime}
DATA=${HARVEST_DATA:-../shared/data/train}
PY=${HARVEST_PYTHON:-.venv/bin/python}
RECIPE=${HARVEST_RECIPE:-anytime}
INIT=${HARVEST_INIT-resources/weights/DRRN_B1U9.safetensors}  # empty: start from scratch
COMPILE=()
[ "${HARVEST_COMPILE:-1}" = 0 ] || COMPILE=(--compile)

use_run() {  # $1: the run folder the commands below act on
  RUN=$1
  PIDFILE=$RUN/harvest.pid
  LOG=$RUN/harvest.log
}
use_run "$RUN"

pid_alive() {  # the PID file names a live `drrn train` of this run
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "drrn_core.cli train" || return 1
  echo "$pid"
}

paused() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = "T" ]; }

start() {
  if pid=$(pid_alive); then echo "already running (pid $pid)"; return 0; fi
  [ -x "$PY" ] || { echo "harvest: no Python at $PY (install the project first, README)" >&2; exit 1; }
  [ -d "$DATA" ] || { echo "harvest: training images not found at $DATA" >&2; exit 1; }
  mkdir -p "$RUN"
  # one trainer per run: `drrn train` holds an flock on $RUN/train.lock while it trains (released
  # by the OS when it dies, so a killed one never blocks); ask before starting, so a second
  # harvester never records its refused child's pid over the first one's
  if command -v flock >/dev/null && ! flock -n "$RUN/train.lock" true 2>/dev/null; then
    echo "harvest: $RUN is being trained by another process (pid $(head -n 1 "$RUN/train.lock" 2>/dev/null || echo '?')); nothing started" >&2
    exit 1
  fi
  local where
  if [ -f "$RUN/last.safetensors" ] || [ -f "$RUN/prev.safetensors" ]; then
    where=(--resume "$RUN")
  else
    where=(--recipe "$RECIPE" --out "$RUN")
    [ -z "$INIT" ] || where+=(--init-from "$INIT")
  fi
  # setsid: out of this shell's process group, so it outlives the terminal; nice/ionice exec,
  # so $! is the training process itself.
  # shellcheck disable=SC2086
  setsid nice -n 19 ionice -c 3 "$PY" -m drrn_core.cli train "${where[@]}" --data "$DATA" \
    "${COMPILE[@]}" ${HARVEST_ARGS:-} </dev/null >>"$LOG" 2>&1 &
  local child=$!
  echo "$child" >"$PIDFILE"
  for _ in $(seq 1 100); do  # until nice/ionice have exec'd into the trainer (or it died)
    pid_alive >/dev/null && break
    kill -0 "$child" 2>/dev/null || break
    sleep 0.1
  done
  if pid=$(pid_alive); then
    echo "started (pid $pid, nice 19, idle I/O); log: $LOG"
  else
    echo "harvest: the trainer exited at once; last lines of $LOG:" >&2
    tail -n 5 "$LOG" >&2
    exit 1
  fi
}

stop() {
  local pid
  if ! pid=$(pid_alive); then echo "stopped (was not running)"; rm -f "$PIDFILE"; return 0; fi
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    echo "stopped (killed after 30 s; the previous checkpoint stands)"
  else
    echo "stopped (checkpoint written)"
  fi
  rm -f "$PIDFILE"
}

signal_run() {  # $1: STOP or CONT
  local pid
  pid=$(pid_alive) || { echo "stopped (nothing to $2)"; return 1; }
  kill "-$1" "$pid"
  for _ in $(seq 1 50); do  # signals are asynchronous: report the state once it is reached
    if [ "$1" = STOP ]; then paused "$pid" && break; else paused "$pid" || break; fi
    sleep 0.1
  done
  echo "$2d (pid $pid)"
}

status() {
  local pid
  if pid=$(pid_alive); then
    if paused "$pid"; then echo "running (paused), pid $pid"; else echo "running, pid $pid"; fi
  else
    echo "stopped"
  fi
  if [ -x "$PY" ]; then "$PY" scripts/harvest_status.py "$RUN"; fi
}

harvested_runs() {  # the runs to act on: HARVEST_RUN, else every live one, else the canonical
  if [ -n "${HARVEST_RUN:-}" ]; then echo "$RUN"; return; fi
  local found=() pidfile
  for pidfile in "$RUNS"/*/harvest.pid; do
    [ -f "$pidfile" ] || continue
    use_run "$(dirname "$pidfile")"
    if pid_alive >/dev/null; then found+=("$RUN"); fi
  done
  if [ ${#found[@]} -eq 0 ]; then found=("$RUNS/b1u9-anytime"); fi
  printf '%s\n' "${found[@]}"
}

each_run() {  # run "$@" once per harvested run (with its name first when there are several)
  local runs status=0 run
  mapfile -t runs < <(harvested_runs)
  for run in "${runs[@]}"; do
    use_run "$run"
    if [ ${#runs[@]} -gt 1 ]; then echo "$run:"; fi
    "$@" || status=$?
  done
  return "$status"
}

case "${1:-}" in
  start) start ;;
  stop) each_run stop ;;
  pause) each_run signal_run STOP pause ;;
  resume) each_run signal_run CONT resume ;;
  status) each_run status ;;
  *) echo "usage: $0 start|stop|pause|resume|status" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A sweep from the shell: create it, start workers in the background, wait, report.
# Usage: scripts/sweep.sh [-c CONFIG] [-n NAME] [-s STORAGE] [-w WORKERS] [-H "HOST ..."]
#                         [-- extra sweep options]
# Example (small CPU sweep, ~minutes):
#   scripts/sweep.sh -n quick -w 2 -- --max-epochs 9 --set data.subset=0.3 model.img_size=32 \
#     preprocess.resize=32 model.num_conv_layers=3
# Workers are separate processes sharing one storage; each gets an equal share of the cores.
# Ctrl-C stops them all (their trials are re-queued); running the script again continues.
# Many hosts, one PostgreSQL database: one worker per host over ssh (the same checkout path and
# data on every host; the password from PGPASSWORD or ~/.pgpass on each host, never the URL):
#   scripts/sweep.sh -n lab1 -s postgresql://sweeper@db.lab/sweeps -H "gpu1 gpu2 gpu3"
set -euo pipefail
cd "$(dirname "$0")/.."

config=configs/sweep_simple_cnn.json
name=sweep_simple_cnn
storage=sqlite:///runs/sweeps.db
workers=2
hosts=""
while getopts "c:n:s:w:H:h" opt; do
  case "$opt" in
    c) config=$OPTARG ;;
    n) name=$OPTARG ;;
    s) storage=$OPTARG ;;
    w) workers=$OPTARG ;;
    H) hosts=$OPTARG ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ ${1:-} == -- ]] && shift

garbage=${GARBAGE:-build/garbage}
cores=$(nproc)
threads=$(( cores / workers > 0 ? cores / workers : 1 ))

# 1. Create (or check) the sweep: the config, --set and --max-epochs are stored with it.
"$garbage" sweep --config "$config" --name "$name" --storage "$storage" --create-only "$@"

# 2. Workers: processes on this machine, or one per host over ssh (shared PostgreSQL storage).
pids=()
trap 'kill -INT "${pids[@]}" 2>/dev/null || true; wait' INT TERM
mkdir -p "runs/sweeps/$name"
if [[ -n $hosts ]]; then
  [[ $storage == postgres* ]] || { echo "sweep.sh: -H needs a postgresql:// storage" >&2; exit 2; }
  for host in $hosts; do
    # -tt: Ctrl-C here reaches the remote worker, which re-queues its trial.
    ssh -tt "$host" "cd $(printf %q "$PWD") && $(printf %q "$garbage") sweep --name $(printf %q "$name") \
      --storage $(printf %q "$storage") --worker" >"runs/sweeps/$name/worker-$host.log" 2>&1 &
    pids+=($!)
    echo "sweep.sh: worker on $host -> runs/sweeps/$name/worker-$host.log"
  done
else
  for i in $(seq 1 "$workers"); do
    "$garbage" sweep --name "$name" --storage "$storage" --worker --threads "$threads" \
      >"runs/sweeps/$name/worker-$i.log" 2>&1 &
    pids+=($!)
    echo "sweep.sh: worker $i (pid $!) -> runs/sweeps/$name/worker-$i.log"
  done
fi

# 3. Wait for all of them; a failed worker does not stop the others.
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done

# 4. Report: ranked trials, parameter importance/correlation, best config, figures.
"$garbage" sweep report --name "$name" --storage "$storage"
exit "$status"

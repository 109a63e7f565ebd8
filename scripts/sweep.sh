#!/usr/bin/env bash
# A sweep from the shell: create it, start workers in the background, wait, report.
# Usage: scripts/sweep.sh [-c CONFIG] [-n NAME] [-s STORAGE] [-w WORKERS] [-- extra sweep options]
# Example (small CPU sweep, ~minutes):
#   scripts/sweep.sh -n quick -w 2 -- --max-epochs 9 --set data.subset=0.3 model.img_size=32 \
#     preprocess.resize=32 model.num_conv_layers=3
# Workers are separate processes sharing one SQLite file; each gets an equal share of the cores.
# Ctrl-C stops them all (their trials are re-queued); running the script again continues.
set -euo pipefail
cd "$(dirname "$0")/.."

config=configs/sweep_simple_cnn.json
name=sweep_simple_cnn
storage=sqlite:///runs/sweeps.db
workers=2
while getopts "c:n:s:w:h" opt; do
  case "$opt" in
    c) config=$OPTARG ;;
    n) name=$OPTARG ;;
    s) storage=$OPTARG ;;
    w) workers=$OPTARG ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ ${1:-} == -- ]] && shift

garbage=${GARBAGE:-build/garbage}
cores=$(nproc)
threads=$(( cores / workers > 0 ? cores / workers : 1 ))

# 1. Create (or check) the sweep: the config, --set and --max-epochs are stored with it.
"$garbage" sweep --config "$config" --name "$name" --storage "$storage" --create-only "$@"

# 2. Workers: any number of processes, on this machine or (later) others sharing the storage.
pids=()
trap 'kill -INT "${pids[@]}" 2>/dev/null || true; wait' INT TERM
for i in $(seq 1 "$workers"); do
  mkdir -p "runs/sweeps/$name"
  "$garbage" sweep --name "$name" --storage "$storage" --worker --threads "$threads" \
    >"runs/sweeps/$name/worker-$i.log" 2>&1 &
  pids+=($!)
  echo "sweep.sh: worker $i (pid $!) -> runs/sweeps/$name/worker-$i.log"
done

# 3. Wait for all of them; a failed worker does not stop the others.
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done

# 4. Report: ranked trials, parameter importance/correlation, best config, figures.
"$garbage" sweep report --name "$name" --storage "$storage"
exit "$status"

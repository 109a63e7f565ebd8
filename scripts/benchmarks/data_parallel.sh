#!/usr/bin/env bash
# Data-parallel training throughput on this machine: the same config, the same global batch,
# trained by 1 process with all THREADS threads and by NPROC processes with THREADS/NPROC threads
# each (garbage train --nproc-per-node), back to back. Prints training images per second and the
# per-step breakdown of --profile (the "gradient sync" row is the allreduce time left after
# backward).
# Usage: scripts/benchmarks/data_parallel.sh [--config configs/simple_cnn.json] [--nproc 2]
#          [--threads 2] [--epochs 1] [--subset 0.25] [--batch 32] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

config=configs/simple_cnn.json
nproc=2
threads=2
epochs=1
subset=0.25
batch=32
out=""
while (($#)); do
  case "$1" in
    --config) config=$2; shift 2 ;;
    --nproc) nproc=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --subset) subset=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "data_parallel.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
garbage=build/garbage
[[ -x $garbage ]] || { echo "data_parallel.sh: build first (scripts/setup.sh)" >&2; exit 1; }
((batch % nproc == 0 && threads % nproc == 0)) ||
  { echo "data_parallel.sh: --batch and --threads must divide by --nproc" >&2; exit 2; }
if [[ -z $out ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

common=(--config "$config" --profile --set "train.epochs=$epochs" --set "data.subset=$subset"
        --set train.test_at_end=false --set train.early_stopping.patience=0)
port=$((20000 + RANDOM % 20000))

echo "1 process x $threads threads, batch $batch"
"$garbage" train "${common[@]}" --out "$out/single" --set "threads=$threads" \
  --set "train.batch_size=$batch" >"$out/single.log" 2>&1
echo "$nproc processes x $((threads / nproc)) threads, batch $((batch / nproc)) each"
"$garbage" train "${common[@]}" --out "$out/parallel" --set "threads=$((threads / nproc))" \
  --set "train.batch_size=$((batch / nproc))" --nproc-per-node "$nproc" --master-port "$port" \
  >"$out/parallel.log" 2>&1

rate() { sed -n 's/.*"train_images_per_second": *\([0-9.]*\).*/\1/p' "$1/summary.json" | head -1; }
single=$(rate "$out/single")
parallel=$(rate "$out/parallel")
printf '%-28s %10s\n' run "img/s"
printf '%-28s %10.2f\n' "1 x $threads threads" "$single" "$nproc x $((threads / nproc)) threads" "$parallel"
echo "ratio parallel/single: $(awk -v a="$parallel" -v b="$single" 'BEGIN { printf "%.2f", a / b }')"
for run in single parallel; do
  echo "--- $run: last epoch's step breakdown"
  grep -A7 "step breakdown" "$out/$run.log" | tail -8 | sed 's/^\[rank 0\] //'
done

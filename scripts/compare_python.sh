#!/usr/bin/env bash
# Training throughput of garbage vs the PyTorch peer (scripts/peer/simple_cnn_peer.py) on the
# same machine: best SimpleCNN config, batch 32, 128 px, same thread count.
# Usage: scripts/compare_python.sh [BATCHES] [THREADS]   (default 20 batches, all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
batches=${1:-20}
threads=${2:-$(nproc)}
data=${GARBAGE_DATA:-data/trashnet}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# subset so that one epoch is about BATCHES batches of 32
subset=$(awk -v b="$batches" 'BEGIN { s = b * 32 / 1768; if (s > 1) s = 1; printf "%.4f", s }')
build/garbage -q train --config configs/simple_cnn.json --data "$data" --out "$out/run" \
  --set train.epochs=1 --set train.test_at_end=false --set data.subset="$subset" \
  --set threads="$threads"
native=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['train_images_per_second'])" "$out/run/summary.json")
echo "garbage: $native img/s (batch 32, 128 px, $threads threads)"
/usr/bin/python3 scripts/peer/simple_cnn_peer.py "$data" --batches "$batches" --threads "$threads"
/usr/bin/python3 scripts/peer/simple_cnn_peer.py "$data" --batches "$batches" --threads "$threads" --channels-last
